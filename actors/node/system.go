package node

import (
	"fmt"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"

	"github.com/pandodc/pando/internal/remoting"
)

// System is a process's actor system and, if listening, its remoting.
type System struct {
	Actors *actor.ActorSystem
	remote *remote.Remote
}

// NewSystem starts an actor system (internal/remoting, the bootstrap the
// SDK's drivers share). With listen ("127.0.0.1:5060", or port 0 for any
// free port) it is reachable by other processes; with "" it is local only.
// Protoactor's own logs go to logger at warning level and up, since its
// info logs are too chatty for an operator.
func NewSystem(logger *slog.Logger, listen string) (*System, error) {
	s := &System{Actors: remoting.NewSystem(logger)}
	if listen == "" {
		return s, nil
	}
	r, err := remoting.Listen(s.Actors, listen, "")
	if err != nil {
		s.Actors.Shutdown()
		return nil, fmt.Errorf("%w (is another pando using the port? pick another with --remoting)", err)
	}
	s.remote = r
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
