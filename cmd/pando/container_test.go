package main_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/pandodc/pando/runtime/container"
	"github.com/pandodc/pando/runtime/container/containerdtest"
	"github.com/pandodc/pando/sdk/client"
)

// containerPIDs lists the pids of the tasks in Pando's containerd
// namespace, by container id.
func containerPIDs(t *testing.T, address string) map[string]uint32 {
	t.Helper()
	c, err := containerd.New(address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), container.DefaultNamespace)
	ctrs, err := c.Containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pids := map[string]uint32{}
	for _, ctr := range ctrs {
		task, err := ctr.Task(ctx, nil)
		if err != nil {
			continue
		}
		pids[ctr.ID()] = task.Pid()
	}
	return pids
}

// TestAgentRestartKeepsContainersRunning: container tasks of a batch job
// run on an agent; the agent is killed with SIGKILL and started again on
// the same work dir: it takes the same containers back (same processes,
// nothing restarted), the master still has them RUNNING on the same agent,
// and they end as asked when the job is killed.
func TestAgentRestartKeepsContainersRunning(t *testing.T) {
	skipIfShort(t)
	ctd := containerdtest.Start(t)
	bin := buildPando(t)
	l := newLab(t)
	httpAddr := freeAddr(t)
	master := "http://" + httpAddr
	l.start("pando master", bin, "master", "--http", httpAddr, "--remoting", freeAddr(t),
		"--data-dir", t.TempDir(), "--log-level", "info")
	workDir := t.TempDir()
	agentArgs := []string{"agent", "--master", master, "--hostname", "agent-1", "--containerd", ctd.Address,
		"--work-dir", workDir, "--resources", "cpus:2;mem:1GiB", "--log-level", "info"}
	startAgent := func() *proc {
		return l.start("pando agent", bin, append(agentArgs, "--http", freeAddr(t), "--remoting", freeAddr(t))...)
	}
	agent := startAgent()
	c, err := client.New(master)
	if err != nil {
		t.Fatal(err)
	}
	var agentID string
	l.waitFor(30*time.Second, "the agent to register with containers", func() (bool, string) {
		agents, err := call(c.Agents)
		if err != nil || len(agents) != 1 || !agents[0].Active {
			return false, fmt.Sprintf("%+v %v", agents, err)
		}
		agentID = agents[0].ID
		return agents[0].Attributes["runtimes"] == "wasm,container", fmt.Sprintf("attributes %v", agents[0].Attributes)
	})

	tarball := containerdtest.BusyboxTarball(t)
	if r := pando(t, bin, master, "image", "import", tarball); r.code != 0 || !strings.Contains(r.stdout, "busybox:latest") {
		l.fatalf("pando image import: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	cl := &cluster{lab: l, bin: bin, url: master, c: c}
	job := cl.submit("--image", "busybox", "-n", "3", "--cpus", "0.1", "--mem", "32MiB", "--", "sleep", "3600")
	running := func() (bool, string) {
		tasks, err := cl.tasks(url.Values{"prefix": {job + "."}})
		if err != nil {
			return false, err.Error()
		}
		n := 0
		for _, task := range tasks {
			if task.State == "TASK_RUNNING" && task.AgentID == agentID {
				n++
			}
		}
		return n == 3, fmt.Sprintf("%d of 3 RUNNING on %s: %+v", n, agentID, tasks)
	}
	l.waitFor(60*time.Second, "three container tasks RUNNING", running)
	before := containerPIDs(t, ctd.Address)
	if len(before) != 3 {
		t.Fatalf("containerd runs %v, want 3 containers", before)
	}

	agent.kill()
	agent = startAgent()
	l.waitFor(30*time.Second, "the restarted agent to take its tasks back", func() (bool, string) {
		if agent.exited() {
			l.fatalf("the restarted agent exited: %v", agent.err)
		}
		if !strings.Contains(agent.out.String(), "took back the tasks of its previous run") {
			return false, "not yet"
		}
		return running()
	})
	if after := containerPIDs(t, ctd.Address); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("containers before the restart %v, after %v: want the same ones, not restarted", before, after)
	}
	if j, err := cl.job(job); err != nil || j.Running != 3 || j.Failed != 0 {
		t.Errorf("job after the restart: %+v, %v; want 3 running, none failed or relaunched", j, err)
	}

	if r := cl.pando("kill", job); r.code != 0 {
		l.fatalf("pando kill %s: exit %d, %s", job, r.code, r.stderr)
	}
	j := cl.waitJobDone(job, 60*time.Second)
	if j.Killed != 3 {
		t.Errorf("after the kill: %+v, want 3 killed", j)
	}
	l.waitFor(30*time.Second, "containerd to hold no containers", func() (bool, string) {
		left := containerPIDs(t, ctd.Address)
		return len(left) == 0, fmt.Sprintf("%v", left)
	})
}
