package main_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pandodc/pando/actors/node"
	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/runtime/container/containerdtest"
	"github.com/pandodc/pando/runtime/tasklog"
	"github.com/pandodc/pando/sdk/client"
)

// executorPID reads the executor process an agent recorded in its work
// dir (0: none).
func executorPID(t *testing.T, workDir string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(workDir, node.ExecutorRecord))
	if err != nil {
		return 0
	}
	var pid int
	if _, err := fmt.Sscan(string(data), &pid); err != nil {
		t.Fatalf("the executor record %q: %v", data, err)
	}
	return pid
}

// killExecutor kills the executor process recorded in the work dir of
// an agent started with args, if it still runs: one whose agent was
// killed and not started again waits for it (its orphan timeout) with its
// tasks running.
func killExecutor(t *testing.T, args []string) {
	for i, arg := range args {
		if arg != "--work-dir" || i+1 == len(args) {
			continue
		}
		pid := executorPID(t, args[i+1])
		if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); pid != 0 && err == nil && strings.Contains(string(cmdline), "executor") {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// awake counts the WASM tasks whose stdout says the doze module woke up.
func awake(workDir string) int {
	n := 0
	// Small logs are in the log segments the executor appends to...
	idx := tasklog.NewIndex(filepath.Join(workDir, "logs"))
	if err := idx.Refresh(); err == nil {
		for key := range idx.Keys() {
			var out bytes.Buffer
			if _, err := idx.CopyTo(&out, key, tasklog.Stdout, 0, 0); err == nil && out.String() == "awake\n" {
				n++
			}
		}
	}
	// ... larger ones in sandbox files.
	_ = filepath.WalkDir(filepath.Join(workDir, "sandboxes"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "stdout" {
			if data, _ := os.ReadFile(path); string(data) == "awake\n" {
				n++
			}
		}
		return nil
	})
	return n
}

// TestAgentRestartKeepsExecutorTasks: an agent runs WASM tasks in its
// executor process and a container task; it is killed with SIGKILL, two
// WASM tasks end while it is down, and it is started again on the same
// work dir. It takes every task back: the same tasks RUNNING in the same
// executor process and container, nothing relaunched, and the two that
// ended reported FINISHED as they ended. Then a SIGKILL of the executor
// process: its tasks are reported FAILED, EXECUTOR_CRASHED.
func TestAgentRestartKeepsExecutorTasks(t *testing.T) {
	skipIfShort(t)
	ctd := containerdtest.Start(t)
	bin := buildPando(t)
	cl := &cluster{lab: newLab(t), bin: bin}
	httpAddr := freeAddr(t)
	cl.url = "http://" + httpAddr
	cl.master = cl.start("pando master", bin, "master", "--http", httpAddr, "--remoting", freeAddr(t),
		"--data-dir", t.TempDir(), "--log-level", "info",
		// The agent stays down for seconds: not long enough to be unreachable.
		"--agent-max-missed-pings", "60")
	cl.waitReady(cl.master, cl.url)
	var err error
	if cl.c, err = client.New(cl.url); err != nil {
		t.Fatal(err)
	}
	workDir := t.TempDir()
	agentArgs := []string{"agent", "--master", cl.url, "--hostname", "agent-1", "--containerd", ctd.Address,
		"--work-dir", workDir, "--resources", "cpus:4;mem:2GiB", "--log-level", "info"}
	startAgent := func() *proc {
		return cl.start("pando agent", bin, append(agentArgs, "--http", freeAddr(t), "--remoting", freeAddr(t))...)
	}
	agent := startAgent()
	var agentID string
	cl.waitFor(30*time.Second, "the agent to register with containers", func() (bool, string) {
		agents, err := call(cl.c.Agents)
		if err != nil || len(agents) != 1 || !agents[0].Active {
			return false, fmt.Sprintf("%+v %v", agents, err)
		}
		agentID = agents[0].ID
		return agents[0].Attributes["runtimes"] == "wasm,container", fmt.Sprintf("attributes %v", agents[0].Attributes)
	})
	if r := pando(t, bin, cl.url, "image", "import", containerdtest.BusyboxTarball(t)); r.code != 0 {
		cl.fatalf("pando image import: exit %d, stderr %q", r.code, r.stderr)
	}

	doze := wasmbuild.MustBuild(t, "doze") // sleeps args[1] milliseconds
	long := cl.submit(doze, "-n", "2", "--cpus", "0.1", "--mem", "16MiB", "--", "3600000")
	short := cl.submit(doze, "-n", "2", "--cpus", "0.1", "--mem", "16MiB", "--", "3000")
	box := cl.submit("--image", "busybox", "-n", "1", "--cpus", "0.1", "--mem", "32MiB", "--", "sleep", "3600")
	// A container that ends while the agent is down, with a code of its own.
	boxShort := cl.submit("--image", "busybox", "-n", "1", "--cpus", "0.1", "--mem", "32MiB", "--", "sh", "-c", "sleep 4; exit 3")
	running := func(job string, n int) func() (bool, string) {
		return func() (bool, string) {
			tasks, err := cl.tasks(url.Values{"prefix": {job + "."}})
			if err != nil {
				return false, err.Error()
			}
			k := 0
			for _, task := range tasks {
				if task.State == "TASK_RUNNING" && task.AgentID == agentID {
					k++
				}
			}
			return k == n, fmt.Sprintf("%s: %d of %d RUNNING on %s: %+v", job, k, n, agentID, tasks)
		}
	}
	for _, job := range []string{long, short, box} {
		cl.waitFor(60*time.Second, job+" RUNNING", running(job, map[string]int{box: 1}[job]+2*btoi(job != box)))
	}
	cl.waitFor(60*time.Second, boxShort+" RUNNING", running(boxShort, 1))
	executor := executorPID(t, workDir)
	if executor == 0 || executor == agent.cmd.Process.Pid {
		cl.fatalf("the agent recorded executor pid %d (agent %d): want a process of its own", executor, agent.cmd.Process.Pid)
	}
	containers := containerPIDs(t, ctd.Address)

	agent.kill()
	cl.waitFor(30*time.Second, "the short tasks to end while the agent is down", func() (bool, string) {
		n := awake(workDir)
		alive := 0
		for _, pid := range containers {
			if syscall.Kill(int(pid), 0) == nil {
				alive++
			}
		}
		return n == 2 && alive == len(containers)-1, fmt.Sprintf("%d of 2 awake, %d of %d containers alive", n, alive, len(containers))
	})
	agent = startAgent()
	cl.waitFor(30*time.Second, "the restarted agent to take its tasks back", func() (bool, string) {
		if agent.exited() {
			cl.fatalf("the restarted agent exited: %v", agent.err)
		}
		if !strings.Contains(agent.out.String(), "took back the tasks of its previous run") {
			return false, "not yet"
		}
		if ok, why := running(long, 2)(); !ok {
			return false, why
		}
		return running(box, 1)()
	})
	if pid := executorPID(t, workDir); pid != executor || syscall.Kill(executor, 0) != nil {
		t.Errorf("executor after the restart: pid %d, want the same process %d, alive", pid, executor)
	}
	for id, pid := range containerPIDs(t, ctd.Address) {
		if containers[id] != pid {
			t.Errorf("container %s has process %d after the restart, %d before: want the same ones, none new", id, pid, containers[id])
		}
	}
	// The container that ended while the agent was down is reported as it
	// ended, not lost, and not run again.
	if j := cl.waitJobDone(boxShort, 30*time.Second); j.Failed != 1 || j.Retried != 0 || j.LostRetried != 0 {
		t.Errorf("the container job that ended while the agent was down: %+v, want 1 failed, nothing relaunched", j)
	}
	for id, task := range cl.jobTasks(boxShort) {
		if task.State != "TASK_FAILED" || task.ExitCode != 3 || task.Reason == "AGENT_RESTARTED" {
			t.Errorf("%s: %s %s (%s) exit %d, want FAILED with its exit code 3", id, task.State, task.Reason, task.Message, task.ExitCode)
		}
	}
	j := cl.waitJobDone(short, 30*time.Second)
	if j.Finished != 2 || j.Failed != 0 || j.Retried != 0 || j.LostRetried != 0 {
		t.Errorf("the job whose tasks ended while the agent was down: %+v, want 2 finished, nothing relaunched", j)
	}
	for id, task := range cl.jobTasks(short) {
		if task.State != "TASK_FINISHED" || task.ExitCode != 0 || task.AgentID != agentID {
			t.Errorf("%s: %s (%s) exit %d on %s, want FINISHED, exit 0, on %s", id, task.State, task.Message, task.ExitCode, task.AgentID, agentID)
		}
		// The executor wrote its log; the restarted agent serves it.
		if r := cl.pando("logs", id); r.code != 0 || r.stdout != "awake\n" {
			t.Errorf("pando logs %s: exit %d, stdout %q, stderr %q; want awake", id, r.code, r.stdout, r.stderr)
		}
	}
	for _, job := range []string{long, box} {
		if j, err := cl.job(job); err != nil || j.Running != map[string]int{box: 1}[job]+2*btoi(job != box) || j.Retried != 0 || j.LostRetried != 0 || j.Failed != 0 {
			t.Errorf("job %s after the restart: %+v, %v; want all running, none relaunched", job, j, err)
		}
	}

	// The executor process dies: its tasks are reported, not lost.
	if err := syscall.Kill(executor, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	j = cl.waitJobDone(long, 30*time.Second)
	if j.Failed != 2 {
		t.Errorf("the job whose executor was killed: %+v, want 2 failed", j)
	}
	for id, task := range cl.jobTasks(long) {
		if task.State != "TASK_FAILED" || task.Reason != "EXECUTOR_CRASHED" || !strings.Contains(task.Message, "executor") {
			t.Errorf("%s after its executor was killed: %s %s %q, want FAILED EXECUTOR_CRASHED with a message", id, task.State, task.Reason, task.Message)
		}
	}
	if r := cl.pando("kill", box); r.code != 0 {
		cl.fatalf("pando kill %s: exit %d, %s", box, r.code, r.stderr)
	}
	if j := cl.waitJobDone(box, 60*time.Second); j.Killed != 1 {
		t.Errorf("the container job after the kill: %+v, want 1 killed", j)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
