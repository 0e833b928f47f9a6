package batch

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/sdk"
)

// miniMaster is just enough master to run batch jobs through the real
// sdk.Driver: one agent, an offer whenever the framework revives or
// accepts, and every launched task runs and finishes at once.
type miniMaster struct {
	mu     sync.Mutex
	fw     *actor.PID
	offer  int
	acks   int
	update int
}

func (m *miniMaster) sendOffer(ctx actor.Context) {
	m.offer++
	ctx.Send(m.fw, &kernelpb.Offers{Epoch: 1, Offers: []*kernelpb.Offer{{
		Id: fmt.Sprintf("o%d", m.offer), AgentId: "a1", Hostname: "h1",
		Resources: []*kernelpb.Resource{{Name: "cpus", Milli: 1000}, {Name: "mem", Milli: 1024 * 1000}},
	}}})
}

func (m *miniMaster) Receive(ctx actor.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch msg := ctx.Message().(type) {
	case *kernelpb.Subscribe:
		m.fw = ctx.Sender()
		ctx.Respond(&kernelpb.Subscribed{Epoch: 1, FrameworkId: "fw-batch"})
	case *kernelpb.Revive:
		m.sendOffer(ctx)
	case *kernelpb.Accept:
		for _, op := range msg.GetOperations() {
			for _, task := range op.GetLaunch() {
				for _, s := range []kernelpb.TaskState{kernelpb.TaskState_TASK_RUNNING, kernelpb.TaskState_TASK_FINISHED} {
					m.update++
					ctx.Send(m.fw, &kernelpb.Update{Epoch: 1, Status: &kernelpb.TaskStatus{
						TaskId: task.GetTaskId(), AgentId: "a1", State: s, UpdateId: fmt.Sprintf("u%d", m.update),
					}})
				}
			}
		}
		m.sendOffer(ctx)
	case *kernelpb.Acknowledge:
		m.acks++
	}
}

func TestEndToEndThroughDriver(t *testing.T) {
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	defer system.Shutdown()
	m := &miniMaster{}
	mpid, err := system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return m }), "master")
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(Config{Store: newMemStore()})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Start(sdk.Config{System: system, Master: mpid}); err != nil {
		t.Fatal(err)
	}
	st := submit(t, f, JobSpec{Instances: 25})

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if s, _ := f.Job(st.ID); s.State == StateFinished {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s, _ := f.Job(st.ID); s.State != StateFinished || s.Finished != 25 {
		t.Fatalf("job did not finish: %+v", s)
	}
	if f.FrameworkID() != "fw-batch" {
		t.Fatalf("framework id %q", f.FrameworkID())
	}
	for time.Now().Before(deadline) {
		m.mu.Lock()
		acks := m.acks
		m.mu.Unlock()
		if acks == 50 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the driver did not acknowledge all 50 updates")
}

// BenchmarkOffer measures one offer of 8 cpus (80 tiny tasks) against a job
// of a million instances: the cost must follow the tasks launched, not the
// instances waiting.
func BenchmarkOffer(b *testing.B) {
	f, err := New(Config{Store: newMemStore(), PersistInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	d := &nopDriver{}
	f.onSubscribed(d, "fw", false)
	if _, err := f.Submit(context.Background(), JobSpec{Module: module, Instances: 1_000_000}); err != nil {
		b.Fatal(err)
	}
	offers := []*kernelpb.Offer{offer("o", "a1", "cpus:8;mem:64GiB")}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.onOffers(d, offers)
		if f.pending == 0 {
			b.StopTimer()
			f.mu.Lock()
			j := f.jobs["job-1"]
			for k := range j.inst {
				f.setPhase(j, &j.inst[k], phPending)
				j.queue = append(j.queue, k)
			}
			f.pending = len(j.inst)
			f.addToRotation(j)
			f.mu.Unlock()
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(b.N*80)/b.Elapsed().Seconds(), "tasks/s")
}

type nopDriver struct{}

func (nopDriver) Accept([]string, []*kernelpb.TaskInfo, *kernelpb.Filters) {}
func (nopDriver) Decline([]string, *kernelpb.Filters)                      {}
func (nopDriver) Reconcile([]*kernelpb.ReconcileTask)                      {}
func (nopDriver) Kill(string, string)                                      {}
func (nopDriver) Suppress()                                                {}
func (nopDriver) Revive()                                                  {}
