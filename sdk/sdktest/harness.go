package sdktest

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
	"github.com/pandodc/pando/sdk"
)

// Start is the harness clock's start.
var Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Harness is a master for one scheduler under test. It is not safe for
// concurrent use; the scheduler's callbacks run on the goroutine calling
// the harness.
type Harness struct {
	t    testing.TB
	loop *sdk.Loop

	// AutoSubscribe answers every Subscribe (default true); turn it off to
	// answer by hand with Deliver.
	AutoSubscribe bool

	epoch       uint64
	frameworkID string
	calls       []proto.Message
	offers      map[string]*kernelpb.Offer // outstanding
	tasks       map[string]*kernelpb.TaskInfo
	states      map[string]kernelpb.TaskState
	launchOrder []string
	seq         int
}

// New subscribes s to a fresh harness master at epoch 1 as framework
// "fw-1". cfg may be omitted; its Framework defaults to a framework named
// "test".
func New(t testing.TB, s sdk.Scheduler, cfg ...sdk.Config) *Harness {
	t.Helper()
	var c sdk.Config
	if len(cfg) > 0 {
		c = cfg[0]
	}
	if c.Framework == nil {
		c.Framework = &kernelpb.FrameworkInfo{Name: "test", Roles: []string{"*"}}
	}
	h := &Harness{
		t: t, AutoSubscribe: true, epoch: 1, frameworkID: "fw-1",
		offers: map[string]*kernelpb.Offer{}, tasks: map[string]*kernelpb.TaskInfo{}, states: map[string]kernelpb.TaskState{},
	}
	loop, err := sdk.NewLoop(c, s, Start, h.receive)
	if err != nil {
		t.Fatalf("sdktest: %v", err)
	}
	h.loop = loop
	loop.Start()
	return h
}

// Driver is the scheduler's driver.
func (h *Harness) Driver() *sdk.Driver { return h.loop.Driver() }

// Now is the harness clock.
func (h *Harness) Now() time.Time { return h.loop.Now() }

// Advance moves the clock on, firing the driver's timers (heartbeat
// checks, subscribe retries) that come due.
func (h *Harness) Advance(d time.Duration) { h.loop.Advance(d) }

// receive is the master's mailbox: it records the driver's messages and
// plays the master's part.
func (h *Harness) receive(msg any) {
	m, ok := msg.(proto.Message)
	if !ok {
		h.t.Errorf("sdktest: the driver sent %T, not a protocol message", msg)
		return
	}
	if batch, ok := m.(*kernelpb.Acknowledges); ok {
		// The master takes a batch as its acknowledgements in order.
		for _, ack := range batch.GetAcks() {
			h.receive(ack)
		}
		return
	}
	h.calls = append(h.calls, m)
	switch m := m.(type) {
	case *kernelpb.Subscribe:
		if h.AutoSubscribe {
			h.Deliver(&kernelpb.Subscribed{Epoch: h.epoch, FrameworkId: h.frameworkID})
		}
	case *kernelpb.Accept:
		h.accept(m)
	case *kernelpb.Decline:
		for _, id := range m.GetOfferIds() {
			delete(h.offers, id)
		}
	}
}

// accept checks an Accept as the master would and records its tasks.
func (h *Harness) accept(m *kernelpb.Accept) {
	var avail resources.Resources
	agent := ""
	for _, id := range m.GetOfferIds() {
		o, ok := h.offers[id]
		if !ok {
			h.t.Errorf("sdktest: Accept names offer %s, which is not outstanding", id)
			return
		}
		if agent != "" && o.GetAgentId() != agent {
			h.t.Errorf("sdktest: Accept combines offers of agents %s and %s", agent, o.GetAgentId())
		}
		agent = o.GetAgentId()
		r, _ := resources.FromProto(o.GetResources())
		avail = avail.Add(r)
		delete(h.offers, id)
	}
	for _, op := range m.GetOperations() {
		for _, task := range op.GetLaunch() {
			need, err := resources.FromProto(task.GetResources())
			if err != nil {
				h.t.Errorf("sdktest: task %s has malformed resources: %v", task.GetTaskId(), err)
				continue
			}
			if avail, err = avail.Subtract(need); err != nil {
				h.t.Errorf("sdktest: task %s needs %s, more than the offers have left", task.GetTaskId(), need)
			}
			if task.GetAgentId() != agent {
				h.t.Errorf("sdktest: task %s is for agent %q, its offer is on %q", task.GetTaskId(), task.GetAgentId(), agent)
			}
			if _, dup := h.tasks[task.GetTaskId()]; dup && !kernelpb.IsTerminal(h.states[task.GetTaskId()]) {
				h.t.Errorf("sdktest: task id %s launched while an earlier task with that id is live", task.GetTaskId())
			}
			h.tasks[task.GetTaskId()] = task
			h.states[task.GetTaskId()] = kernelpb.TaskState_TASK_STAGING
			h.launchOrder = append(h.launchOrder, task.GetTaskId())
		}
	}
}

// Deliver sends the scheduler a message as the master (Subscribed,
// Offers, Rescind, Update, Heartbeat, Error).
func (h *Harness) Deliver(msg proto.Message) {
	if err := h.loop.Deliver(msg); err != nil {
		h.t.Fatal(err)
	}
}

// Offer describes an offer to send. Empty fields get defaults: agent "a1",
// hostname = agent, resources "cpus:4;mem:8GiB".
type Offer struct {
	Agent      string
	Hostname   string
	Resources  string
	Attributes map[string]string
}

// SendOffers sends one Offers message with an offer per spec and returns
// the offers sent.
func (h *Harness) SendOffers(specs ...Offer) []*sdk.Offer {
	h.t.Helper()
	out := make([]*sdk.Offer, 0, len(specs))
	for _, s := range specs {
		if s.Agent == "" {
			s.Agent = "a1"
		}
		if s.Hostname == "" {
			s.Hostname = s.Agent
		}
		if s.Resources == "" {
			s.Resources = "cpus:4;mem:8GiB"
		}
		r, err := resources.Parse(s.Resources)
		if err != nil {
			h.t.Fatalf("sdktest: offer resources %q: %v", s.Resources, err)
		}
		h.seq++
		o := &kernelpb.Offer{
			Id: "o" + strconv.Itoa(h.seq), FrameworkId: h.frameworkID, AgentId: s.Agent, Hostname: s.Hostname,
			Resources: r.ToProto(), Attributes: maps.Clone(s.Attributes),
		}
		h.offers[o.GetId()] = o
		out = append(out, o)
	}
	h.Deliver(&kernelpb.Offers{Epoch: h.epoch, Offers: out})
	return out
}

// Outstanding returns the ids of offers the scheduler neither accepted nor
// declined yet, sorted.
func (h *Harness) Outstanding() []string {
	return slices.Sorted(maps.Keys(h.offers))
}

// Rescind withdraws an offer.
func (h *Harness) Rescind(offerID string) {
	delete(h.offers, offerID)
	h.Deliver(&kernelpb.Rescind{Epoch: h.epoch, OfferId: offerID})
}

// Update sends a status update for a task the scheduler launched (its
// agent filled in), with an update id so the driver acknowledges it.
func (h *Harness) Update(taskID string, state sdk.TaskState, opts ...func(*sdk.TaskStatus)) {
	h.seq++
	st := &kernelpb.TaskStatus{
		TaskId: taskID, State: state, AgentId: h.tasks[taskID].GetAgentId(), FrameworkId: h.frameworkID,
		Source: kernelpb.Source_SOURCE_AGENT, UpdateId: "u" + strconv.Itoa(h.seq), TimestampNs: h.Now().UnixNano(),
	}
	for _, o := range opts {
		o(st)
	}
	if _, ok := h.states[taskID]; ok {
		h.states[taskID] = state
	}
	h.Deliver(&kernelpb.Update{Epoch: h.epoch, Status: st})
}

// Live returns the launched tasks that are not terminal, in launch order.
func (h *Harness) Live() []string {
	var out []string
	for _, id := range h.launchOrder {
		if !kernelpb.IsTerminal(h.states[id]) && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// FinishAll reports every live task RUNNING then FINISHED.
func (h *Harness) FinishAll() { h.EndAll(sdk.TaskFinished) }

// EndAll reports every live task RUNNING then in state end.
func (h *Harness) EndAll(end sdk.TaskState) {
	for _, id := range h.Live() {
		h.Update(id, sdk.TaskRunning)
		h.Update(id, end)
	}
}

// Disconnect makes the master actor terminate: the driver calls
// Disconnected and subscribes again (answered when AutoSubscribe).
func (h *Harness) Disconnect() {
	h.offers = map[string]*kernelpb.Offer{}
	h.loop.MasterGone()
}

// Failover elects a new master with a higher epoch, which the driver
// learns from a heartbeat: it disconnects and subscribes again.
func (h *Harness) Failover() {
	h.epoch++
	h.offers = map[string]*kernelpb.Offer{}
	h.Deliver(&kernelpb.Heartbeat{Epoch: h.epoch})
}

// Finished reports whether the scheduler called Finish (or the driver
// stopped otherwise).
func (h *Harness) Finished() bool {
	select {
	case <-h.Driver().Done():
		return true
	default:
		return false
	}
}

// Err is what the scheduler passed to Finish.
func (h *Harness) Err() error {
	_, err := h.Driver().Result()
	return err
}

// Calls returns every message the driver sent to the master, in order.
func (h *Harness) Calls() []proto.Message { return slices.Clone(h.calls) }

// Reset forgets the recorded calls (not the tasks or offers).
func (h *Harness) Reset() { h.calls = nil }

// CallsOf returns the recorded calls of type T (e.g. *kernelpb.Kill).
func CallsOf[T proto.Message](h *Harness) []T {
	var out []T
	for _, c := range h.calls {
		if v, ok := c.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// Launched returns every task the scheduler launched, in order.
func (h *Harness) Launched() []*sdk.TaskInfo {
	var out []*sdk.TaskInfo
	for _, a := range CallsOf[*kernelpb.Accept](h) {
		for _, op := range a.GetOperations() {
			out = append(out, op.GetLaunch()...)
		}
	}
	return out
}

// Declined returns the ids of every offer the scheduler declined.
func (h *Harness) Declined() []string {
	var out []string
	for _, d := range CallsOf[*kernelpb.Decline](h) {
		out = append(out, d.GetOfferIds()...)
	}
	return out
}

// Killed returns the ids of the tasks the scheduler asked to kill.
func (h *Harness) Killed() []string {
	var out []string
	for _, k := range CallsOf[*kernelpb.Kill](h) {
		out = append(out, k.GetTaskId())
	}
	return out
}

// Acked returns the update ids the scheduler acknowledged.
func (h *Harness) Acked() []string {
	var out []string
	for _, a := range CallsOf[*kernelpb.Acknowledge](h) {
		out = append(out, a.GetUpdateId())
	}
	return out
}

// Suppressed reports whether the scheduler's last Suppress or Revive was
// a Suppress.
func (h *Harness) Suppressed() bool {
	for i := len(h.calls) - 1; i >= 0; i-- {
		switch h.calls[i].(type) {
		case *kernelpb.Suppress:
			return true
		case *kernelpb.Revive:
			return false
		}
	}
	return false
}

// String summarises the recorded calls, for failure messages.
func (h *Harness) String() string {
	s := ""
	for _, c := range h.calls {
		s += fmt.Sprintf("%T ", c)
	}
	return s
}

// WithReason sets an update's reason.
func WithReason(r sdk.Reason) func(*sdk.TaskStatus) {
	return func(st *sdk.TaskStatus) { st.Reason = r }
}

// WithMessage sets an update's message.
func WithMessage(m string) func(*sdk.TaskStatus) { return func(st *sdk.TaskStatus) { st.Message = m } }

// WithExitCode sets an update's exit code.
func WithExitCode(c int32) func(*sdk.TaskStatus) { return func(st *sdk.TaskStatus) { st.ExitCode = c } }

// DroppedLaunch reports a launched task LOST as the master does when it
// refuses an Accept's offers: sdk.IsDroppedLaunch holds for the update.
func (h *Harness) DroppedLaunch(taskID string) {
	h.Update(taskID, sdk.TaskLost, WithReason(sdk.DroppedLaunchReason), WithMessage("not launched: offer gone"))
}
