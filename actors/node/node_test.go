package node_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/pandodc/pando/actors/node"
	"github.com/pandodc/pando/actors/telemetry"
	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
	"github.com/pandodc/pando/sdk"
	"github.com/pandodc/pando/sdk/client"
)

// launcher is a minimal framework: it launches `want` tasks of one module
// on whatever it is offered and records every update.
type launcher struct {
	module string
	want   int
	per    resources.Resources
	args   []string          // every task's
	inputs []*kernelpb.Input // every task's

	mu       sync.Mutex
	launched int
	ended    int // tasks in a terminal state
	states   map[string]kernelpb.TaskState
	done     chan struct{}
	errs     []string
}

func newLauncher(module string, want int) *launcher {
	return &launcher{module: module, want: want, per: resources.MustParse("cpus:0.1;mem:32"),
		states: map[string]kernelpb.TaskState{}, done: make(chan struct{})}
}

func (l *launcher) Subscribed(*sdk.Driver, string, bool) {}
func (l *launcher) Rescinded(*sdk.Driver, string)        {}
func (l *launcher) Disconnected(*sdk.Driver, error)      {}
func (l *launcher) Error(_ *sdk.Driver, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, msg)
}

func (l *launcher) Offers(d *sdk.Driver, offers []*kernelpb.Offer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range offers {
		free, err := resources.FromProto(o.GetResources())
		if err != nil {
			panic(err)
		}
		var tasks []*kernelpb.TaskInfo
		for l.launched < l.want && free.Contains(l.per) {
			free, _ = free.Subtract(l.per)
			id := fmt.Sprintf("hello-%d", l.launched)
			tasks = append(tasks, &kernelpb.TaskInfo{
				TaskId: id, Name: id, AgentId: o.GetAgentId(), Resources: l.per.ToProto(),
				Runtime: &kernelpb.TaskInfo_Wasm{Wasm: &kernelpb.WasmTask{Module: l.module, Args: l.args}},
				Env:     map[string]string{"PANDO_INSTANCE": fmt.Sprint(l.launched)},
				Inputs:  l.inputs,
			})
			l.launched++
		}
		if len(tasks) == 0 {
			d.Decline([]string{o.GetId()}, nil)
			continue
		}
		d.Accept([]string{o.GetId()}, tasks, &kernelpb.Filters{RefuseSeconds: 0.001})
	}
}

func (l *launcher) Update(_ *sdk.Driver, st *kernelpb.TaskStatus) {
	l.mu.Lock()
	defer l.mu.Unlock()
	prev, seen := l.states[st.GetTaskId()]
	l.states[st.GetTaskId()] = st.GetState()
	if kernelpb.IsTerminal(st.GetState()) && !(seen && kernelpb.IsTerminal(prev)) {
		l.ended++
	}
	if l.ended == l.want {
		select {
		case <-l.done:
		default:
			close(l.done)
		}
	}
}

// startFramework runs scheduler as a framework of dev's master; the
// returned func stops it (before dev stops).
// putFile puts the file at path in dev's artifact store and returns its
// digest.
func putFile(tb testing.TB, dev *node.Dev, path string) string {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	digest, err := dev.Master.Artifacts.Put(data)
	if err != nil {
		tb.Fatal(err)
	}
	return digest
}

func startFramework(t testing.TB, dev *node.Dev, name string, scheduler sdk.Scheduler) (stop func()) {
	t.Helper()
	driver, err := sdk.NewDriver(sdk.Config{
		Framework: &kernelpb.FrameworkInfo{Name: name},
		System:    dev.Master.System.Actors,
		Master:    dev.Master.PID,
	}, scheduler)
	if err != nil {
		t.Fatal(err)
	}
	if err := driver.Start(); err != nil {
		t.Fatal(err)
	}
	return func() { driver.Stop(false) }
}

func TestDevRunsTasksEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	helloPath := wasmbuild.MustBuild(t, "hello")
	spans := tracetest.NewSpanRecorder()
	dev, err := node.StartDev(ctx, node.DevOptions{
		HTTPAddr: "127.0.0.1:0", DataDir: t.TempDir(), Resources: "cpus:2;mem:2048", Logger: testLogger(t),
		Telemetry: telemetry.Options{SpanProcessors: []sdktrace.SpanProcessor{spans}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Stop(context.Background())
	digest := putFile(t, dev, helloPath)

	const n = 200
	l := newLauncher(digest, n)
	defer startFramework(t, dev, "e2e-test", l)()
	select {
	case <-l.done:
	case <-ctx.Done():
		l.mu.Lock()
		t.Fatalf("only %d of %d tasks ended (launched %d); errors: %v", len(l.states), n, l.launched, l.errs)
	}
	l.mu.Lock()
	for id, s := range l.states {
		if s != kernelpb.TaskState_TASK_FINISHED {
			t.Errorf("task %s ended %s, want TASK_FINISHED", id, s)
		}
	}
	l.mu.Unlock()

	checkTaskSpans(t, spans, n)

	// Logs are right and reachable through the master's API.
	c, err := client.New(dev.Master.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, n / 2, n - 1} {
		id := fmt.Sprintf("hello-%d", i)
		body, err := c.Logs(ctx, id, "stdout", false)
		if err != nil {
			t.Fatalf("logs of %s: %v", id, err)
		}
		out, _ := io.ReadAll(body)
		body.Close()
		if want := fmt.Sprintf("instance %d", i); !strings.Contains(string(out), want) {
			t.Errorf("stdout of %s = %q, want it to mention %q", id, out, want)
		}
	}
}

// checkTaskSpans checks the master's span per task: from launch to the
// terminal state, with an event per state.
func checkTaskSpans(t *testing.T, rec *tracetest.SpanRecorder, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(rec.Ended()) < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // the master ends a span as it forwards the update
	}
	ended := rec.Ended()
	if len(ended) != n {
		t.Fatalf("%d task spans ended, want %d", len(ended), n)
	}
	seen := map[string]bool{}
	for _, span := range ended {
		attrs := map[string]string{}
		for _, kv := range span.Attributes() {
			attrs[string(kv.Key)] = kv.Value.Emit()
		}
		var events []string
		for _, e := range span.Events() {
			events = append(events, e.Name)
		}
		if span.Name() != "task" || attrs["pando.state"] != "TASK_FINISHED" || attrs["pando.agent_id"] == "" || seen[attrs["pando.task_id"]] {
			t.Fatalf("span %q attributes %v: want a task span, finished, on an agent, one per task", span.Name(), attrs)
		}
		seen[attrs["pando.task_id"]] = true
		// The master's state is the latest the agent knows (Mesos'
		// latest_state): a task that ends before its RUNNING update is
		// through goes from STARTING to FINISHED on the master, and its
		// span with it; the framework still gets every update.
		ordered := slices.IsSortedFunc(events, func(a, b string) int {
			return kernelpb.Rank(kernelpb.TaskState(kernelpb.TaskState_value[a])) - kernelpb.Rank(kernelpb.TaskState(kernelpb.TaskState_value[b]))
		})
		if len(events) < 2 || events[0] != "TASK_STAGING" || events[len(events)-1] != "TASK_FINISHED" || !ordered || span.EndTime().Before(span.StartTime()) {
			t.Fatalf("span of %s has events %v (%s to %s); want STAGING first, FINISHED last, in order", attrs["pando.task_id"], events, span.StartTime(), span.EndTime())
		}
	}
}

func testLogger(testing.TB) *slog.Logger {
	if os.Getenv("PANDO_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
