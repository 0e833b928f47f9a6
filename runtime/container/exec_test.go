package container_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/runtime"
)

// Exec runs a command inside a running task's container, sees its files,
// returns its exit code and output, is cut by its context, and says clearly
// when there is no such task.
func TestExec(t *testing.T) {
	rt := newRuntime(t, testConfig(t))
	spec := sh(t, `echo inside > /tmp/mark; echo ready; while :; do sleep 0.1; done`)
	spec.KillGrace = 100 * time.Millisecond
	task := launch(t, rt, spec)
	waitForLog(t, spec, "stdout", "ready")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	code, out, err := rt.Exec(ctx, spec.Ref(), []string{"cat", "/tmp/mark"})
	if err != nil || code != 0 || out != "inside\n" {
		t.Errorf("exec cat = %d %q %v, want 0 and the container's file", code, out, err)
	}
	code, out, err = rt.Exec(ctx, spec.Ref(), []string{"sh", "-c", "echo no >&2; exit 3"})
	if err != nil || code != 3 || out != "no\n" {
		t.Errorf("exec exit 3 = %d %q %v, want 3 and its stderr", code, out, err)
	}
	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancelShort()
	if _, _, err := rt.Exec(short, spec.Ref(), []string{"sleep", "60"}); err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Errorf("exec past its context: %v, want it cut", err)
	}
	// A command that leaves a process holding its output open is answered
	// by its exit, with what it wrote by ctx's end, not when the other ends.
	lingering, cancelLingering := context.WithTimeout(ctx, time.Second)
	defer cancelLingering()
	start := time.Now()
	code, out, err = rt.Exec(lingering, spec.Ref(), []string{"sh", "-c", "sleep 30 & echo left"})
	if err != nil || code != 0 || out != "left\n" || time.Since(start) > 20*time.Second {
		t.Errorf("exec leaving a sleep behind = %d %q %v after %v, want 0 and its line before the sleep ends", code, out, err, time.Since(start))
	}
	for _, ref := range []runtime.TaskRef{{FrameworkID: spec.FrameworkID, TaskID: "nobody"}, {FrameworkID: "another", TaskID: spec.TaskID}} {
		if _, _, err := rt.Exec(ctx, ref, []string{"true"}); err == nil || !strings.Contains(err.Error(), "no such running container task") {
			t.Errorf("exec in the unknown task %+v: %v", ref, err)
		}
	}
	if err := task.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	wait(t, task)
}
