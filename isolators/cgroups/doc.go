// Package cgroups accounts a task's CPU time, memory and block IO from its
// cgroups, and counts its OOM kills.
//
// It detects the host's layout from /proc/self/mountinfo (DetectLayout)
// rather than assuming one: cgroup v1 (a hierarchy per controller), hybrid
// (v1 controllers plus a controller-less cgroup v2 hierarchy, usually at
// /sys/fs/cgroup/unified: this project's hosts), or cgroup v2 only. Each
// figure is read from the v1 controller when the host has it, else from v2:
//
//	CPUTime          v1 cpuacct.usage             v2 cpu.stat usage_usec
//	MemoryBytes      v1 memory.usage_in_bytes     v2 memory.current
//	MemoryPeakBytes  v1 memory.max_usage_in_bytes v2 memory.peak (Linux 5.19+;
//	                 before, the most this Handle saw when reading)
//	MemoryLimit      v1 memory.limit_in_bytes     v2 memory.max (0: no limit)
//	IORead/Write     v1 blkio.throttle.io_service_bytes[_recursive]
//	                                              v2 io.stat rbytes, wbytes
//	OOMKills         v1 memory.oom_control        v2 memory.events oom_kill
//
// Memory counts page cache too, as the kernel charges it. Block IO is what
// reached block devices: writes still in the page cache are not counted,
// and on v1 writeback done later by the kernel's flusher threads is not
// charged to the task (v2 charges it). Since Linux 6.x, v1 counts blkio
// bytes only on devices where throttling is active, so Attach sets, in the
// task's blkio cgroup, a read limit no disk reaches (2^62 bytes/s).
//
// Figures are totals since the cgroup was made, which for a runtime's task
// is since it started. OOMKills is not in runtime.Stats: a container runtime
// reads it (Handle.Sample, or Layout.Read by path) to tell an OOM kill from
// another SIGKILL.
//
// What a host cannot measure, New's Isolator lists in Unavailable
// ("io: no blkio controller (cgroup v1) or io controller (cgroup v2)",
// "memory peak: Linux 5.15 has no memory.peak ..."); a host with no cgroups
// fails New with "cpu, memory, io: cgroups unavailable: ...".
//
// Layout.EnsureUnified puts a task in its cgroup v2 directory, for eBPF
// programs to attach to, on hybrid hosts whose runtime did not (runc 1.1
// does: it makes and uses /sys/fs/cgroup/unified/<cgroupsPath>, and removes
// it at delete).
package cgroups
