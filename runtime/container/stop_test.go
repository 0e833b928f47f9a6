package container

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
)

// killFailing is a containerd task whose first SIGKILLs fail, as under a
// loaded containerd, and which ends at the first one delivered.
type killFailing struct {
	containerd.Task // the rest is not called
	mu              sync.Mutex
	failures        int
	signals         []syscall.Signal
	ended           chan struct{}
}

func (k *killFailing) Kill(_ context.Context, sig syscall.Signal, _ ...containerd.KillOpts) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.signals = append(k.signals, sig)
	if sig != syscall.SIGKILL {
		return nil // ignored, as a container's PID 1 does
	}
	if k.failures > 0 {
		k.failures--
		return errors.New("context deadline exceeded")
	}
	close(k.ended) // the task ends before Kill returns, as watch would see
	return nil
}

// A SIGKILL that fails is sent again until the task ends.
func TestStopSendsSIGKILLUntilTheTaskEnds(t *testing.T) {
	defer func(d time.Duration) { killRetryInterval = d }(killRetryInterval)
	killRetryInterval = 20 * time.Millisecond
	root, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	fake := &killFailing{failures: 3, ended: done}
	task := &Task{
		r:  &Runtime{log: slog.New(slog.DiscardHandler), root: root},
		id: "stubborn", task: fake, grace: time.Millisecond,
		done: done, stopped: make(chan struct{}),
	}
	task.startStop()
	select {
	case <-task.stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the stop sequence did not end")
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	want := []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL, syscall.SIGKILL, syscall.SIGKILL, syscall.SIGKILL}
	if len(fake.signals) != len(want) {
		t.Fatalf("signals sent: %v, want %v", fake.signals, want)
	}
	for i := range want {
		if fake.signals[i] != want[i] {
			t.Fatalf("signals sent: %v, want %v", fake.signals, want)
		}
	}
}
