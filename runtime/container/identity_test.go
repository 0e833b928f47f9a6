package container_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/runtime"
	"github.com/pandodc/pando/runtime/container"
)

// Task ids are unique only within a framework, and agents on one host
// share runc's state directory and the cgroup tree whatever their
// namespace or daemon: the same task id of two frameworks, and of two
// agents in one namespace, runs as four containers, each killed alone.
func TestTheSameTaskIDOfTwoFrameworksAndTwoAgentsRunsApart(t *testing.T) {
	cfg := testConfig(t)
	other := cfg
	other.AgentID = "agent-other"
	rts := []*container.Runtime{newRuntime(t, cfg), newRuntime(t, other)}
	const script = `trap 'exit 143' TERM; echo "I am $WHO"; while :; do sleep 0.05; done`
	var specs []runtime.Spec
	var tasks []*container.Task
	for i, rt := range rts {
		for _, fw := range []string{"fw-a", "fw-b"} {
			spec := sh(t, script)
			spec.TaskID, spec.FrameworkID = "web-1", fw
			spec.KillGrace = 100 * time.Millisecond
			spec.Env = map[string]string{"WHO": fw + "@" + string(rune('0'+i))}
			specs = append(specs, spec)
			tasks = append(tasks, launch(t, rt, spec))
		}
	}
	ids, cgroups := map[string]bool{}, map[string]bool{}
	for i, task := range tasks {
		waitForLog(t, specs[i], "stdout", "I am "+specs[i].Env["WHO"])
		ids[task.ContainerID()], cgroups[task.CgroupPath()] = true, true
		if !strings.HasPrefix(task.ContainerID(), "web-1-") {
			t.Errorf("container %s does not start with its task id", task.ContainerID())
		}
	}
	if len(ids) != 4 || len(cgroups) != 4 {
		t.Fatalf("4 tasks ran in %d containers and %d cgroups: %v %v", len(ids), len(cgroups), ids, cgroups)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// An exec reaches its own framework's task.
	code, out, err := rts[0].Exec(ctx, specs[1].Ref(), []string{"sh", "-c", `echo "$WHO"`})
	if err != nil || code != 0 || out != specs[1].Env["WHO"]+"\n" {
		t.Errorf("exec in fw-b's web-1 = %d %q %v, want fw-b's", code, out, err)
	}
	if err := tasks[0].Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if exit := wait(t, tasks[0]); exit.Outcome != runtime.Killed {
		t.Errorf("killed task: %+v", exit)
	}
	for i, task := range tasks[1:] {
		short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
		exit, err := task.Wait(short)
		cancelShort()
		if err == nil {
			t.Errorf("task %d ended with another's kill: %+v", i+1, exit)
		}
	}
	for _, task := range tasks[1:] {
		if err := task.Kill(ctx); err != nil {
			t.Error(err)
		}
	}
}

// A container id is the task id and a hash of who runs it, within
// containerd's rules; a task id containerd refuses is hashed whole.
func TestContainerIDs(t *testing.T) {
	a := container.ContainerID("agent", runtime.TaskRef{FrameworkID: "fw", TaskID: "web-1"})
	if !strings.HasPrefix(a, "web-1-") || len(a) != len("web-1-")+12 {
		t.Errorf("ContainerID = %q", a)
	}
	for _, other := range []string{
		container.ContainerID("agent2", runtime.TaskRef{FrameworkID: "fw", TaskID: "web-1"}),
		container.ContainerID("agent", runtime.TaskRef{FrameworkID: "fw2", TaskID: "web-1"}),
		container.ContainerID("agent", runtime.TaskRef{FrameworkID: "fw", TaskID: "web-2"}),
	} {
		if other == a {
			t.Errorf("two tasks share the container id %s", a)
		}
	}
	if a != container.ContainerID("agent", runtime.TaskRef{FrameworkID: "fw", TaskID: "web-1"}) {
		t.Error("ContainerID is not a function of its arguments")
	}
	long := container.ContainerID("agent", runtime.TaskRef{TaskID: strings.Repeat("x", 59) + "-y"})
	if len(long) > 76 || strings.Contains(long, "--") {
		t.Errorf("a long task id gave %q", long)
	}
	odd := container.ContainerID("agent", runtime.TaskRef{TaskID: "my task/1"})
	if !strings.HasPrefix(odd, "pando-") {
		t.Errorf("a task id containerd refuses gave %q", odd)
	}
}
