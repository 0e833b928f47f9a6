package election

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
)

// EventKind says what an Event reports.
type EventKind int

const (
	// Leading: this master leads at Event.Term.Epoch.
	Leading EventKind = iota + 1
	// SteppedDown: this master no longer leads (Event.Reason says why);
	// it must stop acting as the leader at once.
	SteppedDown
	// LeaderIs: another master leads (Event.Leader), or none does
	// (Event.Leader.ID == "").
	LeaderIs
)

func (k EventKind) String() string {
	switch k {
	case Leading:
		return "leading"
	case SteppedDown:
		return "stepped down"
	case LeaderIs:
		return "leader is"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one change of leadership seen by an Elector.
type Event struct {
	Kind   EventKind
	Term   Term       // Leading, SteppedDown: this master's term
	Leader LeaderInfo // Leading: this master; LeaderIs: the other leader
	Reason string     // SteppedDown
}

// Elector makes one master contend for leadership through Consul. Create
// it with New, Start it once, read Events until the channel closes.
type Elector struct {
	client    *api.Client
	cfg       Config
	lockKey   string
	serviceID string
	checkID   string

	events *eventQueue
	resign chan struct{}
	done   chan struct{}
	once   sync.Once // closes resign

	mu      sync.Mutex
	started bool
	leader  LeaderInfo // the leader known, ID "" when none
}

// New returns an Elector for cfg, talking to Consul through client
// (api.NewClient(api.DefaultConfig()) reads CONSUL_HTTP_ADDR and
// CONSUL_HTTP_TOKEN).
func New(client *api.Client, cfg Config) (*Elector, error) {
	if client == nil {
		return nil, errors.New("election: a Consul client is required")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	serviceID := cfg.ServiceName + "-" + cfg.ID
	return &Elector{
		client: client, cfg: cfg, lockKey: LockKey(cfg.Prefix),
		serviceID: serviceID, checkID: serviceID + ":health",
		events: newEventQueue(), resign: make(chan struct{}), done: make(chan struct{}),
	}, nil
}

// Events delivers the Elector's events in order. It is closed after the
// Elector has stopped; read it until then (it buffers without bound, so a
// slow reader never delays a step-down).
func (e *Elector) Events() <-chan Event { return e.events.out }

// Done is closed when the Elector has stopped (after Resign or when
// Start's context ends).
func (e *Elector) Done() <-chan struct{} { return e.done }

// Leader returns the leader this Elector knows of (itself when it leads).
func (e *Elector) Leader() (LeaderInfo, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leader, e.leader.ID != ""
}

// Start registers this master as a Consul service with its health check,
// then contends for leadership in the background until ctx ends or Resign
// is called. It fails if Consul cannot be reached, saying where it looked.
func (e *Elector) Start(ctx context.Context) error {
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return errors.New("election: Start called twice")
	}
	e.started = true
	e.mu.Unlock()
	if err := e.register(ctx, false); err != nil {
		e.events.close()
		close(e.done)
		return err
	}
	go e.run(ctx)
	return nil
}

// Resign steps down if this master leads, releases the lock (at once, so
// a standby takes over without waiting for the lock-delay), deregisters
// the service and stops contending. It returns when that is done or ctx
// ends.
func (e *Elector) Resign(ctx context.Context) error {
	e.once.Do(func() { close(e.resign) })
	select {
	case <-e.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("election: resigning: %w", ctx.Err())
	}
}

// session is the Consul session this master contends with, and the send
// time of the request that last reset its TTL.
type session struct {
	id        string
	renewedAt time.Time
}

// run is the campaign: stand by, watching the lock key; contend when it is
// free; lead until the Lease says to step down; again.
func (e *Elector) run(ctx context.Context) {
	defer close(e.done)
	defer e.events.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-e.resign:
			cancel()
		case <-ctx.Done():
		}
	}()
	var (
		sess  session
		stale []string // sessions to destroy once Consul answers
		index uint64
		// holdUntil keeps a master that just stepped down from contending
		// until the lock-delay is over and a standby had its turn: the
		// standby was not the one in trouble.
		holdUntil time.Time
	)
	defer func() {
		// ctx is over: clean up with a short budget of our own, so that a
		// standby takes over and the catalog forgets us at once.
		cleanup, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if sess.id != "" {
			stale = append(stale, sess.id)
		}
		e.destroySessions(cleanup, stale)
		if err := e.client.Agent().ServiceDeregisterOpts(e.serviceID, (&api.QueryOptions{}).WithContext(cleanup)); err != nil {
			e.cfg.Logger.Warn("election: deregistering the master service", "service", e.serviceID, "error", err)
		}
	}()
	for ctx.Err() == nil {
		// A standby's requests are bounded too: a Consul that stopped
		// answering must not wedge the campaign.
		step, cancelStep := context.WithTimeout(ctx, 2*e.cfg.WatchWait+e.cfg.RetryInterval)
		pair, ok := e.standBy(step, &sess, &stale, &index)
		if !ok {
			cancelStep()
			e.pause(ctx)
			continue
		}
		if pair != nil && pair.Session != "" && pair.Session != sess.id {
			cancelStep()
			info, ok, err := leaderOf(pair)
			if err != nil {
				e.cfg.Logger.Warn("election: reading the leader", "error", err)
			} else if ok {
				e.setLeader(info)
			}
			continue
		}
		// The lock is free (or ours from an acquire whose answer was lost).
		e.setLeader(LeaderInfo{})
		if time.Now().Before(holdUntil) {
			cancelStep()
			e.pause(ctx)
			index = 0
			continue
		}
		if sess.id == "" {
			var err error
			if sess, err = e.createSession(step); err != nil {
				cancelStep()
				e.cfg.Logger.Warn("election: cannot create a Consul session to contend with; retrying", "error", err)
				e.pause(ctx)
				index = 0
				continue
			}
		}
		acquired, err := e.acquire(step, sess)
		cancelStep()
		switch {
		case err != nil:
			e.cfg.Logger.Warn("election: contending for the lock", "key", e.lockKey, "error", err)
			e.pause(ctx)
		case !acquired:
			// Another master was faster, or the lock is in its
			// lock-delay: look again shortly.
			e.pause(ctx)
		default:
			e.lead(ctx, sess)
			// Every term has a session of its own: the next one starts
			// afresh, and this one is destroyed (now or when Consul
			// answers again) so that it frees the lock.
			stale = append(stale, sess.id)
			sess = session{}
			holdUntil = time.Now().Add(e.cfg.LockDelay + 2*e.cfg.RetryInterval)
		}
		index = 0
	}
}

// standBy does one round of a standby: destroy the sessions of past terms,
// wait (a blocking query) for the lock key to change, and renew its
// session if it has one. ok is false when the round failed and the caller
// should pause. A standby watches even while it cannot get a session (its
// health check failing), so that it always knows who leads.
func (e *Elector) standBy(ctx context.Context, sess *session, stale *[]string, index *uint64) (*api.KVPair, bool) {
	*stale = e.destroySessions(ctx, *stale)
	pair, meta, err := e.client.KV().Get(e.lockKey, (&api.QueryOptions{WaitIndex: *index, WaitTime: e.cfg.WatchWait}).WithContext(ctx))
	if err != nil {
		if ctx.Err() == nil {
			e.cfg.Logger.Warn("election: watching the leader key", "key", e.lockKey, "error", err)
		}
		*index = 0
		return nil, false
	}
	*index = nextIndex(*index, meta.LastIndex)
	if sess.id != "" {
		e.renewStandby(ctx, sess)
	}
	return pair, true
}

// nextIndex is the blocking-query index to wait on after an answer at
// last, resetting when Consul's index went backwards (a restored snapshot).
func nextIndex(prev, last uint64) uint64 {
	if last < prev || last == 0 {
		return 0
	}
	return last
}

// pause waits RetryInterval or until ctx ends.
func (e *Elector) pause(ctx context.Context) {
	t := time.NewTimer(e.cfg.RetryInterval)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// acquire tries to take the lock with sess (Consul refuses while another
// session holds it or during the lock-delay after a session ended). The
// value written names this master with epoch 0: lead publishes the epoch
// once it has read it back.
func (e *Elector) acquire(ctx context.Context, sess session) (bool, error) {
	info := LeaderInfo{ID: e.cfg.ID, HTTPURL: e.cfg.HTTPURL, RemotingAddr: e.cfg.RemotingAddr, Since: time.Now().UTC()}
	value, err := json.Marshal(info)
	if err != nil {
		return false, err
	}
	wo := (&api.WriteOptions{}).WithContext(ctx)
	ok, _, err := e.client.KV().Acquire(&api.KVPair{Key: e.lockKey, Value: value, Session: sess.id}, wo)
	if err != nil || !ok {
		return false, err
	}
	return true, nil
}

// lead runs one term: it reads the epoch, publishes the leader, and renews
// the session until the Lease steps down; then it gives the lock back.
func (e *Elector) lead(ctx context.Context, sess session) {
	lease := NewLease(e.cfg.StepDownAfter)
	// Installing the leader must finish while the session is surely alive.
	setup, cancel := context.WithDeadline(ctx, sess.renewedAt.Add(e.cfg.StepDownAfter))
	defer cancel()
	// The epoch is the key's ModifyIndex, read while the lock is ours: at
	// least the acquire's Raft index, below any later leader's.
	pair, _, err := e.client.KV().Get(e.lockKey, (&api.QueryOptions{RequireConsistent: true}).WithContext(setup))
	if err != nil || pair == nil || pair.Session != sess.id {
		e.cfg.Logger.Warn("election: the lock was won but could not be confirmed", "error", err)
		return
	}
	term := Term{Epoch: pair.ModifyIndex, Session: sess.id, LockKey: e.lockKey}
	var info LeaderInfo
	if err := json.Unmarshal(pair.Value, &info); err != nil {
		e.cfg.Logger.Warn("election: reading back the lock key", "error", err)
		return
	}
	info.Epoch = term.Epoch
	if err := e.publish(setup, term, info); err != nil {
		e.cfg.Logger.Warn("election: publishing the leader", "error", err)
		e.release(term)
		return
	}
	d := lease.Acquired(term.Epoch, sess.renewedAt, time.Now())
	if d.Action != Lead {
		e.cfg.Logger.Warn("election: won the lock with a session too stale to lead on; giving it back")
		e.release(term)
		return
	}
	e.cfg.Logger.Info("election: leading", "epoch", term.Epoch, "id", e.cfg.ID)
	e.mu.Lock()
	e.leader = info
	e.mu.Unlock()
	e.events.push(Event{Kind: Leading, Term: term, Leader: info})
	if err := e.register(setup, true); err != nil {
		e.cfg.Logger.Warn("election: tagging the master service as leader", "error", err)
	}

	renew := time.NewTimer(e.cfg.RenewInterval)
	defer renew.Stop()
	deadline := time.NewTimer(time.Until(lease.Deadline()))
	defer deadline.Stop()
	for d.Action != StepDown {
		select {
		case <-ctx.Done():
			d = lease.Resign("resigned")
		case <-deadline.C:
			d = lease.Tick(time.Now())
		case <-renew.C:
			d = e.renewLeader(ctx, lease, term)
			renew.Reset(e.cfg.RenewInterval)
		}
		if d.Action == Keep {
			deadline.Reset(time.Until(lease.Deadline()))
		}
	}
	e.cfg.Logger.Warn("election: stepped down", "epoch", term.Epoch, "reason", d.Reason)
	e.mu.Lock()
	e.leader = LeaderInfo{}
	e.mu.Unlock()
	e.events.push(Event{Kind: SteppedDown, Term: term, Reason: d.Reason})
	e.release(term)
	if ctx.Err() == nil {
		untag, cancel := context.WithTimeout(ctx, e.cfg.RenewInterval)
		defer cancel()
		if err := e.register(untag, false); err != nil {
			e.cfg.Logger.Warn("election: untagging the master service", "error", err)
		}
	}
}

// renewLeader renews the session and checks the lock is still ours, every
// request bounded by the lease's deadline so that none can keep a leader
// acting past it.
func (e *Elector) renewLeader(ctx context.Context, lease *Lease, term Term) Decision {
	rctx, cancel := context.WithDeadline(ctx, lease.Deadline())
	defer cancel()
	sentAt := time.Now()
	entry, _, err := e.client.Session().Renew(term.Session, (&api.WriteOptions{}).WithContext(rctx))
	switch {
	case err != nil:
		return lease.RenewFailed(false, fmt.Sprintf("renewing session: %v", err), time.Now())
	case entry == nil:
		return lease.RenewFailed(true, "Consul ended the session (its health check failed, it expired, or it was destroyed)", time.Now())
	}
	pair, _, err := e.client.KV().Get(term.LockKey, (&api.QueryOptions{}).WithContext(rctx))
	switch {
	case err != nil:
		return lease.RenewFailed(false, fmt.Sprintf("reading the lock key: %v", err), time.Now())
	case pair == nil || pair.Session != term.Session:
		return lease.RenewFailed(true, "the lock key is no longer held by this master's session", time.Now())
	}
	return lease.RenewOK(sentAt, time.Now())
}

// publish writes info (with the epoch) into the lock key, only if the
// session still holds it.
func (e *Elector) publish(ctx context.Context, term Term, info LeaderInfo) error {
	value, err := json.Marshal(info)
	if err != nil {
		return err
	}
	ok, resp, _, err := e.client.Txn().Txn(api.TxnOps{
		{KV: &api.KVTxnOp{Verb: api.KVCheckSession, Key: term.LockKey, Session: term.Session}},
		{KV: &api.KVTxnOp{Verb: api.KVSet, Key: term.LockKey, Value: value}},
	}, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("the lock was lost before the leader was published: %v", txnErrors(resp))
	}
	return nil
}

// release gives the lock back (no lock-delay then) with a short budget of
// its own; if Consul does not answer, the session is destroyed later or
// expires.
func (e *Elector) release(term Term) {
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.RenewInterval)
	defer cancel()
	if _, _, err := e.client.KV().Release(&api.KVPair{Key: term.LockKey, Session: term.Session}, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		e.cfg.Logger.Warn("election: releasing the lock", "error", err)
	}
}

// createSession opens a session tied to the node and to this master's
// health check. If Consul no longer knows the check (an agent that lost
// its state), the service is registered again first.
func (e *Elector) createSession(ctx context.Context) (session, error) {
	entry := &api.SessionEntry{
		Name:          e.serviceID,
		Behavior:      api.SessionBehaviorRelease,
		TTL:           e.cfg.SessionTTL.String(),
		LockDelay:     e.cfg.LockDelay,
		NodeChecks:    []string{serfHealthCheck},
		ServiceChecks: []api.ServiceCheck{{ID: e.checkID}},
	}
	sentAt := time.Now()
	id, _, err := e.client.Session().Create(entry, (&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		// Register again only when the check is gone: re-registering
		// restarts Consul's probe (after a random stagger), so doing it
		// on every "critical" answer could keep the probe from ever
		// running.
		if strings.Contains(err.Error(), "Missing check") {
			if rerr := e.register(ctx, false); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
		return session{}, fmt.Errorf("creating a session tied to check %s (is %s answering 2xx?): %w", e.checkID, e.cfg.HealthURL, err)
	}
	return session{id: id, renewedAt: sentAt}, nil
}

// renewStandby keeps a standby's session alive between watches, and
// forgets it when Consul says it is gone (a new one is made when needed).
func (e *Elector) renewStandby(ctx context.Context, sess *session) {
	sentAt := time.Now()
	entry, _, err := e.client.Session().Renew(sess.id, (&api.WriteOptions{}).WithContext(ctx))
	switch {
	case err != nil:
		e.cfg.Logger.Warn("election: renewing the standby session", "error", err)
	case entry == nil:
		*sess = session{}
	default:
		sess.renewedAt = sentAt
	}
}

// destroySessions destroys ids, sessions of terms this master has ended,
// returning those Consul could not be told about. Each first releases the
// lock if it still holds it (after Consul was unreachable, say), which is
// safe because this master already stopped leading, and lets a standby
// take over without waiting for the lock-delay.
func (e *Elector) destroySessions(ctx context.Context, ids []string) []string {
	var left []string
	for _, id := range ids {
		wo := (&api.WriteOptions{}).WithContext(ctx)
		if _, _, err := e.client.KV().Release(&api.KVPair{Key: e.lockKey, Session: id}, wo); err != nil {
			left = append(left, id)
			continue
		}
		if _, err := e.client.Session().Destroy(id, wo); err != nil {
			left = append(left, id)
		}
	}
	return left
}

// register (re-)registers this master's service and health check, tagged
// as the leader or not. Consul keeps a re-registered check's status.
func (e *Elector) register(ctx context.Context, leader bool) error {
	u, _ := url.Parse(e.cfg.HTTPURL) // validated by withDefaults
	host, port, _ := hostPort(u)
	var tags []string
	if leader {
		tags = []string{LeaderTag}
	}
	reg := &api.AgentServiceRegistration{
		ID: e.serviceID, Name: e.cfg.ServiceName, Tags: tags, Address: host, Port: port,
		Meta: map[string]string{"id": e.cfg.ID, "http_url": e.cfg.HTTPURL, "remoting_addr": e.cfg.RemotingAddr},
		Check: &api.AgentServiceCheck{
			CheckID:                        e.checkID,
			Name:                           "Pando master " + e.cfg.ID + " health",
			HTTP:                           e.cfg.HealthURL,
			Interval:                       e.cfg.CheckInterval.String(),
			Timeout:                        e.cfg.CheckTimeout.String(),
			DeregisterCriticalServiceAfter: e.cfg.DeregisterAfter.String(),
		},
	}
	if err := e.client.Agent().ServiceRegisterOpts(reg, api.ServiceRegisterOpts{}.WithContext(ctx)); err != nil {
		return fmt.Errorf("election: registering service %s with the Consul agent (set with --consul or CONSUL_HTTP_ADDR): %w", e.serviceID, err)
	}
	return nil
}

// setLeader records the leader seen by a standby and reports a change.
func (e *Elector) setLeader(info LeaderInfo) {
	e.mu.Lock()
	changed := info.ID != e.leader.ID || info.Epoch != e.leader.Epoch
	e.leader = info
	e.mu.Unlock()
	if changed {
		e.events.push(Event{Kind: LeaderIs, Leader: info})
	}
}

func txnErrors(resp *api.TxnResponse) string {
	if resp == nil || len(resp.Errors) == 0 {
		return "rolled back"
	}
	msg := ""
	for _, te := range resp.Errors {
		msg += fmt.Sprintf("op %d: %s; ", te.OpIndex, te.What)
	}
	return msg
}

// eventQueue hands events to a channel from a goroutine of its own, so
// that pushing never blocks the campaign.
type eventQueue struct {
	mu     sync.Mutex
	items  []Event
	closed bool
	wake   chan struct{}
	out    chan Event
}

func newEventQueue() *eventQueue {
	q := &eventQueue{wake: make(chan struct{}, 1), out: make(chan Event)}
	go q.deliver()
	return q
}

func (q *eventQueue) push(ev Event) {
	q.mu.Lock()
	q.items = append(q.items, ev)
	q.mu.Unlock()
	q.signal()
}

func (q *eventQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

func (q *eventQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *eventQueue) deliver() {
	for {
		q.mu.Lock()
		items, closed := q.items, q.closed
		q.items = nil
		q.mu.Unlock()
		for _, ev := range items {
			q.out <- ev
		}
		if closed && len(items) == 0 {
			close(q.out)
			return
		}
		if len(items) == 0 {
			<-q.wake
		}
	}
}
