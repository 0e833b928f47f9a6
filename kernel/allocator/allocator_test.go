package allocator

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/kernel/resources"
)

var t0 = time.Unix(1_700_000_000, 0)

func mp(s string) resources.Resources { return resources.MustParse(s) }

// byFramework sums a round's allocations per framework.
func byFramework(out []Allocation) map[string][]Allocation {
	m := map[string][]Allocation{}
	for _, o := range out {
		m[o.FrameworkID] = append(m[o.FrameworkID], o)
	}
	return m
}

// TestDRFPaperExample replays the example of the DRF paper (Ghodsi et al.,
// NSDI 2011): 9 cpus and 18GB; A runs tasks of <1 cpu, 4GB>, B of <3 cpus,
// 1GB>. Each framework launches one task per offer if it fits and returns
// the rest; an offer it cannot use is declined for 10s. DRF ends with A
// running 3 tasks and B 2 (both at a dominant share of 2/3).
func TestDRFPaperExample(t *testing.T) {
	a := New(Config{})
	a.AddAgent("m", mp("cpus:9;mem:18GiB"), nil)
	a.AddFramework("A", nil, nil)
	a.AddFramework("B", nil, nil)
	task := map[string]resources.Resources{"A": mp("cpus:1;mem:4GiB"), "B": mp("cpus:3;mem:1GiB")}
	tasks := map[string]int{}
	now := t0
	for range 60 {
		for _, o := range a.Round(now) {
			tk := task[o.FrameworkID]
			if o.Resources.Contains(tk) {
				tasks[o.FrameworkID]++
				a.Recover(now, o.FrameworkID, o.AgentID, minus(o.Resources, tk), 0)
			} else {
				a.Recover(now, o.FrameworkID, o.AgentID, o.Resources, 10*time.Second)
			}
		}
		now = now.Add(time.Second)
	}
	if tasks["A"] != 3 || tasks["B"] != 2 {
		t.Fatalf("tasks = %v, want A:3 B:2 (DRF)", tasks)
	}
	for _, fw := range []string{"A", "B"} {
		if got := a.Share(fw); math.Abs(got-2.0/3) > 1e-9 {
			t.Errorf("Share(%s) = %v, want 2/3", fw, got)
		}
	}
	if got, want := a.Available("m"), mp("mem:4GiB"); !got.Equal(want) {
		t.Errorf("Available = %s, want %s", got, want)
	}
}

func TestWeights(t *testing.T) {
	a := New(Config{})
	for i := range 30 {
		a.AddAgent(fmt.Sprintf("a%02d", i), mp("cpus:1;mem:1GiB"), nil)
	}
	a.SetWeight("gold", 2)
	a.AddFramework("f-gold", []string{"gold"}, nil)
	a.AddFramework("f-bronze", []string{"bronze"}, nil)
	out := a.Round(t0)
	m := byFramework(out)
	if len(out) != 30 || len(m["f-gold"]) != 20 || len(m["f-bronze"]) != 10 {
		t.Fatalf("gold %d, bronze %d agents of %d; want 20 and 10 (weight 2 vs 1)", len(m["f-gold"]), len(m["f-bronze"]), len(out))
	}
	for _, o := range m["f-gold"] {
		if o.Role != "gold" {
			t.Errorf("allocation to f-gold under role %q", o.Role)
		}
	}
	// Changing the weight changes the next split.
	for _, o := range out {
		a.Recover(t0, o.FrameworkID, o.AgentID, o.Resources, 0)
	}
	a.SetWeight("gold", 1)
	m = byFramework(a.Round(t0))
	if len(m["f-gold"]) != 15 || len(m["f-bronze"]) != 15 {
		t.Fatalf("equal weights: gold %d, bronze %d; want 15 each", len(m["f-gold"]), len(m["f-bronze"]))
	}
}

func TestFrameworksWithinRoleByShare(t *testing.T) {
	a := New(Config{})
	for i := range 9 {
		a.AddAgent(fmt.Sprintf("a%d", i), mp("cpus:1;mem:1GiB"), nil)
	}
	a.AddFramework("f1", []string{"r"}, nil)
	a.AddFramework("f2", []string{"r"}, nil)
	a.AddFramework("f3", []string{"r"}, nil)
	// f1 already holds three agents' worth: it gets nothing until the
	// others catch up.
	a.Allocate("f1", "a0", mp("cpus:1;mem:1GiB"))
	a.Allocate("f1", "a1", mp("cpus:1;mem:1GiB"))
	a.Allocate("f1", "a2", mp("cpus:1;mem:1GiB"))
	m := byFramework(a.Round(t0))
	if len(m["f1"]) != 0 || len(m["f2"]) != 3 || len(m["f3"]) != 3 {
		t.Fatalf("f1 %d, f2 %d, f3 %d; want 0, 3, 3", len(m["f1"]), len(m["f2"]), len(m["f3"]))
	}
	if why, want := a.Why("f1"), "agents with free resources were offered to frameworks with a lower share (this framework's share 0.33)"; why != want {
		t.Errorf("Why(f1) = %q, want %q", why, want)
	}
}

func TestDeclineFilter(t *testing.T) {
	a := New(Config{})
	a.AddAgent("a1", mp("cpus:4;mem:4GiB"), nil)
	a.AddFramework("f1", nil, nil)
	out := a.Round(t0)
	if len(out) != 1 || out[0].FrameworkID != "f1" {
		t.Fatalf("first round: %v", out)
	}
	a.Recover(t0, "f1", "a1", out[0].Resources, 5*time.Second)
	if out := a.Round(t0.Add(time.Second)); len(out) != 0 {
		t.Fatalf("re-offered during the filter: %v", out)
	}
	want := "every agent with free resources is filtered by this framework's declines (earliest filter ends in 4s)"
	if why := a.Why("f1"); why != want {
		t.Errorf("Why = %q, want %q", why, want)
	}
	// Another framework is not affected by f1's filter.
	a.AddFramework("f2", nil, nil)
	out = a.Round(t0.Add(2 * time.Second))
	if len(out) != 1 || out[0].FrameworkID != "f2" {
		t.Fatalf("f2 should get a1 while f1 filters it: %v", out)
	}
	a.Recover(t0, "f2", "a1", out[0].Resources, time.Hour)
	// The filter ends at t0+5s exactly.
	out = a.Round(t0.Add(5 * time.Second))
	if len(out) != 1 || out[0].FrameworkID != "f1" {
		t.Fatalf("after expiry: %v, want f1 offered a1", out)
	}
	if why := a.Why("f1"); why != "" {
		t.Errorf("Why after an offer = %q, want empty", why)
	}
	// A longer filter is not shortened by a shorter one.
	a.Recover(t0.Add(5*time.Second), "f1", "a1", out[0].Resources, time.Minute)
	a.Recover(t0.Add(5*time.Second), "f1", "a1", resources.Resources{}, time.Second)
	if out := a.Round(t0.Add(10 * time.Second)); len(out) != 0 {
		t.Fatalf("shorter filter replaced the longer: %v", out)
	}
}

func TestSuppressRevive(t *testing.T) {
	a := New(Config{})
	a.AddAgent("a1", mp("cpus:4;mem:4GiB"), nil)
	a.AddFramework("f1", nil, nil)
	a.Suppress("f1")
	if out := a.Round(t0); len(out) != 0 {
		t.Fatalf("suppressed framework got %v", out)
	}
	if why := a.Why("f1"); why != "suppressed (call revive to get offers)" {
		t.Errorf("Why = %q", why)
	}
	a.Revive("f1")
	out := a.Round(t0)
	if len(out) != 1 {
		t.Fatalf("revived framework got %v", out)
	}
	// Revive also clears decline filters.
	a.Recover(t0, "f1", "a1", out[0].Resources, time.Hour)
	if out := a.Round(t0); len(out) != 0 {
		t.Fatalf("filtered: %v", out)
	}
	a.Revive("f1")
	if out := a.Round(t0); len(out) != 1 {
		t.Fatalf("Revive did not clear the filter: %v", out)
	}
}

func TestMinAllocatable(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		free  string
		offer bool
	}{
		{"default, tiny", Config{}, "cpus:0.005;mem:16", false},
		{"default, cpus enough", Config{}, "cpus:0.01;mem:1", true},
		{"default, mem enough", Config{}, "cpus:0.001;mem:32", true},
		{"custom both", Config{MinAllocatable: []resources.Resources{mp("cpus:1;mem:1GiB")}}, "cpus:4;mem:512", false},
		{"custom both ok", Config{MinAllocatable: []resources.Resources{mp("cpus:1;mem:1GiB")}}, "cpus:1;mem:1GiB", true},
		{"no minimum", Config{MinAllocatable: []resources.Resources{}}, "cpus:0.001", true},
		{"ports only vs default", Config{}, "ports:[1-10]", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(tt.cfg)
			a.AddAgent("a1", mp(tt.free), nil)
			a.AddFramework("f1", nil, nil)
			out := a.Round(t0)
			if got := len(out) == 1; got != tt.offer {
				t.Fatalf("offered = %v (%v), want %v", got, out, tt.offer)
			}
			if !tt.offer {
				why := a.Why("f1")
				if !strings.HasPrefix(why, "free resources on agents are below the minimum allocatable (") {
					t.Errorf("Why = %q", why)
				}
			}
		})
	}
	a := New(Config{})
	a.AddAgent("a1", mp("cpus:0.001"), nil)
	a.AddFramework("f1", nil, nil)
	a.Round(t0)
	if why, want := a.Why("f1"), "free resources on agents are below the minimum allocatable (cpus:0.01 or mem:32MiB)"; why != want {
		t.Errorf("Why = %q, want %q", why, want)
	}
}

func TestReservedOnlyToTheirRole(t *testing.T) {
	a := New(Config{})
	a.AddAgent("a1", mp("cpus(web):4;mem(web):4GiB;cpus:2;mem:2GiB"), nil)
	a.AddFramework("batch", []string{"batch"}, nil)
	out := a.Round(t0)
	if len(out) != 1 || !out[0].Resources.Equal(mp("cpus:2;mem:2GiB")) {
		t.Fatalf("batch should get only the unreserved part: %v", out)
	}
	// What is left is reserved for web, which has no framework.
	if out := a.Round(t0); len(out) != 0 {
		t.Fatalf("reserved resources offered to another role: %v", out)
	}
	if why := a.Why("batch"); !strings.Contains(why, "reserved for other roles") {
		t.Errorf("Why = %q", why)
	}
	a.AddFramework("web", []string{"web"}, nil)
	out = a.Round(t0)
	if len(out) != 1 || out[0].FrameworkID != "web" || out[0].Role != "web" || !out[0].Resources.Equal(mp("cpus(web):4;mem(web):4GiB")) {
		t.Fatalf("web should get its reservation: %v", out)
	}
	// Fresh: both roles at share 0; batch < web by name, so batch takes
	// the unreserved part first, then web its reservation (plus nothing
	// unreserved) in the same round.
	for _, o := range a.Round(t0) {
		t.Fatalf("nothing should be free: %v", o)
	}
	a.RemoveFramework("batch")
	a.RemoveFramework("web")
	a.AddFramework("batch", []string{"batch"}, nil)
	a.AddFramework("web", []string{"web"}, nil)
	m := byFramework(a.Round(t0))
	if len(m["batch"]) != 1 || !m["batch"][0].Resources.Equal(mp("cpus:2;mem:2GiB")) {
		t.Errorf("batch: %v", m["batch"])
	}
	if len(m["web"]) != 1 || !m["web"][0].Resources.Equal(mp("cpus(web):4;mem(web):4GiB")) {
		t.Errorf("web: %v", m["web"])
	}
	// A web framework holding more than batch: web still takes unreserved
	// resources when it comes first.
	a.RemoveFramework("batch")
	a.Recover(t0, "web", "a1", mp("cpus(web):4;mem(web):4GiB"), 0)
	out = a.Round(t0)
	if len(out) != 1 || !out[0].Resources.Equal(a.agents["a1"].total) {
		t.Errorf("web alone should get the whole agent: %v", out)
	}
}

func TestRemoveReleases(t *testing.T) {
	a := New(Config{})
	a.AddAgent("a1", mp("cpus:4;mem:4GiB"), nil)
	a.AddAgent("a2", mp("cpus:4;mem:4GiB"), nil)
	a.AddFramework("f1", nil, nil)
	a.AddFramework("f2", nil, nil)
	if out := a.Round(t0); len(out) != 2 {
		t.Fatalf("round: %v", out)
	}
	a.RemoveFramework("f1")
	free := 0
	for _, id := range []string{"a1", "a2"} {
		if a.Available(id).Equal(mp("cpus:4;mem:4GiB")) {
			free++
		}
	}
	if free != 1 {
		t.Fatalf("RemoveFramework released %d agents, want 1", free)
	}
	if a.Share("f1") != 0 || a.Why("f1") != "" {
		t.Errorf("removed framework still has share %v / why %q", a.Share("f1"), a.Why("f1"))
	}
	out := a.Round(t0)
	if len(out) != 1 || out[0].FrameworkID != "f2" {
		t.Fatalf("f2 should get the released agent: %v", out)
	}
	if got := a.Share("f2"); got != 1 {
		t.Fatalf("Share(f2) = %v, want 1", got)
	}
	a.RemoveAgent(out[0].AgentID)
	if got := a.Share("f2"); got != 1 {
		t.Fatalf("Share(f2) = %v after removing one of its agents, want 1 (of a smaller cluster)", got)
	}
	a.RemoveAgent("a1")
	a.RemoveAgent("a2")
	if got := a.Share("f2"); got != 0 {
		t.Fatalf("Share(f2) = %v with no agents, want 0", got)
	}
	if out := a.Round(t0); len(out) != 0 || a.Why("f2") != "no agents are registered" {
		t.Fatalf("round without agents: %v, %q", out, a.Why("f2"))
	}
}

func TestWhyMessages(t *testing.T) {
	a := New(Config{})
	a.AddAgent("a1", mp("cpus:2;mem:4GiB"), nil)
	a.AddFramework("f1", nil, nil)
	a.AddFramework("f2", nil, nil)
	if a.Why("f1") != "" {
		t.Fatalf("Why before any round = %q", a.Why("f1"))
	}
	a.Round(t0)
	if got, want := a.Why("f2"), "agents with free resources were offered to frameworks with a lower share (this framework's share 0.00)"; got != want {
		t.Errorf("Why(f2) = %q, want %q", got, want)
	}
	if a.Why("f1") != "" {
		t.Errorf("Why(f1) = %q, want empty: it got an offer", a.Why("f1"))
	}
	a.Round(t0)
	for _, fw := range []string{"f1", "f2"} {
		if got, want := a.Why(fw), "no agent has free resources (cluster fully allocated: cpus 2/2, mem 4GiB/4GiB)"; got != want {
			t.Errorf("Why(%s) = %q, want %q", fw, got, want)
		}
	}
	// Two agents free, one framework ahead in share order takes both.
	a.AddAgent("a2", mp("cpus:2;mem:4GiB"), nil)
	a.AddAgent("a3", mp("cpus:2;mem:4GiB"), nil)
	a.AddFramework("f3", nil, nil)
	a.Round(t0)
	// f2 and f3 both at share 0: one agent each; f1 (share 1/3) gets none.
	if got, want := a.Why("f1"), "agents with free resources were offered to frameworks with a lower share (this framework's share 0.33)"; got != want {
		t.Errorf("Why(f1) = %q, want %q", got, want)
	}
	if a.Why("f4") != "" {
		t.Errorf("Why of an unknown framework = %q", a.Why("f4"))
	}
	// Subscribing after a round: not considered yet.
	a.AddFramework("f5", nil, nil)
	if a.Why("f5") != "" {
		t.Errorf("Why of a framework that subscribed after the round = %q", a.Why("f5"))
	}
	// The counts add up the rounds: f1 was offered in round 1, then got
	// nothing for want of free resources (2), then for its share (3).
	if got, want := fmt.Sprint(a.NotOffered("f1")), "map[lower_share:1 no_free_resources:1]"; got != want {
		t.Errorf("NotOffered(f1) = %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(a.NotOffered("f2")), "map[lower_share:1 no_free_resources:1]"; got != want {
		t.Errorf("NotOffered(f2) = %s, want %s", got, want)
	}
	a.Suppress("f5")
	a.Round(t0)
	if got, want := fmt.Sprint(a.NotOffered("f5")), "map[suppressed:1]"; got != want {
		t.Errorf("NotOffered(f5) = %s, want %s", got, want)
	}
	if a.NotOffered("f4") != nil {
		t.Errorf("NotOffered of an unknown framework = %v", a.NotOffered("f4"))
	}
}

func TestWhyLowerShareMentionsFilters(t *testing.T) {
	a := New(Config{})
	for _, id := range []string{"a1", "a2", "a3", "a4"} {
		a.AddAgent(id, mp("cpus:2;mem:4GiB"), nil)
	}
	a.AddFramework("f1", nil, nil)
	a.Allocate("f1", "a3", mp("cpus:2;mem:4GiB"))
	a.Allocate("f1", "a4", mp("cpus:2;mem:4GiB"))
	a.Recover(t0, "f1", "a1", resources.Resources{}, time.Minute)
	a.AddFramework("f3", nil, nil)
	out := a.Round(t0) // f3 (share 0, then 1/4) takes a1 and a2 before f1 (1/2)
	if m := byFramework(out); len(m["f3"]) != 2 {
		t.Fatalf("round: %v", out)
	}
	want := "agents with free resources were offered to frameworks with a lower share (this framework's share 0.50); 1 of 2 such agents are filtered by its declines"
	if got := a.Why("f1"); got != want {
		t.Errorf("Why(f1) = %q, want %q", got, want)
	}
	// With a second role competing, the message gives the role's share.
	a.AddFramework("g", []string{"gold"}, nil)
	for _, o := range out {
		a.Recover(t0, o.FrameworkID, o.AgentID, o.Resources, 0)
	}
	a.Round(t0)
	if got := a.Why("f1"); !strings.Contains(got, "its role *'s weighted share") {
		t.Errorf("Why(f1) = %q, want the role's share", got)
	}
}

func TestAllocateClampsAndNeverDoubleCounts(t *testing.T) {
	a := New(Config{})
	a.AddAgent("a1", mp("cpus:4;mem:4GiB"), map[string]resources.Resources{"f1": mp("cpus:1;mem:1GiB")})
	// f1 is not subscribed yet: a placeholder holds its tasks.
	if got, want := a.Available("a1"), mp("cpus:3;mem:3GiB"); !got.Equal(want) {
		t.Fatalf("Available = %s, want %s", got, want)
	}
	// The framework reports the same tasks: not counted twice.
	a.AddFramework("f1", []string{"r"}, map[string]resources.Resources{"a1": mp("cpus:1;mem:1GiB")})
	if got, want := a.Available("a1"), mp("cpus:3;mem:3GiB"); !got.Equal(want) {
		t.Fatalf("Available after AddFramework = %s, want %s", got, want)
	}
	if got := a.roles["r"].alloc; got.isZero() {
		t.Fatalf("adopted holdings not counted in role r")
	}
	// More than free: only what fits.
	a.Allocate("f1", "a1", mp("cpus:10;mem:1GiB;gpus:1"))
	if got, want := a.Available("a1"), mp("mem:2GiB"); !got.Equal(want) {
		t.Fatalf("Available after over-Allocate = %s, want %s", got, want)
	}
	// Recover more than held: only what is held comes back.
	a.Recover(t0, "f1", "a1", mp("cpus:100;mem:100GiB"), 0)
	if got, want := a.Available("a1"), mp("cpus:4;mem:4GiB"); !got.Equal(want) {
		t.Fatalf("Available after over-Recover = %s, want %s", got, want)
	}
	if a.Share("f1") != 0 {
		t.Fatalf("Share(f1) = %v after returning everything", a.Share("f1"))
	}
	// Unknown agent or framework: nothing happens.
	a.Allocate("f1", "nope", mp("cpus:1"))
	a.Recover(t0, "nope", "a1", mp("cpus:1"), time.Second)
	checkInvariants(t, a)
}

func TestLargest(t *testing.T) {
	a := New(Config{})
	if !a.Largest(resources.Mem).IsEmpty() {
		t.Fatal("Largest with no agents should be empty")
	}
	a.AddAgent("a1", mp("cpus:8;mem:4GiB"), nil)
	a.AddAgent("a2", mp("cpus:2;mem:19GiB"), nil)
	a.AddAgent("a3", mp("cpus:8;mem:1GiB"), nil)
	if got := a.Largest(resources.Mem); !got.Equal(mp("cpus:2;mem:19GiB")) {
		t.Errorf("Largest(mem) = %s", got)
	}
	if got := a.Largest(resources.CPUs); !got.Equal(mp("cpus:8;mem:4GiB")) {
		t.Errorf("Largest(cpus) = %s (ties go to the smallest id)", got)
	}
	if got := a.Largest(resources.GPUs); !got.IsEmpty() {
		t.Errorf("Largest(gpus) = %s", got)
	}
}

func TestRoundRotatesAgents(t *testing.T) {
	a := New(Config{})
	for i := range 10 {
		a.AddAgent(fmt.Sprintf("a%d", i), mp("cpus:1;mem:1GiB"), nil)
	}
	a.AddFramework("f1", nil, nil)
	a.AddFramework("f2", nil, nil)
	firsts := map[string]bool{}
	for range 8 {
		out := a.Round(t0)
		firsts[out[0].AgentID] = true
		for _, o := range out {
			a.Recover(t0, o.FrameworkID, o.AgentID, o.Resources, 0)
		}
	}
	if len(firsts) < 3 {
		t.Fatalf("rounds started at only %d distinct agents: %v", len(firsts), firsts)
	}
}

func TestResubscribeMovesHoldingsAndResets(t *testing.T) {
	a := New(Config{})
	a.AddAgent("a1", mp("cpus:4;mem:4GiB"), nil)
	a.AddFramework("f1", []string{"old"}, nil)
	out := a.Round(t0)
	if len(out) != 1 {
		t.Fatalf("round: %v", out)
	}
	a.Suppress("f1")
	a.AddFramework("f1", []string{"new"}, nil)
	if _, ok := a.roles["old"]; ok {
		t.Errorf("role old kept with no member")
	}
	if a.roles["new"].alloc.isZero() {
		t.Errorf("holdings not moved to role new")
	}
	a.Recover(t0, "f1", "a1", out[0].Resources, 0)
	out = a.Round(t0)
	if len(out) != 1 || out[0].Role != "new" {
		t.Fatalf("re-subscribed framework should be unsuppressed, offered under new: %v", out)
	}
	checkInvariants(t, a)
}

func TestConfigDefaults(t *testing.T) {
	c := New(Config{}).Config()
	if c.DefaultRefuse != 5*time.Second || len(c.MinAllocatable) != 2 {
		t.Fatalf("defaults: %+v", c)
	}
	c = New(Config{DefaultRefuse: time.Minute, MinAllocatable: []resources.Resources{}}).Config()
	if c.DefaultRefuse != time.Minute || c.MinAllocatable == nil || len(c.MinAllocatable) != 0 {
		t.Fatalf("explicit: %+v", c)
	}
}

func TestEmptyRoleIsStar(t *testing.T) {
	a := New(Config{})
	a.AddAgent("a1", mp("cpus:1;mem:1GiB"), nil)
	a.AddFramework("f1", []string{""}, nil)
	out := a.Round(t0)
	if len(out) != 1 || out[0].Role != "*" {
		t.Fatalf("round: %v", out)
	}
}

// A decline filter holds back offers that fit in what was declined, but not
// a larger one: when a task ends and frees more, the framework hears of it
// at once (Mesos semantics), instead of waiting out the filter.
func TestDeclineFilterReleasedByMoreFreeResources(t *testing.T) {
	a := New(Config{})
	a.AddAgent("a1", mp("cpus:4;mem:4GiB"), nil)
	a.AddFramework("f1", nil, nil)
	out := a.Round(t0)
	if len(out) != 1 {
		t.Fatalf("first round: %v", out)
	}
	// f1 launches a task of cpus:3 and declines the rest for a minute.
	task := mp("cpus:3;mem:3GiB")
	rest, err := out[0].Resources.Subtract(task)
	if err != nil {
		t.Fatal(err)
	}
	a.Recover(t0, "f1", "a1", rest, time.Minute)
	if out := a.Round(t0.Add(time.Second)); len(out) != 0 {
		t.Fatalf("the declined remainder came back during the filter: %v", out)
	}
	// The task ends: more is free than was declined.
	a.Recover(t0.Add(2*time.Second), "f1", "a1", task, 0)
	out = a.Round(t0.Add(2 * time.Second))
	if len(out) != 1 || out[0].FrameworkID != "f1" || !out[0].Resources.Equal(mp("cpus:4;mem:4GiB")) {
		t.Fatalf("after the task ended: %v, want f1 offered all of a1", out)
	}
}
