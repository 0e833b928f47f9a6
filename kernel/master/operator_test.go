package master_test

import (
	"errors"
	"testing"
	"time"

	"github.com/pandodc/pando/kernel/agent"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/master"
)

func TestOperatorKillEndsTheTaskWithItsOwnReason(t *testing.T) {
	c := setup(t, quietConfig(), "cpus:2;mem:1024")
	launchRunning(t, c, "1-O1", "t1", "cpus:1;mem:256")

	if err := c.OperatorKill("", "t1"); err != nil {
		t.Fatalf("operator kill: %v", err)
	}
	c.TaskEventWith("a1", agentKilled("1-F1", "t1"))
	expectTrace(t, c, `
		operator -> master: OperatorKill{/t1}
		master -> a1: KillTask{1-F1/t1}
		a1: kill 1-F1/t1
		a1 -> master: StatusUpdate{1-A1 1-F1/t1 KILLED KILLED_BY_FRAMEWORK id:t1-2}
		master -> fw1: Update{1-F1/t1 KILLED KILLED_BY_OPERATOR id:t1-2}
	`)
	v := mustTask(t, c.Master, "1-F1", "t1")
	if v.State != killed || v.Reason != kernelpb.Reason_REASON_KILLED_BY_OPERATOR {
		t.Fatalf("task after the operator's kill: %v %v, want KILLED KILLED_BY_OPERATOR", v.State, v.Reason)
	}
	if got := c.Master.Counters().OperatorKills; got != 1 {
		t.Fatalf("OperatorKills = %d, want 1", got)
	}

	// Killing it again says it has ended, and changes nothing.
	if err := c.OperatorKill("1-F1", "t1"); !errors.Is(err, master.ErrTaskEnded) {
		t.Fatalf("second kill: %v, want ErrTaskEnded", err)
	}
	if err := c.OperatorKill("", "nope"); !errors.Is(err, master.ErrUnknownTask) {
		t.Fatalf("kill of an unknown task: %v, want ErrUnknownTask", err)
	}
	c.TakeTrace()
	if len(c.Master.Ready().Messages) != 0 {
		t.Fatal("refused operator kills sent messages")
	}
}

func TestOperatorKillRefusals(t *testing.T) {
	c := setup(t, quietConfig(), "cpus:2;mem:1024")
	launchRunning(t, c, "1-O1", "t1", "cpus:1;mem:256")
	// A second framework with a task of the same id makes "t1" ambiguous.
	c.Subscribe("fw2", time.Minute)
	c.Allocate()
	var offer string
	for _, msg := range c.Frameworks["fw2"].TakeInbox() {
		if o, ok := msg.(*kernelpb.Offers); ok {
			offer = o.Offers[0].Id
		}
	}
	c.Send("fw2", accept("1-F2", []string{offer}, wasmTask("t1", "cpus:1;mem:256")))
	c.TakeTrace()
	if err := c.OperatorKill("", "t1"); !errors.Is(err, master.ErrAmbiguousTask) {
		t.Fatalf("ambiguous kill: %v, want ErrAmbiguousTask", err)
	}
	// An agent that is away cannot be told.
	c.DisconnectAgent("a1")
	if err := c.OperatorKill("1-F2", "t1"); !errors.Is(err, master.ErrAgentDisconnected) {
		t.Fatalf("kill on a disconnected agent: %v, want ErrAgentDisconnected", err)
	}
	expectTrace(t, c, `
		operator -> master: OperatorKill{/t1}
		a1 -> master: (disconnected)
		operator -> master: OperatorKill{1-F2/t1}
	`)
	// The framework need not be connected: the operator talks to the
	// master, which talks to the agent.
	c.Disconnect("fw2")
	c.Send("a1", &kernelpb.RegisterAgent{AgentId: "1-A1", Hostname: "a1", Resources: c.Agents["a1"].Cfg.Resources.ToProto(),
		Tasks: []*kernelpb.TaskInfo{wasmTask("t1", "cpus:1;mem:256"), wasmTask("t1", "cpus:1;mem:256")}, TaskFrameworkIds: []string{"1-F1", "1-F2"}})
	c.TakeTrace()
	if err := c.OperatorKill("1-F2", "t1"); err != nil {
		t.Fatalf("kill of a disconnected framework's task: %v", err)
	}
	expectTrace(t, c, `
		operator -> master: OperatorKill{1-F2/t1}
		master -> a1: KillTask{1-F2/t1}
		a1: kill 1-F2/t1
	`)
	if v := mustTask(t, c.Master, "1-F2", "t1"); v.State != staging {
		t.Fatalf("refused kills changed the task: %v", v.State)
	}
}

func TestDisconnectedIsAValueOnly(t *testing.T) {
	c := setup(t, quietConfig(), "cpus:2;mem:1024")
	if err := c.Master.Step(c.Now, "fw1", &master.Disconnected{}); !errors.Is(err, master.ErrInvalid) {
		t.Fatalf("a *Disconnected: %v, want ErrInvalid", err)
	}
	if err := c.Master.Step(c.Now, "nobody", master.Disconnected{}); !errors.Is(err, master.ErrInvalid) {
		t.Fatalf("a stranger's Disconnected: %v, want ErrInvalid", err)
	}
	if v, _ := c.Master.Framework("1-F1"); !v.Connected {
		t.Fatal("a refused Disconnected disconnected the framework")
	}
}

// agentKilled is what an agent's runtime reports after any kill.
func agentKilled(fw, task string) agent.TaskEvent {
	return agent.TaskEvent{FrameworkID: fw, TaskID: task, State: killed, Reason: kernelpb.Reason_REASON_KILLED_BY_FRAMEWORK}
}
