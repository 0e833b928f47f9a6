// Package container runs tasks that are OCI containers, on containerd (the
// Debian 1.6 daemon, through the containerd v2 Go client) with runc.
//
// Images come from OCI image-layout (or docker save) tarballs on local disk:
// Prepare imports one once per content address, under a lease, unpacks it
// for the snapshotter (overlayfs) and checks it is for this machine's
// platform; an import that fails leaves nothing behind. Image names are
// stored prefixed by the tarball's digest, so two tarballs that both call
// their image "busybox:latest" do not replace each other. A tarball's
// images stay while launches and tasks use them; CollectImages removes
// those idle for longer than the agent's --image-idle, and the next task
// imports the tarball again.
//
// Launch makes one container per task, in the containerd namespace "pando":
// the image's root filesystem (a fresh snapshot), the task's command,
// arguments, environment and working directory, its sandbox directory bind
// mounted at /sandbox, the host's network (network and IO accounting is the
// eBPF isolator's, on the task's cgroup), memory and CPU limits, and the
// cgroup /pando/<container id> (Task.CgroupPath). A container's id is its
// task's id and a hash of agent, framework and task (ContainerID): task ids
// are unique only within a framework, and agents sharing a host share
// runc's state and the cgroup tree. Containers carry the labels
// pando.task-id, pando.framework-id and pando.agent-id, so that a restarted
// agent finds its own (Recover).
//
// Logs: the shim itself writes the task's stdout and stderr into the
// sandbox files "stdout" and "stderr" (containerd's "binary" log URI, with a
// two-line /bin/sh logger), not FIFOs read by goroutines of the agent: the
// files keep growing while the agent is down or restarting, and a task never
// blocks on a full pipe because nobody reads it. Nothing needs reattaching
// on Recover.
//
// Ends: exit code 0 is Finished; non-zero is Failed (CauseExitNonZero);
// a kill by the kernel's OOM killer (the cgroup's oom_kill counter, read
// before the cgroup goes) is Failed with CauseMemoryLimit; Spec.Timeout is
// Failed with CauseTimeout; Kill sends SIGTERM, then SIGKILL after the kill
// grace, and the task ends Killed. Once a task has ended its task, container
// and snapshot are deleted.
//
// Close ends the tasks of the runtime (an agent stopping cleanly stops its
// tasks, as with WASM); Detach leaves them running for a new Runtime with
// the same AgentID to Recover.
package container
