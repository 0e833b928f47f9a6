package master_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/kernel/internal/sim"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/master"
)

// An agent that misses its pings becomes unreachable; a framework that is
// not partition-aware hears LOST, final: when the agent comes back the
// master kills the task rather than let it run unaccounted for.
func TestAgentMissingPingsIsUnreachableAndItsTasksLostToAFrameworkNotPartitionAware(t *testing.T) {
	cfg := quietConfig()
	cfg.PingInterval = time.Second
	c := setup(t, cfg, "cpus:2;mem:1024")
	launchRunning(t, c, "1-O1", "t1", "cpus:1;mem:256")

	c.Advance(time.Second)
	expectTrace(t, c, `
		master -> a1: Ping{1}
		a1 -> master: Pong{1-A1 1}
	`)
	// Partition the agent.
	c.Drop = func(m sim.Message) bool { return m.From == "a1" || m.To == "a1" }
	for i := 0; i < 5; i++ {
		c.Advance(time.Second)
	}
	expectTrace(t, c, `
		master -> a1: Ping{2} (dropped)
		master -> a1: Ping{3} (dropped)
		master -> a1: Ping{4} (dropped)
		master -> a1: Ping{5} (dropped)
		master -> a1: Ping{6} (dropped)
	`)
	// The master marks the agent unreachable after 5 missed pings; at
	// the same time the agent, 6 intervals without a ping, registers
	// again (still cut off).
	c.Advance(time.Second)
	expectTrace(t, c, `
		master -> fw1: Update{1-F1/t1 LOST AGENT_REMOVED id:1-M1 src:master "the agent missed 5 pings"}
		a1 -> master: RegisterAgent{id:1-A1 host:a1 cpus:2;mem:1024 tasks:[1-F1/t1:RUNNING]} (dropped)
	`)
	if v, ok := c.Master.Agent("1-A1"); !ok || v.UnreachableSince.IsZero() || v.Active {
		t.Fatalf("agent not unreachable: %+v", v)
	}
	if len(c.Master.Agents()) != 0 || len(c.Master.UnreachableAgents()) != 1 {
		t.Fatalf("agents %d, unreachable %d: want it listed apart", len(c.Master.Agents()), len(c.Master.UnreachableAgents()))
	}
	// The framework acknowledges the master's update: nothing to forward.
	c.Send("fw1", ack("1-F1", "1-A1", "t1", "1-M1"))
	expectTrace(t, c, `fw1 -> master: Acknowledge{1-F1/t1 id:1-M1}`)

	// Once the partition heals the master takes the agent back under its
	// id, and kills the task it already reported LOST.
	c.Drop = nil
	c.Advance(time.Second)
	c.TaskEvent("a1", "1-F1", "t1", killed)
	expectTrace(t, c, `
		a1 -> master: RegisterAgent{id:1-A1 host:a1 cpus:2;mem:1024 tasks:[1-F1/t1:RUNNING]}
		master -> a1: KillTask{1-F1/t1}
		a1: kill 1-F1/t1
		master -> a1: AgentRegistered{1-A1}
		a1 -> master: StatusUpdate{1-A1 1-F1/t1 KILLED id:t1-2}
		master -> a1: StatusUpdateAck{1-F1/t1 id:t1-2}
	`)
	if v := mustTask(t, c.Master, "1-F1", "t1"); v.State != lost || v.Reason != kernelpb.Reason_REASON_AGENT_REMOVED || v.Active {
		t.Fatalf("task %v %v active=%v, want settled LOST AGENT_REMOVED", v.State, v.Reason, v.Active)
	}
	if cn := c.Master.Counters(); cn.AgentsUnreachable != 1 || cn.AgentsReturned != 1 || cn.AgentsRemoved != 0 {
		t.Fatalf("counters unreachable=%d returned=%d removed=%d, want 1 1 0", cn.AgentsUnreachable, cn.AgentsReturned, cn.AgentsRemoved)
	}
	if got := c.Master.Available("1-A1").String(); got != "cpus:2;mem:1024" {
		t.Fatalf("available %s", got)
	}
	expectNoErrors(t, c)
}

func TestFrameworkFailoverWithinTimeoutKeepsTasks(t *testing.T) {
	c := setup(t, quietConfig(), "cpus:2;mem:1024")
	launchRunning(t, c, "1-O1", "t1", "cpus:1;mem:256")
	c.Disconnect("fw1")
	c.TaskEvent("a1", "1-F1", "t1", finished)
	c.Advance(30 * time.Second)
	// The master releases the finished task's resources at once, but the
	// update waits for the framework: the agent keeps retrying.
	expectTrace(t, c, `
		fw1 -> master: (disconnected)
		a1 -> master: StatusUpdate{1-A1 1-F1/t1 FINISHED id:t1-2}
		a1 -> master: StatusUpdate{1-A1 1-F1/t1 FINISHED id:t1-2}
	`)
	if got := c.Master.Available("1-A1").String(); got != "cpus:2;mem:1024" {
		t.Fatalf("available %s", got)
	}
	c.Subscribe("fw1", time.Minute)
	c.Advance(2 * time.Second)
	c.Send("fw1", ack("1-F1", "1-A1", "t1", "t1-2"))
	expectTrace(t, c, `
		fw1 -> master: Subscribe{name:fw1 id:1-F1}
		master -> fw1: Subscribed{1-F1}
		a1 -> master: StatusUpdate{1-A1 1-F1/t1 FINISHED id:t1-2}
		master -> fw1: Update{1-F1/t1 FINISHED id:t1-2}
		fw1 -> master: Acknowledge{1-F1/t1 id:t1-2}
		master -> a1: StatusUpdateAck{1-F1/t1 id:t1-2}
	`)
	if v := mustTask(t, c.Master, "1-F1", "t1"); v.Active || v.State != finished {
		t.Fatalf("task: %+v", v)
	}
	expectNoErrors(t, c)
}

func TestFrameworkFailoverTimeoutRemovesIt(t *testing.T) {
	c := setup(t, quietConfig(), "cpus:2;mem:1024")
	launchRunning(t, c, "1-O1", "t1", "cpus:1;mem:256")
	c.Disconnect("fw1")
	c.Advance(time.Minute - time.Millisecond)
	expectTrace(t, c, `fw1 -> master: (disconnected)`)
	if v := mustTask(t, c.Master, "1-F1", "t1"); !v.Active || v.State != running {
		t.Fatalf("task before the timeout: %+v", v)
	}
	c.Advance(time.Millisecond)
	c.TaskEvent("a1", "1-F1", "t1", killed)
	expectTrace(t, c, `
		master -> a1: ShutdownFramework{1-F1}
		a1: kill 1-F1/t1
		a1 -> master: StatusUpdate{1-A1 1-F1/t1 KILLED id:t1-2}
		master -> a1: StatusUpdateAck{1-F1/t1 id:t1-2}
	`)
	v := mustTask(t, c.Master, "1-F1", "t1")
	if v.Active || v.State != killed || v.Reason != kernelpb.Reason_REASON_FRAMEWORK_REMOVED {
		t.Fatalf("task after the timeout: %+v", v)
	}
	expectNoErrors(t, c)
}

func TestStatusUpdateRetryKeepsOrderAndUpdateID(t *testing.T) {
	c := setup(t, quietConfig(), "cpus:2;mem:1024")
	c.Send("fw1", accept("1-F1", []string{"1-O1"}, wasmTask("t1", "cpus:1;mem:256")))
	c.TakeTrace()
	dropAcks := true
	c.Drop = func(m sim.Message) bool {
		_, isAck := m.Msg.(*kernelpb.StatusUpdateAck)
		return isAck && dropAcks
	}
	c.TaskEvent("a1", "1-F1", "t1", running)
	c.Send("fw1", ack("1-F1", "1-A1", "t1", "t1-1"))
	// FINISHED waits behind the unacknowledged RUNNING: nothing is sent.
	c.TaskEvent("a1", "1-F1", "t1", finished)
	expectTrace(t, c, `
		a1 -> master: StatusUpdate{1-A1 1-F1/t1 RUNNING id:t1-1}
		master -> fw1: Update{1-F1/t1 RUNNING id:t1-1}
		fw1 -> master: Acknowledge{1-F1/t1 id:t1-1}
		master -> a1: StatusUpdateAck{1-F1/t1 id:t1-1} (dropped)
	`)
	c.Advance(999 * time.Millisecond)
	expectTrace(t, c, ``)
	if got := c.Master.Available("1-A1").String(); got != "cpus:1;mem:768" {
		t.Fatalf("available %s, want the task's resources held", got)
	}
	// The retry resends the same update, now saying the task finished:
	// the master frees its resources before FINISHED itself is delivered.
	c.Advance(time.Millisecond)
	expectTrace(t, c, `
		a1 -> master: StatusUpdate{1-A1 1-F1/t1 RUNNING id:t1-1 latest:FINISHED}
		master -> fw1: Update{1-F1/t1 RUNNING id:t1-1}
	`)
	if v := mustTask(t, c.Master, "1-F1", "t1"); v.State != finished || !v.Active {
		t.Fatalf("task %v active=%v, want active FINISHED", v.State, v.Active)
	}
	if got := c.Master.Available("1-A1").String(); got != "cpus:2;mem:1024" {
		t.Fatalf("available %s, want everything back", got)
	}
	// Backoff: the next retry comes 2s later, then 4s.
	c.Advance(time.Second)
	expectTrace(t, c, ``)
	c.Advance(time.Second)
	expectTrace(t, c, `
		a1 -> master: StatusUpdate{1-A1 1-F1/t1 RUNNING id:t1-1 latest:FINISHED}
		master -> fw1: Update{1-F1/t1 RUNNING id:t1-1}
	`)
	dropAcks = false
	c.Send("fw1", ack("1-F1", "1-A1", "t1", "t1-1"))
	c.Send("fw1", ack("1-F1", "1-A1", "t1", "t1-2"))
	expectTrace(t, c, `
		fw1 -> master: Acknowledge{1-F1/t1 id:t1-1}
		master -> a1: StatusUpdateAck{1-F1/t1 id:t1-1}
		a1 -> master: StatusUpdate{1-A1 1-F1/t1 FINISHED id:t1-2}
		master -> fw1: Update{1-F1/t1 FINISHED id:t1-2}
		fw1 -> master: Acknowledge{1-F1/t1 id:t1-2}
		master -> a1: StatusUpdateAck{1-F1/t1 id:t1-2}
	`)
	if v := mustTask(t, c.Master, "1-F1", "t1"); v.Active {
		t.Fatalf("task still active after its terminal ack")
	}
	// A late duplicate ack changes nothing.
	c.Send("fw1", ack("1-F1", "1-A1", "t1", "t1-2"))
	expectTrace(t, c, `fw1 -> master: Acknowledge{1-F1/t1 id:t1-2}`)
	expectNoErrors(t, c)
}

func TestMasterFailoverAdoptsRunningTasks(t *testing.T) {
	c := setup(t, quietConfig(), "cpus:2;mem:1024")
	launchRunning(t, c, "1-O1", "t1", "cpus:1;mem:256")

	cfg := quietConfig()
	cfg.Epoch = 2
	c.FailoverMaster(cfg)
	c.Subscribe("fw1", time.Minute)
	c.Allocate()
	expectTrace(t, c, `
		a1 -> master: RegisterAgent{id:1-A1 host:a1 cpus:2;mem:1024 tasks:[1-F1/t1:RUNNING]}
		master -> a1: AgentRegistered@2{1-A1}
		fw1 -> master: Subscribe{name:fw1 id:1-F1}
		master -> fw1: Subscribed@2{1-F1}
		master -> fw1: Offers@2{2-O1: 1-A1 cpus:1;mem:768}
	`)
	if v := mustTask(t, c.Master, "1-F1", "t1"); !v.Active || v.State != running || v.AgentID != "1-A1" {
		t.Fatalf("adopted task: %+v", v)
	}

	// The deposed master can no longer reach the agent.
	c.Queue(sim.Message{From: sim.MasterName, To: "a1", Msg: &kernelpb.KillTask{Epoch: 1, FrameworkId: "1-F1", TaskId: "t1"}})
	c.Flush()
	expectTrace(t, c, `master -> a1: KillTask{1-F1/t1}`)
	if errs := takeErrors(c); len(errs) != 1 || !strings.Contains(errs[0], "deposed") {
		t.Fatalf("errors %q, want the stale KillTask refused", errs)
	}

	c.TaskEvent("a1", "1-F1", "t1", finished)
	c.Send("fw1", ack("1-F1", "1-A1", "t1", "t1-2"))
	expectTrace(t, c, `
		a1 -> master: StatusUpdate{1-A1 1-F1/t1 FINISHED id:t1-2}
		master -> fw1: Update@2{1-F1/t1 FINISHED id:t1-2}
		fw1 -> master: Acknowledge{1-F1/t1 id:t1-2}
		master -> a1: StatusUpdateAck@2{1-F1/t1 id:t1-2}
	`)
	expectNoErrors(t, c)
}

func TestAgentRestartWithoutItsTasks(t *testing.T) {
	c := setup(t, quietConfig(), "cpus:2;mem:1024")
	launchRunning(t, c, "1-O1", "t1", "cpus:1;mem:256")
	c.RestartAgent("a1")
	expectTrace(t, c, `
		a1 -> master: RegisterAgent{id:1-A1 host:a1 cpus:2;mem:1024}
		master -> fw1: Update{1-F1/t1 LOST AGENT_RESTARTED id:1-M1 src:master "the agent re-registered without the task"}
		master -> a1: AgentRegistered{1-A1}
	`)
	if got := c.Master.Available("1-A1").String(); got != "cpus:2;mem:1024" {
		t.Fatalf("available %s", got)
	}
	expectNoErrors(t, c)
}

// After a master failover the new master adopts the tasks agents report,
// also for frameworks it does not know. A framework that subscribes again
// in time keeps them; the tasks of one that never does are killed and
// settled once UnknownFrameworkTimeout passes.
func TestMasterFailoverForgetsTasksOfFrameworksThatNeverReturn(t *testing.T) {
	c := setup(t, quietConfig(), "cpus:2;mem:1024")
	launchRunning(t, c, "1-O1", "t1", "cpus:1;mem:256")
	c.Subscribe("fw2", time.Minute)
	c.Allocate()
	c.Send("fw2", accept("1-F2", []string{"1-O2"}, wasmTask("t2", "cpus:1;mem:256")))
	c.TaskEvent("a1", "1-F2", "t2", running)
	c.Send("fw2", ack("1-F2", "1-A1", "t2", "t2-1"))
	c.TakeTrace()

	cfg := quietConfig()
	cfg.Epoch = 2
	cfg.UnknownFrameworkTimeout = 10 * time.Minute
	c.FailoverMaster(cfg)
	adoptedAt := c.Now
	// Before they subscribe, both frameworks are visible as adopted, with
	// the time the master will give up on them.
	fws := c.Master.Frameworks()
	if len(fws) != 2 || !fws[0].Adopted || fws[0].ID != "1-F1" || fws[0].Tasks != 1 ||
		fws[0].Used.String() != "cpus:1;mem:256" || !fws[0].RemoveAt.Equal(adoptedAt.Add(10*time.Minute)) {
		t.Fatalf("frameworks after the failover: %+v; want 1-F1 and 1-F2 adopted, removed at %s", fws, adoptedAt.Add(10*time.Minute))
	}
	c.Advance(9 * time.Minute)
	c.Subscribe("fw2", time.Minute)
	if v, ok := c.Master.Framework("1-F2"); !ok || v.Adopted || v.Name != "fw2" || v.Tasks != 1 {
		t.Fatalf("1-F2 after subscribing again: %+v, %v; want it subscribed with its task", v, ok)
	}
	c.Advance(time.Minute - time.Millisecond)
	expectTrace(t, c, `
		a1 -> master: RegisterAgent{id:1-A1 host:a1 cpus:2;mem:1024 tasks:[1-F1/t1:RUNNING 1-F2/t2:RUNNING]}
		master -> a1: AgentRegistered@2{1-A1}
		fw2 -> master: Subscribe{name:fw2 id:1-F2}
		master -> fw2: Subscribed@2{1-F2}
	`)
	if v := mustTask(t, c.Master, "1-F1", "t1"); !v.Active || v.State != running {
		t.Fatalf("adopted task before the timeout: %+v", v)
	}

	// fw1 never came back: its task is killed, fw2's is not.
	c.Advance(time.Millisecond)
	c.TaskEvent("a1", "1-F1", "t1", killed)
	expectTrace(t, c, `
		master -> a1: ShutdownFramework@2{1-F1}
		a1: kill 1-F1/t1
		a1 -> master: StatusUpdate{1-A1 1-F1/t1 KILLED id:t1-2}
		master -> a1: StatusUpdateAck@2{1-F1/t1 id:t1-2}
	`)
	v := mustTask(t, c.Master, "1-F1", "t1")
	if v.Active || v.State != killed || v.Reason != kernelpb.Reason_REASON_FRAMEWORK_REMOVED {
		t.Fatalf("task of the framework that never returned: %+v", v)
	}
	if v := mustTask(t, c.Master, "1-F2", "t2"); !v.Active || v.State != running {
		t.Fatalf("task of the framework that returned: %+v", v)
	}
	if got := c.Master.Available("1-A1").String(); got != "cpus:1;mem:768" {
		t.Fatalf("available %s, want all but t2's resources", got)
	}
	if _, ok := c.Master.Framework("1-F1"); ok {
		t.Fatal("1-F1 is still listed after the master gave up on it")
	}
	// Too late: fw1 counts as removed.
	c.Subscribe("fw1", time.Minute)
	expectTrace(t, c, `
		fw1 -> master: Subscribe{name:fw1 id:1-F1}
		master -> fw1: Error@2{"framework 1-F1 was removed and cannot subscribe again"}
	`)
	if errs := takeErrors(c); len(errs) != 1 || !strings.Contains(errs[0], "was removed") {
		t.Fatalf("errors %q, want the late subscription refused", errs)
	}
	expectNoErrors(t, c)
}

// A framework that reconciles with a new master before the task's agent has
// re-registered is not told its running task is LOST: the answer waits for
// the agent, which brings the task or, registering without it, settles it
// LOST; a task no agent is named for waits for the window to close.
func TestReconciliationWaitsForAgentsAfterFailover(t *testing.T) {
	c := setup(t, quietConfig(), "cpus:2;mem:1024")
	launchRunning(t, c, "1-O1", "t1", "cpus:1;mem:256")

	cfg := quietConfig()
	cfg.Epoch = 2
	cfg.ReregistrationWindow = 10 * time.Second
	c.Master, c.MasterCfg = master.New(cfg), cfg // the agents have not noticed yet
	c.Subscribe("fw1", time.Minute)
	c.Send("fw1", &kernelpb.Reconcile{FrameworkId: "1-F1", Tasks: []*kernelpb.ReconcileTask{
		{TaskId: "t1", AgentId: "1-A1"}, {TaskId: "t9", AgentId: "1-A1"}, {TaskId: "t7"},
	}})
	expectTrace(t, c, `
		fw1 -> master: Subscribe{name:fw1 id:1-F1}
		master -> fw1: Subscribed@2{1-F1}
		fw1 -> master: Reconcile{1-F1 [t1 t9 t7]}
	`)
	c.Agents["a1"].A.MasterChanged(c.Now)
	c.Flush()
	c.Advance(time.Second)
	expectTrace(t, c, `
		a1 -> master: RegisterAgent{id:1-A1 host:a1 cpus:2;mem:1024 tasks:[1-F1/t1:RUNNING]}
		master -> a1: AgentRegistered@2{1-A1}
		master -> fw1: Updates[2]
		+ Update@2{1-F1/t1 RUNNING RECONCILIATION src:master "adopted from re-registering agent"}
		+ Update@2{1-F1/t9 LOST RECONCILIATION src:master "unknown task: its agent registered without it"}
	`)
	c.Advance(10 * time.Second)
	expectTrace(t, c, `
		master -> fw1: Update@2{1-F1/t7 LOST RECONCILIATION src:master "unknown task: its agent did not re-register in time"}
	`)
	// Once the window has closed, an unknown task is LOST at once.
	c.Send("fw1", &kernelpb.Reconcile{FrameworkId: "1-F1", Tasks: []*kernelpb.ReconcileTask{{TaskId: "t8"}}})
	expectTrace(t, c, `
		fw1 -> master: Reconcile{1-F1 [t8]}
		master -> fw1: Update@2{1-F1/t8 LOST RECONCILIATION src:master "unknown task"}
	`)
	expectNoErrors(t, c)
}
