// Package remoting is the one bootstrap of a process's protoactor actor
// system and its remoting, shared by the node (actors/node) and framework
// drivers (sdk): the same log filter (protoactor's own logs at warning level
// and up, tagged lib=protoactor: its info logs of every spawn and
// connection drown an operator's and a framework's own) and the same
// listen step (an error, not protoactor's panic, when the port is taken).
package remoting

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

// NewSystem makes an actor system whose protoactor logs go to logger at
// warning level and up; a nil logger discards them.
func NewSystem(logger *slog.Logger) *actor.ActorSystem {
	quiet := slog.New(slog.DiscardHandler)
	if logger != nil {
		quiet = slog.New(WarnOnly{logger.Handler()}).With("lib", "protoactor")
	}
	return actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
}

// Listen starts remoting for system on listen ("127.0.0.1:5060"; port 0
// picks a free port), advertising advertised ("host:port") to peers if it
// is not empty. Protoactor panics when it cannot listen; Listen returns
// that as an error.
func Listen(system *actor.ActorSystem, listen, advertised string) (r *remote.Remote, err error) {
	host, portText, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("remoting address %q: %w (want host:port, e.g. 127.0.0.1:5060)", listen, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("remoting address %q: port %q is not a number", listen, portText)
	}
	var opts []remote.ConfigOption
	if advertised != "" {
		opts = append(opts, remote.WithAdvertisedHost(advertised))
	}
	r = remote.NewRemote(system, remote.Configure(host, port, opts...))
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("cannot listen for actor remoting on %s: %v", listen, p)
		}
	}()
	r.Start()
	return r, nil
}

// WarnOnly passes on only warnings and errors (that the handler takes).
type WarnOnly struct{ slog.Handler }

// Enabled implements slog.Handler.
func (h WarnOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

// WithAttrs implements slog.Handler.
func (h WarnOnly) WithAttrs(a []slog.Attr) slog.Handler { return WarnOnly{h.Handler.WithAttrs(a)} }

// WithGroup implements slog.Handler.
func (h WarnOnly) WithGroup(n string) slog.Handler { return WarnOnly{h.Handler.WithGroup(n)} }
