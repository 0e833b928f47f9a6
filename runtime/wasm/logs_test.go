package wasm_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/runtime"
	"github.com/pandodc/pando/runtime/tasklog"
	"github.com/pandodc/pando/runtime/wasm"
)

// storeRuntime is a runtime keeping logs in a tasklog.Store.
func storeRuntime(t *testing.T, maxOutput uint64) *wasm.Runtime {
	t.Helper()
	store, err := tasklog.Open(tasklog.Config{Dir: filepath.Join(t.TempDir(), "logs")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return newRuntime(t, wasm.Config{Logs: store, MaxOutputBytes: maxOutput})
}

func runLogged(t *testing.T, rt *wasm.Runtime, spec runtime.Spec) (runtime.Exit, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	task, err := rt.Launch(ctx, spec)
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	exit, err := task.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	out, err := rt.ReadLog(spec, "stdout")
	if err != nil {
		t.Fatal(err)
	}
	errOut, err := rt.ReadLog(spec, "stderr")
	if err != nil {
		t.Fatal(err)
	}
	return exit, string(out), string(errOut)
}

// A task that writes a line leaves no sandbox: its line is in the store,
// on disk once the task has ended, and a task id run again shows its own.
func TestSmallLogsLeaveNoSandbox(t *testing.T) {
	rt := storeRuntime(t, 0)
	sandbox := filepath.Join(t.TempDir(), "fw", "t1")
	spec := runtime.Spec{TaskID: "t1", FrameworkID: "fw", Sandbox: sandbox, Artifact: wasmbuild.MustBuild(t, "tinyline")}
	exit, out, errOut := runLogged(t, rt, spec)
	if exit.Outcome != runtime.Finished || out != "ok\n" || errOut != "" {
		t.Fatalf("exit %+v, stdout %q, stderr %q; want finished, \"ok\\n\", nothing", exit, out, errOut)
	}
	if _, err := os.Lstat(sandbox); err == nil {
		t.Error("the task made a sandbox directory; it only wrote a line")
	}
	hello := runtime.Spec{TaskID: "t1", FrameworkID: "fw", Sandbox: sandbox, Artifact: wasmbuild.MustBuild(t, "hello"),
		Env: map[string]string{"PANDO_INSTANCE": "2", "PANDO_TASK_ID": "t1"}}
	if _, out, _ := runLogged(t, rt, hello); out != "hello from instance 2 of task t1\n" {
		t.Errorf("stdout of the task run again = %q, want only its own", out)
	}
}

// Megabytes of output stream to the sandbox's file, whole.
func TestLargeLogStreamsToTheSandbox(t *testing.T) {
	rt := storeRuntime(t, 0)
	sandbox := filepath.Join(t.TempDir(), "fw", "big")
	spec := runtime.Spec{TaskID: "big", FrameworkID: "fw", Sandbox: sandbox,
		Artifact: wasmbuild.MustBuildProbe(t, "wat"), Args: []string{"stdout", "3145728"}}
	exit, out, _ := runLogged(t, rt, spec)
	if exit.Outcome != runtime.Finished {
		t.Fatalf("exit %+v", exit)
	}
	if want := pattern(3 << 20); !bytes.Equal([]byte(out), want) {
		t.Errorf("stdout: %d bytes, want %d of the probe's pattern", len(out), len(want))
	}
	fi, err := os.Stat(filepath.Join(sandbox, "stdout"))
	if err != nil || fi.Size() < 3<<20-64<<10 {
		t.Errorf("the sandbox's stdout: %v, %v; want most of the output there", fi, err)
	}
}

// A task that writes past its output limit is stopped and told why; what
// fitted is kept.
func TestOutputLimit(t *testing.T) {
	rt := storeRuntime(t, 100<<10)
	spec := runtime.Spec{TaskID: "loud", FrameworkID: "fw", Sandbox: filepath.Join(t.TempDir(), "fw", "loud"),
		Artifact: wasmbuild.MustBuildProbe(t, "wat"), Args: []string{"stdout", "1048576"}}
	exit, out, _ := runLogged(t, rt, spec)
	if exit.Outcome != runtime.Failed || exit.Cause != runtime.CauseOutputLimit || !strings.Contains(exit.Message, "output limit of 100KiB") {
		t.Fatalf("exit %+v; want failed by the output limit", exit)
	}
	if len(out) != 100<<10 {
		t.Errorf("kept %d bytes of stdout, want the 100KiB that fitted", len(out))
	}
}
