package executor

import (
	"reflect"
	"testing"
	"time"

	"github.com/pandodc/pando/runtime"
)

// Every field of a WASM task's spec, its stats and its exit crosses the
// process boundary unchanged (container-only fields have no use there).
func TestSpecStatsAndExitCrossUnchanged(t *testing.T) {
	spec := runtime.Spec{
		TaskID: "t", Sandbox: "/s", Artifact: "/a", Digest: "sha256:1", Args: []string{"x"},
		Env: map[string]string{"K": "V"}, MemoryBytes: 1 << 20, Timeout: time.Second,
		FrameworkID: "f", AgentID: "a", CPUMilli: 500, KillGrace: 2 * time.Second, Ports: []uint16{31000, 31001},
		Inputs: []runtime.Mount{{Source: "/in/a", Target: "/data"}, {Source: "/in/b", Target: "/data/b"}},
	}
	if got := specFromProto(specProto(spec, []byte("r"))); !reflect.DeepEqual(got, spec) {
		t.Errorf("spec crossed as %+v, want %+v", got, spec)
	}
	stats := runtime.Stats{MemoryBytes: 1, MemoryPeakBytes: 2, MemoryLimit: 3, CPUTime: 4, NetRxBytes: 5, NetTxBytes: 6,
		NetRxPackets: 7, NetTxPackets: 8, IOReadBytes: 9, IOWriteBytes: 10, StdoutBytes: 11, StderrBytes: 12, Unavailable: []string{"io"}}
	exit := runtime.Exit{Outcome: runtime.Failed, Cause: runtime.CauseMemoryLimit, Code: 3, Message: "m", Usage: &stats}
	if got := exitFromProto(exitProto(exit)); !reflect.DeepEqual(got, exit) {
		t.Errorf("exit crossed as %+v, want %+v", got, exit)
	}
}
