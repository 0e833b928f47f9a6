package resources

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/pandodc/pando/kernel/kernelpb"
)

// The generator draws from few names, roles and a small integer space so
// that random sets collide often: same (name, role), overlapping and
// adjacent ranges.
var (
	genScalars = []string{"cpus", "mem", "disk", "gpus"}
	genRanges  = []string{"ports", "vlans"}
	genRoles   = []string{"", "", "batch", "web"}
)

func genSet(rng *rand.Rand) Resources {
	var items []Resource
	for range rng.IntN(6) {
		role := genRoles[rng.IntN(len(genRoles))]
		if rng.IntN(3) == 0 {
			var rs []Range
			for range 1 + rng.IntN(4) {
				b := uint64(rng.IntN(60))
				rs = append(rs, Range{b, b + uint64(rng.IntN(8))})
			}
			items = append(items, Resource{Name: genRanges[rng.IntN(len(genRanges))], Role: role, Ranges: rs})
			continue
		}
		m := Milli(rng.IntN(5000))
		if rng.IntN(10) == 0 {
			m = Milli(rng.Int64N(int64(MaxQuantity / 8))) // duplicates may merge: stay under the cap
		}
		items = append(items, Resource{Name: genScalars[rng.IntN(len(genScalars))], Role: role, Milli: m})
	}
	return New(items...)
}

const propIters = 3000

func forPairs(t *testing.T, seed uint64, f func(a, b, c Resources)) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	for range propIters {
		f(genSet(rng), genSet(rng), genSet(rng))
		if t.Failed() {
			return
		}
	}
}

// checkCanonical asserts the invariants every set must keep.
func checkCanonical(t *testing.T, r Resources) {
	t.Helper()
	items := r.Items()
	for i, it := range items {
		if it.Milli < 0 || (it.Milli == 0 && len(it.Ranges) == 0) {
			t.Fatalf("%q: entry %d empty or negative: %#v", r, i, it)
		}
		if i > 0 && cmpKey(&items[i-1], &items[i]) >= 0 {
			t.Fatalf("%q: entries %d and %d out of order", r, i-1, i)
		}
		for k, rg := range it.Ranges {
			if rg.Begin > rg.End || k > 0 && it.Ranges[k-1].End+1 >= rg.Begin {
				t.Fatalf("%q: ranges not normalized: %v", r, it.Ranges)
			}
		}
	}
}

func TestPropertyAddSubtract(t *testing.T) {
	forPairs(t, 1, func(a, b, _ Resources) {
		sum := a.Add(b)
		checkCanonical(t, sum)
		if !sum.Contains(a) {
			t.Fatalf("%q + %q = %q does not contain the first", a, b, sum)
		}
		// Ranges are sets, so (a+b)-b == a holds only when a and b share
		// no integers of the same (name, role); quantities always cancel.
		if !overlap(a, b) {
			back, err := sum.Subtract(b)
			if err != nil || !back.Equal(a) {
				t.Fatalf("(%q + %q) - b = %q, %v", a, b, back, err)
			}
			checkCanonical(t, back)
		}
	})
}

// overlap reports whether a and b hold a common integer under the same
// (name, role).
func overlap(a, b Resources) bool {
	for _, x := range a.Items() {
		for _, y := range b.Items() {
			if x.Name == y.Name && x.Role == y.Role {
				for _, p := range x.Ranges {
					for _, q := range y.Ranges {
						if p.Begin <= q.End && q.Begin <= p.End {
							return true
						}
					}
				}
			}
		}
	}
	return false
}

func TestPropertyContainsMatchesSubtract(t *testing.T) {
	contained := 0
	forPairs(t, 2, func(a, b, _ Resources) {
		// Make containment likely half the time.
		if b.Len()%2 == 0 {
			b = b.Add(a)
		}
		ok := b.Contains(a)
		diff, err := b.Subtract(a)
		if ok != (err == nil) {
			t.Fatalf("%q.Contains(%q) = %v but Subtract err = %v", b, a, ok, err)
		}
		if ok {
			contained++
			checkCanonical(t, diff)
			if back := diff.Add(a); !back.Equal(b) {
				t.Fatalf("(%q - %q) + a = %q", b, a, back)
			}
			if !b.Contains(diff) {
				t.Fatalf("%q does not contain its difference %q", b, diff)
			}
		} else if b.Shortfall(a) == "" {
			t.Fatalf("%q lacks %q but Shortfall is empty", b, a)
		}
		if !b.Contains(Resources{}) || !b.Contains(b) {
			t.Fatalf("%q does not contain itself or nothing", b)
		}
	})
	if contained < propIters/4 {
		t.Errorf("only %d of %d cases exercised containment", contained, propIters)
	}
}

func TestPropertyCommutativeAssociative(t *testing.T) {
	forPairs(t, 3, func(a, b, c Resources) {
		if ab, ba := a.Add(b), b.Add(a); !ab.Equal(ba) {
			t.Fatalf("a+b = %q, b+a = %q", ab, ba)
		}
		if l, r := a.Add(b).Add(c), a.Add(b.Add(c)); !l.Equal(r) {
			t.Fatalf("(a+b)+c = %q, a+(b+c) = %q", l, r)
		}
		if !a.Add(Resources{}).Equal(a) || !(Resources{}).Add(a).Equal(a) {
			t.Fatalf("empty is not neutral for %q", a)
		}
	})
}

func TestPropertyTextAndProtoRoundTrip(t *testing.T) {
	forPairs(t, 4, func(a, _, _ Resources) {
		s := a.String()
		p, err := Parse(s)
		if err != nil || !p.Equal(a) {
			t.Fatalf("Parse(%q) = %q, %v", s, p, err)
		}
		f, err := FromProto(a.ToProto())
		if err != nil || !f.Equal(a) {
			t.Fatalf("FromProto(ToProto(%q)) = %q, %v", a, f, err)
		}
		for _, name := range append(slices.Clone(genScalars), genRanges...) {
			if a.Get(name) != modelGet(a, name) {
				t.Fatalf("%q.Get(%q) = %d, want %d", a, name, a.Get(name), modelGet(a, name))
			}
		}
	})
}

// A model with one map entry per integer checks the range arithmetic
// independently of the merge code.
type model map[[2]string]struct {
	milli Milli
	ints  map[uint64]bool
}

func toModel(r Resources) model {
	m := model{}
	for _, it := range r.Items() {
		e := m[[2]string{it.Name, it.Role}]
		e.milli += it.Milli
		if e.ints == nil {
			e.ints = map[uint64]bool{}
		}
		for _, rg := range it.Ranges {
			for v := rg.Begin; v <= rg.End; v++ {
				e.ints[v] = true
			}
		}
		m[[2]string{it.Name, it.Role}] = e
	}
	return m
}

func modelGet(r Resources, name string) Milli {
	var total Milli
	for k, e := range toModel(r) {
		if k[0] == name {
			total += e.milli + Milli(len(e.ints))*One
		}
	}
	return total
}

func modelContains(a, b model) bool {
	for k, eb := range b {
		ea := a[k]
		if ea.milli < eb.milli {
			return false
		}
		for v := range eb.ints {
			if !ea.ints[v] {
				return false
			}
		}
	}
	return true
}

func equalModel(a, b model) bool { return modelContains(a, b) && modelContains(b, a) }

func TestPropertyAgainstModel(t *testing.T) {
	forPairs(t, 5, func(a, b, _ Resources) {
		ma, mb := toModel(a), toModel(b)
		if got, want := a.Contains(b), modelContains(ma, mb); got != want {
			t.Fatalf("%q.Contains(%q) = %v, model says %v", a, b, got, want)
		}
		// Model sum and difference.
		sum := model{}
		for _, m := range []model{ma, mb} {
			for k, e := range m {
				s := sum[k]
				s.milli += e.milli
				if s.ints == nil {
					s.ints = map[uint64]bool{}
				}
				for v := range e.ints {
					s.ints[v] = true
				}
				sum[k] = s
			}
		}
		if got := toModel(a.Add(b)); !equalModel(got, sum) {
			t.Fatalf("%q + %q = %q disagrees with the model", a, b, a.Add(b))
		}
		// Subtract the part of b that a has, so it always succeeds.
		part := intersect(a, b)
		diff, err := a.Subtract(part)
		if err != nil {
			t.Fatalf("%q - %q: %v", a, part, err)
		}
		want := toModel(a)
		for k, e := range toModel(part) {
			w := want[k]
			w.milli -= e.milli
			for v := range e.ints {
				delete(w.ints, v)
			}
			want[k] = w
		}
		if got := toModel(diff); !equalModel(got, want) {
			t.Fatalf("%q - %q = %q disagrees with the model", a, part, diff)
		}
		checkCanonical(t, diff)
	})
}

// intersect returns, per (name, role), the smaller quantity and the common
// integers, built with the model so it does not depend on the code under
// test.
func intersect(a, b Resources) Resources {
	ma, mb := toModel(a), toModel(b)
	var items []Resource
	for k, ea := range ma {
		eb, ok := mb[k]
		if !ok {
			continue
		}
		it := Resource{Name: k[0], Role: k[1], Milli: min(ea.milli, eb.milli)}
		for v := range ea.ints {
			if eb.ints[v] {
				it.Ranges = append(it.Ranges, Range{v, v})
			}
		}
		items = append(items, it)
	}
	return New(items...)
}

func TestFromProtoErrors(t *testing.T) {
	ok := func(name string) *kernelpb.Resource { return &kernelpb.Resource{Name: name, Milli: 1000} }
	tests := []struct {
		in   []*kernelpb.Resource
		want string
	}{
		{[]*kernelpb.Resource{nil}, "is nil"},
		{[]*kernelpb.Resource{{Name: "", Milli: 1}}, "name is empty"},
		{[]*kernelpb.Resource{{Name: "c p u", Milli: 1}}, "letters, digits"},
		{[]*kernelpb.Resource{{Name: "cpus", Milli: -1}}, "negative"},
		{[]*kernelpb.Resource{{Name: "cpus", Milli: int64(MaxQuantity) + 1}}, "too large"},
		{[]*kernelpb.Resource{{Name: "cpus", Role: "a b", Milli: 1}}, `role "a b"`},
		{[]*kernelpb.Resource{{Name: "ports", Ranges: []*kernelpb.Range{{Begin: 5, End: 3}}}}, "ends before it begins"},
		{[]*kernelpb.Resource{{Name: "ports", Ranges: []*kernelpb.Range{nil}}}, "range #0 is nil"},
		{[]*kernelpb.Resource{{Name: "ports", Ranges: []*kernelpb.Range{{Begin: 0, End: 1 << 40}}}}, "at most 4294967295"},
		{[]*kernelpb.Resource{{Name: "ports", Milli: 1, Ranges: []*kernelpb.Range{{Begin: 1, End: 2}}}}, "both a quantity and ranges"},
		{[]*kernelpb.Resource{ok("cpus"), {Name: "cpus", Role: "x", Ranges: []*kernelpb.Range{{Begin: 1, End: 2}}}}, "both a quantity and ranges"},
	}
	for i, tc := range tests {
		r, err := FromProto(tc.in)
		if err == nil {
			t.Errorf("case %d: FromProto = %q, want error", i, r)
			continue
		}
		if !contains(err.Error(), tc.want) {
			t.Errorf("case %d: error %q does not say %q", i, err, tc.want)
		}
	}
	// Valid: duplicates merge, "*" is unreserved, unsorted ranges normalize.
	r, err := FromProto([]*kernelpb.Resource{
		ok("cpus"), {Name: "cpus", Role: "*", Milli: 500},
		{Name: "ports", Ranges: []*kernelpb.Range{{Begin: 10, End: 20}, {Begin: 1, End: 9}}},
		{Name: "gpus"},
	})
	if err != nil || r.String() != "cpus:1.5;ports:[1-20]" {
		t.Errorf("FromProto = %q, %v", r, err)
	}
	if got := (Resources{}).ToProto(); got != nil {
		t.Errorf("empty ToProto = %v", got)
	}
}

func contains(s, sub string) bool { return len(sub) == 0 || len(s) >= len(sub) && indexOf(s, sub) >= 0 }

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
