package batch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
	"github.com/pandodc/pando/sdk/client"
	"github.com/pandodc/pando/sdk/store"
)

var module = "sha256:" + strings.Repeat("ab", 32)

// fakeDriver records the calls the framework makes.
type fakeDriver struct {
	mu         sync.Mutex
	accepts    []acceptCall
	declines   []declineCall
	kills      []string
	reconciles [][]*kernelpb.ReconcileTask
	suppress   int
	revive     int
	calls      []string
}

type acceptCall struct {
	offerIDs []string
	tasks    []*kernelpb.TaskInfo
	filters  *kernelpb.Filters
}

type declineCall struct {
	offerIDs []string
	filters  *kernelpb.Filters
}

func (d *fakeDriver) Accept(ids []string, tasks []*kernelpb.TaskInfo, f *kernelpb.Filters) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.accepts = append(d.accepts, acceptCall{ids, tasks, f})
	d.calls = append(d.calls, "accept")
}
func (d *fakeDriver) Decline(ids []string, f *kernelpb.Filters) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.declines = append(d.declines, declineCall{ids, f})
	d.calls = append(d.calls, "decline")
}
func (d *fakeDriver) Reconcile(t []*kernelpb.ReconcileTask) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reconciles = append(d.reconciles, t)
	d.calls = append(d.calls, "reconcile")
}
func (d *fakeDriver) Kill(taskID, _ string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.kills = append(d.kills, taskID)
	d.calls = append(d.calls, "kill")
}
func (d *fakeDriver) Suppress() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.suppress++
	d.calls = append(d.calls, "suppress")
}
func (d *fakeDriver) Revive() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.revive++
	d.calls = append(d.calls, "revive")
}

// lastAccept returns the task ids of the latest Accept.
func (d *fakeDriver) lastAccept(t *testing.T) []string {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.accepts) == 0 {
		t.Fatal("no Accept")
	}
	var ids []string
	for _, task := range d.accepts[len(d.accepts)-1].tasks {
		ids = append(ids, task.GetTaskId())
	}
	return ids
}

// memStore is an in-memory store.Store that counts writes.
type memStore struct {
	mu   sync.Mutex
	m    map[string][]byte
	puts int
}

func newMemStore() *memStore { return &memStore{m: map[string][]byte{}} }

func (s *memStore) Get(_ context.Context, k string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[k]
	if !ok {
		return nil, store.ErrNotFound
	}
	return append([]byte(nil), v...), nil
}
func (s *memStore) Put(_ context.Context, k string, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[k] = append([]byte(nil), v...)
	s.puts++
	return nil
}
func (s *memStore) Delete(_ context.Context, k string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, k)
	return nil
}
func (s *memStore) List(_ context.Context, p string) ([]store.KV, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.KV
	for k, v := range s.m {
		if strings.HasPrefix(k, p) {
			out = append(out, store.KV{Key: k, Value: v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}
func (s *memStore) Close() error { return nil }
func (s *memStore) writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.puts
}

type fakeCluster struct{ agents []client.Agent }

func (c fakeCluster) Agents(context.Context) ([]client.Agent, error) { return c.agents, nil }

func newFW(t *testing.T, st store.Store, cl Cluster) (*Framework, *fakeDriver) {
	t.Helper()
	f, err := New(Config{Store: st, Cluster: cl, PersistInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	d := &fakeDriver{}
	f.onSubscribed(d, "fw-1", false)
	return f, d
}

func offer(id, agent, res string) *kernelpb.Offer {
	return &kernelpb.Offer{Id: id, AgentId: agent, Hostname: "host-" + agent, Resources: resources.MustParse(res).ToProto()}
}

func status(taskID string, s kernelpb.TaskState) *kernelpb.TaskStatus {
	return &kernelpb.TaskStatus{TaskId: taskID, State: s, AgentId: "a1"}
}

func submit(t *testing.T, f *Framework, spec JobSpec) JobStatus {
	t.Helper()
	if spec.Module == "" {
		spec.Module = module
	}
	st, err := f.Submit(context.Background(), spec)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	return st
}

func mustJob(t *testing.T, f *Framework, id string) JobStatus {
	t.Helper()
	st, ok := f.Job(id)
	if !ok {
		t.Fatalf("job %s not found", id)
	}
	return st
}

func TestPackingAndTaskInfo(t *testing.T) {
	f, d := newFW(t, newMemStore(), nil)
	job := submit(t, f, JobSpec{Name: "sq", Instances: 10, Args: []string{"x", "y"}, Env: map[string]string{"K": "v"},
		TimeoutMS: 2500})
	if job.ID != "job-1" || job.State != StatePending || job.Pending != 10 || job.Resources != "cpus:0.1;mem:64" {
		t.Fatalf("submitted %+v", job)
	}

	f.onOffers(d, []*kernelpb.Offer{offer("o1", "a1", "cpus:0.5;mem:1GiB")})
	ids := d.lastAccept(t)
	if strings.Join(ids, ",") != "job-1.0.0,job-1.1.0,job-1.2.0,job-1.3.0,job-1.4.0" {
		t.Fatalf("first offer launched %v", ids)
	}
	task := d.accepts[0].tasks[2]
	if task.GetAgentId() != "a1" || task.GetWasm().GetModule() != module || strings.Join(task.GetWasm().GetArgs(), " ") != "x y" {
		t.Fatalf("task %v", task)
	}
	if task.GetTimeoutMs() != 2500 {
		t.Fatalf("timeout_ms %d", task.GetTimeoutMs())
	}
	wantEnv := map[string]string{"K": "v", "PANDO_TASK_ID": "job-1.2.0", "PANDO_INSTANCE": "2", "PANDO_JOB": "job-1"}
	if fmt.Sprint(task.GetEnv()) != fmt.Sprint(wantEnv) {
		t.Fatalf("env %v, want %v", task.GetEnv(), wantEnv)
	}
	if r, _ := resources.FromProto(task.GetResources()); !r.Equal(resources.MustParse("cpus:0.1;mem:64MiB")) {
		t.Fatalf("task resources %s", r)
	}
	if d.accepts[0].filters.GetRefuseSeconds() != busyFilter.RefuseSeconds {
		t.Fatalf("accept filter %v while work is pending", d.accepts[0].filters)
	}

	// mem binds here: 128MiB holds two.
	f.onOffers(d, []*kernelpb.Offer{offer("o2", "a2", "cpus:4;mem:128MiB"), offer("o3", "a3", "cpus:0.05;mem:1GiB")})
	if ids := d.lastAccept(t); len(ids) != 2 || ids[0] != "job-1.5.0" {
		t.Fatalf("second offer launched %v", ids)
	}
	if len(d.declines) != 1 || d.declines[0].offerIDs[0] != "o3" {
		t.Fatalf("declines %+v, want o3 (too small)", d.declines)
	}
	st := mustJob(t, f, "job-1")
	if st.Pending != 3 || st.Staging != 7 || st.State != StateRunning || st.StartedAt == nil {
		t.Fatalf("status %+v", st)
	}
}

func TestSuppressAndRevive(t *testing.T) {
	f, d := newFW(t, newMemStore(), nil)
	// Nothing pending at subscription: suppressed right away.
	if d.suppress != 1 {
		t.Fatalf("suppress calls %d after subscribing idle", d.suppress)
	}
	// An offer that slips through is declined with the idle filter and
	// does not suppress again.
	f.onOffers(d, []*kernelpb.Offer{offer("o1", "a1", "cpus:1;mem:1GiB")})
	if len(d.declines) != 1 || d.declines[0].filters.GetRefuseSeconds() != idleFilter.RefuseSeconds || d.suppress != 1 {
		t.Fatalf("declines %+v suppress %d", d.declines, d.suppress)
	}

	submit(t, f, JobSpec{Instances: 2})
	if d.revive != 1 {
		t.Fatalf("revive calls %d after submit", d.revive)
	}
	submit(t, f, JobSpec{Instances: 1})
	if d.revive != 1 {
		t.Fatalf("revived again while not suppressed: %d", d.revive)
	}
	f.onOffers(d, []*kernelpb.Offer{offer("o2", "a1", "cpus:1;mem:1GiB")})
	if d.suppress != 2 {
		t.Fatalf("suppress calls %d after everything launched", d.suppress)
	}
	if d.accepts[0].filters.GetRefuseSeconds() != idleFilter.RefuseSeconds {
		t.Fatalf("remainder filter %v with nothing pending", d.accepts[0].filters)
	}
	// A retry needs offers again.
	f.onUpdate(d, status("job-1.0.0", kernelpb.TaskState_TASK_LOST))
	if d.revive != 2 {
		t.Fatalf("revive calls %d after a relaunch was queued", d.revive)
	}
}

func TestRoundRobinAcrossJobs(t *testing.T) {
	f, d := newFW(t, newMemStore(), nil)
	submit(t, f, JobSpec{Instances: 100})
	submit(t, f, JobSpec{Instances: 100, Resources: "cpus:0.2;mem:64MiB"})
	f.onOffers(d, []*kernelpb.Offer{
		offer("o1", "a1", "cpus:0.4;mem:1GiB"),
		offer("o2", "a2", "cpus:0.4;mem:1GiB"),
	})
	if len(d.accepts) != 2 {
		t.Fatalf("accepts %d", len(d.accepts))
	}
	jobsIn := func(a acceptCall) string {
		seen := map[string]bool{}
		for _, task := range a.tasks {
			seen[task.GetLabels()["pando.job"]] = true
		}
		var out []string
		for k := range seen {
			out = append(out, k)
		}
		sort.Strings(out)
		return strings.Join(out, ",")
	}
	if jobsIn(d.accepts[0]) != "job-1" || jobsIn(d.accepts[1]) != "job-2" {
		t.Fatalf("offers went to %s and %s; want the second job served too", jobsIn(d.accepts[0]), jobsIn(d.accepts[1]))
	}
	if len(d.accepts[1].tasks) != 2 {
		t.Fatalf("job-2 got %d tasks in 0.4 cpus, want 2", len(d.accepts[1].tasks))
	}
}

func TestRetriesThenFailure(t *testing.T) {
	f, d := newFW(t, newMemStore(), nil)
	submit(t, f, JobSpec{Instances: 1, Retries: 1})
	f.onOffers(d, []*kernelpb.Offer{offer("o1", "a1", "cpus:1;mem:1GiB")})
	f.onUpdate(d, status("job-1.0.0", kernelpb.TaskState_TASK_RUNNING))
	if st := mustJob(t, f, "job-1"); st.Running != 1 {
		t.Fatalf("%+v", st)
	}
	fail := &kernelpb.TaskStatus{TaskId: "job-1.0.0", State: kernelpb.TaskState_TASK_FAILED, AgentId: "a1",
		Reason: kernelpb.Reason_REASON_EXIT_NONZERO, Message: "exit status 3", ExitCode: 3}
	f.onUpdate(d, fail)
	// A duplicate of the same update (at-least-once delivery) changes nothing.
	f.onUpdate(d, fail)
	st := mustJob(t, f, "job-1")
	if st.Pending != 1 || st.Retried != 1 || st.State != StateRunning {
		t.Fatalf("after first failure %+v", st)
	}
	f.onOffers(d, []*kernelpb.Offer{offer("o2", "a1", "cpus:1;mem:1GiB")})
	if ids := d.lastAccept(t); len(ids) != 1 || ids[0] != "job-1.0.1" {
		t.Fatalf("relaunch %v, want job-1.0.1", ids)
	}
	f.onUpdate(d, &kernelpb.TaskStatus{TaskId: "job-1.0.1", State: kernelpb.TaskState_TASK_ERROR, Reason: kernelpb.Reason_REASON_INVALID_TASK})
	st = mustJob(t, f, "job-1")
	if st.State != StateFailed || st.Failed != 1 || st.FinishedAt == nil {
		t.Fatalf("after retries are spent %+v", st)
	}
	if len(st.Failures) != 2 || st.Failures[0].ExitCode != 3 || st.Failures[0].Reason != "exit_nonzero" ||
		st.Failures[0].State != "failed" || st.Failures[1].TaskID != "job-1.0.1" {
		t.Fatalf("failures %+v", st.Failures)
	}
}

func TestLostDoesNotConsumeRetries(t *testing.T) {
	f, d := newFW(t, newMemStore(), nil)
	submit(t, f, JobSpec{Instances: 1, Retries: 0})
	for attempt := 0; attempt <= MaxLostRelaunches; attempt++ {
		f.onOffers(d, []*kernelpb.Offer{offer(fmt.Sprint("o", attempt), "a1", "cpus:1;mem:1GiB")})
		want := fmt.Sprintf("job-1.0.%d", attempt)
		if ids := d.lastAccept(t); ids[0] != want {
			t.Fatalf("attempt %d launched %v, want %s", attempt, ids, want)
		}
		f.onUpdate(d, status(want, kernelpb.TaskState_TASK_LOST))
	}
	st := mustJob(t, f, "job-1")
	if st.State != StateFailed || st.LostRetried != MaxLostRelaunches || st.Retried != 0 {
		t.Fatalf("%+v", st)
	}
}

func TestUnexpectedTasksAreKilled(t *testing.T) {
	f, d := newFW(t, newMemStore(), nil)
	submit(t, f, JobSpec{Instances: 1, Retries: 2})
	f.onOffers(d, []*kernelpb.Offer{offer("o1", "a1", "cpus:1;mem:1GiB")})
	f.onUpdate(d, status("job-1.0.0", kernelpb.TaskState_TASK_LOST))
	// The lost attempt turns out to be alive after all.
	f.onUpdate(d, status("job-1.0.0", kernelpb.TaskState_TASK_RUNNING))
	f.onUpdate(d, status("job-99.0.0", kernelpb.TaskState_TASK_RUNNING))
	f.onUpdate(d, status("garbage", kernelpb.TaskState_TASK_STAGING))
	f.onUpdate(d, status("job-99.0.0", kernelpb.TaskState_TASK_FINISHED)) // terminal: nothing to kill
	if strings.Join(d.kills, ",") != "job-1.0.0,job-99.0.0,garbage" {
		t.Fatalf("kills %v", d.kills)
	}
	if st := mustJob(t, f, "job-1"); st.Pending != 1 {
		t.Fatalf("the stale attempt changed the instance: %+v", st)
	}
}

func TestKillJob(t *testing.T) {
	f, d := newFW(t, newMemStore(), nil)
	submit(t, f, JobSpec{Instances: 3, Retries: 5})
	f.onOffers(d, []*kernelpb.Offer{offer("o1", "a1", "cpus:0.2;mem:1GiB")})
	f.onUpdate(d, status("job-1.0.0", kernelpb.TaskState_TASK_RUNNING))
	if err := f.Kill(context.Background(), "job-1"); err != nil {
		t.Fatal(err)
	}
	sort.Strings(d.kills)
	if strings.Join(d.kills, ",") != "job-1.0.0,job-1.1.0" {
		t.Fatalf("kills %v", d.kills)
	}
	st := mustJob(t, f, "job-1")
	if st.Killed != 1 || st.State != StateRunning || st.Pending != 0 {
		t.Fatalf("after kill %+v", st)
	}
	// Pending instances are gone: offers are declined.
	f.onOffers(d, []*kernelpb.Offer{offer("o2", "a1", "cpus:1;mem:1GiB")})
	if len(d.accepts) != 1 {
		t.Fatal("launched tasks of a killed job")
	}
	f.onUpdate(d, status("job-1.0.0", kernelpb.TaskState_TASK_KILLED))
	f.onUpdate(d, status("job-1.1.0", kernelpb.TaskState_TASK_FAILED)) // raced with the kill: no retry
	st = mustJob(t, f, "job-1")
	if st.State != StateKilled || st.Killed != 3 || st.Pending != 0 {
		t.Fatalf("final %+v", st)
	}
	if err := f.Kill(context.Background(), "job-1"); err != nil {
		t.Fatalf("killing a killed job: %v", err)
	}
	if err := f.Kill(context.Background(), "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Kill(nope) = %v", err)
	}
}

func TestJobFinishes(t *testing.T) {
	f, d := newFW(t, newMemStore(), nil)
	submit(t, f, JobSpec{Instances: 2})
	f.onOffers(d, []*kernelpb.Offer{offer("o1", "a1", "cpus:1;mem:1GiB")})
	for _, id := range []string{"job-1.0.0", "job-1.1.0"} {
		f.onUpdate(d, status(id, kernelpb.TaskState_TASK_RUNNING))
		f.onUpdate(d, status(id, kernelpb.TaskState_TASK_FINISHED))
	}
	st := mustJob(t, f, "job-1")
	if st.State != StateFinished || st.Finished != 2 || st.FinishedAt == nil || st.DurationS < 0 || st.Why != "" {
		t.Fatalf("%+v", st)
	}
	tasks := f.Tasks("job-1")
	if len(tasks) != 2 || tasks[1].TaskID != "job-1.1.0" || tasks[1].State != "finished" || tasks[1].AgentID != "a1" {
		t.Fatalf("tasks %+v", tasks)
	}
}

func TestEndedJobsAreBounded(t *testing.T) {
	st := newMemStore()
	f, err := New(Config{Store: st, PersistInterval: time.Hour, MaxEndedJobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDriver{}
	f.onSubscribed(d, "fw-1", false)
	for range 5 {
		submit(t, f, JobSpec{Instances: 1})
	}
	f.onOffers(d, []*kernelpb.Offer{offer("o1", "a1", "cpus:1;mem:1GiB")})
	// Jobs end out of submit order; the first to end go first. job-5
	// keeps running and is never forgotten.
	f.onUpdate(d, status("job-5.0.0", kernelpb.TaskState_TASK_RUNNING))
	f.onUpdate(d, status("job-2.0.0", kernelpb.TaskState_TASK_FINISHED))
	f.onUpdate(d, status("job-1.0.0", kernelpb.TaskState_TASK_FAILED))
	f.onUpdate(d, status("job-3.0.0", kernelpb.TaskState_TASK_FINISHED))
	if err := f.Kill(context.Background(), "job-4"); err != nil {
		t.Fatal(err)
	}
	f.onUpdate(d, status("job-4.0.0", kernelpb.TaskState_TASK_KILLED))
	ids := func(f *Framework) string {
		var out []string
		for _, j := range f.Jobs() {
			out = append(out, j.ID+":"+j.State)
		}
		return strings.Join(out, " ")
	}
	if got := ids(f); got != "job-3:finished job-4:killed job-5:running" {
		t.Fatalf("jobs %s, want the two that ended last and the running one", got)
	}
	if _, ok := f.Job("job-2"); ok {
		t.Fatal("job-2 is still known")
	}
	if tasks := f.Tasks("job-1"); tasks != nil {
		t.Fatalf("job-1 still has tasks %v", tasks)
	}
	// A late update for a forgotten job's task changes nothing.
	f.onUpdate(d, status("job-1.0.0", kernelpb.TaskState_TASK_FAILED))
	if err := f.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	stored := func() string {
		t.Helper()
		kvs, _ := st.List(context.Background(), "frameworks/batch/jobs/")
		var out []string
		for _, kv := range kvs {
			out = append(out, strings.TrimPrefix(kv.Key, "frameworks/batch/jobs/"))
		}
		return strings.Join(out, " ")
	}
	if got := stored(); got != "job-3 job-4 job-5" {
		t.Fatalf("stored jobs %s, want job-3 job-4 job-5", got)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	// Restarting with a lower bound forgets job-3 (it ended before job-4)
	// at load, and deletes its record.
	f2, err := New(Config{Store: st, PersistInterval: time.Hour, MaxEndedJobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(f2); got != "job-4:killed job-5:running" {
		t.Fatalf("jobs after restart %s", got)
	}
	if err := f2.Close(); err != nil {
		t.Fatal(err)
	}
	if got := stored(); got != "job-4 job-5" {
		t.Fatalf("stored jobs after restart %s, want job-4 job-5", got)
	}
	if st := submit(t, newFWOn(t, st), JobSpec{Instances: 1}); st.ID != "job-6" {
		t.Fatalf("new job id %s after pruning, want job-6", st.ID)
	}
}

// newFWOn is newFW on an existing store, with the default bound.
func newFWOn(t *testing.T, st store.Store) *Framework {
	t.Helper()
	f, _ := newFW(t, st, nil)
	return f
}

func TestSubmitValidation(t *testing.T) {
	cl := fakeCluster{agents: []client.Agent{
		{ID: "a1", Hostname: "small", Total: "cpus:2;mem:4GiB", Active: true},
		{ID: "a2", Hostname: "big", Total: "cpus:8;mem:19GiB", Active: true},
		{ID: "a3", Hostname: "gone", Total: "cpus:64;mem:256GiB"}, // inactive: counts for nothing
	}}
	f, _ := newFW(t, newMemStore(), cl)
	for _, tc := range []struct {
		spec JobSpec
		err  error
		msg  string
	}{
		{JobSpec{Module: "abc", Instances: 1}, ErrInvalid, "content address"},
		{JobSpec{Module: module, Instances: 0}, ErrInvalid, "instances"},
		{JobSpec{Module: module, Instances: 1, Retries: -1}, ErrInvalid, "retries"},
		{JobSpec{Module: module, Instances: 1, Resources: "cpus:lots"}, ErrInvalid, "resources"},
		{JobSpec{Module: module, Instances: 1, Env: map[string]string{"PANDO_JOB": "x"}}, ErrInvalid, "reserved"},
		{JobSpec{Module: module, Instances: 1, Env: map[string]string{"A=B": "x"}}, ErrInvalid, "variable name"},
		{JobSpec{Module: module, Instances: 1, TimeoutMS: -1}, ErrInvalid, "timeout_ms"},
		{JobSpec{Module: module, Instances: 1, Resources: "cpus:1;mem:64GiB"}, ErrImpossible, "the largest agent (big) lacks mem 64GiB (has 19GiB)"},
		{JobSpec{Module: module, Instances: 1, Resources: "cpus:16;mem:1GiB"}, ErrImpossible, "cpus 16"},
		{JobSpec{Module: module, Instances: 5, Resources: "cpus:8;mem:19GiB"}, nil, ""},
	} {
		_, err := f.Submit(context.Background(), tc.spec)
		if tc.err == nil {
			if err != nil {
				t.Errorf("Submit(%+v) = %v", tc.spec, err)
			}
			continue
		}
		if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Submit(%+v) = %v; want %v mentioning %q", tc.spec, err, tc.err, tc.msg)
		}
	}
}

func TestNoAgentsYetIsAcceptedAndExplained(t *testing.T) {
	f, _ := newFW(t, newMemStore(), fakeCluster{})
	st := submit(t, f, JobSpec{Instances: 1})
	if !strings.Contains(st.Why, "no agent") {
		t.Fatalf("why = %q", st.Why)
	}
}

func TestPersistenceAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pando.db")
	db, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(Config{Store: db, PersistInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDriver{}
	f.onSubscribed(d, "fw-9", false)
	submit(t, f, JobSpec{Instances: 3, Retries: 1})
	submit(t, f, JobSpec{Instances: 1})
	f.onOffers(d, []*kernelpb.Offer{offer("o1", "a1", "cpus:0.2;mem:1GiB")}) // job-1.0, job-1.1
	f.onUpdate(d, status("job-1.0.0", kernelpb.TaskState_TASK_FINISHED))
	f.onUpdate(d, status("job-1.1.0", kernelpb.TaskState_TASK_RUNNING))
	if err := f.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.onOffers(d, []*kernelpb.Offer{offer("o2", "a2", "cpus:0.2;mem:1GiB")})
	launched := d.lastAccept(t) // launched after the last save: the crash below loses it
	if !contains(launched, "job-1.2.0") || !contains(launched, "job-2.0.0") {
		t.Fatalf("launched %v", launched)
	}
	crash(f)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f2, err := New(Config{Store: db, PersistInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	if f2.FrameworkID() != "fw-9" {
		t.Fatalf("framework id %q after restart", f2.FrameworkID())
	}
	jobs := f2.Jobs()
	if len(jobs) != 2 || jobs[0].ID != "job-1" || jobs[1].ID != "job-2" {
		t.Fatalf("jobs after restart %+v", jobs)
	}
	// job-1.2 and job-2.0 were saved pending but launched after the last
	// save: unsure, they wait (staging) for reconciliation to tell.
	j1 := jobs[0]
	if j1.Finished != 1 || j1.Running != 1 || j1.Staging != 1 || j1.Pending != 0 || j1.State != StateRunning {
		t.Fatalf("job-1 after restart %+v", j1)
	}

	d2 := &fakeDriver{}
	f2.onSubscribed(d2, "fw-9", false)
	if len(d2.reconciles) != 2 || len(d2.reconciles[1]) != 0 {
		t.Fatalf("reconciles %v: want explicit then implicit", d2.reconciles)
	}
	var recon []string
	for _, r := range d2.reconciles[0] {
		recon = append(recon, r.GetTaskId()+"@"+r.GetAgentId())
	}
	sort.Strings(recon)
	if strings.Join(recon, ",") != "job-1.1.0@a1,job-1.2.0@,job-2.0.0@" {
		t.Fatalf("reconciled %v, want the running job-1.1.0 on a1 and the unsure job-1.2.0 and job-2.0.0", recon)
	}
	if d2.revive != 0 {
		t.Fatal("revived with nothing sure to be pending")
	}
	// The attempt launched before the crash is running: kept, not killed,
	// not launched again.
	f2.onUpdate(d2, status("job-1.2.0", kernelpb.TaskState_TASK_RUNNING))
	if len(d2.kills) != 0 {
		t.Fatalf("kills %v: the running job-1.2.0 is the instance's task", d2.kills)
	}
	// The master has no job-2.0.0: launched again, spending no retry.
	f2.onUpdate(d2, &kernelpb.TaskStatus{TaskId: "job-2.0.0", State: kernelpb.TaskState_TASK_LOST, Reason: kernelpb.Reason_REASON_RECONCILIATION})
	// The master no longer knows job-1.1.0: relaunched as a new attempt.
	f2.onUpdate(d2, &kernelpb.TaskStatus{TaskId: "job-1.1.0", State: kernelpb.TaskState_TASK_LOST, Reason: kernelpb.Reason_REASON_RECONCILIATION})
	if d2.revive == 0 {
		t.Fatal("did not revive with work pending")
	}
	f2.onOffers(d2, []*kernelpb.Offer{offer("o9", "a1", "cpus:1;mem:1GiB")})
	got := d2.lastAccept(t)
	sort.Strings(got)
	if strings.Join(got, ",") != "job-1.1.1,job-2.0.1" {
		t.Fatalf("relaunched %v, want job-1.1.1 and job-2.0.1", got)
	}
	j1, _ = f2.Job("job-1")
	j2, _ := f2.Job("job-2")
	if j1.Running != 1 || j1.Staging != 1 || j1.LostRetried != 1 || j2.LostRetried != 0 || j2.Retried != 0 {
		t.Fatalf("after reconciliation: job-1 %+v, job-2 %+v", j1, j2)
	}
	// Ids keep counting after a restart.
	if st := submit(t, f2, JobSpec{Instances: 1}); st.ID != "job-3" {
		t.Fatalf("new job id %s, want job-3", st.ID)
	}
}

// crash stops f's persister without the final flush Close would do.
func crash(f *Framework) {
	f.closeOnce.Do(func() {
		close(f.closed)
		f.persistWG.Wait()
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestProgressWritesAreThrottled(t *testing.T) {
	st := newMemStore()
	f, d := newFW(t, st, nil)
	submit(t, f, JobSpec{Instances: 200})
	afterSubmit := st.writes()
	f.onOffers(d, []*kernelpb.Offer{offer("o1", "a1", "cpus:100;mem:100GiB")})
	for i := 0; i < 199; i++ {
		f.onUpdate(d, status(fmt.Sprintf("job-1.%d.0", i), kernelpb.TaskState_TASK_RUNNING))
		f.onUpdate(d, status(fmt.Sprintf("job-1.%d.0", i), kernelpb.TaskState_TASK_FINISHED))
	}
	if w := st.writes(); w != afterSubmit {
		t.Fatalf("%d store writes for task progress; want none before the persist interval", w-afterSubmit)
	}
	// The job's end is written promptly, without waiting for the interval.
	f.onUpdate(d, status("job-1.199.0", kernelpb.TaskState_TASK_FINISHED))
	deadline := time.Now().Add(5 * time.Second)
	for st.writes() == afterSubmit && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	raw, err := st.Get(context.Background(), "frameworks/batch/jobs/job-1")
	if err != nil {
		t.Fatal(err)
	}
	var rec jobRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.State != StateFinished || rec.Phases != strings.Repeat("f", 200) {
		t.Fatalf("stored %q %q", rec.State, rec.Phases)
	}
}

func TestHTTP(t *testing.T) {
	cl := fakeCluster{agents: []client.Agent{{ID: "a1", Hostname: "h1", Total: "cpus:4;mem:8GiB", Active: true}}}
	f, d := newFW(t, newMemStore(), cl)
	srv := httptest.NewServer(http.StripPrefix("/api/v1/batch", f.Handler()))
	defer srv.Close()
	base := srv.URL + "/api/v1/batch"

	do := func(method, path, body string) (int, map[string]any, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s %s: content type %q", method, path, ct)
		}
		var obj map[string]any
		_ = json.Unmarshal(raw, &obj)
		return resp.StatusCode, obj, raw
	}

	// The exact fields sdk/client sends.
	code, obj, _ := do("POST", "/jobs", `{"module":"`+module+`","instances":3,"name":"web","timeout_ms":1500,"retries":0}`)
	if code != http.StatusCreated || obj["id"] != "job-1" || obj["state"] != "pending" || obj["pending"] != float64(3) || obj["timeout_ms"] != float64(1500) {
		t.Fatalf("submit: %d %v", code, obj)
	}
	for _, field := range []string{"submitted_at", "duration_s", "finished", "failed", "killed", "running", "staging", "lost_retried"} {
		if _, ok := obj[field]; !ok {
			t.Errorf("job JSON lacks %q: %v", field, obj)
		}
	}
	code, obj, _ = do("POST", "/jobs", `{"module":"sha256:nope","instances":1}`)
	if code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(obj["error"]), "content address") {
		t.Fatalf("invalid: %d %v", code, obj)
	}
	code, obj, _ = do("POST", "/jobs", `{"module":"`+module+`","instances":1,"resources":"mem:64GiB"}`)
	if code != http.StatusUnprocessableEntity || !strings.Contains(fmt.Sprint(obj["error"]), "64GiB") {
		t.Fatalf("impossible: %d %v", code, obj)
	}
	code, _, _ = do("POST", "/jobs", `{"module":"`+module+`","instances":1,"bogus":1}`)
	if code != http.StatusBadRequest {
		t.Fatalf("unknown field: %d", code)
	}

	f.onOffers(d, []*kernelpb.Offer{offer("o1", "a1", "cpus:0.1;mem:1GiB")})
	f.onUpdate(d, status("job-1.0.0", kernelpb.TaskState_TASK_RUNNING))

	code, _, raw := do("GET", "/jobs", "")
	var list []JobStatus
	if err := json.Unmarshal(raw, &list); err != nil || code != 200 || len(list) != 1 || list[0].Running != 1 {
		t.Fatalf("list: %d %s %v", code, raw, err)
	}
	code, obj, _ = do("GET", "/jobs/job-1", "")
	if code != 200 || obj["running"] != float64(1) || obj["pending"] != float64(2) {
		t.Fatalf("get: %d %v", code, obj)
	}
	code, _, raw = do("GET", "/jobs/job-1/tasks", "")
	var tasks []TaskStatusView
	if err := json.Unmarshal(raw, &tasks); err != nil || code != 200 || len(tasks) != 3 || tasks[0].State != "running" {
		t.Fatalf("tasks: %d %s", code, raw)
	}
	for _, p := range []string{"/jobs/job-7", "/jobs/job-7/tasks"} {
		if code, obj, _ := do("GET", p, ""); code != 404 || obj["error"] == nil {
			t.Fatalf("GET %s: %d %v", p, code, obj)
		}
	}
	code, obj, _ = do("DELETE", "/jobs/job-1", "")
	if code != http.StatusAccepted || obj["killed"] != float64(2) {
		t.Fatalf("kill: %d %v", code, obj)
	}
	if code, _, _ := do("DELETE", "/jobs/job-7", ""); code != 404 {
		t.Fatalf("kill unknown: %d", code)
	}
}

// TestConcurrentReadersAndCallbacks exercises the shared state under -race:
// HTTP-style readers and the actor-side callbacks at once.
func TestConcurrentReadersAndCallbacks(t *testing.T) {
	f, d := newFW(t, newMemStore(), nil)
	submit(t, f, JobSpec{Instances: 500})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = f.Jobs()
				_ = f.Tasks("job-1")
				_ = f.flush(context.Background())
			}
		}()
	}
	for i := 0; i < 50; i++ {
		f.onOffers(d, []*kernelpb.Offer{offer(fmt.Sprint("o", i), "a1", "cpus:1;mem:1GiB")})
	}
	for i := 0; i < 500; i++ {
		f.onUpdate(d, status(fmt.Sprintf("job-1.%d.0", i), kernelpb.TaskState_TASK_FINISHED))
	}
	close(stop)
	wg.Wait()
	if st := mustJob(t, f, "job-1"); st.State != StateFinished || st.Finished != 500 {
		t.Fatalf("%+v", st)
	}
}
