package sdk

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pandodc/pando/kernel/kernelpb"
)

// finisher finishes the framework on its first update.
type finisher struct {
	NopScheduler
	err error
}

func (f *finisher) Update(d *Driver, _ *TaskStatus) { d.Finish(f.err) }

func TestRunUntilFinish(t *testing.T) {
	system := quietSystem()
	defer system.Shutdown()
	m, mpid := spawnMaster(t, system, 1)
	want := errors.New("2 tasks failed")
	errc := make(chan error, 1)
	go func() {
		errc <- Run(context.Background(), Config{Framework: &kernelpb.FrameworkInfo{Name: "run"}, System: system, Master: mpid}, &finisher{err: want})
	}()
	next[*kernelpb.Subscribe](t, m)
	// NopScheduler declines offers it is given.
	system.Root.Send(mpid, &push{&kernelpb.Offers{Epoch: 1, Offers: []*kernelpb.Offer{offer("o1")}}})
	if d, _ := next[*kernelpb.Decline](t, m); d.GetOfferIds()[0] != "o1" {
		t.Fatalf("Decline %v", d)
	}
	system.Root.Send(mpid, &push{&kernelpb.Update{Epoch: 1, Status: &kernelpb.TaskStatus{TaskId: "t"}}})
	next[*kernelpb.Teardown](t, m)
	select {
	case err := <-errc:
		if !errors.Is(err, want) || ExitCode(err) != 1 {
			t.Fatalf("Run = %v (exit %d), want the Finish error", err, ExitCode(err))
		}
	case <-time.After(wait):
		t.Fatal("Run did not return after Finish")
	}
}

func TestRunStopsWithContext(t *testing.T) {
	system := quietSystem()
	defer system.Shutdown()
	m, mpid := spawnMaster(t, system, 1)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- Run(ctx, Config{Framework: &kernelpb.FrameworkInfo{Name: "run"}, System: system, Master: mpid, StopWithFailover: true}, NopScheduler{})
	}()
	next[*kernelpb.Subscribe](t, m)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) || ExitCode(err) != 130 {
			t.Fatalf("Run = %v (exit %d)", err, ExitCode(err))
		}
	case <-time.After(wait):
		t.Fatal("Run did not return after cancel")
	}
	quiet(t, m, 100*time.Millisecond) // failover: no Teardown
	if ExitCode(nil) != 0 {
		t.Fatal("ExitCode(nil) != 0")
	}
}
