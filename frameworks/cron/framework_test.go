package cron

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/sdk"
	"github.com/pandodc/pando/sdk/sdktest"
	"github.com/pandodc/pando/sdk/store"
)

// shell is a Framework on a real store, played by the SDK's harness
// master, with a clock the test moves.
type shell struct {
	t   *testing.T
	f   *Framework
	h   *sdktest.Harness
	now *time.Time
}

func newShell(t *testing.T, st store.Store, now *time.Time) *shell {
	f, err := New(Config{Store: st, Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	h := sdktest.New(t, f, sdk.Config{ExplicitAck: true, Framework: &sdk.FrameworkInfo{Name: "cron"}})
	return &shell{t: t, f: f, h: h, now: now}
}

func (s *shell) advance(d time.Duration) {
	*s.now = s.now.Add(d)
	s.f.tick()
}

func (s *shell) stored(name string) Record {
	s.t.Helper()
	r, ok, err := s.f.jobs.Get(context.Background(), name)
	if err != nil || !ok {
		s.t.Fatalf("job %s in the store: %v %v", name, ok, err)
	}
	return r
}

func TestShellClaimsBeforeLaunchAndReconcilesAfterRestart(t *testing.T) {
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "cron.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := mustTime(t, "2026-12-01T00:00:00Z")
	s := newShell(t, st, &now)
	if err := s.f.Add(context.Background(), job("tick", "R/2026-12-01T00:00:02Z/PT2S"), KindScheduled); err != nil {
		t.Fatal(err)
	}
	if err := s.f.Add(context.Background(), job("tick", "@daily", func(j *Job) { j.Parents = []string{"x"} }), KindScheduled); err == nil {
		t.Error("a job with parents was taken on the iso8601 endpoint")
	}
	s.advance(2 * time.Second)
	s.h.SendOffers(sdktest.Offer{Agent: "a1", Resources: "cpus:1;mem:1GiB"}, sdktest.Offer{Agent: "a2", Resources: "cpus:1;mem:32MiB"})
	launched := s.h.Launched()
	if len(launched) != 1 || launched[0].GetTaskId() != "cron.tick.s1796083202000.0" || launched[0].GetAgentId() != "a1" {
		t.Fatalf("launched %v, want the 00:00:02 slot's task on a1", launched)
	}
	if r := s.stored("tick").Status; len(r.Active) != 1 || r.Active[0].TaskID != launched[0].GetTaskId() || r.Active[0].State != RunStaging {
		t.Fatalf("stored after the launch: %+v, want the claim", r.Active)
	}
	s.h.Update(launched[0].GetTaskId(), sdk.TaskRunning)
	if len(s.h.Acked()) != 1 {
		t.Errorf("acked %v, want the RUNNING update", s.h.Acked())
	}

	// A new process on the same store: it reconciles the running task
	// and does not launch its slot again.
	s2 := newShell(t, st, &now)
	var asked []string
	for _, r := range sdktest.CallsOf[*kernelpb.Reconcile](s2.h) {
		for _, task := range r.GetTasks() {
			asked = append(asked, task.GetTaskId())
		}
	}
	if !slices.Contains(asked, launched[0].GetTaskId()) {
		t.Errorf("the restarted framework reconciled %v, want %s", asked, launched[0].GetTaskId())
	}
	s2.h.SendOffers(sdktest.Offer{Agent: "a1"})
	if l := s2.h.Launched(); len(l) != 0 {
		t.Errorf("the restarted framework launched %v with nothing due", l)
	}
	s2.h.Update(launched[0].GetTaskId(), sdk.TaskFinished)
	s2.h.Update("cron.gone.s1.0", sdk.TaskRunning) // a task of a deleted job
	if k := s2.h.Killed(); !slices.Equal(k, []string{"cron.gone.s1.0"}) {
		t.Errorf("killed %v, want the unknown task", k)
	}
	s2.advance(2 * time.Second)
	s2.h.SendOffers(sdktest.Offer{Agent: "a1"})
	if l := s2.h.Launched(); len(l) != 1 || l[0].GetTaskId() != "cron.tick.s1796083204000.0" {
		t.Errorf("launched %v, want the next slot only", l)
	}
	if v, _ := s2.f.Job("tick"); v.SuccessCount != 1 {
		t.Errorf("success count %d after the restart, want 1", v.SuccessCount)
	}
	if r := s2.stored("tick").Status; r.SuccessCount != 1 || len(r.History) != 1 {
		t.Errorf("stored %+v, want the success", r)
	}
}

func TestShellContainerJobsGoToContainerAgents(t *testing.T) {
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "cron.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := mustTime(t, "2026-12-01T00:00:00Z")
	s := newShell(t, st, &now)
	j := job("box", "R1/2026-12-01T00:00:01Z/PT1M", func(j *Job) {
		j.Module, j.Container, j.Command = "", &Container{Image: "sha256:" + strings.Repeat("cd", 32)}, "echo hi"
	})
	if err := s.f.Add(context.Background(), j, KindScheduled); err != nil {
		t.Fatal(err)
	}
	s.advance(time.Second)
	s.h.SendOffers(sdktest.Offer{Agent: "wasm-only", Attributes: map[string]string{"runtimes": "wasm"}})
	if l := s.h.Launched(); len(l) != 0 {
		t.Fatalf("launched %v on an agent without containers", l)
	}
	if v, _ := s.f.Job("box"); !strings.Contains(v.Waiting, "runtimes HAS container") {
		t.Errorf("waiting %q, want the reason", v.Waiting)
	}
	s.h.SendOffers(sdktest.Offer{Agent: "boxes", Attributes: map[string]string{"runtimes": "wasm,container"}})
	l := s.h.Launched()
	if len(l) != 1 || l[0].GetAgentId() != "boxes" || strings.Join(l[0].GetContainer().GetCommand(), " ") != "/bin/sh -c echo hi" ||
		l[0].GetEnv()["CHRONOS_JOB_NAME"] != "box" {
		t.Errorf("launched %v, want sh -c on the container agent", l)
	}
}
