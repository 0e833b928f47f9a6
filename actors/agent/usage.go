package agent

import (
	"time"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/runtime"
)

// usageProto is the protocol's form of what a runtime measured; nil for nil.
func usageProto(st *runtime.Stats, at time.Time) *kernelpb.ResourceUsage {
	if st == nil {
		return nil
	}
	return &kernelpb.ResourceUsage{
		CpuTimeNs: st.CPUTime.Nanoseconds(), MemBytes: st.MemoryBytes, MemPeakBytes: st.MemoryPeakBytes,
		MemLimitBytes: st.MemoryLimit, NetRxBytes: st.NetRxBytes, NetTxBytes: st.NetTxBytes,
		NetRxPackets: st.NetRxPackets, NetTxPackets: st.NetTxPackets, IoReadBytes: st.IOReadBytes,
		IoWriteBytes: st.IOWriteBytes, StdoutBytes: st.StdoutBytes, StderrBytes: st.StderrBytes,
		Unavailable: st.Unavailable, TimestampNs: at.UnixNano(),
	}
}
