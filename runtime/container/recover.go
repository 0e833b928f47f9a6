package container

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/pandodc/pando/runtime"
)

// Recover returns the running containers labelled with this runtime's
// AgentID, by their labels' framework and task ids, as Tasks that Wait,
// Kill and Stats work on, without restarting them; their timeouts go on
// from when they were launched. The agent kills those it no longer knows. Containers of this agent that are
// not running (ended, or never started) are removed.
func (r *Runtime) Recover(ctx context.Context) (map[runtime.TaskRef]runtime.Task, error) {
	if r.cfg.AgentID == "" {
		return nil, errors.New("recovering container tasks: the runtime has no Config.AgentID to find its containers by")
	}
	ctx = r.nsContext(ctx)
	filter := fmt.Sprintf("labels.%q==%q", LabelAgentID, r.cfg.AgentID)
	ctrs, err := r.client.Containers(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("recovering container tasks: listing containers: %w", err)
	}
	out := map[runtime.TaskRef]runtime.Task{}
	var errs []error
	for _, ctr := range ctrs {
		t, err := r.recoverOne(ctx, ctr)
		if err != nil {
			errs = append(errs, fmt.Errorf("container %s: %w", ctr.ID(), err))
			continue
		}
		if t != nil {
			out[t.ref] = t
		}
	}
	if err := errors.Join(errs...); err != nil {
		return out, fmt.Errorf("recovering container tasks: %w", err)
	}
	return out, nil
}

// recoverOne returns the container's running task, or removes the
// container and returns nil.
func (r *Runtime) recoverOne(ctx context.Context, ctr containerd.Container) (*Task, error) {
	labels, err := ctr.Labels(ctx)
	if err != nil {
		return nil, err
	}
	remove := func() (*Task, error) {
		if task, err := ctr.Task(ctx, nil); err == nil {
			if _, err := task.Delete(ctx, containerd.WithProcessKill); ignoreNotFound(err) != nil {
				return nil, fmt.Errorf("removing its ended task: %w", err)
			}
		}
		if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); ignoreNotFound(err) != nil {
			return nil, fmt.Errorf("removing it: %w", err)
		}
		r.log.Info("removed a container of this agent that was not running", "container", ctr.ID(), "task", labels[LabelTaskID])
		return nil, nil
	}
	// No IO to attach: the shim writes the logs itself.
	task, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return remove()
	}
	if err != nil {
		return nil, fmt.Errorf("loading its task: %w", err)
	}
	status, err := task.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("its task's status: %w", err)
	}
	// A task that ended while the agent was away is taken back too, so
	// that its end (exit code, OOM) is reported as it was rather than
	// lost: Wait answers at once for it.
	ended := status.Status == containerd.Stopped
	if status.Status != containerd.Running && status.Status != containerd.Paused && !ended {
		return remove()
	}
	var memLimit uint64
	if spec, err := ctr.Spec(ctx); err == nil && spec.Linux != nil && spec.Linux.Resources != nil &&
		spec.Linux.Resources.Memory != nil && spec.Linux.Resources.Memory.Limit != nil {
		memLimit = uint64(*spec.Linux.Resources.Memory.Limit)
	}
	cgroup := CgroupParent + "/" + ctr.ID()
	if spec, err := ctr.Spec(ctx); err == nil && spec.Linux != nil && spec.Linux.CgroupsPath != "" {
		cgroup = spec.Linux.CgroupsPath
	}
	started := time.Now() // its timeout, if any, starts again when unknown
	if ms, err := strconv.ParseInt(labels[labelStartedAt], 10, 64); err == nil && ms > 0 {
		started = time.UnixMilli(ms)
	}
	ref := runtime.TaskRef{FrameworkID: labels[LabelFrameworkID], TaskID: labels[LabelTaskID]}
	if ref.TaskID == "" {
		ref.TaskID = ctr.ID()
	}
	taskID := ref.TaskID
	grace := parseMS(labels[labelKillGraceMS])
	if grace <= 0 {
		grace = r.cfg.DefaultKillGrace
	}
	r.mu.Lock()
	known := r.tasks[ref]
	r.mu.Unlock()
	if known != nil { // launched or recovered already by this runtime
		return known, nil
	}
	timeout := parseMS(labels[labelTimeoutMS])
	if ended {
		timeout = 0 // nobody enforced it while the agent was away: its end is what happened
	}
	t := newTask(r, ref, ctr, task, cgroup, labels, memLimit, grace, timeout, started)
	statusC, err := task.Wait(r.root)
	if err != nil {
		return nil, fmt.Errorf("waiting on its task: %w", err)
	}
	// Accounting starts again from here: what the isolators counted
	// before the restart went with the old agent's programs and handles.
	if ended {
		// Nothing left to count.
	} else if err := t.isolate(ctx); err != nil {
		r.log.Warn("a recovered task runs without accounting", "task", taskID, "err", err)
	}
	if !r.track(t) {
		t.unisolate()
		return nil, errClosed
	}
	go t.watch(statusC)
	r.log.Info("recovered a container task", "task", taskID, "container", ctr.ID(), "ended", ended)
	return t, nil
}
