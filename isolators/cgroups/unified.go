package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// UnifiedCgroup is a task's cgroup v2 directory, which eBPF cgroup programs
// attach to.
type UnifiedCgroup struct {
	// Dir is the directory ("/sys/fs/cgroup/unified/pando/<id>").
	Dir string
	// Created is true when EnsureUnified made Dir and moved the task into
	// it; Remove then undoes that.
	Created bool

	from    string // the v2 cgroup directory the task was in before
	mu      sync.Mutex
	removed bool
}

// EnsureUnified makes sure that the process pid is in the cgroup v2 cgroup
// at cgroupPath, for eBPF programs to attach to, and returns its directory.
//
// On a Unified host that is where the runtime put the task: it checks. On a
// Hybrid host runc 1.1 makes and uses the v2 directory too (it does on this
// project's hosts: /sys/fs/cgroup/unified/pando/<id>); when a runtime did
// not, EnsureUnified makes the directory and moves pid into it (before the
// task starts, its init is its only process, so all it forks follows), and
// Remove undoes that. A V1 host has no cgroup v2: ErrNoUnified.
func (l *Layout) EnsureUnified(cgroupPath string, pid int) (*UnifiedCgroup, error) {
	if l.V2 == nil {
		return nil, ErrNoUnified
	}
	dir := l.V2.Dir(cgroupPath)
	current, err := procV2Cgroup(pid)
	if err != nil {
		return nil, err
	}
	if filepath.Clean(l.V2.Dir(current)) == filepath.Clean(dir) {
		return &UnifiedCgroup{Dir: dir}, nil
	}
	if l.Mode == Unified {
		return nil, fmt.Errorf("process %d is in cgroup %s, not in its task's cgroup %s", pid, current, cgroupPath)
	}
	u := &UnifiedCgroup{Dir: dir, from: l.V2.Dir(current)}
	if err := os.Mkdir(dir, 0o755); err == nil {
		u.Created = true
	} else if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return nil, fmt.Errorf("making the cgroup v2 parent of %s: %w", cgroupPath, err)
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, fmt.Errorf("making the cgroup v2 directory of %s: %w", cgroupPath, err)
		}
		u.Created = true
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("making the cgroup v2 directory of %s: %w", cgroupPath, err)
	}
	if err := moveProcess(dir, pid); err != nil {
		return nil, errors.Join(fmt.Errorf("moving process %d into cgroup v2 %s: %w", pid, dir, err), u.Remove())
	}
	return u, nil
}

// ErrNoUnified is EnsureUnified's error on hosts with no cgroup v2 hierarchy.
var ErrNoUnified = errors.New("no cgroup v2 hierarchy is mounted (the host has cgroup v1 only; mount one, e.g. mount -t cgroup2 none /sys/fs/cgroup/unified)")

// Remove undoes what EnsureUnified did: moves the processes still in Dir back
// where they were and removes Dir. It does nothing when EnsureUnified made
// nothing, or twice.
func (u *UnifiedCgroup) Remove() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.Created || u.removed {
		return nil
	}
	procs, err := os.ReadFile(filepath.Join(u.Dir, "cgroup.procs"))
	if errors.Is(err, fs.ErrNotExist) {
		u.removed = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing cgroup v2 %s: %w", u.Dir, err)
	}
	for _, p := range strings.Fields(string(procs)) {
		pid, _ := strconv.Atoi(p)
		// A process that exited meanwhile cannot be moved: ESRCH.
		if err := moveProcess(u.from, pid); err != nil && !isNoProcess(err) {
			return fmt.Errorf("removing cgroup v2 %s: moving process %d back to %s: %w", u.Dir, pid, u.from, err)
		}
	}
	if err := removeCgroupDir(u.Dir); err != nil {
		return fmt.Errorf("removing cgroup v2 %s: %w", u.Dir, err)
	}
	u.removed = true
	return nil
}

// procV2Cgroup returns pid's cgroup v2 path, from /proc/<pid>/cgroup.
func procV2Cgroup(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("process %d is gone: the task has ended", pid)
	}
	if err != nil {
		return "", fmt.Errorf("finding the cgroup of process %d: %w", pid, err)
	}
	p, ok := parseProcCgroup(string(b))
	if !ok {
		return "", fmt.Errorf("process %d has no cgroup v2 line (0::) in /proc/%d/cgroup", pid, pid)
	}
	return p, nil
}

func moveProcess(dir string, pid int) error {
	return os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0)
}

func isNoProcess(err error) bool {
	return errors.Is(err, errESRCH)
}

// removeCgroupDir removes an empty cgroup directory; the kernel may still be
// releasing its last exited process, hence a few retries on EBUSY.
func removeCgroupDir(dir string) error {
	var err error
	for i := 0; i < 50; i++ {
		if err = os.Remove(dir); err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if !errors.Is(err, errEBUSY) {
			return err
		}
		sleepBriefly()
	}
	return err
}
