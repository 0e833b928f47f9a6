package isolators

import (
	"context"
	"errors"
	"fmt"

	"github.com/pandodc/pando/runtime"
)

// Target is a task as a runtime hands it to the isolators: after it is
// created and before it starts.
type Target struct {
	// TaskID names the task; unique on the agent.
	TaskID string
	// PID is the task's first process (a container's init).
	PID int
	// CgroupPath is the task's cgroup relative to the root of each cgroup
	// hierarchy, as runc's cgroupsPath: "/pando/<task id>".
	CgroupPath string
}

func (t Target) String() string {
	return fmt.Sprintf("task %s (pid %d, cgroup %s)", t.TaskID, t.PID, t.CgroupPath)
}

// Isolator measures (and may limit) tasks of one kind of resource.
// Implementations are safe for concurrent use.
type Isolator interface {
	// Name is what the isolator measures, as it appears in reasons
	// ("cgroups", "net").
	Name() string
	// Attach starts accounting for a task. A task whose cgroup does not
	// exist is an error that names the missing directory.
	Attach(ctx context.Context, t Target) (Handle, error)
	// Unavailable lists what this isolator cannot measure on this host,
	// each as "<what>: <why>"; empty when it measures everything it can.
	Unavailable() []string
	// Close releases what the isolator holds for all tasks (programs,
	// maps). Handles must be detached first.
	Close() error
}

// Handle is one task's attachment to one isolator.
type Handle interface {
	// Usage fills the fields of s that the isolator measures, totals
	// since Attach (memory: now and its peak), and leaves the others alone.
	// After Detach it reports the figures read at Detach.
	Usage(ctx context.Context, s *runtime.Stats) error
	// Detach stops accounting and releases everything Attach made (links,
	// file descriptors, directories). Detaching twice does nothing.
	Detach() error
}

// ErrNotSupported is what every NotSupportedError is: errors.Is(err,
// ErrNotSupported) tells a host that cannot support an isolator from a
// failure to use one.
var ErrNotSupported = errors.New("not supported on this host")

// NotSupportedError says what cannot be measured on this host and why.
type NotSupportedError struct {
	// What is the measure ("net", "memory", "io", "cpu").
	What string
	// Reason is a sentence for operators: "eBPF unavailable: no cgroup v2
	// mount (mount one, or boot with a cgroup v2 hierarchy)".
	Reason string
	// Err is the underlying failure, if any.
	Err error
}

func (e *NotSupportedError) Error() string { return e.What + ": " + e.Reason }

// Is makes errors.Is(err, ErrNotSupported) true.
func (e *NotSupportedError) Is(target error) bool { return target == ErrNotSupported }

func (e *NotSupportedError) Unwrap() error { return e.Err }

// Unavailable returns the reason an isolator is not supported on this host
// ("net: eBPF unavailable: ..."), for Stats.Unavailable, and false when err
// is nil or some other failure.
func Unavailable(err error) (string, bool) {
	var ns *NotSupportedError
	if errors.As(err, &ns) {
		return ns.Error(), true
	}
	return "", false
}
