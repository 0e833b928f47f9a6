package sdk

import (
	"fmt"
	"google.golang.org/protobuf/proto"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pandodc/pando/kernel/kernelpb"
)

// The driver's protocol logic is a pure state machine, like the kernel's:
// protocolCore.step takes one input and the time, changes the core's state
// and returns what the shell must do (send a message, start a timer, call
// the scheduler, ...). It starts no goroutine, reads no clock and does no
// I/O, so tests drive it one input at a time without sleeping. Two shells
// run it: the driver actor (driver_actor.go) and the synchronous Loop that
// sdktest uses.

// Inputs of the core. The Driver's calls and the shell's timers are local
// messages (never serialized) and marked so that a late one reaching a
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

	// startMsg begins the first subscribe attempt.
	startMsg struct{}
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
	// subscribeUndeliverable: our Subscribe reached no actor.
	subscribeUndeliverable struct{}
	// masterTerminated: a watched actor terminated.
	masterTerminated struct {
		who *actor.PID
		why string
	}
	// fromMaster is a protocol message from a master, with its sender.
	fromMaster struct {
		msg    any
		sender *actor.PID
	}
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

// Outputs of the core, for the shell to carry out in order.
type (
	// outSend: send msg to the master at to, as a Request (so the master
	// learns the driver's PID).
	outSend struct {
		to  *actor.PID
		msg any
	}
	// outResolve: look the leading master up through Config.MasterURL and
	// step masterResolved{gen} with the answer.
	outResolve struct{ gen uint64 }
	// outTimer: step in after the given time.
	outTimer struct {
		after time.Duration
		in    any
	}
	outWatch   struct{ pid *actor.PID }
	outUnwatch struct{ pid *actor.PID }
	// outStop: the driver is finished; stop the shell.
	outStop struct{}
	outLog  struct {
		level slog.Level
		msg   string
		args  []any
	}

	// Scheduler callbacks.
	cbSubscribed struct {
		frameworkID string
		reconnected bool
	}
	cbOffers       struct{ offers []*kernelpb.Offer }
	cbRescinded    struct{ offerID string }
	cbUpdate       struct{ status *kernelpb.TaskStatus }
	cbError        struct{ message string }
	cbDisconnected struct{ reason error }
)

type driverState int

const (
	stateSubscribing driverState = iota
	stateSubscribed
	stateStopped
)

// coreConfig is what the core needs of Config.
type coreConfig struct {
	framework        *kernelpb.FrameworkInfo
	master           *actor.PID // nil: resolve through MasterURL
	explicitAck      bool
	heartbeatTimeout time.Duration
	backoff          Backoff
}

// protocolCore holds all connection state of a driver.
type protocolCore struct {
	cfg   coreConfig
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

	out []any
}

func newProtocolCore(cfg coreConfig) *protocolCore {
	return &protocolCore{
		cfg:         cfg,
		frameworkID: cfg.framework.GetId(),
		backoff:     cfg.backoff.Min,
		offers:      map[string]struct{}{},
	}
}

// step applies one input at time now and returns the outputs, which the
// caller owns.
func (c *protocolCore) step(now time.Time, in any) []any {
	c.out = nil
	if c.state == stateStopped {
		return nil
	}
	switch m := in.(type) {
	case *startMsg:
		if c.attempt == 0 {
			c.subscribe()
		}
	case *subscribeRetry:
		if c.state == stateSubscribing && m.gen == c.attempt {
			c.backoff = min(c.backoff*2, c.cfg.backoff.Max)
			c.subscribe()
		}
	case *masterResolved:
		if c.state != stateSubscribing || m.gen != c.attempt {
			break
		}
		if m.err != nil {
			c.log(slog.LevelWarn, "cannot find the master; will retry", "err", m.err, "retry_in", c.backoff)
			c.retryAfter(c.backoff)
			break
		}
		c.sendSubscribe(m.pid)
	case *subscribeUndeliverable:
		// Fail this attempt now instead of waiting for the reply timeout.
		if c.state == stateSubscribing {
			c.retryAfter(c.backoff)
		}
	case *masterTerminated:
		if c.state == stateSubscribed && c.master != nil && m.who.Equal(c.master) {
			c.disconnect(fmt.Errorf("%w (%s/%s, %s)", ErrMasterTerminated, m.who.Address, m.who.Id, m.why))
		}
	case *heartbeatCheck:
		if c.state != stateSubscribed || m.gen != c.conn || c.hbLimit <= 0 {
			break
		}
		if since := now.Sub(c.lastSeen); since >= c.hbLimit {
			c.disconnect(fmt.Errorf("%w (%s)", ErrHeartbeatTimeout, c.hbLimit))
		} else {
			c.emit(&outTimer{after: c.hbLimit - since, in: &heartbeatCheck{gen: c.conn}})
		}
	case *fromMaster:
		c.fromMaster(now, m.msg, m.sender)

	case *callAccept:
		c.accept(now, m)
	case *callDecline:
		if c.connected("Decline") {
			if ids := c.takeOffers(m.offerIDs); len(ids) > 0 {
				c.send(&kernelpb.Decline{FrameworkId: c.frameworkID, OfferIds: ids, Filters: m.filters})
			}
		}
	case *callAck:
		if c.connected("Acknowledge") {
			c.acknowledge(m.status)
		}
	case *callReconcile:
		if c.connected("Reconcile") {
			c.send(&kernelpb.Reconcile{FrameworkId: c.frameworkID, Tasks: m.tasks})
		}
	case *callKill:
		if c.connected("Kill") {
			c.send(&kernelpb.Kill{FrameworkId: c.frameworkID, TaskId: m.taskID, AgentId: m.agentID})
		}
	case *callSuppress:
		c.suppressed = true
		if c.connected("Suppress") {
			c.send(&kernelpb.Suppress{FrameworkId: c.frameworkID, Roles: c.cfg.framework.GetRoles()})
		}
	case *callRevive:
		c.suppressed = false
		if c.connected("Revive") {
			c.send(&kernelpb.Revive{FrameworkId: c.frameworkID, Roles: c.cfg.framework.GetRoles()})
		}
	case *stopMsg:
		c.stop(m.failover)
	}
	return batchAcks(c.out)
}

func (c *protocolCore) fromMaster(now time.Time, msg any, sender *actor.PID) {
	switch m := msg.(type) {
	case *kernelpb.Subscribed:
		c.subscribed(now, m, sender)
	case *kernelpb.Offers:
		if c.fence(now, m.GetEpoch()) {
			for _, o := range m.GetOffers() {
				c.offers[o.GetId()] = struct{}{}
			}
			c.emit(&cbOffers{offers: m.GetOffers()})
		}
	case *kernelpb.Rescind:
		if c.fence(now, m.GetEpoch()) {
			delete(c.offers, m.GetOfferId())
			c.emit(&cbRescinded{offerID: m.GetOfferId()})
		}
	case *kernelpb.Updates:
		for _, u := range m.GetUpdates() {
			c.fromMaster(now, u, sender)
		}
	case *kernelpb.Update:
		if c.fence(now, m.GetEpoch()) {
			st := m.GetStatus()
			c.emit(&cbUpdate{status: st})
			if !c.cfg.explicitAck && st.GetUpdateId() != "" {
				c.acknowledge(st)
			}
		}
	case *kernelpb.Heartbeat:
		c.fence(now, m.GetEpoch())
	case *kernelpb.Error:
		// An Error may answer a Subscribe (e.g. the framework was removed
		// after its failover timeout), so it passes while subscribing too.
		if m.GetEpoch() < c.epoch {
			return
		}
		if c.state == stateSubscribed && !c.fence(now, m.GetEpoch()) {
			return
		}
		c.log(slog.LevelWarn, "master refused a message", "error", m.GetMessage())
		c.emit(&cbError{message: m.GetMessage()})
	}
}

func (c *protocolCore) emit(o any) { c.out = append(c.out, o) }

// batchAcks sends each run of acknowledgements to one master, with no
// other message sent between them, as one Acknowledges, in their order, at
// the place of the run's last: after the callbacks of the updates it
// acknowledges, before anything sent later. A single one goes alone.
func batchAcks(out []any) []any {
	first := -1 // the run's first outSend, by index in out
	var batch *kernelpb.Acknowledges
	kept := make([]any, 0, len(out))
	flush := func() {
		if batch != nil {
			kept = append(kept, &outSend{to: out[first].(*outSend).to, msg: batch})
		} else if first >= 0 {
			kept = append(kept, out[first])
		}
		first, batch = -1, nil
	}
	for i, o := range out {
		send, ok := o.(*outSend)
		if !ok {
			kept = append(kept, o)
			continue
		}
		ack, isAck := send.msg.(*kernelpb.Acknowledge)
		switch {
		case isAck && first >= 0 && out[first].(*outSend).to.Equal(send.to):
			if batch == nil {
				batch = &kernelpb.Acknowledges{Acks: []*kernelpb.Acknowledge{out[first].(*outSend).msg.(*kernelpb.Acknowledge)}}
			}
			batch.Acks = append(batch.Acks, ack)
		case isAck:
			flush()
			first = i
		default:
			flush()
			kept = append(kept, o)
		}
	}
	flush()
	return kept
}

func (c *protocolCore) log(level slog.Level, msg string, args ...any) {
	c.emit(&outLog{level: level, msg: msg, args: args})
}

func (c *protocolCore) send(msg any) {
	if c.master != nil {
		c.emit(&outSend{to: c.master, msg: msg})
	}
}

// subscribe starts a new subscribe attempt.
func (c *protocolCore) subscribe() {
	c.state = stateSubscribing
	c.attempt++
	if m := c.cfg.master; m != nil {
		c.sendSubscribe(m)
		return
	}
	c.emit(&outResolve{gen: c.attempt})
}

func (c *protocolCore) sendSubscribe(master *actor.PID) {
	c.target = master
	// Every field the author set (partition awareness too), with the id
	// the master gave: a copy, so the author's value is never changed.
	fi := &kernelpb.FrameworkInfo{}
	if c.cfg.framework != nil {
		fi = proto.CloneOf(c.cfg.framework)
	}
	fi.Id = c.frameworkID
	c.log(slog.LevelDebug, "subscribing", "master", master.String(), "framework_id", c.frameworkID, "attempt", c.attempt)
	c.emit(&outSend{to: master, msg: &kernelpb.Subscribe{Framework: fi}})
	c.retryAfter(max(c.backoff, subscribeReplyWait))
}

func (c *protocolCore) retryAfter(d time.Duration) {
	c.emit(&outTimer{after: d, in: &subscribeRetry{gen: c.attempt}})
}

func (c *protocolCore) subscribed(now time.Time, m *kernelpb.Subscribed, sender *actor.PID) {
	if m.GetEpoch() < c.epoch {
		return
	}
	if c.state == stateSubscribed && m.GetEpoch() == c.subscribedEpoch {
		if m.GetFrameworkId() != c.frameworkID && m.GetFrameworkId() != "" {
			// A resent first Subscribe registered the framework twice:
			// keep the first registration, remove the extra one.
			c.log(slog.LevelWarn, "duplicate registration; tearing down the extra framework", "extra_id", m.GetFrameworkId())
			c.send(&kernelpb.Teardown{FrameworkId: m.GetFrameworkId()})
		}
		return
	}
	if c.frameworkID != "" && m.GetFrameworkId() != c.frameworkID {
		c.log(slog.LevelWarn, "master gave a new framework id; the old framework is gone (failover timeout passed?)",
			"old_id", c.frameworkID, "new_id", m.GetFrameworkId())
	}
	c.frameworkID = m.GetFrameworkId()
	c.epoch = max(c.epoch, m.GetEpoch())
	c.subscribedEpoch = m.GetEpoch()
	c.state = stateSubscribed
	c.backoff = c.cfg.backoff.Min
	c.offers = map[string]struct{}{}

	master := sender
	if master == nil {
		master = c.target
	}
	c.master = master
	c.emit(&outWatch{pid: master})

	c.conn++
	c.lastSeen = now
	c.hbLimit = c.cfg.heartbeatTimeout
	if c.hbLimit == 0 && m.GetHeartbeatIntervalMs() > 0 {
		c.hbLimit = 4 * time.Duration(m.GetHeartbeatIntervalMs()) * time.Millisecond
	}
	if c.hbLimit > 0 {
		c.emit(&outTimer{after: c.hbLimit, in: &heartbeatCheck{gen: c.conn}})
	}

	reconnected := c.everSubscribed
	c.everSubscribed = true
	c.log(slog.LevelInfo, "subscribed", "framework_id", c.frameworkID, "epoch", m.GetEpoch(), "reconnected", reconnected)
	c.emit(&cbSubscribed{frameworkID: c.frameworkID, reconnected: reconnected})
	if c.suppressed {
		// A new master (or one that forgot us) offers by default.
		c.send(&kernelpb.Suppress{FrameworkId: c.frameworkID, Roles: c.cfg.framework.GetRoles()})
	}
}

// fence applies the epoch rules to a master message and reports whether to
// process it. It also counts the message as a sign of life.
func (c *protocolCore) fence(now time.Time, epoch uint64) bool {
	if epoch < c.epoch {
		c.log(slog.LevelDebug, "dropped message from a deposed master", "epoch", epoch, "current", c.epoch)
		return false
	}
	if c.state != stateSubscribed {
		return false
	}
	if epoch > c.subscribedEpoch {
		// A new leader is talking to us without our having subscribed to
		// it: subscribe properly so it knows our framework and we reconcile.
		c.epoch = epoch
		c.disconnect(fmt.Errorf("%w (epoch %d, was %d)", ErrMasterFailover, epoch, c.subscribedEpoch))
		return false
	}
	c.lastSeen = now
	return true
}

func (c *protocolCore) disconnect(reason error) {
	c.log(slog.LevelWarn, "disconnected from the master; resubscribing", "reason", reason)
	if c.master != nil {
		c.emit(&outUnwatch{pid: c.master})
	}
	c.master = nil
	c.offers = map[string]struct{}{}
	c.conn++
	c.state = stateSubscribing
	c.emit(&cbDisconnected{reason: reason})
	c.subscribe()
}

func (c *protocolCore) connected(call string) bool {
	if c.state == stateSubscribed {
		return true
	}
	c.log(slog.LevelDebug, "call dropped: not subscribed", "call", call)
	return false
}

// takeOffers removes ids from the outstanding offers and returns the ones
// that were outstanding.
func (c *protocolCore) takeOffers(ids []string) []string {
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if _, ok := c.offers[id]; ok {
			delete(c.offers, id)
			valid = append(valid, id)
		}
	}
	return valid
}

func (c *protocolCore) accept(now time.Time, m *callAccept) {
	if c.state != stateSubscribed {
		c.loseTasks(now, m.tasks, "not launched: the driver is not connected to the master")
		return
	}
	valid := c.takeOffers(m.offerIDs)
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
			c.send(&kernelpb.Decline{FrameworkId: c.frameworkID, OfferIds: valid})
		}
		c.loseTasks(now, m.tasks, fmt.Sprintf("not launched: offer %v is no longer valid (rescinded, already used, or from an earlier connection)", void))
		return
	}
	msg := &kernelpb.Accept{FrameworkId: c.frameworkID, OfferIds: valid, Filters: m.filters}
	if len(m.tasks) > 0 {
		msg.Operations = []*kernelpb.Operation{{Type: kernelpb.Operation_LAUNCH, Launch: m.tasks}}
	}
	c.send(msg)
}

// loseTasks reports tasks the driver could not hand to the master as
// TASK_LOST with DroppedLaunchReason, so the scheduler's usual retry path
// relaunches them and IsDroppedLaunch tells them from real losses.
func (c *protocolCore) loseTasks(now time.Time, tasks []*kernelpb.TaskInfo, why string) {
	for _, t := range tasks {
		c.emit(&cbUpdate{status: &kernelpb.TaskStatus{
			TaskId:      t.GetTaskId(),
			State:       kernelpb.TaskState_TASK_LOST,
			AgentId:     t.GetAgentId(),
			FrameworkId: c.frameworkID,
			Reason:      DroppedLaunchReason,
			Message:     why,
			Source:      kernelpb.Source_SOURCE_MASTER,
			TimestampNs: now.UnixNano(),
		}})
	}
}

func (c *protocolCore) acknowledge(st *kernelpb.TaskStatus) {
	c.send(&kernelpb.Acknowledge{
		FrameworkId: c.frameworkID,
		AgentId:     st.GetAgentId(),
		TaskId:      st.GetTaskId(),
		UpdateId:    st.GetUpdateId(),
	})
}

func (c *protocolCore) stop(failover bool) {
	if !failover && c.frameworkID != "" {
		to := c.master
		if to == nil {
			to = c.target
		}
		if to == nil {
			to = c.cfg.master
		}
		if to != nil {
			c.emit(&outSend{to: to, msg: &kernelpb.Teardown{FrameworkId: c.frameworkID}})
		} else {
			c.log(slog.LevelWarn, "cannot send Teardown: master unknown", "framework_id", c.frameworkID)
		}
	}
	if c.master != nil {
		c.emit(&outUnwatch{pid: c.master})
	}
	c.state = stateStopped
	c.offers = nil
	c.emit(&outStop{})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
