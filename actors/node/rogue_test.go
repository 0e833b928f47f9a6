package node_test

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/emptypb"

	amaster "github.com/pandodc/pando/actors/master"
	"github.com/pandodc/pando/actors/node"
	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/kernel/kernelpb"
	kmaster "github.com/pandodc/pando/kernel/master"
	"github.com/pandodc/pando/sdk"
)

// rogue is a peer that sends the master whatever it is told to and keeps
// the master's answers.
type rogue struct {
	master *actor.PID
	mu     sync.Mutex
	errors []string
}

type sendToMaster struct{ msg any }

func (r *rogue) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case sendToMaster:
		ctx.Request(r.master, msg.msg)
	case *kernelpb.Error:
		r.mu.Lock()
		r.errors = append(r.errors, msg.GetMessage())
		r.mu.Unlock()
	}
}

// A framework that sends the master nonsense gets told why, and the master
// keeps serving an honest framework meanwhile, which finishes its tasks.
func TestRogueFrameworkDoesNotDisturbOthers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dev, err := node.StartDev(ctx, node.DevOptions{
		HTTPAddr: "127.0.0.1:0", DataDir: t.TempDir(), Resources: "cpus:2;mem:2048", Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Stop(context.Background())
	digest := putFile(t, dev, wasmbuild.MustBuild(t, "tiny"))
	system := dev.Master.System.Actors
	r := &rogue{master: dev.Master.PID}
	pid := system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return r }))

	const n = 200
	honest := newLauncher(digest, n)
	driver, err := sdk.NewDriver(sdk.Config{Framework: &kernelpb.FrameworkInfo{Name: "honest"}, System: system, Master: dev.Master.PID}, honest)
	if err != nil {
		t.Fatal(err)
	}
	if err := driver.Start(); err != nil {
		t.Fatal(err)
	}
	defer driver.Stop(false)

	nonsense := []any{
		&kernelpb.Accept{}, // no framework
		&kernelpb.Accept{FrameworkId: "F-nobody", OfferIds: []string{"O-x"}},
		&kernelpb.Subscribe{}, // no FrameworkInfo
		&kernelpb.Subscribe{Framework: &kernelpb.FrameworkInfo{Name: strings.Repeat("x", 1<<16), Roles: []string{"", "a/b"}}},
		&kernelpb.Kill{FrameworkId: "F-nobody", TaskId: "t"},
		&kernelpb.Acknowledge{TaskId: "t", UpdateId: "u"},
		&kernelpb.Reconcile{FrameworkId: "F-nobody"},
		&kernelpb.Decline{OfferIds: []string{"", "O-1"}},
		&kernelpb.StatusUpdate{Status: &kernelpb.TaskStatus{State: kernelpb.TaskState(math.MaxInt32)}}, // an agent's message
		&emptypb.Empty{}, // not the protocol at all
		"not even protobuf",
	}
	for _, m := range nonsense {
		system.Root.Send(pid, sendToMaster{m})
	}
	select {
	case <-honest.done:
	case <-ctx.Done():
		t.Fatalf("the honest framework's tasks did not all end beside the rogue")
	}
	honest.mu.Lock()
	for id, s := range honest.states {
		if s != kernelpb.TaskState_TASK_FINISHED {
			t.Errorf("honest task %s ended %s", id, s)
		}
	}
	honest.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		got := len(r.errors)
		r.mu.Unlock()
		if got >= 5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errors) < 5 {
		t.Fatalf("the rogue was told why for %d of its messages, want most of them; it heard %q", len(r.errors), r.errors)
	}
	t.Logf("the rogue heard: %q", r.errors)
	for _, e := range r.errors {
		if strings.TrimSpace(e) == "" {
			t.Errorf("an empty refusal: %q", r.errors)
		}
	}
	// The master is still answering, and counted the refusals.
	counters, err := amaster.Query(ctx, system, dev.Master.PID, func(m kmaster.Views, _ time.Time) kmaster.Counters { return m.Counters() })
	if err != nil {
		t.Fatalf("the master stopped answering queries: %v", err)
	}
	if counters.InvalidMessages < uint64(len(r.errors)) {
		t.Errorf("the master counted %d invalid messages, fewer than the %d refusals it sent", counters.InvalidMessages, len(r.errors))
	}
}
