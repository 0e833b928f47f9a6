package cgroups_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/isolators"
	"github.com/pandodc/pando/isolators/cgroups"
	"github.com/pandodc/pando/isolators/isolatortest"
	"github.com/pandodc/pando/runtime"
)

func TestMain(m *testing.M) { isolatortest.Main(m) }

func newIsolator(t *testing.T) isolators.Isolator {
	iso, err := cgroups.New()
	isolatortest.Require(t, err)
	return iso
}

const (
	burn  = 300 * time.Millisecond
	alloc = 64 << 20
	ioLen = 4 << 20
)

func TestSuite(t *testing.T) {
	isolatortest.Run(t, isolatortest.Config{
		New: newIsolator,
		Work: func(t *testing.T, task *isolatortest.Task) {
			task.Do(t, "cpu %d", burn.Milliseconds())
			task.Do(t, "mem %d", alloc)
		},
		Grew: func(t *testing.T, before, after runtime.Stats) {
			if after.CPUTime < before.CPUTime+burn/2 {
				t.Errorf("CPU time went from %v to %v over %v of spinning", before.CPUTime, after.CPUTime, burn)
			}
			if after.MemoryBytes < before.MemoryBytes+alloc*9/10 {
				t.Errorf("memory went from %d to %d bytes after touching %d more", before.MemoryBytes, after.MemoryBytes, alloc)
			}
		},
	})
}

// TestUsage checks each figure against the work that made it.
func TestUsage(t *testing.T) {
	l := isolatortest.RequireCgroups(t)
	task := isolatortest.StartTask(t, l, isolatortest.TaskOptions{})
	iso := cgroups.NewForLayout(l)
	t.Logf("layout: %v; unavailable: %q", l.Mode, iso.Unavailable())
	h, err := iso.AttachCgroup(task.Target)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Detach()
	before, err := h.Sample()
	if err != nil {
		t.Fatal(err)
	}
	task.Do(t, "mem %d", alloc)
	// Memory: current, then its peak stays after a drop we cannot cause
	// from Go (the collector keeps it), so check peak >= current.
	task.Do(t, "io %s %d", ioDir(t), ioLen)
	task.Do(t, "cpu %d", burn.Milliseconds())
	after, err := h.Sample()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("before %+v\nafter  %+v", before, after)
	if got := after.MemoryBytes - before.MemoryBytes; got < alloc*9/10 {
		t.Errorf("memory grew by %d after touching %d bytes", got, alloc)
	}
	if after.MemoryPeakBytes < after.MemoryBytes {
		t.Errorf("memory peak %d below current %d", after.MemoryPeakBytes, after.MemoryBytes)
	}
	if d := after.CPUTime - before.CPUTime; d < burn/2 || d > 4*burn {
		t.Errorf("CPU time grew by %v over %v of spinning", d, burn)
	}
	if d := after.IOWriteBytes - before.IOWriteBytes; d < ioLen {
		t.Errorf("block IO written grew by %d after %d bytes with O_DIRECT", d, ioLen)
	}
	if d := after.IOReadBytes - before.IOReadBytes; d < ioLen {
		t.Errorf("block IO read grew by %d after %d bytes with O_DIRECT", d, ioLen)
	}
	if after.MemoryLimit != 0 {
		t.Errorf("memory limit %d, but none was set", after.MemoryLimit)
	}

	var st runtime.Stats
	if err := h.Usage(context.Background(), &st); err != nil {
		t.Fatal(err)
	}
	if st.CPUTime < after.CPUTime || st.MemoryPeakBytes < after.MemoryPeakBytes || st.IOWriteBytes < after.IOWriteBytes {
		t.Errorf("Usage %+v reports less than the sample before it %+v", st, after)
	}
}

// ioDir is a directory on a block device (not tmpfs), for O_DIRECT.
func ioDir(t *testing.T) string {
	dir, err := os.MkdirTemp("/var/tmp", "isolators-io-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestMemoryLimitAndOOMKills sets a limit as a runtime would, and has the
// task exceed it: the kernel kills it, and the Sample counts the kill.
func TestMemoryLimitAndOOMKills(t *testing.T) {
	l := isolatortest.RequireCgroups(t)
	task := isolatortest.StartTask(t, l, isolatortest.TaskOptions{})
	const limit = 32 << 20
	var dir, file string
	if h, ok := l.V1["memory"]; ok {
		dir, file = h.Dir(task.CgroupPath), "memory.limit_in_bytes"
	} else {
		dir, file = l.V2.Dir(task.CgroupPath), "memory.max"
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte(strconv.Itoa(limit)), 0); err != nil {
		t.Fatalf("setting the memory limit: %v", err)
	}
	h, err := cgroups.NewForLayout(l).AttachCgroup(task.Target)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Detach()
	s, err := h.Sample()
	if err != nil {
		t.Fatal(err)
	}
	if s.MemoryLimit != limit || s.OOMKills != 0 {
		t.Fatalf("limit %d and OOM kills %d, want %d and 0", s.MemoryLimit, s.OOMKills, limit)
	}
	// The task dies answering nothing; Do would fail the test, so talk
	// to it without.
	if err := task.Send("mem 67108864"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.OOMKills == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		if s, err = h.Sample(); err != nil {
			t.Fatal(err)
		}
	}
	if s.OOMKills != 1 {
		t.Errorf("OOM kills %d after the task touched twice its limit, want 1", s.OOMKills)
	}
	if s.MemoryPeakBytes < limit*9/10 || s.MemoryPeakBytes > limit {
		t.Errorf("memory peak %d, want near its limit %d", s.MemoryPeakBytes, limit)
	}
}

// TestEnsureUnified moves a task that a runtime left out of cgroup v2 into
// its v2 directory, and Remove undoes it.
func TestEnsureUnified(t *testing.T) {
	l := isolatortest.RequireCgroups(t)
	if l.Mode != cgroups.Hybrid {
		t.Skipf("EnsureUnified moves processes only on hybrid hosts; this one is %v", l.Mode)
	}
	task := isolatortest.StartTask(t, l, isolatortest.TaskOptions{NoV2: true})
	from := v2CgroupOf(t, task.PID)
	u, err := l.EnsureUnified(task.CgroupPath, task.PID)
	if err != nil {
		t.Fatal(err)
	}
	if !u.Created || u.Dir != l.V2.Dir(task.CgroupPath) {
		t.Errorf("EnsureUnified = %+v, want %s created", u, l.V2.Dir(task.CgroupPath))
	}
	if got := v2CgroupOf(t, task.PID); got != task.CgroupPath {
		t.Errorf("after EnsureUnified the task is in v2 cgroup %s, want %s", got, task.CgroupPath)
	}
	again, err := l.EnsureUnified(task.CgroupPath, task.PID)
	if err != nil || again.Created {
		t.Errorf("EnsureUnified again: %+v, %v; want it found, not created", again, err)
	}
	for i := 0; i < 2; i++ {
		if err := u.Remove(); err != nil {
			t.Fatalf("Remove %d: %v", i+1, err)
		}
	}
	if _, err := os.Stat(u.Dir); !os.IsNotExist(err) {
		t.Errorf("after Remove, %s: %v", u.Dir, err)
	}
	if got := v2CgroupOf(t, task.PID); got != from {
		t.Errorf("after Remove the task is in v2 cgroup %s, want %s where it was", got, from)
	}
	task.Do(t, "cpu 1") // still alive and well
}

func v2CgroupOf(t *testing.T, pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if len(line) > 3 && line[:3] == "0::" {
			return line[3:]
		}
	}
	t.Fatalf("process %d has no cgroup v2 line", pid)
	return ""
}
