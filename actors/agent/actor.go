package agent

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"
	"google.golang.org/protobuf/proto"

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
	// SandboxRoot holds one directory per task.
	SandboxRoot string
	Runtime     runtime.Runtime
	Fetcher     Fetcher
	// TickInterval drives status-update retries and re-registration.
	TickInterval time.Duration
	Logger       *slog.Logger
	Clock        func() time.Time
	// Sandboxes, if set, learns which tasks are still active, so the HTTP
	// log follower knows when a log is complete.
	Sandboxes *Sandboxes
}

type tick struct{}

// Actor owns the agent state machine and its executors.
type Actor struct {
	cfg       Config
	k         *kagent.Agent
	executors map[kagent.TaskRef]*actor.PID
	tasksOf   map[string]kagent.TaskRef // executor PID id -> its task
	cancel    scheduler.CancelFunc
	self      *actor.PID
}

// Props spawns an agent actor.
func Props(cfg Config) *actor.Props {
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = 100 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return actor.PropsFromProducer(func() actor.Actor {
		return &Actor{cfg: cfg, k: kagent.New(cfg.Kernel), executors: map[kagent.TaskRef]*actor.PID{}, tasksOf: map[string]kagent.TaskRef{}}
	})
}

// executorCrashed tells the agent that a supervised executor panicked.
type executorCrashed struct {
	child  *actor.PID
	reason any
}

// HandleFailure makes the agent the supervisor of its executors: a crashed
// executor is stopped (restarting it would run the task twice) and reported,
// through the agent's own mailbox, as a FAILED task.
func (a *Actor) HandleFailure(system *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason any, _ any) {
	sup.StopChildren(child)
	system.Root.Send(a.self, executorCrashed{child: child, reason: reason})
}

// Receive implements actor.Actor.
func (a *Actor) Receive(ctx actor.Context) {
	now := a.cfg.Clock()
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		a.self = ctx.Self()
		a.cancel = scheduler.NewTimerScheduler(ctx).SendRepeatedly(a.cfg.TickInterval, a.cfg.TickInterval, ctx.Self(), tick{})
		ctx.Watch(a.cfg.Master)
		a.k.Start(now)
	case *actor.Stopping:
		if a.cancel != nil {
			a.cancel()
		}
	case *actor.Stopped, *actor.Restarting:
	case *actor.Terminated:
		if msg.Who.Equal(a.cfg.Master) {
			// The master went away: keep running tasks, hold their
			// updates, and register again when it answers.
			a.cfg.Logger.Warn("agent: lost the master; will re-register", "master", msg.Who.String())
			a.k.MasterChanged(now)
			ctx.Watch(a.cfg.Master)
		}
	case tick:
		a.k.Tick(now)
	case *kernelpb.TaskStatus:
		// An executor's report about its task.
		ref := kagent.TaskRef{FrameworkID: msg.GetFrameworkId(), TaskID: msg.GetTaskId()}
		a.taskEvent(now, ref, msg.GetState(), msg.GetReason(), msg.GetMessage(), msg.GetExitCode())
	case executorCrashed:
		if ref, ok := a.tasksOf[msg.child.Id]; ok {
			a.taskEvent(now, ref, kernelpb.TaskState_TASK_FAILED, kernelpb.Reason_REASON_EXECUTOR_CRASHED,
				fmt.Sprintf("executor crashed: %v", msg.reason), 0)
		}
	case proto.Message:
		if err := a.k.Step(now, msg); err != nil {
			a.cfg.Logger.Info("agent: ignored a message from the master", "type", fmt.Sprintf("%T", msg), "error", err)
		}
	}
	a.flush(ctx)
}

func (a *Actor) taskEvent(now time.Time, ref kagent.TaskRef, state kernelpb.TaskState, reason kernelpb.Reason, message string, code int32) {
	err := a.k.TaskEvent(now, kagent.TaskEvent{
		FrameworkID: ref.FrameworkID, TaskID: ref.TaskID, State: state,
		Reason: reason, Message: message, ExitCode: code,
	})
	if err != nil {
		a.cfg.Logger.Warn("agent: dropped a task event", "task", ref.TaskID, "error", err)
	}
	if !kernelpb.IsTerminal(state) {
		return
	}
	if pid, ok := a.executors[ref]; ok {
		delete(a.tasksOf, pid.Id)
		delete(a.executors, ref)
	}
	if a.cfg.Sandboxes != nil {
		a.cfg.Sandboxes.stopped(ref, now)
	}
}

func (a *Actor) flush(ctx actor.Context) {
	rd := a.k.Ready()
	for _, msg := range rd.ToMaster {
		// Request, not Send: the master learns our PID from the sender.
		ctx.Request(a.cfg.Master, msg)
	}
	for _, l := range rd.Launch {
		a.launch(ctx, l)
	}
	for _, ref := range rd.Kill {
		if pid, ok := a.executors[ref]; ok {
			ctx.Send(pid, killTask{})
		}
	}
}

func (a *Actor) launch(ctx actor.Context, l kagent.LaunchTask) {
	ref := kagent.TaskRef{FrameworkID: l.FrameworkID, TaskID: l.Task.GetTaskId()}
	dir, err := sandboxDir(a.cfg.SandboxRoot, ref)
	if err != nil {
		a.taskEvent(a.cfg.Clock(), ref, kernelpb.TaskState_TASK_ERROR, kernelpb.Reason_REASON_INVALID_TASK, err.Error(), 0)
		return
	}
	if a.cfg.Sandboxes != nil {
		a.cfg.Sandboxes.started(ref)
	}
	exec := &executor{agent: ctx.Self(), frameworkID: ref.FrameworkID, task: l.Task, sandbox: dir, rt: a.cfg.Runtime, fetcher: a.cfg.Fetcher}
	pid := ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return exec }))
	a.executors[ref] = pid
	a.tasksOf[pid.Id] = ref
}
