package master_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/master"
)

func TestViewsAndCounters(t *testing.T) {
	c := setup(t, quietConfig(), "cpus:2;mem:1024")
	c.Send("fw1", accept("1-F1", []string{"1-O1"}, wasmTask("t1", "cpus:1;mem:256"), wasmTask("big", "cpus:9")))
	c.TaskEvent("a1", "1-F1", "t1", running)

	ag, ok := c.Master.Agent("1-A1")
	if !ok || ag.Hostname != "a1" || ag.Peer != "a1" || !ag.Active || ag.Tasks != 1 ||
		ag.Used.String() != "cpus:1;mem:256" || !ag.Offered.IsEmpty() || ag.Total.String() != "cpus:2;mem:1024" {
		t.Fatalf("agent view: %+v", ag)
	}
	fw, ok := c.Master.Framework("1-F1")
	if !ok || fw.Name != "fw1" || !fw.Connected || fw.Tasks != 1 || fw.Offered != 1 || fw.Accepted != 1 ||
		fmt.Sprint(fw.Roles) != "[*]" || fw.FailoverTimeout != time.Minute || fw.Share <= 0 {
		t.Fatalf("framework view: %+v", fw)
	}
	tasks := c.Master.Tasks(master.TaskFilter{FrameworkID: "1-F1"})
	var ids []string
	for _, tv := range tasks {
		ids = append(ids, fmt.Sprintf("%s:%v:%v", tv.ID, tv.State, tv.Active))
	}
	if fmt.Sprint(ids) != "[t1:TASK_RUNNING:true big:TASK_ERROR:false]" {
		t.Fatalf("tasks %v", ids)
	}
	if got := c.Master.Tasks(master.TaskFilter{State: running}); len(got) != 1 || got[0].ID != "t1" {
		t.Fatalf("state filter: %+v", got)
	}
	cn := c.Master.Counters()
	if cn.OffersMade != 1 || cn.OffersAccepted != 1 || cn.TasksLaunched != 1 || cn.TasksInvalid != 1 ||
		cn.TasksTerminal[taskErr] != 1 || cn.AgentsAdded != 1 || cn.FrameworksAdded != 1 {
		t.Fatalf("counters %+v", cn)
	}
	if by := c.Master.ActiveTasksByState(); by[running] != 1 || len(by) != 1 {
		t.Fatalf("active by state %v", by)
	}
	var kinds []string
	for _, e := range c.MasterEvents {
		if e.Kind == master.EventTaskState {
			kinds = append(kinds, e.TaskID+":"+e.State.String())
		}
	}
	if fmt.Sprint(kinds) != "[t1:TASK_STAGING big:TASK_ERROR t1:TASK_RUNNING]" {
		t.Fatalf("task events %v", kinds)
	}
}

func TestCompletedTasksAreBounded(t *testing.T) {
	cfg := quietConfig()
	cfg.MaxCompletedTasks = 2
	c := setup(t, cfg, "cpus:3;mem:1024")
	c.Send("fw1", accept("1-F1", []string{"1-O1"},
		wasmTask("t1", "cpus:1"), wasmTask("t2", "cpus:1"), wasmTask("t3", "cpus:1")))
	for _, id := range []string{"t1", "t2", "t3"} {
		c.TaskEvent("a1", "1-F1", id, finished)
		c.Send("fw1", ack("1-F1", "1-A1", id, id+"-1"))
	}
	var got []string
	for _, tv := range c.Master.Tasks(master.TaskFilter{}) {
		got = append(got, tv.ID)
	}
	if fmt.Sprint(got) != "[t3 t2]" {
		t.Fatalf("completed tasks %v, want the newest two", got)
	}
	if _, ok := c.Master.Task("1-F1", "t1"); ok {
		t.Fatalf("t1 should have been forgotten")
	}
	// Reconciling a forgotten task: unknown, hence LOST.
	c.TakeTrace()
	c.Send("fw1", &kernelpb.Reconcile{FrameworkId: "1-F1", Tasks: []*kernelpb.ReconcileTask{{TaskId: "t1"}}})
	expectTrace(t, c, `
		fw1 -> master: Reconcile{1-F1 [t1]}
		master -> fw1: Update{1-F1/t1 LOST RECONCILIATION src:master "unknown task"}
	`)
}

// The same inputs give the same outputs, message for message.
func TestSimulationIsDeterministic(t *testing.T) {
	run := func() []string {
		s := newSimulation(t, 7)
		s.c.Quiet = false
		for s.step = 0; s.step < 300; s.step++ {
			s.randomStep()
		}
		return s.c.Trace
	}
	a, b := run(), run()
	if len(a) < 100 || !slices.Equal(a, b) {
		t.Fatalf("two runs differ (or are too short: %d lines)", len(a))
	}
}

// The master keeps a task without its env (only the agent needs it), and
// tasks launched together with equal resources still report their own.
func TestTaskInfoKeptWithoutEnv(t *testing.T) {
	c := setup(t, quietConfig(), "cpus:2;mem:1024")
	t1, t2 := wasmTask("t1", "cpus:1;mem:256"), wasmTask("t2", "cpus:1;mem:256")
	for _, ti := range []*kernelpb.TaskInfo{t1, t2} {
		ti.Env = map[string]string{"SECRET": "s3cr3t"}
		ti.Labels = map[string]string{"job": "j1"}
	}
	c.Send("fw1", accept("1-F1", []string{"1-O1"}, t1, t2))
	launched := c.Agents["a1"].Launched
	if len(launched) != 2 || launched[0].Task.Env["SECRET"] != "s3cr3t" {
		t.Fatalf("the agent got %+v, want the tasks with their env", launched)
	}
	for _, id := range []string{"t1", "t2"} {
		v := mustTask(t, c.Master, "1-F1", id)
		if v.Info.Env != nil || v.Info.Labels["job"] != "j1" || v.Info.AgentId != "1-A1" || v.Info.GetWasm().GetModule() != module {
			t.Fatalf("master's copy of %s: %v", id, v.Info)
		}
		if v.Resources.String() != "cpus:1;mem:256" {
			t.Fatalf("%s resources %s", id, v.Resources)
		}
	}
	if t1.Env["SECRET"] != "s3cr3t" {
		t.Fatal("the framework's message was modified")
	}
}
