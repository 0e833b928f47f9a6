package master_test

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/master"
	"github.com/pandodc/pando/kernel/resources"
)

// The memory benchmarks report how much heap the master holds per
// registered agent, per tracked (running) task and per completed task kept
// for queries: the growth of the live heap (after a full GC) while a master
// is built through Step, as the actor shell builds it. The figures include
// the allocator the master owns. Messages are built the way their senders
// build them (a task is what the batch framework launches) and every
// Ready is drained, so only what the master keeps is counted.
//
// Run: go test ./kernel/master/ -run '^$' -bench Memory -benchtime=1x

const (
	memAgents = 10_000
	memTasks  = 100_000
	// memTasksPerAgent tasks fill one agent exactly (memTaskAgentRes), so
	// an accept leaves nothing to decline.
	memTasksPerAgent = 100
	memTaskAgentRes  = "cpus:10;mem:6400MiB"
	memTaskRes       = "cpus:0.1;mem:64MiB"
	// memWaveAgents bounds the active tasks while completed ones pile up
	// (memWaveAgents*memTasksPerAgent at a time), so that the active
	// tables' capacity does not blur the completed tasks' cost.
	memWaveAgents = 50
)

var memNow = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func memStep(b *testing.B, m *master.Master, from master.Peer, msg any) []master.Envelope {
	b.Helper()
	if err := m.Step(memNow, from, msg); err != nil {
		b.Fatalf("step %T from %s: %v", msg, from, err)
	}
	return m.Ready().Messages
}

func memAgentPeer(i int) master.Peer {
	return master.Peer(fmt.Sprintf("10.0.%d.%d:5051/agent", i/250, i%250))
}

// memRegister registers agents 0..n-1 (peers memAgentPeer) with res and
// returns their ids in order.
func memRegister(b *testing.B, m *master.Master, n int, res string) []string {
	b.Helper()
	total := resources.MustParse(res)
	ids := make([]string, n)
	for i := range n {
		peer := memAgentPeer(i)
		out := memStep(b, m, peer, &kernelpb.RegisterAgent{
			Hostname:    fmt.Sprintf("node-%05d.dc1.example.com", i),
			HttpAddress: fmt.Sprintf("10.0.%d.%d:5051", i/250, i%250),
			Resources:   total.ToProto(),
			Attributes:  map[string]string{"rack": fmt.Sprintf("r%03d", i/40), "zone": fmt.Sprintf("z%d", i%3)},
		})
		if len(out) != 1 {
			b.Fatalf("agent %d: %d messages back, want AgentRegistered", i, len(out))
		}
		ids[i] = out[0].Msg.(*kernelpb.AgentRegistered).AgentId
	}
	return ids
}

// memSubscribe subscribes the batch framework and returns its id.
func memSubscribe(b *testing.B, m *master.Master) (master.Peer, string) {
	b.Helper()
	const peer = master.Peer("10.0.200.1:6000/batch")
	out := memStep(b, m, peer, &kernelpb.Subscribe{Framework: &kernelpb.FrameworkInfo{
		Name: "batch", Roles: []string{"*"}, FailoverTimeoutMs: time.Hour.Milliseconds(),
	}})
	return peer, out[0].Msg.(*kernelpb.Subscribed).FrameworkId
}

// memOffers runs an allocation round and returns the framework's offers.
func memOffers(b *testing.B, m *master.Master) []*kernelpb.Offer {
	b.Helper()
	m.Allocate(memNow)
	var offers []*kernelpb.Offer
	for _, env := range m.Ready().Messages {
		if o, ok := env.Msg.(*kernelpb.Offers); ok {
			offers = append(offers, o.Offers...)
		}
	}
	return offers
}

// memTaskInfo is a task as the batch framework launches it.
func memTaskInfo(agentID string, n int) *kernelpb.TaskInfo {
	inst := strconv.Itoa(n)
	id := "job-1." + inst + ".0"
	return &kernelpb.TaskInfo{
		TaskId:    id,
		Name:      "hello." + inst,
		AgentId:   agentID,
		Resources: resources.MustParse(memTaskRes).ToProto(),
		Runtime:   &kernelpb.TaskInfo_Wasm{Wasm: &kernelpb.WasmTask{Module: module}},
		Env:       map[string]string{"PANDO_TASK_ID": id, "PANDO_INSTANCE": inst, "PANDO_JOB": "job-1"},
		Labels:    map[string]string{"pando.job": "job-1", "pando.instance": inst},
	}
}

// memLaunch accepts every offer with memTasksPerAgent tasks, numbered from
// next, then reports each task RUNNING from its agent and acknowledges
// that; with finish, also FINISHED and its acknowledgement, which settles
// the task. It returns the next task number.
func memLaunch(b *testing.B, m *master.Master, fwPeer master.Peer, fwID string, offers []*kernelpb.Offer, peers map[string]master.Peer, next int, finish bool) int {
	b.Helper()
	for _, o := range offers {
		first := next
		tasks := make([]*kernelpb.TaskInfo, memTasksPerAgent)
		for i := range tasks {
			tasks[i] = memTaskInfo(o.AgentId, next)
			next++
		}
		memStep(b, m, fwPeer, accept(fwID, []string{o.Id}, tasks...))
		states := []kernelpb.TaskState{running}
		if finish {
			states = append(states, finished)
		}
		for seq, s := range states {
			for n := first; n < next; n++ {
				taskID := "job-1." + strconv.Itoa(n) + ".0"
				updateID := taskID + "-" + strconv.Itoa(seq+1)
				memStep(b, m, peers[o.AgentId], &kernelpb.StatusUpdate{
					AgentId: o.AgentId, FrameworkId: fwID, LatestState: s,
					Status: &kernelpb.TaskStatus{
						TaskId: taskID, State: s, FrameworkId: fwID, Source: kernelpb.Source_SOURCE_EXECUTOR,
						TimestampNs: memNow.UnixNano(), UpdateId: updateID,
					},
				})
				memStep(b, m, fwPeer, ack(fwID, o.AgentId, taskID, updateID))
			}
		}
	}
	return next
}

func peersByID(ids []string) map[string]master.Peer {
	out := make(map[string]master.Peer, len(ids))
	for i, id := range ids {
		out[id] = memAgentPeer(i)
	}
	return out
}

// BenchmarkMemoryPerAgent registers memAgents agents with realistic
// resources (ports included) and attributes.
func BenchmarkMemoryPerAgent(b *testing.B) {
	var perAgent float64
	for range b.N {
		before := liveHeap()
		m := master.New(master.Config{})
		memRegister(b, m, memAgents, "cpus:32;mem:256GiB;disk:1TiB;ports:[31000-32000]")
		after := liveHeap()
		runtime.KeepAlive(m)
		perAgent += float64(after-before) / memAgents
	}
	b.ReportMetric(perAgent/float64(b.N), "B/agent")
}

// BenchmarkMemoryPerTask has one framework launch memTasks tasks over
// memTasks/memTasksPerAgent agents, each reported RUNNING and acknowledged.
func BenchmarkMemoryPerTask(b *testing.B) {
	var perTask float64
	for range b.N {
		m := master.New(master.Config{OfferTimeout: -1, HeartbeatInterval: -1})
		ids := memRegister(b, m, memTasks/memTasksPerAgent, memTaskAgentRes)
		fwPeer, fwID := memSubscribe(b, m)
		offers := memOffers(b, m)
		if len(offers) != len(ids) {
			b.Fatalf("%d offers for %d agents", len(offers), len(ids))
		}
		before := liveHeap()
		memLaunch(b, m, fwPeer, fwID, offers, peersByID(ids), 0, false)
		after := liveHeap()
		runtime.KeepAlive(m)
		if got := len(m.Tasks(master.TaskFilter{ActiveOnly: true, State: running})); got != memTasks {
			b.Fatalf("%d running tasks, want %d", got, memTasks)
		}
		perTask += float64(after-before) / memTasks
	}
	b.ReportMetric(perTask/float64(b.N), "B/task")
}

// BenchmarkMemoryPerCompletedTask runs memTasks tasks to FINISHED, in
// waves over memWaveAgents agents, with room for all of them in the ring
// of completed tasks (MaxCompletedTasks, 10,000 by default, bounds it).
func BenchmarkMemoryPerCompletedTask(b *testing.B) {
	var perTask float64
	for range b.N {
		m := master.New(master.Config{OfferTimeout: -1, HeartbeatInterval: -1, MaxCompletedTasks: memTasks})
		ids := memRegister(b, m, memWaveAgents, memTaskAgentRes)
		peers := peersByID(ids)
		fwPeer, fwID := memSubscribe(b, m)
		before := liveHeap()
		for next := 0; next < memTasks; {
			offers := memOffers(b, m)
			if len(offers) != len(ids) {
				b.Fatalf("%d offers for %d agents", len(offers), len(ids))
			}
			next = memLaunch(b, m, fwPeer, fwID, offers, peers, next, true)
		}
		after := liveHeap()
		runtime.KeepAlive(m)
		if got := len(m.Tasks(master.TaskFilter{State: finished})); got != memTasks {
			b.Fatalf("%d finished tasks, want %d", got, memTasks)
		}
		perTask += float64(after-before) / memTasks
	}
	b.ReportMetric(perTask/float64(b.N), "B/completed-task")
}
