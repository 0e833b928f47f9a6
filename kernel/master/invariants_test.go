package master_test

import (
	"fmt"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/master"
)

// masterInvariants checks the master's books from its views alone, after
// any input: nothing is allocated twice (on every agent, what tasks and
// offers hold fits in its total and, for an active agent, adds up with
// what is free to the total), and every task is accounted for (each active
// task is on a registered agent that counts it, and the counts by state
// add up), and a task is UNREACHABLE exactly when its agent is (an
// unreachable agent is inactive and holds nothing in the books). It
// returns what is wrong, empty when all holds.
func masterInvariants(m *master.Master) []string {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	active := m.Tasks(master.TaskFilter{ActiveOnly: true})
	n := 0
	for _, c := range m.ActiveTasksByState() {
		n += c
	}
	if n != len(active) {
		fail("tasks by state count %d, active tasks %d", n, len(active))
	}
	perAgent := map[string]int{}
	for _, t := range active {
		perAgent[t.AgentID]++
		a, _ := m.Agent(t.AgentID)
		isUnreachable := t.State == kernelpb.TaskState_TASK_UNREACHABLE
		agentUnreachable := !a.UnreachableSince.IsZero()
		if isUnreachable != (agentUnreachable && !kernelpb.IsTerminal(t.State)) {
			fail("task %s/%s is %v on agent %s unreachable since %v", t.FrameworkID, t.ID, t.State, t.AgentID, a.UnreachableSince)
		}
	}
	onAgents := 0
	for _, a := range append(m.Agents(), m.UnreachableAgents()...) {
		onAgents += a.Tasks
		if perAgent[a.ID] != a.Tasks {
			fail("agent %s counts %d tasks, %d active tasks name it", a.ID, a.Tasks, perAgent[a.ID])
		}
		held := a.Used.Add(a.Offered)
		if !a.Total.Contains(held) {
			fail("agent %s overcommitted: total %s, tasks %s + offers %s", a.ID, a.Total, a.Used, a.Offered)
		}
		if a.Active {
			if got := held.Add(m.Available(a.ID)); !got.Equal(a.Total) {
				fail("agent %s accounting: tasks %s + offers %s + free %s != total %s", a.ID, a.Used, a.Offered, m.Available(a.ID), a.Total)
			}
		} else if a.Offers > 0 {
			fail("inactive agent %s has %d offers", a.ID, a.Offers)
		}
		if !a.UnreachableSince.IsZero() && (a.Active || !a.Used.IsEmpty()) {
			fail("unreachable agent %s active=%v holds %s", a.ID, a.Active, a.Used)
		}
	}
	if onAgents != len(active) {
		fail("%d active tasks but %d on agents", len(active), onAgents)
	}
	for _, o := range m.Offers() {
		if _, ok := m.Agent(o.AgentID); !ok {
			fail("offer %s on unknown agent %s", o.ID, o.AgentID)
		}
		if fw, ok := m.Framework(o.FrameworkID); !ok || !fw.Connected {
			fail("offer %s held by framework %s, which is gone or disconnected", o.ID, o.FrameworkID)
		}
	}
	return problems
}
