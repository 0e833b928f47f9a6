package master_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/pandodc/pando/kernel/internal/sim"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/master"
)

// fuzzInputs are the message types the master accepts; the fuzzer's first
// byte picks one, the second the sender, the rest is the protobuf body.
var fuzzInputs = []func() proto.Message{
	func() proto.Message { return &kernelpb.RegisterAgent{} },
	func() proto.Message { return &kernelpb.StatusUpdate{} },
	func() proto.Message { return &kernelpb.Pong{} },
	func() proto.Message { return &kernelpb.Subscribe{} },
	func() proto.Message { return &kernelpb.Accept{} },
	func() proto.Message { return &kernelpb.Decline{} },
	func() proto.Message { return &kernelpb.Revive{} },
	func() proto.Message { return &kernelpb.Suppress{} },
	func() proto.Message { return &kernelpb.Acknowledge{} },
	func() proto.Message { return &kernelpb.Reconcile{} },
	func() proto.Message { return &kernelpb.Kill{} },
	func() proto.Message { return &kernelpb.Teardown{} },
}

var fuzzPeers = []master.Peer{"a1", "fw1", "fw2", "nobody"}

func FuzzMasterStep(f *testing.F) {
	seeds := []proto.Message{
		&kernelpb.RegisterAgent{Hostname: "h", Resources: []*kernelpb.Resource{{Name: "cpus", Milli: 1000}}},
		&kernelpb.StatusUpdate{AgentId: "1-A1", FrameworkId: "1-F1", Status: &kernelpb.TaskStatus{TaskId: "t1", State: kernelpb.TaskState_TASK_RUNNING, UpdateId: "u"}},
		&kernelpb.Pong{AgentId: "1-A1", Seq: 1},
		&kernelpb.Subscribe{Framework: &kernelpb.FrameworkInfo{Name: "x", Roles: []string{"r"}}},
		accept("1-F1", []string{"1-O1"}, wasmTask("t1", "cpus:1;mem:64")),
		&kernelpb.Decline{FrameworkId: "1-F1", OfferIds: []string{"1-O1"}, Filters: &kernelpb.Filters{RefuseSeconds: 1e300}},
		&kernelpb.Revive{FrameworkId: "1-F1"},
		&kernelpb.Suppress{FrameworkId: "1-F1"},
		ack("1-F1", "1-A1", "t1", "t1-1"),
		&kernelpb.Reconcile{FrameworkId: "1-F1", Tasks: []*kernelpb.ReconcileTask{{TaskId: "t1"}}},
		&kernelpb.Kill{FrameworkId: "1-F1", TaskId: "t1"},
		&kernelpb.Teardown{FrameworkId: "1-F1"},
	}
	for i, s := range seeds {
		b, err := proto.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(append([]byte{byte(i), 1}, b...))
		f.Add(append([]byte{byte(i), 0}, b...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		msg := fuzzInputs[int(data[0])%len(fuzzInputs)]()
		if proto.Unmarshal(data[2:], msg) != nil {
			return
		}
		// A cluster with an agent, a framework holding an offer and a
		// running task, so that inputs reach deep paths.
		c := sim.New(master.Config{PingInterval: time.Hour, HeartbeatInterval: -1})
		c.Quiet = true
		c.AddAgent("a1", "cpus:2;mem:1024")
		c.Subscribe("fw1", time.Minute)
		c.Allocate()
		c.Send("fw1", accept("1-F1", []string{"1-O1"}, wasmTask("t1", "cpus:1;mem:64")))
		c.TaskEvent("a1", "1-F1", "t1", kernelpb.TaskState_TASK_RUNNING)
		c.Allocate()
		from := fuzzPeers[int(data[1])%len(fuzzPeers)]
		_ = c.Master.Step(c.Now, from, msg)
		c.Master.Tick(c.Now.Add(time.Minute))
		c.Master.Allocate(c.Now.Add(time.Minute))
		c.Master.Ready()
		_ = c.Master.Tasks(master.TaskFilter{})
		_ = c.Master.Agents()
		_ = c.Master.Frameworks()
	})
}
