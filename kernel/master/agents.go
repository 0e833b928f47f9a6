package master

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
)

// reportedTask is a task an agent says it runs, from RegisterAgent.
type reportedTask struct {
	key       taskKey
	info      *kernelpb.TaskInfo
	resources resources.Resources
	state     kernelpb.TaskState
	healthy   *bool
}

// parseReportedTasks validates the tasks of a RegisterAgent. A malformed
// report refuses the whole registration: half-adopting an agent would
// leave the master wrong about what runs where.
func parseReportedTasks(msg *kernelpb.RegisterAgent) ([]reportedTask, error) {
	if len(msg.TaskFrameworkIds) != len(msg.Tasks) {
		return nil, fmt.Errorf("%d tasks but %d framework ids", len(msg.Tasks), len(msg.TaskFrameworkIds))
	}
	states := map[taskKey]*kernelpb.TaskStatus{}
	for _, st := range msg.TaskStates {
		if st == nil {
			return nil, fmt.Errorf("nil task state")
		}
		states[taskKey{FrameworkID: st.FrameworkId, TaskID: st.TaskId}] = st
	}
	seen := map[taskKey]bool{}
	out := make([]reportedTask, 0, len(msg.Tasks))
	for i, info := range msg.Tasks {
		if info == nil || info.TaskId == "" || msg.TaskFrameworkIds[i] == "" {
			return nil, fmt.Errorf("task %d has no id or framework id", i)
		}
		key := taskKey{FrameworkID: msg.TaskFrameworkIds[i], TaskID: info.TaskId}
		if seen[key] {
			return nil, fmt.Errorf("task %s of framework %s reported twice", key.TaskID, key.FrameworkID)
		}
		seen[key] = true
		res, err := resources.FromProto(info.Resources)
		if err != nil {
			return nil, fmt.Errorf("task %s: %v", info.TaskId, err)
		}
		st := states[key]
		state := st.GetState()
		if !validState(state) {
			// Without a state the task is at least staged on the agent;
			// its status updates will move it on.
			state = kernelpb.TaskState_TASK_STAGING
		}
		var healthy *bool
		if st != nil && st.Healthy != nil {
			healthy = proto.Bool(*st.Healthy)
		}
		out = append(out, reportedTask{key: key, info: info, resources: res, state: state, healthy: healthy})
	}
	slices.SortFunc(out, func(a, b reportedTask) int { return compareTaskKeys(a.key, b.key) })
	return out, nil
}

// registerAgent handles both first registrations and re-registrations.
//
//   - No id, unknown peer: a new agent with a new id.
//   - No id from a peer already registered: a retry after a lost
//     AgentRegistered; it re-registers as that agent.
//   - A known id: the agent reconnected or restarted, or came back from
//     being unreachable. Its offers are rescinded and its tasks reconciled:
//     tasks the master has there but the agent does not report are LOST
//     (REASON_AGENT_RESTARTED); reported UNREACHABLE tasks come back
//     (taskReturned); reported tasks the master already settled (e.g. LOST
//     to a framework that is not partition-aware) are killed.
//   - An unknown id: the master failed over. The id is kept and reported
//     tasks the master never heard of are adopted. (An agent of the
//     registry, KnownAgents, is known: it re-registers.)
//   - A removed id (removed here or, says the registry, by an earlier
//     leader): the agent registers anew under a new id, and every task it
//     reports is killed, since its framework heard it was lost.
func (m *Master) registerAgent(now time.Time, from Peer, msg *kernelpb.RegisterAgent) error {
	if msg.Hostname == "" {
		return m.refuseAgent("RegisterAgent from %s without hostname", from)
	}
	total, err := resources.FromProto(msg.Resources)
	if err != nil {
		return m.refuseAgent("RegisterAgent from %s: resources: %v", from, err)
	}
	reported, err := parseReportedTasks(msg)
	if err != nil {
		return m.refuseAgent("RegisterAgent from %s: %v", from, err)
	}

	id := msg.AgentId
	removedID := ""
	if id != "" && m.agents[id] == nil && m.removedAgents.Has(id) {
		removedID, id = id, ""
	}
	if id == "" && removedID == "" {
		id = m.agentByPeer[from] // a retry: same peer, same agent
	}
	a := m.agents[id]
	if a == nil {
		if id == "" {
			m.nextAgent++
			id = fmt.Sprintf("%d-A%d", m.cfg.Epoch, m.nextAgent)
		}
		a = &agentState{
			id:           id,
			registeredAt: now,
			tasks:        map[taskKey]struct{}{},
			offers:       map[string]struct{}{},
		}
		m.agents[id] = a
		m.counters.AgentsAdded++
		ev := Event{Kind: EventAgentAdded, At: now, AgentID: id}
		if removedID != "" {
			m.counters.AgentsRegisteredAnew++
			ev.Message = fmt.Sprintf("agent %s was removed: it registers anew, its %d tasks killed", removedID, len(reported))
		}
		m.emit(ev)
	} else {
		// Whatever was offered there may no longer exist.
		m.rescindAgentOffers(now, a, false)
		if a.active {
			m.alloc.RemoveAgent(id)
			a.active = false
		}
		a.reregisteredAt = now
		if !a.unreachableSince.IsZero() {
			a.unreachableSince = time.Time{}
			m.counters.AgentsReturned++
		}
		a.heldBack, a.recovering = false, false
		m.emit(Event{Kind: EventAgentReregistered, At: now, AgentID: id})
	}
	if old, ok := m.agents[m.agentByPeer[a.peer]]; ok && old == a && a.peer != from {
		delete(m.agentByPeer, a.peer)
	}
	a.peer = from
	m.agentByPeer[from] = id
	a.hostname = msg.Hostname
	a.httpAddress = msg.HttpAddress
	a.total = total
	a.attributes = maps.Clone(msg.Attributes)

	if removedID != "" {
		a.disowned = map[taskKey]struct{}{}
		for _, r := range reported {
			a.disowned[r.key] = struct{}{}
			if !kernelpb.IsTerminal(r.state) {
				m.killOn(a, r.key)
			}
		}
		reported = nil
	}
	m.reconcileAgentTasks(now, a, reported)

	a.active = true
	a.missed, a.ponged, a.pingSeq = 0, false, 0
	a.nextPing = now.Add(m.cfg.PingInterval)
	m.alloc.AddAgent(id, total, m.usedOn(a))
	m.send(from, &kernelpb.AgentRegistered{
		Epoch:          m.cfg.Epoch,
		AgentId:        id,
		PingIntervalMs: m.cfg.PingInterval.Milliseconds(),
	})
	return nil
}

// reconcileAgentTasks makes the master's view of an agent's tasks agree
// with what the agent reports.
func (m *Master) reconcileAgentTasks(now time.Time, a *agentState, reported []reportedTask) {
	reportedKeys := map[taskKey]bool{}
	for _, r := range reported {
		reportedKeys[r.key] = true
	}
	for _, key := range sortedTaskKeys(a.tasks) {
		if reportedKeys[key] {
			continue
		}
		t := m.tasks[key]
		// The agent has no record: it restarted without the task. The
		// resources are free again (the agent is out of the allocator
		// until AddAgent below counts what remains).
		m.terminateByMaster(now, t, kernelpb.TaskState_TASK_LOST, kernelpb.Reason_REASON_AGENT_RESTARTED,
			"the agent re-registered without the task")
	}
	for _, r := range reported {
		if t := m.tasks[r.key]; t != nil {
			if t.agentID == a.id {
				if t.state == kernelpb.TaskState_TASK_UNREACHABLE {
					m.taskReturned(now, t, r.state)
					continue
				}
				if kernelpb.Rank(r.state) > kernelpb.Rank(t.state) {
					m.setState(now, t, r.state, kernelpb.Reason_REASON_NONE, "")
				}
				continue
			}
			// The same task is active elsewhere: the master's view wins.
			m.killOn(a, r.key)
			continue
		}
		if m.completed.byKey[r.key] != nil || m.removed.Has(r.key.FrameworkID) || m.lostUnknown.Has(r.key) {
			// Settled already (its agent was removed, or its framework):
			// it must not keep running unaccounted for.
			if !kernelpb.IsTerminal(r.state) {
				m.killOn(a, r.key)
			}
			continue
		}
		m.adoptTask(now, a, r)
	}
}

// adoptTask takes over a task the master never heard of (after a master
// failover), as Mesos does: the agent is the source of truth for what runs.
func (m *Master) adoptTask(now time.Time, a *agentState, r reportedTask) {
	t := &taskState{
		key:       r.key,
		agentID:   a.id,
		info:      taskRecord(r.info, a.id),
		resources: r.resources,
		healthy:   r.healthy,
	}
	m.addActiveTask(t)
	m.setState(now, t, r.state, kernelpb.Reason_REASON_NONE, "adopted from re-registering agent")
	fwID := r.key.FrameworkID
	_, known := m.knownFailover[fwID]
	if _, seen := m.unknownSince[fwID]; !seen && m.frameworks[fwID] == nil && (known || m.adoptedTimeout(fwID) > 0) {
		m.unknownSince[fwID] = now
	}
}

func (m *Master) killOn(a *agentState, key taskKey) {
	m.counters.KillsForwarded++
	m.send(a.peer, &kernelpb.KillTask{Epoch: m.cfg.Epoch, FrameworkId: key.FrameworkID, TaskId: key.TaskID})
}

// usedOn sums, by framework, the resources of the agent's tasks that still
// hold them: what the allocator must count as used when the agent (re)joins.
func (m *Master) usedOn(a *agentState) map[string]resources.Resources {
	used := map[string]resources.Resources{}
	for _, key := range sortedTaskKeys(a.tasks) {
		t := m.tasks[key]
		if !t.holds() {
			continue
		}
		used[key.FrameworkID] = used[key.FrameworkID].Add(t.resources)
	}
	if len(used) == 0 {
		return nil
	}
	return used
}

// agentFor checks that a message claiming to come from agent id comes from
// that agent's connection.
func (m *Master) agentFor(from Peer, id string) (*agentState, error) {
	if id == "" {
		return nil, m.refuseAgent("message from %s without agent id", from)
	}
	a := m.agents[id]
	if a == nil {
		return nil, m.refuseAgent("message from %s for unknown agent %s", from, id)
	}
	if a.peer != from {
		return nil, m.refuseAgent("agent id %s does not belong to %s", id, from)
	}
	if !a.unreachableSince.IsZero() {
		// Its updates are retried once it has re-registered, which it
		// does when the master's pings stop.
		return nil, m.refuseAgent("agent %s is unreachable: it must register again", id)
	}
	return a, nil
}

func (m *Master) pong(from Peer, msg *kernelpb.Pong) error {
	a, err := m.agentFor(from, msg.AgentId)
	if err != nil {
		return err
	}
	if msg.Seq == a.pingSeq {
		a.ponged = true
		a.missed = 0
		a.heldBack = false
	}
	return nil
}

// disconnected handles the end of a peer's connection: that of an agent,
// of a framework, or (for a rogue peer that is both) of both.
func (m *Master) disconnected(now time.Time, from Peer) error {
	agentID, isAgent := m.agentByPeer[from]
	_, isFramework := m.frameworkByPeer[from]
	if !isAgent && !isFramework {
		return invalidf("%s disconnected, but it is neither a registered agent nor a subscribed framework", from)
	}
	if isAgent {
		m.agentDisconnected(now, agentID)
	}
	if isFramework {
		m.frameworkDisconnected(now, from)
	}
	return nil
}

func (m *Master) agentDisconnected(now time.Time, id string) {
	a := m.agents[id]
	if !a.active {
		return
	}
	m.rescindAgentOffers(now, a, true)
	m.alloc.RemoveAgent(id)
	a.active = false
	m.emit(Event{Kind: EventAgentDeactivated, At: now, AgentID: id})
}

// pingAgents pings every agent whose ping is due, marks unreachable those
// that missed MaxMissedPings in a row (as MaxUnreachablePerWindow allows)
// and removes those that stayed unreachable past AgentUnreachableTimeout.
// Unreachable agents are not pinged: they come back by re-registering.
func (m *Master) pingAgents(now time.Time) {
	for _, id := range sortedKeys(m.agents) {
		a := m.agents[id]
		if a.awaited() {
			continue // no peer to ping: it re-registers, or expireRecoveringAgents marks it
		}
		if !a.unreachableSince.IsZero() {
			if m.cfg.AgentUnreachableTimeout > 0 && !now.Before(a.unreachableSince.Add(m.cfg.AgentUnreachableTimeout)) {
				m.removeAgent(now, a, fmt.Sprintf("the agent stayed unreachable for %v", m.cfg.AgentUnreachableTimeout))
			}
			continue
		}
		if now.Before(a.nextPing) {
			continue
		}
		if a.pingSeq > 0 && !a.ponged {
			a.missed++
		}
		if a.missed >= m.cfg.MaxMissedPings && m.markUnreachable(now, a, fmt.Sprintf("the agent missed %d pings", a.missed)) {
			continue
		}
		a.pingSeq++
		a.ponged = false
		a.nextPing = now.Add(m.cfg.PingInterval)
		m.counters.PingsSent++
		m.send(a.peer, &kernelpb.Ping{Epoch: m.cfg.Epoch, Seq: a.pingSeq})
	}
}

// mayMarkUnreachable says whether MaxUnreachablePerWindow lets one more
// agent be marked unreachable now, forgetting markings past the window.
func (m *Master) mayMarkUnreachable(now time.Time) bool {
	if m.cfg.MaxUnreachablePerWindow <= 0 {
		return true
	}
	keep := 0
	for keep < len(m.markedUnreachable) && !now.Before(m.markedUnreachable[keep].Add(m.cfg.UnreachableWindow)) {
		keep++
	}
	m.markedUnreachable = m.markedUnreachable[keep:]
	return len(m.markedUnreachable) < m.cfg.MaxUnreachablePerWindow
}

// markUnreachable takes an agent that missed its pings out of the
// allocator and tells the frameworks: partition-aware ones hear its tasks
// are UNREACHABLE (they may come back), the others hear LOST and those
// tasks are settled, as when the agent was removed. It reports false,
// changing nothing but the hold, when the rate limit holds it back.
func (m *Master) markUnreachable(now time.Time, a *agentState, why string) bool {
	if !m.mayMarkUnreachable(now) {
		if !a.heldBack {
			a.heldBack = true
			m.counters.UnreachableDeferred++
			m.emit(Event{Kind: EventAgentUnreachableDeferred, At: now, AgentID: a.id, Message: fmt.Sprintf(
				"%s, but %d agents were marked unreachable in the last %v: kept until the limit allows",
				why, m.cfg.MaxUnreachablePerWindow, m.cfg.UnreachableWindow)})
		}
		return false
	}
	if m.cfg.MaxUnreachablePerWindow > 0 {
		m.markedUnreachable = append(m.markedUnreachable, now)
	}
	a.heldBack = false
	// Out of the allocator first: the tasks' resources are then not
	// given back (release), and AddAgent recounts them if it returns.
	m.rescindAgentOffers(now, a, false)
	if a.active {
		m.alloc.RemoveAgent(a.id)
		a.active = false
	}
	a.unreachableSince = now
	for _, key := range sortedTaskKeys(a.tasks) {
		t := m.tasks[key]
		fw := m.frameworks[key.FrameworkID]
		if fw == nil || !fw.info.GetPartitionAware() {
			// To such a framework the agent is gone for good: the reason
			// is the one it always had for an agent that stopped answering.
			m.terminateByMaster(now, t, kernelpb.TaskState_TASK_LOST, kernelpb.Reason_REASON_AGENT_REMOVED, why)
			continue
		}
		if kernelpb.IsTerminal(t.state) {
			continue // its terminal update comes with the agent, or it is LOST at removal
		}
		t.toldBeforeUnreachable = t.reconciledState()
		m.setState(now, t, kernelpb.TaskState_TASK_UNREACHABLE, kernelpb.Reason_REASON_AGENT_UNREACHABLE, why)
		t.toldState = t.state
		m.sendMasterUpdate(now, key.FrameworkID, a.id, key.TaskID, t.state, t.reason, why)
	}
	m.counters.AgentsUnreachable++
	m.emit(Event{Kind: EventAgentUnreachable, At: now, AgentID: a.id, Message: why})
	return true
}

// taskReturned brings back a task of an unreachable agent that
// re-registered reporting it: the master takes the agent's state and tells
// the framework the task is back, in the state it had last been told
// (the agent's newer updates, unacknowledged, follow in order).
func (m *Master) taskReturned(now time.Time, t *taskState, reported kernelpb.TaskState) {
	m.setState(now, t, reported, kernelpb.Reason_REASON_AGENT_REREGISTERED, "the agent re-registered")
	back := t.toldBeforeUnreachable
	if back == kernelpb.TaskState_TASK_UNKNOWN {
		back = kernelpb.TaskState_TASK_STAGING // it had heard nothing before UNREACHABLE
	}
	t.toldState = back
	m.sendMasterUpdate(now, t.key.FrameworkID, t.agentID, t.key.TaskID, back,
		kernelpb.Reason_REASON_AGENT_REREGISTERED, "the unreachable agent re-registered with the task")
}

// removeAgent forgets an agent: its offers are rescinded and its tasks
// reported LOST to their frameworks by the master itself.
func (m *Master) removeAgent(now time.Time, a *agentState, why string) {
	m.rescindAgentOffers(now, a, false)
	if a.active {
		m.alloc.RemoveAgent(a.id)
		a.active = false
	}
	for _, key := range sortedTaskKeys(a.tasks) {
		t := m.tasks[key] // the agent is out of the allocator: nothing to give back
		m.terminateByMaster(now, t, kernelpb.TaskState_TASK_LOST, kernelpb.Reason_REASON_AGENT_REMOVED, why)
	}
	delete(m.agents, a.id)
	m.removedAgents.Add(a.id)
	if m.agentByPeer[a.peer] == a.id {
		delete(m.agentByPeer, a.peer)
	}
	m.counters.AgentsRemoved++
	m.emit(Event{Kind: EventAgentRemoved, At: now, AgentID: a.id, Message: why})
}

// rescindAgentOffers withdraws every offer on the agent. recoverToAlloc
// says whether to give the resources back to the allocator (not needed when
// the agent leaves the allocator anyway).
func (m *Master) rescindAgentOffers(now time.Time, a *agentState, recoverToAlloc bool) {
	for _, id := range sortedOfferIDs(m.offers, a.offers) {
		m.rescindOffer(now, m.offers[id], recoverToAlloc, true)
	}
}
