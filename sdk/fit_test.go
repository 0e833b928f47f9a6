package sdk

import (
	"strings"
	"testing"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
)

func TestFitCountsWhyPerReason(t *testing.T) {
	offers := []*kernelpb.Offer{
		mkOffer("o1", "h1", "cpus:4;mem:4096", map[string]string{"runtimes": "wasm,container"}),
		mkOffer("o2", "h2", "cpus:0.5;mem:256", map[string]string{"runtimes": "wasm,container"}),
		mkOffer("o3", "h3", "cpus:8;mem:8192", map[string]string{"runtimes": "wasm"}),
		mkOffer("o4", "h4", "cpus:4;mem:4096", map[string]string{"runtimes": "wasm,container"}),
	}
	shape := Shape{
		Resources: resources.MustParse("cpus:1;mem:512"),
		Group:     "web",
		Constraints: []Constraint{
			{Attribute: "runtimes", Op: OpLike, Value: ".*container.*"},
			{Attribute: "hostname", Op: OpUnique},
		},
	}
	p := &Packer{}
	fit, err := p.Fit(offers, shape, 5)
	if err != nil {
		t.Fatal(err)
	}
	// One per host with containers and room: h1 and h4.
	if fit.Placed != 2 || fit.Count["o1"] != 1 || fit.Count["o4"] != 1 {
		t.Fatalf("fit %+v, want one task on o1 and one on o4", fit)
	}
	if strings.Join(fit.Unused, ",") != "o2,o3" {
		t.Fatalf("unused %v, want o2,o3", fit.Unused)
	}
	w := fit.Why
	if w.Offers != 4 || w.TooSmall["cpus"] != 1 || w.TooSmall["mem"] != 1 ||
		w.Constraint["runtimes LIKE .*container.*"] != 1 || w.Constraint["hostname UNIQUE"] != 2 {
		t.Fatalf("why %+v", w)
	}
	s := w.String()
	for _, want := range []string{"4 offers", "hostname UNIQUE (2)", "cpus (1)", "on h2"} {
		if !strings.Contains(s, want) {
			t.Errorf("Why.String() = %q, want it to mention %q", s, want)
		}
	}

	var total Why
	total.Add(w)
	total.Add(w)
	if total.Offers != 8 || total.Constraint["hostname UNIQUE"] != 4 || total.TooSmall["mem"] != 2 {
		t.Fatalf("sum %+v", total)
	}
	if (Why{}).String() != "no offers yet" || !(Why{}).IsZero() {
		t.Fatal("zero Why")
	}
}

func TestFitSpreadAndAnswerShape(t *testing.T) {
	offers := []*kernelpb.Offer{
		mkOffer("o1", "h1", "cpus:8;mem:8192", nil),
		mkOffer("o2", "h2", "cpus:8;mem:8192", nil),
		mkOffer("o3", "h3", "cpus:8;mem:8192", nil),
	}
	shape := Shape{Resources: resources.MustParse("cpus:1;mem:128")}
	spread, _ := (&Packer{Strategy: Spread}).Fit(offers, shape, 6)
	packed, _ := (&Packer{}).Fit(offers, shape, 6)
	for _, id := range []string{"o1", "o2", "o3"} {
		if spread.Count[id] != 2 {
			t.Fatalf("spread %v, want 2 per offer", spread.Count)
		}
	}
	if packed.Count["o1"] != 6 || !packed.Why.IsZero() {
		t.Fatalf("first fit %v (why %v), want all 6 on o1", packed.Count, packed.Why)
	}
	if _, err := (&Packer{}).Fit(offers, Shape{Constraints: []Constraint{{Attribute: "x", Op: "~"}}}, 1); err == nil {
		t.Fatal("a malformed constraint was accepted")
	}
}

func TestFitCostFollowsOffersNotTasks(t *testing.T) {
	offers := []*kernelpb.Offer{mkOffer("o1", "h1", "cpus:0.75;mem:1536", nil), mkOffer("o2", "h2", "cpus:0.05;mem:1536", nil)}
	fit, err := (&Packer{}).Fit(offers, Shape{Resources: resources.MustParse("cpus:0.1;mem:64")}, 1_000_000)
	if err != nil || fit.Placed != 7 || fit.Count["o1"] != 7 || fit.Why.TooSmall["cpus"] != 2 {
		t.Fatalf("fit %+v, %v", fit, err)
	}
	// Two offers of one host: UNIQUE per host places one task.
	same := []*kernelpb.Offer{mkOffer("o1", "h1", "cpus:4;mem:4096", nil), mkOffer("o2", "h1", "cpus:4;mem:4096", nil)}
	for _, st := range []Strategy{FirstFit, BestFit, Spread} {
		fit, _ := (&Packer{Strategy: st}).Fit(same, Shape{Resources: resources.MustParse("cpus:1"), Constraints: []Constraint{{Attribute: "hostname", Op: OpUnique}}}, 3)
		if fit.Placed != 1 || fit.Why.Constraint["hostname UNIQUE"] != 2 {
			t.Fatalf("strategy %d: fit %+v", st, fit)
		}
	}
}

func TestFitNothingToPlace(t *testing.T) {
	fit, err := (&Packer{}).Fit([]*kernelpb.Offer{mkOffer("o1", "h1", "cpus:1", nil)}, Shape{Resources: resources.MustParse("cpus:1")}, 0)
	if err != nil || fit.Placed != 0 || len(fit.Unused) != 1 || !fit.Why.IsZero() {
		t.Fatalf("fit %+v, %v: want the offer unused and no reasons", fit, err)
	}
}
