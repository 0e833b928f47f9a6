package master

import (
	"errors"
	"fmt"
	"maps"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/pandodc/pando/kernel/allocator"
	"github.com/pandodc/pando/kernel/internal/ring"
	"github.com/pandodc/pando/kernel/kernelpb"
)

// Peer is the opaque address of an agent or a framework connection (for
// the actor shell, a PID string such as "127.0.0.1:5060/agent-1"). The
// master only compares peers and sends to them.
type Peer string

// Disconnected is a Step input from the shell, not a protocol message: the
// connection of the peer ended. The master knows what the peer was: a
// framework's offers are recovered and its tasks kept until its failover
// timeout passes; an agent is deactivated (its offers rescinded, nothing
// more offered there) and keeps its tasks, and is removed if it misses its
// pings or reactivated if it re-registers. The shell keeps no map of its
// own of which peers are agents or frameworks: it reports every ended
// connection it watched, and a peer that is neither is refused.
type Disconnected struct{}

// OperatorKill is a Step input from the shell, not a protocol message: an
// operator (the HTTP API, `pando kill`) asks to kill a task. It is not the
// framework's Kill: the framework may be disconnected, and the task ends
// KILLED with REASON_KILLED_BY_OPERATOR, which the framework hears like any
// other update. FrameworkID may be empty when the task id is unambiguous
// among active tasks. The peer passed to Step names the operator for the
// log only. Its errors are for the operator: ErrUnknownTask, ErrTaskEnded,
// ErrAmbiguousTask or ErrAgentDisconnected, wrapped with the task.
type OperatorKill struct {
	FrameworkID string
	TaskID      string
}

// OperatorInput is an operator's action, for shells that pass only those
// to Step on an operator's behalf (never a protocol message).
type OperatorInput interface{ operatorInput() }

func (OperatorKill) operatorInput() {}

// Errors of operator inputs (errors.Is them).
var (
	ErrUnknownTask       = errors.New("no such active task")
	ErrTaskEnded         = errors.New("the task has already ended")
	ErrAmbiguousTask     = errors.New("several frameworks have an active task with this id")
	ErrAgentDisconnected = errors.New("the task's agent is disconnected")
)

// Config tunes the master. Zero durations and counts mean the defaults
// below; a negative duration disables the timer it sets.
type Config struct {
	// Epoch is the leading master's epoch; every message sent carries it
	// so that receivers can drop messages from a deposed master. It also
	// prefixes every id the master makes, so ids never repeat across
	// failovers.
	Epoch uint64
	// PingInterval is how often each agent is pinged (default 1s).
	PingInterval time.Duration
	// MaxMissedPings consecutive unanswered pings make an agent
	// unreachable (default 5): it leaves the allocator and its tasks go
	// TASK_UNREACHABLE to partition-aware frameworks, TASK_LOST (final) to
	// the others. If it re-registers within AgentUnreachableTimeout its
	// unreachable tasks come back.
	MaxMissedPings int
	// AgentUnreachableTimeout is how long an unreachable agent is kept
	// before it is removed and its unreachable tasks become TASK_LOST
	// (REASON_AGENT_REMOVED) (default 10m; negative: kept until it comes
	// back).
	AgentUnreachableTimeout time.Duration
	// MaxUnreachablePerWindow bounds how many agents may be marked
	// unreachable within any UnreachableWindow (0, the default: no
	// bound). Past it, an agent that missed its pings is held back: the
	// master keeps pinging it and marks it once the window allows
	// (EventAgentUnreachableDeferred, Counters.UnreachableDeferred), so a
	// master that lost its own network does not declare the whole cluster
	// gone. Mesos' agent_removal_rate_limit does the same.
	MaxUnreachablePerWindow int
	// UnreachableWindow is the sliding window of MaxUnreachablePerWindow
	// (default 1m).
	UnreachableWindow time.Duration
	// OfferTimeout rescinds offers a framework holds longer (default 30s;
	// negative: offers never time out).
	OfferTimeout time.Duration
	// DefaultRefuse is the decline filter when a framework gives none
	// (default 5s).
	DefaultRefuse time.Duration
	// DefaultFailoverTimeout applies to frameworks that subscribe without
	// a failover timeout (default 0, as in Mesos: a disconnected framework
	// without a timeout is removed at the next Tick).
	DefaultFailoverTimeout time.Duration
	// HeartbeatInterval is how often connected frameworks get a Heartbeat
	// (default 15s; negative: never).
	HeartbeatInterval time.Duration
	// MaxCompletedTasks bounds the terminal tasks kept for queries and
	// reconciliation (default DefaultMaxCompletedTasks); active tasks are
	// always kept.
	MaxCompletedTasks int
	// UnknownFrameworkTimeout bounds how long the master keeps tasks it
	// adopted from re-registering agents (after a master failover) for a
	// framework that has not subscribed to it, counted from the first
	// such adoption (default 1h; negative: forever). Once it passes, the
	// framework is removed as if its failover timeout had passed: its
	// tasks are killed on their agents and settled KILLED, and it cannot
	// subscribe again. The master cannot know such a framework's own
	// failover timeout, so this should be at least the longest one in use.
	UnknownFrameworkTimeout time.Duration
	// MaxRemovedFrameworks bounds how many removed framework ids are
	// remembered, to refuse their re-subscription and settle their late
	// status updates (default 1,000).
	MaxRemovedFrameworks int
	// ReregistrationWindow is how long, from its first input, a master
	// that took over from another (an elected master) waits for the
	// agents to re-register before it tells a framework that a task it
	// does not know is LOST: during the window such a reconciliation is
	// answered when the task's agent reports it, or LOST when the window
	// closes. It keeps a failover from reporting running tasks LOST to a
	// framework that reconciles before their agent is back. 0: none.
	ReregistrationWindow time.Duration
	// Allocator configures the allocator the master owns. Its
	// DefaultRefuse defaults to the master's.
	Allocator allocator.Config
}

const (
	defaultPingInterval      = time.Second
	defaultMaxMissedPings    = 5
	defaultUnreachableAgent  = 10 * time.Minute
	defaultUnreachableWindow = time.Minute
	defaultOfferTimeout      = 30 * time.Second
	defaultRefuse            = 5 * time.Second
	defaultHeartbeatInterval = 15 * time.Second
	defaultMaxRemoved        = 1000
	defaultUnknownFramework  = time.Hour
	// maxFilter caps refuse_seconds so that a silly value cannot overflow
	// a time.Duration.
	maxFilter = 365 * 24 * time.Hour
)

// DefaultMaxCompletedTasks is Config.MaxCompletedTasks's default: about
// 13 MB of the master's heap (1.3 KB a task).
const DefaultMaxCompletedTasks = 10000

func (c Config) withDefaults() Config {
	if c.PingInterval <= 0 {
		c.PingInterval = defaultPingInterval
	}
	if c.MaxMissedPings <= 0 {
		c.MaxMissedPings = defaultMaxMissedPings
	}
	if c.AgentUnreachableTimeout == 0 {
		c.AgentUnreachableTimeout = defaultUnreachableAgent
	}
	if c.MaxUnreachablePerWindow < 0 {
		c.MaxUnreachablePerWindow = 0
	}
	if c.UnreachableWindow <= 0 {
		c.UnreachableWindow = defaultUnreachableWindow
	}
	if c.OfferTimeout == 0 {
		c.OfferTimeout = defaultOfferTimeout
	}
	if c.DefaultRefuse <= 0 {
		c.DefaultRefuse = defaultRefuse
	}
	if c.DefaultFailoverTimeout < 0 {
		c.DefaultFailoverTimeout = 0
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = defaultHeartbeatInterval
	}
	if c.MaxCompletedTasks <= 0 {
		c.MaxCompletedTasks = DefaultMaxCompletedTasks
	}
	if c.UnknownFrameworkTimeout == 0 {
		c.UnknownFrameworkTimeout = defaultUnknownFramework
	}
	if c.MaxRemovedFrameworks <= 0 {
		c.MaxRemovedFrameworks = defaultMaxRemoved
	}
	if c.Allocator.DefaultRefuse <= 0 {
		c.Allocator.DefaultRefuse = c.DefaultRefuse
	}
	return c
}

// Envelope is one message to send.
type Envelope struct {
	To  Peer
	Msg proto.Message
}

// Ready is what the master produced since the previous call to Ready.
type Ready struct {
	Messages []Envelope
	Events   []Event
}

// Master is the master's state machine. It is not safe for concurrent use:
// the shell owns it and calls it from one goroutine.
type Master struct {
	cfg   Config
	alloc *allocator.Allocator

	agents          map[string]*agentState
	agentByPeer     map[Peer]string
	frameworks      map[string]*frameworkState
	frameworkByPeer map[Peer]string
	offers          map[string]*offerState

	// tasks holds the active tasks: launched and not yet settled (their
	// terminal update unacknowledged, or not terminal at all).
	tasks map[taskKey]*taskState
	// tasksByFramework indexes active tasks by framework, including
	// frameworks the master has no record of yet (tasks adopted from a
	// re-registering agent after a master failover).
	tasksByFramework map[string]map[taskKey]struct{}
	// unknownSince holds, for each framework with adopted tasks that has
	// not subscribed, when the first of its tasks was adopted.
	unknownSince map[string]time.Time
	completed    completedTasks
	// removed remembers the ids of recently removed frameworks.
	removed ring.Set[string]

	nextAgent, nextFramework, nextOffer, nextUpdate uint64

	// windowEnds is when the re-registration window closes (zero until
	// the first input); pending holds the reconciliations it holds back.
	windowEnds time.Time
	pending    []pendingReconcile

	// markedUnreachable holds when agents were marked unreachable within
	// the last UnreachableWindow, oldest first (MaxUnreachablePerWindow).
	markedUnreachable []time.Time

	// removedAgents remembers removed agent ids (here or, from the
	// registry, by an earlier leader): one that comes back registers anew.
	removedAgents ring.Set[string]
	// recovering counts (at least) the registry's agents still awaited.
	recovering int
	// knownFailover holds the registry's frameworks not subscribed yet
	// (KnownFrameworks): their adopted tasks wait their failover timeout.
	knownFailover map[string]KnownFramework
	knownSince    time.Time // when KnownFrameworks was stepped
	// lostUnknown holds tasks answered LOST though the master never knew
	// them (toldLost).
	lostUnknown ring.Set[taskKey]

	out      []Envelope
	events   []Event
	counters Counters
}

// New makes a master with its own allocator.
func New(cfg Config) *Master {
	cfg = cfg.withDefaults()
	return &Master{
		cfg:              cfg,
		alloc:            allocator.New(cfg.Allocator),
		agents:           map[string]*agentState{},
		agentByPeer:      map[Peer]string{},
		frameworks:       map[string]*frameworkState{},
		frameworkByPeer:  map[Peer]string{},
		offers:           map[string]*offerState{},
		tasks:            map[taskKey]*taskState{},
		tasksByFramework: map[string]map[taskKey]struct{}{},
		unknownSince:     map[string]time.Time{},
		completed:        newCompletedTasks(cfg.MaxCompletedTasks),
		removed:          ring.NewSet[string](cfg.MaxRemovedFrameworks),
		removedAgents:    ring.NewSet[string](defaultMaxRemovedAgents),
		knownFailover:    map[string]KnownFramework{},
		lostUnknown:      ring.NewSet[taskKey](maxPendingReconciles),
		counters:         Counters{TasksTerminal: map[kernelpb.TaskState]uint64{}},
	}
}

// Config returns the configuration in effect, defaults filled in.
func (m *Master) Config() Config { return m.cfg }

// ErrInvalid wraps every refusal of a malformed or rogue input.
var ErrInvalid = errors.New("invalid message")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Step feeds one input to the master: a protocol message from the agent or
// framework at peer from, or one of the shell's own inputs, Disconnected,
// OperatorKill, SetWeights, KnownAgents and KnownFrameworks (values, not
// pointers: one input per event). msg is
// `any` rather than proto.Message only so that those, which are not
// protocol messages, travel the same way. The error of a protocol message
// is for logging: a refused framework message has already produced an
// Error message back to the framework. The error of an OperatorKill or a
// SetWeights is for the operator.
func (m *Master) Step(now time.Time, from Peer, msg any) error {
	m.openWindow(now)
	switch msg := msg.(type) {
	case *kernelpb.RegisterAgent:
		if msg == nil {
			return m.refuseAgent("nil RegisterAgent")
		}
		return m.registerAgent(now, from, msg)
	case *kernelpb.StatusUpdate:
		if msg == nil {
			return m.refuseAgent("nil StatusUpdate")
		}
		return m.statusUpdate(now, from, msg)
	case *kernelpb.StatusUpdates:
		if msg == nil {
			return m.refuseAgent("nil StatusUpdates")
		}
		var errs []error
		for _, u := range msg.Updates {
			errs = append(errs, m.Step(now, from, u))
		}
		return errors.Join(errs...)
	case *kernelpb.Acknowledges:
		if msg == nil {
			return m.refuse(from, "nil Acknowledges")
		}
		var errs []error
		for _, ack := range msg.Acks {
			errs = append(errs, m.Step(now, from, ack))
		}
		return errors.Join(errs...)
	case *kernelpb.Pong:
		if msg == nil {
			return m.refuseAgent("nil Pong")
		}
		return m.pong(from, msg)

	case *kernelpb.Subscribe:
		if msg == nil {
			return m.refuse(from, "nil Subscribe")
		}
		return m.subscribe(now, from, msg)
	case *kernelpb.Accept:
		if msg == nil {
			return m.refuse(from, "nil Accept")
		}
		return m.accept(now, from, msg)
	case *kernelpb.Decline:
		if msg == nil {
			return m.refuse(from, "nil Decline")
		}
		return m.decline(now, from, msg)
	case *kernelpb.Revive:
		if msg == nil {
			return m.refuse(from, "nil Revive")
		}
		return m.revive(from, msg)
	case *kernelpb.Suppress:
		if msg == nil {
			return m.refuse(from, "nil Suppress")
		}
		return m.suppress(from, msg)
	case *kernelpb.Acknowledge:
		if msg == nil {
			return m.refuse(from, "nil Acknowledge")
		}
		return m.acknowledge(now, from, msg)
	case *kernelpb.Reconcile:
		if msg == nil {
			return m.refuse(from, "nil Reconcile")
		}
		return m.reconcile(now, from, msg)
	case *kernelpb.Kill:
		if msg == nil {
			return m.refuse(from, "nil Kill")
		}
		return m.kill(now, from, msg)
	case *kernelpb.Teardown:
		if msg == nil {
			return m.refuse(from, "nil Teardown")
		}
		return m.teardown(now, from, msg)
	case Disconnected:
		return m.disconnected(now, from)
	case OperatorKill:
		return m.operatorKill(now, from, msg)
	case SetWeights:
		return m.setWeights(msg)
	case KnownAgents:
		return m.knownAgents(now, msg)
	case KnownFrameworks:
		return m.knownFrameworks(now, msg)

	case nil:
		m.counters.InvalidMessages++
		return invalidf("nil message from %s", from)
	default:
		m.counters.InvalidMessages++
		return invalidf("unexpected message %T from %s", msg, from)
	}
}

// Tick advances the master's timers to now: it rescinds expired offers,
// removes frameworks whose failover timeout passed (and those known only
// from adopted tasks that did not subscribe in time), pings agents, marks
// unreachable those that missed too many pings and removes those that
// stayed unreachable too long, and heartbeats frameworks.
func (m *Master) Tick(now time.Time) {
	m.openWindow(now)
	m.expireRecoveringAgents(now)
	m.answerPending(now)
	m.expireOffers(now)
	m.expireFrameworks(now)
	m.expireUnknownFrameworks(now)
	m.pingAgents(now)
	m.heartbeatFrameworks(now)
}

// Allocate runs one allocation round and sends the resulting offers: one
// Offers message per framework, batching all of its new offers.
func (m *Master) Allocate(now time.Time) {
	allocations := m.alloc.Round(now)
	byFramework := map[string][]*kernelpb.Offer{}
	for _, al := range allocations {
		fw := m.frameworks[al.FrameworkID]
		ag := m.agents[al.AgentID]
		if ag == nil {
			continue // the allocator cannot know an agent the master lacks
		}
		if fw == nil || !fw.connected || !ag.active || al.Resources.IsEmpty() {
			// Defensive: the allocator should not allocate to a
			// suppressed (disconnected) framework or a removed agent;
			// if it does, give the resources straight back.
			m.alloc.Recover(now, al.FrameworkID, al.AgentID, al.Resources, 0)
			continue
		}
		m.nextOffer++
		o := &offerState{
			id:          fmt.Sprintf("%d-O%d", m.cfg.Epoch, m.nextOffer),
			seq:         m.nextOffer,
			frameworkID: fw.id,
			agentID:     ag.id,
			role:        al.Role,
			resources:   al.Resources,
			created:     now,
		}
		m.offers[o.id] = o
		fw.offers[o.id] = struct{}{}
		ag.offers[o.id] = struct{}{}
		fw.offered++
		m.counters.OffersMade++
		byFramework[fw.id] = append(byFramework[fw.id], &kernelpb.Offer{
			Id:          o.id,
			FrameworkId: fw.id,
			AgentId:     ag.id,
			Hostname:    ag.hostname,
			Resources:   o.resources.ToProto(),
			Attributes:  maps.Clone(ag.attributes),
			Role:        o.role,
		})
	}
	for _, fwID := range sortedKeys(byFramework) {
		offers := byFramework[fwID]
		m.send(m.frameworks[fwID].peer, &kernelpb.Offers{Epoch: m.cfg.Epoch, Offers: offers})
		m.events = append(m.events, Event{Kind: EventOffersMade, At: now, FrameworkID: fwID, Count: len(offers)})
	}
}

// Ready drains the messages to send and the events produced since the
// previous call.
//
// Acknowledgements to one agent, and updates to one framework, ready
// together go as one StatusUpdateAcks or Updates, in their order; a single
// one goes alone.
func (m *Master) Ready() Ready {
	rd := Ready{Messages: batchEnvelopes(m.out), Events: m.events}
	m.out, m.events = nil, nil
	return rd
}

// batchEnvelopes gathers, for each peer, each run of StatusUpdateAck (or
// of Update) with no other message to that peer between them into one
// batch, at the place of the run's first. A batch thus never overtakes
// another message to its peer; messages to different peers were never
// ordered.
func batchEnvelopes(envs []Envelope) []Envelope {
	if len(envs) < 2 {
		return envs
	}
	out := make([]Envelope, 0, len(envs))
	open := map[Peer]int{} // the peer's run, by its index in out
	for _, env := range envs {
		i, running := open[env.To]
		switch msg := env.Msg.(type) {
		case *kernelpb.StatusUpdateAck:
			if running {
				switch head := out[i].Msg.(type) {
				case *kernelpb.StatusUpdateAck:
					out[i].Msg = &kernelpb.StatusUpdateAcks{Acks: []*kernelpb.StatusUpdateAck{head, msg}}
					continue
				case *kernelpb.StatusUpdateAcks:
					head.Acks = append(head.Acks, msg)
					continue
				}
			}
		case *kernelpb.Update:
			if running {
				switch head := out[i].Msg.(type) {
				case *kernelpb.Update:
					out[i].Msg = &kernelpb.Updates{Updates: []*kernelpb.Update{head, msg}}
					continue
				case *kernelpb.Updates:
					head.Updates = append(head.Updates, msg)
					continue
				}
			}
		default:
			delete(open, env.To) // a message of another kind ends the run
			out = append(out, env)
			continue
		}
		open[env.To] = len(out)
		out = append(out, env)
	}
	return out
}

// HasReady reports whether Ready would return anything.
func (m *Master) HasReady() bool { return len(m.out) > 0 || len(m.events) > 0 }

func (m *Master) send(to Peer, msg proto.Message) {
	m.out = append(m.out, Envelope{To: to, Msg: msg})
}

// refuse answers a framework's rejected message with an Error and returns
// the reason for logging.
func (m *Master) refuse(to Peer, format string, args ...any) error {
	m.counters.InvalidMessages++
	err := invalidf(format, args...)
	m.send(to, &kernelpb.Error{Epoch: m.cfg.Epoch, Message: fmt.Sprintf(format, args...)})
	return err
}

// refuseAgent rejects an agent's message: agents have no Error message, so
// the refusal is only returned for logging.
func (m *Master) refuseAgent(format string, args ...any) error {
	m.counters.InvalidMessages++
	return invalidf(format, args...)
}

func (m *Master) emit(e Event) { m.events = append(m.events, e) }
