// Package isolators is the extension point for limits and accounting around
// a running task: one interface, Isolator, that each implementation
// (isolators/cgroups, isolators/ebpf) satisfies, and one shared test suite,
// isolators/isolatortest, that each one passes.
//
// An isolator works from what a task runtime knows once it has created a
// task and before the task starts: its id, the pid of its first process, and
// its cgroups path (runc's cgroupsPath, e.g. "/pando/<task id>", relative to
// the root of every cgroup hierarchy). The agent attaches every isolator it
// has to each such task (All combines them), reads Usage into the task's
// runtime.Stats, and detaches when the task ends.
//
// An isolator the host cannot support fails New with a *NotSupportedError
// (errors.Is(err, ErrNotSupported)) whose text reads
// "<what>: <why>" ("net: eBPF unavailable: no cgroup v2 mount"), and an
// isolator that works but cannot measure everything lists the rest, in the
// same form, from Unavailable. Both are facts about the host, not the task:
// the agent learns them once and copies them into Stats.Unavailable.
package isolators
