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

// The shell's own inputs follow the protocol messages in the fuzzer's
// choice of kind; each also advances the clock and runs a round.
const (
	fuzzDisconnected = iota + 100
	fuzzOperatorKill
	fuzzTick
)

// FuzzMasterStep feeds the master a sequence of inputs (protocol messages
// from any peer, disconnections, operator kills, ticks and rounds) on top
// of a cluster with an agent, a framework holding an offer and a running
// task, and checks the master's invariants after every input: nothing
// allocated twice, every task accounted for.
func FuzzMasterStep(f *testing.F) {
	seeds := []proto.Message{
		&kernelpb.RegisterAgent{Hostname: "h", Resources: []*kernelpb.Resource{{Name: "cpus", Milli: 1000}}},
		&kernelpb.StatusUpdate{AgentId: "1-A1", FrameworkId: "1-F1", Status: &kernelpb.TaskStatus{TaskId: "t1", State: kernelpb.TaskState_TASK_RUNNING, UpdateId: "u"}},
		&kernelpb.Pong{AgentId: "1-A1", Seq: 1},
		&kernelpb.Subscribe{Framework: &kernelpb.FrameworkInfo{Name: "x", Roles: []string{"r"}}},
		accept("1-F1", []string{"1-O2"}, wasmTask("t2", "cpus:1;mem:64")),
		&kernelpb.Decline{FrameworkId: "1-F1", OfferIds: []string{"1-O2"}, Filters: &kernelpb.Filters{RefuseSeconds: 1e300}},
		&kernelpb.Revive{FrameworkId: "1-F1"},
		&kernelpb.Suppress{FrameworkId: "1-F1"},
		ack("1-F1", "1-A1", "t1", "t1-1"),
		&kernelpb.Reconcile{FrameworkId: "1-F1", Tasks: []*kernelpb.ReconcileTask{{TaskId: "t1"}}},
		&kernelpb.Kill{FrameworkId: "1-F1", TaskId: "t1"},
		&kernelpb.Teardown{FrameworkId: "1-F1"},
	}
	var all []byte
	for i, s := range seeds {
		b, err := proto.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(sim.EncodeOp(byte(i), 1, b))
		f.Add(sim.EncodeOp(byte(i), 0, b))
		all = append(all, sim.EncodeOp(byte(i), byte(i%2), b)...)
	}
	f.Add(all)
	f.Add(append(sim.EncodeOp(fuzzOperatorKill, 0, []byte("t1")), sim.EncodeOp(fuzzDisconnected, 0, nil)...))
	f.Add(append(sim.EncodeOp(fuzzDisconnected, 1, nil), sim.EncodeOp(fuzzTick, 0, []byte{200})...))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := sim.New(master.Config{PingInterval: time.Hour, HeartbeatInterval: -1})
		c.Quiet = true
		c.AddAgent("a1", "cpus:2;mem:1024")
		c.Subscribe("fw1", time.Minute)
		c.Allocate()
		c.Send("fw1", accept("1-F1", []string{"1-O1"}, wasmTask("t1", "cpus:1;mem:64")))
		c.TaskEvent("a1", "1-F1", "t1", kernelpb.TaskState_TASK_RUNNING)
		c.Allocate()
		m := c.Master
		for i, op := range sim.Ops(data) {
			from := fuzzPeers[int(op.Peer)%len(fuzzPeers)]
			switch op.Kind {
			case fuzzDisconnected:
				_ = m.Step(c.Now, from, master.Disconnected{})
			case fuzzOperatorKill:
				_ = m.Step(c.Now, "operator", master.OperatorKill{TaskID: string(op.Body)})
			case fuzzTick:
				var d time.Duration
				if len(op.Body) > 0 {
					d = time.Duration(op.Body[0]) * time.Second
				}
				c.Now = c.Now.Add(d)
				m.Tick(c.Now)
				m.Allocate(c.Now)
			default:
				msg := fuzzInputs[int(op.Kind)%len(fuzzInputs)]()
				if proto.Unmarshal(op.Body, msg) != nil {
					continue
				}
				_ = m.Step(c.Now, from, msg)
			}
			m.Ready()
			if problems := masterInvariants(m); len(problems) > 0 {
				t.Fatalf("after input %d (kind %d from %s): %v", i, op.Kind, from, problems)
			}
		}
		m.Tick(c.Now.Add(time.Minute))
		m.Allocate(c.Now.Add(time.Minute))
		if problems := masterInvariants(m); len(problems) > 0 {
			t.Fatalf("after the last tick and round: %v", problems)
		}
	})
}
