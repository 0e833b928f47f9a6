package sdk

import (
	"context"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pandodc/pando/kernel/kernelpb"
)

// Messages from the Driver's methods and timers to its actor. They are
// local only (never serialized) and marked so that a late one reaching a
// stopped driver does not log a dead letter.
type (
	callAccept struct {
		offerIDs []string
		tasks    []*kernelpb.TaskInfo
		filters  *kernelpb.Filters
	}
	callDecline struct {
		offerIDs []string
		filters  *kernelpb.Filters
	}
	callAck       struct{ status *kernelpb.TaskStatus }
	callReconcile struct{ tasks []*kernelpb.ReconcileTask }
	callKill      struct{ taskID, agentID string }
	callSuppress  struct{}
	callRevive    struct{}
	stopMsg       struct{ failover bool }

	// subscribeRetry ends subscribe attempt gen (timeout or failure).
	subscribeRetry struct{ gen uint64 }
	// masterResolved is the answer of a MasterURL lookup for attempt gen.
	masterResolved struct {
		gen uint64
		pid *actor.PID
		err error
	}
	// heartbeatCheck checks the master's liveness for connection gen.
	heartbeatCheck struct{ gen uint64 }
)

func (*callAccept) IgnoreDeadLetterLogging()     {}
func (*callDecline) IgnoreDeadLetterLogging()    {}
func (*callAck) IgnoreDeadLetterLogging()        {}
func (*callReconcile) IgnoreDeadLetterLogging()  {}
func (*callKill) IgnoreDeadLetterLogging()       {}
func (*callSuppress) IgnoreDeadLetterLogging()   {}
func (*callRevive) IgnoreDeadLetterLogging()     {}
func (*stopMsg) IgnoreDeadLetterLogging()        {}
func (*subscribeRetry) IgnoreDeadLetterLogging() {}
func (*masterResolved) IgnoreDeadLetterLogging() {}
func (*heartbeatCheck) IgnoreDeadLetterLogging() {}

type driverState int

const (
	stateSubscribing driverState = iota
	stateSubscribed
	stateStopped
)

// driverActor holds all connection state; only its goroutine touches it.
// The producer returns the same value on restart, so a (recovered) crash
// does not lose the framework id or the epoch.
type driverActor struct {
	d     *Driver
	self  *actor.PID
	state driverState

	frameworkID     string
	master          *actor.PID // where calls go while subscribed
	target          *actor.PID // the PID the current attempt subscribed to
	epoch           uint64     // highest epoch seen from any master
	subscribedEpoch uint64
	everSubscribed  bool
	suppressed      bool
	offers          map[string]struct{}

	attempt  uint64 // subscribe attempt generation
	backoff  time.Duration
	conn     uint64 // connection generation, for heartbeat timers
	hbLimit  time.Duration
	lastSeen time.Time
}

func (a *driverActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.self = ctx.Self()
		if a.offers == nil {
			a.offers = map[string]struct{}{}
		}
		if a.state != stateStopped && a.attempt == 0 {
			a.subscribe(ctx)
		}
	case *actor.Stopped:
		a.state = stateStopped
		select {
		case <-a.d.done:
		default:
			close(a.d.done)
		}

	case *subscribeRetry:
		if a.state == stateSubscribing && m.gen == a.attempt {
			a.backoff = min(a.backoff*2, a.d.cfg.ReconnectBackoff.Max)
			a.subscribe(ctx)
		}
	case *masterResolved:
		if a.state != stateSubscribing || m.gen != a.attempt {
			return
		}
		if m.err != nil {
			a.d.log.Warn("cannot find the master; will retry", "err", m.err, "retry_in", a.backoff)
			a.retryAfter(a.backoff, m.gen)
			return
		}
		a.sendSubscribe(ctx, m.pid)
	case *actor.DeadLetterResponse:
		// Our Subscribe reached no actor: fail this attempt now instead of
		// waiting for the reply timeout.
		if a.state == stateSubscribing {
			a.retryAfter(a.backoff, a.attempt)
		}
	case *actor.Terminated:
		if a.state == stateSubscribed && a.master != nil && m.Who.Equal(a.master) {
			a.disconnect(ctx, fmt.Errorf("%w (%s/%s, %s)", ErrMasterTerminated, m.Who.Address, m.Who.Id, m.Why))
		}
	case *heartbeatCheck:
		if a.state != stateSubscribed || m.gen != a.conn || a.hbLimit <= 0 {
			return
		}
		if since := time.Since(a.lastSeen); since >= a.hbLimit {
			a.disconnect(ctx, fmt.Errorf("%w (%s)", ErrHeartbeatTimeout, a.hbLimit))
		} else {
			a.checkHeartbeatAfter(a.hbLimit - since)
		}

	// From the master.
	case *kernelpb.Subscribed:
		a.onSubscribed(ctx, m)
	case *kernelpb.Offers:
		if a.fence(ctx, m.GetEpoch()) {
			for _, o := range m.GetOffers() {
				a.offers[o.GetId()] = struct{}{}
			}
			a.callback(func() { a.d.sched.Offers(a.d.cb, m.GetOffers()) })
		}
	case *kernelpb.Rescind:
		if a.fence(ctx, m.GetEpoch()) {
			delete(a.offers, m.GetOfferId())
			a.callback(func() { a.d.sched.Rescinded(a.d.cb, m.GetOfferId()) })
		}
	case *kernelpb.Update:
		if a.fence(ctx, m.GetEpoch()) {
			st := m.GetStatus()
			a.callback(func() { a.d.sched.Update(a.d.cb, st) })
			if !a.d.cfg.ExplicitAck && st.GetUpdateId() != "" {
				a.acknowledge(ctx, st)
			}
		}
	case *kernelpb.Heartbeat:
		a.fence(ctx, m.GetEpoch())
	case *kernelpb.Error:
		// An Error may answer a Subscribe (e.g. the framework was removed
		// after its failover timeout), so it passes while subscribing too.
		if m.GetEpoch() < a.epoch || a.state == stateStopped {
			return
		}
		if a.state == stateSubscribed && !a.fence(ctx, m.GetEpoch()) {
			return
		}
		a.d.log.Warn("master refused a message", "error", m.GetMessage())
		a.callback(func() { a.d.sched.Error(a.d.cb, m.GetMessage()) })

	// From the Driver's methods.
	case *callAccept:
		a.onAccept(ctx, m)
	case *callDecline:
		if !a.connected("Decline") {
			return
		}
		ids := a.takeOffers(m.offerIDs)
		if len(ids) > 0 {
			ctx.Request(a.master, &kernelpb.Decline{FrameworkId: a.frameworkID, OfferIds: ids, Filters: m.filters})
		}
	case *callAck:
		if a.connected("Acknowledge") {
			a.acknowledge(ctx, m.status)
		}
	case *callReconcile:
		if a.connected("Reconcile") {
			ctx.Request(a.master, &kernelpb.Reconcile{FrameworkId: a.frameworkID, Tasks: m.tasks})
		}
	case *callKill:
		if a.connected("Kill") {
			ctx.Request(a.master, &kernelpb.Kill{FrameworkId: a.frameworkID, TaskId: m.taskID, AgentId: m.agentID})
		}
	case *callSuppress:
		a.suppressed = true
		if a.connected("Suppress") {
			ctx.Request(a.master, &kernelpb.Suppress{FrameworkId: a.frameworkID, Roles: a.d.cfg.Framework.GetRoles()})
		}
	case *callRevive:
		a.suppressed = false
		if a.connected("Revive") {
			ctx.Request(a.master, &kernelpb.Revive{FrameworkId: a.frameworkID, Roles: a.d.cfg.Framework.GetRoles()})
		}
	case *stopMsg:
		a.onStop(ctx, m.failover)
	}
}

// subscribe starts a new subscribe attempt.
func (a *driverActor) subscribe(ctx actor.Context) {
	a.state = stateSubscribing
	a.attempt++
	gen := a.attempt
	if m := a.d.cfg.Master; m != nil {
		a.sendSubscribe(ctx, m)
		return
	}
	// Resolving is an HTTP call: do it off the actor goroutine so the
	// driver keeps answering its callers meanwhile.
	system, self, client, url := ctx.ActorSystem(), ctx.Self(), a.d.http, a.d.cfg.MasterURL
	go func() {
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pid, _, err := ResolveMaster(rctx, client, url)
		system.Root.Send(self, &masterResolved{gen: gen, pid: pid, err: err})
	}()
}

func (a *driverActor) sendSubscribe(ctx actor.Context, master *actor.PID) {
	a.target = master
	info := a.d.cfg.Framework
	fi := &kernelpb.FrameworkInfo{
		Id:                a.frameworkID,
		Name:              info.GetName(),
		Roles:             info.GetRoles(),
		FailoverTimeoutMs: info.GetFailoverTimeoutMs(),
		User:              info.GetUser(),
		Principal:         info.GetPrincipal(),
	}
	a.d.log.Debug("subscribing", "master", master.String(), "framework_id", a.frameworkID, "attempt", a.attempt)
	ctx.Request(master, &kernelpb.Subscribe{Framework: fi})
	a.retryAfter(max(a.backoff, subscribeReplyWait), a.attempt)
}

func (a *driverActor) retryAfter(d time.Duration, gen uint64) {
	system, self := a.d.system, a.self
	time.AfterFunc(d, func() { system.Root.Send(self, &subscribeRetry{gen: gen}) })
}

func (a *driverActor) checkHeartbeatAfter(d time.Duration) {
	system, self, gen := a.d.system, a.self, a.conn
	time.AfterFunc(d, func() { system.Root.Send(self, &heartbeatCheck{gen: gen}) })
}

func (a *driverActor) onSubscribed(ctx actor.Context, m *kernelpb.Subscribed) {
	if a.state == stateStopped || m.GetEpoch() < a.epoch {
		return
	}
	if a.state == stateSubscribed && m.GetEpoch() == a.subscribedEpoch {
		if m.GetFrameworkId() != a.frameworkID && m.GetFrameworkId() != "" {
			// A resent first Subscribe registered the framework twice:
			// keep the first registration, remove the extra one.
			a.d.log.Warn("duplicate registration; tearing down the extra framework", "extra_id", m.GetFrameworkId())
			ctx.Request(a.master, &kernelpb.Teardown{FrameworkId: m.GetFrameworkId()})
		}
		return
	}
	if a.frameworkID != "" && m.GetFrameworkId() != a.frameworkID {
		a.d.log.Warn("master gave a new framework id; the old framework is gone (failover timeout passed?)",
			"old_id", a.frameworkID, "new_id", m.GetFrameworkId())
	}
	a.frameworkID = m.GetFrameworkId()
	a.d.setFrameworkID(a.frameworkID)
	a.epoch = max(a.epoch, m.GetEpoch())
	a.subscribedEpoch = m.GetEpoch()
	a.state = stateSubscribed
	a.backoff = a.d.cfg.ReconnectBackoff.Min
	a.offers = map[string]struct{}{}

	master := ctx.Sender()
	if master == nil {
		master = a.target
	}
	a.master = master
	ctx.Watch(master)

	a.conn++
	a.lastSeen = time.Now()
	a.hbLimit = a.d.cfg.HeartbeatTimeout
	if a.hbLimit == 0 && m.GetHeartbeatIntervalMs() > 0 {
		a.hbLimit = 4 * time.Duration(m.GetHeartbeatIntervalMs()) * time.Millisecond
	}
	if a.hbLimit > 0 {
		a.checkHeartbeatAfter(a.hbLimit)
	}

	reconnected := a.everSubscribed
	a.everSubscribed = true
	a.d.log.Info("subscribed", "framework_id", a.frameworkID, "epoch", m.GetEpoch(), "reconnected", reconnected)
	a.callback(func() { a.d.sched.Subscribed(a.d.cb, a.frameworkID, reconnected) })
	if a.suppressed && a.state == stateSubscribed {
		// A new master (or one that forgot us) offers by default.
		ctx.Request(a.master, &kernelpb.Suppress{FrameworkId: a.frameworkID, Roles: a.d.cfg.Framework.GetRoles()})
	}
}

// fence applies the epoch rules to a master message and reports whether to
// process it. It also counts the message as a sign of life.
func (a *driverActor) fence(ctx actor.Context, epoch uint64) bool {
	if epoch < a.epoch {
		a.d.log.Debug("dropped message from a deposed master", "epoch", epoch, "current", a.epoch)
		return false
	}
	if a.state != stateSubscribed {
		return false
	}
	if epoch > a.subscribedEpoch {
		// A new leader is talking to us without our having subscribed to
		// it: subscribe properly so it knows our framework and we reconcile.
		a.epoch = epoch
		a.disconnect(ctx, fmt.Errorf("%w (epoch %d, was %d)", ErrMasterFailover, epoch, a.subscribedEpoch))
		return false
	}
	a.lastSeen = time.Now()
	return true
}

func (a *driverActor) disconnect(ctx actor.Context, reason error) {
	a.d.log.Warn("disconnected from the master; resubscribing", "reason", reason)
	if a.master != nil {
		ctx.Unwatch(a.master)
	}
	a.master = nil
	a.offers = map[string]struct{}{}
	a.conn++
	a.state = stateSubscribing
	a.callback(func() { a.d.sched.Disconnected(a.d.cb, reason) })
	a.subscribe(ctx)
}

func (a *driverActor) connected(call string) bool {
	if a.state == stateSubscribed {
		return true
	}
	a.d.log.Debug("call dropped: not subscribed", "call", call)
	return false
}

// takeOffers removes ids from the outstanding offers and returns the ones
// that were outstanding.
func (a *driverActor) takeOffers(ids []string) []string {
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if _, ok := a.offers[id]; ok {
			delete(a.offers, id)
			valid = append(valid, id)
		}
	}
	return valid
}

func (a *driverActor) onAccept(ctx actor.Context, m *callAccept) {
	if a.state != stateSubscribed {
		a.loseTasks(m.tasks, "not launched: the driver is not connected to the master")
		return
	}
	valid := a.takeOffers(m.offerIDs)
	if len(valid) != len(m.offerIDs) {
		// Some offers are void (rescinded, used, or from an earlier
		// connection); the master would refuse the whole Accept. Return
		// the valid ones and report the tasks lost so they are relaunched.
		var void []string
		for _, id := range m.offerIDs {
			if !contains(valid, id) {
				void = append(void, id)
			}
		}
		if len(valid) > 0 {
			ctx.Request(a.master, &kernelpb.Decline{FrameworkId: a.frameworkID, OfferIds: valid})
		}
		a.loseTasks(m.tasks, fmt.Sprintf("not launched: offer %v is no longer valid (rescinded, already used, or from an earlier connection)", void))
		return
	}
	msg := &kernelpb.Accept{FrameworkId: a.frameworkID, OfferIds: valid, Filters: m.filters}
	if len(m.tasks) > 0 {
		msg.Operations = []*kernelpb.Operation{{Type: kernelpb.Operation_LAUNCH, Launch: m.tasks}}
	}
	ctx.Request(a.master, msg)
}

// loseTasks reports tasks the driver could not hand to the master as
// TASK_LOST, so the scheduler's usual retry path relaunches them.
func (a *driverActor) loseTasks(tasks []*kernelpb.TaskInfo, why string) {
	now := time.Now().UnixNano()
	for _, t := range tasks {
		st := &kernelpb.TaskStatus{
			TaskId:      t.GetTaskId(),
			State:       kernelpb.TaskState_TASK_LOST,
			AgentId:     t.GetAgentId(),
			FrameworkId: a.frameworkID,
			Reason:      kernelpb.Reason_REASON_INVALID_OFFERS,
			Message:     why,
			Source:      kernelpb.Source_SOURCE_MASTER,
			TimestampNs: now,
		}
		a.callback(func() { a.d.sched.Update(a.d.cb, st) })
	}
}

func (a *driverActor) acknowledge(ctx actor.Context, st *kernelpb.TaskStatus) {
	if a.master == nil {
		return
	}
	ctx.Request(a.master, &kernelpb.Acknowledge{
		FrameworkId: a.frameworkID,
		AgentId:     st.GetAgentId(),
		TaskId:      st.GetTaskId(),
		UpdateId:    st.GetUpdateId(),
	})
}

func (a *driverActor) onStop(ctx actor.Context, failover bool) {
	if !failover && a.frameworkID != "" {
		to := a.master
		if to == nil {
			to = a.target
		}
		if to == nil {
			to = a.d.cfg.Master
		}
		if to != nil {
			ctx.Request(to, &kernelpb.Teardown{FrameworkId: a.frameworkID})
		} else {
			a.d.log.Warn("cannot send Teardown: master unknown", "framework_id", a.frameworkID)
		}
	}
	if a.master != nil {
		ctx.Unwatch(a.master)
	}
	a.state = stateStopped
	a.offers = nil
	ctx.Stop(ctx.Self())
}

// callback runs a Scheduler callback, keeping a panicking scheduler from
// taking the driver (and its connection state) down with it.
func (a *driverActor) callback(f func()) {
	defer func() {
		if p := recover(); p != nil {
			a.d.log.Error("scheduler callback panicked", "panic", p)
		}
	}()
	f()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
