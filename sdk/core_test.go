package sdk

import (
	"errors"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pandodc/pando/kernel/kernelpb"
)

// These tests drive the protocol core one input at a time, with the time
// as a parameter: no actor, no goroutine, no sleep.

var (
	t0      = time.Unix(1_700_000_000, 0)
	master1 = actor.NewPID("m1:5060", "master")
)

func newCore(tweak func(*coreConfig)) *protocolCore {
	cfg := coreConfig{
		framework: &kernelpb.FrameworkInfo{Name: "core", Roles: []string{"*"}},
		master:    master1,
		backoff:   Backoff{Min: 100 * time.Millisecond, Max: 400 * time.Millisecond},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	return newProtocolCore(cfg)
}

// only returns the outputs of type T.
func only[T any](outs []any) []T {
	var got []T
	for _, o := range outs {
		if v, ok := o.(T); ok {
			got = append(got, v)
		}
	}
	return got
}

// sent returns the messages of type T sent to the master.
func sent[T any](outs []any) []T {
	var got []T
	for _, s := range only[*outSend](outs) {
		if v, ok := s.msg.(T); ok {
			got = append(got, v)
		}
	}
	return got
}

func one[T any](t *testing.T, got []T) T {
	t.Helper()
	if len(got) != 1 {
		var zero T
		t.Fatalf("got %d %T, want exactly one", len(got), zero)
	}
	return got[0]
}

// subscribeCore starts c and answers its Subscribe at epoch.
func subscribeCore(t *testing.T, c *protocolCore, now time.Time, epoch uint64, hbMs int64) []any {
	t.Helper()
	outs := c.step(now, &startMsg{})
	one(t, sent[*kernelpb.Subscribe](outs))
	outs = c.step(now, &fromMaster{msg: &kernelpb.Subscribed{Epoch: epoch, FrameworkId: "fw-1", HeartbeatIntervalMs: hbMs}})
	cb := one(t, only[*cbSubscribed](outs))
	if cb.frameworkID != "fw-1" {
		t.Fatalf("Subscribed callback for %q", cb.frameworkID)
	}
	return outs
}

func TestCoreSubscribeRetriesWithBackoff(t *testing.T) {
	c := newCore(nil)
	outs := c.step(t0, &startMsg{})
	sub := one(t, sent[*kernelpb.Subscribe](outs))
	if sub.GetFramework().GetId() != "" || sub.GetFramework().GetName() != "core" {
		t.Fatalf("Subscribe %v", sub)
	}
	tm := one(t, only[*outTimer](outs))
	if tm.after != subscribeReplyWait {
		t.Fatalf("first reply wait %s, want %s", tm.after, subscribeReplyWait)
	}
	// The Subscribe reached no actor: retry after the backoff, which
	// doubles with every failed attempt up to its maximum.
	var waits []time.Duration
	for range 4 {
		outs = c.step(t0, &subscribeUndeliverable{})
		retry := one(t, only[*outTimer](outs))
		waits = append(waits, retry.after)
		outs = c.step(t0, retry.in)
		one(t, sent[*kernelpb.Subscribe](outs))
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 400 * time.Millisecond}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("backoffs %v, want %v", waits, want)
		}
	}
	// A retry timer of an older attempt does nothing.
	if outs := c.step(t0, &subscribeRetry{gen: 1}); len(outs) != 0 {
		t.Fatalf("stale retry produced %v", outs)
	}
}

func TestCoreResolvesThroughURL(t *testing.T) {
	c := newCore(func(cfg *coreConfig) { cfg.master = nil })
	outs := c.step(t0, &startMsg{})
	res := one(t, only[*outResolve](outs))
	outs = c.step(t0, &masterResolved{gen: res.gen, err: errors.New("no leader")})
	retry := one(t, only[*outTimer](outs))
	outs = c.step(t0, retry.in)
	res = one(t, only[*outResolve](outs))
	outs = c.step(t0, &masterResolved{gen: res.gen, pid: master1})
	if s := one(t, only[*outSend](outs)); !s.to.Equal(master1) {
		t.Fatalf("Subscribe went to %v", s.to)
	}
	outs = c.step(t0, &fromMaster{msg: &kernelpb.Subscribed{Epoch: 1, FrameworkId: "fw-9"}})
	if w := one(t, only[*outWatch](outs)); !w.pid.Equal(master1) {
		t.Fatalf("watching %v, want the master subscribed to", w.pid)
	}
}

func TestCoreOfferBookkeepingAndDroppedAccept(t *testing.T) {
	c := newCore(nil)
	subscribeCore(t, c, t0, 1, 0)
	outs := c.step(t0, &fromMaster{msg: &kernelpb.Offers{Epoch: 1, Offers: []*kernelpb.Offer{{Id: "o1"}, {Id: "o2"}, {Id: "o3"}}}})
	if cb := one(t, only[*cbOffers](outs)); len(cb.offers) != 3 {
		t.Fatalf("offers callback %v", cb.offers)
	}
	c.step(t0, &fromMaster{msg: &kernelpb.Rescind{Epoch: 1, OfferId: "o1"}})

	// o1 was rescinded: the Accept is dropped, o2 goes back, the task is
	// LOST as a dropped launch.
	outs = c.step(t0.Add(time.Second), &callAccept{offerIDs: []string{"o1", "o2"}, tasks: []*kernelpb.TaskInfo{{TaskId: "t1"}}})
	if len(sent[*kernelpb.Accept](outs)) != 0 {
		t.Fatal("an Accept naming a void offer was sent")
	}
	if d := one(t, sent[*kernelpb.Decline](outs)); len(d.GetOfferIds()) != 1 || d.GetOfferIds()[0] != "o2" {
		t.Fatalf("Decline %v, want [o2]", d)
	}
	lost := one(t, only[*cbUpdate](outs)).status
	if !IsDroppedLaunch(lost) || lost.GetTaskId() != "t1" || lost.GetFrameworkId() != "fw-1" {
		t.Fatalf("update %v, want t1 LOST as a dropped launch", lost)
	}
	if lost.GetTimestampNs() != t0.Add(time.Second).UnixNano() {
		t.Fatalf("timestamp %d comes from somewhere else than the step's time", lost.GetTimestampNs())
	}
	// o2 is no longer outstanding; o3 is, once.
	outs = c.step(t0, &callAccept{offerIDs: []string{"o3"}, tasks: []*kernelpb.TaskInfo{{TaskId: "t2"}}})
	if a := one(t, sent[*kernelpb.Accept](outs)); a.GetOperations()[0].GetLaunch()[0].GetTaskId() != "t2" {
		t.Fatalf("Accept %v", a)
	}
	outs = c.step(t0, &callAccept{offerIDs: []string{"o3"}, tasks: []*kernelpb.TaskInfo{{TaskId: "t3"}}})
	if !IsDroppedLaunch(one(t, only[*cbUpdate](outs)).status) {
		t.Fatal("an offer was used twice")
	}
	// A real loss from the master is not a dropped launch.
	outs = c.step(t0, &fromMaster{msg: &kernelpb.Update{Epoch: 1, Status: &kernelpb.TaskStatus{
		TaskId: "t2", State: kernelpb.TaskState_TASK_LOST, Reason: kernelpb.Reason_REASON_AGENT_REMOVED, UpdateId: "u1"}}})
	if IsDroppedLaunch(one(t, only[*cbUpdate](outs)).status) {
		t.Fatal("a task lost with its agent counted as a dropped launch")
	}
	// Implicit acknowledgement follows the callback.
	if _, ok := outs[len(outs)-1].(*outSend); !ok || one(t, sent[*kernelpb.Acknowledge](outs)).GetUpdateId() != "u1" {
		t.Fatalf("outputs %v: want the Acknowledge after the Update callback", outs)
	}
}

func TestCoreEpochFencing(t *testing.T) {
	c := newCore(nil)
	subscribeCore(t, c, t0, 5, 0)
	if outs := c.step(t0, &fromMaster{msg: &kernelpb.Offers{Epoch: 4, Offers: []*kernelpb.Offer{{Id: "stale"}}}}); len(only[*cbOffers](outs)) != 0 {
		t.Fatal("an offer of a deposed master reached the scheduler")
	}
	// A newer epoch is a failover: disconnect and subscribe again with the id.
	outs := c.step(t0, &fromMaster{msg: &kernelpb.Heartbeat{Epoch: 7}})
	if d := one(t, only[*cbDisconnected](outs)); !errors.Is(d.reason, ErrMasterFailover) {
		t.Fatalf("Disconnected(%v)", d.reason)
	}
	if s := one(t, sent[*kernelpb.Subscribe](outs)); s.GetFramework().GetId() != "fw-1" {
		t.Fatalf("resubscribed as %q", s.GetFramework().GetId())
	}
	// Calls while not subscribed are dropped, an Accept's tasks come back.
	outs = c.step(t0, &callKill{taskID: "t"})
	if len(only[*outSend](outs)) != 0 {
		t.Fatal("Kill sent while not subscribed")
	}
	outs = c.step(t0, &fromMaster{msg: &kernelpb.Subscribed{Epoch: 7, FrameworkId: "fw-1"}})
	if cb := one(t, only[*cbSubscribed](outs)); !cb.reconnected {
		t.Fatal("Subscribed after a failover not marked reconnected")
	}
	// The duplicate answer of a resent first Subscribe is torn down.
	outs = c.step(t0, &fromMaster{msg: &kernelpb.Subscribed{Epoch: 7, FrameworkId: "fw-2"}})
	if td := one(t, sent[*kernelpb.Teardown](outs)); td.GetFrameworkId() != "fw-2" {
		t.Fatalf("Teardown %v", td)
	}
}

func TestCoreHeartbeatTimeout(t *testing.T) {
	c := newCore(nil)
	outs := subscribeCore(t, c, t0, 1, 250) // timeout: four intervals, 1s
	check := one(t, only[*outTimer](outs))
	if check.after != time.Second {
		t.Fatalf("first heartbeat check after %s, want 1s", check.after)
	}
	// A heartbeat at 600ms moves the deadline to 1.6s.
	c.step(t0.Add(600*time.Millisecond), &fromMaster{msg: &kernelpb.Heartbeat{Epoch: 1}})
	outs = c.step(t0.Add(time.Second), check.in)
	again := one(t, only[*outTimer](outs))
	if again.after != 600*time.Millisecond || len(only[*cbDisconnected](outs)) != 0 {
		t.Fatalf("check at 1s: %v, want another check in 600ms", outs)
	}
	outs = c.step(t0.Add(1600*time.Millisecond), again.in)
	if d := one(t, only[*cbDisconnected](outs)); !errors.Is(d.reason, ErrHeartbeatTimeout) {
		t.Fatalf("Disconnected(%v), want ErrHeartbeatTimeout", d.reason)
	}
	one(t, sent[*kernelpb.Subscribe](outs))
}

func TestCoreSuppressSurvivesResubscribe(t *testing.T) {
	c := newCore(nil)
	subscribeCore(t, c, t0, 1, 0)
	c.step(t0, &callSuppress{})
	c.step(t0, &masterTerminated{who: master1, why: "stopped"})
	outs := c.step(t0, &fromMaster{msg: &kernelpb.Subscribed{Epoch: 1, FrameworkId: "fw-1"}})
	one(t, sent[*kernelpb.Suppress](outs))
}

func TestCoreStop(t *testing.T) {
	c := newCore(nil)
	subscribeCore(t, c, t0, 1, 0)
	outs := c.step(t0, &stopMsg{failover: false})
	one(t, sent[*kernelpb.Teardown](outs))
	one(t, only[*outStop](outs))
	if outs := c.step(t0, &callRevive{}); len(outs) != 0 {
		t.Fatalf("a stopped core still acts: %v", outs)
	}
	c = newCore(nil)
	subscribeCore(t, c, t0, 1, 0)
	if outs := c.step(t0, &stopMsg{failover: true}); len(sent[*kernelpb.Teardown](outs)) != 0 {
		t.Fatal("failover stop tore the framework down")
	}
}

// The Subscribe carries every field the author set (partition awareness
// too), with the id the master gave on a resubscription, and never changes
// the author's FrameworkInfo.
func TestCoreSubscribeCarriesTheWholeFrameworkInfo(t *testing.T) {
	info := &kernelpb.FrameworkInfo{Name: "aware", Roles: []string{"web"}, PartitionAware: true, FailoverTimeoutMs: 5000, User: "u"}
	c := newCore(func(cfg *coreConfig) { cfg.framework = info })
	subscribeCore(t, c, t0, 1, 0)
	outs := c.step(t0.Add(time.Second), &masterTerminated{who: master1, why: "gone"})
	outs = append(outs, c.step(t0.Add(2*time.Second), &subscribeRetry{gen: c.attempt})...)
	subs := sent[*kernelpb.Subscribe](outs)
	if len(subs) == 0 {
		t.Fatalf("no resubscription after the master went away: %v", outs)
	}
	for _, sub := range subs {
		fi := sub.GetFramework()
		if !fi.GetPartitionAware() || fi.GetName() != "aware" || fi.GetRoles()[0] != "web" || fi.GetFailoverTimeoutMs() != 5000 || fi.GetId() != "fw-1" {
			t.Fatalf("resubscription carries %v", fi)
		}
	}
	if info.GetId() != "" {
		t.Errorf("the author's FrameworkInfo was changed: id %q", info.GetId())
	}
}
