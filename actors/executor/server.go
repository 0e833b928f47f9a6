package executor

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pandodc/pando/actors/executor/executorpb"
	"github.com/pandodc/pando/internal/shell"
	"github.com/pandodc/pando/runtime"
)

// ActorID is the name of the executor actor in its process.
const ActorID = "executor"

// DefaultOrphanTimeout is how long an executor whose agent process is gone
// keeps its tasks running for the agent to come back (Mesos' agent
// recovery timeout).
const DefaultOrphanTimeout = 15 * time.Minute

// server is the actor of the executor process: it owns the tasks.
type server struct {
	rt            runtime.Runtime
	logger        *slog.Logger
	orphanTimeout time.Duration
	done          chan struct{} // closed when a Shutdown has ended every task

	client   *actor.PID // the attached agent's client actor; nil before Attach
	agentPID int
	orphaned time.Time // when the agent's process was first seen gone
	tasks    map[key]*entry
	cancel   func()
	shutting bool
}

// entry is one task of the executor.
type entry struct {
	spec    *executorpb.Spec
	running runtime.Task     // nil while launching
	exit    *executorpb.Exit // set once it ended
	killed  bool             // killed while launching
	waiting []*actor.PID     // Kill requests waiting for a launch to end
	replyTo *actor.PID       // who asked for the launch
}

// Messages the server sends itself from its goroutines.
type (
	launchDone struct {
		key  key
		task runtime.Task
		err  error
	}
	taskEnded struct {
		key  key
		exit runtime.Exit
	}
	orphanTick struct{}
)

func newServer(rt runtime.Runtime, logger *slog.Logger, orphanTimeout time.Duration, done chan struct{}) *server {
	// Until an agent attaches, the agent is the process that started it
	// (setsid leaves the parent as it is): one that dies before attaching
	// must not leave it running forever.
	return &server{rt: rt, logger: logger, orphanTimeout: orphanTimeout, done: done, tasks: map[key]*entry{}, agentPID: os.Getppid()}
}

func (s *server) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		s.cancel = shell.SendEvery(ctx.ActorSystem().Root, ctx.Self(), time.Second, orphanTick{})
	case *actor.Stopping:
		if s.cancel != nil {
			s.cancel()
		}
	case *executorpb.Attach:
		s.client = actor.NewPID(msg.GetClientAddress(), msg.GetClientId())
		s.agentPID = int(msg.GetAgentPid())
		s.orphaned = time.Time{}
		reply := &executorpb.Attached{Pid: int32(os.Getpid())}
		for _, e := range s.tasks {
			if e.running != nil || e.exit != nil {
				reply.Tasks = append(reply.Tasks, &executorpb.TaskEntry{Spec: e.spec, Exit: e.exit})
			}
		}
		s.logger.Info("executor: an agent attached", "agent_pid", s.agentPID, "tasks", len(reply.Tasks))
		ctx.Respond(reply)
	case *executorpb.Launch:
		s.launch(ctx, msg)
	case launchDone:
		s.launched(ctx, msg)
	case taskEnded:
		e, ok := s.tasks[msg.key]
		if !ok || e.exit != nil {
			break
		}
		e.exit = exitProto(msg.exit)
		if s.client != nil {
			ctx.Send(s.client, &executorpb.Exited{Task: msg.key.proto(), Exit: e.exit})
		}
		s.maybeDone()
	case *executorpb.Kill:
		s.kill(ctx, keyOf(msg.GetTask()))
	case *executorpb.GetStats:
		e, ok := s.tasks[keyOf(msg.GetTask())]
		if !ok || e.running == nil {
			ctx.Respond(&executorpb.StatsReply{Error: fmt.Sprintf("task %s is not running here", msg.GetTask().GetTaskId())})
			break
		}
		replyTo, system, task := ctx.Sender(), ctx.ActorSystem(), e.running
		go func() {
			st, err := task.Stats(context.Background())
			reply := &executorpb.StatsReply{Stats: statsProto(st)}
			if err != nil {
				reply.Error = err.Error()
			}
			system.Root.Send(replyTo, reply)
		}()
	case *executorpb.Forget:
		for _, k := range msg.GetTasks() {
			if e, ok := s.tasks[keyOf(k)]; ok && e.exit != nil {
				delete(s.tasks, keyOf(k))
			}
		}
	case *executorpb.Shutdown:
		s.shutdown(ctx, "the agent asked")
		s.waiting(ctx)
	case shutdownNow:
		s.shutdown(ctx, "the executor was told to stop")
	case orphanTick:
		s.checkAgent(ctx)
	}
}

func (s *server) launch(ctx actor.Context, msg *executorpb.Launch) {
	k := key{msg.GetSpec().GetFrameworkId(), msg.GetSpec().GetTaskId()}
	if s.shutting {
		ctx.Respond(&executorpb.Launched{Error: "the executor is shutting down"})
		return
	}
	if _, dup := s.tasks[k]; dup {
		// The agent launches a task once; a repeat is its retry of a
		// launch whose answer it lost.
		ctx.Respond(&executorpb.Launched{})
		return
	}
	s.tasks[k] = &entry{spec: msg.GetSpec(), replyTo: ctx.Sender()}
	system, self, spec := ctx.ActorSystem(), ctx.Self(), specFromProto(msg.GetSpec())
	go func() {
		task, err := s.rt.Launch(context.Background(), spec)
		system.Root.Send(self, launchDone{key: k, task: task, err: err})
	}()
}

func (s *server) launched(ctx actor.Context, msg launchDone) {
	e := s.tasks[msg.key]
	if msg.err != nil {
		delete(s.tasks, msg.key)
		ctx.Send(e.replyTo, &executorpb.Launched{Error: msg.err.Error()})
		s.answerKills(ctx, e)
		s.maybeDone()
		return
	}
	e.running = msg.task
	ctx.Send(e.replyTo, &executorpb.Launched{})
	e.replyTo = nil
	system, self, task := ctx.ActorSystem(), ctx.Self(), msg.task
	go func() {
		exit, err := task.Wait(context.Background())
		if err != nil {
			exit = runtime.Exit{Outcome: runtime.Failed, Cause: runtime.CauseLaunchFailed, Message: fmt.Sprintf("waiting for the task: %v", err)}
		}
		if exit.Usage == nil {
			if st, err := task.Stats(context.Background()); err == nil {
				exit.Usage = &st
			}
		}
		system.Root.Send(self, taskEnded{key: msg.key, exit: exit})
	}()
	if e.killed || s.shutting {
		s.killRunning(ctx, e)
	}
}

// kill stops a task and answers once it has stopped.
func (s *server) kill(ctx actor.Context, k key) {
	e, ok := s.tasks[k]
	switch {
	case !ok || e.exit != nil:
		ctx.Respond(&executorpb.Killed{})
	case e.running == nil:
		e.killed = true
		e.waiting = append(e.waiting, ctx.Sender())
	default:
		e.waiting = append(e.waiting, ctx.Sender())
		s.killRunning(ctx, e)
	}
}

// killRunning kills a running task off the actor's goroutine (Kill waits
// for the task to stop) and answers the Kill requests waiting for it.
func (s *server) killRunning(ctx actor.Context, e *entry) {
	waiting := e.waiting
	e.waiting = nil
	system, task := ctx.ActorSystem(), e.running
	go func() {
		reply := &executorpb.Killed{}
		if err := task.Kill(context.Background()); err != nil {
			reply.Error = err.Error()
		}
		for _, pid := range waiting {
			system.Root.Send(pid, reply)
		}
	}()
}

func (s *server) answerKills(ctx actor.Context, e *entry) {
	for _, pid := range e.waiting {
		ctx.Send(pid, &executorpb.Killed{})
	}
	e.waiting = nil
}

// shutdown kills every task; the process ends once they have ended.
func (s *server) shutdown(ctx actor.Context, why string) {
	if !s.shutting {
		s.logger.Warn("executor: shutting down, ending its tasks", "why", why, "tasks", len(s.tasks))
	}
	s.shutting = true
	for _, e := range s.tasks {
		if e.running != nil && e.exit == nil {
			s.killRunning(ctx, e)
		}
	}
	s.maybeDone()
}

// waiting answers a Shutdown once every task has ended.
func (s *server) waiting(ctx actor.Context) {
	replyTo, system, done := ctx.Sender(), ctx.ActorSystem(), s.done
	go func() {
		<-done
		if replyTo != nil {
			system.Root.Send(replyTo, &executorpb.ShutdownDone{})
		}
	}()
}

// maybeDone closes done once a shutdown has no task left running.
func (s *server) maybeDone() {
	if !s.shutting {
		return
	}
	for _, e := range s.tasks {
		if e.exit == nil {
			return
		}
	}
	select {
	case <-s.done:
	default:
		close(s.done)
	}
}

// checkAgent ends the executor's tasks and the executor when its agent's
// process has been gone past the orphan timeout: nobody would report them.
func (s *server) checkAgent(ctx actor.Context) {
	if s.agentPID <= 0 || s.shutting || s.orphanTimeout <= 0 {
		return
	}
	if processAlive(s.agentPID) {
		s.orphaned = time.Time{}
		return
	}
	now := time.Now()
	if s.orphaned.IsZero() {
		s.orphaned = now
		s.logger.Warn("executor: its agent's process is gone; waiting for an agent to attach", "agent_pid", s.agentPID, "timeout", s.orphanTimeout)
		return
	}
	if now.Sub(s.orphaned) >= s.orphanTimeout {
		s.shutdown(ctx, fmt.Sprintf("no agent attached within %s of its agent (pid %d) ending", s.orphanTimeout, s.agentPID))
	}
}

// processAlive reports whether a process with that pid exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}

// shutdownNow asks the server, from Serve, to end its tasks.
type shutdownNow struct{}

func actorProps(s *server) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return s })
}
