package master_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/kernel/agent"
	"github.com/pandodc/pando/kernel/internal/sim"
	"github.com/pandodc/pando/kernel/internal/trace"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/master"
)

// TestScenarios runs the scenario files testdata/*.txt: commands that drive
// a simulated cluster (one master, agents, scripted frameworks), each
// followed by the trace of every message it caused and what the queries
// print. `go test -run TestScenarios -rewrite` records them afresh; review
// the diff.
func TestScenarios(t *testing.T) {
	trace.RunFiles(t, "testdata/*.txt", func(t *testing.T) func(*trace.Command) string {
		s := &scenario{t: t}
		return s.run
	})
}

type scenario struct {
	t          *testing.T
	c          *sim.Cluster
	eventsSeen int
}

// The commands; FW and AGENT are node names (fw1, a1), FWID and AGENTID
// the ids the master gave them (1-F1, 1-A1).
//
//	cluster [offer-timeout=30s] [ping=1h] [unreachable-timeout=10m]
//	        [max-unreachable=N] [unreachable-window=1m]
//	                                          a new cluster (quietConfig)
//	agent AGENT RESOURCES                    start an agent
//	subscribe FW [timeout=1m] [roles=a,b] [partition-aware=true]
//	                                          (re)subscribe a framework
//	allocate | advance DURATION
//	accept FW OFFER[,OFFER] [refuse=SECONDS]  input: one "TASK RESOURCES" a line
//	decline FW OFFER [refuse=SECONDS]
//	event AGENT FWID TASK STATE [reason=R] [healthy=B]
//	                                          the agent's runtime reports
//	ack FW TASK UPDATE [agent=AGENTID]
//	kill FW TASK | teardown FW | reconcile FW [TASK[@AGENTID]...]
//	disconnect FW | disconnect-agent AGENT
//	operator-kill [FWID/]TASK
//	drop [TYPE...] [from=NODE,...]            drop messages of these types
//	                                          (sent by these nodes)
//	resend-runtask AGENT FWID TASK RESOURCES  a late duplicate from the master
//	task FWID TASK | framework FWID | available AGENTID | offers
//	agent-view AGENTID | counters | agent-events (agent events since the last)
//	failover [window=20s] [registry=true]     a new master (epoch + 1); with
//	                                          registry=true it gets the old
//	                                          one's RegistryAgents and
//	                                          RegistryFrameworks
func (s *scenario) run(cmd *trace.Command) string {
	t := s.t
	var extra []string
	if s.c == nil && cmd.Name != "cluster" {
		t.Fatalf("%s: start with a cluster command", cmd.Pos)
	}
	fw := func(i int) *sim.FrameworkNode {
		name := cmd.Arg(t, i)
		f := s.c.Frameworks[name]
		if f == nil {
			t.Fatalf("%s: no framework %s", cmd.Pos, name)
		}
		return f
	}
	refuse := func() *kernelpb.Filters {
		v, ok := cmd.Flags["refuse"]
		if !ok {
			return nil
		}
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("%s: refuse=%s: %v", cmd.Pos, v, err)
		}
		return &kernelpb.Filters{RefuseSeconds: secs}
	}
	switch cmd.Name {
	case "cluster":
		cfg := quietConfig()
		if v, ok := cmd.Flags["offer-timeout"]; ok {
			cfg.OfferTimeout = s.duration(cmd, v)
		}
		if v, ok := cmd.Flags["ping"]; ok {
			cfg.PingInterval = s.duration(cmd, v)
		}
		if v, ok := cmd.Flags["unreachable-timeout"]; ok {
			cfg.AgentUnreachableTimeout = s.duration(cmd, v)
		}
		if v, ok := cmd.Flags["unreachable-window"]; ok {
			cfg.UnreachableWindow = s.duration(cmd, v)
		}
		if v, ok := cmd.Flags["max-unreachable"]; ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("%s: max-unreachable=%s: %v", cmd.Pos, v, err)
			}
			cfg.MaxUnreachablePerWindow = n
		}
		s.c = sim.New(cfg)
	case "agent":
		s.c.AddAgent(cmd.Arg(t, 0), cmd.Arg(t, 1))
	case "failover":
		cfg := s.c.MasterCfg
		cfg.Epoch++
		if v, ok := cmd.Flags["window"]; ok {
			cfg.ReregistrationWindow = s.duration(cmd, v)
		}
		var inputs []any
		if cmd.Flags["registry"] == "true" {
			inputs = append(inputs, master.KnownAgents{Agents: s.c.Master.RegistryAgents()},
				master.KnownFrameworks{Frameworks: s.c.Master.RegistryFrameworks()})
		}
		for _, f := range s.c.Frameworks {
			f.Connected = false
		}
		s.c.FailoverMasterWith(cfg, inputs...)
	case "subscribe":
		timeout := time.Minute
		if v, ok := cmd.Flags["timeout"]; ok {
			timeout = s.duration(cmd, v)
		}
		var roles []string
		if v := cmd.Flags["roles"]; v != "" {
			roles = strings.Split(v, ",")
		}
		if v, ok := cmd.Flags["partition-aware"]; ok {
			s.c.SubscribeWith(cmd.Arg(t, 0), timeout, v == "true", roles...)
			break
		}
		s.c.Subscribe(cmd.Arg(t, 0), timeout, roles...)
	case "allocate":
		s.c.Allocate()
	case "advance":
		s.c.Advance(s.duration(cmd, cmd.Arg(t, 0)))
	case "accept":
		f := fw(0)
		var tasks []*kernelpb.TaskInfo
		for _, l := range cmd.Input {
			id, res, _ := strings.Cut(strings.TrimSpace(l), " ")
			tasks = append(tasks, wasmTask(id, res))
		}
		a := accept(f.ID, strings.Split(cmd.Arg(t, 1), ","), tasks...)
		a.Filters = refuse()
		s.c.Send(f.Name, a)
	case "decline":
		f := fw(0)
		s.c.Send(f.Name, &kernelpb.Decline{FrameworkId: f.ID, OfferIds: strings.Split(cmd.Arg(t, 1), ","), Filters: refuse()})
	case "event":
		state, ok := kernelpb.TaskState_value["TASK_"+strings.ToUpper(cmd.Arg(t, 3))]
		if !ok {
			t.Fatalf("%s: no task state %s", cmd.Pos, cmd.Args[3])
		}
		ev := agent.TaskEvent{FrameworkID: cmd.Arg(t, 1), TaskID: cmd.Arg(t, 2), State: kernelpb.TaskState(state)}
		if r := cmd.Flags["reason"]; r != "" {
			ev.Reason = kernelpb.Reason(kernelpb.Reason_value["REASON_"+r])
		}
		if v := cmd.Flags["healthy"]; v != "" {
			healthy, err := strconv.ParseBool(v)
			if err != nil {
				t.Fatalf("%s: healthy=%s: %v", cmd.Pos, v, err)
			}
			ev.Healthy = &healthy
		}
		s.c.TaskEventWith(cmd.Arg(t, 0), ev)
	case "ack":
		f := fw(0)
		agentID := cmd.Flags["agent"]
		if agentID == "" {
			agentID = "1-A1"
		}
		s.c.Send(f.Name, ack(f.ID, agentID, cmd.Arg(t, 1), cmd.Arg(t, 2)))
	case "kill":
		f := fw(0)
		s.c.Send(f.Name, &kernelpb.Kill{FrameworkId: f.ID, TaskId: cmd.Arg(t, 1)})
	case "teardown":
		f := fw(0)
		s.c.Send(f.Name, &kernelpb.Teardown{FrameworkId: f.ID})
	case "reconcile":
		f := fw(0)
		rc := &kernelpb.Reconcile{FrameworkId: f.ID}
		for _, a := range cmd.Args[1:] {
			id, agentID, _ := strings.Cut(a, "@")
			rc.Tasks = append(rc.Tasks, &kernelpb.ReconcileTask{TaskId: id, AgentId: agentID})
		}
		s.c.Send(f.Name, rc)
	case "disconnect":
		s.c.Disconnect(fw(0).Name)
	case "disconnect-agent":
		s.c.DisconnectAgent(cmd.Arg(t, 0))
	case "operator-kill":
		fwID, task, ok := strings.Cut(cmd.Arg(t, 0), "/")
		if !ok {
			fwID, task = "", fwID
		}
		if err := s.c.OperatorKill(fwID, task); err != nil {
			extra = append(extra, "operator error: "+err.Error())
		}
	case "drop":
		types := slices.Clone(cmd.Args)
		var from []string
		if v := cmd.Flags["from"]; v != "" {
			from = strings.Split(v, ",")
		}
		s.c.Drop = nil
		if len(types) > 0 {
			s.c.Drop = func(m sim.Message) bool {
				return slices.Contains(types, strings.TrimPrefix(fmt.Sprintf("%T", m.Msg), "*kernelpb.")) &&
					(from == nil || slices.Contains(from, m.From))
			}
		}
	case "resend-runtask":
		s.c.Queue(sim.Message{From: sim.MasterName, To: cmd.Arg(t, 0), Msg: &kernelpb.RunTask{
			Epoch: sim.Epoch, FrameworkId: cmd.Arg(t, 1), Task: wasmTask(cmd.Arg(t, 2), cmd.Arg(t, 3))}})
		s.c.Flush()
	case "task":
		v, ok := s.c.Master.Task(cmd.Arg(t, 0), cmd.Arg(t, 1))
		if !ok {
			extra = append(extra, "unknown task")
			break
		}
		extra = append(extra, describeTask(v))
	case "framework":
		v, ok := s.c.Master.Framework(cmd.Arg(t, 0))
		if !ok {
			extra = append(extra, "unknown framework")
			break
		}
		extra = append(extra, fmt.Sprintf("%s connected=%v offers=%d tasks=%d accepted=%d declined=%d rescinded=%d not-offered=%v too-small=%v",
			v.ID, v.Connected, v.Offers, v.Tasks, v.Accepted, v.Declined, v.Rescinded, v.NotOffered, v.TooSmall))
		if v.Why != "" {
			extra = append(extra, "why: "+v.Why)
		}
	case "agent-view":
		v, ok := s.c.Master.Agent(cmd.Arg(t, 0))
		if !ok {
			extra = append(extra, "unknown agent")
			break
		}
		unreachable := "no"
		if !v.UnreachableSince.IsZero() {
			unreachable = "since " + v.UnreachableSince.Sub(sim.Start).String()
		}
		extra = append(extra, fmt.Sprintf("%s active=%v unreachable=%s tasks=%d used=%s missed-pings=%d",
			v.ID, v.Active, unreachable, v.Tasks, v.Used, v.MissedPings))
	case "agent-events":
		for _, e := range s.c.MasterEvents[s.eventsSeen:] {
			if strings.HasPrefix(e.Kind.String(), "agent-") {
				extra = append(extra, fmt.Sprintf("%v %s %s %q", e.At.Sub(sim.Start), e.Kind, e.AgentID, e.Message))
			}
		}
		s.eventsSeen = len(s.c.MasterEvents)
	case "counters":
		cn := s.c.Master.Counters()
		extra = append(extra, fmt.Sprintf("agents added=%d unreachable=%d returned=%d removed=%d unreachable-deferred=%d",
			cn.AgentsAdded, cn.AgentsUnreachable, cn.AgentsReturned, cn.AgentsRemoved, cn.UnreachableDeferred))
	case "available":
		extra = append(extra, "available: "+s.c.Master.Available(cmd.Arg(t, 0)).String())
	case "offers":
		for _, o := range s.c.Master.Offers() {
			extra = append(extra, fmt.Sprintf("offer %s: %s %s %s", o.ID, o.FrameworkID, o.AgentID, o.Resources))
		}
		if len(extra) == 0 {
			extra = append(extra, "no offers")
		}
	default:
		t.Fatalf("%s: unknown command %s", cmd.Pos, cmd.Name)
	}
	out := s.c.TakeTrace()
	for _, e := range takeErrors(s.c) {
		out = append(out, "error: "+e)
	}
	return strings.Join(append(out, extra...), "\n")
}

func (s *scenario) duration(cmd *trace.Command, v string) time.Duration {
	d, err := time.ParseDuration(v)
	if err != nil {
		s.t.Fatalf("%s: %v", cmd.Pos, err)
	}
	return d
}

// describeTask prints a task view on one line.
func describeTask(v master.TaskView) string {
	var hist []string
	for _, h := range v.History {
		hist = append(hist, strings.TrimPrefix(h.State.String(), "TASK_"))
	}
	out := fmt.Sprintf("%s/%s %s", v.FrameworkID, v.ID, strings.TrimPrefix(v.State.String(), "TASK_"))
	if v.Reason != kernelpb.Reason_REASON_NONE {
		out += " " + strings.TrimPrefix(v.Reason.String(), "REASON_")
	}
	out += fmt.Sprintf(" active=%v on=%s history=%s", v.Active, v.AgentID, strings.Join(hist, ","))
	if v.Healthy != nil {
		out += fmt.Sprintf(" healthy=%v", *v.Healthy)
	}
	if v.Message != "" {
		out += fmt.Sprintf(" %q", v.Message)
	}
	return out
}
