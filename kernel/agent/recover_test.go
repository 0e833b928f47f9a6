package agent_test

import (
	"testing"

	"github.com/pandodc/pando/kernel/agent"
	"github.com/pandodc/pando/kernel/kernelpb"
)

// TestRecoveredEndIsReportedAndForgotten: a task that ended before the
// agent restarted, its end unacknowledged, is taken back and its end fed
// before Start: the registration reports it ended, the end goes out once
// the master answers, and the agent forgets the task (Knows) when the end
// is acknowledged, not before.
func TestRecoveredEndIsReportedAndForgotten(t *testing.T) {
	a := newAgent(t, agent.Config{AgentID: "1-A1"})
	ref := agent.TaskRef{FrameworkID: "f1", TaskID: "t1"}
	if err := a.Recover(t0, []agent.Recovered{{FrameworkID: "f1", Task: &kernelpb.TaskInfo{TaskId: "t1"}}}); err != nil {
		t.Fatal(err)
	}
	if err := a.TaskEvent(t0, agent.TaskEvent{FrameworkID: "f1", TaskID: "t1", State: kernelpb.TaskState_TASK_FINISHED, Message: "exited with code 0"}); err != nil {
		t.Fatal(err)
	}
	a.Start(t0)
	var reg *kernelpb.RegisterAgent
	for _, m := range a.Ready().ToMaster {
		if r, ok := m.(*kernelpb.RegisterAgent); ok {
			reg = r
		}
	}
	if reg == nil || len(reg.TaskStates) != 1 || reg.TaskStates[0].State != kernelpb.TaskState_TASK_FINISHED {
		t.Fatalf("registration %v: want t1 reported FINISHED", reg)
	}
	if err := a.Step(t0, &kernelpb.AgentRegistered{Epoch: 1, AgentId: "1-A1", PingIntervalMs: 1000}); err != nil {
		t.Fatal(err)
	}
	var update *kernelpb.StatusUpdate
	for _, m := range a.Ready().ToMaster {
		if u, ok := m.(*kernelpb.StatusUpdate); ok {
			update = u
		}
	}
	if update == nil || update.Status.State != kernelpb.TaskState_TASK_FINISHED || update.Status.Message != "exited with code 0" {
		t.Fatalf("after the registration: %v, want t1's end as it was", update)
	}
	if !a.Knows(ref) {
		t.Fatal("the agent forgot t1 before its end was acknowledged")
	}
	if err := a.Step(t0, &kernelpb.StatusUpdateAck{Epoch: 1, FrameworkId: "f1", TaskId: "t1", UpdateId: update.Status.UpdateId}); err != nil {
		t.Fatal(err)
	}
	if a.Knows(ref) {
		t.Fatal("the agent still holds t1 after its end was acknowledged")
	}
}
