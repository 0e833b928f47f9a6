package election

import (
	"fmt"
	"time"
)

// Lease is the pure core of leadership: it decides, from what the shell
// observed and when, whether this master leads. It does no I/O and reads no
// clock; the shell feeds it and acts on the Decision it returns.
//
// The rule: a leader may act only while it is sure Consul still holds its
// session. Consul keeps a session for at least its TTL after the last renew
// it received, so counting from the moment the last successful renew was
// *sent* (never later than when Consul reset the TTL) is conservative. The
// leader steps down when StepDownAfter has passed since then without a
// successful renew (StepDownAfter < TTL, so it stops before Consul could
// hand the lock to anybody), or at once when Consul says the session or
// the lock is gone.
type Lease struct {
	stepDownAfter time.Duration
	leading       bool
	epoch         uint64
	renewedAt     time.Time // send time of the newest successful renew
}

// Action is what the shell must do after feeding the Lease.
type Action int

const (
	// Keep: nothing changes.
	Keep Action = iota
	// Lead: this master just became the leader at Decision.Epoch.
	Lead
	// StepDown: this master must stop acting as the leader now.
	StepDown
)

func (a Action) String() string {
	switch a {
	case Keep:
		return "keep"
	case Lead:
		return "lead"
	case StepDown:
		return "step down"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Decision is the Lease's answer to one input.
type Decision struct {
	Action Action
	Epoch  uint64 // the epoch led (Lead) or given up (StepDown)
	Reason string // why a StepDown happened
}

// NewLease returns a Lease of a master that does not lead. stepDownAfter
// is how long a leader may go without a successful renew; it must be
// positive and below the session TTL (Config checks that).
func NewLease(stepDownAfter time.Duration) *Lease {
	return &Lease{stepDownAfter: stepDownAfter}
}

// Leading reports whether this master leads, and at which epoch.
func (l *Lease) Leading() (uint64, bool) { return l.epoch, l.leading }

// Deadline is when the leader steps down unless a renew succeeds first
// (the zero time when it does not lead). The shell sets its timer to it and
// bounds every request to Consul by it, so that no blocked call can keep a
// leader acting past it.
func (l *Lease) Deadline() time.Time {
	if !l.leading {
		return time.Time{}
	}
	return l.renewedAt.Add(l.stepDownAfter)
}

// Acquired records that the lock was taken at epoch, by a session whose TTL
// was last reset by a request sent at sessionRenewedAt (its creation or
// its latest renew). If that is already too long ago, the master does not
// lead: it could not be sure of the lock for any time at all.
func (l *Lease) Acquired(epoch uint64, sessionRenewedAt, now time.Time) Decision {
	if l.leading {
		// Only a renew of the same term can follow; a second acquire
		// without a step-down is a shell bug, and the safe answer is to
		// give up the old term.
		return l.stepDown(fmt.Sprintf("acquired epoch %d while leading epoch %d", epoch, l.epoch))
	}
	if now.Sub(sessionRenewedAt) >= l.stepDownAfter {
		return Decision{Action: Keep}
	}
	l.leading, l.epoch, l.renewedAt = true, epoch, sessionRenewedAt
	return Decision{Action: Lead, Epoch: epoch}
}

// RenewOK records a renew, sent at sentAt, that Consul confirmed (the
// session exists and still holds the lock).
func (l *Lease) RenewOK(sentAt, now time.Time) Decision {
	if !l.leading {
		return Decision{Action: Keep}
	}
	if d := l.Tick(now); d.Action == StepDown {
		// The confirmation came back after the deadline: the leader has
		// already been unsure for too long, and another master may be
		// about to lead; a late answer does not undo that.
		return d
	}
	if sentAt.After(l.renewedAt) {
		l.renewedAt = sentAt
	}
	return Decision{Action: Keep}
}

// RenewFailed records a failed renew. lost is true when Consul answered
// that the session or the lock is gone (the leader steps down at once);
// false for an error that says nothing about the session (Consul
// unreachable, a timeout): the leader keeps leading until its deadline.
func (l *Lease) RenewFailed(lost bool, reason string, now time.Time) Decision {
	if !l.leading {
		return Decision{Action: Keep}
	}
	if lost {
		return l.stepDown(reason)
	}
	if d := l.Tick(now); d.Action == StepDown {
		d.Reason = fmt.Sprintf("%s (last error: %s)", d.Reason, reason)
		return d
	}
	return Decision{Action: Keep}
}

// Tick checks the deadline at now.
func (l *Lease) Tick(now time.Time) Decision {
	if !l.leading || now.Before(l.Deadline()) {
		return Decision{Action: Keep}
	}
	return l.stepDown(fmt.Sprintf("no successful session renewal for %s (limit %s)",
		now.Sub(l.renewedAt).Round(time.Millisecond), l.stepDownAfter))
}

// Resign gives up leadership on request.
func (l *Lease) Resign(reason string) Decision {
	if !l.leading {
		return Decision{Action: Keep}
	}
	return l.stepDown(reason)
}

func (l *Lease) stepDown(reason string) Decision {
	d := Decision{Action: StepDown, Epoch: l.epoch, Reason: reason}
	l.leading, l.epoch, l.renewedAt = false, 0, time.Time{}
	return d
}
