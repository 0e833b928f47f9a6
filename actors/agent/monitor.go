package agent

import (
	"cmp"
	"context"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/pandodc/pando/internal/httpjson"
	kagent "github.com/pandodc/pando/kernel/agent"
	"github.com/pandodc/pando/runtime"
	"github.com/pandodc/pando/sdk/client"
)

// Monitor knows an agent's running tasks and measures them on demand, as
// Mesos' agent /monitor/statistics does: `pando top` and the metrics ask
// it. Executors add a task once it runs and remove it when it ends, so a
// million finished tasks leave nothing behind here.
type Monitor struct {
	mu      sync.Mutex
	running map[kagent.TaskRef]monitored
}

type monitored struct {
	task    runtime.Task
	agentID string
}

// NewMonitor makes an empty monitor.
func NewMonitor() *Monitor {
	return &Monitor{running: map[kagent.TaskRef]monitored{}}
}

func (m *Monitor) add(ref kagent.TaskRef, agentID string, t runtime.Task) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.running[ref] = monitored{task: t, agentID: agentID}
	m.mu.Unlock()
}

func (m *Monitor) remove(ref kagent.TaskRef) {
	if m == nil {
		return
	}
	m.mu.Lock()
	delete(m.running, ref)
	m.mu.Unlock()
}

// statsTimeout bounds one task's measurement: a wedged runtime must not
// hang `pando top`.
const statsTimeout = 2 * time.Second

// Usage measures every running task, sorted by framework then task id.
func (m *Monitor) Usage(ctx context.Context) []client.TaskUsage {
	m.mu.Lock()
	tasks := maps.Clone(m.running)
	m.mu.Unlock()
	out := make([]client.TaskUsage, 0, len(tasks))
	for ref, t := range tasks {
		sctx, cancel := context.WithTimeout(ctx, statsTimeout)
		st, err := t.task.Stats(sctx)
		cancel()
		if err != nil {
			st = runtime.Stats{Unavailable: []string{"all: " + err.Error()}}
		}
		u := taskUsage(ref, st)
		u.AgentID = t.agentID
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b client.TaskUsage) int {
		return cmp.Or(cmp.Compare(a.FrameworkID, b.FrameworkID), cmp.Compare(a.TaskID, b.TaskID))
	})
	return out
}

func taskUsage(ref kagent.TaskRef, st runtime.Stats) client.TaskUsage {
	return client.TaskUsage{
		TaskID: ref.TaskID, FrameworkID: ref.FrameworkID,
		CPUSeconds: st.CPUTime.Seconds(), MemBytes: st.MemoryBytes, MemPeakBytes: st.MemoryPeakBytes,
		MemLimitBytes: st.MemoryLimit, NetRxBytes: st.NetRxBytes, NetTxBytes: st.NetTxBytes,
		NetRxPackets: st.NetRxPackets, NetTxPackets: st.NetTxPackets,
		IOReadBytes: st.IOReadBytes, IOWriteBytes: st.IOWriteBytes,
		StdoutBytes: st.StdoutBytes, StderrBytes: st.StderrBytes, Unavailable: st.Unavailable,
	}
}

// Register serves GET prefix/api/v1/usage: the usage of every running task.
func (m *Monitor) Register(mux *http.ServeMux, prefix string) {
	mux.HandleFunc("GET "+prefix+"/api/v1/usage", func(w http.ResponseWriter, r *http.Request) {
		httpjson.Write(w, http.StatusOK, m.Usage(r.Context()))
	})
}
