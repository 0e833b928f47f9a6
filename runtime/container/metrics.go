package container

import (
	"fmt"
	"strings"
	"time"

	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	"google.golang.org/protobuf/proto"

	"github.com/pandodc/pando/runtime"
)

// unlimited is above any real limit: cgroup v1 reports "no limit" as the
// largest page-aligned int64, v2 as max uint64.
const unlimited = 1 << 62

// netUnavailable: tasks share the host's network namespace, so containerd
// has no per-task network counters; the eBPF isolator counts them.
const netUnavailable = "network: the task shares the host's network; its traffic is counted on its cgroup by the eBPF isolator, not by containerd"

// decodeMetrics turns containerd's task metrics (cgroup v1 or v2) into Stats.
func decodeMetrics(typeURL string, value []byte) (runtime.Stats, error) {
	switch {
	case strings.HasSuffix(typeURL, "io.containerd.cgroups.v1.Metrics"):
		var m v1.Metrics
		if err := proto.Unmarshal(value, &m); err != nil {
			return runtime.Stats{}, fmt.Errorf("decoding cgroup v1 metrics: %w", err)
		}
		st := runtime.Stats{Unavailable: []string{netUnavailable}}
		if mem := m.GetMemory().GetUsage(); mem != nil {
			st.MemoryBytes, st.MemoryPeakBytes = mem.GetUsage(), mem.GetMax()
			if mem.GetLimit() < unlimited {
				st.MemoryLimit = mem.GetLimit()
			}
		} else {
			st.Unavailable = append(st.Unavailable, "memory: no memory cgroup")
		}
		if cpu := m.GetCPU().GetUsage(); cpu != nil {
			st.CPUTime = time.Duration(cpu.GetTotal())
		} else {
			st.Unavailable = append(st.Unavailable, "cpu: no cpuacct cgroup")
		}
		if blk := m.GetBlkio(); blk != nil {
			for _, e := range blk.GetIoServiceBytesRecursive() {
				switch strings.ToLower(e.GetOp()) {
				case "read":
					st.IOReadBytes += e.GetValue()
				case "write":
					st.IOWriteBytes += e.GetValue()
				}
			}
		} else {
			st.Unavailable = append(st.Unavailable, "block io: no blkio cgroup")
		}
		return st, nil
	case strings.HasSuffix(typeURL, "io.containerd.cgroups.v2.Metrics"):
		var m v2.Metrics
		if err := proto.Unmarshal(value, &m); err != nil {
			return runtime.Stats{}, fmt.Errorf("decoding cgroup v2 metrics: %w", err)
		}
		st := runtime.Stats{Unavailable: []string{netUnavailable}}
		if mem := m.GetMemory(); mem != nil {
			st.MemoryBytes, st.MemoryPeakBytes = mem.GetUsage(), mem.GetMaxUsage()
			if mem.GetUsageLimit() < unlimited {
				st.MemoryLimit = mem.GetUsageLimit()
			}
			if st.MemoryPeakBytes == 0 {
				st.Unavailable = append(st.Unavailable, "memory peak: the kernel has no memory.peak (before 5.19)")
			}
		}
		if cpu := m.GetCPU(); cpu != nil {
			st.CPUTime = time.Duration(cpu.GetUsageUsec()) * time.Microsecond
		}
		for _, e := range m.GetIo().GetUsage() {
			st.IOReadBytes += e.GetRbytes()
			st.IOWriteBytes += e.GetWbytes()
		}
		return st, nil
	case typeURL == "":
		return runtime.Stats{}, errNoMetrics
	}
	return runtime.Stats{}, fmt.Errorf("containerd reported metrics of an unknown type %s", typeURL)
}
