package master_test

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/pandodc/pando/kernel/internal/sim"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/master"
)

// TestWeightsShareTheClusterAndBadOnesChangeNothing: with role a of weight
// 3 and role b of weight 1, frameworks that take every offer end up
// holding three times as much under a; refused weights set nothing.
func TestWeightsShareTheClusterAndBadOnesChangeNothing(t *testing.T) {
	c := sim.New(quietConfig())
	for i := range 8 {
		c.AddAgent(fmt.Sprint("a", i), "cpus:1;mem:1024")
	}
	for _, bad := range []map[string]float64{
		nil,
		{"a": 0},
		{"a": -1},
		{"a": math.NaN()},
		{"a": math.Inf(1)},
		{"a": 2, "bad role": 2}, // one bad entry refuses all
		{"": 2},
	} {
		if err := c.Master.Step(c.Now, "operator", master.SetWeights{Weights: bad}); !errors.Is(err, master.ErrInvalid) {
			t.Errorf("SetWeights(%v) = %v, want ErrInvalid", bad, err)
		}
	}
	if w := c.Master.RegistryWeights(); len(w) != 0 {
		t.Fatalf("refused weights were set: %v", w)
	}
	if err := c.Master.Step(c.Now, "operator", master.SetWeights{Weights: map[string]float64{"a": 3}}); err != nil {
		t.Fatal(err)
	}
	c.Subscribe("fwa", time.Minute, "a")
	c.Subscribe("fwb", time.Minute, "b")
	held := map[string]int{}
	for round := 0; round < 20 && held["fwa"]+held["fwb"] < 8; round++ {
		c.Allocate()
		for _, fw := range []string{"fwa", "fwb"} {
			for _, msg := range c.Frameworks[fw].TakeInbox() {
				offers, ok := msg.(*kernelpb.Offers)
				if !ok {
					continue
				}
				for _, o := range offers.Offers {
					held[fw]++
					c.Send(fw, accept(o.GetFrameworkId(), []string{o.GetId()}, wasmTask(fmt.Sprint(fw, "-", held[fw]), "cpus:1;mem:1024")))
				}
			}
		}
		c.Advance(time.Second)
	}
	if held["fwa"] != 6 || held["fwb"] != 2 {
		t.Errorf("held %v; want 6 agents under role a (weight 3), 2 under b", held)
	}
	roles := c.Master.Roles()
	if len(roles) != 2 || roles[0].Name != "a" || roles[0].Weight != 3 || roles[0].Frameworks != 1 || roles[1].Name != "b" || roles[1].Weight != 1 {
		t.Fatalf("roles = %+v", roles)
	}
	if roles[0].Share != 0.75 || roles[1].Share != 0.25 {
		t.Errorf("shares a %v b %v, want 0.75 and 0.25", roles[0].Share, roles[1].Share)
	}
	if w := c.Master.RegistryWeights(); len(w) != 1 || w["a"] != 3 {
		t.Errorf("RegistryWeights = %v, want a:3", w)
	}
}
