package agent

import (
	"path/filepath"
	"testing"
	"time"

	kagent "github.com/pandodc/pando/kernel/agent"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
	"github.com/pandodc/pando/sdk"
)

func containerTask(id string) *kernelpb.TaskInfo {
	return &kernelpb.TaskInfo{
		TaskId: id, Name: id, Resources: resources.MustParse("cpus:0.5;mem:64").ToProto(),
		Runtime: &kernelpb.TaskInfo_Container{Container: &kernelpb.ContainerTask{Image: "sha256:0", Args: []string{"sleep", "1"}}},
	}
}

// A task's end is kept beside it until the task is removed; ends are not
// tasks of their own.
func TestCheckpointKeepsEndsUntilRemoved(t *testing.T) {
	cp, err := OpenCheckpoint(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ref := kagent.TaskRef{FrameworkID: "fw", TaskID: "t1"}
	if err := cp.SaveTask("fw", "batch", containerTask("t1")); err != nil {
		t.Fatal(err)
	}
	if end, err := cp.End(ref); err != nil || end != nil {
		t.Fatalf("end of a running task: %v, %v; want none", end, err)
	}
	if err := cp.SaveEnd(ref, &kernelpb.TaskStatus{TaskId: "t1", State: kernelpb.TaskState_TASK_FAILED, ExitCode: 3, Message: "exited with code 3"}); err != nil {
		t.Fatal(err)
	}
	tasks, err := cp.Tasks()
	if err != nil || len(tasks) != 1 || tasks[0].Task.GetTaskId() != "t1" || tasks[0].FrameworkName != "batch" {
		t.Fatalf("tasks with an end saved: %+v, %v; want t1 alone", tasks, err)
	}
	if end, err := cp.End(ref); err != nil || end.GetState() != kernelpb.TaskState_TASK_FAILED || end.GetExitCode() != 3 {
		t.Fatalf("end: %v, %v; want FAILED, exit 3", end, err)
	}
	if err := cp.RemoveTask(ref); err != nil {
		t.Fatal(err)
	}
	if tasks, err := cp.Tasks(); err != nil || len(tasks) != 0 {
		t.Fatalf("tasks after the removal: %+v, %v", tasks, err)
	}
	if end, err := cp.End(ref); err != nil || end != nil {
		t.Fatalf("end after the removal: %v, %v", end, err)
	}
}

// TestRecoveredEndIsReportedThenForgotten: a container task ended before
// the agent restarted, its end not yet acknowledged: the agent reports it
// again, as it was, to the framework, and removes its checkpoint once
// that is acknowledged.
func TestRecoveredEndIsReportedThenForgotten(t *testing.T) {
	dir := t.TempDir()
	cp, err := OpenCheckpoint(filepath.Join(dir, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	const fw = "fw-1"
	ref := kagent.TaskRef{FrameworkID: fw, TaskID: "c1"}
	if err := cp.SaveTask(fw, "rec", containerTask("c1")); err != nil {
		t.Fatal(err)
	}
	end := &kernelpb.TaskStatus{FrameworkId: fw, TaskId: "c1", State: kernelpb.TaskState_TASK_FINISHED, Message: "exited with code 0"}
	if err := cp.SaveEnd(ref, end); err != nil {
		t.Fatal(err)
	}
	tasks, err := cp.Tasks()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Checkpoint: cp, Recovered: []RecoveredTask{{Recovered: tasks[0], Ended: end}}}
	cfg.Kernel.AgentID = "agent-1"
	c := startTestCluster(t, "hello", cfg)
	rec := &recorder{updates: map[string][]*kernelpb.TaskStatus{}}
	driver, err := sdk.NewDriver(sdk.Config{Framework: &kernelpb.FrameworkInfo{Id: fw, Name: "rec"}, System: c.system, Master: c.master}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := driver.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { driver.Stop(false) })
	waitUntil(t, "c1's end", func() bool { return kernelpb.IsTerminal(rec.last()["c1"].GetState()) })
	if st := rec.last()["c1"]; st.GetState() != kernelpb.TaskState_TASK_FINISHED || st.GetMessage() != end.GetMessage() || st.GetAgentId() != "agent-1" {
		t.Fatalf("c1 reported %v %q on %s, want FINISHED %q on agent-1", st.GetState(), st.GetMessage(), st.GetAgentId(), end.GetMessage())
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		left, err := cp.Tasks()
		if err == nil && len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the checkpoint still holds %+v (%v) after the end was acknowledged", left, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
