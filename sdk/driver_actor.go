package sdk

import (
	"context"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pandodc/pando/kernel/kernelpb"
)

// driverActor is the thin actor shell around the protocol core: it turns
// actor messages into core inputs and carries out the core's outputs
// (sends, timers, watches, lookups, callbacks). Only its goroutine touches
// the core. The producer returns the same value on restart, so a
// (recovered) crash does not lose the framework id or the epoch.
type driverActor struct {
	d    *Driver
	core *protocolCore
}

func (a *driverActor) Receive(ctx actor.Context) {
	var in any
	switch m := ctx.Message().(type) {
	case *actor.Started:
		in = &startMsg{}
	case *actor.Stopped:
		a.d.markDone()
		return
	case *actor.DeadLetterResponse:
		in = &subscribeUndeliverable{}
	case *actor.Terminated:
		in = &masterTerminated{who: m.Who, why: fmt.Sprint(m.Why)}
	case *kernelpb.Subscribed, *kernelpb.Offers, *kernelpb.Rescind, *kernelpb.Update, *kernelpb.Updates,
		*kernelpb.Heartbeat, *kernelpb.Error:
		in = &fromMaster{msg: m, sender: ctx.Sender()}
	case *callAccept, *callDecline, *callAck, *callReconcile, *callKill, *callSuppress,
		*callRevive, *stopMsg, *subscribeRetry, *masterResolved, *heartbeatCheck:
		in = m
	default:
		return
	}
	for _, o := range a.core.step(time.Now(), in) {
		a.apply(ctx, o)
	}
}

func (a *driverActor) apply(ctx actor.Context, o any) {
	system, self := ctx.ActorSystem(), ctx.Self()
	switch o := o.(type) {
	case *outSend:
		ctx.Request(o.to, o.msg)
	case *outResolve:
		// Resolving is an HTTP call: do it off the actor goroutine so the
		// driver keeps answering its callers meanwhile.
		client, url := a.d.http, a.d.cfg.MasterURL
		go func() {
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			pid, _, err := ResolveMaster(rctx, client, url)
			system.Root.Send(self, &masterResolved{gen: o.gen, pid: pid, err: err})
		}()
	case *outTimer:
		time.AfterFunc(o.after, func() { system.Root.Send(self, o.in) })
	case *outWatch:
		ctx.Watch(o.pid)
	case *outUnwatch:
		ctx.Unwatch(o.pid)
	case *outStop:
		ctx.Stop(self)
	default:
		a.d.dispatch(o)
	}
}

// dispatch carries out the outputs both shells handle alike: logs and
// scheduler callbacks.
func (d *driverCore) dispatch(o any) {
	switch o := o.(type) {
	case *outLog:
		d.log.Log(context.Background(), o.level, o.msg, o.args...)
	case *cbSubscribed:
		if st := d.cfg.State; st != nil && d.frameworkIDChanged(o.frameworkID) {
			// Durable before tasks run under the id, or a restart would
			// subscribe as a new framework and orphan them.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := st.frameworkID().Put(ctx, o.frameworkID); err != nil {
				d.log.Error("cannot save the framework id; a restart will lose running tasks", "err", err)
			}
			cancel()
		}
		d.setFrameworkID(o.frameworkID)
		d.callback(func() { d.sched.Subscribed(d.cb, o.frameworkID, o.reconnected) })
	case *cbOffers:
		d.callback(func() { d.sched.Offers(d.cb, o.offers) })
	case *cbRescinded:
		d.callback(func() { d.sched.Rescinded(d.cb, o.offerID) })
	case *cbUpdate:
		d.callback(func() { d.sched.Update(d.cb, o.status) })
	case *cbError:
		d.callback(func() { d.sched.Error(d.cb, o.message) })
	case *cbDisconnected:
		d.callback(func() { d.sched.Disconnected(d.cb, o.reason) })
	}
}

// callback runs a Scheduler callback, keeping a panicking scheduler from
// taking the driver (and its connection state) down with it.
func (d *driverCore) callback(f func()) {
	defer func() {
		if p := recover(); p != nil {
			d.log.Error("scheduler callback panicked", "panic", p)
		}
	}()
	f()
}
