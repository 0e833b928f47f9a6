package agent

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/internal/freeport"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
)

// These tests run real WASM webserver tasks (examples/wasm/webserver) under
// a real agent, master and SDK driver, and check them as a framework sees
// it: the health updates that arrive, the kill of an unhealthy task.

// healthCluster is a test cluster whose agent offers the given ports.
func healthCluster(t *testing.T, ports ...uint16) *testCluster {
	t.Helper()
	var ranges []string
	for _, p := range ports {
		ranges = append(ranges, fmt.Sprint(p))
	}
	cfg := Config{}
	cfg.Kernel.Resources = resources.MustParse("cpus:4;mem:4096;ports:[" + strings.Join(ranges, ",") + "]")
	return startTestCluster(t, "webserver", cfg)
}

// webTask is a webserver task on port (0: none) with the given health check.
func webTask(c *testCluster, id string, port uint16, hc *kernelpb.HealthCheck) *kernelpb.TaskInfo {
	res := "cpus:0.5;mem:64"
	if port != 0 {
		res += fmt.Sprintf(";ports:[%d]", port)
	}
	return &kernelpb.TaskInfo{
		TaskId: id, Name: id, Resources: resources.MustParse(res).ToProto(),
		Runtime:     &kernelpb.TaskInfo_Wasm{Wasm: &kernelpb.WasmTask{Module: c.digest}},
		HealthCheck: hc,
	}
}

// run launches tasks from a new framework.
func (c *testCluster) run(t *testing.T, name string, tasks ...*kernelpb.TaskInfo) *recorder {
	t.Helper()
	rec, _ := c.start(t, name, 0)
	rec.mu.Lock()
	rec.pending = tasks
	rec.mu.Unlock()
	return rec
}

// healthUpdates returns a task's updates that carry its health, in order.
func (r *recorder) healthUpdates(id string) []*kernelpb.TaskStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*kernelpb.TaskStatus
	for _, st := range r.updates[id] {
		if st.GetReason() == kernelpb.Reason_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED {
			out = append(out, st)
		}
	}
	return out
}

// A WASM service with HTTP and TCP checks on its port is reported healthy
// once, in a RUNNING update, and stays RUNNING.
func TestHealthyWASMServiceIsReportedOnce(t *testing.T) {
	http, tcp := freeport.Take(t), freeport.Take(t)
	c := healthCluster(t, http, tcp)
	rec := c.run(t, "web",
		webTask(c, "http", http, &kernelpb.HealthCheck{Type: kernelpb.HealthCheck_HTTP, Port: uint32(http), Path: "/health", IntervalMs: 20, TimeoutMs: 1000, MaxConsecutiveFailures: 3, GracePeriodMs: 10_000}),
		webTask(c, "tcp", tcp, &kernelpb.HealthCheck{Type: kernelpb.HealthCheck_TCP, Port: uint32(tcp), IntervalMs: 20, TimeoutMs: 1000, MaxConsecutiveFailures: 3, GracePeriodMs: 10_000}),
	)
	for _, id := range []string{"http", "tcp"} {
		waitUntil(t, id+" reported healthy", func() bool { return len(rec.healthUpdates(id)) > 0 })
		st := rec.healthUpdates(id)[0]
		if st.GetState() != kernelpb.TaskState_TASK_RUNNING || st.Healthy == nil || !*st.Healthy {
			t.Fatalf("%s: first health update %v healthy=%v %q, want RUNNING healthy=true", id, st.GetState(), st.Healthy, st.GetMessage())
		}
	}
	time.Sleep(200 * time.Millisecond) // ten more checks each: none is a change
	for _, id := range []string{"http", "tcp"} {
		if n := len(rec.healthUpdates(id)); n != 1 {
			t.Errorf("%s: %d health updates while it stayed healthy, want 1", id, n)
		}
		if st := rec.last()[id]; st.GetState() != kernelpb.TaskState_TASK_RUNNING {
			t.Errorf("%s is %v (%s), want RUNNING", id, st.GetState(), st.GetMessage())
		}
	}
}

// A task that fails its check (a path the server does not have) is
// reported unhealthy, then killed after max_consecutive_failures failures
// in a row, not before its grace period is over; its terminal update says
// REASON_TASK_UNHEALTHY and which check failed how.
func TestUnhealthyTaskIsKilledAfterItsGracePeriod(t *testing.T) {
	port := freeport.Take(t)
	c := healthCluster(t, port)
	const grace = 500 * time.Millisecond
	rec := c.run(t, "sick", webTask(c, "sick", port, &kernelpb.HealthCheck{
		Type: kernelpb.HealthCheck_HTTP, Port: uint32(port), Path: "/missing",
		IntervalMs: 30, TimeoutMs: 1000, GracePeriodMs: grace.Milliseconds(), MaxConsecutiveFailures: 3,
	}))
	waitUntil(t, "the sick task to end", func() bool { return kernelpb.IsTerminal(rec.last()["sick"].GetState()) })

	rec.mu.Lock()
	updates := rec.updates["sick"]
	rec.mu.Unlock()
	var running, unhealthy, end *kernelpb.TaskStatus
	for _, st := range updates {
		switch {
		case st.GetState() == kernelpb.TaskState_TASK_RUNNING && running == nil:
			running = st
		case st.GetReason() == kernelpb.Reason_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED && unhealthy == nil:
			unhealthy = st
		case kernelpb.IsTerminal(st.GetState()):
			end = st
		}
	}
	if unhealthy == nil || unhealthy.Healthy == nil || *unhealthy.Healthy {
		t.Errorf("no RUNNING healthy=false update before the kill: %v", updates)
	}
	want := fmt.Sprintf("HTTP GET :%d/missing failed 3 times in a row: answered 404 Not Found", port)
	if end.GetState() != kernelpb.TaskState_TASK_KILLED || end.GetReason() != kernelpb.Reason_REASON_TASK_UNHEALTHY || end.GetMessage() != want {
		t.Fatalf("ended %v %v %q, want KILLED TASK_UNHEALTHY %q", end.GetState(), end.GetReason(), end.GetMessage(), want)
	}
	if ran := time.Duration(end.GetTimestampNs() - running.GetTimestampNs()); ran < grace {
		t.Errorf("killed %v after it started running, before its grace period of %v was over", ran, grace)
	}
}

// A health check that cannot work is refused at launch, saying why: a port
// the task does not have, a COMMAND check in a WASM task.
func TestImpossibleHealthChecksAreRefused(t *testing.T) {
	port := freeport.Take(t)
	c := healthCluster(t, port)
	rec := c.run(t, "bad",
		webTask(c, "port", port, &kernelpb.HealthCheck{Type: kernelpb.HealthCheck_HTTP, Port: 9}),
		webTask(c, "command", 0, &kernelpb.HealthCheck{Type: kernelpb.HealthCheck_COMMAND, Command: []string{"true"}}),
	)
	for id, want := range map[string]string{
		"port":    fmt.Sprintf("health check port 9 is not one of the task's ports ([%d])", port),
		"command": "a WASM task cannot have a COMMAND health check",
	} {
		waitUntil(t, id+" to end", func() bool { return kernelpb.IsTerminal(rec.last()[id].GetState()) })
		st := rec.last()[id]
		if st.GetState() != kernelpb.TaskState_TASK_ERROR || st.GetReason() != kernelpb.Reason_REASON_INVALID_TASK || !strings.Contains(st.GetMessage(), want) {
			t.Errorf("%s: %v %v %q, want TASK_ERROR INVALID_TASK saying %q", id, st.GetState(), st.GetReason(), st.GetMessage(), want)
		}
	}
}
