package allocator

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/pandodc/pando/kernel/resources"
)

// Answering "why is my task not launching?" must not slow the round: the
// hot loop only counts agents (with free resources, candidates, below the
// minimum) and stamps each agent's candidacy. After the round, explain
// classifies each framework that got nothing, in O(1) plus a walk over its
// own decline filters; Why formats the text only when someone asks.

// roundStats are the counts of the last round.
type roundStats struct {
	now               int64
	agents            int // registered agents
	withFree          int // agents with free resources
	cands             int // of them, candidates for every role (unreserved part passes the minimum)
	belowMin          int // with free resources, a candidate for no role
	reservedElsewhere int // of belowMin, those holding reservations (maybe for other roles)
	usage             string
}

type reasonKind uint8

const (
	gotOffer reasonKind = iota
	isSuppressed
	noAgents
	noFree
	belowMinimum
	allFiltered
	lowerShare
	numReasons
)

// reasonNames name the reasons in NotOffered's counts (and the API).
var reasonNames = [numReasons]string{
	isSuppressed: "suppressed",
	noAgents:     "no_agents",
	noFree:       "no_free_resources",
	belowMinimum: "below_minimum",
	allFiltered:  "filtered_by_declines",
	lowerShare:   "lower_share",
}

// reason is why a framework got nothing, with what the message needs.
type reason struct {
	kind      reasonKind
	earliest  int64 // allFiltered: end of the first filter to expire
	share     float64
	filtered  int     // agents filtered by its declines among its candidates
	cands     int     // agents it could have been offered
	roleShare float64 // of its first role; -1 when only one role competed
}

// explain records, for every subscribed framework that got nothing in this
// round, why.
func (a *Allocator) explain() {
	st := &a.stats
	for _, f := range a.frameworks {
		if !f.subscribed {
			continue
		}
		f.whyRound = a.round
		f.why = a.classify(f)
		f.notOffered[f.why.kind]++
		if f.why.kind == noFree && st.usage == "" {
			st.usage = a.usage()
		}
	}
}

func (a *Allocator) classify(f *framework) reason {
	st := &a.stats
	switch {
	case f.gotRound == a.round:
		return reason{}
	case f.suppressed:
		return reason{kind: isSuppressed}
	case st.agents == 0:
		return reason{kind: noAgents}
	case st.withFree == 0:
		return reason{kind: noFree}
	}
	cands := st.cands
	for _, fr := range f.roles {
		if fr.role.resCandRound == a.round {
			cands += fr.role.resCand
		}
	}
	if cands == 0 {
		return reason{kind: belowMinimum}
	}
	n, earliest := 0, int64(math.MaxInt64)
	for aid, fls := range f.filters {
		until := filterEnd(fls)
		if until <= st.now {
			delete(f.filters, aid) // expired: drop it, lazily
			continue
		}
		ag := a.agents[aid]
		if ag == nil || ag.candRound != a.round || !ag.candidateFor(f) {
			continue
		}
		n++
		earliest = min(earliest, until)
	}
	if n >= cands {
		return reason{kind: allFiltered, earliest: earliest}
	}
	// The role's share matters to a person only when roles compete.
	rs := -1.0
	if len(a.active.items) > 1 && len(f.roles) > 0 {
		rs = f.roles[0].role.share
	}
	return reason{kind: lowerShare, share: share(f.alloc, a.total, &a.names), filtered: n, cands: cands, roleShare: rs}
}

func (ag *agent) candidateFor(f *framework) bool {
	if ag.candAll {
		return true
	}
	for _, r := range ag.candRoles {
		for _, fr := range f.roles {
			if fr.role == r {
				return true
			}
		}
	}
	return false
}

// Why says, for a person, why the framework received nothing in the last
// round ("suppressed", "declined agent-1 for 5s", "lower share than ...");
// empty if it received an allocation or was not considered (it subscribed
// after the last round, or is unknown).
func (a *Allocator) Why(frameworkID string) string {
	f := a.frameworks[frameworkID]
	if f == nil || a.round == 0 || f.whyRound != a.round {
		return ""
	}
	w := f.why
	switch w.kind {
	case isSuppressed:
		return "suppressed (call revive to get offers)"
	case noAgents:
		return "no agents are registered"
	case noFree:
		return "no agent has free resources (cluster fully allocated: " + a.stats.usage + ")"
	case belowMinimum:
		msg := "free resources on agents are below the minimum allocatable (" + a.minText() + ")"
		if a.stats.reservedElsewhere > 0 {
			msg += " or reserved for other roles"
		}
		return msg
	case allFiltered:
		return fmt.Sprintf("every agent with free resources is filtered by this framework's declines (earliest filter ends in %s)",
			humanDuration(time.Duration(w.earliest-a.stats.now)))
	case lowerShare:
		msg := fmt.Sprintf("agents with free resources were offered to frameworks with a lower share (this framework's share %.2f", w.share)
		if w.roleShare >= 0 && len(f.roles) > 0 {
			msg += fmt.Sprintf(", its role %s's weighted share %.2f", f.roles[0].role.name, w.roleShare)
		}
		msg += ")"
		if w.filtered > 0 {
			msg += fmt.Sprintf("; %d of %d such agents are filtered by its declines", w.filtered, w.cands)
		}
		return msg
	}
	return ""
}

// NotOffered counts, by reason, the allocation rounds in which a
// subscribed framework got nothing since it was added: "suppressed",
// "no_agents", "no_free_resources", "below_minimum" (free resources below
// the minimum allocatable, or reserved for other roles),
// "filtered_by_declines" (every candidate agent filtered by its decline
// filters), "lower_share" (frameworks with a lower dominant share took what
// was free). Reasons that never occurred are left out; nil for an unknown
// framework. Counting costs the round nothing: explain classifies every
// framework anyway.
func (a *Allocator) NotOffered(frameworkID string) map[string]uint64 {
	f := a.frameworks[frameworkID]
	if f == nil {
		return nil
	}
	out := map[string]uint64{}
	for kind, n := range f.notOffered {
		if n > 0 && reasonNames[kind] != "" {
			out[reasonNames[kind]] = n
		}
	}
	return out
}

// usage prints what is allocated of the cluster, e.g. "cpus 2/2, mem 4GiB/4GiB".
func (a *Allocator) usage() string {
	idx := make([]int, 0, len(a.names.list))
	for i := range a.names.list {
		if i < len(a.total) && a.total[i] > 0 && !a.names.ranged[i] {
			idx = append(idx, i)
		}
	}
	slices.SortFunc(idx, func(x, y int) int { return strings.Compare(a.names.list[x], a.names.list[y]) })
	var parts []string
	for _, i := range idx {
		var free resources.Milli
		if i < len(a.free) {
			free = a.free[i]
		}
		name := a.names.list[i]
		parts = append(parts, name+" "+formatQuantity(name, a.total[i]-free)+"/"+formatQuantity(name, a.total[i]))
	}
	return strings.Join(parts, ", ")
}

// minText prints the minimum allocatable for people: "cpus:0.01 or mem:32MiB".
func (a *Allocator) minText() string {
	var alts []string
	for _, m := range a.cfg.MinAllocatable {
		var parts []string
		for _, it := range m.Items() {
			if len(it.Ranges) > 0 {
				parts = append(parts, it.Name+":"+fmt.Sprint(it.Ranges))
				continue
			}
			parts = append(parts, it.Name+":"+formatQuantity(it.Name, it.Milli))
		}
		alts = append(alts, strings.Join(parts, ";"))
	}
	if len(alts) == 0 {
		return "anything"
	}
	return strings.Join(alts, " or ")
}

func humanDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(time.Millisecond).String()
	}
	return d.String()
}
