package master_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/kernel/internal/sim"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/master"
	"github.com/pandodc/pando/kernel/resources"
)

const module = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

const (
	staging  = kernelpb.TaskState_TASK_STAGING
	starting = kernelpb.TaskState_TASK_STARTING
	running  = kernelpb.TaskState_TASK_RUNNING
	finished = kernelpb.TaskState_TASK_FINISHED
	failed   = kernelpb.TaskState_TASK_FAILED
	killed   = kernelpb.TaskState_TASK_KILLED
	lost     = kernelpb.TaskState_TASK_LOST
	taskErr  = kernelpb.TaskState_TASK_ERROR

	unreachable = kernelpb.TaskState_TASK_UNREACHABLE
)

// quietConfig keeps scenario traces to the messages under test: pings and
// heartbeats far apart, offers that never time out.
func quietConfig() master.Config {
	return master.Config{
		PingInterval:      time.Hour,
		HeartbeatInterval: -1,
		OfferTimeout:      -1,
	}
}

func wasmTask(id, res string) *kernelpb.TaskInfo {
	return &kernelpb.TaskInfo{
		TaskId:    id,
		Name:      id,
		Resources: resources.MustParse(res).ToProto(),
		Runtime:   &kernelpb.TaskInfo_Wasm{Wasm: &kernelpb.WasmTask{Module: module}},
	}
}

func accept(fw string, offers []string, tasks ...*kernelpb.TaskInfo) *kernelpb.Accept {
	return &kernelpb.Accept{
		FrameworkId: fw,
		OfferIds:    offers,
		Operations:  []*kernelpb.Operation{{Type: kernelpb.Operation_LAUNCH, Launch: tasks}},
	}
}

func ack(fw, agent, task, update string) *kernelpb.Acknowledge {
	return &kernelpb.Acknowledge{FrameworkId: fw, AgentId: agent, TaskId: task, UpdateId: update}
}

// expectTrace compares the cluster's trace since the last call with want,
// one message per line (leading tabs and blank lines ignored).
func expectTrace(t *testing.T, c *sim.Cluster, want string) {
	t.Helper()
	got := c.TakeTrace()
	var wantLines []string
	for _, l := range strings.Split(want, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			wantLines = append(wantLines, l)
		}
	}
	if strings.Join(got, "\n") != strings.Join(wantLines, "\n") {
		t.Fatalf("trace mismatch\n--- got:\n%s\n--- want:\n%s", strings.Join(got, "\n"), strings.Join(wantLines, "\n"))
	}
}

func expectNoErrors(t *testing.T, c *sim.Cluster) {
	t.Helper()
	if len(c.Errors) > 0 {
		t.Fatalf("unexpected errors:\n%s", strings.Join(c.Errors, "\n"))
	}
}

func takeErrors(c *sim.Cluster) []string {
	e := c.Errors
	c.Errors = nil
	return e
}

func mustTask(t *testing.T, m *master.Master, fw, id string) master.TaskView {
	t.Helper()
	v, ok := m.Task(fw, id)
	if !ok {
		t.Fatalf("master does not know task %s/%s", fw, id)
	}
	return v
}

// setup starts a cluster with one agent a1 and one framework fw1 holding
// the offer 1-O1 for the whole agent.
func setup(t *testing.T, cfg master.Config, agentRes string) *sim.Cluster {
	t.Helper()
	c := sim.New(cfg)
	c.AddAgent("a1", agentRes)
	c.Subscribe("fw1", time.Minute)
	c.Allocate()
	expectTrace(t, c, `
		a1 -> master: RegisterAgent{id: host:a1 `+agentRes+`}
		master -> a1: AgentRegistered{1-A1}
		fw1 -> master: Subscribe{name:fw1}
		master -> fw1: Subscribed{1-F1}
		master -> fw1: Offers{1-O1: 1-A1 `+agentRes+`}
	`)
	return c
}

// launchRunning accepts offer with one task, reports it RUNNING from the
// agent and acknowledges that update, then drops the trace.
func launchRunning(t *testing.T, c *sim.Cluster, offer, taskID, res string) {
	t.Helper()
	c.Send("fw1", accept("1-F1", []string{offer}, wasmTask(taskID, res)))
	c.TaskEvent("a1", "1-F1", taskID, running)
	c.Send("fw1", ack("1-F1", "1-A1", taskID, taskID+"-1"))
	v := mustTask(t, c.Master, "1-F1", taskID)
	if v.State != running {
		t.Fatalf("task %s is %v, want RUNNING", taskID, v.State)
	}
	c.TakeTrace()
}
