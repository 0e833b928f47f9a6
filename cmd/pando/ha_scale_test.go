package main_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/actors/election/consultest"
	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/sdk/client"
)

// TestHAFailoverThousandTasks is the HA issue's big test: three masters
// against a real Consul, three agents, the batch framework and 1,000
// long-running WASM tasks (examples/wasm/nap). SIGKILL of the leader: a new
// leader is elected, every agent re-registers with it, every task is
// reconciled RUNNING under the same framework id, none is lost and none is
// launched twice (every instance keeps its one task, attempt 0). It logs
// the time from the kill to a new leader serving its API and to all agents
// re-registered.
//
// PANDO_SOAK=1 (the `soak` task) makes it longer: PANDO_SOAK_TASKS tasks
// (default 5,000) and PANDO_SOAK_FAILOVERS successive kills of the leader
// (default 3, each killed master started again as a stand-by).
func TestHAFailoverThousandTasks(t *testing.T) {
	skipIfShort(t)
	tasks, failovers := 1000, 1
	if os.Getenv("PANDO_SOAK") == "1" {
		tasks, failovers = envInt(t, "PANDO_SOAK_TASKS", 5000), envInt(t, "PANDO_SOAK_FAILOVERS", 3)
	}
	consul := consultest.Start(t)
	bin := buildPando(t)
	l := newLab(t)
	masters := startHAMasters(l, bin, consul.Addr, 3)
	leader, epoch := leaderAmong(l, masters, 60*time.Second)

	var urls []string
	for _, m := range masters {
		urls = append(urls, m.url)
	}
	const agents = 3
	var agentProcs []*proc
	// Each agent takes a third of the tasks and a little room: nap asks
	// for no CPU to speak of, and its memory cap is only a cap.
	perAgent := (tasks + agents - 1) / agents
	res := fmt.Sprintf("cpus:%d;mem:%dMiB", perAgent/100+2, perAgent*4+256)
	for i := range agents {
		name := fmt.Sprintf("agent-%d", i+1)
		agentProcs = append(agentProcs, l.start("pando "+name, bin, "agent", "--master", strings.Join(urls, ","), "--hostname", name,
			"--http", freeAddr(t), "--remoting", freeAddr(t), "--work-dir", t.TempDir(),
			"--resources", res, "--log-level", "warn"))
	}
	waitAgents(l, leader, agents)

	c, err := client.New(leader.url)
	if err != nil {
		t.Fatal(err)
	}
	cl := &cluster{lab: l, bin: bin, url: leader.url, c: c}
	started := time.Now()
	job := cl.submit(wasmbuild.MustBuild(t, "nap"), "-n", strconv.Itoa(tasks), "--cpus", "0.01", "--mem", "4MiB")
	var before []client.Task
	l.waitFor(120*time.Second, fmt.Sprintf("%d RUNNING tasks", tasks), func() (bool, string) {
		var why string
		before, why = runningTasks(leader, job, tasks)
		return why == "", why
	})
	t.Logf("%d tasks RUNNING on %d agents %s after the submission", tasks, agents, time.Since(started).Round(time.Millisecond))
	frameworkID := before[0].FrameworkID
	for _, p := range agentProcs {
		t.Logf("%s: %s resident with its %d tasks", p.name, residentSize(p), perAgent)
	}

	killed := map[*haMaster]bool{}
	for round := range failovers {
		killedAt := time.Now()
		leader.proc.kill()
		killed[leader] = true
		var live []*haMaster
		for _, m := range masters {
			if !m.current().exited() {
				live = append(live, m)
			}
		}
		next, nextEpoch, serving := newLeaderServing(l, live, epoch, killedAt)
		waitAgents(l, next, agents)
		reregistered := time.Since(killedAt)
		var after []client.Task
		l.waitFor(60*time.Second, fmt.Sprintf("the %d tasks RUNNING on the new leader", tasks), func() (bool, string) {
			var why string
			after, why = runningTasks(next, job, tasks)
			return why == "", why
		})
		reconciled := time.Since(killedAt)
		t.Logf("failover %d: SIGKILL of the leader %s; %s serves at epoch %d after %s; all %d agents re-registered after %s; all %d tasks RUNNING after %s",
			round+1, leader.id, next.id, nextEpoch, serving.Round(time.Millisecond), agents,
			reregistered.Round(time.Millisecond), tasks, reconciled.Round(time.Millisecond))
		sameTasks(t, before, after, frameworkID)

		// The batch framework of the new leader reconciled the job: every
		// instance counted running, none failed, lost or retried.
		cl.url = next.url
		if cl.c, err = client.New(next.url); err != nil {
			t.Fatal(err)
		}
		l.waitFor(60*time.Second, "the job to count every instance running", func() (bool, string) {
			j, err := cl.job(job)
			if err != nil {
				return false, err.Error()
			}
			ok := j.Running == tasks && j.Failed == 0 && j.Retried == 0 && j.LostRetried == 0 && j.Pending == 0 && j.Staging == 0
			return ok, fmt.Sprintf("running %d pending %d staging %d failed %d retried %d lost-retried %d",
				j.Running, j.Pending, j.Staging, j.Failed, j.Retried, j.LostRetried)
		})
		if round+1 < failovers {
			// The killed master comes back as a stand-by for the next round.
			leader.proc = restartMaster(l, bin, consul.Addr, leader)
		}
		leader, epoch = next, nextEpoch
	}
}

// newLeaderServing polls the live masters until one leads at an epoch
// above epoch and its API answers with that epoch; it returns that master,
// its epoch and the time from killedAt.
func newLeaderServing(l *lab, live []*haMaster, epoch uint64, killedAt time.Time) (*haMaster, uint64, time.Duration) {
	l.t.Helper()
	deadline := killedAt.Add(60 * time.Second)
	last := "no answer yet"
	for time.Now().Before(deadline) {
		for _, m := range live {
			st, ok := m.state()
			if !ok || !st.Leader || st.Epoch <= epoch {
				continue
			}
			mc, err := client.New(m.url)
			if err != nil {
				l.t.Fatal(err)
			}
			info, err := call(mc.Master)
			if err != nil {
				last = fmt.Sprintf("%s leads but its API says %v", m.id, err)
				continue
			}
			if info.Epoch == st.Epoch {
				return m, st.Epoch, time.Since(killedAt)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.fatalf("no new leader served within 60s of the kill: %s", last)
	return nil, 0, 0
}

// runningTasks lists every task (terminal ones too) of job on m, and says
// what is wrong unless there are exactly want, all RUNNING.
func runningTasks(m *haMaster, job string, want int) ([]client.Task, string) {
	mc, _ := client.New(m.url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tasks, err := mc.Tasks(ctx, url.Values{"prefix": {job + "."}, "all": {"1"}, "limit": {strconv.Itoa(2*want + 10)}})
	if err != nil {
		return nil, err.Error()
	}
	states := map[string]int{}
	for _, task := range tasks {
		states[task.State]++
	}
	if len(tasks) != want || states["TASK_RUNNING"] != want {
		return nil, fmt.Sprintf("%d tasks of %s on %s, by state %v; want %d RUNNING", len(tasks), job, m.id, states, want)
	}
	return tasks, ""
}

// sameTasks checks that after is before: the same task ids (attempt 0 of
// each instance: launched once), under one framework id, none LOST.
func sameTasks(t *testing.T, before, after []client.Task, frameworkID string) {
	t.Helper()
	ids := func(ts []client.Task) []string {
		out := make([]string, 0, len(ts))
		for _, task := range ts {
			out = append(out, task.ID)
		}
		sort.Strings(out)
		return out
	}
	b, a := ids(before), ids(after)
	if strings.Join(b, ",") != strings.Join(a, ",") {
		t.Fatalf("the tasks changed across the failover: %d before, %d after", len(b), len(a))
	}
	perInstance := map[string]int{}
	for _, task := range after {
		if task.FrameworkID != frameworkID {
			t.Errorf("task %s under framework %s after the failover, want %s", task.ID, task.FrameworkID, frameworkID)
		}
		// Batch task ids are <job>.<instance>.<attempt>.
		parts := strings.Split(task.ID, ".")
		if len(parts) < 3 || parts[len(parts)-1] != "0" {
			t.Errorf("task %s is not the first attempt of its instance: launched again", task.ID)
			continue
		}
		perInstance[strings.Join(parts[:len(parts)-1], ".")]++
	}
	for instance, n := range perInstance {
		if n != 1 {
			t.Errorf("instance %s has %d tasks, want 1", instance, n)
		}
	}
}

// restartMaster starts a killed master again, same id and ports, as a
// stand-by.
func restartMaster(l *lab, bin, consul string, m *haMaster) *proc {
	u, err := url.Parse(m.url)
	if err != nil {
		l.t.Fatal(err)
	}
	return l.start("pando master "+m.id+" again", bin, "master", "--consul", consul, "--id", m.id,
		"--http", u.Host, "--remoting", freeAddr(l.t), "--data-dir", l.t.TempDir(), "--log-level", "info")
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// residentSize reads a process's resident memory (VmRSS) from /proc.
func residentSize(p *proc) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
