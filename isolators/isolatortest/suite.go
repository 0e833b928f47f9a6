package isolatortest

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/pandodc/pando/isolators"
	"github.com/pandodc/pando/isolators/cgroups"
	"github.com/pandodc/pando/runtime"
)

// Config is what the suite needs to know of one isolator.
type Config struct {
	// New returns the isolator under test (the suite closes it); it calls
	// Require when the host cannot run it.
	New func(t *testing.T) isolators.Isolator
	// Task shapes the tasks' cgroups.
	Task TaskOptions
	// Work has the task do what the isolator measures.
	Work func(t *testing.T, task *Task)
	// Grew checks that usage grew from before to after Work, failing t if
	// it did not.
	Grew func(t *testing.T, before, after runtime.Stats)
}

// Run runs the suite: usage of a real task grows with its work and stays
// readable after Detach; Detach leaves no file descriptor, cgroup or
// directory behind, even over many attachments; Detach twice is harmless; a
// cgroup that is gone is a clear error.
func Run(t *testing.T, cfg Config) {
	l := RequireCgroups(t)
	ctx := context.Background()
	newIsolator := func(t *testing.T) isolators.Isolator {
		iso := cfg.New(t)
		t.Cleanup(func() {
			if err := iso.Close(); err != nil {
				t.Errorf("closing the isolator: %v", err)
			}
		})
		return iso
	}
	usage := func(t *testing.T, h isolators.Handle) runtime.Stats {
		t.Helper()
		var s runtime.Stats
		if err := h.Usage(ctx, &s); err != nil {
			t.Fatalf("Usage: %v", err)
		}
		return s
	}

	t.Run("UsageGrowsWithWork", func(t *testing.T) {
		iso := newIsolator(t)
		task := StartTask(t, l, cfg.Task)
		h, err := iso.Attach(ctx, task.Target)
		if err != nil {
			t.Fatalf("Attach(%v): %v", task.Target, err)
		}
		before := usage(t, h)
		cfg.Work(t, task)
		after := usage(t, h)
		cfg.Grew(t, before, after)
		if err := h.Detach(); err != nil {
			t.Fatalf("Detach: %v", err)
		}
		// Usage after Detach reports what was read at Detach: at least
		// what was read before it.
		cfg.Grew(t, before, usage(t, h))
	})

	t.Run("DetachLeavesNothingBehind", func(t *testing.T) {
		iso := newIsolator(t)
		task := StartTask(t, l, cfg.Task)
		v2Dir := ""
		if l.V2 != nil {
			v2Dir = l.V2.Dir(task.CgroupPath)
		}
		_, statErr := os.Stat(v2Dir)
		v2Existed := statErr == nil
		fds := OpenFDs(t)
		const rounds = 50
		for i := 0; i < rounds; i++ {
			h, err := iso.Attach(ctx, task.Target)
			if err != nil {
				t.Fatalf("Attach %d: %v", i, err)
			}
			usage(t, h)
			if err := h.Detach(); err != nil {
				t.Fatalf("Detach %d: %v", i, err)
			}
		}
		if got := OpenFDs(t); got != fds {
			t.Errorf("%d attachments and detachments changed the open file descriptors from %d to %d", rounds, fds, got)
		}
		if _, err := os.Stat(v2Dir); v2Dir != "" && !v2Existed && err == nil {
			t.Errorf("Detach left the cgroup v2 directory %s that Attach made", v2Dir)
		}
		task.End(t) // fails if a cgroup directory cannot be removed
	})

	t.Run("DoubleDetachIsHarmless", func(t *testing.T) {
		iso := newIsolator(t)
		task := StartTask(t, l, cfg.Task)
		h, err := iso.Attach(ctx, task.Target)
		if err != nil {
			t.Fatalf("Attach: %v", err)
		}
		for i := 0; i < 2; i++ {
			if err := h.Detach(); err != nil {
				t.Fatalf("Detach %d: %v", i+1, err)
			}
		}
	})

	t.Run("DetachAfterTheTaskEnded", func(t *testing.T) {
		iso := newIsolator(t)
		task := StartTask(t, l, cfg.Task)
		h, err := iso.Attach(ctx, task.Target)
		if err != nil {
			t.Fatalf("Attach: %v", err)
		}
		usage(t, h)
		task.End(t) // the runtime removes the cgroups
		if err := h.Detach(); err != nil {
			t.Fatalf("Detach after the task and its cgroups are gone: %v", err)
		}
		usage(t, h)
	})

	t.Run("VanishedCgroupIsAClearError", func(t *testing.T) {
		iso := newIsolator(t)
		task := StartTask(t, l, cfg.Task)
		gone := task.Target
		task.End(t)
		h, err := iso.Attach(ctx, gone)
		if err == nil {
			_ = h.Detach()
			t.Fatalf("Attach to %v, whose cgroup was removed, succeeded", gone)
		}
		if !strings.Contains(err.Error(), gone.CgroupPath) && !strings.Contains(err.Error(), gone.TaskID) {
			t.Errorf("Attach to a removed cgroup: the error names neither the cgroup nor the task: %v", err)
		}
		t.Logf("Attach to a removed cgroup: %v", err)
	})
}

// Layout is the host's layout, for isolators' New functions; it calls
// Require when there is none.
func Layout(t testing.TB) *cgroups.Layout { return RequireCgroups(t) }
