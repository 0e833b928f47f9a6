package agent

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	procexec "github.com/pandodc/pando/actors/executor"
	"github.com/pandodc/pando/internal/remoting"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/runtime/wasm"
)

// serveEnv makes the test binary, re-executed, an executor process, as
// the agent runs `pando executor`.
const serveEnv = "PANDO_AGENT_TEST_EXECUTOR"

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) == "1" {
		rt, err := wasm.New(wasm.Config{})
		if err == nil {
			err = procexec.Serve(context.Background(), procexec.ServeOptions{Listen: "127.0.0.1:0", Runtime: rt, Ready: os.Stdout})
		}
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// openExecutor attaches to the executor process recorded in dir, or
// starts one.
func openExecutor(t *testing.T, system *actor.ActorSystem, dir string) (*procexec.Client, []procexec.Recovered) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c, kept, err := procexec.Open(context.Background(), procexec.ClientConfig{
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
	return c, kept
}

func states(sts []*kernelpb.TaskStatus) []kernelpb.TaskState {
	out := make([]kernelpb.TaskState, len(sts))
	for i, st := range sts {
		out[i] = st.GetState()
	}
	return out
}

// TestAgentTakesBackItsExecutorsTasks: WASM tasks run in an executor
// process; the agent goes away without ending them (as after a SIGKILL:
// its client lets go of the executor first) while one ends; a new agent
// with the same id attaches to the same executor: the running tasks go on
// (nothing launched again), the one that ended is reported FINISHED as it
// ended. Then the executor process is killed: its tasks are FAILED,
// EXECUTOR_CRASHED.
func TestAgentTakesBackItsExecutorsTasks(t *testing.T) {
	// One remoting system for the whole test binary: each remoting start
	// sets grpc's global logger, which races with a running one's.
	system := remoting.NewSystem(slog.New(slog.DiscardHandler))
	r, err := remoting.Listen(system, "127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Shutdown(false); system.Shutdown() })
	dir, sandboxes := t.TempDir(), t.TempDir()
	first, _ := openExecutor(t, system, dir)
	pid := first.PID()
	c := startTestClusterIn(t, system, "doze", Config{Runtimes: Runtimes{WASM: first}, SandboxRoot: sandboxes})
	long, _ := c.start(t, "long", 2) // doze without arguments: an hour
	c.args = []string{"500"}
	short, _ := c.start(t, "short", 1)
	waitUntil(t, "three tasks RUNNING", func() bool {
		return long.last()["long-0"].GetState() == kernelpb.TaskState_TASK_RUNNING &&
			long.last()["long-1"].GetState() == kernelpb.TaskState_TASK_RUNNING &&
			short.last()["short-0"].GetState() == kernelpb.TaskState_TASK_RUNNING
	})
	agentID := long.last()["long-0"].GetAgentId()

	first.Detach()
	if err := system.Root.StopFuture(actor.NewPID(system.Address(), ActorID)).Wait(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "short-0 to end with no agent", func() bool {
		ended := false
		_ = filepath.WalkDir(sandboxes, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.Name() == "stdout" && strings.Contains(path, "short-0") {
				data, _ := os.ReadFile(path)
				ended = string(data) == "awake\n"
			}
			return nil
		})
		return ended
	})

	second, kept := openExecutor(t, system, dir)
	if second.PID() != pid {
		t.Fatalf("the second agent attached to executor %d, want the same process %d", second.PID(), pid)
	}
	recovered := ExecutorTasks(context.Background(), kept, agentID, slog.New(slog.DiscardHandler))
	if len(recovered) != 3 {
		t.Fatalf("took back %d tasks, want 3", len(recovered))
	}
	cfg := Config{Runtimes: Runtimes{WASM: second}, SandboxRoot: sandboxes, Recovered: recovered}
	cfg.Kernel.AgentID = agentID
	c.spawnAgent(t, cfg)
	waitUntil(t, "short-0 FINISHED", func() bool { return short.last()["short-0"].GetState() == kernelpb.TaskState_TASK_FINISHED })
	if st := short.last()["short-0"]; st.GetExitCode() != 0 || st.GetAgentId() != agentID {
		t.Errorf("short-0 ended %v, exit %d, on %s; want FINISHED, 0, on %s", st.GetState(), st.GetExitCode(), st.GetAgentId(), agentID)
	}
	// The tasks taken back are live, with their module: the agent's
	// artifact cache keeps it.
	res, err := system.Root.RequestFuture(actor.NewPID(system.Address(), ActorID), LiveTasks{}, 10*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	var live []string
	for _, task := range res.(*LiveTasksReply).Tasks {
		if task.GetWasm().GetModule() != c.digest {
			t.Errorf("live task %s names module %q, want %s", task.GetTaskId(), task.GetWasm().GetModule(), c.digest)
		}
		live = append(live, task.GetTaskId())
	}
	if slices.Sort(live); !slices.Equal(live, []string{"long-0", "long-1"}) {
		t.Errorf("the agent says %v live, want the long tasks it took back", live)
	}

	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the long tasks to end", func() bool {
		return kernelpb.IsTerminal(long.last()["long-0"].GetState()) && kernelpb.IsTerminal(long.last()["long-1"].GetState())
	})
	long.mu.Lock()
	defer long.mu.Unlock()
	for _, id := range []string{"long-0", "long-1"} {
		sts := long.updates[id]
		st := sts[len(sts)-1]
		if st.GetState() != kernelpb.TaskState_TASK_FAILED || st.GetReason() != kernelpb.Reason_REASON_EXECUTOR_CRASHED || !strings.Contains(st.GetMessage(), "executor process") {
			t.Errorf("%s after its executor was killed: %v %v %q, want FAILED EXECUTOR_CRASHED naming the executor", id, st.GetState(), st.GetReason(), st.GetMessage())
		}
		starts := 0
		for _, s := range sts {
			if s.GetState() == kernelpb.TaskState_TASK_RUNNING {
				starts++
			}
		}
		if starts != 1 {
			t.Errorf("%s was started %d times (%v), want once", id, starts, states(sts))
		}
	}
}
