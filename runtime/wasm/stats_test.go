package wasm_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/runtime"
	"github.com/pandodc/pando/runtime/wasm"
)

func stats(t *testing.T, task runtime.Task) runtime.Stats {
	t.Helper()
	s, err := task.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return s
}

// TestStatsOfARunningTask reads, from the test's goroutine, the CPU time of
// a task spinning in its own: it grows while the task runs, never exceeds
// the time the task has existed, and stays after its end.
func TestStatsOfARunningTask(t *testing.T) {
	rt := newRuntime(t, wasm.Config{})
	spec := runtime.Spec{
		TaskID: "spin", Sandbox: t.TempDir(), Artifact: wasmbuild.MustBuild(t, "spin"),
		MemoryBytes: 64 << 20,
	}
	launched := time.Now()
	task, err := rt.Launch(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	defer task.Kill(context.Background())

	// Wait (boundedly) for it to print, then for its CPU time to grow.
	deadline := time.Now().Add(20 * time.Second)
	s := stats(t, task)
	for s.StdoutBytes == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		s = stats(t, task)
	}
	first := s
	for s.CPUTime < first.CPUTime+20*time.Millisecond && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		s = stats(t, task)
	}
	age := time.Since(launched)
	if s.CPUTime <= first.CPUTime {
		t.Errorf("CPU time of a spinning task went from %v to %v", first.CPUTime, s.CPUTime)
	}
	if s.CPUTime > age {
		t.Errorf("CPU time %v of a one-thread task exceeds the %v since it was launched", s.CPUTime, age)
	}
	if want := uint64(len("spinning\n")); s.StdoutBytes != want || s.StderrBytes != 0 {
		t.Errorf("stdout %d and stderr %d bytes, want %d and 0", s.StdoutBytes, s.StderrBytes, want)
	}
	if s.MemoryBytes == 0 || s.MemoryPeakBytes < s.MemoryBytes || s.MemoryLimit != spec.MemoryBytes {
		t.Errorf("memory %d, peak %d, limit %d: want 0 < memory <= peak, limit %d", s.MemoryBytes, s.MemoryPeakBytes, s.MemoryLimit, spec.MemoryBytes)
	}

	if err := task.Kill(context.Background()); err != nil {
		t.Fatal(err)
	}
	end := stats(t, task)
	if end.CPUTime < s.CPUTime || end.MemoryBytes != 0 || end.MemoryPeakBytes < s.MemoryBytes {
		t.Errorf("after the end: CPU %v (was %v), memory %d (want 0), peak %d (was at least %d)", end.CPUTime, s.CPUTime, end.MemoryBytes, end.MemoryPeakBytes, s.MemoryBytes)
	}
}

// TestStatsOfAnEndedTask: the totals of a task that ran to its end match
// its logs.
func TestStatsOfAnEndedTask(t *testing.T) {
	rt := newRuntime(t, wasm.Config{})
	for _, name := range []string{"hello", "fail"} {
		t.Run(name, func(t *testing.T) {
			spec := runtime.Spec{TaskID: name, Sandbox: t.TempDir(), Artifact: wasmbuild.MustBuild(t, name)}
			// Compiling takes tens of seconds under -race on a busy
			// machine: no deadline for it, nor for the task.
			task, err := rt.Launch(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := task.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			s := stats(t, task)
			stdout, _ := os.ReadFile(filepath.Join(spec.Sandbox, "stdout"))
			stderr, _ := os.ReadFile(filepath.Join(spec.Sandbox, "stderr"))
			if s.StdoutBytes != uint64(len(stdout)) || s.StderrBytes != uint64(len(stderr)) {
				t.Errorf("stdout %d, stderr %d bytes; the logs have %d and %d", s.StdoutBytes, s.StderrBytes, len(stdout), len(stderr))
			}
			if s.CPUTime <= 0 || s.MemoryBytes != 0 || s.MemoryPeakBytes == 0 {
				t.Errorf("CPU %v, memory %d, peak %d: want CPU > 0, memory 0 and a peak", s.CPUTime, s.MemoryBytes, s.MemoryPeakBytes)
			}
			if len(s.Unavailable) == 0 {
				t.Error("Stats names nothing it cannot measure; a WASM task's IO is not measured")
			}
		})
	}
}

// TestSleepingTasksHoldNoThreads: a task's goroutine is locked to its
// thread while it runs, to count its CPU time, but not while it sleeps, or
// every sleeping task would hold an OS thread (and Go stops at 10,000).
func TestSleepingTasksHoldNoThreads(t *testing.T) {
	rt := newRuntime(t, wasm.Config{})
	path := wasmbuild.MustBuild(t, "sleep")
	if err := rt.Prepare(context.Background(), "", path); err != nil {
		t.Fatal(err)
	}
	before := threads(t)
	const n = 100
	var tasks []runtime.Task
	defer func() {
		for _, task := range tasks {
			_ = task.Kill(context.Background())
		}
	}()
	var specs []runtime.Spec
	for i := range n {
		spec := runtime.Spec{TaskID: "sleep-" + strconv.Itoa(i), Sandbox: t.TempDir(), Artifact: path, Args: []string{"1h"}}
		task, err := rt.Launch(context.Background(), spec)
		if err != nil {
			t.Fatal(err)
		}
		tasks, specs = append(tasks, task), append(specs, spec)
	}
	deadline := time.Now().Add(60 * time.Second)
	for i, task := range tasks {
		for stats(t, task).StdoutBytes == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if stats(t, task).StdoutBytes == 0 {
			t.Fatalf("task %s has not printed %q within a minute", specs[i].TaskID, "sleeping")
		}
	}
	if after := threads(t); after-before >= n/2 {
		t.Errorf("%d sleeping tasks took the process from %d to %d threads", n, before, after)
	}
}

// threads is the number of this process's OS threads.
func threads(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}
