package master_test

import (
	"errors"
	"testing"
	"time"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/master"
)

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
	if got := c.Master.Counters().OperatorKills; got != 1 {
		t.Fatalf("OperatorKills = %d, want 1 (the refused ones do not count)", got)
	}
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
