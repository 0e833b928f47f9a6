package allocator

import (
	"fmt"
	"testing"
	"time"
)

// The benchmarks measure one full Round on a cluster where every agent is
// free (the worst case: every agent is allocated to somebody). Each
// iteration starts from a fresh state: the previous round's allocations are
// recovered with the timer stopped. Frameworks are spread over benchRoles
// roles, so both levels of the hierarchy are exercised.
//
// Run: go test ./kernel/allocator/ -run '^$' -bench Round -benchtime=5x

const benchRoles = 10

var (
	benchAgents     = []int{1000, 10000, 50000}
	benchFrameworks = []int{10, 100, 1000}
)

func benchCluster(agents, frameworks int) *Allocator {
	a := New(Config{})
	total := mp("cpus:32;mem:256GiB;disk:1TiB;ports:[31000-32000]")
	for i := range agents {
		a.AddAgent(fmt.Sprintf("agent-%06d", i), total, nil)
	}
	for i := range frameworks {
		a.AddFramework(fmt.Sprintf("fw-%05d", i), []string{fmt.Sprintf("role-%d", i%benchRoles)}, nil)
	}
	return a
}

func recoverAll(a *Allocator, out []Allocation, now time.Time, filter func(Allocation) time.Duration) {
	for _, o := range out {
		a.Recover(now, o.FrameworkID, o.AgentID, o.Resources, filter(o))
	}
}

func noFilter(Allocation) time.Duration { return 0 }

func benchRounds(b *testing.B, a *Allocator, now time.Time, metrics map[string]float64) {
	recoverAll(a, a.Round(now), now, noFilter) // warm: first sort, slices grown
	offers := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out := a.Round(now)
		offers += len(out)
		b.StopTimer()
		recoverAll(a, out, now, noFilter)
		b.StartTimer()
	}
	b.ReportMetric(float64(offers)/float64(b.N), "offers/op")
	for unit, v := range metrics {
		b.ReportMetric(v, unit)
	}
}

func BenchmarkRound(b *testing.B) {
	for _, na := range benchAgents {
		for _, nf := range benchFrameworks {
			b.Run(fmt.Sprintf("agents=%d/frameworks=%d", na, nf), func(b *testing.B) {
				benchRounds(b, benchCluster(na, nf), t0, nil)
			})
		}
	}
}

// BenchmarkRoundFiltered: a third of the frameworks are suppressed, and
// another third declined everything they were offered in five earlier
// rounds with a one-hour filter (about 2.5 filters per agent), so a round
// skips filtered frameworks on most agents.
func BenchmarkRoundFiltered(b *testing.B) {
	for _, na := range benchAgents {
		for _, nf := range benchFrameworks {
			b.Run(fmt.Sprintf("agents=%d/frameworks=%d", na, nf), func(b *testing.B) {
				a := benchCluster(na, nf)
				decliner := func(o Allocation) time.Duration {
					var i int
					fmt.Sscanf(o.FrameworkID, "fw-%d", &i)
					if i%3 == 1 {
						return time.Hour
					}
					return 0
				}
				for i := range nf {
					if i%3 == 0 {
						a.Suppress(fmt.Sprintf("fw-%05d", i))
					}
				}
				for range 5 {
					recoverAll(a, a.Round(t0), t0, decliner)
				}
				filters := 0
				for _, f := range a.frameworks {
					filters += len(f.filters)
				}
				benchRounds(b, a, t0, map[string]float64{"filters": float64(filters)})
			})
		}
	}
}

// BenchmarkRoundReserved: every agent has half its resources reserved for
// one of the roles, so each agent takes the slower path (offers by role)
// and usually ends up split between two frameworks.
func BenchmarkRoundReserved(b *testing.B) {
	for _, nf := range benchFrameworks {
		b.Run(fmt.Sprintf("agents=%d/frameworks=%d", 10000, nf), func(b *testing.B) {
			a := New(Config{})
			for i := range 10000 {
				// Not i%benchRoles: that lines up with the round's own
				// rotation over roles and every agent goes whole to its role.
				r := fmt.Sprintf("role-%d", splitmix(uint64(i))%benchRoles)
				a.AddAgent(fmt.Sprintf("agent-%06d", i),
					mp(fmt.Sprintf("cpus:16;mem:128GiB;cpus(%s):16;mem(%s):128GiB", r, r)), nil)
			}
			for i := range nf {
				a.AddFramework(fmt.Sprintf("fw-%05d", i), []string{fmt.Sprintf("role-%d", i%benchRoles)}, nil)
			}
			benchRounds(b, a, t0, nil)
		})
	}
}
