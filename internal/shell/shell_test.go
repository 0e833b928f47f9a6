package shell

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

func TestDefaultsFillOnlyWhatIsZero(t *testing.T) {
	var tick time.Duration
	var logger *slog.Logger
	var clock func() time.Time
	Defaults(&tick, &logger, &clock)
	if tick != DefaultTickInterval || logger == nil || clock == nil {
		t.Fatalf("zero settings not filled: %v %v %v", tick, logger, clock != nil)
	}
	fixed := time.Unix(1, 0)
	tick, clock = time.Second, func() time.Time { return fixed }
	mine := slog.Default()
	logger = mine
	Defaults(&tick, &logger, &clock)
	if tick != time.Second || logger != mine || !clock().Equal(fixed) {
		t.Fatal("a set value was replaced")
	}
}

// The pool runs every scheduled function, concurrently when they block,
// and reuses an idle goroutine.
func TestPoolRunsEverything(t *testing.T) {
	p := newPool(10, time.Minute)
	const n = 50
	release := make(chan struct{})
	var started, done sync.WaitGroup
	started.Add(n)
	done.Add(n)
	for range n {
		p.Schedule(func() { started.Done(); <-release; done.Done() })
	}
	started.Wait() // all 50 run at once: none waited for another
	close(release)
	done.Wait()
	ran := make(chan struct{})
	for range 20 { // idle goroutines take these; any would do
		p.Schedule(func() { ran <- struct{}{} })
		select {
		case <-ran:
		case <-time.After(10 * time.Second):
			t.Fatal("a scheduled function did not run")
		}
	}
	if p.Throughput() != 10 {
		t.Errorf("Throughput = %d", p.Throughput())
	}
}

// Every calls its function on each tick, and returns once ctx ends.
func TestEveryTicksUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := make(chan time.Time, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Every(ctx, time.Millisecond, func(now time.Time) { calls <- now })
	}()
	first, second := <-calls, <-calls
	if !second.After(first) {
		t.Errorf("ticks at %v then %v: want increasing times", first, second)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Every did not return after its context ended")
	}
}

// SendEvery's ticks reach the actor until stop; stopping it while ticks
// fly is no race (protoactor's own timer was one).
func TestSendEveryTicksAnActorUntilStopped(t *testing.T) {
	system := actor.NewActorSystem()
	defer system.Shutdown()
	ticks := make(chan struct{}, 1000)
	pid := system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(string); ok {
			ticks <- struct{}{}
		}
	}))
	stop := SendEvery(system.Root, pid, time.Millisecond, "tick")
	for range 3 {
		select {
		case <-ticks:
		case <-time.After(10 * time.Second):
			t.Fatal("no tick reached the actor")
		}
	}
	stop()
	stop()                           // twice is fine
	time.Sleep(5 * time.Millisecond) // a tick under way when stopped lands
	for len(ticks) > 0 {
		<-ticks
	}
	time.Sleep(20 * time.Millisecond)
	if n := len(ticks); n > 0 {
		t.Errorf("%d ticks after stop", n)
	}
	for range 50 { // stops that meet ticks, for the race detector
		stop := SendEvery(system.Root, pid, time.Microsecond, "tick")
		time.Sleep(time.Duration(rand.IntN(100)) * time.Microsecond)
		stop()
	}
}
