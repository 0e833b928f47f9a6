package election_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/pandodc/pando/actors/election"
	"github.com/pandodc/pando/actors/election/consultest"
)

// Test timings: production defaults except a shorter TTL (the test agent
// allows TTLs down to 1s), so that "Consul is down" tests take seconds.
// LockDelay and CheckInterval keep their defaults (1s): the failover
// figures logged are the production ones.
const (
	testTTL           = 4 * time.Second
	testStepDownAfter = 2 * time.Second
	testRenewInterval = 250 * time.Millisecond
	testWatchWait     = time.Second
	// testCheckTimeout is generous: on a loaded machine a probe of the
	// test's trivial health endpoint can take seconds, and a timed-out
	// probe would depose a healthy leader. The failing-check test answers
	// 503 at once, so this does not slow it.
	testCheckTimeout = 5 * time.Second
	// waitLimit bounds every wait for an event; failovers take about 1-3s.
	waitLimit = 15 * time.Second
)

// master is one elector under test, with the health endpoint Consul
// probes and a record of its events.
type master struct {
	id      string
	elector *election.Elector
	healthy atomic.Bool
	url     string

	mu     sync.Mutex
	events []timedEvent
	wake   chan struct{}
}

type timedEvent struct {
	election.Event
	at time.Time
}

func startMaster(t *testing.T, srv *consultest.Server, id string) *master {
	t.Helper()
	m := &master{id: id, wake: make(chan struct{}, 1)}
	m.healthy.Store(true)
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !m.healthy.Load() {
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(health.Close)
	m.url = health.URL
	e, err := election.New(srv.Client, election.Config{
		ID: id, HTTPURL: health.URL, RemotingAddr: "127.0.0.1:700" + id[len(id)-1:],
		HealthURL:  health.URL + election.DefaultHealthPath,
		SessionTTL: testTTL, StepDownAfter: testStepDownAfter, RenewInterval: testRenewInterval, WatchWait: testWatchWait,
		CheckTimeout: testCheckTimeout,
		Logger:       testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	m.elector = e
	ctx, cancel := context.WithCancel(context.Background())
	if err := e.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-e.Done():
		case <-time.After(waitLimit):
			t.Errorf("%s did not stop", id)
		}
	})
	go func() {
		for ev := range e.Events() {
			m.mu.Lock()
			m.events = append(m.events, timedEvent{ev, time.Now()})
			m.mu.Unlock()
			select {
			case m.wake <- struct{}{}:
			default:
			}
		}
	}()
	return m
}

// waitEvent waits for the first event at index >= from matching ok and
// returns it with its index.
func (m *master) waitEvent(t *testing.T, from int, what string, ok func(election.Event) bool) (timedEvent, int) {
	t.Helper()
	limit := time.After(waitLimit)
	for {
		m.mu.Lock()
		for i := from; i < len(m.events); i++ {
			if ok(m.events[i].Event) {
				ev := m.events[i]
				m.mu.Unlock()
				return ev, i
			}
		}
		m.mu.Unlock()
		select {
		case <-m.wake:
		case <-limit:
			t.Fatalf("%s: no %s within %s; events: %v", m.id, what, waitLimit, m.snapshot())
		}
	}
}

func (m *master) snapshot() []election.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []election.Event
	for _, ev := range m.events {
		out = append(out, ev.Event)
	}
	return out
}

func (m *master) eventCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.events)
}

// leading reports whether m's last event says it leads.
func (m *master) leading() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.events) - 1; i >= 0; i-- {
		switch m.events[i].Kind {
		case election.Leading:
			return true
		case election.SteppedDown:
			return false
		}
	}
	return false
}

func isKind(k election.EventKind) func(election.Event) bool {
	return func(ev election.Event) bool { return ev.Kind == k }
}

// waitLeader waits until one of ms leads (its Leading event at index >=
// from[i]) and returns it and its event.
func waitLeader(t *testing.T, ms []*master, from []int) (*master, timedEvent) {
	t.Helper()
	limit := time.Now().Add(waitLimit)
	for time.Now().Before(limit) {
		for i, m := range ms {
			m.mu.Lock()
			for j := from[i]; j < len(m.events); j++ {
				if m.events[j].Kind == election.Leading {
					ev := m.events[j]
					m.mu.Unlock()
					return m, ev
				}
			}
			m.mu.Unlock()
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no master led within %s", waitLimit)
	return nil, timedEvent{}
}

func counts(ms []*master) []int {
	out := make([]int, len(ms))
	for i, m := range ms {
		out[i] = m.eventCount()
	}
	return out
}

func countLeading(ms []*master) int {
	n := 0
	for _, m := range ms {
		if m.leading() {
			n++
		}
	}
	return n
}

func TestOneLeaderAndEpochsGrowAcrossLeaders(t *testing.T) {
	t.Parallel()
	srv := consultest.Start(t)
	ctx := context.Background()
	if _, err := election.FindLeader(ctx, srv.Client, ""); !errors.Is(err, election.ErrNoLeader) {
		t.Fatalf("FindLeader before any master: %v, want ErrNoLeader", err)
	}
	ms := []*master{startMaster(t, srv, "m1"), startMaster(t, srv, "m2"), startMaster(t, srv, "m3")}

	var epochs []uint64
	remaining := ms
	from := counts(remaining)
	for len(remaining) > 0 {
		leader, ev := waitLeader(t, remaining, from)
		epochs = append(epochs, ev.Term.Epoch)
		if n := countLeading(ms); n != 1 {
			t.Fatalf("%d masters lead at once", n)
		}
		// The others learn who leads, from Consul.
		for _, m := range remaining {
			if m == leader {
				continue
			}
			m.waitEvent(t, 0, "LeaderIs "+leader.id, func(e election.Event) bool {
				return e.Kind == election.LeaderIs && e.Leader.ID == leader.id && e.Leader.Epoch == ev.Term.Epoch
			})
			if info, ok := m.elector.Leader(); !ok || info.ID != leader.id {
				t.Fatalf("%s.Leader() = %+v, %v; want %s", m.id, info, ok, leader.id)
			}
		}
		info, err := election.FindLeader(ctx, srv.Client, "")
		if err != nil {
			t.Fatal(err)
		}
		if info.ID != leader.id || info.HTTPURL != leader.url || info.Epoch != ev.Term.Epoch || info.RemotingAddr == "" {
			t.Fatalf("FindLeader = %+v; want %s at %s, epoch %d", info, leader.id, leader.url, ev.Term.Epoch)
		}
		checkCatalog(t, srv.Client, leader.id, len(remaining))

		// The leader resigns; the next one takes over at a larger epoch.
		var next []*master
		for _, m := range remaining {
			if m != leader {
				next = append(next, m)
			}
		}
		from = counts(next) // before the resign: the next leader may be quick
		rctx, cancel := context.WithTimeout(ctx, waitLimit)
		if err := leader.elector.Resign(rctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		leader.waitEvent(t, 0, "SteppedDown", isKind(election.SteppedDown))
		remaining = next
	}
	for i := 1; i < len(epochs); i++ {
		if epochs[i] <= epochs[i-1] {
			t.Fatalf("epochs of successive leaders %v do not strictly grow", epochs)
		}
	}
	t.Logf("epochs of successive leaders: %v", epochs)
	if _, err := election.FindLeader(ctx, srv.Client, ""); !errors.Is(err, election.ErrNoLeader) {
		t.Fatalf("FindLeader after every master resigned: %v, want ErrNoLeader", err)
	}
}

// checkCatalog asserts that the catalog lists n healthy masters, only the
// leader tagged as such.
func checkCatalog(t *testing.T, client *api.Client, leaderID string, n int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	var last string
	for time.Now().Before(deadline) {
		masters, err := election.ListMasters(context.Background(), client, "")
		if err != nil {
			t.Fatal(err)
		}
		healthy, tagged := 0, ""
		for _, m := range masters {
			if m.Healthy && m.HTTPURL != "" && m.RemotingAddr != "" {
				healthy++
			}
			if m.Leader {
				tagged += m.ID
			}
		}
		if len(masters) == n && healthy == n && tagged == leaderID {
			return
		}
		last = fmt.Sprintf("%+v", masters)
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("catalog: %s; want %d healthy masters, the leader tag on %s only", last, n, leaderID)
}

func TestStandbyLeadsWhenTheLeaderSessionIsDestroyed(t *testing.T) {
	t.Parallel()
	srv := consultest.Start(t)
	ms := []*master{startMaster(t, srv, "m1"), startMaster(t, srv, "m2")}
	old, first := waitLeader(t, ms, []int{0, 0})
	from := counts(ms)
	destroyed := time.Now()
	if _, err := srv.Client.Session().Destroy(first.Term.Session, nil); err != nil {
		t.Fatal(err)
	}
	down, _ := old.waitEvent(t, from[indexOf(ms, old)], "SteppedDown", isKind(election.SteppedDown))
	leader, next := waitLeader(t, ms, from)
	if next.Term.Epoch <= first.Term.Epoch {
		t.Fatalf("new epoch %d is not above the old %d", next.Term.Epoch, first.Term.Epoch)
	}
	t.Logf("session destroyed: %s stepped down after %s, %s led after %s (epoch %d -> %d)",
		old.id, down.at.Sub(destroyed).Round(time.Millisecond), leader.id,
		next.at.Sub(destroyed).Round(time.Millisecond), first.Term.Epoch, next.Term.Epoch)
}

func TestLeaderWithAFailingHealthCheckIsReplaced(t *testing.T) {
	t.Parallel()
	srv := consultest.Start(t)
	ms := []*master{startMaster(t, srv, "m1"), startMaster(t, srv, "m2")}
	old, first := waitLeader(t, ms, []int{0, 0})
	from := counts(ms)
	failed := time.Now()
	old.healthy.Store(false)
	down, _ := old.waitEvent(t, from[indexOf(ms, old)], "SteppedDown", isKind(election.SteppedDown))
	leader, next := waitLeader(t, ms, from)
	if leader == old {
		t.Fatal("the unhealthy master led again")
	}
	if next.Term.Epoch <= first.Term.Epoch {
		t.Fatalf("new epoch %d is not above the old %d", next.Term.Epoch, first.Term.Epoch)
	}
	t.Logf("health check failing: %s stepped down after %s (%s), %s led after %s",
		old.id, down.at.Sub(failed).Round(time.Millisecond), down.Reason, leader.id, next.at.Sub(failed).Round(time.Millisecond))
}

func TestLeaderStepsDownWhileConsulIsDownAndLeadsAgainAfter(t *testing.T) {
	t.Parallel()
	srv := consultest.Start(t)
	ms := []*master{startMaster(t, srv, "m1"), startMaster(t, srv, "m2")}
	old, first := waitLeader(t, ms, []int{0, 0})
	from := counts(ms)
	stopped := time.Now()
	srv.Stop()
	down, _ := old.waitEvent(t, from[indexOf(ms, old)], "SteppedDown", isKind(election.SteppedDown))
	// The guarantee: the leader stops acting before Consul could consider
	// its session expired (the TTL counted from the last renew it sent).
	if took := down.at.Sub(stopped); took >= testTTL {
		t.Fatalf("the leader stepped down %s after Consul stopped, not within the TTL %s", took, testTTL)
	}
	if n := countLeading(ms); n != 0 {
		t.Fatalf("%d masters lead while Consul is down", n)
	}
	from = counts(ms)
	restarted := time.Now()
	srv.StartAgain()
	leader, next := waitLeader(t, ms, from)
	if next.Term.Epoch <= first.Term.Epoch {
		t.Fatalf("epoch after Consul came back %d is not above %d", next.Term.Epoch, first.Term.Epoch)
	}
	t.Logf("Consul stopped: %s stepped down after %s (%s); Consul back: %s led %s after the restart began (epoch %d -> %d)",
		old.id, down.at.Sub(stopped).Round(time.Millisecond), down.Reason, leader.id,
		next.at.Sub(restarted).Round(time.Millisecond), first.Term.Epoch, next.Term.Epoch)
}

func TestConfigErrorsAreClear(t *testing.T) {
	client, err := api.NewClient(api.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]election.Config{
		"no id":          {HTTPURL: "http://127.0.0.1:5050"},
		"bad id":         {ID: "a/b", HTTPURL: "http://127.0.0.1:5050"},
		"no url":         {ID: "m1"},
		"bad port":       {ID: "m1", HTTPURL: "http://127.0.0.1:99999"},
		"ttl too low":    {ID: "m1", HTTPURL: "http://127.0.0.1:5050", SessionTTL: 2 * time.Second, StepDownAfter: 3 * time.Second},
		"renew too slow": {ID: "m1", HTTPURL: "http://127.0.0.1:5050", RenewInterval: 6 * time.Second},
	} {
		if _, err := election.New(client, cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	if _, err := election.New(nil, election.Config{ID: "m1", HTTPURL: "http://127.0.0.1:5050"}); err == nil {
		t.Error("New accepted a nil client")
	}
}

func TestStartFailsClearlyWithoutConsul(t *testing.T) {
	client, err := election.NewClient("127.0.0.1:1") // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	e, err := election.New(client, election.Config{ID: "m1", HTTPURL: "http://127.0.0.1:5050"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.Start(ctx); err == nil {
		t.Fatal("Start succeeded without Consul")
	}
	if _, open := <-e.Events(); open {
		t.Fatal("Events delivered an event after a failed Start")
	}
	<-e.Done()
}

func indexOf(ms []*master, m *master) int {
	for i := range ms {
		if ms[i] == m {
			return i
		}
	}
	return -1
}

// testLogger logs the electors' warnings to stderr when PANDO_TEST_LOG is
// set (for debugging a failing run), and discards them otherwise.
func testLogger() *slog.Logger {
	if os.Getenv("PANDO_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
