package sdk

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
)

func TestBinPack(t *testing.T) {
	for _, tc := range []struct {
		avail, need string
		n, want     int
	}{
		{"cpus:1;mem:1024", "cpus:0.1;mem:64", 100, 10},
		{"cpus:1;mem:1024", "cpus:0.1;mem:64", 3, 3},
		{"cpus:1;mem:100", "cpus:0.1;mem:64", 100, 1},     // mem binds
		{"cpus:0.25;mem:4096", "cpus:0.1;mem:64", 100, 2}, // cpus binds
		{"cpus:0.05;mem:4096", "cpus:0.1;mem:64", 100, 0},
		{"cpus:4", "cpus:1;mem:1", 10, 0},                // mem missing
		{"cpus(batch):4;mem:100", "cpus:1;mem:1", 10, 0}, // role must match
		{"cpus(batch):4;mem:100", "cpus(batch):1;mem:1", 10, 4},
		{"cpus:4;mem:100", "", 7, 7},
		{"cpus:4;mem:100", "cpus:1", 0, 0},
		{"cpus:8;ports:[1000-1002]", "cpus:1;ports:[1000-1000]", 10, 1}, // ranges: slow path
		{"cpus:8;gpus:2", "cpus:1;gpus:1", 10, 2},
	} {
		var need resources.Resources
		if tc.need != "" {
			need = resources.MustParse(tc.need)
		}
		if got := BinPack(resources.MustParse(tc.avail), need, tc.n); got != tc.want {
			t.Errorf("BinPack(%s, %s, %d) = %d, want %d", tc.avail, tc.need, tc.n, got, tc.want)
		}
	}
}

// TestBinPackAgreesWithSubtract checks the arithmetic fast path against
// the definition: the largest k such that k copies can be subtracted.
func TestBinPackAgreesWithSubtract(t *testing.T) {
	avails := []string{"cpus:1;mem:1024", "cpus:3.3;mem:200;disk:50", "cpus:0.7;mem:64", "cpus:16;mem:65536;disk:1"}
	needs := []string{"cpus:0.1;mem:64", "cpus:0.33", "mem:17", "cpus:1;disk:1", "cpus:0.001;mem:1"}
	for _, a := range avails {
		for _, n := range needs {
			avail, need := resources.MustParse(a), resources.MustParse(n)
			got := BinPack(avail, need, 1000)
			if slow := binPackSlow(avail, need, 1000); got != slow {
				t.Errorf("BinPack(%s, %s) = %d, subtracting gives %d", a, n, got, slow)
			}
		}
	}
}

func mkOffer(id, host string, res string, attrs map[string]string) *kernelpb.Offer {
	return &kernelpb.Offer{Id: id, AgentId: "agent-" + host, Hostname: host,
		Resources: resources.MustParse(res).ToProto(), Attributes: attrs}
}

func req(id, group, res string, cs ...Constraint) Request {
	return Request{ID: id, Group: group, Resources: resources.MustParse(res), Constraints: cs}
}

func TestPacker(t *testing.T) {
	offers := []*kernelpb.Offer{
		mkOffer("o1", "h1", "cpus:2;mem:2048", map[string]string{"rack": "r1", "zone": "eu-west-1a"}),
		mkOffer("o2", "h2", "cpus:4;mem:1024", map[string]string{"rack": "r2", "zone": "eu-west-1b"}),
		mkOffer("o3", "h3", "cpus:1;mem:512", map[string]string{"rack": "r1"}),
	}
	for _, tc := range []struct {
		name     string
		strategy Strategy
		reqs     []Request
		want     map[string]string // request -> offer ("" = unplaced)
		reason   map[string]string // request -> substring of the reason
	}{
		{
			name: "first fit decreasing",
			reqs: []Request{req("small", "g", "cpus:1;mem:100"), req("big", "g", "cpus:3;mem:100")},
			// big goes first (decreasing), only o2 has 3 cpus; small then
			// takes the first offer with room, o1.
			want: map[string]string{"big": "o2", "small": "o1"},
		},
		{
			name:     "best fit packs tightly",
			strategy: BestFit,
			reqs:     []Request{req("a", "g", "cpus:1;mem:512")},
			want:     map[string]string{"a": "o3"}, // o3 is left empty: tightest
		},
		{
			name: "equality and inequality",
			reqs: []Request{
				req("eq", "g", "cpus:0.5", Constraint{"rack", OpEqual, "r2"}),
				req("ne", "g", "cpus:0.5", Constraint{"rack", OpNotEqual, "r1"}),
				req("host", "g", "cpus:0.5", Constraint{"hostname", OpEqual, "h3"}),
			},
			want: map[string]string{"eq": "o2", "ne": "o2", "host": "o3"},
		},
		{
			name: "like is anchored; missing attribute fails",
			reqs: []Request{
				req("like", "g", "cpus:0.5", Constraint{"zone", OpLike, "eu-west-1[b-z]"}),
				req("partial", "g", "cpus:0.5", Constraint{"zone", OpLike, "west"}),
			},
			want:   map[string]string{"like": "o2", "partial": ""},
			reason: map[string]string{"partial": "zone LIKE west"},
		},
		{
			name: "unique per hostname within a group",
			reqs: []Request{
				req("a1", "a", "cpus:0.5", Constraint{"hostname", OpUnique, ""}),
				req("a2", "a", "cpus:0.5", Constraint{"hostname", OpUnique, ""}),
				req("a3", "a", "cpus:0.5", Constraint{"hostname", OpUnique, ""}),
				req("a4", "a", "cpus:0.5", Constraint{"hostname", OpUnique, ""}),
				req("b1", "b", "cpus:0.5", Constraint{"hostname", OpUnique, ""}),
			},
			want:   map[string]string{"a1": "o1", "a2": "o2", "a3": "o3", "a4": "", "b1": "o1"},
			reason: map[string]string{"a4": "already used"},
		},
		{
			name: "unique per rack",
			reqs: []Request{
				req("x", "g", "cpus:0.1", Constraint{"rack", OpUnique, ""}),
				req("y", "g", "cpus:0.1", Constraint{"rack", OpUnique, ""}),
				req("z", "g", "cpus:0.1", Constraint{"rack", OpUnique, ""}),
			},
			want: map[string]string{"x": "o1", "y": "o2", "z": ""},
		},
		{
			name:   "too big says what is missing",
			reqs:   []Request{req("huge", "g", "cpus:1;mem:64GiB")},
			want:   map[string]string{"huge": ""},
			reason: map[string]string{"huge": "3 lacked resources (e.g. on h1: mem 64GiB (has 2GiB))"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Packer{Strategy: tc.strategy}
			plan, err := p.Pack(offers, tc.reqs)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, pl := range plan.Placements {
				got[pl.RequestID] = pl.OfferID
			}
			reasons := map[string]string{}
			for _, u := range plan.Unplaced {
				got[u.RequestID] = ""
				reasons[u.RequestID] = u.Reason
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("placed %v, want %v (unplaced: %v)", got, tc.want, plan.Unplaced)
			}
			for id, sub := range tc.reason {
				if !strings.Contains(reasons[id], sub) {
					t.Errorf("reason for %s = %q, want it to mention %q", id, reasons[id], sub)
				}
			}
			// Whatever was placed must have come out of its offer.
			for _, o := range offers {
				total, _ := resources.FromProto(o.GetResources())
				used := resources.Resources{}
				for _, pl := range plan.ByOffer()[o.GetId()] {
					used = used.Add(pl.Resources)
				}
				if !total.Contains(used) || !plan.Remaining[o.GetId()].Add(used).Equal(total) {
					t.Errorf("offer %s: total %s, used %s, remaining %s", o.GetId(), total, used, plan.Remaining[o.GetId()])
				}
			}
		})
	}
}

func TestPackerTakenAcrossRounds(t *testing.T) {
	offers := []*kernelpb.Offer{mkOffer("o1", "h1", "cpus:2", nil), mkOffer("o2", "h2", "cpus:2", nil)}
	p := &Packer{Taken: func(group, attr, value string) bool { return group == "svc" && attr == "hostname" && value == "h1" }}
	plan, err := p.Pack(offers, []Request{
		req("s1", "svc", "cpus:1", Constraint{"hostname", OpUnique, ""}),
		req("s2", "svc", "cpus:1", Constraint{"hostname", OpUnique, ""}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Placements) != 1 || plan.Placements[0].OfferID != "o2" {
		t.Fatalf("placements %v, want one on o2 (h1 already runs one)", plan.Placements)
	}
}

func TestPackerNoOffersAndBadConstraints(t *testing.T) {
	p := &Packer{}
	plan, err := p.Pack(nil, []Request{req("a", "g", "cpus:1")})
	if err != nil || len(plan.Unplaced) != 1 || plan.Unplaced[0].Reason != "no offers" {
		t.Fatalf("plan %+v, err %v", plan, err)
	}
	for _, c := range []Constraint{{"rack", "~=", "x"}, {"", OpEqual, "x"}, {"rack", OpLike, "(unclosed"}} {
		if _, err := p.Pack(nil, []Request{req("a", "g", "cpus:1", c)}); err == nil {
			t.Errorf("constraint %v accepted", c)
		}
	}
}

func TestConstraintString(t *testing.T) {
	got := []string{
		Constraint{"rack", OpEqual, "r1"}.String(),
		Constraint{"hostname", OpUnique, ""}.String(),
		Constraint{"zone", OpLike, "eu.*"}.String(),
	}
	sort.Strings(got)
	want := []string{"hostname UNIQUE", "rack==r1", "zone LIKE eu.*"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%v", got)
	}
}
