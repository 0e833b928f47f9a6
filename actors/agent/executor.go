package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/pandodc/pando/actors/agent/healthcheck"
	procexec "github.com/pandodc/pando/actors/executor"
	kagent "github.com/pandodc/pando/kernel/agent"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
	"github.com/pandodc/pando/runtime"
)

// Runtimes are the task runtimes of an agent.
type Runtimes struct {
	WASM runtime.Runtime
	// Containers runs container tasks; nil when the agent has none, and
	// NoContainers then says why, for the tasks it refuses.
	Containers   runtime.Runtime
	NoContainers string
}

// Fetcher turns an artifact digest into a verified local file, and a
// task's inputs into what its runtime mounts read-only.
type Fetcher interface {
	Fetch(ctx context.Context, digest string) (string, error)
	Inputs(ctx context.Context, inputs []*kernelpb.Input) ([]runtime.Mount, error)
}

// executor is the actor that runs one framework's tasks on this agent, as a
// Mesos executor does: the agent spawns it with the framework's first task
// here and stops it when the framework has none left. Each task runs in a
// goroutine of its own, so a long task blocks neither the mailbox nor kill.
// It reports the tasks' lives only through messages to the agent's PID
// (TaskStatus values), so that it can run beside the agent or, later, in a
// process of its own. One actor per framework rather than per task: at
// thousands of short tasks a second, spawning and stopping an actor per
// task cost a sixth of the pipeline's CPU.
type executor struct {
	agent       *actor.PID
	frameworkID string
	runtimes    Runtimes
	fetcher     Fetcher
	monitor     *Monitor // nil: nobody measures running tasks

	tasks map[string]*taskRun // by task id, until the task's goroutine ends
}

// taskRun is one task of an executor, owned by the executor's goroutine.
type taskRun struct {
	cancel  context.CancelFunc // ends fetching and launching
	running runtime.Task       // set once launched
	killed  bool
}

// Messages between the agent and its executors.
type (
	// runTask asks an executor to run a task in the given sandbox.
	runTask struct {
		task          *kernelpb.TaskInfo
		frameworkName string
		sandbox       string
	}
	killTask     struct{ taskID string }
	taskLaunched struct {
		taskID  string
		agentID string
		task    runtime.Task
	}
	taskDone struct{ taskID string }
	// adoptTask hands an executor a task that outlived a restart of the
	// agent, already running.
	adoptTask struct {
		taskID  string
		agentID string
		task    runtime.Task
	}
)

var safeID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$`)

// sandboxDir is where a task's files live: root/<framework>/<task>. Ids come
// from frameworks, so they are checked before they name a directory.
func sandboxDir(root string, ref kagent.TaskRef) (string, error) {
	for _, id := range []string{ref.FrameworkID, ref.TaskID} {
		if !safeID.MatchString(id) {
			return "", fmt.Errorf("id %q cannot name a sandbox: use letters, digits, '.', '_' and '-'", id)
		}
	}
	return filepath.Join(root, ref.FrameworkID, ref.TaskID), nil
}

func (e *executor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case runTask:
		id := msg.task.GetTaskId()
		if _, dup := e.tasks[id]; dup {
			return // the agent's kernel launches a task id once
		}
		runCtx, cancel := context.WithCancel(context.Background())
		e.tasks[id] = &taskRun{cancel: cancel}
		if msg.task.GetWasm() == nil {
			// A container takes a while to start (image, runc): say so.
			ctx.Send(e.agent, e.status(id, kernelpb.TaskState_TASK_STARTING, kernelpb.Reason_REASON_NONE, "", 0))
		}
		go e.run(runCtx, ctx.ActorSystem(), ctx.Self(), msg)
	case adoptTask:
		e.tasks[msg.taskID] = &taskRun{cancel: func() {}, running: msg.task}
		e.monitor.add(kagent.TaskRef{FrameworkID: e.frameworkID, TaskID: msg.taskID}, msg.agentID, msg.task)
		go e.follow(ctx.ActorSystem(), ctx.Self(), msg.taskID, msg.task)
	case taskLaunched:
		t, ok := e.tasks[msg.taskID]
		if !ok { // the executor stopped meanwhile
			go func(task runtime.Task) { _ = task.Kill(context.Background()) }(msg.task)
			return
		}
		t.running = msg.task
		e.monitor.add(kagent.TaskRef{FrameworkID: e.frameworkID, TaskID: msg.taskID}, msg.agentID, msg.task)
		if t.killed {
			go func(task runtime.Task) { _ = task.Kill(context.Background()) }(msg.task)
		}
	case killTask:
		if t, ok := e.tasks[msg.taskID]; ok {
			t.killed = true
			if t.running != nil {
				// Kill waits for the task to stop: not on our goroutine.
				go func(task runtime.Task) { _ = task.Kill(context.Background()) }(t.running)
			} else {
				t.cancel() // still fetching or launching
			}
		}
	case taskDone:
		if t, ok := e.tasks[msg.taskID]; ok {
			if t.running != nil {
				e.monitor.remove(kagent.TaskRef{FrameworkID: e.frameworkID, TaskID: msg.taskID})
			}
			t.cancel()
			delete(e.tasks, msg.taskID)
		}
	case *actor.Stopped:
		// The agent stops an executor when its framework has no tasks
		// left here, or when it stops itself: end whatever still runs.
		for id, t := range e.tasks {
			t.cancel()
			if t.running != nil {
				e.monitor.remove(kagent.TaskRef{FrameworkID: e.frameworkID, TaskID: id})
				go func(task runtime.Task) { _ = task.Kill(context.Background()) }(t.running)
			}
			delete(e.tasks, id)
		}
	}
}

func (e *executor) status(taskID string, state kernelpb.TaskState, reason kernelpb.Reason, message string, code int) *kernelpb.TaskStatus {
	return &kernelpb.TaskStatus{
		TaskId:      taskID,
		FrameworkId: e.frameworkID,
		State:       state,
		Reason:      reason,
		Message:     message,
		ExitCode:    int32(code),
		Source:      kernelpb.Source_SOURCE_EXECUTOR,
	}
}

// run fetches, launches and waits for one task off the actor's goroutine.
func (e *executor) run(ctx context.Context, system *actor.ActorSystem, self *actor.PID, msg runTask) {
	id := msg.task.GetTaskId()
	var starting *lateStarting
	if msg.task.GetWasm() != nil && !e.startsAtOnce(msg.task) {
		starting = reportStartingAfter(startingDelay, func() {
			system.Root.Send(e.agent, e.status(id, kernelpb.TaskState_TASK_STARTING, kernelpb.Reason_REASON_NONE, "", 0))
		})
	}
	send := func(state kernelpb.TaskState, reason kernelpb.Reason, message string, code int) {
		starting.settle() // a late STARTING goes first, or never
		system.Root.Send(e.agent, e.status(id, state, reason, message, code))
	}
	defer func() {
		// A panic here is outside the actor's supervision: report it as a
		// crashed executor rather than taking the agent down.
		if r := recover(); r != nil {
			send(kernelpb.TaskState_TASK_FAILED, kernelpb.Reason_REASON_EXECUTOR_CRASHED, fmt.Sprintf("executor crashed: %v", r), 0)
		}
		system.Root.Send(self, taskDone{taskID: id})
	}()

	rt, spec, reason, err := e.spec(ctx, msg)
	if err != nil {
		// The run context is cancelled only by a kill or the actor stopping.
		if ctx.Err() != nil {
			send(kernelpb.TaskState_TASK_KILLED, kernelpb.Reason_REASON_KILLED_BY_FRAMEWORK, "killed before it started", 0)
			return
		}
		send(kernelpb.TaskState_TASK_FAILED, reason, err.Error(), 0)
		return
	}
	task, err := launch(ctx, rt, spec, e.frameworkID, msg)
	if err != nil {
		if ctx.Err() != nil {
			send(kernelpb.TaskState_TASK_KILLED, kernelpb.Reason_REASON_KILLED_BY_FRAMEWORK, "killed before it started", 0)
			return
		}
		send(kernelpb.TaskState_TASK_FAILED, kernelpb.Reason_REASON_LAUNCH_FAILED, err.Error(), 0)
		return
	}
	system.Root.Send(self, taskLaunched{taskID: id, agentID: msg.task.GetAgentId(), task: task})
	send(kernelpb.TaskState_TASK_RUNNING, kernelpb.Reason_REASON_NONE, "", 0)
	e.wait(system, id, task)
}

// startingDelay is how long a WASM task may take to start before its
// executor reports STARTING. Most start within microseconds of reaching
// the executor (module compiled, inputs cached), and for them STARTING
// would tell a framework nothing while it cost a tenth of the tiny-task
// pipeline (an update through agent, master and framework, acknowledged
// back); one that must fetch its module or inputs, or compile it, says
// STARTING meanwhile. Mesos' executors need not send STARTING either.
const startingDelay = 10 * time.Millisecond

// startsAtOnce says whether a WASM task has what it needs here already:
// its module fetched and compiled, and no inputs. It will be RUNNING within
// microseconds, so it needs no STARTING timer (a timer per task cost 3% of
// the tiny-task pipeline's CPU).
func (e *executor) startsAtOnce(task *kernelpb.TaskInfo) bool {
	fetched, ok := e.fetcher.(interface{ Cached(digest string) bool })
	if !ok || len(task.GetInputs()) > 0 {
		return false
	}
	compiled, ok := e.runtimes.WASM.(interface{ Compiled(digest string) bool })
	digest := task.GetWasm().GetModule()
	return ok && fetched.Cached(digest) && compiled.Compiled(digest)
}

// lateStarting sends a task's STARTING if the task has not settled (sent
// another update) within a delay. Its mutex orders the two: once settle
// returns, STARTING has been sent (before whatever the caller sends next)
// or never will be.
type lateStarting struct {
	mu      sync.Mutex
	settled bool
	timer   *time.Timer
}

func reportStartingAfter(delay time.Duration, sendStarting func()) *lateStarting {
	l := &lateStarting{}
	l.timer = time.AfterFunc(delay, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if !l.settled {
			sendStarting()
		}
	})
	return l
}

// settle ends the wait for STARTING; nil (a task that reported STARTING at
// once) does nothing.
func (l *lateStarting) settle() {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.settled = true
	l.mu.Unlock()
	l.timer.Stop()
}

// follow waits, off the actor's goroutine, for a task adopted after a
// restart of the agent.
func (e *executor) follow(system *actor.ActorSystem, self *actor.PID, id string, task runtime.Task) {
	defer system.Root.Send(self, taskDone{taskID: id})
	e.wait(system, id, task)
}

// wait reports how a running task ends, with what it used.
func (e *executor) wait(system *actor.ActorSystem, id string, task runtime.Task) {
	exit, err := task.Wait(context.Background())
	if errors.Is(err, procexec.ErrCrashed) {
		system.Root.Send(e.agent, e.status(id, kernelpb.TaskState_TASK_FAILED, kernelpb.Reason_REASON_EXECUTOR_CRASHED, err.Error(), 0))
		return
	}
	if err != nil {
		system.Root.Send(e.agent, e.status(id, kernelpb.TaskState_TASK_FAILED, kernelpb.Reason_REASON_LAUNCH_FAILED, fmt.Sprintf("waiting for the task: %v", err), 0))
		return
	}
	state, why := terminalState(exit)
	usage := exit.Usage
	if usage == nil {
		if st, err := task.Stats(context.Background()); err == nil {
			usage = &st
		}
	}
	st := e.status(id, state, why, exit.Message, exit.Code)
	st.Usage = usageProto(usage, time.Now())
	system.Root.Send(e.agent, st)
}

// spec fetches what a task needs and returns the runtime that runs it and
// its launch spec, or why it cannot run here.
func (e *executor) spec(ctx context.Context, msg runTask) (runtime.Runtime, runtime.Spec, kernelpb.Reason, error) {
	task := msg.task
	res, err := resources.FromProto(task.GetResources())
	if err != nil {
		return nil, runtime.Spec{}, kernelpb.Reason_REASON_INVALID_TASK, err
	}
	env := make(map[string]string, len(task.GetEnv())+2)
	for k, v := range task.GetEnv() {
		env[k] = v
	}
	env["PANDO_TASK_ID"] = task.GetTaskId()
	ports, err := healthcheck.Ports(res) // checked at launch (admitHealthCheck)
	if err != nil {
		return nil, runtime.Spec{}, kernelpb.Reason_REASON_INVALID_TASK, err
	}
	portEnv(env, ports)
	if _, ok := env["PANDO_INSTANCE"]; !ok {
		env["PANDO_INSTANCE"] = "0"
	}
	spec := runtime.Spec{
		TaskID:      task.GetTaskId(),
		Sandbox:     msg.sandbox,
		Env:         env,
		FrameworkID: e.frameworkID,
		AgentID:     task.GetAgentId(),
		// mem is in MiB (fixed point); the runtime wants bytes.
		MemoryBytes: uint64(res.Get(resources.Mem)) * (1 << 20) / uint64(resources.One),
		CPUMilli:    int64(res.Get(resources.CPUs)),
		Timeout:     time.Duration(task.GetTimeoutMs()) * time.Millisecond,
		KillGrace:   time.Duration(task.GetKillGracePeriodMs()) * time.Millisecond,
		Ports:       ports,
	}
	var rt runtime.Runtime
	switch {
	case task.GetWasm() != nil:
		rt, spec.Digest, spec.Args = e.runtimes.WASM, task.GetWasm().GetModule(), task.GetWasm().GetArgs()
	case task.GetContainer() != nil:
		if e.runtimes.Containers == nil {
			return nil, runtime.Spec{}, kernelpb.Reason_REASON_INVALID_TASK, fmt.Errorf("this agent cannot run container tasks: %s", e.runtimes.NoContainers)
		}
		c := task.GetContainer()
		rt, spec.Digest, spec.Args = e.runtimes.Containers, c.GetImage(), c.GetArgs()
		spec.Image, spec.Command, spec.WorkingDir = c.GetImageName(), c.GetCommand(), c.GetWorkingDir()
	default:
		return nil, runtime.Spec{}, kernelpb.Reason_REASON_INVALID_TASK, fmt.Errorf("task %s names neither a WASM module nor a container image", task.GetTaskId())
	}
	if spec.Inputs, err = e.fetcher.Inputs(ctx, task.GetInputs()); err != nil {
		return nil, runtime.Spec{}, kernelpb.Reason_REASON_ARTIFACT_FAILED, err
	}
	if imp, ok := rt.(importer); ok && task.GetContainer() != nil && imp.Imported(spec.Digest) {
		// In containerd already: its tarball (hundreds of megabytes,
		// perhaps evicted from the cache since) is not fetched again.
		return rt, spec, kernelpb.Reason_REASON_NONE, nil
	}
	if spec.Artifact, err = e.fetcher.Fetch(ctx, spec.Digest); err != nil {
		return nil, runtime.Spec{}, kernelpb.Reason_REASON_ARTIFACT_FAILED, err
	}
	if task.GetContainer() != nil {
		// Importing an image is slow and done once per digest; a module
		// compiles on its first launch.
		if err := rt.Prepare(ctx, spec.Digest, spec.Artifact); err != nil {
			return nil, runtime.Spec{}, kernelpb.Reason_REASON_ARTIFACT_FAILED, err
		}
	}
	return rt, spec, kernelpb.Reason_REASON_NONE, nil
}

// importer is a runtime that imports images once and can say it has
// (runtime/container).
type importer interface {
	Imported(digest string) bool
}

// RecordingRuntime is a runtime whose tasks outlive the agent and that
// keeps, with each, what the agent needs to take it back after a restart
// (the executor process: actors/executor), so that the agent writes
// nothing to disk for them. The agent tells it when a task's end has been
// acknowledged and need not be kept any longer.
type RecordingRuntime interface {
	runtime.Runtime
	LaunchRecorded(ctx context.Context, spec runtime.Spec, record []byte) (runtime.Task, error)
	Forget(frameworkID, taskID string)
}

// launch starts a task, with its RunTask as the record on a recording
// runtime.
func launch(ctx context.Context, rt runtime.Runtime, spec runtime.Spec, frameworkID string, msg runTask) (runtime.Task, error) {
	rr, ok := rt.(RecordingRuntime)
	if !ok {
		return rt.Launch(ctx, spec)
	}
	record, err := proto.Marshal(&kernelpb.RunTask{FrameworkId: frameworkID, FrameworkName: msg.frameworkName, Task: msg.task})
	if err != nil {
		return nil, fmt.Errorf("recording task %s: %w", spec.TaskID, err)
	}
	return rr.LaunchRecorded(ctx, spec, record)
}

// ExecutorTasks turns the tasks an executor process kept through a
// restart of the agent into tasks the agent takes back. One that cannot be
// (no record, or no agent id: nobody could report it) is killed rather
// than left to run unseen.
func ExecutorTasks(ctx context.Context, kept []procexec.Recovered, agentID string, logger *slog.Logger) []RecoveredTask {
	var out []RecoveredTask
	for _, k := range kept {
		var run kernelpb.RunTask
		err := proto.Unmarshal(k.Record, &run)
		if err != nil || run.GetTask().GetTaskId() == "" || run.GetFrameworkId() == "" || agentID == "" {
			logger.Warn("agent: killing an executor task it cannot take back", "agent_id", agentID, "error", err)
			_ = k.Task.Kill(ctx)
			continue
		}
		out = append(out, RecoveredTask{
			Recovered: kagent.Recovered{FrameworkID: run.GetFrameworkId(), FrameworkName: run.GetFrameworkName(), Task: run.GetTask()},
			Running:   k.Task,
		})
	}
	return out
}

func terminalState(exit runtime.Exit) (kernelpb.TaskState, kernelpb.Reason) {
	reason := map[runtime.Cause]kernelpb.Reason{
		runtime.CauseNone:         kernelpb.Reason_REASON_NONE,
		runtime.CauseExitNonZero:  kernelpb.Reason_REASON_EXIT_NONZERO,
		runtime.CauseTimeout:      kernelpb.Reason_REASON_TIMEOUT,
		runtime.CauseMemoryLimit:  kernelpb.Reason_REASON_MEMORY_LIMIT,
		runtime.CauseTrap:         kernelpb.Reason_REASON_TRAP,
		runtime.CauseKilled:       kernelpb.Reason_REASON_KILLED_BY_FRAMEWORK,
		runtime.CauseLaunchFailed: kernelpb.Reason_REASON_LAUNCH_FAILED,
		runtime.CauseOutputLimit:  kernelpb.Reason_REASON_OUTPUT_LIMIT,
	}[exit.Cause]
	switch exit.Outcome {
	case runtime.Finished:
		return kernelpb.TaskState_TASK_FINISHED, reason
	case runtime.Killed:
		return kernelpb.TaskState_TASK_KILLED, reason
	default:
		return kernelpb.TaskState_TASK_FAILED, reason
	}
}

// acked follows an acknowledgement: once a task's last update is
// acknowledged the kernel forgets it, and so may the runtime that kept its
// end for a restart of the agent.
func (a *Actor) acked(ref kagent.TaskRef) {
	if a.k.Knows(ref) {
		return
	}
	a.forgetCheckpoint(ref)
	if rr, ok := a.cfg.Runtimes.WASM.(RecordingRuntime); ok {
		rr.Forget(ref.FrameworkID, ref.TaskID)
	}
}
