package cron

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/sdk"
)

const testModule = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// sim drives a Core with a simulated clock and a simulated cluster that
// runs every launched task for dur and ends it as outcome says.
type sim struct {
	t       *testing.T
	core    *Core
	now     time.Time
	dur     time.Duration
	outcome func(taskID string) sdk.TaskState
	running map[string]time.Time // task id -> end time
	order   []string             // task ids in launch order
}

func newSim(t *testing.T, start string) *sim {
	return &sim{t: t, core: NewCore(), now: mustTime(t, start), dur: 100 * time.Millisecond,
		outcome: func(string) sdk.TaskState { return sdk.TaskFinished }, running: map[string]time.Time{}}
}

func (s *sim) put(j Job) {
	s.t.Helper()
	if _, err := s.core.Put(j, sdk.Image{}, s.now); err != nil {
		s.t.Fatal(err)
	}
}

// run advances the clock by total in steps of step, ticking, launching
// and ending tasks as the shell and cluster would.
func (s *sim) run(total, step time.Duration) {
	end := s.now.Add(total)
	for ; !s.now.After(end); s.now = s.now.Add(step) {
		for _, id := range slices.Sorted(mapsKeys(s.running)) {
			if !s.running[id].After(s.now) {
				delete(s.running, id)
				s.core.Update(&sdk.TaskStatus{TaskId: id, State: s.outcome(id)}, s.now)
			}
		}
		s.core.Tick(s.now)
		for _, l := range s.core.Ready(s.now) {
			s.core.Claim(l, "agent-1", s.now)
			s.core.Update(&sdk.TaskStatus{TaskId: l.TaskID, State: sdk.TaskRunning}, s.now)
			s.running[l.TaskID] = s.now.Add(s.dur)
			s.order = append(s.order, l.TaskID)
		}
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func job(name, schedule string, mod ...func(*Job)) Job {
	j := Job{Name: name, Schedule: schedule, Module: testModule, Shell: true, Retries: 0, Epsilon: "PT60S", CPUs: 0.1, Mem: 64}
	for _, m := range mod {
		m(&j)
	}
	return j
}

func (s *sim) view(name string) JobView {
	v, ok := s.core.Job(name)
	if !ok {
		s.t.Fatalf("no job %s", name)
	}
	return v
}

func TestEveryTwoSecondsForMonths(t *testing.T) {
	s := newSim(t, "2026-12-01T05:50:00Z")
	s.put(job("tick", "R/2026-12-01T05:52:00Z/PT2S"))
	s.put(job("ten", "R10/2026-12-01T05:52:00Z/PT2S"))
	s.put(job("daily", "52 5 * * *", func(j *Job) { j.ScheduleTimeZone = "Europe/Paris" }))
	s.run(10*time.Minute, 500*time.Millisecond)
	// From 05:52:00 to 06:00:00 inclusive: 241 slots.
	if v := s.view("tick"); v.SuccessCount+len(v.Active) != 241 || v.ErrorCount != 0 {
		t.Errorf("tick after 10 minutes: %d runs (+%d active), %d errors; want 241, 0", v.SuccessCount, len(v.Active), v.ErrorCount)
	}
	if v := s.view("ten"); v.SuccessCount != 10 || !v.Exhausted {
		t.Errorf("R10: %d runs, exhausted %v; want 10, true", v.SuccessCount, v.Exhausted)
	}
	// Three months of the daily job, a tick a minute.
	s.core.Delete("tick")
	s.run(90*24*time.Hour, time.Minute)
	v := s.view("daily")
	if v.SuccessCount != 90 {
		t.Errorf("daily over 90 days: %d runs, want 90", v.SuccessCount)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	for _, r := range v.History {
		if l := r.Slot.In(paris); l.Hour() != 5 || l.Minute() != 52 {
			t.Errorf("daily run at %s, want 05:52 Paris time", l)
		}
	}
}

func TestDependenciesRunInOrder(t *testing.T) {
	s := newSim(t, "2026-12-01T00:00:00Z")
	s.put(job("a", "R3/2026-12-01T00:00:10Z/PT1M"))
	s.put(job("b", "", func(j *Job) { j.Parents = []string{"a"} }))
	s.put(job("c", "", func(j *Job) { j.Parents = []string{"b"} }))
	s.put(job("other", "R1/2026-12-01T00:00:05Z/PT1M"))
	s.put(job("both", "", func(j *Job) { j.Parents = []string{"c", "other"} }))
	s.run(5*time.Minute, 50*time.Millisecond)
	var seq []string
	for _, id := range s.order {
		seq = append(seq, strings.Split(id, ".")[1])
	}
	want := "other a b c both a b c a b c"
	if got := strings.Join(seq, " "); got != want {
		t.Errorf("launch order %q, want %q", got, want)
	}
	for name, n := range map[string]int{"a": 3, "b": 3, "c": 3, "both": 1} {
		if v := s.view(name); v.SuccessCount != n {
			t.Errorf("%s ran %d times, want %d", name, v.SuccessCount, n)
		}
	}
	g := s.core.Graph()
	if len(g.Edges) != 4 || !strings.Contains(g.DOT(), `"b" -> "c";`) {
		t.Errorf("graph %+v\n%s", g, g.DOT())
	}

	// A failed parent does not trigger its child.
	s.outcome = func(id string) sdk.TaskState {
		if strings.HasPrefix(id, "cron.a.") {
			return sdk.TaskFailed
		}
		return sdk.TaskFinished
	}
	s.core.RunNow("a", s.now)
	s.run(time.Minute, 50*time.Millisecond)
	if a, b := s.view("a"), s.view("b"); a.ErrorCount != 1 || b.SuccessCount != 3 || len(b.Active) != 0 {
		t.Errorf("after a failed: a %d errors, b %d runs %d active; want 1, 3, 0", a.ErrorCount, b.SuccessCount, len(b.Active))
	}
}

func TestBadJobsChangeNothing(t *testing.T) {
	s := newSim(t, "2026-12-01T00:00:00Z")
	s.put(job("a", "@hourly"))
	s.put(job("b", "", func(j *Job) { j.Parents = []string{"a"} }))
	s.put(job("c", "", func(j *Job) { j.Parents = []string{"b"} }))
	before := s.core.Jobs()
	s.core.TakeDirty()
	for _, tc := range []struct {
		j    Job
		want string
	}{
		{job("a", "", func(j *Job) { j.Parents = []string{"c"} }), "parents: a dependency cycle a -> b -> c -> a"},
		{job("d", "", func(j *Job) { j.Parents = []string{"nope"} }), `parents: no job named "nope"`},
		{job("d", "", func(j *Job) { j.Parents = []string{"d"} }), "its own parent"},
		{job("d", "R/2026-12-01T00:00:00Z/PT1S", func(j *Job) { j.ScheduleTimeZone = "Nowhere/Land" }), "scheduleTimeZone"},
		{job("d", "every minute"), "5 fields"},
		{job("d", ""), "give a schedule"},
		{job("d", "@daily", func(j *Job) { j.Epsilon = "soon" }), "epsilon"},
		{job("d", "@daily", func(j *Job) { j.Retries = -1 }), "retries -1"},
		{job("d", "@daily", func(j *Job) { j.Mem = 0 }), "mem must be positive"},
		{job("d", "@daily", func(j *Job) { j.Module = "hello.wasm" }), "module:"},
		{job("d", "@daily", func(j *Job) { j.Container = &Container{Image: "busybox"} }), "exactly one of module"},
		{job("d", "@daily", func(j *Job) { j.Command = "echo hi" }), "a WASM job has no command"},
		{job("a b", "@daily"), "name must be"},
	} {
		if _, err := s.core.Put(tc.j, sdk.Image{}, s.now); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Put(%+v) = %v, want an invalid-job error with %q", tc.j, err, tc.want)
		}
	}
	if _, err := s.core.Delete("b"); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "c depend on") {
		t.Errorf("deleting a parent: %v, want a conflict naming c", err)
	}
	if d := s.core.TakeDirty(); len(d) != 0 || fmt.Sprint(s.core.Jobs()) != fmt.Sprint(before) {
		t.Errorf("refused changes changed %v", d)
	}
}

func TestDecodeJobs(t *testing.T) {
	jobs, err := DecodeJobs(strings.NewReader(`{"name":"x","schedule":"@daily","module":"` + testModule + `","retries":0}`))
	if err != nil || len(jobs) != 1 {
		t.Fatal(jobs, err)
	}
	if j := jobs[0]; j.Retries != 0 || j.Epsilon != DefaultEpsilon || j.CPUs != DefaultCPUs || j.Mem != DefaultMem || !j.Shell {
		t.Errorf("defaults not applied: %+v", j)
	}
	for body, want := range map[string]string{
		`{"name":"x","schedul":"@daily"}`: `unknown field "schedul"`,
		`{"name":"x",`:                    "job 1 is not a job",
		`[{"name":"x"},{"name":5}]`:       "job 2",
		`{"name":"x"} {"name":"y"}`:       "unexpected data",
	} {
		if _, err := DecodeJobs(strings.NewReader(body)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("DecodeJobs(%s) = %v, want %q", body, err, want)
		}
	}
}

func TestRetries(t *testing.T) {
	s := newSim(t, "2026-12-01T00:00:00Z")
	fails := map[string]int{}
	s.outcome = func(id string) sdk.TaskState {
		name := strings.Split(id, ".")[1]
		if fails[name]++; fails[name] <= 2 {
			return sdk.TaskFailed
		}
		return sdk.TaskFinished
	}
	s.put(job("enough", "R1/2026-12-01T00:00:01Z/PT1M", func(j *Job) { j.Retries = 2 }))
	s.put(job("short", "R1/2026-12-01T00:00:01Z/PT1M", func(j *Job) { j.Retries = 1 }))
	s.run(time.Minute, 50*time.Millisecond)
	if v := s.view("enough"); v.SuccessCount != 1 || v.ErrorCount != 0 || v.History[0].Retried != 2 || v.History[0].Attempt != 2 {
		t.Errorf("retries 2, fails twice: %+v, want a success on attempt 2", v.Status)
	}
	if v := s.view("short"); v.SuccessCount != 0 || v.ErrorCount != 1 || v.LastError == "" || v.ErrorsSinceLastSuccess != 1 {
		t.Errorf("retries 1, fails twice: %+v, want one error", v.Status)
	}
	// LOST is not the task's fault: relaunched without a retry.
	s.outcome = func(string) sdk.TaskState { return sdk.TaskFinished }
	s.core.RunNow("short", s.now)
	s.core.Tick(s.now)
	l := s.core.Ready(s.now)
	s.core.Claim(l[0], "a1", s.now)
	s.core.Update(&sdk.TaskStatus{TaskId: l[0].TaskID, State: sdk.TaskLost}, s.now)
	s.run(time.Second, 50*time.Millisecond)
	if v := s.view("short"); v.SuccessCount != 1 || v.History[1].Lost != 1 || v.History[1].Retried != 0 {
		t.Errorf("after a lost run: %+v", v.History)
	}
}

func TestEpsilonAfterAnOutage(t *testing.T) {
	s := newSim(t, "2026-12-01T00:00:00Z")
	s.put(job("tick", "R/2026-12-01T00:00:00Z/PT2S", func(j *Job) { j.Epsilon = "PT5S" }))
	s.run(10*time.Second, 100*time.Millisecond) // slots 0..10: 6 runs
	// Down for 60 s: the clock jumps without ticks.
	s.now = s.now.Add(60 * time.Second)
	s.run(10*time.Second, 100*time.Millisecond)
	v := s.view("tick")
	var skipped *Run
	for i, r := range v.History {
		if r.State == RunSkipped {
			skipped = &v.History[i]
		}
	}
	// The outage ended at 00:01:10.1: slots from 00:00:12 to 00:01:04
	// (27) are older than 5 s and skipped; 00:01:06..00:01:10 run late.
	if skipped == nil || skipped.Slots != 27 || v.SkipCount != 27 || !strings.Contains(skipped.Message, "27 slot(s) from 2026-12-01T00:00:12Z to 2026-12-01T00:01:04Z") {
		t.Fatalf("skipped entry %+v, skip count %d", skipped, v.SkipCount)
	}
	if want := 6 + 3 + 5; v.SuccessCount != want {
		t.Errorf("%d runs, want %d", v.SuccessCount, want)
	}
	notes := 0
	for _, r := range v.History {
		if strings.Contains(r.Note, "late, within epsilon PT5S") {
			notes++
		}
	}
	if notes != 2 { // 00:01:06 and 00:01:08 (00:01:10 is on time)
		t.Errorf("%d runs say they were claimed late, want 2", notes)
	}
	// Slots are distinct: none ran twice.
	seen := map[int64]bool{}
	for _, r := range v.History {
		if seen[r.Slot.UnixMilli()] {
			t.Errorf("slot %s twice", r.Slot)
		}
		seen[r.Slot.UnixMilli()] = true
	}
}

func TestNotConcurrentRunsWaitThenSkip(t *testing.T) {
	s := newSim(t, "2026-12-01T00:00:00Z")
	s.dur = 5 * time.Second // longer than the period
	s.put(job("slow", "R/2026-12-01T00:00:00Z/PT2S", func(j *Job) { j.Epsilon = "PT3S" }))
	s.put(job("wide", "R/2026-12-01T00:00:00Z/PT2S", func(j *Job) { j.Concurrent = true }))
	s.run(20*time.Second, 100*time.Millisecond)
	slow, wide := s.view("slow"), s.view("wide")
	if slow.SkipCount == 0 || slow.SuccessCount+slow.SkipCount+len(slow.Active) != 11 || slow.SuccessCount > 4 {
		t.Errorf("slow: %d runs, %d skipped, %d active; want one at a time and the rest skipped", slow.SuccessCount, slow.SkipCount, len(slow.Active))
	}
	if wide.SuccessCount != 8 || len(wide.Active) != 3 {
		t.Errorf("concurrent: %d runs, %d active; want 8 ended and 3 running", wide.SuccessCount, len(wide.Active))
	}
}

// TestRestartNeitherLosesNorDoubles stores the records, as the shell does
// after every change, and builds a new core from them at any point.
func TestRestartNeitherLosesNorDoubles(t *testing.T) {
	s := newSim(t, "2026-12-01T00:00:00Z")
	s.dur = 1500 * time.Millisecond
	s.put(job("tick", "R/2026-12-01T00:00:00Z/PT2S"))
	stored := map[string]Record{}
	save := func() {
		for _, n := range s.core.TakeDirty() {
			if r, ok := s.core.Record(n); ok {
				stored[n] = r
			}
		}
	}
	for restart := 0; restart < 5; restart++ {
		s.run(7*time.Second, 250*time.Millisecond)
		save()
		// The process dies; a new one loads the records and reconciles.
		s.core = NewCore()
		for _, r := range stored {
			if err := s.core.Load(r); err != nil {
				t.Fatal(err)
			}
		}
		for _, rt := range s.core.Inflight() {
			if _, ok := s.running[rt.GetTaskId()]; !ok {
				t.Errorf("restart %d: in flight %s unknown to the cluster", restart, rt.GetTaskId())
			}
		}
	}
	s.run(5*time.Second, 250*time.Millisecond)
	v := s.view("tick")
	seen := map[int64]int{}
	for _, r := range v.History {
		seen[r.Slot.UnixMilli()]++
	}
	// Slots 0..40 s: 21; the last two still running or just ended.
	if len(seen) != v.SuccessCount || v.SuccessCount+len(v.Active) != 21 || len(s.order) != 21 {
		t.Errorf("after 5 restarts: %d runs, %d distinct slots, %d active, %d launches; want 21 slots each launched once",
			v.SuccessCount, len(seen), len(v.Active), len(s.order))
	}
}

func TestExampleJobs(t *testing.T) {
	raw, err := os.ReadFile("../../examples/cron/jobs.json")
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := DecodeJobs(strings.NewReader(strings.ReplaceAll(string(raw), "MODULE", testModule)))
	if err != nil {
		t.Fatal(err)
	}
	s := newSim(t, "2026-12-01T05:50:00Z")
	for _, j := range jobs {
		s.put(j)
	}
	s.run(3*time.Minute, 100*time.Millisecond)
	if v := s.view("load"); v.SuccessCount != 10 {
		t.Errorf("load ran %d times, want 10", v.SuccessCount)
	}
}

func TestWithoutOffersLateRunsAreSkipped(t *testing.T) {
	s := newSim(t, "2026-12-01T00:00:00Z")
	s.put(job("tick", "R/2026-12-01T00:00:00Z/PT2S", func(j *Job) { j.Epsilon = "PT3S" }))
	for i := 0; i <= 200; i++ { // 20 s of ticks, no offer ever
		s.core.Tick(s.now)
		s.now = s.now.Add(100 * time.Millisecond)
	}
	v := s.view("tick")
	if len(v.Active) > 2 || v.SkipCount != 11-len(v.Active) || !strings.Contains(v.History[0].Message, "could not start within epsilon PT3S") {
		t.Errorf("after 20 s without offers: %d queued, %d skipped, history %+v", len(v.Active), v.SkipCount, v.History)
	}
}
