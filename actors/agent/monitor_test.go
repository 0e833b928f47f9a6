package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/actors/telemetry"
	kagent "github.com/pandodc/pando/kernel/agent"
	"github.com/pandodc/pando/runtime"
	"github.com/pandodc/pando/sdk/client"
)

// measured is a running task whose usage is fixed (a fake: the runtimes'
// own Stats are tested with the runtimes).
type measured struct {
	runtime.Task
	stats runtime.Stats
}

func (m measured) Stats(context.Context) (runtime.Stats, error) { return m.stats, nil }

func TestMonitorServesRunningTasksOnly(t *testing.T) {
	m := NewMonitor()
	for i := range 3 {
		ref := kagent.TaskRef{FrameworkID: "fw", TaskID: fmt.Sprintf("t%d", i)}
		m.add(ref, "agent-1", measured{stats: runtime.Stats{CPUTime: time.Duration(i+1) * time.Second, MemoryBytes: uint64(i+1) << 20, NetTxBytes: 100 * uint64(i+1)}})
	}
	m.remove(kagent.TaskRef{FrameworkID: "fw", TaskID: "t1"})

	mux := http.NewServeMux()
	m.Register(mux, "/agent")
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/agent/api/v1/usage")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var usage []client.TaskUsage
	if err := json.NewDecoder(resp.Body).Decode(&usage); err != nil {
		t.Fatal(err)
	}
	if len(usage) != 2 || usage[0].TaskID != "t0" || usage[1].TaskID != "t2" {
		t.Fatalf("usage %+v, want t0 and t2", usage)
	}
	if u := usage[1]; u.CPUSeconds != 3 || u.MemBytes != 3<<20 || u.NetTxBytes != 300 || u.AgentID != "agent-1" {
		t.Errorf("t2: %+v", u)
	}
}

func TestUsageMetricsEndWithTheirTask(t *testing.T) {
	tel, err := telemetry.New(telemetry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	m := NewMonitor()
	if err := RegisterUsageMetrics(tel.Meter("test"), m); err != nil {
		t.Fatal(err)
	}
	ref := kagent.TaskRef{FrameworkID: "fw", TaskID: "web.1"}
	m.add(ref, "a1", measured{stats: runtime.Stats{NetRxBytes: 4096}})
	scrape := func() string {
		rec := httptest.NewRecorder()
		tel.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		body, _ := io.ReadAll(rec.Body)
		return string(body)
	}
	if got := scrape(); !strings.Contains(got, `task="web.1"`) || !strings.Contains(got, "4096") {
		t.Fatalf("a running task's usage is not exported:\n%s", got)
	}
	m.remove(ref)
	if got := scrape(); strings.Contains(got, `task="web.1"`) {
		t.Fatalf("an ended task's series remains:\n%s", got)
	}
}
