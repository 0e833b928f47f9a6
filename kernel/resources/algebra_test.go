package resources

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestAddSubtractContains(t *testing.T) {
	tests := []struct {
		a, b, sum string
	}{
		{"", "", ""},
		{"cpus:1", "", "cpus:1"},
		{"", "cpus:1", "cpus:1"},
		{"cpus:1", "cpus:0.5", "cpus:1.5"},
		{"cpus:1", "mem:2", "cpus:1;mem:2"},
		{"cpus:1", "cpus(batch):1", "cpus:1;cpus(batch):1"},
		{"ports:[1-3]", "ports:[4-5]", "ports:[1-5]"},
		{"ports:[1-3,10-12]", "ports:[5-6]", "ports:[1-3,5-6,10-12]"},
		{"ports:[1-3]", "ports:[2-8]", "ports:[1-8]"}, // sets: overlap is not counted twice
		{"zzz:1;aaa:1", "mmm:1", "aaa:1;mmm:1;zzz:1"},
	}
	for _, tc := range tests {
		a, b := MustParse(tc.a), MustParse(tc.b)
		sum := a.Add(b)
		if want := MustParse(tc.sum); !sum.Equal(want) {
			t.Errorf("%q + %q = %q, want %q", tc.a, tc.b, sum, tc.sum)
		}
		if !sum.Contains(a) || !sum.Contains(b) {
			t.Errorf("%q does not contain both %q and %q", sum, tc.a, tc.b)
		}
	}

	r := MustParse("cpus:4;mem:8GiB;ports:[31000-32000];gpus(ml):1")
	in := []string{"", "cpus:4", "cpus:0.001;mem:1B", "ports:[31000-31000]", "ports:[31500-31600,32000-32000]", "gpus(ml):1", "cpus:4;mem:8192;ports:[31000-32000];gpus(ml):1"}
	out := []string{"cpus:4.001", "mem:9GiB", "ports:[30999-31000]", "ports:[32000-32001]", "gpus:1", "gpus(other):1", "disk:1", "cpus(ml):1", "ports:[1-1]"}
	for _, s := range in {
		if !r.Contains(MustParse(s)) {
			t.Errorf("%q should contain %q", r, s)
		}
	}
	for _, s := range out {
		o := MustParse(s)
		if r.Contains(o) {
			t.Errorf("%q should not contain %q", r, s)
		}
		_, err := r.Subtract(o)
		if !errors.Is(err, ErrInsufficient) {
			t.Errorf("%q - %q: err %v, want ErrInsufficient", r, s, err)
		}
	}

	diff, err := r.Subtract(MustParse("cpus:1.5;mem:1GiB;ports:[31100-31199,32000-32000];gpus(ml):1"))
	if err != nil {
		t.Fatal(err)
	}
	if want := MustParse("cpus:2.5;mem:7GiB;ports:[31000-31099,31200-31999]"); !diff.Equal(want) {
		t.Errorf("diff = %q, want %q", diff, want)
	}
	all, err := r.Subtract(r)
	if err != nil || !all.IsEmpty() || all.String() != "" {
		t.Errorf("r - r = %q, %v; want empty", all, err)
	}
}

func TestSubtractErrorNamesWhatLacks(t *testing.T) {
	r := MustParse("cpus:8;mem:19GiB;ports:[31000-32000]")
	_, err := r.Subtract(MustParse("cpus:2;mem:64GiB;gpus:1;ports:[80-80]"))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, w := range []string{"insufficient resources", "mem 64GiB (has 19GiB)", "gpus 1 (has 0)", "ports [80-80] (has [31000-32000])"} {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not say %q", msg, w)
		}
	}
	if strings.Contains(msg, "cpus") {
		t.Errorf("error %q names cpus, which suffice", msg)
	}
}

func TestShortfall(t *testing.T) {
	tests := []struct{ have, need, want string }{
		{"cpus:2", "cpus:1", ""},
		{"", "", ""},
		{"mem:19GiB", "mem:64GiB", "mem 64GiB (has 19GiB)"},
		{"cpus:1;disk:100", "cpus:1.5;disk:1GiB", "cpus 1.5 (has 1), disk 1GiB (has 100MiB)"},
		{"cpus:4", "cpus(batch):1", "cpus(batch) 1 (has 0)"},
		{"", "ports:[80-81]", "ports [80-81] (has none)"},
		{"mem:0.5", "mem:1", "mem 1MiB (has 512KiB)"},
	}
	for _, tc := range tests {
		if got := MustParse(tc.have).Shortfall(MustParse(tc.need)); got != tc.want {
			t.Errorf("%q.Shortfall(%q) = %q, want %q", tc.have, tc.need, got, tc.want)
		}
	}
}

func TestQueries(t *testing.T) {
	r := MustParse("cpus:1;cpus(batch):0.5;cpus(web):2;mem:1024;ports:[1-10,21-25];ports(web):[100-101]")
	for name, want := range map[string]Milli{"cpus": 3500, "mem": 1024 * One, "ports": 17 * One, "disk": 0} {
		if got := r.Get(name); got != want {
			t.Errorf("Get(%q) = %d, want %d", name, got, want)
		}
	}
	if got, want := r.Names(), []string{"cpus", "mem", "ports"}; !slices.Equal(got, want) {
		t.Errorf("Names = %q, want %q", got, want)
	}
	check := func(what string, got Resources, want string) {
		t.Helper()
		if !got.Equal(MustParse(want)) {
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}
	check("Unreserved", r.Unreserved(), "cpus:1;mem:1024;ports:[1-10,21-25]")
	check("Reserved(web)", r.Reserved("web"), "cpus(web):2;ports(web):[100-101]")
	check("Reserved(*)", r.Reserved("*"), r.Unreserved().String())
	check("Reserved(none)", r.Reserved("none"), "")
	check("AllocatableTo(batch)", r.AllocatableTo("batch"), "cpus:1;cpus(batch):0.5;mem:1024;ports:[1-10,21-25]")
	check("AllocatableTo(*)", r.AllocatableTo("*"), r.Unreserved().String())
	if r.Len() != 6 || r.IsEmpty() || !(Resources{}).IsEmpty() || (Resources{}).Len() != 0 {
		t.Errorf("Len/IsEmpty wrong: %d %v", r.Len(), r.IsEmpty())
	}
	if got := (Resources{}).Names(); len(got) != 0 {
		t.Errorf("empty Names = %q", got)
	}
}

func TestNewAndScalar(t *testing.T) {
	src := []Range{{10, 20}, {1, 5}, {6, 8}}
	r := New(
		Resource{Name: "ports", Ranges: src},
		Resource{Name: "cpus", Role: "*", Milli: 500},
		Resource{Name: "cpus", Milli: 500},
		Resource{Name: "gpus", Milli: 0},
		Resource{Name: "disk", Ranges: []Range{}},
	)
	if want := "cpus:1;ports:[1-8,10-20]"; r.String() != want {
		t.Errorf("New = %q, want %q", r, want)
	}
	// New copies: changing the caller's slice leaves the set alone.
	src[0] = Range{1000, 2000}
	if want := "cpus:1;ports:[1-8,10-20]"; r.String() != want {
		t.Errorf("after caller edit New = %q, want %q", r, want)
	}
	if got := Scalar(CPUs, 1500); got.String() != "cpus:1.5" {
		t.Errorf("Scalar = %q", got)
	}
	if !Scalar(CPUs, 0).IsEmpty() {
		t.Error("Scalar 0 is not empty")
	}
	for _, bad := range []func(){
		func() { New(Resource{Name: "cpus", Milli: -1}) },
		func() { New(Resource{Name: "ports", Ranges: []Range{{5, 3}}}) },
		func() { Scalar("cpus", -1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic on invalid input")
				}
			}()
			bad()
		}()
	}
}

// Operations never modify their operands (sets are immutable values that
// the allocator shares freely).
func TestImmutable(t *testing.T) {
	a := MustParse("cpus:2;ports:[1-10,20-30]")
	b := MustParse("cpus:1;ports:[5-6,11-19]")
	as, bs := a.String(), b.String()
	sum := a.Add(b)
	_, _ = sum.Subtract(b)
	_, _ = a.Subtract(MustParse("ports:[3-4]"))
	if a.String() != as || b.String() != bs {
		t.Errorf("operands changed: %q %q", a, b)
	}
	// And results do not alias each other in a way that leaks writes.
	s1 := sum.String()
	_ = sum.Add(MustParse("ports:[100-200]"))
	if sum.String() != s1 {
		t.Errorf("sum changed to %q", sum)
	}
}

// Mixed kinds for one (name, role) can only come from New on hand-built
// items; the algebra must still be lawful.
func TestMixedKinds(t *testing.T) {
	a := New(Resource{Name: "x", Milli: 2000})
	b := New(Resource{Name: "x", Ranges: []Range{{1, 3}}})
	sum := a.Add(b)
	if sum.Len() != 1 || sum.Items()[0].Milli != 2000 || len(sum.Items()[0].Ranges) != 1 {
		t.Fatalf("sum = %#v", sum.Items())
	}
	if !sum.Contains(a) || !sum.Contains(b) || a.Contains(sum) {
		t.Error("Contains wrong on mixed entry")
	}
	back, err := sum.Subtract(b)
	if err != nil || !back.Equal(a) {
		t.Errorf("(a+b)-b = %q, %v; want %q", back, err, a)
	}
	if got := sum.Get("x"); got != 5000 {
		t.Errorf("Get = %d, want 5000", got)
	}
	if _, err := Parse(sum.String()); err == nil {
		t.Errorf("Parse(%q) of a mixed entry should be rejected", sum)
	}
	if _, err := FromProto(sum.ToProto()); err == nil {
		t.Error("FromProto of a mixed entry should be rejected")
	}
}

func TestSaturation(t *testing.T) {
	big := New(Resource{Name: "cpus", Milli: math.MaxInt64 - 1})
	if got := big.Add(big).Get("cpus"); got != math.MaxInt64 {
		t.Errorf("saturating add = %d", got)
	}
	wide := New(Resource{Name: "r", Ranges: []Range{{0, math.MaxUint64}}})
	if got := wide.Get("r"); got != math.MaxInt64 {
		t.Errorf("Get of full range = %d", got)
	}
	if got := wide.Add(New(Resource{Name: "r", Ranges: []Range{{5, 5}}})); !got.Equal(wide) {
		t.Errorf("union with full range = %q", got)
	}
	d, err := wide.Subtract(New(Resource{Name: "r", Ranges: []Range{{0, 0}, {math.MaxUint64, math.MaxUint64}}}))
	if err != nil || d.String() != "r:[1-18446744073709551614]" {
		t.Errorf("wide - ends = %q, %v", d, err)
	}
}
