package master

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
)

// KnownAgents is a Step input from the shell, not a protocol message: the
// agents a previous leader admitted, marked unreachable or removed, read
// from the registry when this master was elected. Step it before any
// agent registers (the shell does at leadership start).
//
// An admitted agent is kept as recovering: inactive, offered nothing,
// until it re-registers with its tasks. If it does not within the
// re-registration window (Config.ReregistrationWindow, from the master's
// first input) it is marked unreachable, as MaxUnreachablePerWindow
// allows, so that a bad failover (the new leader cut off from the agents)
// cannot mark the whole cluster at once; frameworks that reconcile its
// tasks hear TASK_UNREACHABLE (partition-aware) or TASK_LOST, and it is
// removed after AgentUnreachableTimeout. An agent already unreachable
// keeps its UnreachableSince. A removed agent stays removed: if it comes
// back it registers anew, under a new id, and the tasks it reports are
// killed (their frameworks were told they were lost), as in Mesos.
//
// Agents the master knows already are left alone; the peer given to Step
// is ignored.
type KnownAgents struct {
	Agents []KnownAgent
}

// KnownAgent is one agent of the registry: what the master knew of it.
type KnownAgent struct {
	ID          string
	Hostname    string
	HTTPAddress string
	Total       resources.Resources
	Attributes  map[string]string
	// UnreachableSince is when it was marked unreachable (zero: it was
	// reachable).
	UnreachableSince time.Time
	// Removed: the agent was removed; only its id matters.
	Removed bool
}

// defaultMaxRemovedAgents bounds the removed agent ids remembered.
const defaultMaxRemovedAgents = 10_000

// knownAgents records the registry's agents.
func (m *Master) knownAgents(now time.Time, msg KnownAgents) error {
	var problems []string
	for i, k := range msg.Agents {
		switch {
		case k.ID == "":
			problems = append(problems, fmt.Sprintf("known agent %d has no id", i))
		case m.agents[k.ID] != nil:
			// Registered already: what it says wins over the registry.
		case k.Removed:
			m.removedAgents.Add(k.ID)
		case m.removedAgents.Has(k.ID):
			// Removed since the registry was read.
		default:
			m.agents[k.ID] = &agentState{
				id: k.ID, hostname: k.Hostname, httpAddress: k.HTTPAddress,
				total: k.Total, attributes: maps.Clone(k.Attributes),
				registeredAt: now, recovering: true,
				unreachableSince: k.UnreachableSince,
				tasks:            map[taskKey]struct{}{},
				offers:           map[string]struct{}{},
			}
			if k.UnreachableSince.IsZero() {
				m.recovering++
			}
			m.counters.AgentsRecovered++
			m.emit(Event{Kind: EventAgentRecovered, At: now, AgentID: k.ID})
		}
	}
	if len(problems) > 0 {
		m.counters.InvalidMessages++
		return invalidf("%v", problems)
	}
	return nil
}

// awaited says whether a is an agent of the registry that has not
// re-registered yet and is not unreachable: a task there may still be
// running, as its agent will say.
func (a *agentState) awaited() bool {
	return a != nil && a.recovering && a.unreachableSince.IsZero()
}

// expireRecoveringAgents marks unreachable the registry's agents that did
// not re-register within the window, as MaxUnreachablePerWindow allows.
func (m *Master) expireRecoveringAgents(now time.Time) {
	if m.recovering == 0 || m.inWindow(now) {
		return
	}
	left := 0
	for _, id := range sortedKeys(m.agents) {
		a := m.agents[id]
		if !a.awaited() {
			continue
		}
		if !m.markUnreachable(now, a, "the agent did not re-register after the master failover") {
			left++
		}
	}
	m.recovering = left
}

const unknownTaskMessage = "unknown task"

// registeredWithout says whether agentID has registered with this master
// (not merely known from the registry) and is reachable: it registered
// with every task it has, so a task the master does not know is not there,
// and waiting out the re-registration window will not bring it.
func (m *Master) registeredWithout(agentID string) bool {
	a := m.agents[agentID]
	return agentID != "" && a != nil && !a.recovering && a.unreachableSince.IsZero()
}

// toldLost remembers a task the master told its framework was LOST
// without knowing it (its agent unreachable or removed): if the agent
// comes back with it, it is killed, as a task the master settled is.
func (m *Master) toldLost(key taskKey, s kernelpb.TaskState) {
	if s == kernelpb.TaskState_TASK_LOST {
		m.lostUnknown.Add(key)
	}
}

// unknownTask says how to answer fw's reconciliation of a task the master
// does not know, which fw says is on agentID: not yet (wait: its agent may
// still re-register with it), or with state s and why.
func (m *Master) unknownTask(now time.Time, fw *frameworkState, agentID string) (wait bool, s kernelpb.TaskState, why string) {
	a := m.agents[agentID]
	switch {
	case agentID != "" && a.awaited():
		return true, 0, ""
	case agentID != "" && a != nil && !a.unreachableSince.IsZero():
		why = "unknown task: its agent is unreachable"
		if fw.info.GetPartitionAware() {
			return false, kernelpb.TaskState_TASK_UNREACHABLE, why
		}
		return false, kernelpb.TaskState_TASK_LOST, why
	case agentID != "" && a == nil && m.removedAgents.Has(agentID):
		return false, kernelpb.TaskState_TASK_LOST, "unknown task: its agent was removed"
	case m.registeredWithout(agentID):
		return false, kernelpb.TaskState_TASK_LOST, "unknown task: its agent registered without it"
	case m.inWindow(now):
		return true, 0, ""
	}
	return false, kernelpb.TaskState_TASK_LOST, unknownTaskMessage
}

// RegistryAgents is what the registry should hold of the agents, by id:
// every agent the master has (reachable, unreachable, or awaited from the
// registry, as admitted) and the ids of the removed ones it remembers. A
// new leader steps it back in as KnownAgents. It carries nothing that
// changes at every ping or task, so a shell that writes what changed
// writes seldom.
func (m *Master) RegistryAgents() []KnownAgent {
	out := make([]KnownAgent, 0, len(m.agents)+m.removedAgents.Len())
	for _, id := range sortedKeys(m.agents) {
		a := m.agents[id]
		out = append(out, KnownAgent{
			ID: a.id, Hostname: a.hostname, HTTPAddress: a.httpAddress,
			Total: a.total, Attributes: maps.Clone(a.attributes), UnreachableSince: a.unreachableSince,
		})
	}
	for id := range m.removedAgents.Newest() {
		if m.agents[id] == nil {
			out = append(out, KnownAgent{ID: id, Removed: true})
		}
	}
	slices.SortFunc(out, func(a, b KnownAgent) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
