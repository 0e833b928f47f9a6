// Package shell holds what the actor shells around the kernel's pure state
// machines (actors/master, actors/agent) share: the defaults of the
// settings every such shell has, the loop of its periodic chores (Every),
// the ticks it sends itself (SendEvery), and a pooled actor dispatcher.
package shell

import (
	"context"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// DefaultTickInterval is how often a shell ticks its state machine's timers.
const DefaultTickInterval = 100 * time.Millisecond

// Defaults fills a shell's common settings left zero: the tick interval
// (DefaultTickInterval), the logger (discarding) and the clock (time.Now,
// the one place a shell reads the time it hands its state machine).
func Defaults(tick *time.Duration, logger **slog.Logger, clock *func() time.Time) {
	if *tick <= 0 {
		*tick = DefaultTickInterval
	}
	if *logger == nil {
		*logger = slog.New(slog.DiscardHandler)
	}
	if *clock == nil {
		*clock = time.Now
	}
}

// Every calls fn with the tick's time every interval until ctx ends: the
// loop of a shell's periodic chores (collections, syncs) that need no
// other signal.
func Every(ctx context.Context, interval time.Duration, fn func(now time.Time)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			fn(now)
		}
	}
}

// SendEvery sends msg to pid every interval until stop is called: an
// actor's ticks. It stands in for protoactor's scheduler.SendRepeatedly,
// whose timer reads its stopped flag without an atomic load, so the race
// detector flags a stop that meets a tick (it failed CI once). A tick
// already under way when stop is called may still be sent; it reaches a
// stopped actor's dead letters.
func SendEvery(root *actor.RootContext, pid *actor.PID, interval time.Duration, msg any) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	go Every(ctx, interval, func(time.Time) { root.Send(pid, msg) })
	return cancel
}
