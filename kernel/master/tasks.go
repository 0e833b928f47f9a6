package master

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
)

// taskRecord makes the master's own copy of a task on agentID: the task as
// launched but without its env, which only the agent needs (and which may
// hold secrets). Mesos' master likewise keeps its tasks without their
// command. A small env map is a fifth of what the master holds per task.
func taskRecord(in *kernelpb.TaskInfo, agentID string) *kernelpb.TaskInfo {
	info := kernelpb.CloneTaskInfo(in)
	info.Env = nil
	info.AgentId = agentID
	return info
}

// validDigest reports whether s is a content address "sha256:<64 hex>".
func validDigest(s string) bool {
	_, err := kernelpb.ParseDigest(s)
	return err == nil
}

// validateTaskShape checks what can be checked of a task without the
// offers: its resources and its runtime.
func validateTaskShape(t *kernelpb.TaskInfo) (resources.Resources, string) {
	res, err := resources.FromProto(t.Resources)
	if err != nil {
		return res, fmt.Sprintf("invalid resources: %v", err)
	}
	if res.IsEmpty() {
		return res, "a task needs resources"
	}
	if t.TimeoutMs < 0 {
		return res, "timeout must not be negative"
	}
	switch rt := t.Runtime.(type) {
	case *kernelpb.TaskInfo_Wasm:
		if rt.Wasm == nil || !validDigest(rt.Wasm.Module) {
			return res, `wasm module must be a content address "sha256:<64 hex digits>"`
		}
	case *kernelpb.TaskInfo_Container:
		if rt.Container == nil || !validDigest(rt.Container.Image) {
			return res, `container image must be a content address "sha256:<64 hex digits>"`
		}
	default:
		return res, "a task needs a runtime (wasm or container)"
	}
	return res, ""
}

// accept uses offers to launch tasks.
//
// The framework must own the connection; otherwise only an Error goes back
// and nothing changes. The offers must exist, belong to the framework and
// be on one agent. If they do not, the whole call is void, as in Mesos:
// the framework's own valid offers in it go back to the pool (unfiltered),
// each task to launch is reported TASK_LOST with REASON_INVALID_OFFERS (it
// may be retried with other offers), and an Error says why. Otherwise each
// task is checked in order and takes its resources from what the offers
// still have; a task that is malformed, reuses an active task's id, or does
// not fit is reported TASK_ERROR (REASON_INVALID_TASK) and the others still
// launch. What the tasks leave unused goes back to the pool with the call's
// decline filter.
func (m *Master) accept(now time.Time, from Peer, msg *kernelpb.Accept) error {
	fw, err := m.frameworkFor(from, msg.FrameworkId)
	if err != nil {
		return err
	}
	var launches []*kernelpb.TaskInfo
	var problems []string
	for i, op := range msg.Operations {
		switch {
		case op == nil:
			problems = append(problems, fmt.Sprintf("operation %d is empty", i))
		case op.Type == kernelpb.Operation_LAUNCH:
			launches = append(launches, op.Launch...)
		default:
			problems = append(problems, fmt.Sprintf("operation %d: unsupported type %v", i, op.Type))
		}
	}

	offers, offerErr := m.offersForAccept(fw, msg.OfferIds)
	if offerErr != "" {
		for _, o := range offers {
			m.dropOffer(o)
			m.alloc.Recover(now, fw.id, o.agentID, o.resources, 0)
		}
		agentID := ""
		if len(offers) > 0 {
			agentID = offers[0].agentID
		}
		for _, t := range launches {
			if t == nil || t.TaskId == "" || m.tasks[taskKey{FrameworkID: fw.id, TaskID: t.TaskId}] != nil {
				continue
			}
			m.refuseTask(now, fw, agentID, t, kernelpb.TaskState_TASK_LOST, kernelpb.Reason_REASON_INVALID_OFFERS, "not launched: "+offerErr)
		}
		return m.refuse(from, "%s", offerErr)
	}

	a := m.agents[offers[0].agentID]
	var offered resources.Resources
	for _, o := range offers {
		offered = offered.Add(o.resources)
		m.dropOffer(o)
	}
	fw.accepted += uint64(len(offers))
	m.counters.OffersAccepted += uint64(len(offers))
	m.emit(Event{Kind: EventOffersAccepted, At: now, FrameworkID: fw.id, AgentID: a.id, Count: len(offers)})

	remaining := offered
	inCall := map[string]bool{}
	// Tasks of one call often ask for the same resources: they share one
	// (immutable) value rather than keep a copy each.
	var shared resources.Resources
	for i, t := range launches {
		if t == nil || t.TaskId == "" {
			problems = append(problems, fmt.Sprintf("task %d has no task id", i))
			continue
		}
		key := taskKey{FrameworkID: fw.id, TaskID: t.TaskId}
		if m.tasks[key] != nil || inCall[t.TaskId] {
			// Never touch the active task that owns this id.
			m.sendMasterUpdate(now, fw.id, a.id, t.TaskId, kernelpb.TaskState_TASK_ERROR, kernelpb.Reason_REASON_INVALID_TASK,
				fmt.Sprintf("task id %s is already in use", t.TaskId))
			m.counters.TasksInvalid++
			continue
		}
		inCall[t.TaskId] = true
		res, why := validateTaskShape(t)
		if why == "" && t.AgentId != "" && t.AgentId != a.id {
			why = fmt.Sprintf("task names agent %s but the offers are on agent %s", t.AgentId, a.id)
		}
		if why == "" && !remaining.Contains(res) {
			why = fmt.Sprintf("task needs %s but the offers have %s left: short of %s", res, remaining, remaining.Shortfall(res))
			fw.countTooSmall(remaining, res)
		}
		if why != "" {
			m.refuseTask(now, fw, a.id, t, kernelpb.TaskState_TASK_ERROR, kernelpb.Reason_REASON_INVALID_TASK, why)
			continue
		}
		remaining, _ = remaining.Subtract(res)
		if res.Equal(shared) {
			res = shared
		}
		shared = res
		m.launch(now, fw, a, t, res)
	}
	if !remaining.IsEmpty() {
		m.alloc.Recover(now, fw.id, a.id, remaining, m.refuseFilter(msg.Filters))
	}
	if len(problems) > 0 {
		return m.refuse(from, "%s", strings.Join(problems, "; "))
	}
	return nil
}

// countTooSmall counts a task that did not fit in what the offers had
// left under each resource name it lacked.
func (fw *frameworkState) countTooSmall(have, need resources.Resources) {
	if fw.tooSmall == nil {
		fw.tooSmall = map[string]uint64{}
	}
	lacking := map[string]bool{}
	for _, it := range need.Items() {
		if !have.Contains(resources.New(it)) {
			lacking[it.Name] = true
		}
	}
	for name := range lacking {
		fw.tooSmall[name]++
	}
}

// offersForAccept returns the framework's own valid offers among ids and,
// if the call cannot go ahead, why.
func (m *Master) offersForAccept(fw *frameworkState, ids []string) ([]*offerState, string) {
	if len(ids) == 0 {
		return nil, "accept names no offers"
	}
	var own []*offerState
	var problems []string
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			problems = append(problems, fmt.Sprintf("offer %s is listed twice", id))
			continue
		}
		seen[id] = true
		o := m.offers[id]
		switch {
		case o == nil:
			problems = append(problems, fmt.Sprintf("offer %s is no longer valid", id))
		case o.frameworkID != fw.id:
			// Another framework's offer: leave it entirely alone.
			problems = append(problems, fmt.Sprintf("offer %s does not belong to framework %s", id, fw.id))
		default:
			own = append(own, o)
		}
	}
	for _, o := range own[min(1, len(own)):] {
		if o.agentID != own[0].agentID {
			problems = append(problems, fmt.Sprintf("offers %s and %s are on different agents", own[0].id, o.id))
			break
		}
	}
	return own, strings.Join(problems, "; ")
}

// launch records a valid task and sends it to its agent. No STAGING update
// goes to the framework (as in Mesos): the agent's updates follow.
func (m *Master) launch(now time.Time, fw *frameworkState, a *agentState, in *kernelpb.TaskInfo, res resources.Resources) {
	task := kernelpb.CloneTaskInfo(in)
	task.AgentId = a.id
	t := &taskState{key: taskKey{FrameworkID: fw.id, TaskID: task.TaskId}, agentID: a.id, info: taskRecord(task, a.id), resources: res}
	m.addActiveTask(t)
	m.setState(now, t, kernelpb.TaskState_TASK_STAGING, kernelpb.Reason_REASON_NONE, "")
	m.counters.TasksLaunched++
	m.send(a.peer, &kernelpb.RunTask{
		Epoch:         m.cfg.Epoch,
		FrameworkId:   fw.id,
		FrameworkName: fw.info.GetName(),
		Task:          task,
	})
}

// refuseTask reports a task that was not launched, and keeps it among the
// completed tasks so that queries and reconciliation can say why.
func (m *Master) refuseTask(now time.Time, fw *frameworkState, agentID string, in *kernelpb.TaskInfo, state kernelpb.TaskState, reason kernelpb.Reason, why string) {
	m.counters.TasksInvalid++
	info := taskRecord(in, in.AgentId)
	// Never launched, so it never held anything: setState gives nothing back.
	t := &taskState{key: taskKey{FrameworkID: fw.id, TaskID: info.TaskId}, agentID: agentID, info: info}
	t.resources, _ = resources.FromProto(info.Resources)
	m.setState(now, t, state, reason, why)
	m.completed.add(t)
	m.sendMasterUpdate(now, fw.id, agentID, t.key.TaskID, state, reason, why)
}

func (m *Master) addActiveTask(t *taskState) {
	m.tasks[t.key] = t
	byFw := m.tasksByFramework[t.key.FrameworkID]
	if byFw == nil {
		byFw = map[taskKey]struct{}{}
		m.tasksByFramework[t.key.FrameworkID] = byFw
	}
	byFw[t.key] = struct{}{}
	if a := m.agents[t.agentID]; a != nil {
		a.tasks[t.key] = struct{}{}
	}
}

// completeTask settles a terminal task: it leaves the active set for the
// bounded ring of completed tasks.
func (m *Master) completeTask(t *taskState) {
	delete(m.tasks, t.key)
	if byFw := m.tasksByFramework[t.key.FrameworkID]; byFw != nil {
		delete(byFw, t.key)
		if len(byFw) == 0 {
			delete(m.tasksByFramework, t.key.FrameworkID)
		}
	}
	if a := m.agents[t.agentID]; a != nil {
		delete(a.tasks, t.key)
	}
	m.completed.add(t)
}

// setState moves a task to a new state, records it and, when the task
// stops holding its resources (it ends), gives them back to the allocator.
// It is the only place where a task's state changes, hence the only path
// of release.
func (m *Master) setState(now time.Time, t *taskState, s kernelpb.TaskState, reason kernelpb.Reason, message string) {
	if t.state == s {
		return
	}
	held := t.holds()
	t.state, t.reason, t.message = s, reason, message
	t.history = append(t.history, StateChange{State: s, At: now})
	m.emit(Event{Kind: EventTaskState, At: now, TaskID: t.key.TaskID, FrameworkID: t.key.FrameworkID,
		AgentID: t.agentID, State: s, Reason: reason, Message: message})
	if kernelpb.IsTerminal(s) {
		m.counters.TasksTerminal[s]++
	}
	if held && !t.holds() {
		m.release(now, t)
	}
}

// release gives the resources of a task that just ended back to the
// allocator. Only setState calls it, once per task (a task ends once).
// Where the allocator no longer counts them, nothing is given back: an
// inactive agent is not in the allocator (AddAgent recounts what its tasks
// hold when it comes back), and a removed framework's holdings went with
// RemoveFramework (Recover ignores unknown frameworks).
func (m *Master) release(now time.Time, t *taskState) {
	if a := m.agents[t.agentID]; a != nil && a.active {
		m.alloc.Recover(now, t.key.FrameworkID, t.agentID, t.resources, 0)
	}
}

// terminateByMaster ends a task on the master's own authority (its agent
// was removed or forgot it): the framework hears it from the master, with
// an update id of the master's, and the task is settled at once since no
// agent will ever send its terminal update. A task that was already
// terminal keeps its state and the framework is told it again, in case the
// agent's own terminal update never reached it.
func (m *Master) terminateByMaster(now time.Time, t *taskState, s kernelpb.TaskState, reason kernelpb.Reason, why string) {
	if !kernelpb.IsTerminal(t.state) {
		m.setState(now, t, s, reason, why)
	}
	t.toldState = t.state
	m.sendMasterUpdate(now, t.key.FrameworkID, t.agentID, t.key.TaskID, t.state, t.reason, t.message)
	m.completeTask(t)
}

func (m *Master) sendMasterUpdate(now time.Time, fwID, agentID, taskID string, s kernelpb.TaskState, reason kernelpb.Reason, why string) {
	m.nextUpdate++
	m.counters.MasterStatusUpdates++
	m.toFramework(fwID, &kernelpb.Update{Epoch: m.cfg.Epoch, Status: &kernelpb.TaskStatus{
		TaskId:      taskID,
		State:       s,
		AgentId:     agentID,
		FrameworkId: fwID,
		Reason:      reason,
		Message:     why,
		Source:      kernelpb.Source_SOURCE_MASTER,
		TimestampNs: now.UnixNano(),
		UpdateId:    fmt.Sprintf("%d-M%d", m.cfg.Epoch, m.nextUpdate),
	}})
}

// toFramework sends to a framework if it is connected; messages for a
// disconnected framework are dropped (agents retry status updates).
func (m *Master) toFramework(fwID string, msg proto.Message) bool {
	fw := m.frameworks[fwID]
	if fw == nil || !fw.connected {
		return false
	}
	m.send(fw.peer, msg)
	return true
}

// statusUpdate takes a task status from an agent, updates the task and
// forwards the status to the framework, which acknowledges it through the
// master. latest_state, when ahead of the status, moves the task on at once
// so that a finished task's resources are free without waiting for the
// older updates to be acknowledged.
//
// Updates for tasks the master already settled (or that run on another
// agent than the master thinks) are not forwarded: the framework already
// has a terminal state for them, and a second, contradicting one would only
// confuse it. The master acknowledges them itself so the agent stops
// retrying, and kills the task if the agent says it still runs. Updates for
// frameworks that were removed are acknowledged the same way. Updates for
// tasks the master never heard of are forwarded, so the framework can
// acknowledge them.
func (m *Master) statusUpdate(now time.Time, from Peer, msg *kernelpb.StatusUpdate) error {
	a, err := m.agentFor(from, msg.AgentId)
	if err != nil {
		return err
	}
	st := msg.Status
	switch {
	case st == nil:
		return m.refuseAgent("StatusUpdate from %s without status", a.id)
	case st.TaskId == "" || st.UpdateId == "" || msg.FrameworkId == "":
		return m.refuseAgent("StatusUpdate from %s without task, update or framework id", a.id)
	case !validState(st.State):
		return m.refuseAgent("StatusUpdate from %s with invalid state %v", a.id, st.State)
	}
	m.counters.StatusUpdates++
	key := taskKey{FrameworkID: msg.FrameworkId, TaskID: st.TaskId}
	latest := msg.LatestState
	if !validState(latest) || kernelpb.Rank(latest) < kernelpb.Rank(st.State) {
		latest = st.State
	}

	t := m.tasks[key]
	if t != nil && t.operatorKilled && st.State == kernelpb.TaskState_TASK_KILLED {
		// The agent kills for whoever asked; the master knows it was an
		// operator, and says so to the framework and in its own record.
		st = kernelpb.CloneTaskStatus(st)
		st.Reason = kernelpb.Reason_REASON_KILLED_BY_OPERATOR
	}
	_, disowned := a.disowned[key]
	settled := m.removed.Has(key.FrameworkID) || disowned ||
		(t == nil && (m.completed.byKey[key] != nil || m.lostUnknown.Has(key))) ||
		(t != nil && t.agentID != a.id)
	if settled {
		m.send(a.peer, &kernelpb.StatusUpdateAck{Epoch: m.cfg.Epoch, AgentId: a.id,
			FrameworkId: key.FrameworkID, TaskId: key.TaskID, UpdateId: st.UpdateId})
		if !kernelpb.IsTerminal(latest) {
			m.killOn(a, key)
		}
		return nil
	}
	if t == nil {
		m.counters.UnknownTaskUpdates++
	} else {
		if !kernelpb.IsTerminal(t.state) && kernelpb.Rank(latest) > kernelpb.Rank(t.state) {
			if latest == st.State {
				m.setState(now, t, latest, st.Reason, st.Message)
			} else {
				m.setState(now, t, latest, kernelpb.Reason_REASON_NONE, "")
			}
		}
		if latest == st.State && st.State == t.state {
			t.reason, t.message, t.exitCode = st.Reason, st.Message, st.ExitCode
		}
		if st.Usage != nil {
			t.usage = kernelpb.CloneResourceUsage(st.Usage)
		}
		if st.Healthy != nil {
			t.healthy = proto.Bool(*st.Healthy)
		}
		if kernelpb.IsTerminal(st.State) {
			t.terminalUpdateID = st.UpdateId
		}
		if kernelpb.Rank(st.State) > kernelpb.Rank(t.toldState) {
			t.toldState = st.State
		}
	}
	status := kernelpb.CloneTaskStatus(st)
	status.AgentId = a.id
	status.FrameworkId = key.FrameworkID
	m.toFramework(key.FrameworkID, &kernelpb.Update{Epoch: m.cfg.Epoch, Status: status})
	return nil
}

// acknowledge passes a framework's acknowledgement on to the agent that
// sent the update; acknowledging the terminal update settles the task.
// Acknowledgements of the master's own updates (for settled tasks) go
// nowhere.
func (m *Master) acknowledge(now time.Time, from Peer, msg *kernelpb.Acknowledge) error {
	fw, err := m.frameworkFor(from, msg.FrameworkId)
	if err != nil {
		return err
	}
	if msg.TaskId == "" || msg.UpdateId == "" {
		return m.refuse(from, "Acknowledge needs a task id and an update id")
	}
	key := taskKey{FrameworkID: fw.id, TaskID: msg.TaskId}
	t := m.tasks[key]
	if t == nil && m.completed.byKey[key] != nil {
		return nil
	}
	if t != nil && t.agentID != msg.AgentId {
		return nil
	}
	a := m.agents[msg.AgentId]
	if a == nil {
		return nil // the agent is gone; its updates died with it
	}
	m.counters.AcknowledgementsFwd++
	m.send(a.peer, &kernelpb.StatusUpdateAck{Epoch: m.cfg.Epoch, AgentId: a.id, FrameworkId: fw.id,
		TaskId: msg.TaskId, UpdateId: msg.UpdateId})
	if t != nil && t.terminalUpdateID == msg.UpdateId && kernelpb.IsTerminal(t.state) {
		m.completeTask(t)
	}
	return nil
}

// reconcile answers with the latest state the master knows of each listed
// task, or of every active task of the framework when none is listed.
// Answers carry REASON_RECONCILIATION and no update id (nothing to ack);
// tasks the master does not know are TASK_LOST.
func (m *Master) reconcile(now time.Time, from Peer, msg *kernelpb.Reconcile) error {
	fw, err := m.frameworkFor(from, msg.FrameworkId)
	if err != nil {
		return err
	}
	m.counters.Reconciliations++
	answer := func(taskID, agentID string, s kernelpb.TaskState, message string, healthy *bool) {
		m.send(fw.peer, &kernelpb.Update{Epoch: m.cfg.Epoch, Status: &kernelpb.TaskStatus{
			TaskId: taskID, State: s, AgentId: agentID, FrameworkId: fw.id,
			Reason: kernelpb.Reason_REASON_RECONCILIATION, Message: message,
			Source: kernelpb.Source_SOURCE_MASTER, TimestampNs: now.UnixNano(), Healthy: healthy,
		}})
	}
	if len(msg.Tasks) == 0 {
		for _, key := range sortedTaskKeys(m.tasksByFramework[fw.id]) {
			if t := m.tasks[key]; !t.awaitsAgentUpdates() {
				answer(key.TaskID, t.agentID, t.reconciledState(), t.message, t.healthy)
			}
		}
		return nil
	}
	for _, rt := range msg.Tasks {
		if rt == nil || rt.TaskId == "" {
			continue
		}
		key := taskKey{FrameworkID: fw.id, TaskID: rt.TaskId}
		t := m.tasks[key]
		if t == nil {
			t = m.completed.byKey[key]
		}
		if t == nil {
			wait, s, why := m.unknownTask(now, fw, rt.AgentId)
			if wait {
				// Its agent may not have re-registered yet. (Past the
				// bound, no answer: reconciliation is retried.)
				if len(m.pending) < maxPendingReconciles {
					m.pending = append(m.pending, pendingReconcile{key: key, agentID: rt.AgentId})
				}
				continue
			}
			m.toldLost(key, s)
			answer(rt.TaskId, rt.AgentId, s, why, nil)
			continue
		}
		if t.awaitsAgentUpdates() {
			continue // no answer: its agent's updates come first
		}
		answer(key.TaskID, t.agentID, t.reconciledState(), t.message, t.healthy)
	}
	return nil
}

// maxPendingReconciles bounds the reconciliations held back in the
// re-registration window, whatever a framework asks.
const maxPendingReconciles = 100_000

// pendingReconcile is a reconciliation of a task the master did not know,
// held back during the re-registration window.
type pendingReconcile struct {
	key     taskKey
	agentID string
}

// openWindow starts the re-registration window at the master's first input.
func (m *Master) openWindow(now time.Time) {
	if m.windowEnds.IsZero() && m.cfg.ReregistrationWindow > 0 {
		m.windowEnds = now.Add(m.cfg.ReregistrationWindow)
	}
}

func (m *Master) inWindow(now time.Time) bool {
	return m.cfg.ReregistrationWindow > 0 && now.Before(m.windowEnds)
}

// answerPending answers the held-back reconciliations whose task an agent
// has reported since, or whose agent registered without it, and, once the
// window has closed, the rest: LOST.
func (m *Master) answerPending(now time.Time) {
	m.openWindow(now)
	if len(m.pending) == 0 {
		return
	}
	open := m.inWindow(now)
	rest := m.pending[:0]
	for _, p := range m.pending {
		fw := m.frameworks[p.key.FrameworkID]
		t := m.tasks[p.key]
		if t == nil {
			t = m.completed.byKey[p.key]
		}
		var wait bool
		lost, why := kernelpb.TaskState_TASK_LOST, "unknown task: its agent did not re-register in time"
		if t == nil && fw != nil {
			if wait, lost, why = m.unknownTask(now, fw, p.agentID); !wait && why == unknownTaskMessage {
				why = "unknown task: its agent did not re-register in time"
			}
		}
		if t == nil && (wait || open && !m.registeredWithout(p.agentID)) {
			rest = append(rest, p)
			continue
		}
		if fw == nil || !fw.connected || (t != nil && t.awaitsAgentUpdates()) {
			continue // it reconciles again (when it comes back)
		}
		st := &kernelpb.TaskStatus{
			TaskId: p.key.TaskID, State: lost, AgentId: p.agentID, FrameworkId: fw.id,
			Reason: kernelpb.Reason_REASON_RECONCILIATION, Message: why,
			Source: kernelpb.Source_SOURCE_MASTER, TimestampNs: now.UnixNano(),
		}
		if t != nil {
			st.State, st.AgentId, st.Message, st.Healthy = t.reconciledState(), t.agentID, t.message, t.healthy
		} else {
			m.toldLost(p.key, st.State)
		}
		m.send(fw.peer, &kernelpb.Update{Epoch: m.cfg.Epoch, Status: st})
	}
	m.pending = rest
}

// awaitsAgentUpdates says whether the master knows a task ended only from
// its agent's registration (adopted, or reported at re-registration) and
// has forwarded none of its updates: reconciliation does not answer it
// then, since the agent still holds unacknowledged updates leading to that
// end and a framework must not hear of the end before them. The agent
// sends them once registered; reconciliation is retried.
func (t *taskState) awaitsAgentUpdates() bool {
	return t.toldState == kernelpb.TaskState_TASK_UNKNOWN && kernelpb.IsTerminal(t.state) && t.terminalUpdateID == ""
}

// reconciledState is what reconciliation reports: the state of the newest
// status the framework was sent, or the master's own for a task with none
// yet (STAGING, adopted) or settled.
func (t *taskState) reconciledState() kernelpb.TaskState {
	if t.toldState == kernelpb.TaskState_TASK_UNKNOWN {
		return t.state
	}
	return t.toldState
}

// kill asks the task's agent to kill it; the agent's update reports the
// outcome. A settled task gets its final state again; an unknown one is
// reported TASK_LOST, as in Mesos, so the framework stops waiting for it.
func (m *Master) kill(now time.Time, from Peer, msg *kernelpb.Kill) error {
	fw, err := m.frameworkFor(from, msg.FrameworkId)
	if err != nil {
		return err
	}
	if msg.TaskId == "" {
		return m.refuse(from, "Kill needs a task id")
	}
	key := taskKey{FrameworkID: fw.id, TaskID: msg.TaskId}
	if t := m.tasks[key]; t != nil {
		if kernelpb.IsTerminal(t.state) {
			return nil // its terminal update is on its way
		}
		if a := m.agents[t.agentID]; a != nil {
			m.killOn(a, key)
		}
		return nil
	}
	s, agentID, why := kernelpb.TaskState_TASK_LOST, msg.AgentId, "unknown task"
	if t := m.completed.byKey[key]; t != nil {
		s, agentID, why = t.state, t.agentID, t.message
	}
	m.send(fw.peer, &kernelpb.Update{Epoch: m.cfg.Epoch, Status: &kernelpb.TaskStatus{
		TaskId: key.TaskID, State: s, AgentId: agentID, FrameworkId: fw.id,
		Reason: kernelpb.Reason_REASON_RECONCILIATION, Message: why,
		Source: kernelpb.Source_SOURCE_MASTER, TimestampNs: now.UnixNano(),
	}})
	return nil
}

// operatorKill asks the agent of an active task to kill it on an
// operator's behalf (see OperatorKill).
func (m *Master) operatorKill(now time.Time, from Peer, msg OperatorKill) error {
	if msg.TaskID == "" {
		return fmt.Errorf("%w: an operator kill needs a task id", ErrUnknownTask)
	}
	t, err := m.operatorTask(msg)
	if err != nil {
		return err
	}
	if kernelpb.IsTerminal(t.state) {
		return fmt.Errorf("task %s of framework %s: %w (%s)", t.key.TaskID, t.key.FrameworkID, ErrTaskEnded, stateName(t.state))
	}
	a := m.agents[t.agentID]
	if a == nil || !a.active {
		return fmt.Errorf("task %s of framework %s: %w (agent %s); kill it again once the agent is back", t.key.TaskID, t.key.FrameworkID, ErrAgentDisconnected, t.agentID)
	}
	t.operatorKilled = true
	m.counters.OperatorKills++
	m.emit(Event{Kind: EventOperatorKill, At: now, TaskID: t.key.TaskID, FrameworkID: t.key.FrameworkID,
		AgentID: t.agentID, State: t.state, Message: "kill asked by " + string(from)})
	m.killOn(a, t.key)
	return nil
}

// operatorTask finds the task an OperatorKill names: among active tasks
// first, then among the completed ones (to say it ended).
func (m *Master) operatorTask(msg OperatorKill) (*taskState, error) {
	var found []*taskState
	if msg.FrameworkID != "" {
		if t := m.tasks[taskKey{FrameworkID: msg.FrameworkID, TaskID: msg.TaskID}]; t != nil {
			found = append(found, t)
		}
	} else {
		for key, t := range m.tasks {
			if key.TaskID == msg.TaskID {
				found = append(found, t)
			}
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		for _, t := range m.completed.newestFirst() {
			if t.key.TaskID == msg.TaskID && (msg.FrameworkID == "" || t.key.FrameworkID == msg.FrameworkID) {
				return nil, fmt.Errorf("task %s of framework %s: %w (%s)", msg.TaskID, t.key.FrameworkID, ErrTaskEnded, stateName(t.state))
			}
		}
		return nil, fmt.Errorf("task %s: %w", msg.TaskID, ErrUnknownTask)
	}
	slices.SortFunc(found, func(a, b *taskState) int { return compareTaskKeys(a.key, b.key) })
	var fws []string
	for _, t := range found {
		fws = append(fws, t.key.FrameworkID)
	}
	return nil, fmt.Errorf("task %s: %w (%s): name the framework", msg.TaskID, ErrAmbiguousTask, strings.Join(fws, ", "))
}

func stateName(s kernelpb.TaskState) string { return strings.TrimPrefix(s.String(), "TASK_") }
