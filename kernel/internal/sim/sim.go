// Package sim wires the pure kernel state machines (one master, agents,
// scripted frameworks) together in memory for tests: it delivers messages
// one at a time in a deterministic FIFO order, advances a fake clock, and
// records a readable trace of every message, one line each
// ("master -> fw1: Offers{1-O1: 1-A1 cpus:2;mem:1024}", formatted by
// package trace), that scenario tests compare with recorded traces. Links can drop messages, to
// test retries.
//
// It is test support only: nothing outside tests imports it.
package sim

import (
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/pandodc/pando/kernel/agent"
	"github.com/pandodc/pando/kernel/internal/trace"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/master"
	"github.com/pandodc/pando/kernel/resources"
)

// MasterName is the master's node name in traces.
const MasterName = "master"

// Epoch is the epoch of the first master of a cluster (traces show
// epochs only when they differ from it).
const Epoch = trace.FirstEpoch

// Message is one message in flight.
type Message struct {
	From, To string
	Msg      any
}

// AgentNode is a simulated agent: the state machine plus what it asked its
// runtime to do.
type AgentNode struct {
	Name     string
	A        *agent.Agent
	Cfg      agent.Config
	Launched []agent.LaunchTask
	Killed   []agent.TaskRef
}

// FrameworkNode is a scripted framework: tests send its messages and read
// its inbox.
type FrameworkNode struct {
	Name      string
	ID        string
	Connected bool
	// PartitionAware is sent in every Subscribe (see SubscribeWith).
	PartitionAware bool
	Inbox          []proto.Message
}

// Cluster is one master, its agents and frameworks, and the messages
// between them.
type Cluster struct {
	Now        time.Time
	Master     *master.Master
	MasterCfg  master.Config
	Agents     map[string]*AgentNode
	Frameworks map[string]*FrameworkNode

	// Trace has one line per message delivered or dropped, and per launch
	// or kill an agent asked of its runtime.
	Trace []string
	// Drop, if set, is asked about every message about to be delivered;
	// true drops it (traced with "(dropped)").
	Drop func(m Message) bool
	// Errors collects the errors Step returned, "node: error".
	Errors []string
	// MasterEvents collects every event the master produced.
	MasterEvents []master.Event
	// Quiet turns tracing off (for long simulations).
	Quiet bool

	inflight []Message
}

// Start is the simulated clock's origin.
var Start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// New makes a cluster with a master (epoch 1 unless cfg says otherwise).
func New(cfg master.Config) *Cluster {
	if cfg.Epoch == 0 {
		cfg.Epoch = Epoch
	}
	return &Cluster{
		Now:        Start,
		Master:     master.New(cfg),
		MasterCfg:  cfg,
		Agents:     map[string]*AgentNode{},
		Frameworks: map[string]*FrameworkNode{},
	}
}

// AddAgent starts an agent called name (also its peer address) with the
// given resources, and delivers its registration.
func (c *Cluster) AddAgent(name, res string) *AgentNode {
	cfg := agent.Config{Hostname: name, Resources: resources.MustParse(res)}
	return c.AddAgentWith(name, cfg)
}

// AddAgentWith starts an agent with a full config.
func (c *Cluster) AddAgentWith(name string, cfg agent.Config) *AgentNode {
	if cfg.Hostname == "" {
		cfg.Hostname = name
	}
	n := &AgentNode{Name: name, A: agent.New(cfg), Cfg: cfg}
	c.Agents[name] = n
	n.A.Start(c.Now)
	c.Flush()
	return n
}

// Subscribe connects a framework called name (also its peer address) and
// delivers its Subscribe; roles may be empty. A framework subscribing
// again keeps its PartitionAware.
func (c *Cluster) Subscribe(name string, failoverTimeout time.Duration, roles ...string) *FrameworkNode {
	f := c.Frameworks[name]
	return c.SubscribeWith(name, failoverTimeout, f != nil && f.PartitionAware, roles...)
}

// SubscribeWith is Subscribe for a framework that is partition-aware (it
// hears TASK_UNREACHABLE) or not; later Subscribes keep the choice.
func (c *Cluster) SubscribeWith(name string, failoverTimeout time.Duration, partitionAware bool, roles ...string) *FrameworkNode {
	f := c.Frameworks[name]
	if f == nil {
		f = &FrameworkNode{Name: name}
		c.Frameworks[name] = f
	}
	f.Connected = true
	f.PartitionAware = partitionAware
	c.Send(name, &kernelpb.Subscribe{Framework: &kernelpb.FrameworkInfo{
		Id: f.ID, Name: name, Roles: roles, FailoverTimeoutMs: failoverTimeout.Milliseconds(),
		PartitionAware: partitionAware,
	}})
	return f
}

// Send queues a message from a framework (or any node) to the master and
// delivers everything that follows.
func (c *Cluster) Send(from string, msg any) {
	c.inflight = append(c.inflight, Message{From: from, To: MasterName, Msg: msg})
	c.Flush()
}

// Disconnect ends a framework's connection: the master hears of it and
// messages to the framework are lost until it subscribes again.
func (c *Cluster) Disconnect(fw string) {
	c.Frameworks[fw].Connected = false
	c.Send(fw, master.Disconnected{})
}

// DisconnectAgent ends an agent's connection: the master hears of it (the
// agent itself does not notice until it misses the master's pings).
func (c *Cluster) DisconnectAgent(name string) {
	c.Send(name, master.Disconnected{})
}

// OperatorKill delivers an operator's kill to the master, as the shell
// does for the HTTP API, and everything that follows; its error is the
// master's answer to the operator.
func (c *Cluster) OperatorKill(frameworkID, taskID string) error {
	c.trace(fmt.Sprintf("operator -> %s: OperatorKill{%s/%s}", MasterName, frameworkID, taskID))
	err := c.Master.Step(c.Now, "operator", master.OperatorKill{FrameworkID: frameworkID, TaskID: taskID})
	c.Flush()
	return err
}

// TaskEvent reports a runtime event on an agent and delivers what follows.
func (c *Cluster) TaskEvent(agentName, frameworkID, taskID string, s kernelpb.TaskState) {
	c.TaskEventWith(agentName, agent.TaskEvent{FrameworkID: frameworkID, TaskID: taskID, State: s})
}

// TaskEventWith is TaskEvent with reason, message and exit code.
func (c *Cluster) TaskEventWith(agentName string, ev agent.TaskEvent) {
	if err := c.Agents[agentName].A.TaskEvent(c.Now, ev); err != nil {
		c.Errors = append(c.Errors, agentName+": "+err.Error())
	}
	c.Flush()
}

// Advance moves the clock, ticks the master and every agent, and delivers.
func (c *Cluster) Advance(d time.Duration) {
	c.Now = c.Now.Add(d)
	c.Master.Tick(c.Now)
	for _, name := range sortedNames(c.Agents) {
		c.Agents[name].A.Tick(c.Now)
	}
	c.Flush()
}

// Allocate runs an allocation round and delivers the offers.
func (c *Cluster) Allocate() {
	c.Master.Allocate(c.Now)
	c.Flush()
}

// Flush delivers messages, one at a time in FIFO order, collecting each
// node's output right after it acts, until nothing is in flight.
func (c *Cluster) Flush() {
	c.collect()
	for len(c.inflight) > 0 {
		m := c.inflight[0]
		c.inflight = c.inflight[1:]
		c.deliver(m)
		c.collect()
	}
}

// Pending returns the messages in flight (only non-empty between a Queue
// and a Flush).
func (c *Cluster) Pending() []Message { return slices.Clone(c.inflight) }

// Queue puts a message in flight without delivering it.
func (c *Cluster) Queue(m Message) { c.inflight = append(c.inflight, m) }

func (c *Cluster) collect() {
	rd := c.Master.Ready()
	for _, env := range rd.Messages {
		c.inflight = append(c.inflight, Message{From: MasterName, To: string(env.To), Msg: env.Msg})
	}
	c.MasterEvents = append(c.MasterEvents, rd.Events...)
	for _, name := range sortedNames(c.Agents) {
		n := c.Agents[name]
		ard := n.A.Ready()
		for _, msg := range ard.ToMaster {
			c.inflight = append(c.inflight, Message{From: name, To: MasterName, Msg: msg})
		}
		for _, l := range ard.Launch {
			n.Launched = append(n.Launched, l)
			c.trace(fmt.Sprintf("%s: launch %s/%s", name, l.FrameworkID, l.Task.TaskId))
		}
		for _, k := range ard.Kill {
			n.Killed = append(n.Killed, k)
			c.trace(fmt.Sprintf("%s: kill %s/%s", name, k.FrameworkID, k.TaskID))
		}
	}
}

func (c *Cluster) deliver(m Message) {
	line := fmt.Sprintf("%s -> %s: %s", m.From, m.To, trace.Format(m.Msg))
	if c.Drop != nil && c.Drop(m) {
		c.trace(line + " (dropped)")
		return
	}
	switch {
	case m.To == MasterName:
		c.trace(line)
		if err := c.Master.Step(c.Now, master.Peer(m.From), m.Msg); err != nil {
			c.Errors = append(c.Errors, MasterName+": "+err.Error())
		}
	case c.Agents[m.To] != nil:
		c.trace(line)
		if err := c.Agents[m.To].A.Step(c.Now, m.Msg.(proto.Message)); err != nil {
			c.Errors = append(c.Errors, m.To+": "+err.Error())
		}
	case c.Frameworks[m.To] != nil:
		f := c.Frameworks[m.To]
		if !f.Connected {
			c.trace(line + " (disconnected)")
			return
		}
		c.trace(line)
		msg := m.Msg.(proto.Message)
		f.Inbox = append(f.Inbox, msg)
		if s, ok := msg.(*kernelpb.Subscribed); ok {
			f.ID = s.FrameworkId
		}
	default:
		c.trace(line + " (no such node)")
	}
}

func (c *Cluster) trace(line string) {
	if !c.Quiet {
		c.Trace = append(c.Trace, line)
	}
}

// TakeTrace returns the trace so far and starts a new one.
func (c *Cluster) TakeTrace() []string {
	t := c.Trace
	c.Trace = nil
	return t
}

// TakeInbox returns a framework's messages so far and empties its inbox.
func (f *FrameworkNode) TakeInbox() []proto.Message {
	in := f.Inbox
	f.Inbox = nil
	return in
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// FailoverMaster replaces the master by a new one with cfg (normally a
// higher epoch) and tells every agent, as the shell does when the leader
// changes. Frameworks must subscribe again themselves.
func (c *Cluster) FailoverMaster(cfg master.Config) { c.FailoverMasterWith(cfg) }

// FailoverMasterWith is FailoverMaster whose new master is first stepped
// with the shell's inputs (KnownAgents from the registry), before any
// agent hears of it.
func (c *Cluster) FailoverMasterWith(cfg master.Config, inputs ...any) {
	c.Master = master.New(cfg)
	c.MasterCfg = cfg
	for _, in := range inputs {
		if err := c.Master.Step(c.Now, "shell", in); err != nil {
			c.Errors = append(c.Errors, "master: "+err.Error())
		}
	}
	for _, name := range sortedNames(c.Agents) {
		c.Agents[name].A.MasterChanged(c.Now)
	}
	c.Flush()
}

// RestartAgent replaces an agent by a fresh one that remembers only its id
// (its tasks are gone), and starts it.
func (c *Cluster) RestartAgent(name string) {
	n := c.Agents[name]
	cfg := n.Cfg
	cfg.AgentID = n.A.ID()
	n.A = agent.New(cfg)
	n.A.Start(c.Now)
	c.Flush()
}
