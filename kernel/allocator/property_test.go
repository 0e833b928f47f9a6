package allocator

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/kernel/resources"
)

// checkInvariants checks the allocator's accounting from the outside in:
// per agent free + held == total (so nothing is allocated twice: held can
// never exceed total), every cached vec equals what it summarises, the
// holdings are linked both ways, and the orders hold exactly the
// unsuppressed frameworks, sorted.
func checkInvariants(t testing.TB, a *Allocator) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("invariant: "+format, args...)
	}
	load := func(r resources.Resources) vec { return a.names.load(nil, r) }
	eq := func(x, y vec) bool {
		for i := range max(len(x), len(y)) {
			var p, q resources.Milli
			if i < len(x) {
				p = x[i]
			}
			if i < len(y) {
				q = y[i]
			}
			if p != q {
				return false
			}
		}
		return true
	}
	var total, free vec
	fwAlloc := map[*framework]vec{}
	frAlloc := map[*fwRole]vec{}
	roleAlloc := map[*role]vec{}
	if len(a.agentList) != len(a.agents) {
		fail("agentList has %d agents, map %d", len(a.agentList), len(a.agents))
	}
	for i, ag := range a.agentList {
		if i > 0 && a.agentList[i-1].id >= ag.id {
			fail("agentList not sorted at %d", i)
		}
		if a.agents[ag.id] != ag {
			fail("agent %s not in map", ag.id)
		}
		sum := ag.free
		for j, h := range ag.holdings {
			if h.ag != ag || h.agIdx != j || h.fw.holdings[h.fwIdx] != h || a.frameworks[h.fw.id] != h.fw {
				fail("holding of %s on %s badly linked", h.fw.id, ag.id)
			}
			if len(h.parts) == 0 {
				fail("empty holding of %s on %s", h.fw.id, ag.id)
			}
			for _, p := range h.parts {
				if p.res.IsEmpty() {
					fail("empty part of %s on %s", h.fw.id, ag.id)
				}
				sum = sum.Add(p.res)
				v := load(p.res)
				x := fwAlloc[h.fw]
				x.add(v)
				fwAlloc[h.fw] = x
				if p.fr != nil {
					if p.fr.fw != h.fw || !slices.Contains(h.fw.roles, p.fr) {
						fail("part of %s on %s under a role it left", h.fw.id, ag.id)
					}
					y := frAlloc[p.fr]
					y.add(v)
					frAlloc[p.fr] = y
					z := roleAlloc[p.fr.role]
					z.add(v)
					roleAlloc[p.fr.role] = z
				} else if h.fw.subscribed {
					fail("subscribed %s holds a part with no role on %s", h.fw.id, ag.id)
				}
			}
		}
		if !sum.Equal(ag.total) {
			fail("agent %s: free %s + held = %s, total %s", ag.id, ag.free, sum, ag.total)
		}
		if !eq(ag.freeVec, load(ag.free)) || !eq(ag.totalVec, load(ag.total)) {
			fail("agent %s: stale vecs", ag.id)
		}
		if ag.freeReserved != slices.ContainsFunc(ag.free.Items(), func(it resources.Resource) bool { return it.Role != "" }) {
			fail("agent %s: freeReserved wrong", ag.id)
		}
		total.add(ag.totalVec)
		free.add(ag.freeVec)
	}
	if !eq(total, a.total) || !eq(free, a.free) {
		fail("cluster vecs: total %v (want %v), free %v (want %v)", a.total, total, a.free, free)
	}
	members := map[*role]int{}
	for id, f := range a.frameworks {
		if f.id != id {
			fail("framework %s under id %s", f.id, id)
		}
		if !f.subscribed && len(f.holdings) == 0 {
			fail("placeholder %s holds nothing", id)
		}
		if !eq(f.alloc, fwAlloc[f]) {
			fail("framework %s: alloc %v, holdings sum %v", id, f.alloc, fwAlloc[f])
		}
		for j, h := range f.holdings {
			if h.fw != f || h.fwIdx != j || a.agents[h.ag.id] != h.ag {
				fail("holding of %s badly linked", id)
			}
		}
		for _, fr := range f.roles {
			members[fr.role]++
			if a.roles[fr.role.name] != fr.role {
				fail("framework %s in role %s not in roles", id, fr.role.name)
			}
			if !eq(fr.alloc, frAlloc[fr]) {
				fail("framework %s role %s: alloc %v, want %v", id, fr.role.name, fr.alloc, frAlloc[fr])
			}
			want := !f.suppressed
			if fr.inSet != want || slices.Contains(fr.role.set.items, fr) != want {
				fail("framework %s role %s: inSet %v, suppressed %v", id, fr.role.name, fr.inSet, f.suppressed)
			}
		}
	}
	for name, r := range a.roles {
		if r.members != members[r] || r.members == 0 {
			fail("role %s: members %d, counted %d", name, r.members, members[r])
		}
		if !eq(r.alloc, roleAlloc[r]) {
			fail("role %s: alloc %v, want %v", name, r.alloc, roleAlloc[r])
		}
		if r.inSet != (len(r.set.items) > 0) || slices.Contains(a.active.items, r) != r.inSet {
			fail("role %s: inSet %v with %d active frameworks", name, r.inSet, len(r.set.items))
		}
		if !a.dirty && !slices.IsSortedFunc(r.set.items, cmpRanked[*fwRole]) {
			fail("role %s: frameworks not sorted by share", name)
		}
	}
	if len(a.active.items) != countTrue(a.roles, func(r *role) bool { return r.inSet }) {
		fail("active roles list has strays")
	}
	if !a.dirty && !slices.IsSortedFunc(a.active.items, cmpRanked[*role]) {
		fail("roles not sorted by share")
	}
}

func cmpRanked[T ranked](x, y T) int {
	switch {
	case before(x, y):
		return -1
	case before(y, x):
		return 1
	}
	return 0
}

func countTrue(m map[string]*role, f func(*role) bool) int {
	n := 0
	for _, r := range m {
		if f(r) {
			n++
		}
	}
	return n
}

// sim drives an allocator with random operations from one seed and returns
// a trace of everything observable, for the determinism check.
type sim struct {
	t   testing.TB
	rng *rand.Rand
	a   *Allocator
	now time.Time
	log strings.Builder
}

var simRoles = []string{"*", "a", "b", "c", ""}

func (s *sim) agentID() string { return fmt.Sprintf("ag%02d", s.rng.Intn(12)) }
func (s *sim) fwID() string    { return fmt.Sprintf("fw%d", s.rng.Intn(6)) }

func (s *sim) randomTotal() resources.Resources {
	items := []resources.Resource{
		{Name: resources.CPUs, Milli: resources.Milli(1+s.rng.Intn(16)) * 500},
		{Name: resources.Mem, Milli: resources.Milli(1+s.rng.Intn(64)) * 256 * resources.One},
	}
	if s.rng.Intn(3) == 0 {
		items = append(items, resources.Resource{Name: resources.CPUs, Role: simRoles[1+s.rng.Intn(3)], Milli: resources.Milli(1+s.rng.Intn(4)) * resources.One})
	}
	if s.rng.Intn(3) == 0 {
		items = append(items, resources.Resource{Name: resources.Ports, Ranges: []resources.Range{{Begin: 31000, End: 31000 + uint64(s.rng.Intn(100))}}})
	}
	if s.rng.Intn(10) == 0 {
		items = append(items, resources.Resource{Name: resources.GPUs, Milli: resources.One})
	}
	return resources.New(items...)
}

// piece returns a random part of r, sometimes with extra that is not in r.
func (s *sim) piece(r resources.Resources) resources.Resources {
	var items []resources.Resource
	for _, it := range r.Items() {
		switch s.rng.Intn(3) {
		case 0:
			continue
		case 1:
			items = append(items, it)
		default:
			it.Milli = resources.Milli(s.rng.Int63n(int64(it.Milli) + 1))
			if len(it.Ranges) > 0 {
				it.Ranges = it.Ranges[:1]
			}
			items = append(items, it)
		}
	}
	if s.rng.Intn(8) == 0 {
		items = append(items, resources.Resource{Name: resources.CPUs, Milli: resources.One})
	}
	return resources.New(items...)
}

// held lists (framework, agent, resources) in a deterministic order.
func (s *sim) held() [][3]any {
	var out [][3]any
	for _, ag := range s.a.agentList {
		for _, h := range ag.holdings {
			var r resources.Resources
			for _, p := range h.parts {
				r = r.Add(p.res)
			}
			out = append(out, [3]any{h.fw.id, ag.id, r})
		}
	}
	return out
}

func (s *sim) step() {
	a := s.a
	switch op := s.rng.Intn(20); {
	case op < 2:
		id := s.agentID()
		var used map[string]resources.Resources
		total := s.randomTotal()
		if s.rng.Intn(3) == 0 {
			used = map[string]resources.Resources{s.fwID(): s.piece(total), s.fwID(): s.piece(total)}
		}
		fmt.Fprintf(&s.log, "AddAgent %s %s %v\n", id, total, used)
		a.AddAgent(id, total, used)
	case op < 3:
		id := s.agentID()
		fmt.Fprintf(&s.log, "RemoveAgent %s\n", id)
		a.RemoveAgent(id)
	case op < 5:
		id := s.fwID()
		var roles []string
		for _, r := range simRoles {
			if s.rng.Intn(3) == 0 {
				roles = append(roles, r)
			}
		}
		var used map[string]resources.Resources
		if s.rng.Intn(4) == 0 {
			aid := s.agentID()
			if ag := a.agents[aid]; ag != nil {
				used = map[string]resources.Resources{aid: s.piece(ag.total)}
			}
		}
		fmt.Fprintf(&s.log, "AddFramework %s %v %v\n", id, roles, used)
		a.AddFramework(id, roles, used)
	case op < 6:
		id := s.fwID()
		fmt.Fprintf(&s.log, "RemoveFramework %s\n", id)
		a.RemoveFramework(id)
	case op < 10:
		s.round()
	case op < 14:
		h := s.held()
		if len(h) == 0 {
			return
		}
		x := h[s.rng.Intn(len(h))]
		r := x[2].(resources.Resources)
		if s.rng.Intn(2) == 0 {
			r = s.piece(r)
		}
		filter := time.Duration(0)
		if s.rng.Intn(2) == 0 {
			filter = time.Duration(1+s.rng.Intn(10)) * time.Second
		}
		fmt.Fprintf(&s.log, "Recover %s %s %s %v\n", x[0], x[1], r, filter)
		before := a.Available(x[1].(string))
		a.Recover(s.now, x[0].(string), x[1].(string), r, filter)
		after := a.Available(x[1].(string))
		if !after.Contains(before) || !r.Contains(minus(after, before)) {
			s.t.Fatalf("Recover of %s: free went from %s to %s", r, before, after)
		}
	case op < 15:
		id := s.fwID()
		fmt.Fprintf(&s.log, "Suppress %s\n", id)
		a.Suppress(id)
	case op < 16:
		id := s.fwID()
		fmt.Fprintf(&s.log, "Revive %s\n", id)
		a.Revive(id)
	case op < 18:
		fid, aid := s.fwID(), s.agentID()
		ag := a.agents[aid]
		if ag == nil {
			return
		}
		r := s.piece(ag.total)
		fmt.Fprintf(&s.log, "Allocate %s %s %s\n", fid, aid, r)
		before := ag.free
		a.Allocate(fid, aid, r)
		if after := a.Available(aid); !before.Contains(after) || !r.Contains(minus(before, after)) {
			s.t.Fatalf("Allocate of %s: free went from %s to %s", r, before, after)
		}
	case op < 19:
		r := simRoles[s.rng.Intn(len(simRoles))]
		w := float64(s.rng.Intn(4))
		fmt.Fprintf(&s.log, "SetWeight %s %v\n", r, w)
		a.SetWeight(r, w)
	default:
		s.now = s.now.Add(time.Duration(s.rng.Intn(4000)) * time.Millisecond)
	}
}

func (s *sim) round() {
	a := s.a
	free := map[string]resources.Resources{}
	for id, ag := range a.agents {
		free[id] = ag.free
	}
	// Filters before the round: the round drops expired ones as it goes.
	filters := map[[2]string][]declineFilter{}
	for id, f := range a.frameworks {
		for aid, fls := range f.filters {
			filters[[2]string{id, aid}] = slices.Clone(fls)
		}
	}
	out := a.Round(s.now)
	fmt.Fprintf(&s.log, "Round %v\n", s.now.UnixMilli())
	seen := map[[3]string]bool{}
	for _, o := range out {
		fmt.Fprintf(&s.log, "  %s %s %s %s\n", o.FrameworkID, o.AgentID, o.Role, o.Resources)
		f := a.frameworks[o.FrameworkID]
		if f == nil || !f.subscribed || f.suppressed {
			s.t.Fatalf("allocation to %s, which is not subscribed or suppressed", o.FrameworkID)
		}
		// A running filter holds back only offers that fit in what was
		// declined (Mesos semantics).
		for _, fl := range filters[[2]string{o.FrameworkID, o.AgentID}] {
			if fl.until > s.now.UnixNano() && fl.refused.Contains(o.Resources) {
				s.t.Fatalf("allocation to %s of %s (%s), which it filters (declined %s)", o.FrameworkID, o.AgentID, o.Resources, fl.refused)
			}
		}
		if !slices.ContainsFunc(f.roles, func(fr *fwRole) bool { return fr.role.name == o.Role }) {
			s.t.Fatalf("allocation to %s under role %s it is not in", o.FrameworkID, o.Role)
		}
		for _, it := range o.Resources.Items() {
			if it.Role != "" && it.Role != o.Role {
				s.t.Fatalf("resources reserved for %s allocated under role %s", it.Role, o.Role)
			}
		}
		if !free[o.AgentID].Contains(o.Resources) {
			s.t.Fatalf("round allocated %s on %s, which had only %s free", o.Resources, o.AgentID, free[o.AgentID])
		}
		free[o.AgentID] = minus(free[o.AgentID], o.Resources)
		// One offer per agent per framework and role per round (a
		// framework in two roles may get two reservations of one agent).
		k := [3]string{o.FrameworkID, o.AgentID, o.Role}
		if seen[k] {
			s.t.Fatalf("two offers of %s to %s under %s in one round", o.AgentID, o.FrameworkID, o.Role)
		}
		seen[k] = true
	}
	for id, r := range free {
		if !a.agents[id].free.Equal(r) {
			s.t.Fatalf("agent %s: free %s after the round, want %s", id, a.agents[id].free, r)
		}
	}
	ids := make([]string, 0, len(a.frameworks))
	for id := range a.frameworks {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		fmt.Fprintf(&s.log, "  %s share %.6f why %q\n", id, a.Share(id), a.Why(id))
		if a.frameworks[id].subscribed && a.frameworks[id].gotRound != a.round && a.Why(id) == "" {
			s.t.Fatalf("%s got nothing and Why is empty", id)
		}
	}
}

func runSim(t testing.TB, seed int64, steps int) string {
	s := &sim{t: t, rng: rand.New(rand.NewSource(seed)), now: t0}
	var cfg Config
	if s.rng.Intn(4) == 0 {
		cfg.MinAllocatable = []resources.Resources{mp("cpus:1;mem:256")}
	}
	s.a = New(cfg)
	for range steps {
		s.step()
		checkInvariants(t, s.a)
	}
	return s.log.String()
}

func TestProperties(t *testing.T) {
	scenarios, steps := 200, 200
	if testing.Short() {
		scenarios = 40
	}
	for seed := range int64(scenarios) {
		first := runSim(t, seed, steps)
		if t.Failed() {
			t.Fatalf("seed %d failed", seed)
		}
		if again := runSim(t, seed, steps); again != first {
			t.Fatalf("seed %d: same operations gave different results:\n%s", seed, firstDiff(first, again))
		}
	}
}

func firstDiff(x, y string) string {
	xl, yl := strings.Split(x, "\n"), strings.Split(y, "\n")
	for i := range min(len(xl), len(yl)) {
		if xl[i] != yl[i] {
			return fmt.Sprintf("line %d:\n  %s\n  %s", i+1, xl[i], yl[i])
		}
	}
	return "one trace is a prefix of the other"
}

// TestOrderedFix checks the sorted-slice repositioning against a full sort.
func TestOrderedFix(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var o ordered[*role]
	for i := range 50 {
		o.insert(&role{name: fmt.Sprintf("r%02d", i), share: float64(rng.Intn(5))})
	}
	for range 2000 {
		x := o.items[rng.Intn(len(o.items))]
		i := o.find(x)
		if o.items[i] != x {
			t.Fatalf("find returned %d", i)
		}
		x.share = float64(rng.Intn(5))
		o.fix(i)
		if !slices.IsSortedFunc(o.items, cmpRanked[*role]) {
			t.Fatalf("not sorted after fix")
		}
	}
}
