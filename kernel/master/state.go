package master

import (
	"cmp"
	"slices"
	"time"

	"github.com/pandodc/pando/kernel/internal/ring"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
)

// EventKind says what an Event records.
type EventKind int

const (
	// EventTaskState: a task reached a new state in the master.
	EventTaskState EventKind = iota + 1
	// EventOffersMade: Count offers were sent to a framework.
	EventOffersMade
	// EventOffersAccepted: Count offers were accepted (used for launches).
	EventOffersAccepted
	// EventOffersDeclined: Count offers were declined.
	EventOffersDeclined
	// EventOffersRescinded: Count offers were rescinded (timed out, agent
	// deactivated or removed, framework disconnected or failed over).
	EventOffersRescinded
	EventFrameworkAdded
	EventFrameworkReconnected
	EventFrameworkDisconnected
	EventFrameworkRemoved
	EventAgentAdded
	EventAgentReregistered
	EventAgentDeactivated
	EventAgentRemoved
	// EventOperatorKill: an operator asked to kill a task.
	EventOperatorKill
	// EventAgentUnreachable: the agent missed its pings; it left the
	// allocator and its tasks went UNREACHABLE (or LOST).
	EventAgentUnreachable
	// EventAgentUnreachableDeferred: the agent missed its pings but
	// MaxUnreachablePerWindow agents were already marked unreachable in
	// the window; it is kept (and pinged) until the window allows.
	EventAgentUnreachableDeferred
	// EventAgentRecovered: the registry says a previous leader had the
	// agent (KnownAgents); it is awaited until it re-registers.
	EventAgentRecovered
)

var eventKindNames = map[EventKind]string{
	EventTaskState:             "task-state",
	EventOffersMade:            "offers-made",
	EventOffersAccepted:        "offers-accepted",
	EventOffersDeclined:        "offers-declined",
	EventOffersRescinded:       "offers-rescinded",
	EventFrameworkAdded:        "framework-added",
	EventFrameworkReconnected:  "framework-reconnected",
	EventFrameworkDisconnected: "framework-disconnected",
	EventFrameworkRemoved:      "framework-removed",
	EventAgentAdded:            "agent-added",
	EventAgentReregistered:     "agent-reregistered",
	EventAgentDeactivated:      "agent-deactivated",
	EventAgentRemoved:          "agent-removed",
	EventOperatorKill:          "operator-kill",

	EventAgentUnreachable:         "agent-unreachable",
	EventAgentUnreachableDeferred: "agent-unreachable-deferred",
	EventAgentRecovered:           "agent-recovered",
}

func (k EventKind) String() string {
	if s, ok := eventKindNames[k]; ok {
		return s
	}
	return "unknown"
}

// Event records something that happened in the master, for tracing and
// metrics. Fields that do not apply to the Kind are empty.
type Event struct {
	Kind        EventKind
	At          time.Time
	TaskID      string
	FrameworkID string
	AgentID     string
	State       kernelpb.TaskState
	Reason      kernelpb.Reason
	Message     string
	// Count is the number of offers for the offer events.
	Count int
}

// Counters are monotonic totals since the master started, for metrics.
type Counters struct {
	OffersMade, OffersAccepted, OffersDeclined, OffersRescinded uint64
	// TasksLaunched counts tasks sent to agents; TasksInvalid counts
	// tasks refused at Accept (TASK_ERROR, or TASK_LOST for bad offers).
	TasksLaunched, TasksInvalid uint64
	// TasksTerminal counts tasks by the terminal state they reached.
	TasksTerminal                                        map[kernelpb.TaskState]uint64
	AgentsAdded, AgentsRemoved                           uint64
	FrameworksAdded, FrameworksRemoved                   uint64
	StatusUpdates, InvalidMessages, UnknownTaskUpdates   uint64
	PingsSent, FrameworkHeartbeats, MasterStatusUpdates  uint64
	Reconciliations, KillsForwarded, AcknowledgementsFwd uint64
	// OperatorKills counts the operator's kills sent to agents.
	OperatorKills uint64
	// AgentsUnreachable counts agents marked unreachable; AgentsReturned
	// those of them that re-registered in time; UnreachableDeferred the
	// agents held back by MaxUnreachablePerWindow (once per hold).
	AgentsUnreachable, AgentsReturned, UnreachableDeferred uint64
	// AgentsRecovered counts the agents of the registry (KnownAgents);
	// AgentsRegisteredAnew those that came back under a removed id and
	// were given a new one.
	AgentsRecovered, AgentsRegisteredAnew uint64
}

// taskKey names a task (the agent keys its tasks the same way).
type taskKey = kernelpb.TaskRef

var compareTaskKeys = kernelpb.CompareTaskRefs

// StateChange is one entry of a task's history.
type StateChange struct {
	State kernelpb.TaskState
	At    time.Time
}

type taskState struct {
	key       taskKey
	agentID   string
	info      *kernelpb.TaskInfo // from taskRecord: owned, never modified
	resources resources.Resources
	state     kernelpb.TaskState
	// toldState is the state of the newest status forwarded to (or made
	// for) the framework. It may lag state, which follows the agent's
	// latest_state; reconciliation answers with it, as Mesos does, so a
	// framework never hears of a state before the updates leading to it.
	toldState kernelpb.TaskState
	reason    kernelpb.Reason
	message   string
	exitCode  int32
	// usage is what the task used, from its terminal update (nil until).
	usage *kernelpb.ResourceUsage
	// healthy is the health its agent's checks last reported (nil: none).
	healthy *bool
	history []StateChange
	// operatorKilled: an operator asked to kill the task (OperatorKill);
	// its KILLED status then says REASON_KILLED_BY_OPERATOR.
	operatorKilled bool
	// terminalUpdateID is the update id of the terminal status update the
	// agent sent; its acknowledgement settles the task.
	terminalUpdateID string
	// toldBeforeUnreachable is what the framework had been told of the
	// task when it went UNREACHABLE: what it is told again when the task
	// comes back, so that it hears the agent's later updates in order.
	toldBeforeUnreachable kernelpb.TaskState
}

type agentState struct {
	id          string
	hostname    string
	httpAddress string
	peer        Peer
	total       resources.Resources
	attributes  map[string]string
	// active: registered and connected, known to the allocator; an
	// inactive agent keeps its tasks but gets no offers.
	active         bool
	registeredAt   time.Time
	reregisteredAt time.Time
	tasks          map[taskKey]struct{}
	offers         map[string]struct{}
	// unreachableSince is when the agent was marked unreachable (zero
	// while reachable); heldBack says MaxUnreachablePerWindow holds its
	// marking back.
	unreachableSince time.Time
	heldBack         bool
	// recovering: known from the registry (KnownAgents), not re-registered
	// since; it has no peer and no tasks the master knows of.
	recovering bool
	// disowned holds the tasks it reported when it registered anew under
	// a removed id: they were killed, and their updates are settled.
	disowned map[taskKey]struct{}

	// Pings: pingSeq is the last ping sent; ponged says it was answered.
	pingSeq  uint64
	ponged   bool
	missed   int
	nextPing time.Time
}

type frameworkState struct {
	id              string
	info            *kernelpb.FrameworkInfo
	roles           []string
	peer            Peer
	connected       bool
	registeredAt    time.Time
	disconnectedAt  time.Time
	failoverTimeout time.Duration
	nextHeartbeat   time.Time
	offers          map[string]struct{}

	offered, accepted, declined, rescinded uint64
	// tooSmall counts tasks refused at Accept, by the resource the offers
	// were short of.
	tooSmall map[string]uint64
}

type offerState struct {
	id          string
	seq         uint64
	frameworkID string
	agentID     string
	role        string
	resources   resources.Resources
	created     time.Time
}

// completedTasks keeps the most recent settled tasks in a ring, so memory
// stays bounded however long the master runs.
type completedTasks struct {
	byKey map[taskKey]*taskState
	ring  ring.Ring[*taskState]
}

func newCompletedTasks(max int) completedTasks {
	return completedTasks{byKey: map[taskKey]*taskState{}, ring: ring.New[*taskState](max)}
}

func (c *completedTasks) add(t *taskState) {
	// A task id may be reused; only forget the evicted entry if it is
	// still this very task.
	if old, ok := c.ring.Push(t); ok && c.byKey[old.key] == old {
		delete(c.byKey, old.key)
	}
	c.byKey[t.key] = t
}

// newestFirst returns the completed tasks from newest to oldest, skipping
// entries superseded by a newer task with the same key.
func (c *completedTasks) newestFirst() []*taskState {
	out := make([]*taskState, 0, c.ring.Len())
	for t := range c.ring.Newest() {
		if c.byKey[t.key] == t {
			out = append(out, t)
		}
	}
	return out
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func cmpSeq(a, b uint64) int { return cmp.Compare(a, b) }

func sortedTaskKeys(m map[taskKey]struct{}) []taskKey {
	keys := make([]taskKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareTaskKeys)
	return keys
}

func validState(s kernelpb.TaskState) bool { return kernelpb.Rank(s) > 0 }

// holds reports whether the task holds its resources: it was launched (or
// adopted) and has not ended. It is derived from the state alone, so that
// what the master counts as held cannot drift from what setState gave back
// to the allocator (see release).
func (t *taskState) holds() bool {
	r := kernelpb.Rank(t.state)
	return r > 0 && !kernelpb.IsTerminal(t.state)
}
