package node

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"

	// Registers the protocol's message types, so that remoting can decode them.
	_ "github.com/pandodc/pando/kernel/kernelpb"
)

// System is a process's actor system and, if listening, its remoting.
type System struct {
	Actors *actor.ActorSystem
	remote *remote.Remote
}

// NewSystem starts an actor system. With listen ("127.0.0.1:5060", or port
// 0 for any free port) it is reachable by other processes; with "" it is
// local only. Protoactor's own logs go to logger at warning level and up,
// since its info logs are too chatty for an operator.
func NewSystem(logger *slog.Logger, listen string) (s *System, err error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	quiet := slog.New(levelFilter{Handler: logger.Handler(), min: slog.LevelWarn})
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	s = &System{Actors: system}
	if listen == "" {
		return s, nil
	}
	host, portText, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("remoting address %q: %w (want host:port, e.g. 127.0.0.1:5060)", listen, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("remoting address %q: port %q is not a number", listen, portText)
	}
	s.remote = remote.NewRemote(system, remote.Configure(host, port))
	// remote.Start panics when it cannot listen; turn that into an error.
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("cannot listen for actor remoting on %s: %v (is another pando using the port? pick another with --remoting)", listen, r)
		}
	}()
	s.remote.Start()
	return s, nil
}

// Address is the address other processes reach this system's actors at
// ("nonhost" when local only).
func (s *System) Address() string { return s.Actors.Address() }

// Shutdown stops remoting (if any) and the actor system.
func (s *System) Shutdown() {
	if s.remote != nil {
		s.remote.Shutdown(false)
	}
	s.Actors.Shutdown()
}

type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(_ context.Context, l slog.Level) bool { return l >= f.min }

func (f levelFilter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return levelFilter{Handler: f.Handler.WithAttrs(attrs), min: f.min}
}

func (f levelFilter) WithGroup(name string) slog.Handler {
	return levelFilter{Handler: f.Handler.WithGroup(name), min: f.min}
}
