package master

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/pandodc/pando/internal/shell"
	kmaster "github.com/pandodc/pando/kernel/master"
)

// ActorID is the name the master actor is spawned under; drivers and
// agents address it as actor.NewPID(remotingAddress, ActorID).
const ActorID = "master"

// Config tunes the master actor.
type Config struct {
	Kernel kmaster.Config
	// AllocationInterval is the period of the allocation timer; rounds also
	// run, batched, right after events that free resources or add demand.
	AllocationInterval time.Duration
	// TickInterval drives offer timeouts, pings and failover timeouts.
	TickInterval time.Duration
	Logger       *slog.Logger
	Metrics      *Metrics
	// Clock is the time source; tests may fix it.
	Clock func() time.Time
	// KnownAgents are the agents of the registry, stepped in first
	// (kmaster.KnownAgents) by an elected master.
	KnownAgents []kmaster.KnownAgent
	// KnownFrameworks are the frameworks of the registry, stepped in with
	// the agents (kmaster.KnownFrameworks).
	KnownFrameworks []kmaster.KnownFramework
	// KnownWeights are the roles' weights of the registry, stepped in
	// with them (kmaster.SetWeights).
	KnownWeights map[string]float64
}

// Private messages of the master actor.
type (
	tick     struct{}
	allocate struct{}
	// queryFunc runs inside the actor on the master's read-only face; now
	// is the actor's clock reading.
	queryFunc   func(v kmaster.Views, now time.Time) any
	queryResult struct{ value any }
	// operate is an operator's action, stepped as its own input.
	operate struct {
		operator kmaster.Peer
		input    kmaster.OperatorInput
	}
	operateResult struct{ err error }
	// peerGone is a watched peer's Terminated, turned into an ordinary
	// message (see Receive).
	peerGone struct{ who *actor.PID }
)

// Actor owns the master state machine.
type Actor struct {
	cfg Config
	m   *kmaster.Master
	// peers maps the master's peers to the PIDs to send to and watch. Which
	// of them are agents or frameworks only the state machine knows.
	peers  map[kmaster.Peer]*actor.PID
	timers []func()
	// allocationQueued is set while an allocate message sits in our own
	// mailbox, so a burst of events causes one round, not one per event.
	allocationQueued bool
}

// NewActor makes the actor (spawn it with Props).
func NewActor(cfg Config) *Actor {
	if cfg.AllocationInterval <= 0 {
		cfg.AllocationInterval = time.Second
	}
	shell.Defaults(&cfg.TickInterval, &cfg.Logger, &cfg.Clock)
	return &Actor{cfg: cfg, m: kmaster.New(cfg.Kernel), peers: map[kmaster.Peer]*actor.PID{}}
}

// Props spawns the master actor.
func Props(cfg Config) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return NewActor(cfg) }, actor.WithDispatcher(shell.Dispatcher))
}

// Receive implements actor.Actor.
func (a *Actor) Receive(ctx actor.Context) {
	now := a.cfg.Clock()
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		root := ctx.ActorSystem().Root
		a.timers = append(a.timers,
			shell.SendEvery(root, ctx.Self(), a.cfg.TickInterval, tick{}),
			shell.SendEvery(root, ctx.Self(), a.cfg.AllocationInterval, allocate{}),
		)
		// Before any agent's message: they are in the mailbox behind Started.
		if len(a.cfg.KnownAgents) > 0 {
			a.step(now, "registry", kmaster.KnownAgents{Agents: a.cfg.KnownAgents})
		}
		if len(a.cfg.KnownFrameworks) > 0 {
			a.step(now, "registry", kmaster.KnownFrameworks{Frameworks: a.cfg.KnownFrameworks})
		}
		if len(a.cfg.KnownWeights) > 0 {
			a.step(now, "registry", kmaster.SetWeights{Weights: a.cfg.KnownWeights})
		}
	case *actor.Stopping:
		for _, cancel := range a.timers {
			cancel()
		}
	case *actor.Stopped, *actor.Restarting:
	case *actor.Terminated:
		// Terminated is a system message: it overtakes the ordinary
		// messages already in our mailbox, such as the Teardown a driver
		// sends just before it stops. Queue it behind them.
		ctx.Send(ctx.Self(), peerGone{msg.Who})
	case peerGone:
		peer := peerOf(msg.who)
		if _, known := a.peers[peer]; !known {
			return
		}
		delete(a.peers, peer)
		if err := a.m.Step(now, peer, kmaster.Disconnected{}); err != nil {
			// A peer that had torn down or was removed already: nothing
			// left to disconnect.
			a.cfg.Logger.Debug("master: a peer went away", "peer", string(peer), "note", err)
		}
	case tick:
		a.m.Tick(now)
	case allocate:
		a.allocationQueued = false
		start := time.Now()
		a.m.Allocate(now)
		a.cfg.Metrics.allocationRound(time.Since(start))
	case queryFunc:
		ctx.Respond(queryResult{value: msg(a.m.ReadOnly(), now)})
	case operate:
		err := a.m.Step(now, msg.operator, msg.input)
		a.cfg.Logger.Info("master: operator action", "operator", string(msg.operator), "input", fmt.Sprintf("%+v", msg.input), "error", err)
		ctx.Respond(operateResult{err: err})
	case proto.Message:
		sender := ctx.Sender()
		if sender == nil {
			a.cfg.Logger.Warn("dropping a message with no sender: send it with Request so the master can answer", "type", proto.MessageName(msg))
			return
		}
		peer := peerOf(sender)
		if _, known := a.peers[peer]; !known {
			a.peers[peer] = sender
			ctx.Watch(sender) // a vanished peer becomes PeerTerminated
		}
		a.step(now, peer, msg)
		a.queueAllocation(ctx)
	default:
		a.cfg.Logger.Warn("master: ignoring a message of unknown type", "type", fmt.Sprintf("%T", msg))
	}
	a.flush(ctx, now)
}

func (a *Actor) step(now time.Time, peer kmaster.Peer, msg any) {
	if err := a.m.Step(now, peer, msg); err != nil {
		// The state machine has already answered the peer if that helps
		// it; here we only leave a trace for the operator.
		a.cfg.Logger.Info("master: refused a message", "from", string(peer), "type", fmt.Sprintf("%T", msg), "error", err)
	}
}

func (a *Actor) queueAllocation(ctx actor.Context) {
	if a.allocationQueued {
		return
	}
	a.allocationQueued = true
	ctx.Send(ctx.Self(), allocate{})
}

// flush sends what the state machine asked to send and records its events.
func (a *Actor) flush(ctx actor.Context, now time.Time) {
	rd := a.m.Ready()
	for _, env := range rd.Messages {
		pid, ok := a.peers[env.To]
		if !ok {
			pid = pidOf(env.To)
			a.peers[env.To] = pid
		}
		ctx.Send(pid, env.Msg)
	}
	a.cfg.Metrics.record(rd.Events)
}

// Query runs fn against the master's read-only views inside the actor and
// returns its result: the HTTP API's way to read.
func Query[T any](ctx context.Context, system *actor.ActorSystem, master *actor.PID, fn func(v kmaster.Views, now time.Time) T) (T, error) {
	var zero T
	res, err := request(ctx, system, master, queryFunc(func(v kmaster.Views, now time.Time) any { return fn(v, now) }))
	if err != nil {
		return zero, err
	}
	return res.(queryResult).value.(T), nil
}

// Operate steps the master with an operator's action (operator names who
// asks, for the log) and returns the master's answer: the HTTP API's only
// way to act. What the action makes the master send is sent.
func Operate(ctx context.Context, system *actor.ActorSystem, master *actor.PID, operator string, input kmaster.OperatorInput) error {
	res, err := request(ctx, system, master, operate{operator: kmaster.Peer("operator " + operator), input: input})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoAnswer, err)
	}
	return res.(operateResult).err
}

// ErrNoAnswer says the master actor did not answer in time.
var ErrNoAnswer = errors.New("the master did not answer")

func request(ctx context.Context, system *actor.ActorSystem, master *actor.PID, msg any) (any, error) {
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	return system.Root.RequestFuture(master, msg, timeout).Result()
}

func peerOf(pid *actor.PID) kmaster.Peer { return kmaster.Peer(pid.Address + "/" + pid.Id) }

func pidOf(peer kmaster.Peer) *actor.PID {
	s := string(peer)
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return actor.NewPID(s[:i], s[i+1:])
		}
	}
	return actor.NewPID("", s)
}
