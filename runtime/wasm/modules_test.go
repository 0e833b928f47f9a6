package wasm_test

import (
	"context"
	"testing"
	"time"

	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/runtime"
	"github.com/pandodc/pando/runtime/wasm"
)

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// A module no task has run for ModuleIdle leaves memory, and its next task
// compiles it again and runs.
func TestIdleModulesAreDroppedAndCompiledAgain(t *testing.T) {
	rt := newRuntime(t, wasm.Config{ModuleIdle: 50 * time.Millisecond})
	spec := runtime.Spec{Digest: "sha256:tiny", Artifact: wasmbuild.MustBuild(t, "tiny")}
	if exit, _, _ := run(t, rt, spec); exit.Outcome != runtime.Finished {
		t.Fatalf("first task: %+v", exit)
	}
	waitFor(t, "the idle module to be dropped", func() bool { return wasm.Modules(rt) == 0 })
	if exit, _, _ := run(t, rt, spec); exit.Outcome != runtime.Finished {
		t.Fatalf("the task after the drop: %+v", exit)
	}
	if n := wasm.Compiles(rt); n != 2 {
		t.Errorf("%d compilations, want 2 (once, and again after the drop)", n)
	}
}

// A module stays compiled while any task of it runs, however long.
func TestAModuleInUseStays(t *testing.T) {
	const idle = 20 * time.Millisecond
	rt := newRuntime(t, wasm.Config{ModuleIdle: idle})
	spec := runtime.Spec{TaskID: "sleeper", Sandbox: t.TempDir(), Digest: "sha256:sleep", Artifact: wasmbuild.MustBuild(t, "sleep"), Args: []string{"1h"}}
	task, err := rt.Launch(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	defer task.Kill(context.Background())
	time.Sleep(20 * idle) // many sweeps
	if n := wasm.Modules(rt); n != 1 {
		t.Fatalf("%d modules while a task of the one module runs, want 1", n)
	}
	spec.TaskID, spec.Sandbox = "second", t.TempDir()
	second, err := rt.Launch(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Kill(context.Background())
	if n := wasm.Compiles(rt); n != 1 {
		t.Errorf("%d compilations, want 1: the running task's module was compiled again", n)
	}
	if err := task.Kill(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := second.Kill(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the module to be dropped once its tasks ended", func() bool { return wasm.Modules(rt) == 0 })
}
