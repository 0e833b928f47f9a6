// Package containerdtest starts a private containerd for tests. Under
// CI=true a machine without containerd (or not root) fails the test; on a
// developer's machine the test is skipped, saying why.
package containerdtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/pandodc/pando/runtime/container/daemon"
)

// Start runs a containerd for t, stopped (and its directory removed) when t
// ends.
func Start(t testing.TB) *daemon.Daemon {
	t.Helper()
	Require(t)
	d, dir, err := start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("stopping containerd: %v", err)
		}
		os.RemoveAll(dir)
	})
	return d
}

// Require skips t, or fails it under CI=true, when containerd cannot run here.
func Require(t testing.TB) {
	t.Helper()
	if err := daemon.Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("containerd is required under CI=true: %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
}

func start() (*daemon.Daemon, string, error) {
	// Short, in /tmp: the socket's path must fit a unix socket's.
	dir, err := os.MkdirTemp("", "pando-ctd-")
	if err != nil {
		return nil, "", err
	}
	d, err := daemon.Start(context.Background(), dir, nil)
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	return d, dir, nil
}

// Shared is one containerd for a whole test binary, started by the first
// test that asks; Main stops it. Tests keep apart by namespace.
type Shared struct {
	once sync.Once
	d    *daemon.Daemon
	dir  string
	err  error
}

// Get returns the shared daemon, starting it the first time.
func (s *Shared) Get(t testing.TB) *daemon.Daemon {
	t.Helper()
	Require(t)
	s.once.Do(func() { s.d, s.dir, s.err = start() })
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.d
}

// Stop stops the shared daemon if it was started; call it from TestMain
// after m.Run.
func (s *Shared) Stop() {
	if s.d == nil {
		return
	}
	if err := s.d.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the shared containerd:", err)
	}
	os.RemoveAll(s.dir)
}
