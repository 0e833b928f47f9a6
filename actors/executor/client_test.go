package executor

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/internal/remoting"
	pruntime "github.com/pandodc/pando/runtime"
	"github.com/pandodc/pando/runtime/wasm"
)

// serveEnv makes the test binary, re-executed, an executor process: the
// tests drive a real process, as the agent does `pando executor`.
const serveEnv = "PANDO_EXECUTOR_TEST_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) == "1" {
		rt, err := wasm.New(wasm.Config{})
		if err == nil {
			err = Serve(context.Background(), ServeOptions{Listen: "127.0.0.1:0", Runtime: rt, Ready: os.Stdout})
		}
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// agentSystem is the actor system the agent sides share, listening on
// 127.0.0.1. (One per test process: every remoting start sets grpc's
// global logger, which races with a running one's goroutines.)
func agentSystem(t *testing.T) *actor.ActorSystem {
	t.Helper()
	system := remoting.NewSystem(nil)
	r, err := remoting.Listen(system, "127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Shutdown(false); system.Shutdown() })
	return system
}

// agentSide is one run of an agent: a client attached to the executor
// recorded in dir.
func agentSide(t *testing.T, system *actor.ActorSystem, dir string) (*Client, []Recovered) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c, recovered, err := Open(context.Background(), ClientConfig{
		System: system, Record: filepath.Join(dir, "executor"), LogFile: filepath.Join(dir, "executor.log"),
		Command: func() *exec.Cmd {
			cmd := exec.Command(self, "-test.run=^$")
			cmd.Env = append(os.Environ(), serveEnv+"=1")
			return cmd
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if pid := c.PID(); pid != 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return c, recovered
}

func launchNap(t *testing.T, c *Client, dir, id, ms string) pruntime.Task {
	t.Helper()
	task, err := c.LaunchRecorded(context.Background(), pruntime.Spec{
		FrameworkID: "fw", TaskID: id, Sandbox: filepath.Join(dir, id), Artifact: wasmbuild.MustBuild(t, "doze"), Args: []string{ms},
	}, []byte("record of "+id))
	if err != nil {
		t.Fatalf("launching %s: %v", id, err)
	}
	return task
}

func wait(t *testing.T, task pruntime.Task) (pruntime.Exit, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exit, err := task.Wait(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("the task did not end within 30s")
	}
	return exit, err
}

// TestTasksOutliveTheAgentAndTheirEndsAreKept: tasks run in the executor
// process; the agent side goes away without a word (as after a SIGKILL)
// while one task ends; the next agent side attaches to the same process
// and gets back the running task and the ended one with its exit, until
// it forgets it.
func TestTasksOutliveTheAgentAndTheirEndsAreKept(t *testing.T) {
	dir := t.TempDir()
	system := agentSystem(t)
	first, recovered := agentSide(t, system, dir)
	if len(recovered) != 0 {
		t.Fatalf("a fresh executor handed back %d tasks", len(recovered))
	}
	pid := first.PID()
	quick := launchNap(t, first, dir, "quick", "0")
	if exit, err := wait(t, quick); err != nil || exit.Outcome != pruntime.Finished {
		t.Fatalf("quick: %+v, %v; want finished", exit, err)
	}
	first.Forget("fw", "quick")
	launchNap(t, first, dir, "long", "3600000")
	launchNap(t, first, dir, "short", "300")
	killed := launchNap(t, first, dir, "killed", "3600000")
	if err := killed.Kill(context.Background()); err != nil {
		t.Fatal(err)
	}
	if exit, _ := wait(t, killed); exit.Outcome != pruntime.Killed {
		t.Fatalf("killed: %+v, want killed", exit)
	}
	// The agent dies: its client actor goes without a word, nobody
	// forgets "killed", and exits pushed meanwhile reach no one.
	if err := system.Root.StopFuture(first.self).Wait(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if data, _ := os.ReadFile(filepath.Join(dir, "short", "stdout")); string(data) == "awake\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("short did not end while no agent was attached")
		}
		time.Sleep(20 * time.Millisecond)
	}

	second, recovered := agentSide(t, system, dir)
	if second.PID() != pid {
		t.Fatalf("the second agent side runs executor %d, want the same process %d", second.PID(), pid)
	}
	got := map[string]Recovered{}
	for _, r := range recovered {
		got[string(r.Record)] = r
	}
	if len(got) != 3 || got["record of long"].Task == nil || got["record of short"].Task == nil || got["record of killed"].Task == nil {
		t.Fatalf("recovered %v, want long, short and killed (quick was forgotten)", got)
	}
	if exit, err := wait(t, got["record of short"].Task); err != nil || exit.Outcome != pruntime.Finished || exit.Code != 0 {
		t.Errorf("short after the re-attach: %+v, %v; want finished, code 0", exit, err)
	}
	if exit, err := wait(t, got["record of killed"].Task); err != nil || exit.Outcome != pruntime.Killed {
		t.Errorf("killed after the re-attach: %+v, %v; want killed", exit, err)
	}
	long := got["record of long"].Task
	if st, err := long.Stats(context.Background()); err != nil || st.MemoryLimit == 0 {
		t.Errorf("stats of long: %+v, %v", st, err)
	}
	second.Forget("fw", "short")
	second.Forget("fw", "killed")
	second.Forget("fw", "long") // still running: not forgotten

	// SIGKILL of the executor: its running task ends with ErrCrashed, and
	// the next launch starts another executor.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, err := wait(t, long); !errors.Is(err, ErrCrashed) {
		t.Fatalf("long after its executor was killed: %v, want ErrCrashed", err)
	}
	again := launchNap(t, second, dir, "again", "0")
	if second.PID() == pid || second.PID() == 0 {
		t.Fatalf("after the crash the executor is %d, want a new process (was %d)", second.PID(), pid)
	}
	if exit, err := wait(t, again); err != nil || exit.Outcome != pruntime.Finished {
		t.Fatalf("again: %+v, %v; want finished", exit, err)
	}
	if err := second.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
