package master_test

import (
	"fmt"
	"math/rand"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/kernel/internal/sim"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/master"
	"github.com/pandodc/pando/kernel/resources"
)

// The random simulation drives the real master and agents through a seeded
// stream of actions (allocation rounds, accepts launching random tasks,
// declines, kills, task completions, message drops, agent partitions and
// restarts, framework disconnects and failovers, master failovers to a new
// master with a higher epoch) and checks invariants
// after every step. Then it quiesces (no more faults, every task finished
// or killed) and checks that everything settles.

type simTask struct {
	id            string
	acceptDropped bool
	seenUpdates   map[string]bool
	rank          int // highest rank among real (acknowledgeable) updates
	terminal      kernelpb.TaskState
	history       []string
	// beforeFailover: launched under an earlier master. The new master
	// knows only what agents report, so a task whose launch or end the
	// old master kept to itself may be unknown to it.
	beforeFailover bool
	// lostByMaster: the terminal state is a LOST the master made up
	// (agent removed, unknown task). See cameBack.
	lostByMaster bool
	// unreachable: the latest update was the master's UNREACHABLE (only
	// partition-aware frameworks get it); the task may come back.
	unreachable bool
}

// cameBack says whether an update after a LOST is a task coming back, which
// the simulation accepts only after a master failover: a new master knows
// only what agents report, so it says LOST of a task whose agent has not
// re-registered yet, or whose agent a deposed master removed, and adopts
// the task when the agent comes. Mesos' non-partition-aware frameworks
// live with the same ("a LOST task may come back"); a recovery window
// before such answers would make LOST final. An agent that merely missed
// its pings does not make such a LOST: its tasks are UNREACHABLE to
// partition-aware frameworks, and a LOST to the others is final (the
// master kills the task when the agent returns).
func (s *simulation) cameBack(task *simTask) bool {
	return task.terminal == lost && task.lostByMaster && s.epoch > sim.Epoch
}

type simFramework struct {
	name     string
	node     *sim.FrameworkNode
	timeout  time.Duration
	offers   map[string]*kernelpb.Offer
	tasks    map[string]*simTask
	reattach time.Time // when a disconnected framework comes back
	retired  int       // generations removed by the master
}

type simulation struct {
	t          *testing.T
	rng        *rand.Rand
	c          *sim.Cluster
	frameworks []*simFramework
	agentNames []string
	partition  map[string]time.Time // agent -> healed at
	dropRate   float64
	nextTask   int
	step       int
	stats      map[string]int
	epoch      uint64
}

var stateRank = map[kernelpb.TaskState]int{
	staging: 1, starting: 2, running: 3, kernelpb.TaskState_TASK_KILLING: 4,
	finished: 5, failed: 5, killed: 5, lost: 5, taskErr: 5,
}

func TestRandomSimulationInvariants(t *testing.T) {
	seeds, steps := 50, 2000
	if testing.Short() {
		seeds, steps = 8, 500
	}
	total := map[string]int{}
	for seed := 0; seed < seeds; seed++ {
		s := newSimulation(t, int64(seed))
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			s.t = t
			for s.step = 0; s.step < steps; s.step++ {
				s.randomStep()
				s.checkInvariants()
			}
			s.quiesce()
		})
		for k, v := range s.stats {
			total[k] += v
		}
	}
	t.Logf("simulation totals: %v", total)
	// The simulation must actually reach the paths it claims to test.
	for _, k := range []string{"launched", "finished", "killed-by-framework", "agent-removed", "framework-removed", "failover", "accept-dropped", "restart", "master-failover", "adopted", "unreachable", "unreachable-came-back"} {
		if total[k] == 0 {
			t.Errorf("the simulation never exercised %q", k)
		}
	}
}

func newSimulation(t *testing.T, seed int64) *simulation {
	s := &simulation{
		t:         t,
		rng:       rand.New(rand.NewSource(seed)),
		partition: map[string]time.Time{},
		dropRate:  0.03,
		stats:     map[string]int{},
	}
	s.epoch = sim.Epoch
	s.c = sim.New(s.masterConfig())
	s.c.Quiet = os.Getenv("SIM_TRACE") == ""
	for i := 1; i <= 4; i++ {
		name := fmt.Sprintf("a%d", i)
		s.agentNames = append(s.agentNames, name)
		s.c.AddAgent(name, fmt.Sprintf("cpus:%d;mem:%d", 2+i, 1024*i))
	}
	for i := 1; i <= 3; i++ {
		f := &simFramework{name: fmt.Sprintf("fw%d", i), timeout: 10 * time.Second,
			offers: map[string]*kernelpb.Offer{}, tasks: map[string]*simTask{}}
		// fw1 is partition-aware: it hears UNREACHABLE, the others LOST.
		f.node = s.c.SubscribeWith(f.name, f.timeout, i == 1)
		s.frameworks = append(s.frameworks, f)
	}
	s.c.Drop = s.drop
	return s
}

func (s *simulation) masterConfig() master.Config {
	return master.Config{
		Epoch:             s.epoch,
		PingInterval:      time.Second,
		OfferTimeout:      10 * time.Second,
		HeartbeatInterval: -1,
		// Tasks of frameworks removed by a deposed master come back with
		// their agents; the new master must give up on them in time.
		UnknownFrameworkTimeout: 30 * time.Second,
		// Partitions last 2-12s and an agent is unreachable after 5s:
		// some come back in time, some are removed.
		AgentUnreachableTimeout: 4 * time.Second,
	}
}

// failoverMaster replaces the master by a new one with a higher epoch, as
// a leader election does: agents re-register with their tasks (the shell
// tells them), frameworks lose their offers and subscribe again with their
// ids.
func (s *simulation) failoverMaster() {
	s.stats["master-failover"]++
	s.epoch++
	// The new leader reads the agents from the registry, as the shell's.
	s.c.FailoverMasterWith(s.masterConfig(), master.KnownAgents{Agents: s.c.Master.RegistryAgents()},
		master.KnownFrameworks{Frameworks: s.c.Master.RegistryFrameworks()})
	for _, e := range s.c.MasterEvents {
		if e.Kind == master.EventTaskState && e.Message == "adopted from re-registering agent" {
			s.stats["adopted"]++
		}
	}
	for _, f := range s.frameworks {
		for _, st := range f.tasks {
			st.beforeFailover = true
		}
		f.offers = map[string]*kernelpb.Offer{}
		f.node.Connected = false
		f.reattach = s.c.Now
	}
	s.reattachFrameworks(true)
}

// drop decides the fate of each message: partitioned agents lose
// everything; otherwise a few messages are lost at random, except the
// subscription handshake (the SDK's retries are not modelled).
func (s *simulation) drop(m sim.Message) bool {
	for _, end := range []string{m.From, m.To} {
		if until, ok := s.partition[end]; ok && s.c.Now.Before(until) {
			return true
		}
	}
	switch m.Msg.(type) {
	case *kernelpb.Subscribe, *kernelpb.Subscribed, *kernelpb.Error, master.Disconnected:
		return false
	}
	if s.rng.Float64() >= s.dropRate {
		return false
	}
	if acc, ok := m.Msg.(*kernelpb.Accept); ok {
		s.stats["accept-dropped"]++
		f := s.frameworkByName(m.From)
		for _, op := range acc.Operations {
			for _, ti := range op.Launch {
				if st := f.tasks[ti.TaskId]; st != nil {
					st.acceptDropped = true
				}
			}
		}
	}
	return true
}

func (s *simulation) frameworkByName(name string) *simFramework {
	for _, f := range s.frameworks {
		if f.name == name {
			return f
		}
	}
	return nil
}

func (s *simulation) fail(format string, args ...any) {
	s.t.Helper()
	// SIM_TRACE=<substring> shows the end of the trace, filtered.
	if filter := os.Getenv("SIM_TRACE"); filter != "" {
		var keep []string
		for _, l := range s.c.Trace {
			if strings.Contains(l, filter) {
				keep = append(keep, l)
			}
		}
		s.t.Logf("trace:\n%s", strings.Join(keep[max(0, len(keep)-80):], "\n"))
	}
	s.t.Fatalf("step %d at %v: %s", s.step, s.c.Now.Sub(sim.Start), fmt.Sprintf(format, args...))
}

func (s *simulation) randomStep() {
	r := s.rng.Float64()
	switch {
	case r < 0.15:
		s.c.Allocate()
	case r < 0.40:
		s.frameworkUsesOffers(s.frameworks[s.rng.Intn(len(s.frameworks))])
	case r < 0.60:
		s.runtimeProgresses()
	case r < 0.65:
		s.frameworkKills(s.frameworks[s.rng.Intn(len(s.frameworks))])
	case r < 0.67:
		f := s.frameworks[s.rng.Intn(len(s.frameworks))]
		if f.node.Connected && f.node.ID != "" {
			s.c.Send(f.name, &kernelpb.Reconcile{FrameworkId: f.node.ID})
		}
	case r < 0.68:
		s.disconnectFramework(s.frameworks[s.rng.Intn(len(s.frameworks))])
	case r < 0.685:
		name := s.agentNames[s.rng.Intn(len(s.agentNames))]
		s.partition[name] = s.c.Now.Add(time.Duration(2+s.rng.Intn(10)) * time.Second)
	case r < 0.688:
		s.stats["restart"]++
		s.c.RestartAgent(s.agentNames[s.rng.Intn(len(s.agentNames))])
	case r < 0.689:
		s.failoverMaster()
	default:
		s.c.Advance(time.Duration(50+s.rng.Intn(700)) * time.Millisecond)
	}
	s.reattachFrameworks(false)
	s.runtimeHonoursKills()
	s.frameworksReadInboxes()
}

func (s *simulation) frameworkUsesOffers(f *simFramework) {
	if !f.node.Connected || len(f.offers) == 0 {
		return
	}
	ids := sortedOfferKeys(f.offers)
	id := ids[s.rng.Intn(len(ids))]
	o := f.offers[id]
	delete(f.offers, id)
	if s.rng.Float64() < 0.2 {
		s.c.Send(f.name, &kernelpb.Decline{FrameworkId: f.node.ID, OfferIds: []string{id},
			Filters: &kernelpb.Filters{RefuseSeconds: float64(s.rng.Intn(3))}})
		return
	}
	offered, _ := resources.FromProto(o.Resources)
	var tasks []*kernelpb.TaskInfo
	for n := s.rng.Intn(4); n > 0; n-- {
		cpus := resources.Milli(100 * (1 + s.rng.Intn(10)))
		mem := resources.Milli(1000 * 32 * (1 + s.rng.Intn(16)))
		if s.rng.Float64() < 0.05 {
			cpus = offered.Get(resources.CPUs) + 1000 // cannot fit
		}
		s.nextTask++
		ti := wasmTask(fmt.Sprintf("t%d", s.nextTask), "cpus:1")
		ti.Resources = resources.New(
			resources.Resource{Name: resources.CPUs, Milli: cpus},
			resources.Resource{Name: resources.Mem, Milli: mem},
		).ToProto()
		tasks = append(tasks, ti)
		f.tasks[ti.TaskId] = &simTask{id: ti.TaskId, seenUpdates: map[string]bool{}}
		s.stats["launched"]++
	}
	a := accept(f.node.ID, []string{id}, tasks...)
	a.Filters = &kernelpb.Filters{RefuseSeconds: float64(s.rng.Intn(3))}
	s.c.Send(f.name, a)
}

func (s *simulation) frameworkKills(f *simFramework) {
	if !f.node.Connected {
		return
	}
	var live []string
	for _, id := range sortedTaskKeysOf(f.tasks) {
		if f.tasks[id].terminal == 0 {
			live = append(live, id)
		}
	}
	if len(live) == 0 {
		return
	}
	s.c.Send(f.name, &kernelpb.Kill{FrameworkId: f.node.ID, TaskId: live[s.rng.Intn(len(live))]})
}

func (s *simulation) runtimeProgresses() {
	name := s.agentNames[s.rng.Intn(len(s.agentNames))]
	var live []master.TaskView
	var views []struct {
		fw, id string
		state  kernelpb.TaskState
	}
	_ = live
	for _, tv := range s.c.Agents[name].A.Tasks() {
		if tv.Info != nil && stateRank[tv.State] < 5 {
			views = append(views, struct {
				fw, id string
				state  kernelpb.TaskState
			}{tv.FrameworkID, tv.TaskID, tv.State})
		}
	}
	if len(views) == 0 {
		return
	}
	v := views[s.rng.Intn(len(views))]
	var next kernelpb.TaskState
	switch v.state {
	case staging:
		next = []kernelpb.TaskState{starting, running, failed}[s.rng.Intn(3)]
	case starting:
		next = running
	default:
		next = []kernelpb.TaskState{finished, finished, failed}[s.rng.Intn(3)]
	}
	if next == finished {
		s.stats["finished"]++
	}
	s.c.TaskEvent(name, v.fw, v.id, next)
}

// runtimeHonoursKills reports KILLED for every kill the agents asked for.
func (s *simulation) runtimeHonoursKills() {
	for _, name := range s.agentNames {
		n := s.c.Agents[name]
		kills := n.Killed
		n.Killed = nil
		for _, k := range kills {
			for _, tv := range n.A.Tasks() {
				if tv.FrameworkID == k.FrameworkID && tv.TaskID == k.TaskID && stateRank[tv.State] < 5 {
					s.stats["killed-by-framework"]++
					s.c.TaskEvent(name, k.FrameworkID, k.TaskID, killed)
				}
			}
		}
	}
}

func (s *simulation) disconnectFramework(f *simFramework) {
	if !f.node.Connected {
		return
	}
	s.c.Disconnect(f.name)
	f.offers = map[string]*kernelpb.Offer{}
	// Mostly back within the failover timeout; sometimes too late.
	back := time.Duration(1+s.rng.Intn(8)) * time.Second
	if s.rng.Float64() < 0.3 {
		back = f.timeout + 2*time.Second
	}
	f.reattach = s.c.Now.Add(back)
}

func (s *simulation) reattachFrameworks(now bool) {
	for _, f := range s.frameworks {
		if f.node.Connected || (!now && s.c.Now.Before(f.reattach)) {
			continue
		}
		s.stats["failover"]++
		s.c.Subscribe(f.name, f.timeout)
		s.frameworksReadInboxes() // a removed framework learns it here
	}
}

// retire handles a framework the master removed: everything it launched
// must be settled in the master, then it starts over under a new id.
func (s *simulation) retire(f *simFramework) {
	s.stats["framework-removed"]++
	oldID := f.node.ID
	for _, id := range sortedTaskKeysOf(f.tasks) {
		if v, ok := s.c.Master.Task(oldID, id); ok && (v.Active || stateRank[v.State] < 5) {
			s.fail("task %s of removed framework %s still %v (active=%v)", id, oldID, v.State, v.Active)
		}
	}
	f.retired++
	f.tasks = map[string]*simTask{}
	f.offers = map[string]*kernelpb.Offer{}
	f.node.ID = ""
	s.c.Subscribe(f.name, f.timeout)
}

func (s *simulation) frameworksReadInboxes() {
	for _, f := range s.frameworks {
		for len(f.node.Inbox) > 0 {
			in := f.node.TakeInbox()
			for _, msg := range in {
				s.frameworkReceives(f, msg)
			}
		}
	}
}

func (s *simulation) frameworkReceives(f *simFramework, msg any) {
	switch m := msg.(type) {
	case *kernelpb.Offers:
		for _, o := range m.Offers {
			if o.FrameworkId != f.node.ID {
				s.fail("%s got offer %s for framework %s", f.name, o.Id, o.FrameworkId)
			}
			f.offers[o.Id] = o
		}
	case *kernelpb.Rescind:
		delete(f.offers, m.OfferId)
	case *kernelpb.Error:
		if strings.Contains(m.Message, "was removed") {
			s.retire(f)
		}
	case *kernelpb.Update:
		st := m.Status
		if st.FrameworkId != f.node.ID {
			s.fail("%s (%s) got an update for framework %s", f.name, f.node.ID, st.FrameworkId)
		}
		task := f.tasks[st.TaskId]
		if task == nil {
			s.fail("%s got an update for task %s it never launched: %v", f.name, st.TaskId, st)
		}
		task.history = append(task.history, fmt.Sprintf("%v/%s", st.State, st.UpdateId))
		if st.UpdateId != "" && task.seenUpdates[st.UpdateId] {
			// A duplicate (delivery is at least once): acknowledge again.
			s.c.Send(f.name, ack(f.node.ID, st.AgentId, st.TaskId, st.UpdateId))
			return
		}
		if st.State == unreachable {
			// Not a lifecycle step: the rank stays that of what the
			// framework heard before, which the task resumes from.
			if st.Source != kernelpb.Source_SOURCE_MASTER || !f.node.PartitionAware {
				s.fail("task %s of %s: UNREACHABLE from %v to a framework partition-aware=%v", st.TaskId, f.name, st.Source, f.node.PartitionAware)
			}
			if task.terminal != 0 {
				s.fail("task %s of %s is UNREACHABLE after ending %v (history %v)", st.TaskId, f.name, task.terminal, task.history)
			}
			if st.UpdateId != "" {
				s.stats["unreachable"]++
				task.unreachable = true
				task.seenUpdates[st.UpdateId] = true
				s.c.Send(f.name, ack(f.node.ID, st.AgentId, st.TaskId, st.UpdateId))
			}
			return
		}
		if task.unreachable && st.UpdateId != "" {
			task.unreachable = false
			if st.Reason == kernelpb.Reason_REASON_AGENT_REREGISTERED {
				s.stats["unreachable-came-back"]++
			}
		}
		rank := stateRank[st.State]
		if task.terminal != 0 && task.terminal != st.State && s.cameBack(task) {
			s.stats["lost-came-back"]++
			task.terminal, task.lostByMaster, task.rank = 0, false, 0
		}
		if rank == 5 {
			task.lostByMaster = st.State == lost && st.Source == kernelpb.Source_SOURCE_MASTER
			if task.terminal != 0 && task.terminal != st.State {
				s.fail("task %s of %s ended twice: %v then %v (history %v)", st.TaskId, f.name, task.terminal, st.State, task.history)
			}
			task.terminal = st.State
		} else if task.terminal != 0 {
			s.fail("task %s of %s is %v after ending %v (history %v)", st.TaskId, f.name, st.State, task.terminal, task.history)
		}
		if st.UpdateId == "" {
			return // a reconciliation answer: nothing to acknowledge
		}
		task.seenUpdates[st.UpdateId] = true
		if rank < task.rank {
			s.fail("task %s of %s: update %v after rank %d (history %v)", st.TaskId, f.name, st.State, task.rank, task.history)
		}
		task.rank = rank
		s.c.Send(f.name, ack(f.node.ID, st.AgentId, st.TaskId, st.UpdateId))
	}
}

func (s *simulation) checkInvariants() {
	m := s.c.Master
	if problems := masterInvariants(m); len(problems) > 0 {
		s.fail("%s", strings.Join(problems, "; "))
	}
	// Every task a framework launched is known to the master, unless the
	// Accept never arrived (the framework learns that by reconciling).
	for _, f := range s.frameworks {
		for _, id := range sortedTaskKeysOf(f.tasks) {
			st := f.tasks[id]
			v, ok := m.Task(f.node.ID, id)
			if !ok && !st.acceptDropped && !st.beforeFailover {
				s.fail("task %s of %s unknown to the master", id, f.name)
			}
			if ok && st.terminal != 0 && v.State != st.terminal && !s.cameBack(st) {
				s.fail("task %s of %s: framework has %v, master %v", id, f.name, st.terminal, v.State)
			}
		}
	}
}

// quiesce stops the faults and drives everything to rest: agents finish
// their tasks, frameworks kill and reconcile what they still wait for.
func (s *simulation) quiesce() {
	s.c.Drop = nil
	s.partition = map[string]time.Time{}
	for round := 0; ; round++ {
		if round == 300 {
			s.fail("no quiescence after %d rounds: %s", round, s.pendingSummary())
		}
		s.reattachFrameworks(true)
		for _, name := range s.agentNames {
			for _, tv := range s.c.Agents[name].A.Tasks() {
				if tv.Info != nil && stateRank[tv.State] < 5 {
					s.c.TaskEvent(name, tv.FrameworkID, tv.TaskID, finished)
				}
			}
		}
		for _, f := range s.frameworks {
			if len(f.offers) > 0 {
				s.c.Send(f.name, &kernelpb.Decline{FrameworkId: f.node.ID, OfferIds: sortedOfferKeys(f.offers),
					Filters: &kernelpb.Filters{RefuseSeconds: 3600}})
				f.offers = map[string]*kernelpb.Offer{}
			}
			var recon []*kernelpb.ReconcileTask
			for _, id := range sortedTaskKeysOf(f.tasks) {
				if f.tasks[id].terminal == 0 {
					s.c.Send(f.name, &kernelpb.Kill{FrameworkId: f.node.ID, TaskId: id})
					recon = append(recon, &kernelpb.ReconcileTask{TaskId: id})
				}
			}
			if len(recon) > 0 {
				s.c.Send(f.name, &kernelpb.Reconcile{FrameworkId: f.node.ID, Tasks: recon})
			}
		}
		s.runtimeHonoursKills()
		s.frameworksReadInboxes()
		s.c.Advance(time.Second)
		s.frameworksReadInboxes()
		s.checkInvariants()
		if s.atRest() {
			break
		}
	}
	m := s.c.Master
	for _, a := range m.Agents() {
		if !a.Active {
			s.fail("agent %s inactive at rest", a.ID)
		}
		if got := m.Available(a.ID); !got.Equal(a.Total) {
			s.fail("agent %s at rest: free %s, total %s", a.ID, got, a.Total)
		}
	}
	if len(m.Agents()) != len(s.agentNames) {
		s.fail("%d agents registered at rest, want %d", len(m.Agents()), len(s.agentNames))
	}
	for _, f := range s.frameworks {
		for _, id := range sortedTaskKeysOf(f.tasks) {
			switch f.tasks[id].terminal {
			case finished:
				s.stats["ended-finished"]++
			case lost:
				s.stats["ended-lost"]++
			}
		}
	}
	for _, e := range s.c.MasterEvents {
		switch e.Kind {
		case master.EventAgentRemoved:
			s.stats["agent-removed"]++
		case master.EventAgentUnreachable:
			s.stats["agent-unreachable"]++
		}
	}
}

func (s *simulation) atRest() bool {
	m := s.c.Master
	if len(m.Tasks(master.TaskFilter{ActiveOnly: true})) > 0 || len(m.Offers()) > 0 {
		return false
	}
	for _, name := range s.agentNames {
		if len(s.c.Agents[name].A.Tasks()) > 0 || !s.c.Agents[name].A.Registered() {
			return false
		}
	}
	for _, f := range s.frameworks {
		for _, st := range f.tasks {
			if st.terminal == 0 {
				return false
			}
		}
	}
	return true
}

func (s *simulation) pendingSummary() string {
	var b strings.Builder
	errs := s.c.Errors
	if len(errs) > 5 {
		errs = errs[len(errs)-5:]
	}
	fmt.Fprintf(&b, "\n last errors: %q", errs)
	for _, fv := range s.c.Master.Frameworks() {
		fmt.Fprintf(&b, "\n master framework %s peer %s connected %v", fv.ID, fv.Peer, fv.Connected)
	}
	for _, tv := range s.c.Master.Tasks(master.TaskFilter{ActiveOnly: true}) {
		fmt.Fprintf(&b, "\n master active %s/%s %v on %s", tv.FrameworkID, tv.ID, tv.State, tv.AgentID)
	}
	for _, name := range s.agentNames {
		for _, tv := range s.c.Agents[name].A.Tasks() {
			fmt.Fprintf(&b, "\n %s holds %s/%s %v pending %d", name, tv.FrameworkID, tv.TaskID, tv.State, tv.PendingUpdates)
		}
	}
	for _, f := range s.frameworks {
		for _, id := range sortedTaskKeysOf(f.tasks) {
			if st := f.tasks[id]; st.terminal == 0 {
				v, ok := s.c.Master.Task(f.node.ID, id)
				fmt.Fprintf(&b, "\n %s (%s connected=%v) waits for %s %v; master: %v %+v; inbox %d", f.name, f.node.ID, f.node.Connected, id, st.history, ok, v.State, len(f.node.Inbox))
			}
		}
	}
	return b.String()
}

func sortedOfferKeys(m map[string]*kernelpb.Offer) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sortedTaskKeysOf(m map[string]*simTask) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
