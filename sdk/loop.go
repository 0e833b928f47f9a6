package sdk

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/pandodc/pando/kernel/kernelpb"
)

// LoopMaster is the master PID a Loop's driver talks to.
var LoopMaster = actor.NewPID("loop", "master")

// Loop runs a Driver's protocol logic synchronously, without actors,
// remoting or clock: what the driver sends to the master goes to a
// function, messages from the master are handed in with Deliver, and time
// moves only with Advance. Scheduler callbacks run on the goroutine that
// steps the loop; calls a callback makes on its *Driver are queued and
// carried out right after it returns, exactly as the driver actor does.
// It is what sdktest builds its master on; a framework does not need it.
type Loop struct {
	d        *Driver
	core     *protocolCore
	toMaster func(msg any)

	mu      sync.Mutex
	now     time.Time
	queue   []any
	pumping bool
	timers  []loopTimer
}

type loopTimer struct {
	due time.Time
	seq int
	in  any
}

// NewLoop prepares a driver for s whose master is toMaster; cfg.System,
// Master and MasterURL are ignored. The clock starts at start. Start
// subscribes.
func NewLoop(cfg Config, s Scheduler, start time.Time, toMaster func(msg any)) (*Loop, error) {
	if toMaster == nil {
		return nil, errors.New("sdk: NewLoop needs a function to send the master's messages to")
	}
	cfg.System, cfg.Master, cfg.MasterURL = nil, LoopMaster, ""
	d, err := NewDriver(cfg, s)
	if err != nil {
		return nil, err
	}
	l := &Loop{d: d, core: newProtocolCore(d.coreConfig()), toMaster: toMaster, now: start}
	d.loop = l
	d.cb.loop = l
	return l, nil
}

// Driver returns the loop's driver (the one its callbacks receive too).
func (l *Loop) Driver() *Driver { return l.d }

// Start sends the first Subscribe.
func (l *Loop) Start() {
	l.d.mu.Lock()
	l.d.started = true
	l.d.mu.Unlock()
	l.push(&startMsg{})
}

// Now returns the loop's clock.
func (l *Loop) Now() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.now
}

// Deliver hands the driver a message from the master (Subscribed, Offers,
// Rescind, Update, Heartbeat or Error), as if sent by LoopMaster. The
// driver gets its own copy.
func (l *Loop) Deliver(msg proto.Message) error {
	switch msg.(type) {
	case *kernelpb.Subscribed, *kernelpb.Offers, *kernelpb.Rescind, *kernelpb.Update, *kernelpb.Updates,
		*kernelpb.Heartbeat, *kernelpb.Error:
	default:
		return fmt.Errorf("sdk: a master does not send %T to a framework", msg)
	}
	l.push(&fromMaster{msg: proto.Clone(msg), sender: LoopMaster})
	return nil
}

// MasterGone tells the driver that the master actor terminated, as the
// actor watch would.
func (l *Loop) MasterGone() {
	l.push(&masterTerminated{who: LoopMaster, why: "stopped"})
}

// Advance moves the clock on by d and fires the timers that came due, in
// order.
func (l *Loop) Advance(d time.Duration) {
	l.mu.Lock()
	l.now = l.now.Add(d)
	var due []loopTimer
	l.timers = slices.DeleteFunc(l.timers, func(t loopTimer) bool {
		if !t.due.After(l.now) {
			due = append(due, t)
			return true
		}
		return false
	})
	l.mu.Unlock()
	slices.SortFunc(due, func(a, b loopTimer) int {
		if c := a.due.Compare(b.due); c != 0 {
			return c
		}
		return a.seq - b.seq
	})
	for _, t := range due {
		l.push(t.in)
	}
}

// push queues an input and, unless a step is under way (a callback is
// calling the driver), steps the core until the queue is empty.
func (l *Loop) push(in any) {
	l.mu.Lock()
	l.queue = append(l.queue, in)
	if l.pumping {
		l.mu.Unlock()
		return
	}
	l.pumping = true
	for len(l.queue) > 0 {
		next := l.queue[0]
		l.queue = l.queue[1:]
		now := l.now
		l.mu.Unlock()
		for _, o := range l.core.step(now, next) {
			l.apply(o)
		}
		l.mu.Lock()
	}
	l.pumping = false
	l.mu.Unlock()
}

func (l *Loop) apply(o any) {
	switch o := o.(type) {
	case *outSend:
		l.toMaster(o.msg)
	case *outTimer:
		l.mu.Lock()
		l.timers = append(l.timers, loopTimer{due: l.now.Add(o.after), seq: len(l.timers), in: o.in})
		l.mu.Unlock()
	case *outStop:
		l.d.markDone()
	case *outResolve, *outWatch, *outUnwatch:
		// The loop's master is fixed and cannot be watched.
	default:
		l.d.dispatch(o)
	}
}
