package main_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/sdk/client"
)

// TestLoneMasterRestartKeepsItsRegistry: a master without Consul keeps its
// registry in its data dir. Restarted there, it knows its agent and the
// roles' weights: the agent re-registers with its running tasks, which go
// on (none restarted or lost), and the weights set before still hold.
func TestLoneMasterRestartKeepsItsRegistry(t *testing.T) {
	skipIfShort(t)
	bin := buildPando(t)
	sleep := wasmbuild.MustBuild(t, "sleep")
	dataDir, httpAddr, remoting := t.TempDir(), freeAddr(t), freeAddr(t)
	masterArgs := []string{"--data-dir", dataDir, "--http", httpAddr, "--remoting", remoting}
	cl := startCluster(t, bin, []string{"cpus:2;mem:1024"}, masterArgs...)
	agentID := cl.agentIDs()["agent-1"]

	for _, bad := range []struct{ arg, want string }{
		{"batch=0", "want a positive number"},
		{"batch", "is not ROLE=WEIGHT"},
		{"bad role=2", "invalid character"},
	} {
		if r := cl.pando("weights", bad.arg); r.code == 0 || !strings.Contains(r.stderr, bad.want) {
			t.Errorf("pando weights %s: exit %d, stderr %q; want an error with %q", bad.arg, r.code, r.stderr, bad.want)
		}
	}
	if r := cl.pando("weights", "batch=3", "eng=0.5"); r.code != 0 || !strings.Contains(r.stdout, "batch") || !strings.Contains(r.stdout, "eng") {
		cl.fatalf("pando weights batch=3 eng=0.5: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	job := cl.submit(sleep, "-n", "2", "--", "120s")
	running := cl.waitRunning(job, 2)

	if err := cl.master.stop(15 * time.Second); err != nil {
		cl.fatalf("%v", err)
	}
	t0 := time.Now()
	args := append([]string{"master", "--log-level", "info"}, masterArgs...)
	cl.master = cl.start("pando master (restarted)", bin, args...)
	cl.waitReady(cl.master, cl.url)
	cl.waitBuiltins(cl.url)
	if !strings.Contains(cl.master.out.String(), "agents=1") {
		t.Errorf("the restarted master did not say it read one agent from its registry:\n%s", cl.master.out)
	}
	cl.waitFor(30*time.Second, "the agent to re-register with the restarted master", func() (bool, string) {
		agents, err := call(cl.c.Agents)
		return err == nil && len(agents) == 1 && agents[0].ID == agentID && agents[0].Active && agents[0].Tasks == 2, fmt.Sprintf("%+v %v", agents, err)
	})
	t.Logf("agent re-registered %s after the master restarted", time.Since(t0).Round(time.Millisecond))
	after := cl.waitRunning(job, 2)
	for id := range running {
		if _, ok := after[id]; !ok {
			t.Errorf("task %s was running before the restart and is not after; running now: %v", id, after)
		}
	}
	if all := cl.jobTasks(job); len(all) != 2 {
		t.Errorf("job %s has %d tasks after the restart, want the same 2 (none relaunched): %v", job, len(all), all)
	}
	var weights []client.Weight
	cl.pandoJSON(&weights, "weights")
	if len(weights) != 2 || weights[0] != (client.Weight{Role: "batch", Weight: 3}) || weights[1] != (client.Weight{Role: "eng", Weight: 0.5}) {
		t.Errorf("weights after the restart: %+v, want batch 3 and eng 0.5", weights)
	}
	var roles []client.Role
	cl.pandoJSON(&roles, "roles")
	byName := map[string]client.Role{}
	for _, r := range roles {
		byName[r.Name] = r
	}
	// The built-in frameworks are in the default role, "*".
	if b, def := byName["batch"], byName["*"]; b.Weight != 3 || def.Weight != 1 || def.Frameworks < 1 || def.Share <= 0 {
		t.Errorf("pando roles after the restart: %+v, want batch of weight 3, and * with the frameworks and a share", roles)
	}
}

// waitRunning waits until n tasks of job are RUNNING and returns them.
func (cl *cluster) waitRunning(job string, n int) map[string]bool {
	cl.t.Helper()
	ids := map[string]bool{}
	cl.waitFor(30*time.Second, fmt.Sprintf("%d running tasks of %s", n, job), func() (bool, string) {
		tasks, err := cl.tasks(url.Values{"state": {"TASK_RUNNING"}})
		if err != nil {
			return false, err.Error()
		}
		clear(ids)
		for _, task := range tasks {
			if strings.HasPrefix(task.ID, job+".") {
				ids[task.ID] = true
			}
		}
		return len(ids) == n, fmt.Sprintf("%+v", tasks)
	})
	return ids
}
