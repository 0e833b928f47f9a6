package agent

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pandodc/pando/actors/agent/healthcheck"
	kagent "github.com/pandodc/pando/kernel/agent"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
	"github.com/pandodc/pando/runtime"
)

// healthChecks are the health checks the agent runs beside its tasks: a
// goroutine per RUNNING task with a check, reporting to the agent actor
// (healthResult), which turns each change of health into a RUNNING update
// and kills the task that fails too often. Owned by the actor's goroutine.
type healthChecks struct {
	// waiting holds the checks of launched tasks not yet RUNNING.
	waiting map[kagent.TaskRef]*kernelpb.HealthCheck
	// running holds the cancel of each task's checking goroutine.
	running map[kagent.TaskRef]context.CancelFunc
	// unhealthy holds the tasks killed for failing their check, with the
	// message their terminal update gets.
	unhealthy map[kagent.TaskRef]string
}

// healthResult is a checking goroutine's report of a change.
type healthResult struct {
	ref kagent.TaskRef
	out healthcheck.Outcome
}

func (h *healthChecks) init() {
	if h.waiting == nil {
		h.waiting = map[kagent.TaskRef]*kernelpb.HealthCheck{}
		h.running = map[kagent.TaskRef]context.CancelFunc{}
		h.unhealthy = map[kagent.TaskRef]string{}
	}
}

// admitHealthCheck checks a task's ports and health check at launch and
// remembers the check until the task runs; an error refuses the task.
func (a *Actor) admitHealthCheck(ref kagent.TaskRef, task *kernelpb.TaskInfo) error {
	res, err := resources.FromProto(task.GetResources())
	if err != nil {
		return err
	}
	ports, err := healthcheck.Ports(res)
	if err != nil {
		return err
	}
	if err := healthcheck.Validate(task, ports); err != nil {
		return err
	}
	if hc := task.GetHealthCheck(); hc != nil {
		a.health.init()
		a.health.waiting[ref] = hc
	}
	return nil
}

// observeHealth follows an executor's report: a task now RUNNING starts
// its checks; an ended one stops them, and if the agent killed it for
// failing them, its update says so (REASON_TASK_UNHEALTHY).
func (a *Actor) observeHealth(ctx actor.Context, now time.Time, st *kernelpb.TaskStatus) {
	if a.health.waiting == nil {
		return // no task here has ever had a check
	}
	ref := kagent.TaskRef{FrameworkID: st.GetFrameworkId(), TaskID: st.GetTaskId()}
	switch {
	case st.GetState() == kernelpb.TaskState_TASK_RUNNING:
		if hc, ok := a.health.waiting[ref]; ok {
			delete(a.health.waiting, ref)
			a.startHealthCheck(ctx, ref, hc, now)
		}
	case kernelpb.IsTerminal(st.GetState()):
		delete(a.health.waiting, ref)
		if cancel, ok := a.health.running[ref]; ok {
			cancel()
			delete(a.health.running, ref)
		}
		if msg, ok := a.health.unhealthy[ref]; ok {
			delete(a.health.unhealthy, ref)
			st.State, st.Reason, st.Message = kernelpb.TaskState_TASK_KILLED, kernelpb.Reason_REASON_TASK_UNHEALTHY, msg
		}
	}
}

// startHealthCheck runs a task's checks in a goroutine of their own.
func (a *Actor) startHealthCheck(ctx actor.Context, ref kagent.TaskRef, hc *kernelpb.HealthCheck, now time.Time) {
	a.health.init()
	var exec healthcheck.Exec
	if e, ok := a.cfg.Runtimes.Containers.(runtime.Execer); ok && hc.GetType() == kernelpb.HealthCheck_COMMAND {
		exec = func(ctx context.Context, argv []string) (int, string, error) {
			return e.Exec(ctx, runtime.TaskRef{FrameworkID: ref.FrameworkID, TaskID: ref.TaskID}, argv)
		}
	}
	checkCtx, cancel := context.WithCancel(context.Background())
	a.health.running[ref] = cancel
	system, self, clock := ctx.ActorSystem(), ctx.Self(), a.cfg.Clock
	go runHealthChecks(checkCtx, hc, now, exec, clock, func(out healthcheck.Outcome) {
		system.Root.Send(self, healthResult{ref: ref, out: out})
	})
}

// runHealthChecks is a task's checking goroutine: it checks when its
// schedule says, until ctx ends or the schedule says to kill the task.
func runHealthChecks(ctx context.Context, hc *kernelpb.HealthCheck, started time.Time, exec healthcheck.Exec, clock func() time.Time, report func(healthcheck.Outcome)) {
	s := healthcheck.NewSchedule(hc, started)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		timer.Reset(max(s.Next().Sub(clock()), 0))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		probeCtx, cancel := context.WithTimeout(ctx, s.Timeout())
		err := healthcheck.Probe(probeCtx, hc, exec)
		timedOut := probeCtx.Err() == context.DeadlineExceeded
		cancel()
		if ctx.Err() != nil {
			return // stopped during the check: its result is nobody's
		}
		if err != nil && timedOut {
			err = fmt.Errorf("no answer within %v", s.Timeout())
		}
		out := s.Record(clock(), err)
		if out.Report || out.Kill {
			report(out)
		}
		if out.Kill {
			return
		}
	}
}

// healthChanged reports a checking goroutine's outcome: a RUNNING update
// with the new health, or the kill of a task that failed too often.
func (a *Actor) healthChanged(ctx actor.Context, now time.Time, r healthResult) {
	if _, ok := a.health.running[r.ref]; !ok {
		return // the task ended meanwhile
	}
	if r.out.Report {
		healthy := r.out.Healthy
		err := a.k.TaskEvent(now, kagent.TaskEvent{
			FrameworkID: r.ref.FrameworkID, TaskID: r.ref.TaskID, State: kernelpb.TaskState_TASK_RUNNING,
			Reason: kernelpb.Reason_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED, Message: r.out.Message, Healthy: &healthy,
		})
		if err != nil {
			a.cfg.Logger.Warn("agent: dropped a health update", "task", r.ref.TaskID, "error", err)
		}
	}
	if r.out.Kill {
		a.cfg.Logger.Warn("agent: killing an unhealthy task", "task", r.ref.TaskID, "why", r.out.Message)
		a.health.unhealthy[r.ref] = r.out.Message
		a.health.running[r.ref]() // the goroutine has returned; release its context
		delete(a.health.running, r.ref)
		if ex, ok := a.executors[r.ref.FrameworkID]; ok {
			ctx.Send(ex.pid, killTask{taskID: r.ref.TaskID})
		}
	}
}

// stopHealthChecks ends every checking goroutine (the agent stops).
func (a *Actor) stopHealthChecks() {
	for ref, cancel := range a.health.running {
		cancel()
		delete(a.health.running, ref)
	}
}

// portEnv tells a task its ports: PORT0, PORT1, ... lowest first, and PORT
// for PORT0 (as Marathon does); a variable the task sets itself wins.
func portEnv(env map[string]string, ports []uint16) {
	for i, p := range ports {
		if i == 0 {
			setDefault(env, "PORT", strconv.Itoa(int(p)))
		}
		setDefault(env, "PORT"+strconv.Itoa(i), strconv.Itoa(int(p)))
	}
}

func setDefault(env map[string]string, k, v string) {
	if _, ok := env[k]; !ok {
		env[k] = v
	}
}
