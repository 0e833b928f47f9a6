package agent

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/pandodc/pando/actors/artifacts"
	amaster "github.com/pandodc/pando/actors/master"
	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/kernel/kernelpb"
	kmaster "github.com/pandodc/pando/kernel/master"
	"github.com/pandodc/pando/kernel/resources"
	"github.com/pandodc/pando/runtime/wasm"
	"github.com/pandodc/pando/sdk"
)

// These tests run a real master actor, agent actor, WASM runtime and SDK
// driver in one actor system, to reach the agent's executors from inside.

// crash makes a crashable executor panic in its Receive.
type crash struct{}

// crashable is an executor that panics on crash, as a bug would.
type crashable struct {
	actor.Actor
	mu   *sync.Mutex
	pids *[]*actor.PID
}

func (c crashable) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		c.mu.Lock()
		*c.pids = append(*c.pids, ctx.Self())
		c.mu.Unlock()
	case crash:
		panic("an executor bug")
	}
	c.Actor.Receive(ctx)
}

// recorder is a framework that launches the given tasks on its first
// offers and records every update.
type recorder struct {
	mu      sync.Mutex
	pending []*kernelpb.TaskInfo
	updates map[string][]*kernelpb.TaskStatus
}

func (r *recorder) Subscribed(*sdk.Driver, string, bool) {}
func (r *recorder) Rescinded(*sdk.Driver, string)        {}
func (r *recorder) Disconnected(*sdk.Driver, error)      {}
func (r *recorder) Error(*sdk.Driver, string)            {}
func (r *recorder) Offers(d *sdk.Driver, offers []*kernelpb.Offer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range offers {
		if len(r.pending) == 0 {
			d.Decline([]string{o.GetId()}, nil)
			continue
		}
		for _, t := range r.pending {
			t.AgentId = o.GetAgentId()
		}
		d.Accept([]string{o.GetId()}, r.pending, nil)
		r.pending = nil
	}
}

func (r *recorder) Update(_ *sdk.Driver, st *kernelpb.TaskStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates[st.GetTaskId()] = append(r.updates[st.GetTaskId()], st)
}

// last returns each task's latest update.
func (r *recorder) last() map[string]*kernelpb.TaskStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]*kernelpb.TaskStatus{}
	for id, sts := range r.updates {
		out[id] = sts[len(sts)-1]
	}
	return out
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testCluster is a master, an agent whose executors can be crashed, and a
// module in the master's store.
type testCluster struct {
	system *actor.ActorSystem
	master *actor.PID
	digest string
	cache  *artifacts.Cache
	// args are the arguments of the tasks start launches.
	args []string

	mu        sync.Mutex
	executors []*actor.PID // every executor started, in order
}

func (c *testCluster) executorCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.executors)
}

func startTestCluster(t *testing.T, module string, cfg Config) *testCluster {
	t.Helper()
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	t.Cleanup(system.Shutdown)
	return startTestClusterIn(t, system, module, cfg)
}

// startTestClusterIn starts a test cluster in system. A WASM runtime in
// cfg is kept: the module must then need no compiling ahead.
func startTestClusterIn(t *testing.T, system *actor.ActorSystem, module string, cfg Config) *testCluster {
	t.Helper()
	c := &testCluster{}
	master, err := system.Root.SpawnNamed(amaster.Props(amaster.Config{Kernel: kmaster.Config{}}), "master")
	if err != nil {
		t.Fatal(err)
	}
	store, err := artifacts.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	spin, err := os.ReadFile(wasmbuild.MustBuild(t, module))
	if err != nil {
		t.Fatal(err)
	}
	digest, err := store.Put(spin)
	if err != nil {
		t.Fatal(err)
	}
	cache, err := artifacts.NewCache(t.TempDir(), artifacts.LocalSource(store))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Runtimes.WASM == nil {
		rt, err := wasm.New(wasm.Config{CacheDir: wasmbuild.CompileCacheDir(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rt.Close(context.Background()) })
		// Compile before anything waits: under -race on a busy machine a
		// Go module takes tens of seconds to compile, which is not what
		// these tests time.
		path, err := cache.Fetch(context.Background(), digest)
		if err != nil {
			t.Fatal(err)
		}
		if err := rt.Prepare(context.Background(), digest, path); err != nil {
			t.Fatal(err)
		}
		cfg.Runtimes.WASM = rt
	}
	if cfg.SandboxRoot == "" {
		cfg.SandboxRoot = filepath.Join(t.TempDir(), "sandboxes")
	}
	c.system, c.master, c.digest, c.cache = system, master, digest, cache
	c.spawnAgent(t, cfg)
	return c
}

// spawnAgent spawns the cluster's agent actor.
func (c *testCluster) spawnAgent(t *testing.T, cfg Config) *actor.PID {
	t.Helper()
	cfg.Kernel.Hostname = "test"
	if cfg.Kernel.Resources.IsEmpty() {
		cfg.Kernel.Resources = resources.MustParse("cpus:4;mem:4096")
	}
	cfg.Master = c.master
	if cfg.Fetcher == nil {
		cfg.Fetcher = c.cache
	}
	cfg.wrapExecutor = func(e actor.Actor) actor.Actor {
		return crashable{Actor: e, mu: &c.mu, pids: &c.executors}
	}
	pid, err := c.system.Root.SpawnNamed(Props(cfg), ActorID)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// start runs a framework that launches n tasks of the cluster's module.
func (c *testCluster) start(t *testing.T, name string, n int) (*recorder, *sdk.Driver) {
	t.Helper()
	rec := &recorder{updates: map[string][]*kernelpb.TaskStatus{}}
	for i := range n {
		id := fmt.Sprint(name, "-", i)
		rec.pending = append(rec.pending, &kernelpb.TaskInfo{
			TaskId: id, Name: id, Resources: resources.MustParse("cpus:0.5;mem:64").ToProto(),
			Runtime: &kernelpb.TaskInfo_Wasm{Wasm: &kernelpb.WasmTask{Module: c.digest, Args: c.args}},
		})
	}
	driver, err := sdk.NewDriver(sdk.Config{Framework: &kernelpb.FrameworkInfo{Name: name}, System: c.system, Master: c.master}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := driver.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { driver.Stop(false) })
	return rec, driver
}

// TestExecutorRunsAFrameworksTasksAndReportsItsCrash: tasks of one
// framework share one executor; killing one task leaves the others; a
// crashed executor is stopped and each of its tasks reported FAILED with
// REASON_EXECUTOR_CRASHED, none lost.
func TestExecutorRunsAFrameworksTasksAndReportsItsCrash(t *testing.T) {
	c := startTestCluster(t, "spin", Config{})
	rec, driver := c.start(t, "spin", 3)

	waitUntil(t, "three tasks RUNNING", func() bool {
		last := rec.last()
		running := 0
		for _, st := range last {
			if st.GetState() == kernelpb.TaskState_TASK_RUNNING {
				running++
			}
		}
		return running == 3
	})
	if n := c.executorCount(); n != 1 {
		t.Fatalf("%d executors for one framework's tasks, want 1", n)
	}
	executor := c.executors[0]

	driver.Kill("spin-0", rec.last()["spin-0"].GetAgentId())
	waitUntil(t, "spin-0 KILLED", func() bool { return rec.last()["spin-0"].GetState() == kernelpb.TaskState_TASK_KILLED })
	if st := rec.last()["spin-1"]; st.GetState() != kernelpb.TaskState_TASK_RUNNING {
		t.Fatalf("killing spin-0 changed spin-1 to %v", st.GetState())
	}

	c.system.Root.Send(executor, crash{})
	waitUntil(t, "spin-1 and spin-2 to end", func() bool {
		last := rec.last()
		return kernelpb.IsTerminal(last["spin-1"].GetState()) && kernelpb.IsTerminal(last["spin-2"].GetState())
	})
	for _, id := range []string{"spin-1", "spin-2"} {
		st := rec.last()[id]
		if st.GetState() != kernelpb.TaskState_TASK_FAILED || st.GetReason() != kernelpb.Reason_REASON_EXECUTOR_CRASHED {
			t.Errorf("%s after its executor crashed: %v %v %q, want FAILED EXECUTOR_CRASHED", id, st.GetState(), st.GetReason(), st.GetMessage())
		}
	}
}

// An executor left without tasks is stopped after the idle timeout; each
// framework gets its own.
func TestIdleExecutorsStop(t *testing.T) {
	c := startTestCluster(t, "hello", Config{ExecutorIdleTimeout: 300 * time.Millisecond})
	first, _ := c.start(t, "first", 2)
	waitUntil(t, "first's tasks FINISHED", func() bool {
		last := first.last()
		return len(last) == 2 && last["first-0"].GetState() == kernelpb.TaskState_TASK_FINISHED && last["first-1"].GetState() == kernelpb.TaskState_TASK_FINISHED
	})
	if n := c.executorCount(); n != 1 {
		t.Fatalf("%d executors ran one framework's tasks, want 1", n)
	}
	waitUntil(t, "the idle executor to stop", func() bool {
		_, alive := c.system.ProcessRegistry.GetLocal(c.executors[0].Id)
		return !alive
	})
	second, _ := c.start(t, "second", 1)
	waitUntil(t, "second's task FINISHED", func() bool {
		return second.last()["second-0"].GetState() == kernelpb.TaskState_TASK_FINISHED
	})
	if n := c.executorCount(); n != 2 {
		t.Fatalf("%d executors started in all, want 2 (one per framework)", n)
	}
}

// TestStatusUpdatesSurviveMessageLoss drops a third of the status updates
// and acknowledgements between the agent and the master: every task's
// terminal update still reaches the framework, and each task's updates
// arrive in order (repeats allowed: delivery is at least once).
func TestStatusUpdatesSurviveMessageLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var mu sync.Mutex
	dropped := 0
	cfg := Config{lose: func(msg proto.Message, toMaster bool) bool {
		switch msg.(type) {
		case *kernelpb.StatusUpdate, *kernelpb.StatusUpdateAck, *kernelpb.StatusUpdates, *kernelpb.StatusUpdateAcks:
		default:
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		if rng.IntN(3) == 0 {
			// A batch lost is each of its updates or acknowledgements lost.
			switch b := msg.(type) {
			case *kernelpb.StatusUpdates:
				dropped += len(b.Updates)
			case *kernelpb.StatusUpdateAcks:
				dropped += len(b.Acks)
			default:
				dropped++
			}
			return true
		}
		return false
	}}
	cfg.Kernel.RetryInterval, cfg.Kernel.MaxRetryInterval = 20*time.Millisecond, 100*time.Millisecond
	c := startTestCluster(t, "hello", cfg)
	const n = 8 // as many as fit the agent at once (cpus:0.5 each)
	rec, _ := c.start(t, "lossy", n)
	waitUntil(t, "every task's terminal update", func() bool {
		last := rec.last()
		ended := 0
		for _, st := range last {
			if kernelpb.IsTerminal(st.GetState()) {
				ended++
			}
		}
		return ended == n
	})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for id, sts := range rec.updates {
		for i := 1; i < len(sts); i++ {
			if kernelpb.Rank(sts[i].GetState()) < kernelpb.Rank(sts[i-1].GetState()) {
				t.Errorf("%s: %v after %v", id, sts[i].GetState(), sts[i-1].GetState())
			}
		}
		if final := sts[len(sts)-1]; final.GetState() != kernelpb.TaskState_TASK_FINISHED {
			t.Errorf("%s ended %v (%s), want FINISHED", id, final.GetState(), final.GetMessage())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if dropped < n {
		t.Fatalf("only %d messages dropped: the test did not test loss", dropped)
	}
	t.Logf("%d status updates and acknowledgements dropped", dropped)
}

// slowFetcher is the cluster's cache, each fetch made to take delay.
type slowFetcher struct {
	Fetcher
	delay atomic.Int64 // ns
}

// Cached: as if nothing were, so that every task waits for its fetch.
func (f *slowFetcher) Cached(string) bool { return false }

func (f *slowFetcher) Fetch(ctx context.Context, digest string) (string, error) {
	time.Sleep(time.Duration(f.delay.Load()))
	return f.Fetcher.Fetch(ctx, digest)
}

// TestAWasmTaskSaysStartingOnlyWhenSlowToStart: a WASM task that starts at
// once goes straight to RUNNING; one whose module takes longer than
// startingDelay to fetch is STARTING meanwhile, before RUNNING.
func TestAWasmTaskSaysStartingOnlyWhenSlowToStart(t *testing.T) {
	slow := &slowFetcher{}
	c := startTestCluster(t, "tiny", Config{Fetcher: slow})
	slow.Fetcher = c.cache // before any task runs
	states := func(rec *recorder, id string) []kernelpb.TaskState {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		var out []kernelpb.TaskState
		for _, st := range rec.updates[id] {
			out = append(out, st.GetState())
		}
		return out
	}
	ended := func(rec *recorder, id string) func() bool {
		return func() bool { return kernelpb.IsTerminal(rec.last()[id].GetState()) }
	}

	fast, _ := c.start(t, "fast", 1)
	waitUntil(t, "the fast task to end", ended(fast, "fast-0"))
	if got := states(fast, "fast-0"); !slices.Equal(got, []kernelpb.TaskState{kernelpb.TaskState_TASK_RUNNING, kernelpb.TaskState_TASK_FINISHED}) {
		t.Errorf("a task that started at once: updates %v, want RUNNING, FINISHED", got)
	}

	slow.delay.Store(int64(10 * startingDelay))
	late, _ := c.start(t, "late", 1)
	waitUntil(t, "the slow task to end", ended(late, "late-0"))
	if got := states(late, "late-0"); !slices.Equal(got, []kernelpb.TaskState{kernelpb.TaskState_TASK_STARTING, kernelpb.TaskState_TASK_RUNNING, kernelpb.TaskState_TASK_FINISHED}) {
		t.Errorf("a task whose module took %v to fetch: updates %v, want STARTING, RUNNING, FINISHED", 10*startingDelay, got)
	}
}

// lateStarting's STARTING comes before what settles it, or never.
func TestLateStartingGoesFirstOrNever(t *testing.T) {
	var mu sync.Mutex
	var sent []string
	record := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		sent = append(sent, s)
	}
	early := reportStartingAfter(time.Hour, func() { record("early STARTING") })
	early.settle()
	record("early RUNNING")
	late := reportStartingAfter(time.Millisecond, func() { record("late STARTING") })
	time.Sleep(20 * time.Millisecond)
	late.settle()
	record("late RUNNING")
	var none *lateStarting
	none.settle() // a container's: nothing to wait for
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"early RUNNING", "late STARTING", "late RUNNING"}; !slices.Equal(sent, want) {
		t.Errorf("sent %v, want %v", sent, want)
	}
}

// Only a WASM task whose module is fetched and compiled here, and that has
// no inputs, goes without a STARTING timer.
func TestStartsAtOnceOnlyWithWhatItNeedsHere(t *testing.T) {
	store, err := artifacts.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	module, err := os.ReadFile(wasmbuild.MustBuild(t, "tiny"))
	if err != nil {
		t.Fatal(err)
	}
	digest, err := store.Put(module)
	if err != nil {
		t.Fatal(err)
	}
	other, err := store.Put(append(module, 0, 3, 1, 'v', 'x')) // a custom section: another digest
	if err != nil {
		t.Fatal(err)
	}
	cache, err := artifacts.NewCache(t.TempDir(), artifacts.LocalSource(store))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := wasm.New(wasm.Config{CacheDir: wasmbuild.CompileCacheDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	e := &executor{fetcher: cache, runtimes: Runtimes{WASM: rt}}
	task := func(module string, inputs ...*kernelpb.Input) *kernelpb.TaskInfo {
		return &kernelpb.TaskInfo{TaskId: "t", Inputs: inputs, Runtime: &kernelpb.TaskInfo_Wasm{Wasm: &kernelpb.WasmTask{Module: module}}}
	}
	if e.startsAtOnce(task(digest)) {
		t.Error("a module not yet fetched starts at once")
	}
	path, err := cache.Fetch(context.Background(), digest)
	if err != nil {
		t.Fatal(err)
	}
	if e.startsAtOnce(task(digest)) {
		t.Error("a module fetched but not compiled starts at once")
	}
	if err := rt.Prepare(context.Background(), digest, path); err != nil {
		t.Fatal(err)
	}
	if !e.startsAtOnce(task(digest)) {
		t.Error("a fetched and compiled module without inputs does not start at once")
	}
	if e.startsAtOnce(task(digest, &kernelpb.Input{Digest: other, Path: "/input/x"})) {
		t.Error("a task with inputs to fetch starts at once")
	}
	if e.startsAtOnce(task(other)) {
		t.Error("another module starts at once")
	}
}
