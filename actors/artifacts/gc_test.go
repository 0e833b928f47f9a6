package artifacts

import (
	"slices"
	"testing"
	"time"
)

func TestRefsCollectOnlyWhatNoOneNeedsAfterGrace(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const grace = time.Hour
	leased, released, expired, task, fresh, orphan := digestOf("leased"), digestOf("released"), digestOf("expired"), digestOf("task"), digestOf("fresh"), digestOf("orphan")
	r := NewRefs(grace, t0)
	stored := map[string]time.Time{leased: t0, released: t0, expired: t0, task: t0, orphan: t0}
	r.Lease("batch/job-1", []string{leased}, 24*time.Hour, t0)
	r.Lease("batch/job-2", []string{released}, 24*time.Hour, t0)
	r.Lease("batch/job-3", []string{expired}, 30*time.Minute, t0)

	// Within the grace after the master started, nothing goes.
	if got := r.Collect(stored, nil, t0.Add(59*time.Minute)); len(got) != 0 {
		t.Fatalf("collected %v within the grace after a start", got)
	}
	r.Release("batch/job-2", t0.Add(2*time.Hour))
	stored[fresh] = t0.Add(150 * time.Minute)
	now := t0.Add(160 * time.Minute)
	// released: released at 2h, grace until 3h. expired: expired at 30m,
	// grace until 1h30. orphan: stored at 0, never needed.
	got := r.Collect(stored, []string{task}, now)
	want := []string{expired, orphan}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("at 2h40 collected %v, want %v (expired lease and orphan)", got, want)
	}
	if h := r.Holders(); !slices.Equal(h, []string{"batch/job-1"}) {
		t.Errorf("live leases %v, want only job-1's (job-3's expired, job-2's released)", h)
	}
	delete(stored, expired)
	delete(stored, orphan)
	got = r.Collect(stored, nil, t0.Add(4*time.Hour))
	want = []string{fresh, released, task} // the task ended at 2h40: grace until 3h40
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("at 4h collected %v, want %v", got, want)
	}
}

func digestOf(s string) string { return Digest([]byte(s)) }
