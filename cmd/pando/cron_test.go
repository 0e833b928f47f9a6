package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/frameworks/cron"
	"github.com/pandodc/pando/runtime/container/containerdtest"
	"github.com/pandodc/pando/sdk/client"
)

// cronDev is `pando dev` with the cron framework, driven by `pando cron`.
type cronDev struct {
	*cluster
	dir string
}

func startCronDev(t *testing.T, dataDir string, extra ...string) (*cronDev, *proc) {
	bin := buildPando(t)
	l := newLab(t)
	p, url := l.startDev(bin, dataDir, append([]string{"--resources", "cpus:2;mem:2GiB", "--log-level", "info"}, extra...)...)
	c, err := client.New(url)
	if err != nil {
		t.Fatal(err)
	}
	return &cronDev{cluster: &cluster{lab: l, bin: bin, url: url, c: c}, dir: t.TempDir()}, p
}

// add writes jobs to a file and runs `pando cron add` on it.
func (d *cronDev) add(jobs string) result {
	d.t.Helper()
	path := filepath.Join(d.dir, fmt.Sprintf("job-%d.json", time.Now().UnixNano()))
	if err := os.WriteFile(path, []byte(jobs), 0o644); err != nil {
		d.t.Fatal(err)
	}
	return d.pando("cron", "add", path)
}

// jobs lists the jobs through the API (cheaper to poll than the CLI).
func (d *cronDev) jobs() map[string]cron.JobView {
	list, err := call(func(ctx context.Context) ([]cron.JobView, error) {
		var list []cron.JobView
		return list, d.c.Do(ctx, http.MethodGet, "/api/v1/cron/v1/scheduler/jobs", nil, &list)
	})
	if err != nil {
		d.fatalf("jobs: %v", err)
	}
	out := map[string]cron.JobView{}
	for _, j := range list {
		out[j.Name] = j
	}
	return out
}

func (d *cronDev) job(name string) cron.JobView {
	v, err := call(func(ctx context.Context) (cron.JobView, error) {
		var v cron.JobView
		return v, d.c.Do(ctx, http.MethodGet, "/api/v1/cron/v1/scheduler/job/"+name, nil, &v)
	})
	if err != nil {
		d.fatalf("job %s: %v", name, err)
	}
	return v
}

// rfc3339 is t (whole seconds) in the form schedules take.
func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func TestCronAgainstDev(t *testing.T) {
	skipIfShort(t)
	t.Parallel() // the cron tests mostly wait for slots: together they take the longest one's time
	d, _ := startCronDev(t, t.TempDir())
	hello := d.upload(wasmbuild.MustBuild(t, "hello"))
	fail := d.upload(wasmbuild.MustBuild(t, "fail"))
	start := time.Now().Truncate(time.Second).Add(3 * time.Second)
	r := d.add(fmt.Sprintf(`[
	  {"name": "a", "schedule": "R5/%s/PT2S", "module": %q, "mem": 32, "retries": 0, "owner": "ops@example.com"},
	  {"name": "b", "parents": ["a"], "module": %q, "mem": 32},
	  {"name": "c", "parents": ["b"], "module": %q, "mem": 32, "arguments": ["from", "c"]},
	  {"name": "flaky", "schedule": "R1/%s/PT1M", "module": %q, "mem": 32, "retries": 2}
	]`, rfc3339(start), hello, hello, hello, rfc3339(start), fail))
	if r.code != 0 {
		d.fatalf("pando cron add: exit %d, stderr %q", r.code, r.stderr)
	}

	// Bad input: a clear error naming the field, and nothing created.
	for body, want := range map[string]string{
		`{"name": "x", "schedule": "@daily", "module": "` + hello + `", "colour": "red"}`:                                         `unknown field "colour"`,
		`{"name": "x", "schedule": "@daily", "module": "sha256:` + strings.Repeat("1", 64) + `"}`:                                 "module: the master has no such artifact",
		`{"name": "x", "schedule": "@daily", "module": "` + hello + `", "mem": 1048576}`:                                          "no agent can ever hold it",
		`{"name": "x", "schedule": "@daily", "container": {"image": "nosuch:1"}}`:                                                 `container.image: image not found`,
		`{"name": "x", "schedule": "R/2026-01-01T00:00:00Z/PT2S", "scheduleTimeZone": "Mars/Olympus", "module": "` + hello + `"}`: "scheduleTimeZone",
		`{"name": "x", "schedule": "every day", "module": "` + hello + `"}`:                                                       "schedule",
		`{"name": "a", "parents": ["c"], "module": "` + hello + `"}`:                                                              "dependency cycle a -> b -> c -> a",
		`{"name": "x", "schedule": "@daily", "module": "` + hello + `"`:                                                           "not a job",
	} {
		if r := d.add(body); r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("pando cron add %s: exit %d, stderr %q; want an error with %q", body, r.code, r.stderr, want)
		}
	}
	var listed []cron.JobView
	d.pandoJSON(&listed, "cron", "ls")
	if len(listed) != 4 || listed[0].Name != "a" || listed[0].Schedule == "" {
		t.Errorf("pando cron ls after the refused jobs: %+v, want a, b, c and flaky as added", listed)
	}
	if r := d.pando("cron", "ls"); !strings.Contains(r.stdout, "after a") || !strings.Contains(r.stdout, "R5/") {
		t.Errorf("pando cron ls printed %q", r.stdout)
	}

	d.waitFor(40*time.Second, "5 runs of a, b and c, and flaky failed", func() (bool, string) {
		jobs := d.jobs()
		return jobs["c"].SuccessCount == 5 && jobs["flaky"].ErrorCount == 1, fmt.Sprintf("%+v", jobs)
	})
	time.Sleep(2500 * time.Millisecond) // time for a wrong sixth run
	a, b, c := d.job("a"), d.job("b"), d.job("c")
	if a.SuccessCount != 5 || b.SuccessCount != 5 || c.SuccessCount != 5 || len(a.History) != 5 {
		t.Fatalf("runs: a %d, b %d, c %d; want 5 each", a.SuccessCount, b.SuccessCount, c.SuccessCount)
	}
	for i := range a.History {
		ra, rb, rc := a.History[i], b.History[i], c.History[i]
		if want := start.Add(time.Duration(2*i) * time.Second); !ra.Slot.Equal(want) || !rb.Slot.Equal(want) || !rc.Slot.Equal(want) {
			t.Errorf("run %d: slots %s %s %s, want %s", i, ra.Slot, rb.Slot, rc.Slot, want)
		}
		if rb.Started.Before(ra.Ended) || rc.Started.Before(rb.Ended) {
			t.Errorf("run %d out of order: a ended %s, b started %s and ended %s, c started %s", i, ra.Ended, rb.Started, rb.Ended, rc.Started)
		}
	}
	// Retries: three attempts of the one slot, then one error.
	flaky := d.job("flaky")
	if len(flaky.History) != 1 || flaky.History[0].State != cron.RunFailed || flaky.History[0].Retried != 2 || flaky.LastError == "" {
		t.Errorf("flaky: %+v, want one failed run after 2 retries", flaky.Status)
	}
	tasks, err := d.tasks(url.Values{"all": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	attempts := 0
	for _, task := range tasks {
		if strings.HasPrefix(task.ID, "cron.flaky.") && task.State == "TASK_FAILED" {
			attempts++
		}
	}
	if attempts != 3 {
		t.Errorf("pando ps --all has %d failed flaky tasks, want 3", attempts)
	}
	var fws []client.Framework
	d.pandoJSON(&fws, "frameworks")
	if !strings.Contains(fmt.Sprintf("%+v", fws), "Name:cron") {
		t.Errorf("pando frameworks: %+v, want cron listed", fws)
	}

	// Run now, the graph, and deletes that respect the DAG.
	if r := d.pando("cron", "run", "c"); r.code != 0 {
		t.Errorf("pando cron run c: exit %d, %s", r.code, r.stderr)
	}
	if r := d.pando("cron", "graph"); !strings.Contains(r.stdout, `"a" -> "b";`) || !strings.Contains(r.stdout, `"b" -> "c";`) {
		t.Errorf("pando cron graph printed %q", r.stdout)
	}
	if r := d.pando("cron", "rm", "b"); r.code == 0 || !strings.Contains(r.stderr, "c depend on") {
		t.Errorf("pando cron rm b (c depends on it): exit %d, %q", r.code, r.stderr)
	}
	d.waitFor(20*time.Second, "the manual run of c", func() (bool, string) {
		c := d.job("c")
		return c.SuccessCount == 6 && c.History[5].Trigger == cron.TriggerManual, fmt.Sprintf("%+v", c.Status)
	})
	for _, name := range []string{"c", "b", "a", "flaky"} {
		if r := d.pando("cron", "rm", name); r.code != 0 {
			t.Errorf("pando cron rm %s: exit %d, %s", name, r.code, r.stderr)
		}
	}
	if jobs := d.jobs(); len(jobs) != 0 {
		t.Errorf("after rm: %v", jobs)
	}
}

// TestCronRestartMidSchedule kills `pando dev` (SIGKILL) while two jobs
// run every 2 s, and starts it again 5 s later on the same data dir. The
// job with a long epsilon runs each slot exactly once, the missed ones
// late; the one with a 1 s epsilon skips the missed slots and says so.
func TestCronRestartMidSchedule(t *testing.T) {
	skipIfShort(t)
	t.Parallel() // the cron tests mostly wait for slots: together they take the longest one's time
	dataDir := t.TempDir()
	d, dev := startCronDev(t, dataDir)
	hello := d.upload(wasmbuild.MustBuild(t, "hello"))
	start := time.Now().Truncate(time.Second).Add(2 * time.Second)
	if r := d.add(fmt.Sprintf(`[
	  {"name": "steady", "schedule": "R/%s/PT2S", "epsilon": "PT60S", "module": %q, "mem": 32},
	  {"name": "strict", "schedule": "R/%s/PT2S", "epsilon": "PT1S", "module": %q, "mem": 32}
	]`, rfc3339(start), hello, rfc3339(start), hello)); r.code != 0 {
		d.fatalf("pando cron add: exit %d, stderr %q", r.code, r.stderr)
	}
	d.waitFor(30*time.Second, "3 runs of steady", func() (bool, string) {
		j := d.jobs()["steady"]
		return j.SuccessCount >= 3, fmt.Sprintf("%+v", j)
	})
	dev.kill()
	time.Sleep(5 * time.Second)

	d2, _ := startCronDev(t, dataDir)
	back := time.Now()
	d2.waitFor(30*time.Second, "steady to run twice more after the restart", func() (bool, string) {
		j := d2.job("steady")
		n := 0
		for _, r := range j.History {
			if r.Slot.After(back) {
				n++
			}
		}
		return n >= 2, fmt.Sprintf("%+v", j.Status)
	})
	for name, skipping := range map[string]bool{"steady": false, "strict": true} {
		j := d2.job(name)
		runs := append(j.History, j.Active...)
		last := runs[len(runs)-1].Slot
		seen := map[int64]int{} // by unix ms: time.Time values of one instant may differ
		skipped := 0
		for _, r := range runs {
			n := max(r.Slots, 1)
			for k := 0; k < n; k++ {
				seen[r.Slot.Add(time.Duration(2*k)*time.Second).UnixMilli()]++
			}
			if r.State == cron.RunSkipped {
				skipped += n
			} else if r.State == cron.RunFailed {
				t.Errorf("%s: a failed run %+v", name, r)
			}
		}
		for slot := start; !slot.After(last); slot = slot.Add(2 * time.Second) {
			if seen[slot.UnixMilli()] != 1 {
				t.Errorf("%s: slot %s accounted for %d times, want once", name, slot.Format(time.TimeOnly), seen[slot.UnixMilli()])
			}
		}
		if len(seen) != int(last.Sub(start)/(2*time.Second))+1 {
			t.Errorf("%s: %d slots accounted for from %s to %s", name, len(seen), start, last)
		}
		if skipping && (skipped < 2 || !strings.Contains(fmt.Sprint(j.History), "missed by more than epsilon PT1S")) {
			t.Errorf("%s (epsilon 1s): %d slots skipped after 5s down; history %+v", name, skipped, j.History)
		}
		if !skipping && (skipped != 0 || !strings.Contains(fmt.Sprint(j.History), "late, within epsilon PT60S")) {
			t.Errorf("%s (epsilon 60s): %d skipped, want none, and late runs noted; history %+v", name, skipped, j.History)
		}
		b, _ := json.Marshal(j.Status.History)
		t.Logf("%s: %d runs, %d skipped: %s", name, j.SuccessCount, skipped, tail(string(b), 600))
	}
}

// TestCronFrameworkProcessRestart runs the cron framework in its own
// process (`pando cron serve`) against a master and an agent that stay up.
// SIGKILLed while a slot's 3 s task runs and started again 2 s later, it is
// the same framework: the running tasks are reconciled, not launched
// again, and every slot has exactly one task.
func TestCronFrameworkProcessRestart(t *testing.T) {
	skipIfShort(t)
	t.Parallel() // the cron tests mostly wait for slots: together they take the longest one's time
	bin := buildPando(t)
	cl := startCluster(t, bin, []string{"cpus:2;mem:1GiB"}, "--no-frameworks")
	sleep := cl.upload(wasmbuild.MustBuild(t, "sleep"))
	state, addr := filepath.Join(t.TempDir(), "cron.db"), freeAddr(t)
	serve := func() *proc {
		p := cl.start("pando cron serve", bin, "cron", "serve", "--master", cl.url, "--state", state, "--http", addr)
		cl.waitFor(20*time.Second, "the cron API", func() (bool, string) {
			r := cl.pando("cron", "ls", "--api", "http://"+addr)
			return r.code == 0, r.stderr
		})
		return p
	}
	api := *cl // the master's client in cl, the cron API's in d
	d := &cronDev{cluster: &api, dir: t.TempDir()}
	d.c, _ = client.New("http://" + addr)
	first := serve()
	start := time.Now().Truncate(time.Second).Add(2 * time.Second)
	job := fmt.Sprintf(`{"name": "naps", "schedule": "R/%s/PT2S", "module": %q, "arguments": ["3s"], "concurrent": true, "mem": 32}`, rfc3339(start), sleep)
	path := filepath.Join(d.dir, "naps.json")
	if err := os.WriteFile(path, []byte(job), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := cl.pando("cron", "add", path, "--api", "http://"+addr); r.code != 0 {
		cl.fatalf("pando cron add: exit %d, %s", r.code, r.stderr)
	}
	cl.waitFor(30*time.Second, "a success and a task running", func() (bool, string) {
		j := d.job("naps")
		running := false
		for _, r := range j.Active {
			running = running || r.State == cron.RunRunning
		}
		return j.SuccessCount >= 1 && running, fmt.Sprintf("%+v", j.Status)
	})
	first.kill()
	time.Sleep(2 * time.Second)
	serve()
	back := time.Now()
	cl.waitFor(30*time.Second, "two runs of slots after the restart", func() (bool, string) {
		j := d.job("naps")
		n := 0
		for _, r := range j.History {
			if r.Slot.After(back) {
				n++
			}
		}
		return n >= 2, fmt.Sprintf("%+v", j.Status)
	})
	j := d.job("naps")
	tasks, err := cl.tasks(url.Values{"all": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	bySlot := map[string][]string{}
	frameworks := map[string]bool{}
	for _, task := range tasks {
		if rest, ok := strings.CutPrefix(task.ID, "cron.naps."); ok {
			slot, _, _ := strings.Cut(rest, ".")
			bySlot[slot] = append(bySlot[slot], task.ID+" "+task.State)
			frameworks[task.FrameworkID] = true
		}
	}
	for _, r := range j.History {
		if r.State != cron.RunSucceeded || r.Attempt != 0 {
			t.Errorf("run %+v, want each slot's first attempt to succeed", r)
		}
	}
	for slot, ids := range bySlot {
		if len(ids) != 1 {
			t.Errorf("slot %s has tasks %v, want one", slot, ids)
		}
	}
	if last := j.History[len(j.History)-1].Slot; len(j.History) != int(last.Sub(start)/(2*time.Second))+1 || len(frameworks) != 1 {
		t.Errorf("%d runs from %s to %s under frameworks %v; want every slot once, one framework", len(j.History), start, last, frameworks)
	}
}

// TestCronContainerJob runs container jobs on a real containerd: a shell
// command twice on schedule, and one that fails.
func TestCronContainerJob(t *testing.T) {
	skipIfShort(t)
	t.Parallel()
	ctd := containerdtest.Start(t)
	d, _ := startCronDev(t, t.TempDir(), "--containerd", ctd.Address)
	if r := d.pando("image", "import", containerdtest.BusyboxTarball(t)); r.code != 0 {
		d.fatalf("pando image import: exit %d, %s", r.code, r.stderr)
	}
	start := time.Now().Truncate(time.Second).Add(2 * time.Second)
	if r := d.add(fmt.Sprintf(`[
	  {"name": "echo", "schedule": "R2/%s/PT2S", "container": {"type": "DOCKER", "image": "busybox"}, "command": "echo hi from $CHRONOS_JOB_NAME", "cpus": 0.1, "mem": 32},
	  {"name": "exit3", "schedule": "R1/%s/PT2S", "container": {"image": "busybox:latest"}, "command": "exit 3", "retries": 0, "mem": 32}
	]`, rfc3339(start), rfc3339(start))); r.code != 0 {
		d.fatalf("pando cron add: exit %d, stderr %q", r.code, r.stderr)
	}
	d.waitFor(60*time.Second, "2 runs of echo and exit3 failed", func() (bool, string) {
		jobs := d.jobs()
		return jobs["echo"].SuccessCount == 2 && jobs["exit3"].ErrorCount == 1, fmt.Sprintf("%+v", jobs)
	})
	j := d.job("exit3")
	if len(j.History) != 1 || !strings.Contains(j.History[0].Message, "3") {
		t.Errorf("exit3: %+v, want one failed run saying exit code 3", j.History)
	}
	logs := d.pando("logs", d.job("echo").History[0].TaskID)
	if !strings.Contains(logs.stdout, "hi from echo") {
		t.Errorf("pando logs of an echo run: %q %q", logs.stdout, logs.stderr)
	}
}
