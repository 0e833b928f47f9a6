package master

import (
	"cmp"
	"slices"
	"time"

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
}

type taskKey struct {
	frameworkID string
	taskID      string
}

func compareTaskKeys(a, b taskKey) int {
	if c := cmp.Compare(a.frameworkID, b.frameworkID); c != 0 {
		return c
	}
	return cmp.Compare(a.taskID, b.taskID)
}

// StateChange is one entry of a task's history.
type StateChange struct {
	State kernelpb.TaskState
	At    time.Time
}

type taskState struct {
	key       taskKey
	agentID   string
	info      *kernelpb.TaskInfo // owned by the master, never modified
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
	history   []StateChange
	// released: the task's resources went back to the allocator (it is
	// terminal, or its agent or framework was removed).
	released bool
	// terminalUpdateID is the update id of the terminal status update the
	// agent sent; its acknowledgement settles the task.
	terminalUpdateID string
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
	ring  []*taskState
	next  int
	max   int
}

func newCompletedTasks(max int) completedTasks {
	return completedTasks{byKey: map[taskKey]*taskState{}, max: max}
}

func (c *completedTasks) add(t *taskState) {
	if len(c.ring) < c.max {
		c.ring = append(c.ring, t)
	} else {
		old := c.ring[c.next]
		// A task id may be reused; only forget the entry if it is still
		// this very task.
		if c.byKey[old.key] == old {
			delete(c.byKey, old.key)
		}
		c.ring[c.next] = t
		c.next = (c.next + 1) % c.max
	}
	c.byKey[t.key] = t
}

// newestFirst returns the completed tasks from newest to oldest, skipping
// entries superseded by a newer task with the same key.
func (c *completedTasks) newestFirst() []*taskState {
	out := make([]*taskState, 0, len(c.ring))
	n := len(c.ring)
	for i := 0; i < n; i++ {
		// The oldest entry is at next (which stays 0 until the ring is
		// full), so the newest is just before it.
		t := c.ring[(c.next+n-1-i)%n]
		if c.byKey[t.key] == t {
			out = append(out, t)
		}
	}
	return out
}

// removedFrameworks remembers the ids of recently removed frameworks.
type removedFrameworks struct {
	set  map[string]bool
	ring []string
	next int
	max  int
}

func newRemovedFrameworks(max int) removedFrameworks {
	return removedFrameworks{set: map[string]bool{}, max: max}
}

func (r *removedFrameworks) add(id string) {
	if r.set[id] {
		return
	}
	if len(r.ring) < r.max {
		r.ring = append(r.ring, id)
	} else {
		delete(r.set, r.ring[r.next])
		r.ring[r.next] = id
		r.next = (r.next + 1) % r.max
	}
	r.set[id] = true
}

func (r *removedFrameworks) has(id string) bool { return r.set[id] }

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
