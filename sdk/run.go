package sdk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// ErrInterrupted is what Run returns (wrapped, with the signal) when
// SIGINT or SIGTERM stopped the framework.
var ErrInterrupted = errors.New("sdk: interrupted")

// Run runs a framework to completion: it starts a driver for s and waits
// until the scheduler calls Driver.Finish, ctx ends, or the process gets
// SIGINT or SIGTERM. Finish tears the framework down and Run returns the
// error Finish was given; an interruption stops the driver (with failover
// if cfg.StopWithFailover) and returns an error wrapping ErrInterrupted or
// ctx's error. ExitCode turns the result into a process exit code:
//
//	os.Exit(sdk.ExitCode(sdk.Run(ctx, cfg, myScheduler)))
func Run(ctx context.Context, cfg Config, s Scheduler) error {
	d, err := NewDriver(cfg, s)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := d.Start(); err != nil {
		return err
	}
	select {
	case <-d.Done():
		// Finish stopped the driver; wait until its Teardown is out and
		// its own actor system down.
		// (Bounded: an actor system shut down under the driver stops it
		// without Stop.)
		select {
		case <-d.shutDown:
		case <-time.After(6 * time.Second):
		}
		_, err := d.Result()
		return err
	case sig := <-sigs:
		d.Stop(cfg.StopWithFailover)
		return fmt.Errorf("%w by %s", ErrInterrupted, sig)
	case <-ctx.Done():
		d.Stop(cfg.StopWithFailover)
		return fmt.Errorf("sdk: framework stopped: %w", ctx.Err())
	}
}

// ExitCode maps Run's result to a process exit code: 0 for nil, 130 for an
// interruption (as shells report SIGINT), 1 for any other error.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrInterrupted), errors.Is(err, context.Canceled):
		return 130
	}
	return 1
}

// NopScheduler implements every Scheduler callback by doing nothing,
// except Offers, which declines the offers (with the master's default
// filter) so that a framework not interested in them hoards nothing.
// Embed it and write only the callbacks the framework cares about:
//
//	type hello struct{ sdk.NopScheduler }
//	func (h *hello) Offers(d *sdk.Driver, offers []*sdk.Offer) { ... }
type NopScheduler struct{}

var _ Scheduler = NopScheduler{}

func (NopScheduler) Subscribed(*Driver, string, bool) {}
func (NopScheduler) Offers(d *Driver, offers []*Offer) {
	ids := make([]string, len(offers))
	for i, o := range offers {
		ids[i] = o.GetId()
	}
	d.Decline(ids, nil)
}
func (NopScheduler) Rescinded(*Driver, string)   {}
func (NopScheduler) Update(*Driver, *TaskStatus) {}
func (NopScheduler) Error(*Driver, string)       {}
func (NopScheduler) Disconnected(*Driver, error) {}

// FailedTasks is the error a framework finishes with when failed of its
// total tasks failed: nil when none did.
func FailedTasks(failed, total int) error {
	if failed == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d tasks failed", failed, total)
}
