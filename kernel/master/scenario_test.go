package master_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/pandodc/pando/kernel/internal/sim"
	"github.com/pandodc/pando/kernel/kernelpb"
)

func TestLaunchRunFinishAcked(t *testing.T) {
	c := setup(t, quietConfig(), "cpus:2;mem:1024")

	c.Send("fw1", accept("1-F1", []string{"1-O1"}, wasmTask("t1", "cpus:1;mem:256")))
	c.TaskEvent("a1", "1-F1", "t1", starting)
	c.Send("fw1", ack("1-F1", "1-A1", "t1", "t1-1"))
	c.TaskEvent("a1", "1-F1", "t1", running)
	c.Send("fw1", ack("1-F1", "1-A1", "t1", "t1-2"))
	c.TaskEvent("a1", "1-F1", "t1", finished)
	if v := mustTask(t, c.Master, "1-F1", "t1"); !v.Active || v.State != finished {
		t.Fatalf("before the terminal ack: active=%v state=%v, want active FINISHED", v.Active, v.State)
	}
	c.Send("fw1", ack("1-F1", "1-A1", "t1", "t1-3"))
	expectTrace(t, c, `
		fw1 -> master: Accept{1-F1 offers:[1-O1] launch:[t1 cpus:1;mem:256]}
		master -> a1: RunTask{1-F1 t1 cpus:1;mem:256}
		a1: launch 1-F1/t1
		a1 -> master: StatusUpdate{1-A1 1-F1/t1 STARTING id:t1-1}
		master -> fw1: Update{1-F1/t1 STARTING id:t1-1}
		fw1 -> master: Acknowledge{1-F1/t1 id:t1-1}
		master -> a1: StatusUpdateAck{1-F1/t1 id:t1-1}
		a1 -> master: StatusUpdate{1-A1 1-F1/t1 RUNNING id:t1-2}
		master -> fw1: Update{1-F1/t1 RUNNING id:t1-2}
		fw1 -> master: Acknowledge{1-F1/t1 id:t1-2}
		master -> a1: StatusUpdateAck{1-F1/t1 id:t1-2}
		a1 -> master: StatusUpdate{1-A1 1-F1/t1 FINISHED id:t1-3}
		master -> fw1: Update{1-F1/t1 FINISHED id:t1-3}
		fw1 -> master: Acknowledge{1-F1/t1 id:t1-3}
		master -> a1: StatusUpdateAck{1-F1/t1 id:t1-3}
	`)
	expectNoErrors(t, c)
	v := mustTask(t, c.Master, "1-F1", "t1")
	if v.Active || v.State != finished {
		t.Fatalf("after the terminal ack: active=%v state=%v, want completed FINISHED", v.Active, v.State)
	}
	var hist []string
	for _, h := range v.History {
		hist = append(hist, h.State.String())
	}
	if got := fmt.Sprint(hist); got != "[TASK_STAGING TASK_STARTING TASK_RUNNING TASK_FINISHED]" {
		t.Fatalf("history %s", got)
	}
	if n := len(c.Agents["a1"].A.Tasks()); n != 0 {
		t.Fatalf("agent still holds %d tasks after the terminal ack", n)
	}
	// The unused part of the offer (cpus:1;mem:768) was declined with the
	// default filter (5s), but the task's end freed more than that: as in
	// Mesos, a filter holds back only offers that fit in what was
	// declined, so the whole agent comes back at once.
	c.Allocate()
	expectTrace(t, c, `master -> fw1: Offers{1-O2: 1-A1 cpus:2;mem:1024}`)
}

func TestDeclineFilterKeepsResourcesAwayUntilItExpires(t *testing.T) {
	c := setup(t, quietConfig(), "cpus:2;mem:1024")
	c.Send("fw1", &kernelpb.Decline{FrameworkId: "1-F1", OfferIds: []string{"1-O1"}, Filters: &kernelpb.Filters{RefuseSeconds: 10}})
	c.Allocate()
	expectTrace(t, c, `fw1 -> master: Decline{1-F1 offers:[1-O1] refuse:10s}`)
	if fv, _ := c.Master.Framework("1-F1"); fv.Why == "" || fv.Declined != 1 {
		t.Fatalf("framework view after decline: why=%q declined=%d", fv.Why, fv.Declined)
	}

	// The filter is fw1's only: another framework gets the resources now.
	c.Subscribe("fw2", time.Minute)
	c.Allocate()
	c.Send("fw2", &kernelpb.Decline{FrameworkId: "1-F2", OfferIds: []string{"1-O2"}, Filters: &kernelpb.Filters{RefuseSeconds: 60}})
	expectTrace(t, c, `
		fw2 -> master: Subscribe{name:fw2}
		master -> fw2: Subscribed{1-F2}
		master -> fw2: Offers{1-O2: 1-A1 cpus:2;mem:1024}
		fw2 -> master: Decline{1-F2 offers:[1-O2] refuse:60s}
	`)

	c.Advance(10*time.Second - time.Millisecond)
	c.Allocate()
	expectTrace(t, c, ``)
	c.Advance(time.Millisecond)
	c.Allocate()
	expectTrace(t, c, `master -> fw1: Offers{1-O3: 1-A1 cpus:2;mem:1024}`)
	expectNoErrors(t, c)
}

func TestOfferTimeoutRescinds(t *testing.T) {
	cfg := quietConfig()
	cfg.OfferTimeout = 30 * time.Second
	c := setup(t, cfg, "cpus:2;mem:1024")
	c.Advance(30*time.Second - time.Millisecond)
	expectTrace(t, c, ``)
	c.Advance(time.Millisecond)
	expectTrace(t, c, `master -> fw1: Rescind{1-O1}`)
	if n := len(c.Master.Offers()); n != 0 {
		t.Fatalf("%d offers outstanding after the rescind", n)
	}

	// Accepting the rescinded offer launches nothing: the task is LOST
	// (it may be retried on another offer) and the framework told why.
	c.Send("fw1", accept("1-F1", []string{"1-O1"}, wasmTask("t1", "cpus:1;mem:256")))
	expectTrace(t, c, `
		fw1 -> master: Accept{1-F1 offers:[1-O1] launch:[t1 cpus:1;mem:256]}
		master -> fw1: Update{1-F1/t1 LOST INVALID_OFFERS id:1-M1 src:master "not launched: offer 1-O1 is no longer valid"}
		master -> fw1: Error{"offer 1-O1 is no longer valid"}
	`)
	takeErrors(c)

	// A rescinded offer carries no filter: the resources come right back.
	c.Allocate()
	expectTrace(t, c, `master -> fw1: Offers{1-O2: 1-A1 cpus:2;mem:1024}`)
}

func TestKill(t *testing.T) {
	c := setup(t, quietConfig(), "cpus:2;mem:1024")
	launchRunning(t, c, "1-O1", "t1", "cpus:1;mem:256")

	c.Send("fw1", &kernelpb.Kill{FrameworkId: "1-F1", TaskId: "t1"})
	c.TaskEvent("a1", "1-F1", "t1", killed)
	c.Send("fw1", ack("1-F1", "1-A1", "t1", "t1-2"))
	expectTrace(t, c, `
		fw1 -> master: Kill{1-F1/t1}
		master -> a1: KillTask{1-F1/t1}
		a1: kill 1-F1/t1
		a1 -> master: StatusUpdate{1-A1 1-F1/t1 KILLED id:t1-2}
		master -> fw1: Update{1-F1/t1 KILLED id:t1-2}
		fw1 -> master: Acknowledge{1-F1/t1 id:t1-2}
		master -> a1: StatusUpdateAck{1-F1/t1 id:t1-2}
	`)

	// Killing it again answers with its final state; killing a task the
	// master never heard of answers LOST, so the framework stops waiting.
	c.Send("fw1", &kernelpb.Kill{FrameworkId: "1-F1", TaskId: "t1"})
	c.Send("fw1", &kernelpb.Kill{FrameworkId: "1-F1", TaskId: "nope"})
	expectTrace(t, c, `
		fw1 -> master: Kill{1-F1/t1}
		master -> fw1: Update{1-F1/t1 KILLED RECONCILIATION src:master}
		fw1 -> master: Kill{1-F1/nope}
		master -> fw1: Update{1-F1/nope LOST RECONCILIATION src:master "unknown task"}
	`)
	expectNoErrors(t, c)
}

func TestKillBeforeTheAgentHasTheTask(t *testing.T) {
	c := setup(t, quietConfig(), "cpus:2;mem:1024")
	// The RunTask is lost on the way; the framework gives up on the task.
	c.Drop = func(m sim.Message) bool { _, ok := m.Msg.(*kernelpb.RunTask); return ok }
	c.Send("fw1", accept("1-F1", []string{"1-O1"}, wasmTask("t1", "cpus:1;mem:256")))
	c.Drop = nil
	c.Send("fw1", &kernelpb.Kill{FrameworkId: "1-F1", TaskId: "t1"})
	c.Send("fw1", ack("1-F1", "1-A1", "t1", "t1-1"))
	expectTrace(t, c, `
		fw1 -> master: Accept{1-F1 offers:[1-O1] launch:[t1 cpus:1;mem:256]}
		master -> a1: RunTask{1-F1 t1 cpus:1;mem:256} (dropped)
		fw1 -> master: Kill{1-F1/t1}
		master -> a1: KillTask{1-F1/t1}
		a1 -> master: StatusUpdate{1-A1 1-F1/t1 LOST id:t1-1 "the agent does not know the task"}
		master -> fw1: Update{1-F1/t1 LOST id:t1-1 "the agent does not know the task"}
		fw1 -> master: Acknowledge{1-F1/t1 id:t1-1}
		master -> a1: StatusUpdateAck{1-F1/t1 id:t1-1}
	`)
	if v := mustTask(t, c.Master, "1-F1", "t1"); v.Active || v.State != lost {
		t.Fatalf("task: active=%v state=%v, want settled LOST", v.Active, v.State)
	}
	// A late duplicate RunTask must not start the task now.
	c.Queue(sim.Message{From: sim.MasterName, To: "a1", Msg: &kernelpb.RunTask{Epoch: 1, FrameworkId: "1-F1", Task: wasmTask("t1", "cpus:1;mem:256")}})
	c.Flush()
	expectTrace(t, c, `master -> a1: RunTask{1-F1 t1 cpus:1;mem:256}`)
	expectNoErrors(t, c)
}

func TestReconcile(t *testing.T) {
	c := setup(t, quietConfig(), "cpus:2;mem:1024")
	c.Send("fw1", accept("1-F1", []string{"1-O1"}, wasmTask("t1", "cpus:1;mem:256"), wasmTask("t2", "cpus:1;mem:256")))
	c.TaskEvent("a1", "1-F1", "t1", running)
	c.TaskEvent("a1", "1-F1", "t2", finished)
	c.Send("fw1", ack("1-F1", "1-A1", "t1", "t1-1"))
	c.Send("fw1", ack("1-F1", "1-A1", "t2", "t2-1"))
	c.TakeTrace()

	c.Send("fw1", &kernelpb.Reconcile{FrameworkId: "1-F1", Tasks: []*kernelpb.ReconcileTask{{TaskId: "t2"}, {TaskId: "t1"}, {TaskId: "t9", AgentId: "1-A1"}}})
	// Implicit reconciliation: every active task.
	c.Send("fw1", &kernelpb.Reconcile{FrameworkId: "1-F1"})
	expectTrace(t, c, `
		fw1 -> master: Reconcile{1-F1 [t2 t1 t9]}
		master -> fw1: Update{1-F1/t2 FINISHED RECONCILIATION src:master}
		master -> fw1: Update{1-F1/t1 RUNNING RECONCILIATION src:master}
		master -> fw1: Update{1-F1/t9 LOST RECONCILIATION src:master "unknown task"}
		fw1 -> master: Reconcile{1-F1 []}
		master -> fw1: Update{1-F1/t1 RUNNING RECONCILIATION src:master}
	`)
	expectNoErrors(t, c)
}

func TestTeardown(t *testing.T) {
	c := setup(t, quietConfig(), "cpus:2;mem:1024")
	a := accept("1-F1", []string{"1-O1"}, wasmTask("t1", "cpus:1;mem:256"))
	a.Filters = &kernelpb.Filters{RefuseSeconds: 0.001}
	c.Send("fw1", a)
	c.TaskEvent("a1", "1-F1", "t1", running)
	c.Advance(time.Millisecond)
	c.Allocate()
	c.TakeTrace()

	c.Send("fw1", &kernelpb.Teardown{FrameworkId: "1-F1"})
	c.TaskEvent("a1", "1-F1", "t1", killed)
	// The agent still retries the unacknowledged RUNNING: the master
	// settles it for the removed framework.
	expectTrace(t, c, `
		fw1 -> master: Teardown{1-F1}
		master -> a1: ShutdownFramework{1-F1}
		a1: kill 1-F1/t1
	`)
	c.Advance(time.Second)
	expectTrace(t, c, `
		a1 -> master: StatusUpdate{1-A1 1-F1/t1 RUNNING id:t1-1 latest:KILLED}
		master -> a1: StatusUpdateAck{1-F1/t1 id:t1-1}
		a1 -> master: StatusUpdate{1-A1 1-F1/t1 KILLED id:t1-2}
		master -> a1: StatusUpdateAck{1-F1/t1 id:t1-2}
	`)
	v := mustTask(t, c.Master, "1-F1", "t1")
	if v.Active || v.State != killed || v.Reason != kernelpb.Reason_REASON_FRAMEWORK_REMOVED {
		t.Fatalf("task after teardown: %+v", v)
	}
	if n := len(c.Master.Offers()); n != 0 {
		t.Fatalf("%d offers outstanding after teardown", n)
	}
	if got := c.Master.Available("1-A1").String(); got != "cpus:2;mem:1024" {
		t.Fatalf("available after teardown: %s", got)
	}
	if len(c.Master.Frameworks()) != 0 || len(c.Agents["a1"].A.Tasks()) != 0 {
		t.Fatalf("framework or agent task left behind")
	}
	// A removed framework cannot come back under its id.
	c.Subscribe("fw1", time.Minute)
	expectTrace(t, c, `
		fw1 -> master: Subscribe{name:fw1 id:1-F1}
		master -> fw1: Error{"framework 1-F1 was removed and cannot subscribe again"}
	`)
	takeErrors(c)
	expectNoErrors(t, c)
}
