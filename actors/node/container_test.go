package node_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pandodc/pando/actors/node"
	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
	"github.com/pandodc/pando/runtime/container/containerdtest"
	"github.com/pandodc/pando/sdk"
	"github.com/pandodc/pando/sdk/client"
)

// once launches each of its tasks on the first offer they fit in, and
// records every update (the last one per task in final).
type once struct {
	mu      sync.Mutex
	pending []*kernelpb.TaskInfo
	final   map[string]*kernelpb.TaskStatus
	done    chan struct{}
	want    int
}

func (o *once) Subscribed(*sdk.Driver, string, bool) {}
func (o *once) Rescinded(*sdk.Driver, string)        {}
func (o *once) Disconnected(*sdk.Driver, error)      {}
func (o *once) Error(*sdk.Driver, string)            {}

func (o *once) Offers(d *sdk.Driver, offers []*kernelpb.Offer) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, offer := range offers {
		free, _ := resources.FromProto(offer.GetResources())
		var launch []*kernelpb.TaskInfo
		rest := o.pending[:0]
		for _, t := range o.pending {
			need, _ := resources.FromProto(t.GetResources())
			if !free.Contains(need) {
				rest = append(rest, t)
				continue
			}
			free, _ = free.Subtract(need)
			t.AgentId = offer.GetAgentId()
			launch = append(launch, t)
		}
		o.pending = rest
		if len(launch) == 0 {
			d.Decline([]string{offer.GetId()}, nil)
			continue
		}
		d.Accept([]string{offer.GetId()}, launch, &kernelpb.Filters{RefuseSeconds: 0.001})
	}
}

func (o *once) Update(_ *sdk.Driver, st *kernelpb.TaskStatus) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !kernelpb.IsTerminal(st.GetState()) {
		return
	}
	if _, seen := o.final[st.GetTaskId()]; !seen {
		o.final[st.GetTaskId()] = st
		if len(o.final) == o.want {
			close(o.done)
		}
	}
}

// TestWasmAndContainerTasksShareAnAgent runs WASM and container tasks of one
// framework side by side on one agent of a dev cluster with a real
// containerd: each ends as it should, container logs reach the master's
// logs API, terminal updates carry usage, and every resource is free again.
func TestWasmAndContainerTasksShareAnAgent(t *testing.T) {
	ctd := containerdtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dev, err := node.StartDev(ctx, node.DevOptions{
		HTTPAddr: "127.0.0.1:0", DataDir: t.TempDir(), Resources: "cpus:2;mem:2048", Logger: testLogger(t),
		Containerd: ctd.Address,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Stop(context.Background())

	moduleDigest := putFile(t, dev, wasmbuild.MustBuild(t, "hello"))
	tarball := containerdtest.BusyboxTarball(t)
	imageDigest := putFile(t, dev, tarball)

	per := resources.MustParse("cpus:0.2;mem:64").ToProto()
	container := func(id string, args ...string) *kernelpb.TaskInfo {
		return &kernelpb.TaskInfo{TaskId: id, Name: id, Resources: per, Runtime: &kernelpb.TaskInfo_Container{
			Container: &kernelpb.ContainerTask{Image: imageDigest, Command: []string{"sh", "-c"}, Args: args},
		}}
	}
	wasmTask := func(id string) *kernelpb.TaskInfo {
		return &kernelpb.TaskInfo{TaskId: id, Name: id, Resources: per, Runtime: &kernelpb.TaskInfo_Wasm{
			Wasm: &kernelpb.WasmTask{Module: moduleDigest},
		}}
	}
	// A listener outside the container: ctr-net sends it a known number
	// of bytes, which its eBPF counters must account for.
	const sent = 1 << 20
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	received := make(chan int64, 1)
	go func() {
		conn, err := listener.Accept()
		if err != nil {
			received <- -1
			return
		}
		n, _ := io.Copy(io.Discard, conn)
		conn.Close()
		received <- n
	}()
	port := listener.Addr().(*net.TCPAddr).Port
	tasks := []*kernelpb.TaskInfo{
		container("ctr-net", fmt.Sprintf("head -c %d /dev/zero | nc 127.0.0.1 %d", sent, port)),
		container("ctr-echo", "echo hello from $PANDO_TASK_ID; echo oops >&2"),
		container("ctr-fail", "exit 7"),
		container("ctr-busy", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo counted $i"),
		wasmTask("wasm-0"), wasmTask("wasm-1"),
	}
	fw := &once{pending: tasks, final: map[string]*kernelpb.TaskStatus{}, done: make(chan struct{}), want: len(tasks)}
	defer startFramework(t, dev, "mixed", fw)()
	select {
	case <-fw.done:
	case <-ctx.Done():
		fw.mu.Lock()
		defer fw.mu.Unlock()
		t.Fatalf("only %d of %d tasks ended: %v", len(fw.final), len(tasks), fw.final)
	}

	fw.mu.Lock()
	final := fw.final
	fw.mu.Unlock()
	want := map[string]kernelpb.TaskState{
		"ctr-echo": kernelpb.TaskState_TASK_FINISHED, "ctr-fail": kernelpb.TaskState_TASK_FAILED,
		"ctr-busy": kernelpb.TaskState_TASK_FINISHED, "ctr-net": kernelpb.TaskState_TASK_FINISHED,
		"wasm-0": kernelpb.TaskState_TASK_FINISHED, "wasm-1": kernelpb.TaskState_TASK_FINISHED,
	}
	for id, state := range want {
		if st := final[id]; st.GetState() != state {
			t.Errorf("%s ended %v (%s), want %v", id, st.GetState(), st.GetMessage(), state)
		}
	}
	if st := final["ctr-fail"]; st.GetExitCode() != 7 || st.GetReason() != kernelpb.Reason_REASON_EXIT_NONZERO {
		t.Errorf("ctr-fail: exit code %d, reason %v; want 7, EXIT_NONZERO", st.GetExitCode(), st.GetReason())
	}
	if u := final["ctr-busy"].GetUsage(); u == nil || u.GetCpuTimeNs() <= 0 {
		t.Errorf("ctr-busy's terminal update reports usage %v, want some CPU time", u)
	}

	if n := <-received; n != sent {
		t.Errorf("the listener received %d bytes from ctr-net, want %d", n, sent)
	}
	u := final["ctr-net"].GetUsage()
	if tx := u.GetNetTxBytes(); tx < sent || tx > sent*11/10 {
		t.Errorf("ctr-net sent %d bytes; its usage counts %d (want between that and 10%% more); usage %v", sent, tx, u)
	}

	c, err := client.New(dev.Master.URL)
	if err != nil {
		t.Fatal(err)
	}
	// What pando ps --json shows: the task's usage, from its terminal update.
	net, err := c.Task(ctx, "ctr-net")
	if err != nil {
		t.Fatal(err)
	}
	if net.Usage == nil || net.Usage.NetTxBytes < sent || net.Usage.MemPeakBytes == 0 {
		t.Errorf("the tasks API shows ctr-net's usage as %+v, want its network and memory", net.Usage)
	}
	for stream, want := range map[string]string{"stdout": "hello from ctr-echo\n", "stderr": "oops\n"} {
		body, err := c.Logs(ctx, "ctr-echo", stream, false)
		if err != nil {
			t.Fatalf("%s of ctr-echo: %v", stream, err)
		}
		got, _ := io.ReadAll(body)
		body.Close()
		if string(got) != want {
			t.Errorf("%s of ctr-echo = %q, want %q", stream, got, want)
		}
	}

	// Everything the tasks held is free again, on the master's books.
	deadline := time.Now().Add(10 * time.Second)
	for {
		agents, err := c.Agents(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(agents) != 1 {
			t.Fatalf("agents: %+v", agents)
		}
		if agents[0].Attributes[node.AttrRuntimes] != "wasm,container" {
			t.Errorf("agent attributes %v: want runtimes wasm,container", agents[0].Attributes)
		}
		used, err := resources.Parse(agents[0].Used)
		if err == nil && used.IsEmpty() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent still has %q used after every task ended", agents[0].Used)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAgentWithoutContainerdRefusesContainerTasks: an agent whose containerd
// is unreachable says so in its attributes, keeps running WASM, and fails a
// container task with the reason.
func TestAgentWithoutContainerdRefusesContainerTasks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dev, err := node.StartDev(ctx, node.DevOptions{
		HTTPAddr: "127.0.0.1:0", DataDir: t.TempDir(), Resources: "cpus:1;mem:1024", Logger: testLogger(t),
		Containerd: filepath.Join(t.TempDir(), "no-such.sock"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Stop(context.Background())
	c, err := client.New(dev.Master.URL)
	if err != nil {
		t.Fatal(err)
	}
	var agents []client.Agent
	for deadline := time.Now().Add(10 * time.Second); len(agents) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		agents, _ = c.Agents(ctx)
	}
	if len(agents) != 1 {
		t.Fatalf("agents: %+v", agents)
	}
	if got := agents[0].Attributes[node.AttrRuntimes]; got != "wasm" {
		t.Errorf("runtimes attribute %q, want wasm", got)
	}
	if got := agents[0].Attributes[node.AttrContainer]; !strings.HasPrefix(got, "unavailable: ") || !strings.Contains(got, "no-such.sock") {
		t.Errorf("container attribute %q, want it to say why there are no containers", got)
	}

	task := &kernelpb.TaskInfo{TaskId: "ctr", Name: "ctr", Resources: resources.MustParse("cpus:0.1;mem:32").ToProto(),
		Runtime: &kernelpb.TaskInfo_Container{Container: &kernelpb.ContainerTask{Image: "sha256:" + strings.Repeat("0", 64)}}}
	fw := &once{pending: []*kernelpb.TaskInfo{task}, final: map[string]*kernelpb.TaskStatus{}, done: make(chan struct{}), want: 1}
	defer startFramework(t, dev, "ctr", fw)()
	select {
	case <-fw.done:
	case <-ctx.Done():
		t.Fatal("the container task never ended")
	}
	st := fw.final["ctr"]
	if st.GetState() != kernelpb.TaskState_TASK_FAILED || st.GetReason() != kernelpb.Reason_REASON_INVALID_TASK ||
		!strings.Contains(st.GetMessage(), "cannot run container tasks") {
		t.Errorf("container task on an agent without containerd: %v %v %q", st.GetState(), st.GetReason(), st.GetMessage())
	}
}
