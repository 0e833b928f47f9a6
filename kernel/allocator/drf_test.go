package allocator

import (
	"cmp"
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"github.com/pandodc/pando/kernel/resources"
)

// drfModel is the test's own account of what each framework holds, kept
// from the allocations and recoveries alone, to check DRF from outside.
type drfModel struct {
	total   resources.Resources
	names   []string
	roleOf  map[string]string // framework -> its one role
	weight  map[string]float64
	held    map[string]resources.Resources // framework -> held
	heldOn  map[[2]string]resources.Resources
	suspend map[string]bool
}

// share is the dominant share of r, computed as the allocator does: the
// largest fraction of the cluster's total over the scalar names.
func (m *drfModel) share(r resources.Resources) float64 {
	var s float64
	for _, n := range m.names {
		if tot := m.total.Get(n); tot > 0 {
			s = max(s, float64(r.Get(n))/float64(tot))
		}
	}
	return s
}

// pick is the framework hierarchical DRF must choose: among roles with an
// unsuppressed framework, the lowest weighted share (then name); within
// it, the framework with the lowest share (then id).
func (m *drfModel) pick() (string, bool) {
	type cand struct {
		roleShare, share float64
		role, fw         string
	}
	roleHeld := map[string]resources.Resources{}
	for fw, r := range m.held {
		roleHeld[m.roleOf[fw]] = roleHeld[m.roleOf[fw]].Add(r)
	}
	var cands []cand
	for fw, role := range m.roleOf {
		if m.suspend[fw] {
			continue
		}
		cands = append(cands, cand{m.share(roleHeld[role]) / m.weight[role], m.share(m.held[fw]), role, fw})
	}
	if len(cands) == 0 {
		return "", false
	}
	best := slices.MinFunc(cands, func(a, b cand) int {
		return cmp.Or(cmp.Compare(a.roleShare, b.roleShare), cmp.Compare(a.role, b.role),
			cmp.Compare(a.share, b.share), cmp.Compare(a.fw, b.fw))
	})
	return best.fw, true
}

// TestEachPickIsDRF checks the fairness itself, pick by pick: in every
// round each allocation goes to the framework with the lowest weighted
// dominant share, as the test's own model computes it from the
// allocations and recoveries it saw. Frameworks sit in roles of different
// weights, some suppressed; each round frees random holdings.
func TestEachPickIsDRF(t *testing.T) {
	seeds := 60
	if testing.Short() {
		seeds = 15
	}
	for seed := range int64(seeds) {
		checkDRFSeed(t, seed)
		if t.Failed() {
			t.Fatalf("seed %d failed", seed)
		}
	}
}

func checkDRFSeed(t *testing.T, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	a := New(Config{})
	m := &drfModel{names: []string{"cpus", "mem"}, roleOf: map[string]string{}, weight: map[string]float64{},
		held: map[string]resources.Resources{}, heldOn: map[[2]string]resources.Resources{}, suspend: map[string]bool{}}
	roles := []string{"a", "b", "c"}
	for _, r := range roles {
		w := float64(1 + rng.Intn(3))
		m.weight[r] = w
		a.SetWeight(r, w)
	}
	nAgents := 4 + rng.Intn(12)
	var agents []string
	for i := range nAgents {
		id := fmt.Sprintf("ag%02d", i)
		total := resources.MustParse(fmt.Sprintf("cpus:%d;mem:%d", 1+rng.Intn(16), 256*(1+rng.Intn(64))))
		a.AddAgent(id, total, nil)
		m.total = m.total.Add(total)
		agents = append(agents, id)
	}
	for i := range 2 + rng.Intn(6) {
		fw, role := fmt.Sprintf("fw%d", i), roles[rng.Intn(len(roles))]
		a.AddFramework(fw, []string{role}, nil)
		m.roleOf[fw] = role
	}
	for round := range 30 {
		// Free some holdings and flip some suppressions.
		for key, r := range m.heldOn {
			if rng.Intn(3) == 0 {
				a.Recover(t0, key[0], key[1], r, 0)
				m.held[key[0]], _ = m.held[key[0]].Subtract(r)
				delete(m.heldOn, key)
			}
		}
		for fw := range m.roleOf {
			switch rng.Intn(8) {
			case 0:
				a.Suppress(fw)
				m.suspend[fw] = true
			case 1:
				a.Revive(fw)
				m.suspend[fw] = false
			}
		}
		free := map[string]resources.Resources{}
		for _, ag := range agents {
			free[ag] = a.Available(ag)
		}
		for i, al := range a.Round(t0) {
			want, ok := m.pick()
			if !ok {
				t.Fatalf("round %d pick %d: %s got %s on %s, but every framework is suppressed", round, i, al.FrameworkID, al.Resources, al.AgentID)
			}
			if al.FrameworkID != want {
				t.Fatalf("round %d pick %d: %s got agent %s, but DRF picks %s (shares: %s)", round, i, al.FrameworkID, al.AgentID, want, m.describe())
			}
			if !al.Resources.Equal(free[al.AgentID]) {
				t.Fatalf("round %d pick %d: %s got %s of agent %s, whose free resources are %s", round, i, al.FrameworkID, al.Resources, al.AgentID, free[al.AgentID])
			}
			m.held[al.FrameworkID] = m.held[al.FrameworkID].Add(al.Resources)
			key := [2]string{al.FrameworkID, al.AgentID}
			m.heldOn[key] = m.heldOn[key].Add(al.Resources)
			delete(free, al.AgentID)
		}
		// Whatever is left free was not offered: only if nobody could take it.
		if _, anyone := m.pick(); anyone {
			for ag, r := range free {
				if !r.IsEmpty() {
					t.Fatalf("round %d: agent %s kept %s free with unsuppressed frameworks waiting", round, ag, r)
				}
			}
		}
	}
}

func (m *drfModel) describe() string {
	var parts []string
	for _, fw := range sortedKeys(m.held) {
		parts = append(parts, fmt.Sprintf("%s(role %s w%g)=%.4f", fw, m.roleOf[fw], m.weight[m.roleOf[fw]], m.share(m.held[fw])))
	}
	return fmt.Sprint(parts)
}
