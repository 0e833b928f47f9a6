package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/frameworks/batch/batchapi"
	"github.com/pandodc/pando/sdk/client"
)

// These tests run a cluster of real processes on 127.0.0.1: `pando master`,
// several `pando agent`s and frameworks, each its own process on free ports,
// driven through the CLI and the master's HTTP API.

// cluster is a master process and its agent processes.
type cluster struct {
	*lab
	bin    string
	url    string
	c      *client.Client
	master *proc
	agents []*proc
}

// upload uploads a module with `pando upload` and returns its address.
func (cl *cluster) upload(path string) string {
	cl.t.Helper()
	r := pando(cl.t, cl.bin, cl.url, "upload", path)
	digest := strings.TrimSpace(r.stdout)
	if r.code != 0 || !strings.HasPrefix(digest, "sha256:") {
		cl.fatalf("pando upload %s: exit %d, stdout %q, stderr %q", path, r.code, r.stdout, r.stderr)
	}
	return digest
}

// startCluster starts `pando master` (with the built-in batch framework and
// masterArgs, which may name its --http address) and one `pando agent` per
// entry of agentResources, offering those resources, and waits until every
// agent is registered and active.
func startCluster(t *testing.T, bin string, agentResources []string, masterArgs ...string) *cluster {
	t.Helper()
	cl := &cluster{lab: newLab(t), bin: bin}
	httpAddr := freeAddr(t)
	if i := slices.Index(masterArgs, "--http"); i >= 0 && i+1 < len(masterArgs) {
		httpAddr = masterArgs[i+1] // a test that restarts the master on it
	}
	cl.url = "http://" + httpAddr
	args := append([]string{"master", "--http", httpAddr, "--remoting", freeAddr(t),
		"--data-dir", t.TempDir(), "--log-level", "info"}, masterArgs...)
	cl.master = cl.start("pando master", bin, args...)
	cl.waitReady(cl.master, cl.url)
	if !slices.Contains(masterArgs, "--no-frameworks") {
		cl.waitBuiltins(cl.url)
	}
	var err error
	if cl.c, err = client.New(cl.url); err != nil {
		t.Fatal(err)
	}
	for i, res := range agentResources {
		name := fmt.Sprintf("agent-%d", i+1)
		cl.agents = append(cl.agents, cl.start("pando agent "+name, bin, "agent",
			"--master", cl.url, "--http", freeAddr(t), "--remoting", freeAddr(t),
			"--work-dir", t.TempDir(), "--resources", res, "--hostname", name, "--log-level", "info"))
	}
	cl.waitFor(30*time.Second, fmt.Sprintf("%d active agents", len(agentResources)), func() (bool, string) {
		for _, a := range cl.agents {
			if a.exited() {
				cl.fatalf("%s exited: %v", a.name, a.err)
			}
		}
		agents, err := call(cl.c.Agents)
		if err != nil {
			return false, err.Error()
		}
		active := 0
		for _, a := range agents {
			if a.Active {
				active++
			}
		}
		return active == len(agentResources), fmt.Sprintf("%+v", agents)
	})
	return cl
}

// call makes one API call, bounded by 5s.
func call[T any](f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return f(ctx)
}

// pando runs a client command against the cluster's master.
func (cl *cluster) pando(args ...string) result {
	cl.t.Helper()
	return pando(cl.t, cl.bin, cl.url, args...)
}

// pandoJSON runs a client command with --json, which must exit 0, and
// decodes what it prints into out.
func (cl *cluster) pandoJSON(out any, args ...string) {
	cl.t.Helper()
	r := cl.pando(append(args, "--json")...)
	if r.code != 0 {
		cl.fatalf("pando %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), out); err != nil {
		cl.fatalf("pando %s --json printed %q: %v", strings.Join(args, " "), r.stdout, err)
	}
}

// submit runs `pando run --detach` and returns the job id.
func (cl *cluster) submit(args ...string) string {
	cl.t.Helper()
	r := cl.pando(append([]string{"run", "--detach"}, args...)...)
	job := strings.TrimSpace(r.stdout)
	if r.code != 0 || job == "" {
		cl.fatalf("pando run --detach %v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
	}
	return job
}

// job reads a batch job's status through the API.
func (cl *cluster) job(id string) (batchapi.JobStatus, error) {
	return call(func(ctx context.Context) (batchapi.JobStatus, error) {
		return batchapi.NewClient(cl.c).Job(ctx, id)
	})
}

// tasks lists tasks through the API.
func (cl *cluster) tasks(q url.Values) ([]client.Task, error) {
	return call(func(ctx context.Context) ([]client.Task, error) { return cl.c.Tasks(ctx, q) })
}

// waitJobDone waits until the job has ended and returns its status.
func (cl *cluster) waitJobDone(id string, timeout time.Duration) batchapi.JobStatus {
	cl.t.Helper()
	var j batchapi.JobStatus
	cl.waitFor(timeout, "job "+id+" to end", func() (bool, string) {
		var err error
		if j, err = cl.job(id); err != nil {
			return false, err.Error()
		}
		return j.Done(), fmt.Sprintf("%+v", j)
	})
	return j
}

// jobTasks lists every task of a batch job, ended ones too, by id.
func (cl *cluster) jobTasks(job string) map[string]client.Task {
	cl.t.Helper()
	var tasks []client.Task
	cl.pandoJSON(&tasks, "ps", "--all", "--job", job)
	byID := make(map[string]client.Task, len(tasks))
	for _, t := range tasks {
		byID[t.ID] = t
	}
	return byID
}

// agentIDs maps each agent's hostname (agent-1, ...) to its id.
func (cl *cluster) agentIDs() map[string]string {
	cl.t.Helper()
	var agents []client.Agent
	cl.pandoJSON(&agents, "agents")
	ids := map[string]string{}
	for _, a := range agents {
		ids[a.Hostname] = a.ID
	}
	return ids
}

func TestClusterSpreadsJobOverTwoAgents(t *testing.T) {
	skipIfShort(t)
	bin := buildPando(t)
	hello := wasmbuild.MustBuild(t, "hello")
	// One agent holds 10 instances of 0.1 cpus at a time: 200 must spread.
	cl := startCluster(t, bin, []string{"cpus:1;mem:1GiB", "cpus:1;mem:1GiB"})

	var agents []client.Agent
	cl.pandoJSON(&agents, "agents")
	if len(agents) != 2 {
		cl.fatalf("pando agents --json lists %d agents, want 2: %+v", len(agents), agents)
	}
	ids := map[string]bool{}
	for _, a := range agents {
		ids[a.ID] = true
		if !a.Active || a.Total != "cpus:1;mem:1024" || a.HTTPAddress == "" {
			t.Errorf("agent %+v: want active, offering cpus:1;mem:1024, with an HTTP address", a)
		}
	}
	if len(ids) != 2 {
		t.Errorf("the two agents share an id: %+v", agents)
	}

	r := cl.pando("run", hello, "-n", "200", "--json")
	if r.code != 0 {
		cl.fatalf("pando run: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	out := runJSON(t, r)
	if out["instances"] != 200.0 || out["finished"] != 200.0 || out["failed"] != 0.0 || out["state"] != "finished" {
		cl.fatalf("summary %v, want 200 of 200 finished", out)
	}
	job := out["job"].(string)

	tasks := cl.jobTasks(job)
	perAgent := map[string]int{}
	example := map[string]string{} // agent -> a task that ran there
	for i := range 200 {
		id := fmt.Sprintf("%s.%d.0", job, i)
		task, ok := tasks[id]
		switch {
		case !ok:
			t.Errorf("pando ps --all lists no task %s", id)
		case task.State != "TASK_FINISHED" || !ids[task.AgentID]:
			t.Errorf("task %+v: want TASK_FINISHED on one of the agents %v", task, ids)
		default:
			perAgent[task.AgentID]++
			example[task.AgentID] = id
		}
	}
	if len(tasks) != 200 {
		t.Errorf("pando ps --all --job %s lists %d tasks, want 200 (no retries)", job, len(tasks))
	}
	if len(perAgent) != 2 {
		cl.fatalf("tasks per agent %v: want tasks on both agents", perAgent)
	}
	t.Logf("tasks per agent: %v", perAgent)
	// Each agent serves its own sandboxes; the master proxies the logs.
	for agent, task := range example {
		inst := strings.Split(task, ".")[1]
		logs := cl.pando("logs", task)
		if want := fmt.Sprintf("hello from instance %s of task %s", inst, task); logs.code != 0 || !strings.Contains(logs.stdout, want) {
			t.Errorf("pando logs %s (agent %s): exit %d, stdout %q, stderr %q; want %q", task, agent, logs.code, logs.stdout, logs.stderr, want)
		}
	}
}

func TestClusterAgentLossRetriesJob(t *testing.T) {
	skipIfShort(t)
	bin := buildPando(t)
	sleep := wasmbuild.MustBuild(t, "sleep")
	// The master marks an agent unreachable after 4 unanswered pings
	// 250ms apart (about a second) instead of the default 5 at 1s, and
	// removes it a second later (the batch framework is partition-aware:
	// it hears UNREACHABLE, then LOST when the agent is removed).
	cl := startCluster(t, bin, []string{"cpus:1;mem:1GiB", "cpus:1;mem:1GiB"},
		"--agent-ping-interval", "250ms", "--agent-max-missed-pings", "4", "--agent-unreachable-timeout", "1s")
	ids := cl.agentIDs()
	survivor, doomed := ids["agent-1"], ids["agent-2"]
	if survivor == "" || doomed == "" {
		cl.fatalf("agents by hostname %v: want agent-1 and agent-2", ids)
	}

	// 30 instances of 1s, 10 at a time per agent: both agents are busy.
	job := cl.submit(sleep, "-n", "30", "--retries", "1", "--", "1s")
	cl.waitFor(20*time.Second, "tasks running on both agents", func() (bool, string) {
		tasks, err := cl.tasks(url.Values{"state": {"TASK_RUNNING"}, "prefix": {job + "."}})
		if err != nil {
			return false, err.Error()
		}
		running := map[string]int{}
		for _, t := range tasks {
			running[t.AgentID]++
		}
		return running[survivor] > 0 && running[doomed] > 0, fmt.Sprintf("running per agent: %v", running)
	})
	cl.agents[1].kill()
	killedAt := time.Now()

	// The master notices, removes the agent and reports its tasks LOST.
	var lost []client.Task
	cl.waitFor(15*time.Second, "agent-2's tasks to be LOST", func() (bool, string) {
		tasks, err := cl.tasks(url.Values{"all": {"1"}, "state": {"TASK_LOST"}, "prefix": {job + "."}})
		if err != nil {
			return false, err.Error()
		}
		lost = tasks
		return len(tasks) > 0, fmt.Sprintf("%d lost tasks", len(tasks))
	})
	noticed := time.Since(killedAt)
	t.Logf("%d tasks LOST %s after the SIGKILL", len(lost), noticed.Round(time.Millisecond))
	if noticed > 6*time.Second {
		t.Errorf("the master took %s to remove the killed agent; with 4 pings 250ms apart and a 1s unreachable timeout it should take about two seconds", noticed)
	}
	for _, task := range lost {
		if task.AgentID != doomed || task.Reason != "AGENT_REMOVED" || !strings.Contains(task.Message, "unreachable") {
			t.Errorf("lost task %+v: want it on the killed agent %s, reason AGENT_REMOVED, saying it stayed unreachable", task, doomed)
		}
	}
	var agents []client.Agent
	cl.pandoJSON(&agents, "agents")
	if len(agents) != 1 || agents[0].ID != survivor {
		t.Errorf("pando agents --json after the loss: %+v, want only %s", agents, survivor)
	}

	// The batch framework relaunches the lost instances on the survivor,
	// and the job finishes.
	j := cl.waitJobDone(job, 30*time.Second)
	if j.State != "finished" || j.Finished != 30 || j.Failed != 0 {
		cl.fatalf("job after the loss: %+v, want 30 of 30 finished", j)
	}
	// Every task LOST by now (the loss may have been seen in two steps) is
	// on the killed agent and was retried there on the survivor.
	tasks := cl.jobTasks(job)
	lost = lost[:0]
	for _, task := range tasks {
		if task.State == "TASK_LOST" {
			lost = append(lost, task)
		}
	}
	for _, task := range lost {
		parts := strings.Split(task.ID, ".") // job.instance.attempt
		attempt, _ := strconv.Atoi(parts[2])
		retry := fmt.Sprintf("%s.%s.%d", job, parts[1], attempt+1)
		if task.AgentID != doomed {
			t.Errorf("task %+v is LOST but was not on the killed agent %s", task, doomed)
		}
		if rt, ok := tasks[retry]; !ok || rt.State != "TASK_FINISHED" || rt.AgentID != survivor {
			t.Errorf("lost task %s was retried as %+v (listed: %v); want %s TASK_FINISHED on %s", task.ID, rt, ok, retry, survivor)
		}
	}
	var jobs []batchapi.JobStatus
	cl.pandoJSON(&jobs, "jobs")
	if len(jobs) != 1 || jobs[0].ID != job || jobs[0].Finished != 30 || len(jobs[0].Failures) != min(len(lost), 20) {
		cl.fatalf("pando jobs --json: %+v; want %s finished 30/30, recording the %d lost attempts", jobs, job, len(lost))
	}
	for _, f := range jobs[0].Failures {
		if f.State != "lost" || f.Reason != "agent_removed" {
			t.Errorf("job failure %+v: want state lost, reason agent_removed", f)
		}
	}
}

func TestClusterSecondFrameworkGetsFairShare(t *testing.T) {
	skipIfShort(t)
	bin := buildPando(t)
	helloFramework := goBuild(t, "hello-framework", "github.com/pandodc/pando/examples/frameworks/hello")
	sleep := wasmbuild.MustBuild(t, "sleep")
	// 20 tasks of 0.1 cpus fill the agent (cpus are every task's dominant
	// resource).
	cl := startCluster(t, bin, []string{"cpus:2;mem:2GiB"})

	// The batch job alone wants the cluster 50 times over.
	job := cl.submit(sleep, "-n", "1000", "--", "500ms")
	cl.waitFor(20*time.Second, "the batch job to fill the cluster", func() (bool, string) {
		fws, err := call(cl.c.Frameworks)
		if err != nil {
			return false, err.Error()
		}
		batch := namedFrameworks(fws, "batch")
		return len(batch) == 1 && batch[0].Tasks >= 15, fmt.Sprintf("%+v", fws)
	})

	// The second framework, in its own process, wants the cluster too.
	module := cl.upload(sleep)
	hello := cl.start("hello framework", helloFramework, "--master", cl.url, "--module", module, "-n", "100000", "--", "1s")

	// DRF: both frameworks are in role "*" and want everything, so each
	// should hold about half. Ask for a second of samples in a row where
	// each holds at least 30%, while both still have work waiting.
	type sample struct{ batch, hello float64 }
	var history []sample
	good := 0
	cl.waitFor(20*time.Second, "both frameworks to hold at least 30% of the cluster for a second", func() (bool, string) {
		if hello.exited() {
			cl.fatalf("the hello framework exited: %v", hello.err)
		}
		fws, err := call(cl.c.Frameworks)
		if err != nil {
			return false, err.Error()
		}
		var s sample
		connected := 0
		for _, f := range namedFrameworks(fws, "batch", "hello") {
			if f.Connected {
				connected++
			}
			switch f.Name {
			case "batch":
				s.batch = f.Share
			case "hello":
				s.hello = f.Share
			}
		}
		history = append(history, s)
		j, err := cl.job(job)
		if err != nil {
			return false, err.Error()
		}
		if connected == 2 && j.Pending > 0 && s.batch >= 0.3 && s.hello >= 0.3 {
			good++
		} else {
			good = 0
		}
		if len(history) > 40 {
			history = history[len(history)-40:]
		}
		return good >= 20, fmt.Sprintf("frameworks %+v; batch job pending %d; recent shares (batch, hello) %v", fws, j.Pending, history)
	})
	t.Logf("shares (batch, hello), one sample per 50ms: %v", history)

	var fws []client.Framework
	cl.pandoJSON(&fws, "frameworks")
	if fws = namedFrameworks(fws, "batch", "hello"); len(fws) != 2 {
		t.Errorf("pando frameworks --json lists %+v, want batch and hello", fws)
	}
	for _, f := range fws {
		if !f.Connected || f.Tasks < 4 {
			t.Errorf("framework %+v: want it connected, running at least 4 of the 20 slots", f)
		}
	}

	// The framework stops on Ctrl-C and tears itself down.
	if k := cl.pando("kill", job); k.code != 0 {
		t.Errorf("pando kill %s: exit %d, stderr %q", job, k.code, k.stderr)
	}
	if err := hello.stop(15 * time.Second); err != nil {
		t.Error(err)
	}
	if !strings.Contains(hello.out.String(), "interrupted") {
		t.Errorf("the hello framework did not report the interrupt; its output ends:\n%s", tail(hello.out.String(), 2000))
	}
}

func TestDevRestartKeepsJobs(t *testing.T) {
	skipIfShort(t)
	bin := buildPando(t)
	hello := wasmbuild.MustBuild(t, "hello")
	sleep := wasmbuild.MustBuild(t, "sleep")
	dataDir := t.TempDir()
	l := newLab(t)
	dev, url := l.startDev(bin, dataDir, "--resources", "cpus:1;mem:1GiB", "--log-level", "info")
	cl := &cluster{lab: l, bin: bin, url: url}
	var err error
	if cl.c, err = client.New(url); err != nil {
		t.Fatal(err)
	}

	done := cl.submit(hello, "-n", "50", "--name", "greetings")
	before := cl.waitJobDone(done, 30*time.Second)
	if before.State != "finished" || before.Finished != 50 {
		cl.fatalf("job %s before the restart: %+v, want 50 of 50 finished", done, before)
	}
	// 20 instances of 1s, 10 at a time: unfinished when the process stops.
	unfinished := cl.submit(sleep, "-n", "20", "--name", "naps", "--", "1s")
	cl.waitFor(20*time.Second, "job "+unfinished+" to run", func() (bool, string) {
		j, err := cl.job(unfinished)
		if err != nil {
			return false, err.Error()
		}
		return j.Running > 0, fmt.Sprintf("%+v", j)
	})
	if err := dev.stop(15 * time.Second); err != nil {
		cl.fatalf("%v", err)
	}
	if dev.err != nil {
		cl.fatalf("pando dev exited with %v after SIGINT, want a clean exit", dev.err)
	}

	_, url2 := l.startDev(bin, dataDir, "--resources", "cpus:1;mem:1GiB", "--log-level", "info")
	cl.url = url2
	if cl.c, err = client.New(url2); err != nil {
		t.Fatal(err)
	}
	var jobs []batchapi.JobStatus
	cl.pandoJSON(&jobs, "jobs")
	byID := map[string]batchapi.JobStatus{}
	for _, j := range jobs {
		byID[j.ID] = j
	}
	if len(jobs) != 2 {
		t.Errorf("pando jobs --json after the restart lists %d jobs, want 2: %+v", len(jobs), jobs)
	}
	if j := byID[done]; j.Name != "greetings" || j.State != "finished" || j.Instances != 50 || j.Finished != 50 || j.Failed != 0 {
		t.Errorf("job %s after the restart: %+v, want greetings, finished 50/50", done, j)
	}
	if j := byID[unfinished]; j.Name != "naps" || j.Instances != 20 || j.Failed != 0 {
		t.Errorf("job %s after the restart: %+v, want naps, 20 instances, none failed", unfinished, j)
	} else {
		t.Logf("job %s after the restart: %s, %d/%d finished, %d running, %d pending", j.ID, j.State, j.Finished, j.Instances, j.Running, j.Pending)
	}

	// The unfinished job resumes and completes.
	j := cl.waitJobDone(unfinished, 30*time.Second)
	if j.State != "finished" || j.Finished != 20 || j.Failed != 0 {
		cl.fatalf("job %s after the restart: %+v, want 20 of 20 finished", unfinished, j)
	}
	// New jobs get new ids.
	r := cl.pando("run", hello, "-n", "5", "--json")
	if r.code != 0 {
		cl.fatalf("pando run after the restart: exit %d, stderr %q", r.code, r.stderr)
	}
	out := runJSON(t, r)
	if id := out["job"]; id == done || id == unfinished || out["finished"] != 5.0 {
		t.Errorf("a job submitted after the restart: %v, want a new id and 5 of 5 finished", out)
	}
}

// namedFrameworks keeps the frameworks with one of names (the master runs
// built-in frameworks beside those a test starts).
func namedFrameworks(fws []client.Framework, names ...string) []client.Framework {
	var out []client.Framework
	for _, f := range fws {
		if slices.Contains(names, f.Name) {
			out = append(out, f)
		}
	}
	return out
}

// tail is the end of s, at most n bytes.
func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestClusterFrameworkTeardown stops a framework in another process with
// Ctrl-C: its driver sends Teardown (sdk Driver.Stop(false)) and stops, and
// the master must tear the framework down at once, killing its tasks as
// "torn down" rather than waiting for its failover timeout to pass.
func TestClusterFrameworkTeardown(t *testing.T) {
	skipIfShort(t)
	bin := buildPando(t)
	helloFramework := goBuild(t, "hello-framework", "github.com/pandodc/pando/examples/frameworks/hello")
	sleep := wasmbuild.MustBuild(t, "sleep")
	cl := startCluster(t, bin, []string{"cpus:1;mem:1GiB"})
	module := cl.upload(sleep)
	hello := cl.start("hello framework", helloFramework, "--master", cl.url, "--module", module, "-n", "2", "--", "1h")
	cl.waitFor(20*time.Second, "the hello framework's 2 tasks to run", func() (bool, string) {
		tasks, err := cl.tasks(url.Values{"state": {"TASK_RUNNING"}, "prefix": {"hello-"}})
		if err != nil {
			return false, err.Error()
		}
		return len(tasks) == 2, fmt.Sprintf("%+v", tasks)
	})
	if err := hello.stop(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	var tasks []client.Task
	cl.waitFor(10*time.Second, "the hello framework's tasks to end", func() (bool, string) {
		var err error
		if tasks, err = cl.tasks(url.Values{"all": {"1"}, "prefix": {"hello-"}}); err != nil {
			return false, err.Error()
		}
		ended := 0
		for _, task := range tasks {
			if task.State == "TASK_KILLED" {
				ended++
			}
		}
		return ended == 2, fmt.Sprintf("%+v", tasks)
	})
	for _, task := range tasks {
		if task.Message != "the framework was torn down" {
			cl.fatalf("task %+v: want it killed because the framework was torn down (the master refused the driver's Teardown?)", task)
		}
	}
}
