package sdktest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/sdk"
)

// tracker records its callbacks and holds the offers it is given.
type tracker struct {
	sdk.NopScheduler
	subscribed   []bool // reconnected flags
	disconnected []error
	offers       []*sdk.Offer
}

func (s *tracker) Subscribed(d *sdk.Driver, _ string, re bool) {
	s.subscribed = append(s.subscribed, re)
	d.Reconcile(nil)
}
func (s *tracker) Offers(_ *sdk.Driver, o []*sdk.Offer) { s.offers = append(s.offers, o...) }
func (s *tracker) Disconnected(_ *sdk.Driver, err error) {
	s.disconnected = append(s.disconnected, err)
}

func TestHarnessDisconnectAndFailover(t *testing.T) {
	s := &tracker{}
	h := New(t, s)
	if len(s.subscribed) != 1 || s.subscribed[0] {
		t.Fatalf("subscribed %v", s.subscribed)
	}
	if len(CallsOf[*kernelpb.Reconcile](h)) != 1 {
		t.Fatalf("calls %s: the Subscribed callback's Reconcile is missing", h)
	}
	o := h.SendOffers(Offer{})
	h.Disconnect()
	if len(s.disconnected) != 1 || !errors.Is(s.disconnected[0], sdk.ErrMasterTerminated) {
		t.Fatalf("disconnected %v", s.disconnected)
	}
	if len(s.subscribed) != 2 || !s.subscribed[1] {
		t.Fatalf("subscribed %v, want a reconnection", s.subscribed)
	}
	// The offer of the old connection is void: accepting it drops the launch.
	h.Driver().Accept([]string{o[0].GetId()}, []*sdk.TaskInfo{{TaskId: "t1"}}, nil)
	if len(CallsOf[*kernelpb.Accept](h)) != 0 {
		t.Fatal("an Accept on a void offer reached the master")
	}
	h.Failover()
	if len(s.disconnected) != 2 || !errors.Is(s.disconnected[1], sdk.ErrMasterFailover) || len(s.subscribed) != 3 {
		t.Fatalf("after failover: disconnected %v, subscribed %v", s.disconnected, s.subscribed)
	}
	h.SendOffers(Offer{})
	if len(h.Outstanding()) != 1 || len(s.offers) != 2 {
		t.Fatalf("outstanding %v, offers %d", h.Outstanding(), len(s.offers))
	}
}

func TestHarnessClockDrivesHeartbeatTimeout(t *testing.T) {
	s := &tracker{}
	h := New(t, s, sdk.Config{Framework: &sdk.FrameworkInfo{Name: "hb"}, HeartbeatTimeout: time.Minute})
	h.Advance(59 * time.Second)
	h.Deliver(&kernelpb.Heartbeat{Epoch: 1})
	h.Advance(59 * time.Second)
	if len(s.disconnected) != 0 {
		t.Fatalf("disconnected %v although a heartbeat came", s.disconnected)
	}
	h.Advance(2 * time.Second)
	if len(s.disconnected) != 1 || !errors.Is(s.disconnected[0], sdk.ErrHeartbeatTimeout) {
		t.Fatalf("disconnected %v, want a heartbeat timeout", s.disconnected)
	}
	if len(s.subscribed) != 2 {
		t.Fatalf("subscribed %v, want a resubscription", s.subscribed)
	}
}

// greedy launches more than its offer holds.
type greedy struct{ sdk.NopScheduler }

func (greedy) Offers(d *sdk.Driver, offers []*sdk.Offer) {
	task := sdk.WasmTask("sha256:00").Resources(sdk.MustParseResources("cpus:3"))
	d.Accept([]string{offers[0].GetId()}, []*sdk.TaskInfo{task.On(offers[0], "t1"), task.On(offers[0], "t2")}, nil)
}

// recordingTB keeps the harness's complaints instead of failing.
type recordingTB struct {
	testing.TB
	errs []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestHarnessCatchesOvercommit(t *testing.T) {
	rec := &recordingTB{TB: t}
	h := New(rec, greedy{})
	h.SendOffers(Offer{Resources: "cpus:4;mem:1GiB"})
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "task t2 needs cpus:3") {
		t.Fatalf("harness complaints %q, want one about t2", rec.errs)
	}
	if len(h.Launched()) != 2 {
		t.Fatalf("launched %v", h.Launched())
	}
}
