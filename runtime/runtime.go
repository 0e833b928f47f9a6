package runtime

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Mount shows the host directory Source to a task, read-only, at Target.
type Mount struct {
	Source string
	Target string
}

// TaskRef names a task on an agent: task ids are unique only within their
// framework, so two frameworks' tasks may share one.
type TaskRef struct {
	FrameworkID string
	TaskID      string
}

// Spec is everything a runtime needs to start one task.
type Spec struct {
	// TaskID names the task within its framework (FrameworkID).
	TaskID string
	// Sandbox is the task's own directory: stdout and stderr are written
	// there, and it is the only part of the host filesystem the task sees.
	// The runtime makes it, and may wait until the task first needs it:
	// a missing sandbox or log of a task that ran is an empty one.
	Sandbox string
	// Artifact is the path of the verified module or image on local disk.
	Artifact string
	// Digest is the artifact's content address ("sha256:<hex>"), the cache key.
	Digest string
	Args   []string
	Env    map[string]string
	// MemoryBytes caps the task's memory; 0 means the runtime's default.
	MemoryBytes uint64
	// Timeout kills the task after it has run this long; 0 means never.
	Timeout time.Duration
	// Inputs are host directories the task sees read-only, mounted in
	// this order (a later one may sit inside an earlier one).
	Inputs []Mount

	// FrameworkID is the task's framework; with TaskID, unique on the
	// agent (Ref). FrameworkID and AgentID label what the runtime leaves
	// outside the agent's process (containers), so that a restarted agent
	// can tell its own from others'.
	FrameworkID string
	AgentID     string
	// CPUMilli is the task's cpus in thousandths (1000 = one core), for
	// runtimes that enforce CPU shares and quotas; 0 means no limit.
	CPUMilli int64
	// KillGrace is how long Kill waits after asking the task to stop
	// (SIGTERM) before forcing it (SIGKILL); 0 means the runtime's default.
	KillGrace time.Duration
	// Ports are the task's TCP ports, from its ports resources, lowest
	// first. A WASM task gets a listener preopened on 127.0.0.1 for each
	// (it cannot open sockets itself); a container task shares the host's
	// network and listens on them itself.
	Ports []uint16

	// Container tasks only.
	// Image names the image of the artifact tarball to run; "" when the
	// tarball holds one image.
	Image string
	// Command replaces the image's entrypoint and Args its cmd, when set.
	Command []string
	// WorkingDir replaces the image's working directory, when set.
	WorkingDir string
}

// Ref names the spec's task on the agent.
func (s Spec) Ref() TaskRef { return TaskRef{FrameworkID: s.FrameworkID, TaskID: s.TaskID} }

// Outcome is how a task ended.
type Outcome int

const (
	// Finished: the task exited with code 0.
	Finished Outcome = iota
	// Failed: non-zero exit, trap, memory exhaustion, timeout.
	Failed
	// Killed: Kill was called.
	Killed
)

func (o Outcome) String() string {
	switch o {
	case Finished:
		return "finished"
	case Failed:
		return "failed"
	case Killed:
		return "killed"
	}
	return "unknown"
}

// Cause says why a task ended, for programs; Exit.Message says it for people.
type Cause int

const (
	CauseNone Cause = iota
	CauseExitNonZero
	CauseTimeout
	CauseMemoryLimit
	CauseTrap
	CauseKilled
	CauseLaunchFailed
	// CauseOutputLimit: the task wrote more to stdout and stderr than
	// the runtime's limit, and was stopped.
	CauseOutputLimit
)

// Exit is the end of a task.
type Exit struct {
	Outcome Outcome
	Cause   Cause
	Code    int
	// Message is a sentence a person can read ("exited with code 3",
	// "ran past its timeout of 2s", "needed more than its 64MiB of memory").
	Message string
	// Usage is the task's usage at its end, when the runtime measured it
	// (a container's cgroup is gone once Wait returns); nil otherwise, and
	// the caller may ask Stats.
	Usage *Stats
}

// Stats is a point-in-time view of a task's usage: totals since it started,
// and its memory now. A runtime fills what it can measure and names what it
// cannot in Unavailable, with the reason.
type Stats struct {
	MemoryBytes     uint64
	MemoryPeakBytes uint64
	MemoryLimit     uint64
	CPUTime         time.Duration
	NetRxBytes      uint64
	NetTxBytes      uint64
	NetRxPackets    uint64
	NetTxPackets    uint64
	IOReadBytes     uint64
	IOWriteBytes    uint64
	StdoutBytes     uint64
	StderrBytes     uint64
	Unavailable     []string
}

// Task is a launched task.
type Task interface {
	// Wait blocks until the task ends or ctx is done.
	Wait(ctx context.Context) (Exit, error)
	// Kill stops the task; Wait then returns Outcome Killed. Idempotent.
	Kill(ctx context.Context) error
	// Stats reports current usage.
	Stats(ctx context.Context) (Stats, error)
}

// Execer is a Runtime that can run a command inside one of its running
// tasks (in a container's namespaces and cgroup), as COMMAND health checks
// do. It returns the command's exit code and what it wrote (stdout and
// stderr together, truncated).
type Execer interface {
	Exec(ctx context.Context, task TaskRef, argv []string) (code int, output string, err error)
}

// Runtime runs tasks of one kind (WASM modules, containers).
type Runtime interface {
	// Prepare readies an artifact (e.g. compiles a module) so that later
	// launches are fast; it reports a malformed artifact as an error.
	Prepare(ctx context.Context, digest, path string) error
	// Launch starts a task; the returned Task is running.
	Launch(ctx context.Context, spec Spec) (Task, error)
	// Recover returns the tasks still running from before a restart of the
	// agent. Runtimes whose tasks cannot outlive the agent return none and
	// ErrNotSupported.
	Recover(ctx context.Context) (map[TaskRef]Task, error)
	// Close releases the runtime's resources.
	Close(ctx context.Context) error
}

// ErrNotSupported is returned by optional operations a runtime lacks.
var ErrNotSupported = errors.New("not supported by this runtime")

// FormatBytes writes a size for people: in GiB, MiB or KiB when it is a
// whole number of them, else in MiB with a decimal or in bytes ("64MiB",
// "1.5MiB", "512 bytes"), as the runtimes' messages say memory limits.
func FormatBytes(n uint64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
