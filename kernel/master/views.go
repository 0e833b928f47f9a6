package master

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
)

// The query methods below serve the HTTP API. They return copies (or, for
// TaskInfo, values the master never modifies and callers must not modify),
// in a deterministic order.

// AgentView describes one registered agent.
type AgentView struct {
	ID          string
	Hostname    string
	HTTPAddress string
	Peer        Peer
	Total       resources.Resources
	// Used is what the agent's active tasks hold (not counting offers).
	Used resources.Resources
	// Offered is what outstanding offers hold there.
	Offered    resources.Resources
	Attributes map[string]string
	// Active: connected and offered; an inactive agent keeps its tasks
	// until it re-registers, or is removed after being unreachable too
	// long.
	Active         bool
	RegisteredAt   time.Time
	ReregisteredAt time.Time
	Tasks          int
	Offers         int
	MissedPings    int
	// UnreachableSince is when the agent was marked unreachable (zero
	// while reachable): it missed its pings and is removed if it does not
	// re-register within AgentUnreachableTimeout.
	UnreachableSince time.Time
	// Recovering: known from the registry after a master failover
	// (KnownAgents), not re-registered yet.
	Recovering bool
}

// Agents lists the registered agents by id, but not the unreachable ones
// (UnreachableAgents), as Mesos lists those apart: until they come back
// the cluster does not have them.
func (m *Master) Agents() []AgentView { return m.agentViews(false) }

// UnreachableAgents lists, by id, the agents that missed their pings and
// have not re-registered yet, nor been removed.
func (m *Master) UnreachableAgents() []AgentView { return m.agentViews(true) }

func (m *Master) agentViews(unreachable bool) []AgentView {
	out := make([]AgentView, 0, len(m.agents))
	for _, id := range sortedKeys(m.agents) {
		if a := m.agents[id]; a.unreachableSince.IsZero() != unreachable {
			out = append(out, m.agentView(a))
		}
	}
	return out
}

// Agent returns one agent, reachable or not.
func (m *Master) Agent(id string) (AgentView, bool) {
	a := m.agents[id]
	if a == nil {
		return AgentView{}, false
	}
	return m.agentView(a), true
}

func (m *Master) agentView(a *agentState) AgentView {
	v := AgentView{
		ID: a.id, Hostname: a.hostname, HTTPAddress: a.httpAddress, Peer: a.peer,
		Total: a.total, Attributes: maps.Clone(a.attributes), Active: a.active,
		RegisteredAt: a.registeredAt, ReregisteredAt: a.reregisteredAt,
		Tasks: len(a.tasks), Offers: len(a.offers), MissedPings: a.missed,
		UnreachableSince: a.unreachableSince, Recovering: a.recovering,
	}
	v.Used = m.heldBy(a.tasks)
	for id := range a.offers {
		v.Offered = v.Offered.Add(m.offers[id].resources)
	}
	return v
}

// FrameworkView describes one framework the master knows.
type FrameworkView struct {
	ID        string
	Name      string
	Roles     []string
	Peer      Peer
	Connected bool
	// Share is the framework's dominant share of the cluster.
	Share float64
	// Why says why the framework got nothing in the last allocation round
	// ("suppressed", "declined agent 1-A1 for 5s", ...), if it did not.
	Why string
	// NotOffered counts, by the allocator's reason, the allocation rounds
	// in which the framework got nothing ("suppressed", "no_agents",
	// "no_free_resources", "below_minimum", "filtered_by_declines",
	// "lower_share"; see allocator.NotOffered).
	NotOffered map[string]uint64
	// TooSmall counts, by resource name, the tasks refused at Accept
	// because the offers were short of that resource (a task short of
	// two counts under both).
	TooSmall                     map[string]uint64
	RegisteredAt, DisconnectedAt time.Time
	FailoverTimeout              time.Duration
	Offers                       int
	Tasks                        int
	Offered, Accepted, Declined  uint64
	Rescinded                    uint64
	Used                         resources.Resources
	Principal, User              string
	OfferedResources             resources.Resources
	// Adopted: the master knows the framework only from the tasks agents
	// reported after a master failover; it has not subscribed since.
	// RemoveAt is when the master gives up on it and kills those tasks
	// (zero: never).
	Adopted  bool
	RemoveAt time.Time
}

// Frameworks lists the known frameworks by id, with those known only from
// adopted tasks.
func (m *Master) Frameworks() []FrameworkView {
	out := make([]FrameworkView, 0, len(m.frameworks))
	for _, id := range sortedKeys(m.tasksByFramework) {
		if m.frameworks[id] == nil {
			out = append(out, m.adoptedView(id))
		}
	}
	for _, id := range sortedKeys(m.frameworks) {
		out = append(out, m.frameworkView(m.frameworks[id]))
	}
	slices.SortFunc(out, func(a, b FrameworkView) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Framework returns one framework.
func (m *Master) Framework(id string) (FrameworkView, bool) {
	if fw := m.frameworks[id]; fw != nil {
		return m.frameworkView(fw), true
	}
	if _, adopted := m.tasksByFramework[id]; adopted {
		return m.adoptedView(id), true
	}
	return FrameworkView{}, false
}

// adoptedView shows a framework known only from adopted tasks.
func (m *Master) adoptedView(id string) FrameworkView {
	v := FrameworkView{ID: id, Adopted: true, Tasks: len(m.tasksByFramework[id]), Share: m.alloc.Share(id)}
	if since, ok := m.unknownSince[id]; ok {
		v.RemoveAt = since.Add(m.cfg.UnknownFrameworkTimeout)
	}
	v.Used = m.heldBy(m.tasksByFramework[id])
	return v
}

// heldBy sums what the given tasks hold: those that have not ended.
func (m *Master) heldBy(tasks map[taskKey]struct{}) resources.Resources {
	var held resources.Resources
	for key := range tasks {
		if t := m.tasks[key]; t.holds() {
			held = held.Add(t.resources)
		}
	}
	return held
}

func (m *Master) frameworkView(fw *frameworkState) FrameworkView {
	v := FrameworkView{
		ID: fw.id, Name: fw.info.GetName(), Roles: slices.Clone(fw.roles), Peer: fw.peer,
		Connected: fw.connected, Share: m.alloc.Share(fw.id), Why: m.alloc.Why(fw.id),
		RegisteredAt: fw.registeredAt, DisconnectedAt: fw.disconnectedAt,
		FailoverTimeout: fw.failoverTimeout, Offers: len(fw.offers),
		Tasks:   len(m.tasksByFramework[fw.id]),
		Offered: fw.offered, Accepted: fw.accepted, Declined: fw.declined, Rescinded: fw.rescinded,
		Principal: fw.info.GetPrincipal(), User: fw.info.GetUser(),
		NotOffered: m.alloc.NotOffered(fw.id), TooSmall: maps.Clone(fw.tooSmall),
	}
	if !fw.connected {
		v.Peer = ""
	}
	v.Used = m.heldBy(m.tasksByFramework[fw.id])
	for id := range fw.offers {
		v.OfferedResources = v.OfferedResources.Add(m.offers[id].resources)
	}
	return v
}

// TaskView describes one task, active or completed.
type TaskView struct {
	ID          string
	Name        string
	FrameworkID string
	AgentID     string
	State       kernelpb.TaskState
	Reason      kernelpb.Reason
	Message     string
	ExitCode    int32
	Resources   resources.Resources
	// Usage is what the task used, once its terminal update said (read only).
	Usage *kernelpb.ResourceUsage
	// Active: not yet settled (not terminal, or its terminal update not
	// yet acknowledged).
	Active bool
	// History lists the states the task went through, with their times.
	History []StateChange
	// Info is the task as launched, without its env (only the agent
	// keeps that); read only.
	Info *kernelpb.TaskInfo
	// Healthy is what its health check last said (nil: it has none, or
	// it was not checked yet); read only.
	Healthy *bool
}

// TaskFilter selects tasks; zero fields match everything.
type TaskFilter struct {
	FrameworkID string
	AgentID     string
	TaskID      string
	// State: TASK_UNKNOWN (0) matches any state.
	State      kernelpb.TaskState
	ActiveOnly bool
	// Limit caps the number of tasks returned (0: no cap).
	Limit int
}

func (f TaskFilter) match(t *taskState) bool {
	return (f.FrameworkID == "" || f.FrameworkID == t.key.FrameworkID) &&
		(f.AgentID == "" || f.AgentID == t.agentID) &&
		(f.TaskID == "" || f.TaskID == t.key.TaskID) &&
		(f.State == kernelpb.TaskState_TASK_UNKNOWN || f.State == t.state)
}

// Tasks lists the tasks that match: active tasks first, by framework and
// task id, then completed tasks from the newest.
func (m *Master) Tasks(f TaskFilter) []TaskView {
	var out []TaskView
	full := func() bool { return f.Limit > 0 && len(out) >= f.Limit }
	keys := make([]taskKey, 0, len(m.tasks))
	for k := range m.tasks {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareTaskKeys)
	for _, k := range keys {
		if full() {
			return out
		}
		if t := m.tasks[k]; f.match(t) {
			out = append(out, taskView(t, true))
		}
	}
	if f.ActiveOnly {
		return out
	}
	for _, t := range m.completed.newestFirst() {
		if full() {
			return out
		}
		if f.match(t) {
			out = append(out, taskView(t, false))
		}
	}
	return out
}

// Task returns one task of a framework (task ids are unique per framework).
func (m *Master) Task(frameworkID, taskID string) (TaskView, bool) {
	key := taskKey{FrameworkID: frameworkID, TaskID: taskID}
	if t := m.tasks[key]; t != nil {
		return taskView(t, true), true
	}
	if t := m.completed.byKey[key]; t != nil {
		return taskView(t, false), true
	}
	return TaskView{}, false
}

func taskView(t *taskState, active bool) TaskView {
	return TaskView{
		ID: t.key.TaskID, Name: t.info.GetName(), FrameworkID: t.key.FrameworkID, AgentID: t.agentID,
		State: t.state, Reason: t.reason, Message: t.message, ExitCode: t.exitCode, Usage: t.usage,
		Resources: t.resources, Active: active, History: slices.Clone(t.history), Info: t.info, Healthy: t.healthy,
	}
}

// OfferView describes one outstanding offer.
type OfferView struct {
	ID          string
	FrameworkID string
	AgentID     string
	Hostname    string
	Role        string
	Resources   resources.Resources
	Created     time.Time
}

// Offers lists the outstanding offers, oldest first.
func (m *Master) Offers() []OfferView {
	all := make([]*offerState, 0, len(m.offers))
	for _, o := range m.offers {
		all = append(all, o)
	}
	slices.SortFunc(all, func(a, b *offerState) int { return cmpSeq(a.seq, b.seq) })
	out := make([]OfferView, 0, len(all))
	for _, o := range all {
		v := OfferView{ID: o.id, FrameworkID: o.frameworkID, AgentID: o.agentID, Role: o.role,
			Resources: o.resources, Created: o.created}
		if a := m.agents[o.agentID]; a != nil {
			v.Hostname = a.hostname
		}
		out = append(out, v)
	}
	return out
}

// Counters returns the totals since the master started.
func (m *Master) Counters() Counters {
	c := m.counters
	c.TasksTerminal = maps.Clone(m.counters.TasksTerminal) // never nil: New makes it
	return c
}

// ActiveTasksByState counts the active tasks in each state (a gauge).
func (m *Master) ActiveTasksByState() map[kernelpb.TaskState]int {
	out := map[kernelpb.TaskState]int{}
	for _, t := range m.tasks {
		out[t.state]++
	}
	return out
}

// Available returns what the allocator has free on an agent: its total
// minus what offers and running tasks hold.
func (m *Master) Available(agentID string) resources.Resources { return m.alloc.Available(agentID) }
