package node_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/pandodc/pando/actors/node"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
	"github.com/pandodc/pando/runtime/container"
	"github.com/pandodc/pando/runtime/container/containerdtest"
	"github.com/pandodc/pando/sdk"
)

// timed launches batches of container tasks and records, per task, the
// time from its Accept to its RUNNING update and to its end.
type timed struct {
	mu       sync.Mutex
	pending  []*kernelpb.TaskInfo
	accepted map[string]time.Time
	running  map[string]time.Duration
	// launch is, per task, the agent's time from STARTING to RUNNING
	// (the runtime's Launch), from the updates' timestamps.
	starting map[string]int64
	launch   map[string]time.Duration
	ended    map[string]kernelpb.TaskState
	wantEnd  int
	done     chan struct{}
}

func (f *timed) Subscribed(*sdk.Driver, string, bool) {}
func (f *timed) Rescinded(*sdk.Driver, string)        {}
func (f *timed) Disconnected(*sdk.Driver, error)      {}
func (f *timed) Error(*sdk.Driver, string)            {}

func (f *timed) Offers(d *sdk.Driver, offers []*kernelpb.Offer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range offers {
		free, _ := resources.FromProto(o.GetResources())
		var launch []*kernelpb.TaskInfo
		for len(f.pending) > 0 {
			need, _ := resources.FromProto(f.pending[0].GetResources())
			if !free.Contains(need) {
				break
			}
			free, _ = free.Subtract(need)
			t := f.pending[0]
			f.pending = f.pending[1:]
			t.AgentId = o.GetAgentId()
			launch = append(launch, t)
		}
		if len(launch) == 0 {
			d.Decline([]string{o.GetId()}, nil)
			continue
		}
		now := time.Now()
		for _, t := range launch {
			f.accepted[t.GetTaskId()] = now
		}
		d.Accept([]string{o.GetId()}, launch, &kernelpb.Filters{RefuseSeconds: 0.001})
	}
}

func (f *timed) Update(_ *sdk.Driver, st *kernelpb.TaskStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := st.GetTaskId()
	switch st.GetState() {
	case kernelpb.TaskState_TASK_STARTING:
		f.starting[id] = st.GetTimestampNs()
	case kernelpb.TaskState_TASK_RUNNING:
		if s, ok := f.starting[id]; ok {
			f.launch[id] = time.Duration(st.GetTimestampNs() - s)
		}
	}
	if st.GetState() == kernelpb.TaskState_TASK_RUNNING {
		if _, ok := f.running[id]; !ok {
			f.running[id] = time.Since(f.accepted[id])
		}
	}
	if kernelpb.IsTerminal(st.GetState()) {
		if _, ok := f.ended[id]; !ok {
			f.ended[id] = st.GetState()
			if len(f.ended) == f.wantEnd {
				close(f.done)
			}
		}
	}
}

// run launches tasks and waits until they all end.
func (f *timed) run(b *testing.B, d *sdk.Driver, tasks []*kernelpb.TaskInfo) {
	b.Helper()
	f.mu.Lock()
	f.pending = append(f.pending, tasks...)
	f.wantEnd = len(f.ended) + len(tasks)
	f.done = make(chan struct{})
	done := f.done
	f.mu.Unlock()
	d.Revive()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		b.Fatalf("tasks did not end in time: %d ended", len(f.ended))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range tasks {
		if s := f.ended[t.GetTaskId()]; s != kernelpb.TaskState_TASK_FINISHED {
			b.Fatalf("task %s ended %v", t.GetTaskId(), s)
		}
	}
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*p)]
}

// BenchmarkContainerStart measures container tasks through Pando next to
// bare containerd in the same run, on the same containerd and image:
//   - latency: one task at a time, Pando from the framework's Accept to its
//     RUNNING update; bare containerd from NewContainer to Start returning
//     (p50 and p90 of each, and the overhead of Pando's p50);
//     agent-launch is the part spent in the agent, from its STARTING to its
//     RUNNING update (fetching, the runtime's Launch);
//   - throughput: 100 tasks launched at once until all have ended, next to
//     100 containers created, started and waited for directly.
func BenchmarkContainerStart(b *testing.B) {
	ctd := containerdtest.Start(b)
	dev, err := node.StartDev(context.Background(), node.DevOptions{
		HTTPAddr: "127.0.0.1:0", DataDir: b.TempDir(), Resources: "cpus:2;mem:8192", Containerd: ctd.Address,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer dev.Stop(context.Background())
	tarball := containerdtest.BusyboxTarball(b)
	data, _ := os.ReadFile(tarball)
	digest, err := dev.Master.Artifacts.Put(data)
	if err != nil {
		b.Fatal(err)
	}
	fw := &timed{accepted: map[string]time.Time{}, running: map[string]time.Duration{}, ended: map[string]kernelpb.TaskState{},
		starting: map[string]int64{}, launch: map[string]time.Duration{}}
	d, err := sdk.NewDriver(sdk.Config{Framework: &kernelpb.FrameworkInfo{Name: "bench"}, System: dev.Master.System.Actors, Master: dev.Master.PID}, fw)
	if err != nil {
		b.Fatal(err)
	}
	if err := d.Start(); err != nil {
		b.Fatal(err)
	}
	defer d.Stop(false)
	// A CPU limit is a CFS quota: a container of cpus:0.01 gets 1ms of CPU
	// each 100ms, and its start (runc, the shell) waits for it. The
	// latency tasks get a whole core, so that what is timed is the start,
	// not the quota; the throughput tasks a quarter, 8 at a time, as the
	// bare containers run.
	whole, quarter := resources.MustParse("cpus:1;mem:32").ToProto(), resources.MustParse("cpus:0.25;mem:32").ToProto()
	per := whole
	n := 0
	task := func() *kernelpb.TaskInfo {
		n++
		id := fmt.Sprintf("c%d", n)
		return &kernelpb.TaskInfo{TaskId: id, Name: id, Resources: per, Runtime: &kernelpb.TaskInfo_Container{
			Container: &kernelpb.ContainerTask{Image: digest, Command: []string{"true"}},
		}}
	}
	fw.run(b, d, []*kernelpb.TaskInfo{task()}) // imports the image, outside the figures

	client, err := containerd.New(ctd.Address)
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	ctx := namespaces.WithNamespace(context.Background(), container.DefaultNamespace)
	images, err := client.ListImages(ctx)
	if err != nil || len(images) == 0 {
		b.Fatalf("the image Pando imported is not in containerd: %v %v", images, err)
	}
	image := images[0]
	bare := func(id string) (time.Duration, func()) {
		start := time.Now()
		c, err := client.NewContainer(ctx, id, containerd.WithNewSnapshot(id, image),
			containerd.WithNewSpec(oci.WithImageConfig(image), oci.WithProcessArgs("true")))
		if err != nil {
			b.Fatal(err)
		}
		t, err := c.NewTask(ctx, cio.NullIO)
		if err != nil {
			b.Fatal(err)
		}
		exited, err := t.Wait(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := t.Start(ctx); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		return took, func() {
			<-exited
			_, _ = t.Delete(ctx)
			_ = c.Delete(ctx, containerd.WithSnapshotCleanup)
		}
	}

	const sequential, batch = 20, 100
	b.ResetTimer()
	var pandoLat, bareLat, launchLat []time.Duration
	for i := range sequential {
		t := task()
		fw.run(b, d, []*kernelpb.TaskInfo{t})
		fw.mu.Lock()
		pandoLat = append(pandoLat, fw.running[t.GetTaskId()])
		launchLat = append(launchLat, fw.launch[t.GetTaskId()])
		fw.mu.Unlock()
		took, cleanup := bare(fmt.Sprintf("bare-%d", i))
		cleanup()
		bareLat = append(bareLat, took)
	}
	per = quarter
	var tasks []*kernelpb.TaskInfo
	for range batch {
		tasks = append(tasks, task())
	}
	start := time.Now()
	fw.run(b, d, tasks)
	pandoBatch := time.Since(start)
	start = time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8) // as many at once as the agent's executor goroutines would start
	for i := range batch {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, cleanup := bare(fmt.Sprintf("bare-batch-%d", i))
			cleanup()
		}()
	}
	wg.Wait()
	bareBatch := time.Since(start)
	b.StopTimer()

	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(percentile(pandoLat, 0.5)), "pando-p50-ms")
	b.ReportMetric(ms(percentile(pandoLat, 0.9)), "pando-p90-ms")
	b.ReportMetric(ms(percentile(launchLat, 0.5)), "agent-launch-p50-ms")
	b.ReportMetric(ms(percentile(bareLat, 0.5)), "bare-p50-ms")
	b.ReportMetric(ms(percentile(bareLat, 0.9)), "bare-p90-ms")
	b.ReportMetric(float64(percentile(pandoLat, 0.5))/float64(percentile(bareLat, 0.5)), "p50-ratio")
	b.ReportMetric(batch/pandoBatch.Seconds(), "pando-tasks/s")
	b.ReportMetric(batch/bareBatch.Seconds(), "bare-tasks/s")
}
