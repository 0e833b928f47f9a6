package wasm_test

import (
	"context"
	"testing"
	"time"

	"github.com/pandodc/pando/runtime"
	"github.com/pandodc/pando/runtime/wasm"
)

// A guest whose sleep is cut short by a kill or its timeout returns as if
// it had ended by itself (exit code 0): it is still reported killed, or
// timed out, not FINISHED.
func TestSleepCutShortIsNotFinished(t *testing.T) {
	rt := newRuntime(t, wasm.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spec := func(id string, timeout time.Duration) runtime.Spec {
		return runtime.Spec{TaskID: id, Artifact: "testdata/sleeponce.wasm", Sandbox: t.TempDir(), Timeout: timeout}
	}

	task, err := rt.Launch(ctx, spec("killed", 0))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // into its sleep, most likely; either way it is killed
	if err := task.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	exit, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if exit.Outcome != runtime.Killed {
		t.Errorf("killed during its sleep: %+v, want Killed", exit)
	}

	task, err = rt.Launch(ctx, spec("timed-out", 100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	exit, err = task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if exit.Outcome != runtime.Failed || exit.Cause != runtime.CauseTimeout {
		t.Errorf("past its timeout during its sleep: %+v, want Failed by timeout", exit)
	}
}
