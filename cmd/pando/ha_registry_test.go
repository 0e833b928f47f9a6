package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/pandodc/pando/actors/election/consultest"
	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/sdk/client"
)

// registryAgent is the part of an agent's record in the registry
// (actors/registry) that the tests read.
type registryAgent struct {
	ID               string `json:"id"`
	Hostname         string `json:"hostname"`
	UnreachableSince int64  `json:"unreachable_since_ms"`
	Removed          bool   `json:"removed"`
}

// registryAgents reads the agents the leader keeps in Consul, by id.
func registryAgents(c *api.Client) (map[string]registryAgent, error) {
	pairs, _, err := c.KV().List("pando/registry/agents/", nil)
	if err != nil {
		return nil, err
	}
	out := map[string]registryAgent{}
	for _, p := range pairs {
		var a registryAgent
		if err := json.Unmarshal(p.Value, &a); err != nil {
			return nil, fmt.Errorf("%s: %w", p.Key, err)
		}
		out[a.ID] = a
	}
	return out, nil
}

// TestHAFailoverWithAnAgentGone: the leader keeps its agents in the
// registry; SIGKILL of the leader and of one agent at once: the new leader
// awaits both agents from the registry, the live one re-registers, the
// dead one is marked unreachable after the re-registration window and
// removed after the unreachable timeout (the registry says so); the batch
// framework relaunches its tasks on the live agent, each instance once;
// and the removed agent, started again, registers anew under a new id.
func TestHAFailoverWithAnAgentGone(t *testing.T) {
	skipIfShort(t)
	consul := consultest.Start(t)
	bin := buildPando(t)
	l := newLab(t)
	masters := startHAMasters(l, bin, consul.Addr, 3,
		"--agent-reregistration-window", "2s", "--agent-unreachable-timeout", "4s")
	leader, epoch := leaderAmong(l, masters, 60*time.Second)
	var urls []string
	for _, m := range masters {
		urls = append(urls, m.url)
	}
	startAgent := func(name, workDir, cpus string) *proc {
		return l.start("pando "+name, bin, "agent", "--master", strings.Join(urls, ","), "--hostname", name,
			"--http", freeAddr(t), "--remoting", freeAddr(t), "--work-dir", workDir,
			"--resources", "cpus:"+cpus+";mem:1GiB", "--log-level", "info")
	}
	// The job's four tasks all go to agent-2, the only agent at first.
	doomedDir := t.TempDir()
	doomed := startAgent("agent-2", doomedDir, "2")
	waitAgents(l, leader, 1)
	c, err := client.New(leader.url)
	if err != nil {
		t.Fatal(err)
	}
	cl := &cluster{lab: l, bin: bin, url: leader.url, c: c}
	nap := wasmbuild.MustBuild(t, "nap")
	job := cl.submit(nap, "-n", "4", "--cpus", "0.5", "--mem", "16MiB")
	l.waitFor(30*time.Second, "four RUNNING tasks", func() (bool, string) {
		_, why := runningTasks(leader, job, 4)
		return why == "", why
	})
	startAgent("agent-1", t.TempDir(), "3")
	waitAgents(l, leader, 2)
	// agent-2 is full: a one-task job runs on agent-1, which so fetches
	// the module while its master lives. (After the failover it could
	// fetch it from a stand-by's mirror too: TestHAStandbysMirrorArtifacts.)
	warm := cl.submit(nap, "-n", "1", "--cpus", "0.5", "--mem", "16MiB")
	l.waitFor(30*time.Second, "the warm-up task RUNNING", func() (bool, string) {
		_, why := runningTasks(leader, warm, 1)
		return why == "", why
	})

	var doomedID string
	l.waitFor(10*time.Second, "both agents in the registry", func() (bool, string) {
		agents, err := registryAgents(consul.Client)
		if err != nil {
			return false, err.Error()
		}
		for _, a := range agents {
			if a.Hostname == "agent-2" {
				doomedID = a.ID
			}
		}
		return len(agents) == 2 && doomedID != "", fmt.Sprintf("%+v", agents)
	})

	// The batch framework is in the registry too, with its failover timeout.
	fwID := ""
	if tasks, why := runningTasks(leader, job, 4); why == "" {
		fwID = tasks[0].FrameworkID
	}
	l.waitFor(10*time.Second, "the batch framework in the registry", func() (bool, string) {
		pair, _, err := consul.Client.KV().Get("pando/registry/master/frameworks/"+fwID, nil)
		if err != nil || pair == nil {
			return false, fmt.Sprintf("%s: %v", fwID, err)
		}
		var rec struct {
			Name            string `json:"name"`
			FailoverTimeout int64  `json:"failover_timeout_ms"`
		}
		if err := json.Unmarshal(pair.Value, &rec); err != nil {
			return false, err.Error()
		}
		return rec.Name == "batch" && rec.FailoverTimeout > 0, string(pair.Value)
	})

	killedAt := time.Now()
	doomed.kill()
	leader.proc.kill()
	var live []*haMaster
	for _, m := range masters {
		if m != leader {
			live = append(live, m)
		}
	}
	next, _, serving := newLeaderServing(l, live, epoch, killedAt)
	waitAgents(l, next, 1)
	t.Logf("%s serves %s after the kill; agent-1 re-registered after %s", next.id, serving.Round(time.Millisecond), time.Since(killedAt).Round(time.Millisecond))

	sawUnreachable := false
	l.waitFor(30*time.Second, "agent-2 removed in the registry", func() (bool, string) {
		agents, err := registryAgents(consul.Client)
		if err != nil {
			return false, err.Error()
		}
		a := agents[doomedID]
		sawUnreachable = sawUnreachable || a.UnreachableSince != 0
		return a.Removed, fmt.Sprintf("%+v", a)
	})
	removed := time.Since(killedAt)
	if !sawUnreachable {
		t.Logf("agent-2 went from admitted to removed between two reads: its unreachable record was not seen")
	}
	t.Logf("agent-2 removed %s after the kill", removed.Round(time.Millisecond))

	// The job's four instances run again on agent-1, each once: the
	// framework (partition-aware) heard UNREACHABLE, then, reconciling
	// again, that the removed agent's tasks are lost.
	cl.url = next.url
	if cl.c, err = client.New(next.url); err != nil {
		t.Fatal(err)
	}
	mc, _ := client.New(next.url)
	l.waitFor(60*time.Second, "the job's four instances RUNNING on agent-1, each once", func() (bool, string) {
		tasks, err := call(func(ctx context.Context) ([]client.Task, error) {
			return mc.Tasks(ctx, url.Values{"prefix": {job + "."}})
		})
		if err != nil {
			return false, err.Error()
		}
		perInstance := map[string]int{}
		for _, task := range tasks {
			if task.State != "TASK_RUNNING" || task.AgentID == doomedID {
				return false, fmt.Sprintf("%+v", tasks)
			}
			perInstance[strings.Split(task.ID, ".")[1]]++
		}
		if len(tasks) == 4 && len(perInstance) == 4 {
			return true, ""
		}
		j, _ := cl.job(job)
		return false, fmt.Sprintf("tasks %+v; job failures %+v", tasks, j.Failures)
	})
	t.Logf("the job's four instances RUNNING on agent-1 %s after the kill", time.Since(killedAt).Round(time.Millisecond))
	if j, err := cl.job(job); err != nil || j.Running != 4 || j.LostRetried != 4 || j.Failed != 0 {
		t.Errorf("the job: %+v, %v; want 4 running after 4 lost relaunches", j, err)
	}

	// agent-2 comes back with its old id: it registers anew.
	startAgent("agent-2", doomedDir, "2")
	waitAgents(l, next, 2)
	agents, err := call(mc.Agents)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range agents {
		if a.Hostname == "agent-2" && a.ID == doomedID {
			t.Errorf("agent-2 came back under its removed id %s", doomedID)
		}
	}
}
