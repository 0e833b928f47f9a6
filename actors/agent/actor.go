package agent

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/pandodc/pando/internal/shell"
	kagent "github.com/pandodc/pando/kernel/agent"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/runtime"
)

// ActorID is the name the agent actor is spawned under.
const ActorID = "agent"

// Config tunes an agent actor.
type Config struct {
	Kernel kagent.Config
	// Master is the master actor's PID.
	Master *actor.PID
	// FindMaster, if set, finds the leading master again when the agent
	// loses the one it has (a failover elects another, elsewhere). It may
	// block; the agent calls it off its goroutine and retries on error.
	FindMaster func(ctx context.Context) (*actor.PID, error)
	// SandboxRoot holds one directory per task.
	SandboxRoot string
	Runtimes    Runtimes
	Fetcher     Fetcher
	// TickInterval drives status-update retries and re-registration.
	TickInterval time.Duration
	Logger       *slog.Logger
	Clock        func() time.Time
	// ExecutorIdleTimeout is how long an executor with no tasks left is
	// kept (default 10s), so that a framework launching one task after
	// another does not spawn an actor per task.
	ExecutorIdleTimeout time.Duration
	// Sandboxes, if set, learns which tasks are still active, so the HTTP
	// log follower knows when a log is complete.
	Sandboxes *Sandboxes
	// Monitor, if set, learns which tasks run, to measure them on demand.
	Monitor *Monitor
	// Checkpoint, if set, keeps the agent's id and its container tasks on
	// disk, so that a restarted agent takes them back (Recovered).
	Checkpoint *Checkpoint
	// Recovered are the tasks that outlived the agent's previous run,
	// their runtime already following them again.
	Recovered []RecoveredTask

	// wrapExecutor, in tests, wraps each executor actor (to crash it).
	wrapExecutor func(actor.Actor) actor.Actor
	// lose, in tests, drops the messages between the agent and the master
	// for which it returns true: toMaster is the direction.
	lose func(msg proto.Message, toMaster bool) bool
}

type tick struct{}

// flushNow, sent to itself, makes the agent send what its kernel has
// ready: executors' reports are stepped as they come and the status
// updates they make wait for it, so that those of many tasks go to the
// master as one batch (see kagent.Agent.Ready).
type flushNow struct{}

// masterFound is the answer of FindMaster.
type masterFound struct{ pid *actor.PID }

// findMasterRetry paces FindMaster while no master answers.
const findMasterRetry = 500 * time.Millisecond

// Actor owns the agent state machine and its executors.
type Actor struct {
	cfg       Config
	k         *kagent.Agent
	executors map[string]*executorState // by framework id
	byPID     map[string]string         // executor PID id -> framework id
	cancel    func()
	self      *actor.PID
	// checkpointed holds the tasks with a checkpoint file, and savedID
	// the agent id last written there.
	checkpointed map[kagent.TaskRef]struct{}
	savedID      string
	// finding is set while a FindMaster call is under way.
	finding bool
	health  healthChecks // see health.go
	// flushQueued is set while a flushNow is in the mailbox.
	flushQueued bool
	stop        context.CancelFunc // ends a FindMaster under way
}

// executorState is what the agent knows of one framework's executor.
type executorState struct {
	pid       *actor.PID
	tasks     map[string]struct{} // its tasks not yet terminal, by id
	idleSince time.Time           // when tasks last became empty
}

// Props spawns an agent actor.
func Props(cfg Config) *actor.Props {
	shell.Defaults(&cfg.TickInterval, &cfg.Logger, &cfg.Clock)
	if cfg.ExecutorIdleTimeout <= 0 {
		cfg.ExecutorIdleTimeout = 10 * time.Second
	}
	return actor.PropsFromProducer(func() actor.Actor {
		return &Actor{
			cfg: cfg, k: kagent.New(cfg.Kernel), executors: map[string]*executorState{}, byPID: map[string]string{},
			checkpointed: map[kagent.TaskRef]struct{}{}, savedID: cfg.Kernel.AgentID,
		}
	}, actor.WithDispatcher(shell.Dispatcher))
}

// RecoveredTask is a task that outlived a restart of the agent: what its
// checkpoint says, and its runtime's handle on it.
type RecoveredTask struct {
	kagent.Recovered
	Running runtime.Task
	// Ended, if set, is how the task ended before the restart, not yet
	// acknowledged (Running is then nil): it is reported again.
	Ended *kernelpb.TaskStatus
}

// executorCrashed tells the agent that a supervised executor panicked.
type executorCrashed struct {
	child  *actor.PID
	reason any
}

// HandleFailure makes the agent the supervisor of its executors: a crashed
// executor is stopped (restarting it would run its tasks twice) and its
// tasks reported, through the agent's own mailbox, as FAILED.
func (a *Actor) HandleFailure(system *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason any, _ any) {
	// First the report, then the stop: stopping kills the executor's
	// tasks, and their KILLED reports must not overtake it.
	system.Root.Send(a.self, executorCrashed{child: child, reason: reason})
	sup.StopChildren(child)
}

// Receive implements actor.Actor.
func (a *Actor) Receive(ctx actor.Context) {
	now := a.cfg.Clock()
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		a.self = ctx.Self()
		a.cancel = shell.SendEvery(ctx.ActorSystem().Root, ctx.Self(), a.cfg.TickInterval, tick{})
		ctx.Watch(a.cfg.Master)
		a.recover(ctx, now)
		a.k.Start(now)
	case *actor.Stopping:
		if a.cancel != nil {
			a.cancel()
		}
		if a.stop != nil {
			a.stop()
		}
		a.stopHealthChecks()
	case *actor.Stopped, *actor.Restarting:
	case *actor.Terminated:
		if msg.Who.Equal(a.cfg.Master) {
			// The master went away: keep running tasks, hold their
			// updates, and register again when it (or the master
			// elected after it) answers.
			a.cfg.Logger.Warn("agent: lost the master; will re-register", "master", msg.Who.String())
			a.k.MasterChanged(now)
			if a.cfg.FindMaster != nil {
				a.findMaster(ctx)
			} else {
				ctx.Watch(a.cfg.Master)
			}
		}
	case masterFound:
		a.finding = false
		if msg.pid == nil {
			a.findMaster(ctx) // not found yet: again, after a pause
			break
		}
		if !msg.pid.Equal(a.cfg.Master) {
			a.cfg.Logger.Warn("agent: following the new leading master", "master", msg.pid.String())
			ctx.Unwatch(a.cfg.Master)
			a.cfg.Master = msg.pid
		}
		ctx.Watch(a.cfg.Master)
		a.k.MasterChanged(now)
	case tick:
		a.k.Tick(now)
		a.stopIdleExecutors(ctx, now)
	case flushNow:
		a.flushQueued = false
	case LiveTasks:
		ctx.Respond(a.liveTasks())
	case *kernelpb.TaskStatus:
		// An executor's report about its task. Its update waits for
		// flushNow, behind the reports already in the mailbox.
		a.observeHealth(ctx, now, msg)
		ref := kagent.TaskRef{FrameworkID: msg.GetFrameworkId(), TaskID: msg.GetTaskId()}
		a.taskEvent(now, ref, msg.GetState(), msg.GetReason(), msg.GetMessage(), msg.GetExitCode(), msg.GetUsage())
		if !a.flushQueued {
			a.flushQueued = true
			ctx.Send(ctx.Self(), flushNow{})
		}
		return
	case healthResult:
		a.healthChanged(ctx, now, msg)
	case executorCrashed:
		fw, ok := a.byPID[msg.child.Id]
		if !ok {
			break
		}
		ex := a.executors[fw]
		delete(a.byPID, msg.child.Id)
		delete(a.executors, fw)
		for _, id := range slices.Sorted(maps.Keys(ex.tasks)) {
			a.taskEvent(now, kagent.TaskRef{FrameworkID: fw, TaskID: id}, kernelpb.TaskState_TASK_FAILED,
				kernelpb.Reason_REASON_EXECUTOR_CRASHED, fmt.Sprintf("executor crashed: %v", msg.reason), 0, nil)
		}
	case proto.Message:
		if a.cfg.lose != nil && a.cfg.lose(msg, false) {
			break
		}
		if err := a.k.Step(now, msg); err != nil {
			a.cfg.Logger.Info("agent: ignored a message from the master", "type", fmt.Sprintf("%T", msg), "error", err)
		}
	}
	a.flush(ctx)
}

// findMaster asks FindMaster, off the actor's goroutine, for the leading
// master; the answer comes back as masterFound.
func (a *Actor) findMaster(ctx actor.Context) {
	if a.finding {
		return
	}
	a.finding = true
	var findCtx context.Context
	findCtx, a.stop = context.WithCancel(context.Background())
	system, self, find, logger := ctx.ActorSystem(), ctx.Self(), a.cfg.FindMaster, a.cfg.Logger
	go func() {
		select {
		case <-time.After(findMasterRetry):
		case <-findCtx.Done():
			return
		}
		pid, err := find(findCtx)
		if err != nil {
			logger.Info("agent: no leading master found yet", "error", err)
			pid = nil
		}
		system.Root.Send(self, masterFound{pid: pid})
	}()
}

func (a *Actor) taskEvent(now time.Time, ref kagent.TaskRef, state kernelpb.TaskState, reason kernelpb.Reason, message string, code int32, usage *kernelpb.ResourceUsage) {
	err := a.k.TaskEvent(now, kagent.TaskEvent{
		FrameworkID: ref.FrameworkID, TaskID: ref.TaskID, State: state,
		Reason: reason, Message: message, ExitCode: code, Usage: usage,
	})
	if err != nil {
		a.cfg.Logger.Warn("agent: dropped a task event", "task", ref.TaskID, "error", err)
	}
	if !kernelpb.IsTerminal(state) {
		return
	}
	if ex, ok := a.executors[ref.FrameworkID]; ok {
		if _, ok := ex.tasks[ref.TaskID]; ok {
			delete(ex.tasks, ref.TaskID)
			if len(ex.tasks) == 0 {
				ex.idleSince = now
			}
		}
	}
	if a.cfg.Sandboxes != nil {
		a.cfg.Sandboxes.stopped(ref, now, int64(usage.GetStdoutBytes()+usage.GetStderrBytes()))
	}
	if _, ok := a.checkpointed[ref]; ok {
		a.checkpointEnd(ref, &kernelpb.TaskStatus{FrameworkId: ref.FrameworkID, TaskId: ref.TaskID, State: state,
			Reason: reason, Message: message, ExitCode: code, Usage: usage})
	}
}

// recover takes back the tasks that outlived the agent's previous run:
// the kernel counts them RUNNING (and reports them when registering), and
// each framework's executor follows its own again.
func (a *Actor) recover(ctx actor.Context, now time.Time) {
	if len(a.cfg.Recovered) == 0 {
		return
	}
	tasks := make([]kagent.Recovered, len(a.cfg.Recovered))
	for i, r := range a.cfg.Recovered {
		tasks[i] = r.Recovered
	}
	if err := a.k.Recover(now, tasks); err != nil {
		a.cfg.Logger.Error("agent: cannot take back the tasks of its previous run", "error", err)
		return
	}
	for _, r := range a.cfg.Recovered {
		ref := kagent.TaskRef{FrameworkID: r.FrameworkID, TaskID: r.Task.GetTaskId()}
		if r.Task.GetContainer() != nil {
			a.checkpointed[ref] = struct{}{}
		}
		if a.cfg.Sandboxes != nil {
			a.cfg.Sandboxes.adopted(ref)
		}
		if e := r.Ended; e != nil { // it ended before the restart, unacknowledged
			a.taskEvent(now, ref, e.GetState(), e.GetReason(), e.GetMessage(), e.GetExitCode(), e.GetUsage())
			continue
		}
		ex := a.executor(ctx, ref.FrameworkID)
		ex.tasks[ref.TaskID] = struct{}{}
		ctx.Send(ex.pid, adoptTask{taskID: ref.TaskID, agentID: a.k.ID(), task: r.Running})
		if hc := r.Task.GetHealthCheck(); hc != nil {
			a.startHealthCheck(ctx, ref, hc, now)
		}
	}
	a.cfg.Logger.Warn("agent: took back the tasks of its previous run", "tasks", len(a.cfg.Recovered))
}

// executor returns the executor of a framework, spawning it if needed.
func (a *Actor) executor(ctx actor.Context, frameworkID string) *executorState {
	if ex, ok := a.executors[frameworkID]; ok {
		return ex
	}
	var exec actor.Actor = &executor{agent: ctx.Self(), frameworkID: frameworkID, runtimes: a.cfg.Runtimes, fetcher: a.cfg.Fetcher, monitor: a.cfg.Monitor, tasks: map[string]*taskRun{}}
	if a.cfg.wrapExecutor != nil {
		exec = a.cfg.wrapExecutor(exec)
	}
	ex := &executorState{pid: ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return exec }, actor.WithDispatcher(shell.Dispatcher))), tasks: map[string]struct{}{}}
	a.executors[frameworkID] = ex
	a.byPID[ex.pid.Id] = frameworkID
	return ex
}

func (a *Actor) flush(ctx actor.Context) {
	rd := a.k.Ready()
	if id := a.k.ID(); id != a.savedID && a.cfg.Checkpoint != nil {
		if err := a.cfg.Checkpoint.SaveAgentID(id); err != nil {
			a.cfg.Logger.Warn("agent: cannot keep its id; a restart would register anew", "error", err)
		}
		a.savedID = id
	}
	for _, msg := range rd.ToMaster {
		if a.cfg.lose != nil && a.cfg.lose(msg, true) {
			continue
		}
		// Request, not Send: the master learns our PID from the sender.
		ctx.Request(a.cfg.Master, msg)
	}
	for _, l := range rd.Launch {
		a.launch(ctx, l)
	}
	for _, ev := range rd.Events {
		if ev.Kind == kagent.EventUpdateAcked {
			a.acked(kagent.TaskRef{FrameworkID: ev.FrameworkID, TaskID: ev.TaskID})
		}
		if ev.Kind == kagent.EventMasterLost && a.cfg.FindMaster != nil {
			// Pings stopped, though the master may still run (a deposed
			// leader, a partition): look for the one that leads now.
			a.findMaster(ctx)
		}
	}
	for _, ref := range rd.Kill {
		if ex, ok := a.executors[ref.FrameworkID]; ok {
			ctx.Send(ex.pid, killTask{taskID: ref.TaskID})
		}
	}
}

func (a *Actor) launch(ctx actor.Context, l kagent.LaunchTask) {
	ref := kagent.TaskRef{FrameworkID: l.FrameworkID, TaskID: l.Task.GetTaskId()}
	dir, err := sandboxDir(a.cfg.SandboxRoot, ref)
	if err == nil {
		err = a.admitHealthCheck(ref, l.Task)
	}
	if err != nil {
		a.taskEvent(a.cfg.Clock(), ref, kernelpb.TaskState_TASK_ERROR, kernelpb.Reason_REASON_INVALID_TASK, err.Error(), 0, nil)
		return
	}
	if a.cfg.Sandboxes != nil {
		a.cfg.Sandboxes.started(ref)
	}
	if a.cfg.Checkpoint != nil && l.Task.GetContainer() != nil {
		// A container outlives the agent: keep what it takes to follow
		// it again after a restart. (A WASM task ends with the agent.)
		if err := a.cfg.Checkpoint.SaveTask(ref.FrameworkID, l.FrameworkName, l.Task); err != nil {
			a.cfg.Logger.Warn("agent: a container task runs without a checkpoint; a restart of the agent would lose it", "task", ref.TaskID, "error", err)
		} else {
			a.checkpointed[ref] = struct{}{}
		}
	}
	ex := a.executor(ctx, ref.FrameworkID)
	ex.tasks[ref.TaskID] = struct{}{}
	ctx.Send(ex.pid, runTask{task: l.Task, frameworkName: l.FrameworkName, sandbox: dir})
}

// stopIdleExecutors stops the executors that have had no task for a while.
func (a *Actor) stopIdleExecutors(ctx actor.Context, now time.Time) {
	for fw, ex := range a.executors {
		if len(ex.tasks) == 0 && now.Sub(ex.idleSince) >= a.cfg.ExecutorIdleTimeout {
			ctx.Stop(ex.pid)
			delete(a.byPID, ex.pid.Id)
			delete(a.executors, fw)
		}
	}
}
