package container

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/pandodc/pando/isolators"
	"github.com/pandodc/pando/runtime"
)

// Task is a container task: launched by this Runtime, or recovered.
type Task struct {
	r         *Runtime
	ref       runtime.TaskRef
	id        string // ref.TaskID, as logs name it
	container containerd.Container
	task      containerd.Task
	cgroup    string
	labels    map[string]string
	sandbox   string
	memLimit  uint64
	grace     time.Duration
	timeout   time.Duration
	started   time.Time

	done     chan struct{} // closed when exit is set (or detached)
	exit     runtime.Exit
	detached bool // the runtime let go of the task before it ended

	killed   atomic.Bool // Kill was called
	timedOut atomic.Bool // it ran past its timeout
	stopOnce sync.Once
	stopped  chan struct{} // closed when the stop sequence has sent its last signal

	statsMu   sync.Mutex
	lastStats runtime.Stats // the last sample, kept for Stats of an ended task

	isolation isolators.Handle // nil without an isolator

	// images is the image set it was launched from, used until it ends
	// (nil for a recovered task: its container stands on its snapshot).
	images *imageSet
}

var _ runtime.Task = (*Task)(nil)

func newTask(r *Runtime, ref runtime.TaskRef, ctr containerd.Container, task containerd.Task, cgroup string, labels map[string]string, memLimit uint64, grace, timeout time.Duration, started time.Time) *Task {
	return &Task{
		r: r, ref: ref, id: ref.TaskID, container: ctr, task: task, cgroup: cgroup, labels: labels,
		sandbox: labels[labelSandbox], memLimit: memLimit, grace: grace, timeout: timeout, started: started,
		done: make(chan struct{}), stopped: make(chan struct{}),
	}
}

// ID is the task's id.
func (t *Task) ID() string { return t.id }

// ContainerID is the id of its containerd container.
func (t *Task) ContainerID() string { return t.container.ID() }

// CgroupPath is its cgroup, relative to each hierarchy's root
// ("/pando/<container id>").
func (t *Task) CgroupPath() string { return t.cgroup }

// PID is its init process on the host.
func (t *Task) PID() uint32 { return t.task.Pid() }

// Labels are its container's labels (LabelTaskID, LabelFrameworkID,
// LabelAgentID, ...), from which Recover names a task it finds.
func (t *Task) Labels() map[string]string {
	out := make(map[string]string, len(t.labels))
	for k, v := range t.labels {
		out[k] = v
	}
	return out
}

// watch follows the task until it ends (or the runtime lets go), classifies
// its end and removes its task, container and snapshot.
func (t *Task) watch(statusC <-chan containerd.ExitStatus) {
	defer t.r.watchers.Done()
	defer t.r.untrack(t)
	if t.images != nil {
		defer t.r.release(t.images)
	}
	var timeoutC <-chan time.Time
	if t.timeout > 0 {
		timer := time.NewTimer(max(time.Until(t.started.Add(t.timeout)), 0))
		defer timer.Stop()
		timeoutC = timer.C
	}
	var status containerd.ExitStatus
	for {
		select {
		case status = <-statusC:
		case <-timeoutC:
			timeoutC = nil
			if !t.killed.Load() {
				t.timedOut.Store(true)
			}
			t.startStop()
			continue
		}
		if status.Error() == nil {
			break
		}
		// containerd went away (restart?): wait on the task again, unless
		// the runtime is letting go (Detach, or Close after its kills).
		if t.r.root.Err() == nil {
			t.r.log.Warn("waiting on a container task failed; retrying", "task", t.id, "err", status.Error())
			select {
			case <-time.After(time.Second):
			case <-t.r.root.Done():
			}
		}
		if t.r.root.Err() != nil {
			t.detached = true
			close(t.done)
			return
		}
		c, err := t.task.Wait(t.r.root)
		if err != nil {
			statusC = closedStatus(err)
			continue
		}
		statusC = c
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.r.root), time.Minute)
	defer cancel()
	oom := t.oomKilled()
	if st, err := t.sample(ctx); err == nil { // the final usage, before the cgroup goes
		final := t.withLogSizes(st)
		t.exit.Usage = &final
	}
	t.unisolate()
	usage := t.exit.Usage
	t.exit = t.classify(int(status.ExitCode()), oom)
	t.exit.Usage = usage
	if _, err := t.task.Delete(ctx); ignoreNotFound(err) != nil {
		t.r.log.Warn("deleting an ended container task", "task", t.id, "err", err)
	}
	if err := t.container.Delete(ctx, containerd.WithSnapshotCleanup); ignoreNotFound(err) != nil {
		t.r.log.Warn("deleting an ended task's container", "task", t.id, "err", err)
	}
	close(t.done)
}

// closedStatus is a channel holding one failed wait.
func closedStatus(err error) <-chan containerd.ExitStatus {
	c := make(chan containerd.ExitStatus, 1)
	c <- *containerd.NewExitStatus(containerd.UnknownExitStatus, time.Time{}, err)
	return c
}

func (t *Task) classify(code int, oom bool) runtime.Exit {
	switch {
	case t.killed.Load():
		return runtime.Exit{Outcome: runtime.Killed, Cause: runtime.CauseKilled, Code: code, Message: "was killed"}
	case t.timedOut.Load():
		return runtime.Exit{Outcome: runtime.Failed, Cause: runtime.CauseTimeout, Code: code,
			Message: fmt.Sprintf("ran past its timeout of %s", t.timeout)}
	case oom && code != 0:
		msg := "memory limit exceeded: killed by the kernel's OOM killer"
		if t.memLimit > 0 {
			msg = fmt.Sprintf("memory limit exceeded: needed more than its %s of memory", runtime.FormatBytes(t.memLimit))
		}
		return runtime.Exit{Outcome: runtime.Failed, Cause: runtime.CauseMemoryLimit, Code: code, Message: msg}
	case code == 0:
		return runtime.Exit{Outcome: runtime.Finished, Message: "exited with code 0"}
	case code > 128 && code < 128+65:
		return runtime.Exit{Outcome: runtime.Failed, Cause: runtime.CauseExitNonZero, Code: code,
			Message: fmt.Sprintf("exited with code %d (killed by signal %s)", code, syscall.Signal(code-128))}
	}
	return runtime.Exit{Outcome: runtime.Failed, Cause: runtime.CauseExitNonZero, Code: code,
		Message: fmt.Sprintf("exited with code %d", code)}
}

// oomKilled reads the kernel's count of OOM kills in the task's memory
// cgroup: cgroup v1's memory.oom_control, or v2's memory.events. The cgroup
// lives until the task is deleted, so this is read before.
func (t *Task) oomKilled() bool {
	for _, f := range []string{
		filepath.Join("/sys/fs/cgroup/memory", t.cgroup, "memory.oom_control"),
		filepath.Join("/sys/fs/cgroup", t.cgroup, "memory.events"),
	} {
		if n, ok := readCounter(f, "oom_kill"); ok {
			return n > 0
		}
	}
	return false
}

// readCounter reads "<key> <n>" from a cgroup file of such lines.
func readCounter(path, key string) (uint64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// Wait blocks until the task ends or ctx is done. After Detach it returns
// ErrDetached.
func (t *Task) Wait(ctx context.Context) (runtime.Exit, error) {
	select {
	case <-t.done:
		if t.detached {
			return runtime.Exit{}, fmt.Errorf("waiting for container task %s: %w", t.id, ErrDetached)
		}
		return t.exit, nil
	case <-ctx.Done():
		return runtime.Exit{}, fmt.Errorf("waiting for container task %s: %w", t.id, ctx.Err())
	}
}

// Kill asks the task to stop (SIGTERM), forces it (SIGKILL to all its
// processes) after its kill grace, and waits until it has ended and been
// removed, or ctx is done. Killing an ended task does nothing.
func (t *Task) Kill(ctx context.Context) error {
	select {
	case <-t.done:
		if t.detached {
			return fmt.Errorf("killing container task %s: %w", t.id, ErrDetached)
		}
		return nil
	default:
	}
	t.killed.Store(true)
	t.startStop()
	select {
	case <-t.done:
		if t.detached {
			return fmt.Errorf("killing container task %s: %w", t.id, ErrDetached)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("killing container task %s: it has not stopped yet: %w", t.id, ctx.Err())
	}
}

// startStop runs the stop sequence once, in the background.
func (t *Task) startStop() {
	t.stopOnce.Do(func() { go t.stop() })
}

func (t *Task) stop() {
	defer close(t.stopped)
	ctx := context.WithoutCancel(t.r.root)
	signal := func(sig syscall.Signal, opts ...containerd.KillOpts) {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := t.task.Kill(sctx, sig, opts...)
		if err != nil && !errdefs.IsNotFound(err) && !strings.Contains(err.Error(), "process already finished") {
			t.r.log.Warn("signalling a container task", "task", t.id, "signal", sig, "err", err)
		}
	}
	signal(syscall.SIGTERM)
	grace := time.NewTimer(t.grace)
	defer grace.Stop()
	select {
	case <-t.done:
		return
	case <-grace.C:
	}
	// Again until it ends: a SIGKILL that containerd failed to deliver
	// (a timeout under load) would leave a task ignoring SIGTERM, as a
	// container's PID 1 does, running for ever, its kill never answered.
	for {
		signal(syscall.SIGKILL, containerd.WithKillAll)
		select {
		case <-t.done:
			return
		case <-t.r.root.Done():
			return // the runtime let go of its tasks
		case <-time.After(killRetryInterval):
			t.r.log.Warn("a container task still runs after SIGKILL; sending it again", "task", t.id)
		}
	}
}

// killRetryInterval is how long a killed task may take to end after
// SIGKILL before it is sent again.
var killRetryInterval = 5 * time.Second

// Stats samples the task's cgroup through containerd's metrics; an ended
// task reports its last sample (taken as it ended).
func (t *Task) Stats(ctx context.Context) (runtime.Stats, error) {
	select {
	case <-t.done:
		t.statsMu.Lock()
		defer t.statsMu.Unlock()
		return t.withLogSizes(t.lastStats), nil
	default:
	}
	st, err := t.sample(t.r.nsContext(ctx))
	if err != nil {
		select {
		case <-t.done: // it ended meanwhile
			return t.Stats(ctx)
		default:
		}
		return runtime.Stats{}, fmt.Errorf("stats of container task %s: %w", t.id, err)
	}
	return t.withLogSizes(st), nil
}

func (t *Task) sample(ctx context.Context) (runtime.Stats, error) {
	m, err := t.task.Metrics(ctx)
	if err != nil {
		return runtime.Stats{}, err
	}
	st, err := decodeMetrics(m.Data.GetTypeUrl(), m.Data.GetValue())
	if err != nil {
		return runtime.Stats{}, err
	}
	t.statsMu.Lock()
	if t.isolation != nil {
		// The isolators measure what containerd's metrics cannot: drop
		// containerd's note that it does not count the network.
		st.Unavailable = slices.DeleteFunc(st.Unavailable, func(s string) bool { return s == netUnavailable })
		if err := t.isolation.Usage(ctx, &st); err != nil {
			st.Unavailable = append(st.Unavailable, "isolators: "+err.Error())
		}
	}
	t.statsMu.Unlock()
	if iso := t.r.cfg.Isolator; iso != nil {
		st.Unavailable = append(st.Unavailable, iso.Unavailable()...)
	}
	t.statsMu.Lock()
	t.lastStats = st
	t.statsMu.Unlock()
	return st, nil
}

func (t *Task) withLogSizes(st runtime.Stats) runtime.Stats {
	st.Unavailable = append([]string(nil), st.Unavailable...)
	for name, n := range map[string]*uint64{"stdout": &st.StdoutBytes, "stderr": &st.StderrBytes} {
		if fi, err := os.Stat(filepath.Join(t.sandbox, name)); err == nil {
			*n = uint64(fi.Size())
		}
	}
	return st
}

var errNoMetrics = errors.New("containerd reported no metrics")

// isolate attaches the runtime's isolator to the created, not yet started
// task.
func (t *Task) isolate(ctx context.Context) error {
	iso := t.r.cfg.Isolator
	if iso == nil {
		return nil
	}
	h, err := iso.Attach(ctx, isolators.Target{TaskID: t.id, PID: int(t.task.Pid()), CgroupPath: t.cgroup})
	if err != nil {
		return fmt.Errorf("attaching %s: %w", iso.Name(), err)
	}
	t.isolation = h
	return nil
}

// unisolate detaches the isolator, once.
func (t *Task) unisolate() {
	t.statsMu.Lock()
	defer t.statsMu.Unlock()
	if t.isolation == nil {
		return
	}
	if err := t.isolation.Detach(); err != nil {
		t.r.log.Warn("detaching a task's isolators", "task", t.id, "err", err)
	}
	t.isolation = nil
}
