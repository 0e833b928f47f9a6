package artifacts

import (
	"maps"
	"slices"
	"time"
)

// Refs is the master's account of which artifacts are still needed, from
// which it decides what to collect. It is pure: no clock, no I/O; time is
// a parameter, and the caller (the master) lists the store and deletes.
//
// An artifact is needed while a live lease names it (a framework holds one
// per job for the job's lifetime, renewing it), while a task the master
// knows names it, or while an image of the catalog is it; and for Grace
// after the last of these, or after it was stored. Grace covers the time
// between an upload and the job that uses it, and a master restart: leases
// live in memory, so after a restart nothing is collected for Grace, by
// which time the frameworks have renewed theirs.
type Refs struct {
	Grace   time.Duration
	started time.Time
	leases  map[string]lease // by holder
	lastRef map[string]time.Time
}

type lease struct {
	digests []string
	expires time.Time
}

// NewRefs starts an account at now.
func NewRefs(grace time.Duration, now time.Time) *Refs {
	return &Refs{Grace: grace, started: now, leases: map[string]lease{}, lastRef: map[string]time.Time{}}
}

// Lease makes holder's lease name exactly digests until now+ttl,
// replacing what it named before.
func (r *Refs) Lease(holder string, digests []string, ttl time.Duration, now time.Time) {
	r.Release(holder, now)
	r.leases[holder] = lease{digests: slices.Clone(digests), expires: now.Add(ttl)}
}

// Release ends holder's lease: what it named is needed for Grace more.
func (r *Refs) Release(holder string, now time.Time) {
	if l, ok := r.leases[holder]; ok {
		r.touch(l.digests, now)
		delete(r.leases, holder)
	}
}

// Holders lists the live leases' holders, sorted.
func (r *Refs) Holders() []string { return slices.Sorted(maps.Keys(r.leases)) }

func (r *Refs) touch(digests []string, at time.Time) {
	for _, d := range digests {
		if at.After(r.lastRef[d]) {
			r.lastRef[d] = at
		}
	}
}

// Collect returns, sorted, the digests of stored (digest -> when it was
// stored) that may be deleted now; inUse are the digests that tasks and
// images name. Expired leases end here, as of their expiry.
func (r *Refs) Collect(stored map[string]time.Time, inUse []string, now time.Time) []string {
	for holder, l := range r.leases {
		if !now.Before(l.expires) {
			r.touch(l.digests, l.expires)
			delete(r.leases, holder)
		}
	}
	needed := map[string]bool{}
	for _, l := range r.leases {
		for _, d := range l.digests {
			needed[d] = true
		}
	}
	for _, d := range inUse {
		needed[d] = true
	}
	r.touch(inUse, now)
	var out []string
	for d, at := range stored {
		last := latest(at, r.lastRef[d], r.started)
		if !needed[d] && now.Sub(last) >= r.Grace {
			out = append(out, d)
		}
	}
	// Forget what is no longer stored.
	for d := range r.lastRef {
		if _, ok := stored[d]; !ok && !needed[d] {
			delete(r.lastRef, d)
		}
	}
	slices.Sort(out)
	return out
}

func latest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if t.After(out) {
			out = t
		}
	}
	return out
}
