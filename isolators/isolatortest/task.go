package isolatortest

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/isolators"
	"github.com/pandodc/pando/isolators/cgroups"
)

// Require fails the test under CI=true and skips it elsewhere when err (what
// the test needs and lacks) is not nil.
func Require(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and this test cannot run: %v", err)
	}
	t.Skipf("skipped: %v (CI=true makes this a failure)", err)
}

// RequireCgroups checks that the test runs as root on a host with cgroups,
// and returns the layout.
func RequireCgroups(t testing.TB) *cgroups.Layout {
	t.Helper()
	if os.Geteuid() != 0 {
		Require(t, errors.New("making cgroups needs root"))
	}
	l, err := cgroups.DetectLayout()
	Require(t, err)
	return l
}

// TaskOptions shape a task's cgroups.
type TaskOptions struct {
	// NoV2 leaves the task out of cgroup v2 on a Hybrid host, as a runtime
	// that makes only v1 cgroups would (runc 1.1 does make the v2 one).
	NoV2 bool
}

// Task is a real process in cgroups of its own, at
// /pando-test/<name>-<random> in every hierarchy, as runc makes a
// container's; it runs the commands of work.
type Task struct {
	isolators.Target
	layout *cgroups.Layout
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	dirs   []string // the cgroup directories made for it
	ended  bool
}

// v1Joined are the v1 controllers a task joins: those isolators read, and
// none that needs setting up before a process may join (cpuset).
var v1Joined = []string{"cpu", "cpuacct", "memory", "blkio", "pids"}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// StartTask starts a task; it ends with the test.
func StartTask(t testing.TB, l *cgroups.Layout, opts TaskOptions) *Task {
	t.Helper()
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	name := unsafeChars.ReplaceAllString(t.Name(), "_")
	id := fmt.Sprintf("%.40s-%s", name, hex.EncodeToString(rnd[:]))
	k := &Task{layout: l, Target: isolators.Target{TaskID: id, CgroupPath: "/pando-test/" + id}}

	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("finding the test binary to run as a task: %v", err)
	}
	k.cmd = exec.Command(exe)
	k.cmd.Env = append(os.Environ(), workerEnv+"=1")
	k.cmd.Stderr = os.Stderr
	if k.in, err = k.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := k.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	k.out = bufio.NewReader(out)
	if err := k.cmd.Start(); err != nil {
		t.Fatalf("starting a task: %v", err)
	}
	k.PID = k.cmd.Process.Pid
	t.Cleanup(func() { k.End(t) })

	seen := map[string]bool{}
	var hierarchies []cgroups.Hierarchy
	for _, c := range v1Joined {
		if h, ok := l.V1[c]; ok && !seen[h.Mountpoint] {
			seen[h.Mountpoint] = true
			hierarchies = append(hierarchies, h)
		}
	}
	if l.V2 != nil && (l.Mode == cgroups.Unified || !opts.NoV2) {
		hierarchies = append(hierarchies, *l.V2)
	}
	for _, h := range hierarchies {
		dir := h.Dir(k.CgroupPath)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatalf("making the task's cgroup: %v", err)
		}
		k.dirs = append(k.dirs, dir)
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(k.PID)), 0); err != nil {
			t.Fatalf("moving the task into %s: %v", dir, err)
		}
	}
	return k
}

// Do sends the task a command and returns its result; a failed command
// fails the test.
func (k *Task) Do(t testing.TB, format string, args ...any) string {
	t.Helper()
	cmd := fmt.Sprintf(format, args...)
	if _, err := fmt.Fprintln(k.in, cmd); err != nil {
		t.Fatalf("task %s: sending %q: %v", k.TaskID, cmd, err)
	}
	line, err := k.out.ReadString('\n')
	if err != nil {
		t.Fatalf("task %s: %q: no answer: %v", k.TaskID, cmd, err)
	}
	line = strings.TrimSpace(line)
	if r, ok := strings.CutPrefix(line, "ok"); ok {
		return strings.TrimSpace(r)
	}
	t.Fatalf("task %s: %q: %s", k.TaskID, cmd, line)
	return ""
}

// End kills the task and removes its cgroups, which fails the test if an
// isolator left anything in them (a child cgroup). Ending twice does nothing.
func (k *Task) End(t testing.TB) {
	t.Helper()
	if k.ended {
		return
	}
	k.ended = true
	_ = k.in.Close()
	_ = k.cmd.Process.Kill()
	_ = k.cmd.Wait()
	for i := len(k.dirs) - 1; i >= 0; i-- {
		if err := removeDir(k.dirs[i]); err != nil {
			t.Errorf("removing the task's cgroup (did an isolator leave something in it?): %v", err)
		}
	}
}

// removeDir removes an empty cgroup, waiting briefly for the kernel to
// release the task's exited process.
func removeDir(dir string) error {
	var err error
	for i := 0; i < 100; i++ {
		if err = os.Remove(dir); err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return err
}

// OpenFDs counts this process's open file descriptors.
func OpenFDs(t testing.TB) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("counting open file descriptors: %v", err)
	}
	return len(fds)
}

// Send sends the task a command without waiting for its answer: for
// commands the task may not survive.
func (k *Task) Send(cmd string) error {
	_, err := fmt.Fprintln(k.in, cmd)
	return err
}
