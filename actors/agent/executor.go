package agent

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	kagent "github.com/pandodc/pando/kernel/agent"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
	"github.com/pandodc/pando/runtime"
)

// Fetcher turns an artifact digest into a verified local file.
type Fetcher interface {
	Fetch(ctx context.Context, digest string) (string, error)
}

// executor is the actor that runs one task. It reports the task's life to
// the agent only through messages to the agent's PID (TaskStatus values),
// so that it can run beside the agent or, later, in a process of its own.
type executor struct {
	agent       *actor.PID
	frameworkID string
	task        *kernelpb.TaskInfo
	sandbox     string
	rt          runtime.Runtime
	fetcher     Fetcher

	cancel  context.CancelFunc
	running runtime.Task
	killed  bool
}

// Messages private to the agent and its executors.
type (
	killTask     struct{}
	taskLaunched struct{ task runtime.Task }
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
	case *actor.Started:
		runCtx, cancel := context.WithCancel(context.Background())
		e.cancel = cancel
		self := ctx.Self()
		system := ctx.ActorSystem()
		ctx.Send(e.agent, e.status(kernelpb.TaskState_TASK_STARTING, kernelpb.Reason_REASON_NONE, "", 0))
		go e.run(runCtx, system, self)
	case taskLaunched:
		e.running = msg.task
		if e.killed {
			_ = msg.task.Kill(context.Background())
		}
	case killTask:
		e.killed = true
		if e.running != nil {
			_ = e.running.Kill(context.Background())
		} else if e.cancel != nil {
			e.cancel() // still fetching or launching
		}
	case *actor.Stopped:
		if e.cancel != nil {
			e.cancel()
		}
	}
}

func (e *executor) status(state kernelpb.TaskState, reason kernelpb.Reason, message string, code int) *kernelpb.TaskStatus {
	return &kernelpb.TaskStatus{
		TaskId:      e.task.GetTaskId(),
		FrameworkId: e.frameworkID,
		State:       state,
		Reason:      reason,
		Message:     message,
		ExitCode:    int32(code),
		Source:      kernelpb.Source_SOURCE_EXECUTOR,
	}
}

// run fetches, launches and waits for the task off the actor's goroutine,
// so a long task never blocks the executor's mailbox (and kill).
func (e *executor) run(ctx context.Context, system *actor.ActorSystem, self *actor.PID) {
	send := func(state kernelpb.TaskState, reason kernelpb.Reason, message string, code int) {
		system.Root.Send(e.agent, e.status(state, reason, message, code))
	}
	defer func() {
		// A panic here is outside the actor's supervision: report it as a
		// crashed executor rather than taking the agent down.
		if r := recover(); r != nil {
			send(kernelpb.TaskState_TASK_FAILED, kernelpb.Reason_REASON_EXECUTOR_CRASHED, fmt.Sprintf("executor crashed: %v", r), 0)
		}
		system.Root.Stop(self)
	}()

	spec, reason, err := e.spec(ctx)
	if err != nil {
		// The run context is cancelled only by a kill or the actor stopping.
		if ctx.Err() != nil {
			send(kernelpb.TaskState_TASK_KILLED, kernelpb.Reason_REASON_KILLED_BY_FRAMEWORK, "killed before it started", 0)
			return
		}
		send(kernelpb.TaskState_TASK_FAILED, reason, err.Error(), 0)
		return
	}
	task, err := e.rt.Launch(ctx, spec)
	if err != nil {
		if ctx.Err() != nil {
			send(kernelpb.TaskState_TASK_KILLED, kernelpb.Reason_REASON_KILLED_BY_FRAMEWORK, "killed before it started", 0)
			return
		}
		send(kernelpb.TaskState_TASK_FAILED, kernelpb.Reason_REASON_LAUNCH_FAILED, err.Error(), 0)
		return
	}
	system.Root.Send(self, taskLaunched{task: task})
	send(kernelpb.TaskState_TASK_RUNNING, kernelpb.Reason_REASON_NONE, "", 0)
	exit, err := task.Wait(context.Background())
	if err != nil {
		send(kernelpb.TaskState_TASK_FAILED, kernelpb.Reason_REASON_LAUNCH_FAILED, fmt.Sprintf("waiting for the task: %v", err), 0)
		return
	}
	state, why := terminalState(exit)
	send(state, why, exit.Message, exit.Code)
}

func (e *executor) spec(ctx context.Context) (runtime.Spec, kernelpb.Reason, error) {
	wasm := e.task.GetWasm()
	if wasm == nil {
		return runtime.Spec{}, kernelpb.Reason_REASON_INVALID_TASK, fmt.Errorf("task %s names no WASM module; container tasks are not supported yet", e.task.GetTaskId())
	}
	path, err := e.fetcher.Fetch(ctx, wasm.GetModule())
	if err != nil {
		return runtime.Spec{}, kernelpb.Reason_REASON_ARTIFACT_FAILED, err
	}
	res, err := resources.FromProto(e.task.GetResources())
	if err != nil {
		return runtime.Spec{}, kernelpb.Reason_REASON_INVALID_TASK, err
	}
	env := make(map[string]string, len(e.task.GetEnv())+2)
	for k, v := range e.task.GetEnv() {
		env[k] = v
	}
	env["PANDO_TASK_ID"] = e.task.GetTaskId()
	if _, ok := env["PANDO_INSTANCE"]; !ok {
		env["PANDO_INSTANCE"] = "0"
	}
	// mem is in MiB (fixed point); the runtime wants bytes.
	memBytes := uint64(res.Get(resources.Mem)) * (1 << 20) / uint64(resources.One)
	return runtime.Spec{
		TaskID:      e.task.GetTaskId(),
		Sandbox:     e.sandbox,
		Artifact:    path,
		Digest:      wasm.GetModule(),
		Args:        wasm.GetArgs(),
		Env:         env,
		MemoryBytes: memBytes,
		Timeout:     time.Duration(e.task.GetTimeoutMs()) * time.Millisecond,
	}, kernelpb.Reason_REASON_NONE, nil
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
