package batch

import (
	"time"

	"github.com/pandodc/pando/kernel/kernelpb"
)

// unreachableLoop relaunches the instances whose agent stayed unreachable
// past UnreachableTimeout.
func (f *Framework) unreachableLoop() {
	defer f.persistWG.Done()
	t := time.NewTicker(min(time.Second, f.cfg.UnreachableTimeout/4))
	defer t.Stop()
	for {
		select {
		case <-f.closed:
			return
		case now := <-t.C:
			f.expireUnreachable(now)
		}
	}
}

// unreachableReconcileInterval is how often the framework asks the master
// again about its unreachable tasks: an agent the master removed after a
// failover had tasks the master never knew, so only reconciliation tells
// the framework they are lost.
const unreachableReconcileInterval = 10 * time.Second

// expireUnreachable reconciles the unreachable tasks every
// unreachableReconcileInterval and gives up on the tasks reported UNREACHABLE for
// UnreachableTimeout by now: each is killed (if its agent comes back, it
// must not run beside its replacement; a late update of it is an older
// attempt's, which onUpdate kills too) and its instance relaunched as a new
// attempt, counted as a lost relaunch. One instance is never counted twice:
// the old attempt no longer counts once the new one is queued.
func (f *Framework) expireUnreachable(now time.Time) {
	type kill struct{ taskID, agentID string }
	var kills []kill
	var recon []*kernelpb.ReconcileTask
	f.mu.Lock()
	reconcile := now.Sub(f.unreachableReconciled) >= unreachableReconcileInterval
	for _, j := range f.order {
		if j.done() {
			continue
		}
		for i := range j.inst {
			in := &j.inst[i]
			if in.unreachableSince.IsZero() {
				continue
			}
			if now.Sub(in.unreachableSince) < f.cfg.UnreachableTimeout {
				if reconcile {
					recon = append(recon, &kernelpb.ReconcileTask{TaskId: taskID(j.id, i, in.attempt), AgentId: in.agentID})
				}
				continue
			}
			if in.phase != phStaging && in.phase != phRunning {
				in.unreachableSince = time.Time{}
				continue
			}
			kills = append(kills, kill{taskID(j.id, i, in.attempt), in.agentID})
			in.unreachableSince = time.Time{}
			st := &kernelpb.TaskStatus{
				TaskId: taskID(j.id, i, in.attempt), State: kernelpb.TaskState_TASK_UNREACHABLE, AgentId: in.agentID,
				Reason: kernelpb.Reason_REASON_AGENT_UNREACHABLE, Message: "its agent stayed unreachable for " + f.cfg.UnreachableTimeout.String(),
			}
			f.failOrRetry(j, i, st, true)
			f.maybeEnd(j)
			j.dirty = true
		}
	}
	if len(recon) > 0 {
		f.unreachableReconciled = now
	}
	d := f.drv
	var revive bool
	if len(kills) > 0 && f.pending > 0 && f.suppressed {
		f.suppressed = false
		revive = true
	}
	f.mu.Unlock()
	if d == nil {
		return
	}
	if len(recon) > 0 {
		d.Reconcile(recon)
	}
	for _, k := range kills {
		f.log.Warn("instance unreachable too long: relaunching it elsewhere", "task", k.taskID, "agent", k.agentID)
		d.Kill(k.taskID, k.agentID)
	}
	if revive {
		d.Revive()
	}
}
