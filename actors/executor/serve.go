package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/pandodc/pando/internal/remoting"
	"github.com/pandodc/pando/runtime"

	// Registers the protocol's message types, so that remoting can decode them.
	_ "github.com/pandodc/pando/actors/executor/executorpb"
)

// ServeOptions configures an executor process.
type ServeOptions struct {
	// Listen is the remoting address ("127.0.0.1:0": any free port).
	Listen string
	// Runtime runs the tasks; Serve closes it.
	Runtime runtime.Runtime
	// Ready receives the executor's remoting address and a newline once it
	// listens, and is then closed: the agent reads it from a pipe.
	Ready io.WriteCloser
	// OrphanTimeout: see DefaultOrphanTimeout (0 means it; negative: never).
	OrphanTimeout time.Duration
	Logger        *slog.Logger
}

// Serve runs an executor until ctx ends (its tasks are then killed) or an
// agent shuts it down.
func Serve(ctx context.Context, opts ServeOptions) error {
	if opts.Runtime == nil {
		return errors.New("executor: no task runtime")
	}
	defer opts.Runtime.Close(context.Background())
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.OrphanTimeout == 0 {
		opts.OrphanTimeout = DefaultOrphanTimeout
	}
	system := remoting.NewSystem(logger)
	r, err := remoting.Listen(system, opts.Listen, "")
	if err != nil {
		system.Shutdown()
		return fmt.Errorf("executor: %w", err)
	}
	defer func() {
		r.Shutdown(false)
		system.Shutdown()
	}()
	done := make(chan struct{})
	srv := newServer(opts.Runtime, logger, opts.OrphanTimeout, done)
	pid, err := system.Root.SpawnNamed(actorProps(srv), ActorID)
	if err != nil {
		return fmt.Errorf("executor: spawning its actor: %w", err)
	}
	if opts.Ready != nil {
		_, err := fmt.Fprintln(opts.Ready, system.Address())
		opts.Ready.Close()
		if err != nil {
			return fmt.Errorf("executor: telling the agent its address: %w", err)
		}
	}
	logger.Info("executor: serving", "address", system.Address())
	select {
	case <-done:
		// Give the ShutdownDone answer a moment to leave.
		time.Sleep(100 * time.Millisecond)
	case <-ctx.Done():
		system.Root.Send(pid, shutdownNow{})
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			return errors.New("executor: its tasks did not stop within 30s")
		}
	}
	return nil
}
