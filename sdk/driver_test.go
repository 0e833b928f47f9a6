package sdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pandodc/pando/kernel/kernelpb"
)

const wait = 5 * time.Second

// testMaster is a tiny master that speaks just enough of the protocol:
// it answers Subscribe (assigning ids "fw-1", "fw-2", ... to new
// frameworks), records everything frameworks send, and forwards what the
// test pushes to the last subscriber.
type testMaster struct {
	mu        sync.Mutex
	epoch     uint64
	hbMs      int64
	nextID    int
	framework *actor.PID
	got       chan received
}

type received struct {
	msg    any
	sender *actor.PID
}

// push asks the master to send msg to the subscribed framework.
type push struct{ msg any }

// setEpoch changes the epoch of later Subscribed answers.
type setEpoch struct{ epoch uint64 }

func (m *testMaster) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *kernelpb.Subscribe:
		m.mu.Lock()
		id := msg.GetFramework().GetId()
		if id == "" {
			m.nextID++
			id = fmt.Sprintf("fw-%d", m.nextID)
		}
		m.framework = ctx.Sender()
		epoch, hb := m.epoch, m.hbMs
		m.mu.Unlock()
		m.got <- received{msg, ctx.Sender()}
		ctx.Respond(&kernelpb.Subscribed{Epoch: epoch, FrameworkId: id, HeartbeatIntervalMs: hb})
	case *push:
		m.mu.Lock()
		to := m.framework
		m.mu.Unlock()
		ctx.Send(to, msg.msg)
	case *setEpoch:
		m.mu.Lock()
		m.epoch = msg.epoch
		m.mu.Unlock()
	case *kernelpb.Accept, *kernelpb.Decline, *kernelpb.Acknowledge, *kernelpb.Reconcile,
		*kernelpb.Kill, *kernelpb.Teardown, *kernelpb.Suppress, *kernelpb.Revive:
		m.got <- received{msg, ctx.Sender()}
	}
}

// next returns the next message the master received, as a T.
func next[T any](t *testing.T, m *testMaster) (T, *actor.PID) {
	t.Helper()
	select {
	case r := <-m.got:
		v, ok := r.msg.(T)
		if !ok {
			var zero T
			t.Fatalf("master received %T %v, want %T", r.msg, r.msg, zero)
		}
		return v, r.sender
	case <-time.After(wait):
		var zero T
		t.Fatalf("master did not receive a %T within %s", zero, wait)
		return zero, nil
	}
}

func quiet(t *testing.T, m *testMaster, d time.Duration) {
	t.Helper()
	select {
	case r := <-m.got:
		t.Fatalf("master unexpectedly received %T %v", r.msg, r.msg)
	case <-time.After(d):
	}
}

// event is one Scheduler callback, recorded.
type event struct {
	kind        string
	frameworkID string
	reconnected bool
	offers      []*kernelpb.Offer
	offerID     string
	status      *kernelpb.TaskStatus
	message     string
	err         error
}

type recorder struct {
	events chan event
}

func newRecorder() *recorder { return &recorder{events: make(chan event, 100)} }

func (r *recorder) Subscribed(_ *Driver, id string, re bool) {
	r.events <- event{kind: "subscribed", frameworkID: id, reconnected: re}
}
func (r *recorder) Offers(_ *Driver, o []*kernelpb.Offer) {
	r.events <- event{kind: "offers", offers: o}
}
func (r *recorder) Rescinded(_ *Driver, id string) { r.events <- event{kind: "rescinded", offerID: id} }
func (r *recorder) Update(_ *Driver, s *kernelpb.TaskStatus) {
	r.events <- event{kind: "update", status: s}
}
func (r *recorder) Error(_ *Driver, msg string)     { r.events <- event{kind: "error", message: msg} }
func (r *recorder) Disconnected(_ *Driver, e error) { r.events <- event{kind: "disconnected", err: e} }

func (r *recorder) next(t *testing.T, kind string) event {
	t.Helper()
	select {
	case e := <-r.events:
		if e.kind != kind {
			t.Fatalf("scheduler got %s callback (%+v), want %s", e.kind, e, kind)
		}
		return e
	case <-time.After(wait):
		t.Fatalf("no %s callback within %s", kind, wait)
		return event{}
	}
}

func (r *recorder) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case e := <-r.events:
		t.Fatalf("unexpected %s callback: %+v", e.kind, e)
	case <-time.After(d):
	}
}

func quietSystem() *actor.ActorSystem {
	return actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
}

func spawnMaster(t *testing.T, system *actor.ActorSystem, epoch uint64) (*testMaster, *actor.PID) {
	t.Helper()
	m := &testMaster{epoch: epoch, got: make(chan received, 100)}
	pid, err := system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return m }), "master")
	if err != nil {
		t.Fatalf("spawn master: %v", err)
	}
	return m, pid
}

type fixture struct {
	system *actor.ActorSystem
	master *testMaster
	mpid   *actor.PID
	rec    *recorder
	d      *Driver
}

func start(t *testing.T, epoch uint64, tweak func(*Config)) *fixture {
	t.Helper()
	system := quietSystem()
	t.Cleanup(system.Shutdown)
	m, mpid := spawnMaster(t, system, epoch)
	rec := newRecorder()
	cfg := Config{
		Framework:        &kernelpb.FrameworkInfo{Name: "test", Roles: []string{"*"}},
		System:           system,
		Master:           mpid,
		ReconnectBackoff: Backoff{Min: 20 * time.Millisecond, Max: 100 * time.Millisecond},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	d, err := NewDriver(cfg, rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Stop(true) })
	f := &fixture{system: system, master: m, mpid: mpid, rec: rec, d: d}
	sub, sender := next[*kernelpb.Subscribe](t, m)
	if sub.GetFramework().GetId() != "" || sub.GetFramework().GetName() != "test" {
		t.Fatalf("first Subscribe = %v", sub)
	}
	if !sender.Equal(d.PID()) {
		t.Fatalf("Subscribe sender = %v, want the driver %v", sender, d.PID())
	}
	e := rec.next(t, "subscribed")
	if e.frameworkID != "fw-1" || e.reconnected {
		t.Fatalf("Subscribed(%q, reconnected=%v), want fw-1, false", e.frameworkID, e.reconnected)
	}
	if d.FrameworkID() != "fw-1" {
		t.Fatalf("FrameworkID() = %q", d.FrameworkID())
	}
	return f
}

func (f *fixture) push(msg any) { f.system.Root.Send(f.mpid, &push{msg}) }

func offer(id string) *kernelpb.Offer {
	return &kernelpb.Offer{Id: id, FrameworkId: "fw-1", AgentId: "a1", Hostname: "h1"}
}

func TestDriverOfferAcceptUpdateAck(t *testing.T) {
	f := start(t, 1, nil)

	f.push(&kernelpb.Offers{Epoch: 1, Offers: []*kernelpb.Offer{offer("o1"), offer("o2")}})
	e := f.rec.next(t, "offers")
	if len(e.offers) != 2 || e.offers[0].GetId() != "o1" {
		t.Fatalf("offers = %v", e.offers)
	}

	task := &kernelpb.TaskInfo{TaskId: "t1", AgentId: "a1", Runtime: &kernelpb.TaskInfo_Wasm{Wasm: &kernelpb.WasmTask{Module: "sha256:ab"}}}
	f.d.Accept([]string{"o1"}, []*kernelpb.TaskInfo{task}, &kernelpb.Filters{RefuseSeconds: 2})
	acc, sender := next[*kernelpb.Accept](t, f.master)
	if acc.GetFrameworkId() != "fw-1" || len(acc.GetOfferIds()) != 1 || acc.GetOfferIds()[0] != "o1" {
		t.Fatalf("Accept = %v", acc)
	}
	if !sender.Equal(f.d.PID()) {
		t.Fatalf("Accept sender = %v, want the driver", sender)
	}
	ops := acc.GetOperations()
	if len(ops) != 1 || ops[0].GetType() != kernelpb.Operation_LAUNCH || ops[0].GetLaunch()[0].GetTaskId() != "t1" {
		t.Fatalf("Accept operations = %v", ops)
	}
	if acc.GetFilters().GetRefuseSeconds() != 2 {
		t.Fatalf("filters = %v", acc.GetFilters())
	}

	f.d.Decline([]string{"o2"}, nil)
	dec, _ := next[*kernelpb.Decline](t, f.master)
	if len(dec.GetOfferIds()) != 1 || dec.GetOfferIds()[0] != "o2" {
		t.Fatalf("Decline = %v", dec)
	}

	// A reconciliation answer (no update_id) must not be acknowledged;
	// the next update with an id must be.
	f.push(&kernelpb.Update{Epoch: 1, Status: &kernelpb.TaskStatus{TaskId: "t1", State: kernelpb.TaskState_TASK_STAGING, AgentId: "a1"}})
	f.push(&kernelpb.Update{Epoch: 1, Status: &kernelpb.TaskStatus{TaskId: "t1", State: kernelpb.TaskState_TASK_RUNNING, AgentId: "a1", UpdateId: "u2"}})
	if e := f.rec.next(t, "update"); e.status.GetState() != kernelpb.TaskState_TASK_STAGING {
		t.Fatalf("update = %v", e.status)
	}
	if e := f.rec.next(t, "update"); e.status.GetState() != kernelpb.TaskState_TASK_RUNNING {
		t.Fatalf("update = %v", e.status)
	}
	ack, _ := next[*kernelpb.Acknowledge](t, f.master)
	if ack.GetUpdateId() != "u2" || ack.GetTaskId() != "t1" || ack.GetAgentId() != "a1" || ack.GetFrameworkId() != "fw-1" {
		t.Fatalf("Acknowledge = %v", ack)
	}

	f.d.Reconcile([]*kernelpb.ReconcileTask{{TaskId: "t1", AgentId: "a1"}})
	if r, _ := next[*kernelpb.Reconcile](t, f.master); len(r.GetTasks()) != 1 || r.GetFrameworkId() != "fw-1" {
		t.Fatalf("Reconcile = %v", r)
	}
	f.d.Kill("t1", "a1")
	if k, _ := next[*kernelpb.Kill](t, f.master); k.GetTaskId() != "t1" || k.GetAgentId() != "a1" {
		t.Fatalf("Kill = %v", k)
	}
	f.d.Suppress()
	next[*kernelpb.Suppress](t, f.master)
	f.d.Revive()
	next[*kernelpb.Revive](t, f.master)

	f.push(&kernelpb.Error{Epoch: 1, Message: "no such offer"})
	if e := f.rec.next(t, "error"); e.message != "no such offer" {
		t.Fatalf("error = %q", e.message)
	}
}

func TestDriverVoidOfferTasksComeBackLost(t *testing.T) {
	f := start(t, 1, nil)
	f.push(&kernelpb.Offers{Epoch: 1, Offers: []*kernelpb.Offer{offer("o1"), offer("o2")}})
	f.rec.next(t, "offers")
	f.push(&kernelpb.Rescind{Epoch: 1, OfferId: "o1"})
	if e := f.rec.next(t, "rescinded"); e.offerID != "o1" {
		t.Fatalf("rescinded %q", e.offerID)
	}

	f.d.Accept([]string{"o1", "o2"}, []*kernelpb.TaskInfo{{TaskId: "t1", AgentId: "a1"}}, nil)
	e := f.rec.next(t, "update")
	if e.status.GetTaskId() != "t1" || e.status.GetState() != kernelpb.TaskState_TASK_LOST {
		t.Fatalf("update = %v, want t1 LOST", e.status)
	}
	// The still-valid o2 goes back to the master rather than being hoarded.
	dec, _ := next[*kernelpb.Decline](t, f.master)
	if len(dec.GetOfferIds()) != 1 || dec.GetOfferIds()[0] != "o2" {
		t.Fatalf("Decline = %v, want [o2]", dec)
	}
	quiet(t, f.master, 100*time.Millisecond)
}

func TestDriverExplicitAck(t *testing.T) {
	f := start(t, 1, func(c *Config) { c.ExplicitAck = true })
	st := &kernelpb.TaskStatus{TaskId: "t1", State: kernelpb.TaskState_TASK_FINISHED, AgentId: "a1", UpdateId: "u1"}
	f.push(&kernelpb.Update{Epoch: 1, Status: st})
	e := f.rec.next(t, "update")
	quiet(t, f.master, 150*time.Millisecond)
	f.d.Acknowledge(e.status)
	if ack, _ := next[*kernelpb.Acknowledge](t, f.master); ack.GetUpdateId() != "u1" {
		t.Fatalf("Acknowledge = %v", ack)
	}
}

func TestDriverMasterRestartResubscribes(t *testing.T) {
	f := start(t, 1, nil)
	f.d.Suppress()
	next[*kernelpb.Suppress](t, f.master)
	f.push(&kernelpb.Offers{Epoch: 1, Offers: []*kernelpb.Offer{offer("o1")}})
	f.rec.next(t, "offers")

	if err := f.system.Root.StopFuture(f.mpid).Wait(); err != nil {
		t.Fatal(err)
	}
	e := f.rec.next(t, "disconnected")
	if !errors.Is(e.err, ErrMasterTerminated) {
		t.Fatalf("Disconnected(%v), want ErrMasterTerminated", e.err)
	}
	// Let a few attempts fail against the missing master first.
	time.Sleep(100 * time.Millisecond)
	m2, _ := spawnMaster(t, f.system, 1)
	sub, _ := next[*kernelpb.Subscribe](t, m2)
	if sub.GetFramework().GetId() != "fw-1" {
		t.Fatalf("resubscribe with id %q, want fw-1 (failover)", sub.GetFramework().GetId())
	}
	e = f.rec.next(t, "subscribed")
	if e.frameworkID != "fw-1" || !e.reconnected {
		t.Fatalf("Subscribed(%q, %v), want fw-1, reconnected", e.frameworkID, e.reconnected)
	}
	// The driver re-applies its suppression to the new master.
	next[*kernelpb.Suppress](t, m2)

	// The offer from the old connection is void.
	f.d.Accept([]string{"o1"}, []*kernelpb.TaskInfo{{TaskId: "t1"}}, nil)
	if e := f.rec.next(t, "update"); e.status.GetState() != kernelpb.TaskState_TASK_LOST {
		t.Fatalf("update = %v, want LOST", e.status)
	}
	quiet(t, m2, 100*time.Millisecond)
}

func TestDriverEpochFencing(t *testing.T) {
	f := start(t, 5, nil)
	// A deposed master's messages are dropped.
	f.push(&kernelpb.Offers{Epoch: 4, Offers: []*kernelpb.Offer{offer("stale")}})
	f.push(&kernelpb.Update{Epoch: 4, Status: &kernelpb.TaskStatus{TaskId: "t", UpdateId: "u-stale"}})
	f.push(&kernelpb.Offers{Epoch: 5, Offers: []*kernelpb.Offer{offer("fresh")}})
	if e := f.rec.next(t, "offers"); e.offers[0].GetId() != "fresh" {
		t.Fatalf("offers %v: the epoch-4 offer was not dropped", e.offers)
	}

	// A message from a newer epoch means a failover: resubscribe.
	f.system.Root.Send(f.mpid, &setEpoch{7})
	f.push(&kernelpb.Heartbeat{Epoch: 7})
	e := f.rec.next(t, "disconnected")
	if !errors.Is(e.err, ErrMasterFailover) {
		t.Fatalf("Disconnected(%v), want ErrMasterFailover", e.err)
	}
	if sub, _ := next[*kernelpb.Subscribe](t, f.master); sub.GetFramework().GetId() != "fw-1" {
		t.Fatalf("resubscribe %v", sub)
	}
	if e := f.rec.next(t, "subscribed"); !e.reconnected {
		t.Fatal("Subscribed after failover not marked reconnected")
	}
	// Now epoch 5 is the deposed one.
	f.push(&kernelpb.Offers{Epoch: 5, Offers: []*kernelpb.Offer{offer("old")}})
	f.push(&kernelpb.Offers{Epoch: 7, Offers: []*kernelpb.Offer{offer("new")}})
	if e := f.rec.next(t, "offers"); e.offers[0].GetId() != "new" {
		t.Fatalf("offers %v: the epoch-5 offer was not dropped", e.offers)
	}
	quiet(t, f.master, 50*time.Millisecond) // in particular no Acknowledge for u-stale
}

func TestDriverHeartbeatTimeout(t *testing.T) {
	f := start(t, 1, func(c *Config) { c.HeartbeatTimeout = 400 * time.Millisecond })
	// Heartbeats keep the connection alive past the timeout...
	for i := 0; i < 10; i++ {
		time.Sleep(50 * time.Millisecond)
		f.push(&kernelpb.Heartbeat{Epoch: 1})
	}
	f.rec.none(t, 50*time.Millisecond)
	// ...and silence ends it.
	e := f.rec.next(t, "disconnected")
	if !errors.Is(e.err, ErrHeartbeatTimeout) {
		t.Fatalf("Disconnected(%v), want ErrHeartbeatTimeout", e.err)
	}
	if sub, _ := next[*kernelpb.Subscribe](t, f.master); sub.GetFramework().GetId() != "fw-1" {
		t.Fatalf("resubscribe %v", sub)
	}
	if e := f.rec.next(t, "subscribed"); !e.reconnected {
		t.Fatal("not reconnected")
	}
}

func TestDriverStopTeardown(t *testing.T) {
	f := start(t, 1, nil)
	f.d.Stop(false)
	td, _ := next[*kernelpb.Teardown](t, f.master)
	if td.GetFrameworkId() != "fw-1" {
		t.Fatalf("Teardown = %v", td)
	}
	select {
	case <-f.d.Done():
	default:
		t.Fatal("Stop returned before the driver stopped")
	}
	// Calls after Stop are dropped, not sent.
	f.d.Revive()
	quiet(t, f.master, 100*time.Millisecond)
}

func TestDriverStopFailoverKeepsFramework(t *testing.T) {
	f := start(t, 1, nil)
	f.d.Stop(true)
	quiet(t, f.master, 150*time.Millisecond)

	// A new driver with the framework id fails over to it.
	rec := newRecorder()
	d2, err := NewDriver(Config{
		Framework: &kernelpb.FrameworkInfo{Name: "test", Id: "fw-1"},
		System:    f.system, Master: f.mpid,
	}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := d2.Start(); err != nil {
		t.Fatal(err)
	}
	defer d2.Stop(true)
	if sub, _ := next[*kernelpb.Subscribe](t, f.master); sub.GetFramework().GetId() != "fw-1" {
		t.Fatalf("Subscribe %v", sub)
	}
	if e := rec.next(t, "subscribed"); e.frameworkID != "fw-1" || e.reconnected {
		t.Fatalf("Subscribed(%q, %v)", e.frameworkID, e.reconnected)
	}
}

// stopper stops the driver from inside a callback, which must not deadlock.
type stopper struct{ *recorder }

func (s stopper) Error(d *Driver, msg string) {
	s.recorder.Error(d, msg)
	d.Stop(false)
}

func TestDriverStopFromCallback(t *testing.T) {
	system := quietSystem()
	defer system.Shutdown()
	m, mpid := spawnMaster(t, system, 1)
	rec := newRecorder()
	d, err := NewDriver(Config{Framework: &kernelpb.FrameworkInfo{Name: "s"}, System: system, Master: mpid}, stopper{rec})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	next[*kernelpb.Subscribe](t, m)
	rec.next(t, "subscribed")
	system.Root.Send(mpid, &push{&kernelpb.Error{Epoch: 1, Message: "framework removed"}})
	rec.next(t, "error")
	next[*kernelpb.Teardown](t, m)
	select {
	case <-d.Done():
	case <-time.After(wait):
		t.Fatal("driver did not stop")
	}
}

func TestNewDriverValidates(t *testing.T) {
	rec := newRecorder()
	for name, cfg := range map[string]Config{
		"no framework": {Master: actor.NewPID("nonhost", "master")},
		"no name":      {Framework: &kernelpb.FrameworkInfo{}, Master: actor.NewPID("nonhost", "master")},
		"bad url":      {Framework: &kernelpb.FrameworkInfo{Name: "x"}, MasterURL: "127.0.0.1:5050"},
	} {
		if _, err := NewDriver(cfg, rec); err == nil {
			t.Errorf("%s: NewDriver accepted %+v", name, cfg)
		}
	}
}

func TestNewDriverMasterFromEnv(t *testing.T) {
	t.Setenv("PANDO_MASTER", "http://10.1.2.3:5050")
	d, err := NewDriver(Config{Framework: &kernelpb.FrameworkInfo{Name: "x"}}, newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	if d.cfg.MasterURL != "http://10.1.2.3:5050" {
		t.Fatalf("MasterURL = %q, want $PANDO_MASTER", d.cfg.MasterURL)
	}
}

// TestDriverByURL finds the master through MasterURL (the master runs in
// the driver's own system here; remote_test.go covers real remoting).
func TestDriverByURL(t *testing.T) {
	system := quietSystem()
	defer system.Shutdown()
	m, mpid := spawnMaster(t, system, 3)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/api/v1/master" {
			http.NotFound(w, req)
			return
		}
		if calls.Add(1) == 1 {
			// No leader yet: the driver must retry, not give up.
			http.Error(w, "no leader", http.StatusServiceUnavailable)
			return
		}
		_ = json.NewEncoder(w).Encode(MasterInfo{ActorAddress: mpid.Address, ActorID: mpid.Id, Epoch: 3})
	}))
	defer srv.Close()
	rec := newRecorder()
	d, err := NewDriver(Config{
		Framework: &kernelpb.FrameworkInfo{Name: "byurl"}, System: system, MasterURL: srv.URL + "/",
		ReconnectBackoff: Backoff{Min: 10 * time.Millisecond},
	}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer d.Stop(true)
	next[*kernelpb.Subscribe](t, m)
	if e := rec.next(t, "subscribed"); e.frameworkID != "fw-1" {
		t.Fatalf("subscribed %q", e.frameworkID)
	}
}
