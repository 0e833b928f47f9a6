package executor

import (
	"context"
	"log/slog"
	"os/exec"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pandodc/pando/runtime/wasm"
)

// An executor whose agent's process is gone ends (its tasks with it) once
// the orphan timeout has passed.
func TestOrphanedExecutorEnds(t *testing.T) {
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	rt, err := wasm.New(wasm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	defer system.Shutdown()
	done := make(chan struct{})
	srv := newServer(rt, slog.New(slog.DiscardHandler), time.Millisecond, done)
	srv.agentPID = gone.Process.Pid
	system.Root.Spawn(actorProps(srv))
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("an executor whose agent is gone did not end")
	}
}
