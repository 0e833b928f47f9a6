// Package ebpf counts a task's network traffic, bytes and packets in each
// direction, with eBPF cgroup skb programs (github.com/cilium/ebpf) attached
// to the task's cgroup v2 directory.
//
// It counts every IPv4 and IPv6 packet of the sockets of the task's
// processes, as the IP layer sees it (headers included, loopback too; a
// GSO/TSO batch is one packet of the batch's length): NetTxBytes and
// NetTxPackets at egress, NetRxBytes and NetRxPackets at ingress. Packets
// are never dropped: the programs always return 1 (allow).
//
// Why these choices:
//   - The programs are written with cilium/ebpf's asm package (program.go),
//     so building Pando needs no clang and there is no object to regenerate.
//   - One program per direction and one BPF_MAP_TYPE_CGROUP_STORAGE map
//     serve all tasks, loaded once per agent (New). The kernel gives every
//     cgroup a program is attached to its own counters in that map, made at
//     attach and freed at detach (or when the cgroup is removed): a task
//     costs two bpf_link descriptors and nothing to clean up in the map, no
//     map can fill up, and a task's traffic counts from its own cgroup's
//     storage even from a sub-cgroup it makes. A hash map keyed by cgroup
//     id would need entries made and deleted per task, a size limit, and
//     would lose the traffic of sub-cgroups.
//
// Hosts: Linux 4.20 or later (5.7+ for bpf_link; cilium/ebpf falls back to
// program attachment before) with a cgroup v2 hierarchy, pure or hybrid. On
// a hybrid host whose runtime put the task only in v1 cgroups, Attach makes
// the task's v2 directory and moves it there (cgroups.Layout.EnsureUnified),
// and Detach moves it back and removes the directory.
//
// New (through Probe) fails with a *isolators.NotSupportedError when the
// host cannot count: "net: eBPF unavailable: no cgroup v2 hierarchy is
// mounted ...", "net: eBPF unavailable: no permission to use eBPF ...",
// "net: eBPF unavailable: the kernel lacks cgroup skb programs ...". The
// agent puts that sentence in Stats.Unavailable.
package ebpf
