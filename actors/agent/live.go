package agent

import (
	"github.com/pandodc/pando/kernel/kernelpb"
)

// LiveTasks asks the agent actor for the tasks it runs: launched and not
// ended yet, including those taken back after a restart. It answers with
// a LiveTasksReply. The agent's artifact cache keeps what they name.
type LiveTasks struct{}

// LiveTasksReply answers LiveTasks with copies of the tasks as launched.
type LiveTasksReply struct {
	Tasks []*kernelpb.TaskInfo
}

func (a *Actor) liveTasks() *LiveTasksReply {
	out := &LiveTasksReply{}
	for _, t := range a.k.Tasks() {
		if t.Info != nil && !kernelpb.IsTerminal(t.State) {
			// A copy: the asker reads it on its own goroutine.
			out.Tasks = append(out.Tasks, kernelpb.CloneTaskInfo(t.Info))
		}
	}
	return out
}
