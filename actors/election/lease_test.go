package election

import (
	"strings"
	"testing"
	"time"
)

// at is a point on the test's own clock: t0 plus that many milliseconds.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// step is one input to the Lease and the decision expected back.
type step struct {
	name   string
	feed   func(l *Lease) Decision
	action Action
	epoch  uint64 // checked when action != Keep
	reason string // a substring of the reason, checked on StepDown
}

func run(t *testing.T, l *Lease, steps []step) {
	t.Helper()
	for i, s := range steps {
		d := s.feed(l)
		if d.Action != s.action {
			t.Fatalf("step %d (%s): action %v, want %v (decision %+v)", i, s.name, d.Action, s.action, d)
		}
		if s.action != Keep && d.Epoch != s.epoch {
			t.Fatalf("step %d (%s): epoch %d, want %d", i, s.name, d.Epoch, s.epoch)
		}
		if s.action == StepDown && !strings.Contains(d.Reason, s.reason) {
			t.Fatalf("step %d (%s): reason %q, want it to mention %q", i, s.name, d.Reason, s.reason)
		}
		if s.action == StepDown {
			if _, leading := l.Leading(); leading {
				t.Fatalf("step %d (%s): still leading after a step-down", i, s.name)
			}
		}
	}
}

func TestLeaseRenewalsKeepTheLeaderUntilTheyStop(t *testing.T) {
	l := NewLease(3 * time.Second)
	run(t, l, []step{
		{"acquire with a fresh session", func(l *Lease) Decision { return l.Acquired(7, at(0), at(50)) }, Lead, 7, ""},
		{"tick before the deadline", func(l *Lease) Decision { return l.Tick(at(2999)) }, Keep, 0, ""},
		{"renew sent at 1s succeeds", func(l *Lease) Decision { return l.RenewOK(at(1000), at(1020)) }, Keep, 0, ""},
		{"tick past the first deadline, inside the renewed one", func(l *Lease) Decision { return l.Tick(at(3500)) }, Keep, 0, ""},
		{"renew fails: Consul unreachable", func(l *Lease) Decision { return l.RenewFailed(false, "connection refused", at(2000)) }, Keep, 0, ""},
		{"another transient failure", func(l *Lease) Decision { return l.RenewFailed(false, "connection refused", at(3900)) }, Keep, 0, ""},
		{"the failure at the deadline steps down", func(l *Lease) Decision { return l.RenewFailed(false, "connection refused", at(4000)) }, StepDown, 7, "connection refused"},
		{"later inputs change nothing", func(l *Lease) Decision { return l.Tick(at(9000)) }, Keep, 0, ""},
		{"a renew after the step-down does not bring leadership back", func(l *Lease) Decision { return l.RenewOK(at(8000), at(8001)) }, Keep, 0, ""},
	})
	if dl := l.Deadline(); !dl.IsZero() {
		t.Fatalf("deadline after step-down = %v, want zero", dl)
	}
}

func TestLeaseTickAloneStepsDown(t *testing.T) {
	// The shell's timer fires at the deadline even when every renew hangs:
	// a hung request must not keep a leader acting.
	l := NewLease(2 * time.Second)
	run(t, l, []step{
		{"acquire", func(l *Lease) Decision { return l.Acquired(3, at(100), at(100)) }, Lead, 3, ""},
		{"tick at the deadline", func(l *Lease) Decision { return l.Tick(l.Deadline()) }, StepDown, 3, "no successful session renewal for 2s"},
	})
}

func TestLeaseLostSessionStepsDownAtOnce(t *testing.T) {
	l := NewLease(5 * time.Second)
	run(t, l, []step{
		{"acquire", func(l *Lease) Decision { return l.Acquired(11, at(0), at(10)) }, Lead, 11, ""},
		{"Consul says the session is gone", func(l *Lease) Decision { return l.RenewFailed(true, "session invalidated", at(500)) }, StepDown, 11, "session invalidated"},
		{"acquire again at a newer epoch", func(l *Lease) Decision { return l.Acquired(15, at(600), at(700)) }, Lead, 15, ""},
		{"resign", func(l *Lease) Decision { return l.Resign("resigned") }, StepDown, 15, "resigned"},
		{"resign again", func(l *Lease) Decision { return l.Resign("resigned") }, Keep, 0, ""},
	})
}

func TestLeaseLateConfirmationDoesNotUndoTheDeadline(t *testing.T) {
	l := NewLease(time.Second)
	run(t, l, []step{
		{"acquire", func(l *Lease) Decision { return l.Acquired(2, at(0), at(0)) }, Lead, 2, ""},
		// Sent before the deadline, answered after it: the leader was
		// unsure past its deadline, so it steps down anyway.
		{"renew answered late", func(l *Lease) Decision { return l.RenewOK(at(900), at(1200)) }, StepDown, 2, "no successful session renewal"},
	})
}

func TestLeaseOlderRenewDoesNotMoveTheDeadlineBack(t *testing.T) {
	l := NewLease(time.Second)
	run(t, l, []step{
		{"acquire", func(l *Lease) Decision { return l.Acquired(2, at(0), at(0)) }, Lead, 2, ""},
		{"renew sent at 800ms", func(l *Lease) Decision { return l.RenewOK(at(800), at(850)) }, Keep, 0, ""},
		{"an older renew answered later", func(l *Lease) Decision { return l.RenewOK(at(500), at(900)) }, Keep, 0, ""},
	})
	if got, want := l.Deadline(), at(1800); !got.Equal(want) {
		t.Fatalf("deadline = %v, want %v (from the newest renew)", got, want)
	}
}

func TestLeaseStaleSessionDoesNotLead(t *testing.T) {
	// The lock was won, but the session's TTL was last reset so long ago
	// that the leader could not be sure of it for any time at all.
	l := NewLease(time.Second)
	run(t, l, []step{
		{"acquire with a stale session", func(l *Lease) Decision { return l.Acquired(4, at(0), at(1000)) }, Keep, 0, ""},
		{"tick", func(l *Lease) Decision { return l.Tick(at(1001)) }, Keep, 0, ""},
	})
	if _, leading := l.Leading(); leading {
		t.Fatal("leading with a stale session")
	}
}

func TestLeaseDoubleAcquireGivesUpTheOldTerm(t *testing.T) {
	l := NewLease(time.Second)
	run(t, l, []step{
		{"acquire", func(l *Lease) Decision { return l.Acquired(4, at(0), at(0)) }, Lead, 4, ""},
		{"acquire again", func(l *Lease) Decision { return l.Acquired(5, at(10), at(10)) }, StepDown, 4, "while leading epoch 4"},
	})
}
