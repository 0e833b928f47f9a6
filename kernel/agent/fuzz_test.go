package agent_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/pandodc/pando/kernel/agent"
	"github.com/pandodc/pando/kernel/internal/sim"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
)

// agentFuzzInputs are the master's messages to an agent; the fuzzer's kind
// byte picks one (the kinds after them are runtime events and ticks).
var agentFuzzInputs = []func() proto.Message{
	func() proto.Message { return &kernelpb.AgentRegistered{} },
	func() proto.Message { return &kernelpb.Ping{} },
	func() proto.Message { return &kernelpb.RunTask{} },
	func() proto.Message { return &kernelpb.KillTask{} },
	func() proto.Message { return &kernelpb.ShutdownFramework{} },
	func() proto.Message { return &kernelpb.StatusUpdateAck{} },
}

const (
	agentFuzzTaskEvent = iota + 100 // Body: task id; Peer: the state
	agentFuzzTick                   // Body[0]: seconds
	agentFuzzMasterChanged
)

// agentChecker follows what the agent says and does and checks it keeps
// its promises whatever the master sends: it launches a task at most once
// while it holds it, kills only what it holds, reports each task's states
// in lifecycle order (a new update never ranks below an earlier one),
// forgets a terminal task only once its terminal update is acknowledged,
// and never goes back to an older master's epoch.
type agentChecker struct {
	t        *testing.T
	launched map[agent.TaskRef]bool
	rank     map[string]int // update id -> rank, per task below
	lastRank map[agent.TaskRef]int
	epoch    uint64
}

func (c *agentChecker) check(a *agent.Agent, rd agent.Ready, step int) {
	c.t.Helper()
	held := map[agent.TaskRef]agent.TaskView{}
	for _, tv := range a.Tasks() {
		ref := agent.TaskRef{FrameworkID: tv.FrameworkID, TaskID: tv.TaskID}
		held[ref] = tv
		if kernelpb.IsTerminal(tv.State) && tv.PendingUpdates == 0 {
			c.t.Fatalf("step %d: task %v is %v with nothing to acknowledge, yet still held", step, ref, tv.State)
		}
	}
	for _, l := range rd.Launch {
		ref := agent.TaskRef{FrameworkID: l.FrameworkID, TaskID: l.Task.GetTaskId()}
		if c.launched[ref] {
			c.t.Fatalf("step %d: task %v launched twice", step, ref)
		}
		if _, ok := held[ref]; !ok {
			c.t.Fatalf("step %d: launched %v, which the agent does not hold", step, ref)
		}
		c.launched[ref] = true
	}
	for _, k := range rd.Kill {
		if _, ok := held[k]; !ok {
			c.t.Fatalf("step %d: asked to kill %v, which the agent does not hold", step, k)
		}
	}
	for ref := range c.launched {
		if _, ok := held[ref]; !ok {
			delete(c.launched, ref) // forgotten; the agent may take a new one
		}
	}
	for _, msg := range rd.ToMaster {
		up, ok := msg.(*kernelpb.StatusUpdate)
		if !ok || up.Status == nil {
			continue
		}
		ref := agent.TaskRef{FrameworkID: up.FrameworkId, TaskID: up.Status.TaskId}
		r := kernelpb.Rank(up.Status.State)
		if _, retry := c.rank[up.Status.UpdateId]; retry {
			continue
		}
		c.rank[up.Status.UpdateId] = r
		if r < c.lastRank[ref] {
			c.t.Fatalf("step %d: update %s of %v says %v after a later state", step, up.Status.UpdateId, ref, up.Status.State)
		}
		c.lastRank[ref] = r
	}
	if e := a.Epoch(); e < c.epoch {
		c.t.Fatalf("step %d: epoch went back from %d to %d", step, c.epoch, e)
	}
	c.epoch = a.Epoch()
}

// FuzzAgentStep feeds an agent a sequence of master messages, runtime
// events and ticks, and checks its promises (agentChecker) after each.
func FuzzAgentStep(f *testing.F) {
	res := resources.MustParse("cpus:1;mem:64").ToProto()
	wasm := &kernelpb.TaskInfo_Wasm{Wasm: &kernelpb.WasmTask{Module: "sha256:" + strings.Repeat("0", 64)}}
	seeds := [][]byte{}
	add := func(kind, peer byte, m proto.Message) []byte {
		var b []byte
		if m != nil {
			var err error
			if b, err = proto.Marshal(m); err != nil {
				f.Fatal(err)
			}
		}
		return sim.EncodeOp(kind, peer, b)
	}
	life := [][]byte{
		add(0, 0, &kernelpb.AgentRegistered{Epoch: 1, AgentId: "1-A1", PingIntervalMs: 1000}),
		add(2, 0, &kernelpb.RunTask{Epoch: 1, FrameworkId: "f", Task: &kernelpb.TaskInfo{TaskId: "t", Resources: res, Runtime: wasm}}),
		sim.EncodeOp(agentFuzzTaskEvent, byte(kernelpb.TaskState_TASK_RUNNING), []byte("t")),
		add(5, 0, &kernelpb.StatusUpdateAck{Epoch: 1, AgentId: "1-A1", FrameworkId: "f", TaskId: "t", UpdateId: "t-1"}),
		add(3, 0, &kernelpb.KillTask{Epoch: 1, FrameworkId: "f", TaskId: "t"}),
		sim.EncodeOp(agentFuzzTaskEvent, byte(kernelpb.TaskState_TASK_KILLED), []byte("t")),
		sim.EncodeOp(agentFuzzTick, 0, []byte{30}),
		sim.EncodeOp(agentFuzzMasterChanged, 0, nil),
		add(0, 0, &kernelpb.AgentRegistered{Epoch: 2, AgentId: "1-A1"}),
		add(5, 0, &kernelpb.StatusUpdateAck{Epoch: 2, AgentId: "1-A1", FrameworkId: "f", TaskId: "t", UpdateId: "t-2"}),
		add(1, 0, &kernelpb.Ping{Epoch: 1, Seq: 3}),
		add(4, 0, &kernelpb.ShutdownFramework{Epoch: 2, FrameworkId: "f"}),
	}
	var all []byte
	for _, op := range life {
		all = append(all, op...)
		seeds = append(seeds, op)
	}
	seeds = append(seeds, all)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		now := t0
		a := agent.New(agent.Config{Hostname: "h1", Resources: resources.MustParse("cpus:2;mem:1024")})
		a.Start(now)
		c := &agentChecker{t: t, launched: map[agent.TaskRef]bool{}, rank: map[string]int{}, lastRank: map[agent.TaskRef]int{}}
		c.check(a, a.Ready(), -1)
		for i, op := range sim.Ops(data) {
			switch op.Kind {
			case agentFuzzTaskEvent:
				_ = a.TaskEvent(now, agent.TaskEvent{FrameworkID: "f", TaskID: string(op.Body), State: kernelpb.TaskState(op.Peer % 16)})
			case agentFuzzTick:
				if len(op.Body) > 0 {
					now = now.Add(time.Duration(op.Body[0]) * time.Second)
				}
				a.Tick(now)
			case agentFuzzMasterChanged:
				a.MasterChanged(now)
			default:
				msg := agentFuzzInputs[int(op.Kind)%len(agentFuzzInputs)]()
				if proto.Unmarshal(op.Body, msg) != nil {
					continue
				}
				_ = a.Step(now, msg)
			}
			c.check(a, a.Ready(), i)
		}
	})
}
