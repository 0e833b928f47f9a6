package allocator

import (
	"time"

	"github.com/pandodc/pando/kernel/resources"
)

// Round runs one allocation round at now and returns its decisions. Every
// returned Allocation is already counted as used: the same resources are
// never returned twice until Recover gives them back.
//
// Each agent with free resources is visited once, starting from an index
// that moves pseudo-randomly from round to round (deterministically: it
// depends only on the round number), so that no agent is always first.
// Its free resources go, whole, to the lowest (weighted) share role that
// has an eligible framework, and in it to the lowest share eligible
// framework. An agent whose free resources hold reservations may then
// offer what is reserved for other roles in the same round.
//
// Cost: per agent, the first eligible framework of the first role is
// usually the pick, and the allocation moves one framework and one role
// in their sorted orders (a binary search and a copy each). Frameworks
// skipped because they filtered this agent are paid once per filter, and
// suppressed frameworks cost nothing (they are not in the orders).
func (a *Allocator) Round(now time.Time) []Allocation {
	a.round++
	if a.dirty {
		a.rebuild()
	}
	a.stats = roundStats{now: now.UnixNano(), agents: len(a.agentList)}
	var out []Allocation
	if n := len(a.agentList); n > 0 && len(a.active.items) > 0 {
		out = make([]Allocation, 0, min(n, 1024))
		start := int(splitmix(a.round) % uint64(n))
		for k := range n {
			i := start + k
			if i >= n {
				i -= n
			}
			ag := a.agentList[i]
			if ag.free.IsEmpty() {
				continue
			}
			a.stats.withFree++
			if ag.freeReserved {
				out = a.offerReserved(ag, out)
			} else {
				out = a.offerWhole(ag, out)
			}
		}
	}
	a.explain()
	return out
}

// offerWhole is the common case: nothing free on ag is reserved, so every
// role may take all of it and the minimum check is the same for all.
func (a *Allocator) offerWhole(ag *agent, out []Allocation) []Allocation {
	ag.candRound = a.round
	ag.candRoles = ag.candRoles[:0]
	if !a.minOK(ag.freeVec) {
		ag.candAll = false
		a.stats.belowMin++
		return out
	}
	ag.candAll = true
	a.stats.cands++
	now := a.stats.now
	for ri, r := range a.active.items {
		for fi, fr := range r.set.items {
			if fr.fw.filtered(ag.id, now, ag.free) {
				continue
			}
			return a.grant(ag, ri, fi, ag.free, ag.freeVec, true, out)
		}
	}
	return out
}

// offerReserved handles an agent whose free resources hold reservations:
// what may be offered, and whether it passes the minimum, depends on the
// role. After each allocation the agent may still hold reservations for
// other roles, so it loops; each pass takes away one role's part, so it
// ends.
func (a *Allocator) offerReserved(ag *agent, out []Allocation) []Allocation {
	now := a.stats.now
	a.splitFree(ag)
	ag.candRound = a.round
	ag.candRoles = ag.candRoles[:0]
	ag.candAll = a.minOK(a.unres)
	if !ag.candAll {
		for i := range a.splits {
			r := a.roles[a.splits[i].role]
			if r == nil || !a.minOK(a.allocatableVec(r.name)) {
				continue
			}
			ag.candRoles = append(ag.candRoles, r)
			if r.resCandRound != a.round {
				r.resCandRound, r.resCand = a.round, 0
			}
			r.resCand++
		}
	}
	switch {
	case ag.candAll:
		a.stats.cands++
	case len(ag.candRoles) == 0:
		a.stats.belowMin++
		if len(a.splits) > 0 {
			a.stats.reservedElsewhere++
		}
	}
	for {
		if a.unres.isZero() {
			// Only reservations are left: each goes to its own role, so
			// walking every role of the cluster would be wasted.
			return a.offerReservations(ag, out)
		}
		granted := false
	roles:
		for ri, r := range a.active.items {
			v := a.allocatableVec(r.name)
			if v.isZero() || !a.minOK(v) {
				continue
			}
			for fi, fr := range r.set.items {
				res := ag.free.AllocatableTo(r.name)
				if fr.fw.filtered(ag.id, now, res) {
					continue
				}
				a.tmp2 = a.names.load(a.tmp2, res)
				out = a.grant(ag, ri, fi, res, a.tmp2, res.Len() == ag.free.Len(), out)
				granted = true
				break roles
			}
		}
		if !granted || ag.free.IsEmpty() {
			return out
		}
		a.splitFree(ag)
	}
}

// offerReservations offers each reservation left on ag (nothing unreserved
// is free) to the lowest share eligible framework of its role. The parts
// are disjoint, so one pass in the canonical order of the free resources
// serves them all.
func (a *Allocator) offerReservations(ag *agent, out []Allocation) []Allocation {
	now := a.stats.now
	for i := range a.splits {
		r := a.roles[a.splits[i].role]
		if r == nil || !r.inSet || !a.minOK(a.splits[i].v) {
			continue
		}
		ri := a.active.find(r)
		for fi, fr := range r.set.items {
			res := ag.free.Reserved(r.name)
			if fr.fw.filtered(ag.id, now, res) {
				continue
			}
			a.tmp2 = a.names.load(a.tmp2, res)
			out = a.grant(ag, ri, fi, res, a.tmp2, res.Len() == ag.free.Len(), out)
			break
		}
	}
	return out
}

// grant allocates res (with quantities v) of ag to the ri-th role's fi-th
// framework, updates both shares incrementally and moves both to their new
// places. whole says res is all of ag's free resources.
func (a *Allocator) grant(ag *agent, ri, fi int, res resources.Resources, v vec, whole bool, out []Allocation) []Allocation {
	r := a.active.items[ri]
	fr := r.set.items[fi]
	f := fr.fw
	fr.alloc.add(v)
	r.alloc.add(v)
	f.alloc.add(v)
	fr.share = share(fr.alloc, a.total, &a.names)
	r.set.fix(fi)
	r.share = share(r.alloc, a.total, &a.names) / r.weight
	a.active.fix(ri)
	f.gotRound = a.round

	h := a.holdingFor(f, ag)
	found := false
	for i := range h.parts {
		if h.parts[i].fr == fr {
			h.parts[i].res = h.parts[i].res.Add(res)
			found = true
			break
		}
	}
	if !found {
		h.parts = append(h.parts, part{fr: fr, res: res})
	}
	if whole {
		// The fast path: no Resources arithmetic at all.
		a.free.sub(ag.freeVec)
		clear(ag.freeVec)
		ag.free = resources.Resources{}
		ag.freeReserved = false
	} else {
		a.setFree(ag, minus(ag.free, res))
	}
	return append(out, Allocation{FrameworkID: f.id, AgentID: ag.id, Role: r.name, Resources: res})
}

// filtered reports whether f declined the agent with a filter still
// running at now that covers offer (see declineFilter). Expired filters are
// dropped here, lazily.
func (f *framework) filtered(agentID string, now int64, offer resources.Resources) bool {
	if len(f.filters) == 0 {
		return false
	}
	fls, ok := f.filters[agentID]
	if !ok {
		return false
	}
	live := false
	for _, fl := range fls {
		if fl.until > now {
			live = true
			if fl.refused.Contains(offer) {
				return true
			}
		}
	}
	if !live {
		delete(f.filters, agentID)
	}
	return false
}

// filterEnd is when the last of fls ends (unix ns).
func filterEnd(fls []declineFilter) int64 {
	var end int64
	for _, fl := range fls {
		end = max(end, fl.until)
	}
	return end
}

// minOK reports whether free resources v contain at least one of the
// minimum allocatable sets. Quantities are compared whatever their role:
// a reserved cpu is as useful to its role as an unreserved one.
func (a *Allocator) minOK(v vec) bool {
	if len(a.minVecs) == 0 {
		return !v.isZero()
	}
	for _, m := range a.minVecs {
		if v.covers(m) {
			return true
		}
	}
	return false
}

// resSplit is the part of an agent's free resources reserved for one role.
type resSplit struct {
	role string
	v    vec
}

// splitFree fills a.unres and a.splits from ag's free resources, reusing
// their memory.
func (a *Allocator) splitFree(ag *agent) {
	clear(a.unres)
	for i := range a.splits {
		clear(a.splits[i].v)
	}
	a.splits = a.splits[:0]
	items := ag.free.Items()
	for k := range items {
		it := &items[k]
		i := a.names.index(it.Name)
		q := it.Milli
		if len(it.Ranges) > 0 {
			a.names.ranged[i] = true
			q += rangeQuantity(it.Ranges)
		}
		dst := &a.unres
		if it.Role != "" {
			j := 0
			for j < len(a.splits) && a.splits[j].role != it.Role {
				j++
			}
			if j == len(a.splits) {
				if j < cap(a.splits) {
					a.splits = a.splits[:j+1]
					clear(a.splits[j].v)
				} else {
					a.splits = append(a.splits, resSplit{})
				}
				a.splits[j].role = it.Role
			}
			dst = &a.splits[j].v
		}
		if i >= len(*dst) {
			*dst = grow(*dst, i+1)
		}
		(*dst)[i] += q
	}
}

// allocatableVec returns (in a.tmp) the quantities of the split free
// resources that role may take: unreserved plus its reservations.
func (a *Allocator) allocatableVec(role string) vec {
	a.tmp = append(a.tmp[:0], a.unres...)
	for i := range a.splits {
		if a.splits[i].role == role {
			a.tmp.add(a.splits[i].v)
		}
	}
	return a.tmp
}

// splitmix is SplitMix64's finalizer: it turns the round number into a
// well-spread starting agent.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
