package agent_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/pandodc/pando/kernel/agent"
	"github.com/pandodc/pando/kernel/internal/trace"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
)

// TestScenarios runs the scenario files testdata/*.txt against one agent:
// each command is followed by what the agent sent the master, what it asked
// its runtime to launch or kill, and the errors it returned, in the trace
// format the master's scenarios use. `go test -run TestScenarios -rewrite`
// records them afresh; review the diff.
//
//	agent [register-retry=D] [retry=D] [max-retry=D] [master-timeout=D]
//	tick DURATION                       advance the clock, then Tick
//	registered [id=1-A1] [ping=1s]      the master's AgentRegistered
//	run FW TASK | kill FW TASK | shutdown FW | ack FW TASK UPDATE | ping SEQ
//	event FW TASK STATE [exit=N] [healthy=B]  the runtime reports
//	master-changed | tasks
//
// Master messages take [epoch=N] (default 1).
func TestScenarios(t *testing.T) {
	trace.RunFiles(t, "testdata/*.txt", func(t *testing.T) func(*trace.Command) string {
		s := &agentScenario{t: t, now: t0}
		return s.run
	})
}

type agentScenario struct {
	t   *testing.T
	a   *agent.Agent
	now time.Time
}

func (s *agentScenario) duration(cmd *trace.Command, v string) time.Duration {
	d, err := time.ParseDuration(v)
	if err != nil {
		s.t.Fatalf("%s: %v", cmd.Pos, err)
	}
	return d
}

func (s *agentScenario) run(cmd *trace.Command) string {
	t := s.t
	var out []string
	fail := func(err error) {
		if err != nil {
			out = append(out, "error: "+err.Error())
		}
	}
	epoch := uint64(1)
	if v := cmd.Flags["epoch"]; v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s: epoch=%s: %v", cmd.Pos, v, err)
		}
		epoch = n
	}
	step := func(m proto.Message) { fail(s.a.Step(s.now, m)) }
	if s.a == nil && cmd.Name != "agent" {
		t.Fatalf("%s: start with an agent command", cmd.Pos)
	}
	switch cmd.Name {
	case "agent":
		cfg := agent.Config{Hostname: "h1", Resources: resources.MustParse("cpus:2;mem:1024")}
		for k, p := range map[string]*time.Duration{"register-retry": &cfg.RegisterRetry, "retry": &cfg.RetryInterval,
			"max-retry": &cfg.MaxRetryInterval, "master-timeout": &cfg.MasterTimeout} {
			if v, ok := cmd.Flags[k]; ok {
				*p = s.duration(cmd, v)
			}
		}
		s.a = agent.New(cfg)
		s.a.Start(s.now)
	case "tick":
		s.now = s.now.Add(s.duration(cmd, cmd.Arg(t, 0)))
		s.a.Tick(s.now)
	case "registered":
		id, ping := "1-A1", time.Second
		if v := cmd.Flags["id"]; v != "" {
			id = v
		}
		if v, ok := cmd.Flags["ping"]; ok {
			ping = s.duration(cmd, v)
		}
		step(&kernelpb.AgentRegistered{Epoch: epoch, AgentId: id, PingIntervalMs: ping.Milliseconds()})
	case "run":
		step(&kernelpb.RunTask{Epoch: epoch, FrameworkId: cmd.Arg(t, 0), FrameworkName: "f", Task: &kernelpb.TaskInfo{
			TaskId: cmd.Arg(t, 1), Resources: resources.MustParse("cpus:1").ToProto()}})
	case "kill":
		step(&kernelpb.KillTask{Epoch: epoch, FrameworkId: cmd.Arg(t, 0), TaskId: cmd.Arg(t, 1)})
	case "shutdown":
		step(&kernelpb.ShutdownFramework{Epoch: epoch, FrameworkId: cmd.Arg(t, 0)})
	case "ack":
		step(&kernelpb.StatusUpdateAck{Epoch: epoch, FrameworkId: cmd.Arg(t, 0), TaskId: cmd.Arg(t, 1), UpdateId: cmd.Arg(t, 2)})
	case "ping":
		seq, err := strconv.ParseUint(cmd.Arg(t, 0), 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", cmd.Pos, err)
		}
		step(&kernelpb.Ping{Epoch: epoch, Seq: seq})
	case "event":
		state, ok := kernelpb.TaskState_value["TASK_"+strings.ToUpper(cmd.Arg(t, 2))]
		if !ok {
			n, err := strconv.Atoi(cmd.Args[2]) // a number, for invalid states
			if err != nil {
				t.Fatalf("%s: no task state %s", cmd.Pos, cmd.Args[2])
			}
			state = int32(n)
		}
		ev := agent.TaskEvent{FrameworkID: cmd.Arg(t, 0), TaskID: cmd.Arg(t, 1), State: kernelpb.TaskState(state)}
		if v := cmd.Flags["exit"]; v != "" {
			n, _ := strconv.Atoi(v)
			ev.ExitCode = int32(n)
		}
		if v := cmd.Flags["healthy"]; v != "" {
			healthy, err := strconv.ParseBool(v)
			if err != nil {
				t.Fatalf("%s: healthy=%s: %v", cmd.Pos, v, err)
			}
			ev.Healthy = &healthy
			ev.Reason = kernelpb.Reason_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED
		}
		fail(s.a.TaskEvent(s.now, ev))
	case "master-changed":
		s.a.MasterChanged(s.now)
	case "tasks":
		for _, tv := range s.a.Tasks() {
			line := fmt.Sprintf("task %s/%s %s pending:%d", tv.FrameworkID, tv.TaskID,
				strings.TrimPrefix(tv.State.String(), "TASK_"), tv.PendingUpdates)
			if tv.Healthy != nil {
				line += fmt.Sprintf(" healthy:%v", *tv.Healthy)
			}
			out = append(out, line)
		}
		out = append(out, fmt.Sprintf("registered:%v id:%s epoch:%d", s.a.Registered(), s.a.ID(), s.a.Epoch()))
	default:
		t.Fatalf("%s: unknown command %s", cmd.Pos, cmd.Name)
	}
	rd := s.a.Ready()
	var lines []string
	for _, m := range rd.ToMaster {
		lines = append(lines, "agent -> master: "+trace.Format(m))
	}
	for _, l := range rd.Launch {
		lines = append(lines, fmt.Sprintf("agent: launch %s/%s on %s", l.FrameworkID, l.Task.TaskId, l.Task.AgentId))
	}
	for _, k := range rd.Kill {
		lines = append(lines, fmt.Sprintf("agent: kill %s/%s", k.FrameworkID, k.TaskID))
	}
	return strings.Join(append(lines, out...), "\n")
}
