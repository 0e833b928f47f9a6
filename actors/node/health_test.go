package node_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pandodc/pando/actors/node"
	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/internal/freeport"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
	"github.com/pandodc/pando/runtime/container/containerdtest"
	"github.com/pandodc/pando/sdk"
	"github.com/pandodc/pando/sdk/client"
)

// services launches service instances as a services framework would: each
// on the first offer it fits, with ports taken from the offer
// (sdk.TakePorts, sdk.WithPorts), and records their updates and when each
// was accepted and first reported healthy.
type services struct {
	sdk.NopScheduler
	mu        sync.Mutex
	pending   []instance
	accepted  map[string]time.Time
	healthyIn map[string]time.Duration // from Accept to the first healthy update
	updates   map[string][]*kernelpb.TaskStatus
	driver    *sdk.Driver
}

type instance struct {
	id string
	tb sdk.TaskBuilder
}

func newServices() *services {
	return &services{accepted: map[string]time.Time{}, healthyIn: map[string]time.Duration{}, updates: map[string][]*kernelpb.TaskStatus{}}
}

func (s *services) Subscribed(d *sdk.Driver, _ string, _ bool) {
	s.mu.Lock()
	s.driver = d
	s.mu.Unlock()
}

func (s *services) Offers(d *sdk.Driver, offers []*kernelpb.Offer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range offers {
		avail, _ := resources.FromProto(o.GetResources())
		var launch []*kernelpb.TaskInfo
		rest := s.pending[:0]
		for _, in := range s.pending {
			need := in.tb.Shape("").Resources
			left, err := avail.Subtract(need)
			var ports sdk.Resources
			if err == nil {
				ports, left, err = sdk.TakePorts(left, 1)
			}
			if err != nil {
				rest = append(rest, in)
				continue
			}
			avail = left
			launch = append(launch, in.tb.WithPorts(ports).On(o, in.id))
		}
		s.pending = rest
		if len(launch) == 0 {
			d.Decline([]string{o.GetId()}, &kernelpb.Filters{RefuseSeconds: 0.01})
			continue
		}
		now := time.Now()
		for _, t := range launch {
			s.accepted[t.GetTaskId()] = now
		}
		d.Accept([]string{o.GetId()}, launch, &kernelpb.Filters{RefuseSeconds: 0.01})
	}
}

func (s *services) Update(_ *sdk.Driver, st *kernelpb.TaskStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := st.GetTaskId()
	s.updates[id] = append(s.updates[id], st)
	if _, seen := s.healthyIn[id]; !seen && st.Healthy != nil && *st.Healthy {
		s.healthyIn[id] = time.Since(s.accepted[id])
	}
}

// launch adds instances to launch on the next offers (declined offers come
// back within 10ms).
func (s *services) launch(ins ...instance) {
	s.mu.Lock()
	s.pending = append(s.pending, ins...)
	s.mu.Unlock()
}

// kill kills a launched instance.
func (s *services) kill(id string) {
	s.mu.Lock()
	d, agent := s.driver, ""
	if sts := s.updates[id]; len(sts) > 0 {
		agent = sts[0].GetAgentId()
	}
	s.mu.Unlock()
	d.Kill(id, agent)
}

func (s *services) last(id string) *kernelpb.TaskStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sts := s.updates[id]; len(sts) > 0 {
		return sts[len(sts)-1]
	}
	return nil
}

// history is an instance's updates, for a failing test to say.
func (s *services) history(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, st := range s.updates[id] {
		fmt.Fprintf(&b, "%v %v %q healthy=%v; ", st.GetState(), st.GetReason(), st.GetMessage(), st.Healthy)
	}
	return b.String()
}

// waitFor polls cond until it holds, for at most d.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// serviceDev is a dev cluster with containerd and n free ports to offer,
// with the webserver module and the busybox image in its store.
func serviceDev(tb testing.TB, n int) (dev *node.Dev, module string, image sdk.Image) {
	tb.Helper()
	ctd := containerdtest.Start(tb)
	var ports []string
	for range n {
		ports = append(ports, fmt.Sprint(freeport.Take(tb)))
	}
	dev, err := node.StartDev(context.Background(), node.DevOptions{
		HTTPAddr: "127.0.0.1:0", DataDir: tb.TempDir(), Containerd: ctd.Address,
		Resources: "cpus:2;mem:4096;ports:[" + strings.Join(ports, ",") + "]",
		Logger:    testLogger(tb),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { dev.Stop(context.Background()) })
	return dev, putFile(tb, dev, wasmbuild.MustBuild(tb, "webserver")), sdk.Image{Digest: putFile(tb, dev, containerdtest.BusyboxTarball(tb))}
}

func startServices(t testing.TB, dev *node.Dev) *services {
	t.Helper()
	fw := newServices()
	t.Cleanup(startFramework(t, dev, "services", fw))
	return fw
}

// httpdTask is a busybox httpd serving /health ("ok") on its PORT. It is
// its container's PID 1, which ignores SIGTERM: a short kill grace.
func httpdTask(image sdk.Image) sdk.TaskBuilder {
	return sdk.ContainerTask(image).Resources(resources.MustParse("cpus:0.2;mem:64")).KillGrace(100*time.Millisecond).Command("sh", "-c").
		Args("mkdir -p /tmp/www && echo ok > /tmp/www/health && exec httpd -f -p 127.0.0.1:$PORT -h /tmp/www")
}

func webserverTask(module string) sdk.TaskBuilder {
	return sdk.WasmTask(module).Resources(resources.MustParse("cpus:0.2;mem:64"))
}

// TestHealthChecksOfServices runs HTTP, TCP and COMMAND checks on a real
// WASM webserver and real busybox containers through a whole dev cluster:
// each healthy task is reported healthy and stays RUNNING, the tasks API
// shows its health, and a container failing its command is killed with
// REASON_TASK_UNHEALTHY saying which check failed how.
func TestHealthChecksOfServices(t *testing.T) {
	dev, module, image := serviceDev(t, 5)
	fw := startServices(t, dev)
	fast := func(hc *sdk.HealthCheck) *sdk.HealthCheck {
		hc.IntervalMs, hc.TimeoutMs = 50, 2000
		return hc
	}
	long := 30 * time.Second
	fw.launch(
		instance{"wasm-http", webserverTask(module).HealthCheck(fast(sdk.HTTPCheck("/health", 0, 0, long, 3)))},
		instance{"ctr-http", httpdTask(image).HealthCheck(fast(sdk.HTTPCheck("/health", 0, 0, long, 3)))},
		instance{"ctr-tcp", httpdTask(image).HealthCheck(fast(sdk.TCPCheck(0, 0, long, 3)))},
		instance{"ctr-cmd", httpdTask(image).HealthCheck(fast(sdk.CommandCheck([]string{"test", "-f", "/tmp/www/health"}, 0, 0, long, 3)))},
		instance{"ctr-sick", httpdTask(image).HealthCheck(fast(sdk.CommandCheck([]string{"false"}, 0, 0, 0, 2)))},
	)
	healthy := []string{"wasm-http", "ctr-http", "ctr-tcp", "ctr-cmd"}
	for _, id := range healthy {
		// Long enough for the module's first compilation under -race on a
		// busy machine (it runs on the first launch).
		waitFor(t, 3*time.Minute, id+" healthy", func() bool {
			fw.mu.Lock()
			defer fw.mu.Unlock()
			_, ok := fw.healthyIn[id]
			return ok
		})
		if st := fw.last(id); st.GetState() != kernelpb.TaskState_TASK_RUNNING || st.GetReason() != kernelpb.Reason_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED {
			t.Errorf("%s: last update %v %v %q, want RUNNING TASK_HEALTH_CHECK_STATUS_UPDATED", id, st.GetState(), st.GetReason(), st.GetMessage())
		}
	}
	for deadline := time.Now().Add(2 * time.Minute); !kernelpb.IsTerminal(fw.last("ctr-sick").GetState()); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			// Whether the master saw it end tells a lost update from a
			// task that never ended.
			var master any = "unknown"
			if c, err := client.New(dev.Master.URL); err == nil {
				task, err := c.Task(context.Background(), "ctr-sick")
				master = fmt.Sprintf("%+v (%v)", task, err)
			}
			t.Fatalf("ctr-sick has not ended after 2 minutes; its updates: %s; the master has it as %v", fw.history("ctr-sick"), master)
		}
	}
	want := `COMMAND ["false"] failed 2 times in a row: exited with code 1: ""`
	if st := fw.last("ctr-sick"); st.GetState() != kernelpb.TaskState_TASK_KILLED || st.GetReason() != kernelpb.Reason_REASON_TASK_UNHEALTHY || st.GetMessage() != want {
		t.Errorf("ctr-sick ended %v %v %q, want KILLED TASK_UNHEALTHY %q", st.GetState(), st.GetReason(), st.GetMessage(), want)
	}

	c, err := client.New(dev.Master.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range healthy {
		task, err := c.Task(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if task.Healthy == nil || !*task.Healthy || task.State != "TASK_RUNNING" {
			t.Errorf("the tasks API shows %s as %s healthy=%v, want TASK_RUNNING healthy=true", id, task.State, task.Healthy)
		}
	}
}
