package container

import (
	"testing"
	"time"

	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	"google.golang.org/protobuf/proto"
)

func TestDecodeMetrics(t *testing.T) {
	m1, _ := proto.Marshal(&v1.Metrics{
		Memory: &v1.MemoryStat{Usage: &v1.MemoryEntry{Usage: 10 << 20, Max: 20 << 20, Limit: 64 << 20}},
		CPU:    &v1.CPUStat{Usage: &v1.CPUUsage{Total: uint64(1500 * time.Millisecond)}},
		Blkio: &v1.BlkIOStat{IoServiceBytesRecursive: []*v1.BlkIOEntry{
			{Op: "Read", Value: 4096}, {Op: "Write", Value: 8192}, {Op: "Total", Value: 12288},
		}},
	})
	m2, _ := proto.Marshal(&v2.Metrics{
		Memory: &v2.MemoryStat{Usage: 10 << 20, MaxUsage: 20 << 20, UsageLimit: 64 << 20},
		CPU:    &v2.CPUStat{UsageUsec: 1_500_000},
		Io:     &v2.IOStat{Usage: []*v2.IOEntry{{Rbytes: 4096, Wbytes: 8192}}},
	})
	for name, c := range map[string]struct {
		url   string
		value []byte
	}{
		"v1": {"io.containerd.cgroups.v1.Metrics", m1},
		"v2": {"io.containerd.cgroups.v2.Metrics", m2},
	} {
		st, err := decodeMetrics(c.url, c.value)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if st.MemoryBytes != 10<<20 || st.MemoryPeakBytes != 20<<20 || st.MemoryLimit != 64<<20 ||
			st.CPUTime != 1500*time.Millisecond || st.IOReadBytes != 4096 || st.IOWriteBytes != 8192 {
			t.Errorf("%s: %+v", name, st)
		}
		if len(st.Unavailable) == 0 {
			t.Errorf("%s: the network counters are not named unavailable", name)
		}
	}
	unlimitedV1, _ := proto.Marshal(&v1.Metrics{Memory: &v1.MemoryStat{Usage: &v1.MemoryEntry{Limit: 9223372036854771712}}})
	if st, _ := decodeMetrics("io.containerd.cgroups.v1.Metrics", unlimitedV1); st.MemoryLimit != 0 {
		t.Errorf("no limit decoded as %d, want 0", st.MemoryLimit)
	}
	if _, err := decodeMetrics("example.com/Other", nil); err == nil {
		t.Error("an unknown metrics type was decoded")
	}
}
