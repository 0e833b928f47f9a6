package agent

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/pandodc/pando/kernel/internal/ring"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
)

// Config describes the agent and tunes its retries. Zero durations mean the
// defaults; a negative MasterTimeout disables it.
type Config struct {
	Hostname    string
	HTTPAddress string
	Resources   resources.Resources
	Attributes  map[string]string
	// AgentID is the id from a previous run, if the agent recovered it: the
	// agent re-registers under it instead of registering anew.
	AgentID string
	// RetryInterval is the first delay before a status update is resent
	// (default 1s); each further retry doubles it up to MaxRetryInterval
	// (default 1m).
	RetryInterval    time.Duration
	MaxRetryInterval time.Duration
	// RegisterRetry is how often RegisterAgent is resent until the master
	// answers (default 1s).
	RegisterRetry time.Duration
	// MasterTimeout: with no Ping from the master for this long, the agent
	// considers itself forgotten (the master may have removed it) and
	// registers again. Default: 6 ping intervals as given by the master at
	// registration, so it outlasts the master's own 5 missed pings.
	MasterTimeout time.Duration
	// MaxRecentTasks bounds the memory of settled task ids, used to ignore
	// a duplicated RunTask for a task that already ended (default 1,000).
	MaxRecentTasks int
}

const (
	defaultRetryInterval    = time.Second
	defaultMaxRetryInterval = time.Minute
	defaultRegisterRetry    = time.Second
	defaultMasterTimeoutN   = 6
	defaultMaxRecentTasks   = 1000
)

// TaskRef names a task: task ids are unique per framework only.
type TaskRef = kernelpb.TaskRef

var compareRefs = kernelpb.CompareTaskRefs

// LaunchTask asks the shell to start a task through its runtime.
type LaunchTask struct {
	FrameworkID   string
	FrameworkName string
	// Task is the agent's copy; the shell must not modify it.
	Task *kernelpb.TaskInfo
}

// TaskEvent is what the runtime reports about a task: STARTING, RUNNING,
// then a terminal state.
type TaskEvent struct {
	FrameworkID string
	TaskID      string
	State       kernelpb.TaskState
	Reason      kernelpb.Reason
	Message     string
	ExitCode    int32
	// Usage is what the task used, on terminal events (nil: not measured).
	Usage *kernelpb.ResourceUsage
	// Healthy is the task's health from its health check (nil: not
	// checked). A RUNNING task may report RUNNING again with it: a change
	// of health, sent on like any update.
	Healthy *bool
}

// EventKind says what an Event records.
type EventKind int

const (
	EventRegistered EventKind = iota + 1
	EventMasterLost
	EventTaskLaunched
	EventTaskState
	EventKillRequested
	EventUpdateAcked
	EventUpdateRetried
	EventFenced
)

// Event records something for metrics and tracing.
type Event struct {
	Kind        EventKind
	At          time.Time
	FrameworkID string
	TaskID      string
	State       kernelpb.TaskState
	Message     string
}

// Ready is what the agent produced since the previous call to Ready.
type Ready struct {
	ToMaster []proto.Message
	Launch   []LaunchTask
	Kill     []TaskRef
	Events   []Event
}

type task struct {
	ref           TaskRef
	frameworkName string
	info          *kernelpb.TaskInfo // nil for a task only known from a KillTask
	// state is the newest state known, possibly ahead of what the master
	// has acknowledged.
	state kernelpb.TaskState
	seq   int
	// queue holds the status updates not yet acknowledged, oldest first;
	// only queue[0] is ever outstanding.
	queue []*kernelpb.TaskStatus
	// healthy is the newest health its checks reported (nil: none yet).
	healthy   *bool
	headSent  bool
	nextRetry time.Time
	backoff   time.Duration
}

// Agent is the agent's state machine. Not safe for concurrent use.
type Agent struct {
	cfg Config

	id           string
	registered   bool
	epoch        uint64 // the newest master epoch seen
	pingInterval time.Duration
	lastPing     time.Time
	nextRegister time.Time
	started      bool

	tasks map[TaskRef]*task
	// recent remembers the tasks the agent forgot (settled, or never
	// launched here), to ignore a late or duplicated RunTask for them.
	recent ring.Set[TaskRef]

	ready Ready
}

// New makes an agent; Start registers it.
func New(cfg Config) *Agent {
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = defaultRetryInterval
	}
	if cfg.MaxRetryInterval < cfg.RetryInterval {
		cfg.MaxRetryInterval = max(defaultMaxRetryInterval, cfg.RetryInterval)
	}
	if cfg.RegisterRetry <= 0 {
		cfg.RegisterRetry = defaultRegisterRetry
	}
	if cfg.MaxRecentTasks <= 0 {
		cfg.MaxRecentTasks = defaultMaxRecentTasks
	}
	return &Agent{
		cfg:    cfg,
		id:     cfg.AgentID,
		tasks:  map[TaskRef]*task{},
		recent: ring.NewSet[TaskRef](cfg.MaxRecentTasks),
	}
}

// ErrStale is returned for messages from a master older than the newest
// one seen.
var ErrStale = errors.New("message from a deposed master")

// Start registers the agent with the master.
func (a *Agent) Start(now time.Time) {
	a.started = true
	a.register(now)
}

// MasterChanged says a new master leads (or the connection was re-made):
// the agent registers again with its id and its tasks, and holds its status
// updates until the master answers.
func (a *Agent) MasterChanged(now time.Time) {
	a.registered = false
	a.started = true
	a.register(now)
}

func (a *Agent) register(now time.Time) {
	a.nextRegister = now.Add(a.cfg.RegisterRetry)
	msg := &kernelpb.RegisterAgent{
		AgentId:     a.id,
		Hostname:    a.cfg.Hostname,
		Resources:   a.cfg.Resources.ToProto(),
		Attributes:  maps.Clone(a.cfg.Attributes),
		HttpAddress: a.cfg.HTTPAddress,
	}
	for _, t := range a.sortedTasks() {
		if t.info == nil {
			continue // only known from a KillTask: nothing runs
		}
		msg.Tasks = append(msg.Tasks, kernelpb.CloneTaskInfo(t.info))
		msg.TaskFrameworkIds = append(msg.TaskFrameworkIds, t.ref.FrameworkID)
		msg.TaskStates = append(msg.TaskStates, &kernelpb.TaskStatus{
			TaskId: t.ref.TaskID, FrameworkId: t.ref.FrameworkID, AgentId: a.id, State: t.state, Healthy: cloneBool(t.healthy),
		})
	}
	a.toMaster(msg)
}

// Step feeds the agent one message from the master. A StatusUpdateAcks is
// stepped as its acknowledgements one after the other.
func (a *Agent) Step(now time.Time, msg proto.Message) error {
	if batch, ok := msg.(*kernelpb.StatusUpdateAcks); ok {
		if batch == nil {
			return fmt.Errorf("nil %T", msg)
		}
		var errs []error
		for _, ack := range batch.Acks {
			if err := a.Step(now, ack); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	epoch, err := epochOf(msg)
	if err != nil {
		return err
	}
	if epoch < a.epoch {
		a.emit(Event{Kind: EventFenced, At: now, Message: fmt.Sprintf("%T from epoch %d < %d", msg, epoch, a.epoch)})
		return fmt.Errorf("%w: %T from epoch %d, newest seen %d", ErrStale, msg, epoch, a.epoch)
	}
	a.epoch = epoch
	switch msg := msg.(type) {
	case *kernelpb.AgentRegistered:
		return a.registeredWith(now, msg)
	case *kernelpb.Ping:
		if a.id == "" {
			return fmt.Errorf("Ping before registration")
		}
		a.lastPing = now
		a.toMaster(&kernelpb.Pong{AgentId: a.id, Seq: msg.Seq})
		return nil
	case *kernelpb.RunTask:
		return a.runTask(now, msg)
	case *kernelpb.KillTask:
		return a.killTask(now, msg)
	case *kernelpb.ShutdownFramework:
		if msg.FrameworkId == "" {
			return fmt.Errorf("ShutdownFramework without framework id")
		}
		for _, t := range a.sortedTasks() {
			if t.ref.FrameworkID == msg.FrameworkId && !kernelpb.IsTerminal(t.state) && t.info != nil {
				a.kill(now, t)
			}
		}
		return nil
	case *kernelpb.StatusUpdateAck:
		return a.ack(now, msg)
	}
	return fmt.Errorf("unexpected message %T", msg)
}

// epochOf returns the epoch of a message from the master, or an error for a
// nil or unexpected message.
func epochOf(msg proto.Message) (uint64, error) {
	switch msg := msg.(type) {
	case *kernelpb.AgentRegistered:
		if msg != nil {
			return msg.Epoch, nil
		}
	case *kernelpb.Ping:
		if msg != nil {
			return msg.Epoch, nil
		}
	case *kernelpb.RunTask:
		if msg != nil {
			return msg.Epoch, nil
		}
	case *kernelpb.KillTask:
		if msg != nil {
			return msg.Epoch, nil
		}
	case *kernelpb.ShutdownFramework:
		if msg != nil {
			return msg.Epoch, nil
		}
	case *kernelpb.StatusUpdateAck:
		if msg != nil {
			return msg.Epoch, nil
		}
	default:
		return 0, fmt.Errorf("unexpected message %T", msg)
	}
	return 0, fmt.Errorf("nil %T", msg)
}

func (a *Agent) registeredWith(now time.Time, msg *kernelpb.AgentRegistered) error {
	if msg.AgentId == "" {
		return fmt.Errorf("AgentRegistered without agent id")
	}
	a.id = msg.AgentId
	a.registered = true
	a.pingInterval = time.Duration(msg.PingIntervalMs) * time.Millisecond
	a.lastPing = now
	a.emit(Event{Kind: EventRegistered, At: now, Message: a.id})
	// Updates held while unregistered go out now, oldest of each task.
	for _, t := range a.sortedTasks() {
		t.backoff = 0
		a.sendHead(now, t)
	}
	return nil
}

// Recovered is a task that still runs from before a restart of the agent
// (a container its runtime reattached to).
type Recovered struct {
	FrameworkID   string
	FrameworkName string
	// Task is as the agent launched it (from its checkpoint).
	Task *kernelpb.TaskInfo
}

// Recover takes back tasks that outlived a restart of the agent, before
// Start: they count as RUNNING, are reported with the registration, and
// are killed, acknowledged and settled like any other. Nothing is launched
// for them.
func (a *Agent) Recover(now time.Time, tasks []Recovered) error {
	if a.started {
		return errors.New("Recover after Start: recovered tasks are reported with the registration")
	}
	for _, r := range tasks {
		if r.Task == nil || r.Task.TaskId == "" || r.FrameworkID == "" {
			return fmt.Errorf("recovered task without task, task id or framework id")
		}
		ref := TaskRef{FrameworkID: r.FrameworkID, TaskID: r.Task.TaskId}
		if a.tasks[ref] != nil {
			return fmt.Errorf("task %s of framework %s recovered twice", ref.TaskID, ref.FrameworkID)
		}
		info := kernelpb.CloneTaskInfo(r.Task)
		if a.id != "" {
			info.AgentId = a.id
		}
		a.tasks[ref] = &task{ref: ref, frameworkName: r.FrameworkName, info: info, state: kernelpb.TaskState_TASK_RUNNING}
		a.emit(Event{Kind: EventTaskState, At: now, FrameworkID: ref.FrameworkID, TaskID: ref.TaskID, State: kernelpb.TaskState_TASK_RUNNING, Message: "recovered after the agent restarted"})
	}
	return nil
}

func (a *Agent) runTask(now time.Time, msg *kernelpb.RunTask) error {
	if msg.Task == nil || msg.Task.TaskId == "" || msg.FrameworkId == "" {
		return fmt.Errorf("RunTask without task, task id or framework id")
	}
	ref := TaskRef{FrameworkID: msg.FrameworkId, TaskID: msg.Task.TaskId}
	if a.tasks[ref] != nil || a.recent.Has(ref) {
		return nil // a duplicate: the task is already here, or has ended
	}
	info := kernelpb.CloneTaskInfo(msg.Task)
	if a.id != "" {
		info.AgentId = a.id
	}
	a.tasks[ref] = &task{ref: ref, frameworkName: msg.FrameworkName, info: info, state: kernelpb.TaskState_TASK_STAGING}
	a.ready.Launch = append(a.ready.Launch, LaunchTask{FrameworkID: ref.FrameworkID, FrameworkName: msg.FrameworkName, Task: info})
	a.emit(Event{Kind: EventTaskLaunched, At: now, FrameworkID: ref.FrameworkID, TaskID: ref.TaskID, State: kernelpb.TaskState_TASK_STAGING})
	return nil
}

func (a *Agent) killTask(now time.Time, msg *kernelpb.KillTask) error {
	if msg.TaskId == "" || msg.FrameworkId == "" {
		return fmt.Errorf("KillTask without task or framework id")
	}
	ref := TaskRef{FrameworkID: msg.FrameworkId, TaskID: msg.TaskId}
	if t := a.tasks[ref]; t != nil {
		if !kernelpb.IsTerminal(t.state) && t.info != nil {
			a.kill(now, t)
		}
		return nil
	}
	if a.recent.Has(ref) {
		return nil // already ended and acknowledged
	}
	// Never launched here (its RunTask was lost): say so, so that the
	// master and the framework stop waiting for it.
	t := &task{ref: ref}
	a.tasks[ref] = t
	a.recent.Add(ref) // a late RunTask must not start it now
	a.enqueue(now, t, kernelpb.TaskState_TASK_LOST, kernelpb.Reason_REASON_NONE,
		"the agent does not know the task", 0, kernelpb.Source_SOURCE_AGENT, nil)
	return nil
}

func (a *Agent) kill(now time.Time, t *task) {
	a.ready.Kill = append(a.ready.Kill, t.ref)
	a.emit(Event{Kind: EventKillRequested, At: now, FrameworkID: t.ref.FrameworkID, TaskID: t.ref.TaskID, State: t.state})
}

func (a *Agent) ack(now time.Time, msg *kernelpb.StatusUpdateAck) error {
	t := a.tasks[TaskRef{FrameworkID: msg.FrameworkId, TaskID: msg.TaskId}]
	if t == nil || len(t.queue) == 0 || t.queue[0].UpdateId != msg.UpdateId {
		return nil // a duplicate or late acknowledgement
	}
	t.queue[0] = nil
	t.queue = t.queue[1:]
	t.headSent = false
	t.backoff = 0
	a.emit(Event{Kind: EventUpdateAcked, At: now, FrameworkID: t.ref.FrameworkID, TaskID: t.ref.TaskID})
	if len(t.queue) > 0 {
		a.sendHead(now, t)
		return nil
	}
	if kernelpb.IsTerminal(t.state) {
		// Everything about the task is acknowledged: forget it.
		delete(a.tasks, t.ref)
		a.recent.Add(t.ref)
	}
	return nil
}

// TaskEvent takes a state change reported by the task's runtime and queues
// it as a status update.
func (a *Agent) TaskEvent(now time.Time, ev TaskEvent) error {
	t := a.tasks[TaskRef{FrameworkID: ev.FrameworkID, TaskID: ev.TaskID}]
	switch {
	case t == nil || t.info == nil:
		return fmt.Errorf("event for unknown task %s of framework %s", ev.TaskID, ev.FrameworkID)
	case kernelpb.IsTerminal(t.state):
		return fmt.Errorf("task %s already ended %v, ignoring %v", ev.TaskID, t.state, ev.State)
	case healthChange(t, ev):
	case kernelpb.Rank(ev.State) <= kernelpb.Rank(t.state):
		return fmt.Errorf("task %s is %v, ignoring %v", ev.TaskID, t.state, ev.State)
	}
	if ev.Healthy != nil {
		t.healthy = cloneBool(ev.Healthy)
	}
	a.enqueue(now, t, ev.State, ev.Reason, ev.Message, ev.ExitCode, kernelpb.Source_SOURCE_EXECUTOR, kernelpb.CloneResourceUsage(ev.Usage))
	return nil
}

// healthChange says whether ev is a RUNNING task reporting RUNNING again
// with a health that differs from the one it last reported: the one event
// that does not move a task forward and is still an update.
func healthChange(t *task, ev TaskEvent) bool {
	return t.state == kernelpb.TaskState_TASK_RUNNING && ev.State == kernelpb.TaskState_TASK_RUNNING &&
		ev.Healthy != nil && (t.healthy == nil || *t.healthy != *ev.Healthy)
}

func cloneBool(b *bool) *bool {
	if b == nil {
		return nil
	}
	v := *b
	return &v
}

func (a *Agent) enqueue(now time.Time, t *task, s kernelpb.TaskState, reason kernelpb.Reason, message string, exit int32, src kernelpb.Source, usage *kernelpb.ResourceUsage) {
	t.seq++
	t.state = s
	t.queue = append(t.queue, &kernelpb.TaskStatus{
		TaskId:      t.ref.TaskID,
		State:       s,
		FrameworkId: t.ref.FrameworkID,
		Reason:      reason,
		Message:     message,
		Source:      src,
		TimestampNs: now.UnixNano(),
		UpdateId:    fmt.Sprintf("%s-%d", t.ref.TaskID, t.seq),
		ExitCode:    exit,
		Usage:       usage,
		Healthy:     cloneBool(t.healthy),
	})
	a.emit(Event{Kind: EventTaskState, At: now, FrameworkID: t.ref.FrameworkID, TaskID: t.ref.TaskID, State: s, Message: message})
	if len(t.queue) == 1 {
		a.sendHead(now, t)
	}
}

// sendHead sends (or resends, with the same update id) the oldest
// unacknowledged update of a task, and schedules its next retry.
func (a *Agent) sendHead(now time.Time, t *task) {
	if !a.registered || len(t.queue) == 0 {
		return
	}
	if t.backoff == 0 {
		t.backoff = a.cfg.RetryInterval
	} else {
		t.backoff = min(2*t.backoff, a.cfg.MaxRetryInterval)
	}
	t.headSent = true
	t.nextRetry = now.Add(t.backoff)
	st := kernelpb.CloneTaskStatus(t.queue[0])
	st.AgentId = a.id
	a.toMaster(&kernelpb.StatusUpdate{AgentId: a.id, FrameworkId: t.ref.FrameworkID, Status: st, LatestState: t.state})
}

// Tick advances the agent's timers: registration retries, the master
// timeout, and status update retries.
func (a *Agent) Tick(now time.Time) {
	if !a.started {
		return
	}
	if a.registered && a.masterTimeout() > 0 && !now.Before(a.lastPing.Add(a.masterTimeout())) {
		a.registered = false
		a.emit(Event{Kind: EventMasterLost, At: now, Message: "no ping from the master"})
		a.register(now)
		return
	}
	if !a.registered {
		if !now.Before(a.nextRegister) {
			a.register(now)
		}
		return
	}
	for _, t := range a.sortedTasks() {
		if t.headSent && !now.Before(t.nextRetry) {
			a.emit(Event{Kind: EventUpdateRetried, At: now, FrameworkID: t.ref.FrameworkID, TaskID: t.ref.TaskID, State: t.queue[0].State})
			a.sendHead(now, t)
		}
	}
}

func (a *Agent) masterTimeout() time.Duration {
	switch {
	case a.cfg.MasterTimeout < 0:
		return 0
	case a.cfg.MasterTimeout > 0:
		return a.cfg.MasterTimeout
	}
	return defaultMasterTimeoutN * a.pingInterval
}

// Ready drains what the agent produced since the previous call.
//
// Status updates ready together go as one StatusUpdates, in their order;
// a single one goes alone.
func (a *Agent) Ready() Ready {
	rd := a.ready
	a.ready = Ready{}
	rd.ToMaster = batchUpdates(rd.ToMaster)
	return rd
}

// batchUpdates gathers each run of consecutive StatusUpdates into one
// StatusUpdates. Only consecutive ones: a batch never overtakes another
// message.
func batchUpdates(msgs []proto.Message) []proto.Message {
	out := msgs[:0]
	var batch *kernelpb.StatusUpdates
	for _, msg := range msgs {
		u, ok := msg.(*kernelpb.StatusUpdate)
		if !ok {
			batch = nil
			out = append(out, msg)
			continue
		}
		if batch == nil {
			if prev, ok := lastUpdate(out); ok {
				batch = &kernelpb.StatusUpdates{Updates: []*kernelpb.StatusUpdate{prev}}
				out[len(out)-1] = batch
			} else {
				out = append(out, u)
				continue
			}
		}
		batch.Updates = append(batch.Updates, u)
	}
	return out
}

func lastUpdate(msgs []proto.Message) (*kernelpb.StatusUpdate, bool) {
	if len(msgs) == 0 {
		return nil, false
	}
	u, ok := msgs[len(msgs)-1].(*kernelpb.StatusUpdate)
	return u, ok
}

func (a *Agent) toMaster(msg proto.Message) { a.ready.ToMaster = append(a.ready.ToMaster, msg) }
func (a *Agent) emit(e Event)               { a.ready.Events = append(a.ready.Events, e) }

// ID returns the agent id ("" before the first registration).
func (a *Agent) ID() string { return a.id }

// Knows reports whether the agent holds a task: false once everything
// about it has been acknowledged (or it was never here).
func (a *Agent) Knows(ref TaskRef) bool { return a.tasks[ref] != nil }

// Registered reports whether the master has answered the latest
// registration.
func (a *Agent) Registered() bool { return a.registered }

// Epoch returns the newest master epoch seen.
func (a *Agent) Epoch() uint64 { return a.epoch }

// TaskView describes a task the agent holds.
type TaskView struct {
	FrameworkID   string
	FrameworkName string
	TaskID        string
	State         kernelpb.TaskState
	// PendingUpdates counts status updates not yet acknowledged.
	PendingUpdates int
	// Info is the task as launched (nil for a task only known from a
	// KillTask); read only.
	Info *kernelpb.TaskInfo
	// Healthy is the task's newest health (nil: not checked); read only.
	Healthy *bool
}

// Tasks lists the agent's tasks by framework and task id.
func (a *Agent) Tasks() []TaskView {
	var out []TaskView
	for _, t := range a.sortedTasks() {
		out = append(out, TaskView{FrameworkID: t.ref.FrameworkID, FrameworkName: t.frameworkName,
			TaskID: t.ref.TaskID, State: t.state, PendingUpdates: len(t.queue), Info: t.info, Healthy: t.healthy})
	}
	return out
}

func (a *Agent) sortedTasks() []*task {
	out := make([]*task, 0, len(a.tasks))
	for _, t := range a.tasks {
		out = append(out, t)
	}
	slices.SortFunc(out, func(x, y *task) int { return compareRefs(x.ref, y.ref) })
	return out
}
