package agent_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/pandodc/pando/kernel/agent"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func newAgent(t *testing.T, cfg agent.Config) *agent.Agent {
	t.Helper()
	if cfg.Hostname == "" {
		cfg.Hostname = "h1"
	}
	if cfg.Resources.IsEmpty() {
		cfg.Resources = resources.MustParse("cpus:2;mem:1024")
	}
	return agent.New(cfg)
}

// show prints what the agent sent to the master, one message per line.
func show(msgs []proto.Message) string {
	var out []string
	for _, m := range msgs {
		switch m := m.(type) {
		case *kernelpb.RegisterAgent:
			var tasks []string
			for i, ti := range m.Tasks {
				tasks = append(tasks, fmt.Sprintf("%s/%s:%v", m.TaskFrameworkIds[i], ti.TaskId, m.TaskStates[i].State))
			}
			out = append(out, fmt.Sprintf("RegisterAgent{%s %v}", m.AgentId, tasks))
		case *kernelpb.StatusUpdate:
			out = append(out, fmt.Sprintf("StatusUpdate{%s %s/%s %v %s latest:%v}", m.AgentId, m.FrameworkId, m.Status.TaskId, m.Status.State, m.Status.UpdateId, m.LatestState))
		case *kernelpb.Pong:
			out = append(out, fmt.Sprintf("Pong{%s %d}", m.AgentId, m.Seq))
		default:
			out = append(out, fmt.Sprintf("%T", m))
		}
	}
	return strings.Join(out, "\n")
}

func expect(t *testing.T, a *agent.Agent, want string) agent.Ready {
	t.Helper()
	rd := a.Ready()
	var lines []string
	for _, l := range strings.Split(want, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if got := show(rd.ToMaster); got != strings.Join(lines, "\n") {
		t.Fatalf("to master:\n%s\nwant:\n%s", got, strings.Join(lines, "\n"))
	}
	return rd
}

func runTask(epoch uint64, fw, id string) *kernelpb.RunTask {
	return &kernelpb.RunTask{Epoch: epoch, FrameworkId: fw, FrameworkName: "f", Task: &kernelpb.TaskInfo{
		TaskId: id, Resources: resources.MustParse("cpus:1").ToProto(),
	}}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func registered(t *testing.T, cfg agent.Config) *agent.Agent {
	t.Helper()
	a := newAgent(t, cfg)
	a.Start(t0)
	must(t, a.Step(t0, &kernelpb.AgentRegistered{Epoch: 1, AgentId: "1-A1", PingIntervalMs: 1000}))
	expect(t, a, `RegisterAgent{ []}`)
	return a
}

func TestRegisterRetriesUntilAnsweredAndBuffersUpdates(t *testing.T) {
	a := newAgent(t, agent.Config{RegisterRetry: 2 * time.Second})
	a.Start(t0)
	expect(t, a, `RegisterAgent{ []}`)
	a.Tick(t0.Add(time.Second))
	expect(t, a, ``)
	a.Tick(t0.Add(2 * time.Second))
	expect(t, a, `RegisterAgent{ []}`)

	// A task arrives (the AgentRegistered was lost) and runs: its update
	// waits for the registration.
	must(t, a.Step(t0, runTask(1, "f1", "t1")))
	must(t, a.TaskEvent(t0, agent.TaskEvent{FrameworkID: "f1", TaskID: "t1", State: kernelpb.TaskState_TASK_RUNNING}))
	expect(t, a, ``)
	a.Tick(t0.Add(4 * time.Second))
	expect(t, a, `RegisterAgent{ [f1/t1:TASK_RUNNING]}`)
	must(t, a.Step(t0.Add(4*time.Second), &kernelpb.AgentRegistered{Epoch: 1, AgentId: "1-A1", PingIntervalMs: 1000}))
	expect(t, a, `StatusUpdate{1-A1 f1/t1 TASK_RUNNING t1-1 latest:TASK_RUNNING}`)
	if !a.Registered() || a.ID() != "1-A1" {
		t.Fatalf("registered=%v id=%s", a.Registered(), a.ID())
	}
}

func TestEpochFencing(t *testing.T) {
	a := registered(t, agent.Config{})
	must(t, a.Step(t0, &kernelpb.Ping{Epoch: 2, Seq: 7}))
	expect(t, a, `Pong{1-A1 7}`)
	for _, stale := range []proto.Message{
		&kernelpb.Ping{Epoch: 1, Seq: 8},
		runTask(1, "f1", "t1"),
		&kernelpb.KillTask{Epoch: 1, FrameworkId: "f1", TaskId: "t9"},
		&kernelpb.ShutdownFramework{Epoch: 1, FrameworkId: "f1"},
		&kernelpb.StatusUpdateAck{Epoch: 1, FrameworkId: "f1", TaskId: "t1", UpdateId: "t1-1"},
		&kernelpb.AgentRegistered{Epoch: 1, AgentId: "1-A9"},
	} {
		if err := a.Step(t0, stale); !errors.Is(err, agent.ErrStale) {
			t.Fatalf("%T from epoch 1 after epoch 2: err %v, want ErrStale", stale, err)
		}
	}
	rd := expect(t, a, ``)
	if len(rd.Launch) != 0 || len(a.Tasks()) != 0 || a.ID() != "1-A1" || a.Epoch() != 2 {
		t.Fatalf("a stale message had an effect: launch=%d tasks=%d id=%s epoch=%d", len(rd.Launch), len(a.Tasks()), a.ID(), a.Epoch())
	}
}

func TestStatusUpdatesInOrderWithBackoff(t *testing.T) {
	a := registered(t, agent.Config{RetryInterval: time.Second, MaxRetryInterval: 4 * time.Second, MasterTimeout: -1})
	must(t, a.Step(t0, runTask(1, "f1", "t1")))
	if rd := a.Ready(); len(rd.Launch) != 1 || rd.Launch[0].Task.TaskId != "t1" || rd.Launch[0].Task.AgentId != "1-A1" {
		t.Fatalf("launch: %+v", rd.Launch)
	}
	must(t, a.TaskEvent(t0, agent.TaskEvent{FrameworkID: "f1", TaskID: "t1", State: kernelpb.TaskState_TASK_RUNNING}))
	must(t, a.TaskEvent(t0, agent.TaskEvent{FrameworkID: "f1", TaskID: "t1", State: kernelpb.TaskState_TASK_FINISHED}))
	// Only the head goes out (sent when RUNNING happened); FINISHED waits.
	expect(t, a, `StatusUpdate{1-A1 f1/t1 TASK_RUNNING t1-1 latest:TASK_RUNNING}`)

	// Retries of the same update at 1s, then +2s, +4s, +4s (capped).
	at := t0
	for _, d := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
		a.Tick(at.Add(d - time.Millisecond))
		expect(t, a, ``)
		at = at.Add(d)
		a.Tick(at)
		expect(t, a, `StatusUpdate{1-A1 f1/t1 TASK_RUNNING t1-1 latest:TASK_FINISHED}`)
	}
	must(t, a.Step(at, &kernelpb.Ping{Epoch: 1, Seq: 1}))
	expect(t, a, `Pong{1-A1 1}`)

	// A wrong or duplicate ack changes nothing.
	must(t, a.Step(at, &kernelpb.StatusUpdateAck{Epoch: 1, FrameworkId: "f1", TaskId: "t1", UpdateId: "t1-2"}))
	expect(t, a, ``)
	must(t, a.Step(at, &kernelpb.StatusUpdateAck{Epoch: 1, FrameworkId: "f1", TaskId: "t1", UpdateId: "t1-1"}))
	expect(t, a, `StatusUpdate{1-A1 f1/t1 TASK_FINISHED t1-2 latest:TASK_FINISHED}`)
	// The new head starts from the first retry interval again.
	a.Tick(at.Add(time.Second))
	expect(t, a, `StatusUpdate{1-A1 f1/t1 TASK_FINISHED t1-2 latest:TASK_FINISHED}`)
	must(t, a.Step(at, &kernelpb.StatusUpdateAck{Epoch: 1, FrameworkId: "f1", TaskId: "t1", UpdateId: "t1-2"}))
	if n := len(a.Tasks()); n != 0 {
		t.Fatalf("%d tasks left after the terminal ack", n)
	}
	// The task is forgotten, but a duplicated RunTask does not revive it.
	must(t, a.Step(at, runTask(1, "f1", "t1")))
	if rd := a.Ready(); len(rd.Launch) != 0 {
		t.Fatalf("relaunched a finished task")
	}
	// Nor do late events from the runtime.
	if err := a.TaskEvent(at, agent.TaskEvent{FrameworkID: "f1", TaskID: "t1", State: kernelpb.TaskState_TASK_FAILED}); err == nil {
		t.Fatalf("event for a forgotten task accepted")
	}
}

func TestTaskEventsMoveForwardOnly(t *testing.T) {
	a := registered(t, agent.Config{})
	must(t, a.Step(t0, runTask(1, "f1", "t1")))
	must(t, a.TaskEvent(t0, agent.TaskEvent{FrameworkID: "f1", TaskID: "t1", State: kernelpb.TaskState_TASK_RUNNING}))
	for _, s := range []kernelpb.TaskState{kernelpb.TaskState_TASK_STARTING, kernelpb.TaskState_TASK_RUNNING, kernelpb.TaskState_TASK_UNKNOWN, kernelpb.TaskState(99)} {
		if err := a.TaskEvent(t0, agent.TaskEvent{FrameworkID: "f1", TaskID: "t1", State: s}); err == nil {
			t.Fatalf("%v after RUNNING accepted", s)
		}
	}
	must(t, a.TaskEvent(t0, agent.TaskEvent{FrameworkID: "f1", TaskID: "t1", State: kernelpb.TaskState_TASK_FAILED, ExitCode: 3}))
	if err := a.TaskEvent(t0, agent.TaskEvent{FrameworkID: "f1", TaskID: "t1", State: kernelpb.TaskState_TASK_FINISHED}); err == nil {
		t.Fatalf("a second terminal state accepted")
	}
	if err := a.TaskEvent(t0, agent.TaskEvent{FrameworkID: "f2", TaskID: "t1", State: kernelpb.TaskState_TASK_RUNNING}); err == nil {
		t.Fatalf("event for another framework's task accepted")
	}
}

func TestKillShutdownAndUnknownTasks(t *testing.T) {
	a := registered(t, agent.Config{})
	must(t, a.Step(t0, runTask(1, "f1", "t1")))
	must(t, a.Step(t0, runTask(1, "f1", "t2")))
	must(t, a.Step(t0, runTask(1, "f2", "t1"))) // same id, another framework
	must(t, a.Step(t0, runTask(1, "f1", "t1"))) // duplicate: ignored
	if rd := a.Ready(); len(rd.Launch) != 3 {
		t.Fatalf("%d launches, want 3", len(rd.Launch))
	}
	must(t, a.Step(t0, &kernelpb.KillTask{Epoch: 1, FrameworkId: "f2", TaskId: "t1"}))
	rd := a.Ready()
	if fmt.Sprint(rd.Kill) != "[{f2 t1}]" {
		t.Fatalf("kill %v", rd.Kill)
	}
	must(t, a.Step(t0, &kernelpb.ShutdownFramework{Epoch: 1, FrameworkId: "f1"}))
	rd = a.Ready()
	if fmt.Sprint(rd.Kill) != "[{f1 t1} {f1 t2}]" {
		t.Fatalf("shutdown kills %v", rd.Kill)
	}
	// Killing a task the agent never got says so, and a late RunTask for
	// it is then ignored.
	must(t, a.Step(t0, &kernelpb.KillTask{Epoch: 1, FrameworkId: "f1", TaskId: "t9"}))
	expect(t, a, `StatusUpdate{1-A1 f1/t9 TASK_LOST t9-1 latest:TASK_LOST}`)
	must(t, a.Step(t0, runTask(1, "f1", "t9")))
	if rd := a.Ready(); len(rd.Launch) != 0 {
		t.Fatalf("launched a task after reporting it LOST")
	}
	must(t, a.Step(t0, &kernelpb.StatusUpdateAck{Epoch: 1, FrameworkId: "f1", TaskId: "t9", UpdateId: "t9-1"}))
	for _, tv := range a.Tasks() {
		if tv.TaskID == "t9" {
			t.Fatalf("t9 kept after its LOST was acknowledged")
		}
	}
}

func TestMasterTimeoutAndMasterChangeReregister(t *testing.T) {
	a := registered(t, agent.Config{})
	must(t, a.Step(t0, runTask(1, "f1", "t1")))
	must(t, a.TaskEvent(t0, agent.TaskEvent{FrameworkID: "f1", TaskID: "t1", State: kernelpb.TaskState_TASK_RUNNING}))
	must(t, a.Step(t0, &kernelpb.StatusUpdateAck{Epoch: 1, FrameworkId: "f1", TaskId: "t1", UpdateId: "t1-1"}))
	a.Ready()
	// 6 ping intervals (1s) without a ping: register again.
	a.Tick(t0.Add(6*time.Second - time.Millisecond))
	expect(t, a, ``)
	a.Tick(t0.Add(6 * time.Second))
	expect(t, a, `RegisterAgent{1-A1 [f1/t1:TASK_RUNNING]}`)
	if a.Registered() {
		t.Fatalf("still registered after the master timeout")
	}
	must(t, a.Step(t0.Add(6*time.Second), &kernelpb.AgentRegistered{Epoch: 1, AgentId: "1-A1", PingIntervalMs: 1000}))
	a.MasterChanged(t0.Add(7 * time.Second))
	expect(t, a, `RegisterAgent{1-A1 [f1/t1:TASK_RUNNING]}`)
}

func TestMalformedMasterMessagesAreRefused(t *testing.T) {
	a := registered(t, agent.Config{})
	for _, m := range []proto.Message{
		nil,
		(*kernelpb.RunTask)(nil),
		(*kernelpb.Ping)(nil),
		&kernelpb.RunTask{Epoch: 1},
		&kernelpb.RunTask{Epoch: 1, Task: &kernelpb.TaskInfo{}},
		&kernelpb.KillTask{Epoch: 1},
		&kernelpb.ShutdownFramework{Epoch: 1},
		&kernelpb.AgentRegistered{Epoch: 1},
		&kernelpb.Offers{},
	} {
		if err := a.Step(t0, m); err == nil {
			t.Fatalf("%T accepted", m)
		}
	}
	if rd := a.Ready(); len(rd.ToMaster)+len(rd.Launch)+len(rd.Kill) != 0 {
		t.Fatalf("malformed messages had effects: %+v", rd)
	}
}
