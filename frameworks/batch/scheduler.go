package batch

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/pandodc/pando/frameworks/batch/batchapi"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
	"github.com/pandodc/pando/sdk"
)

// Filters for what the framework gives back. Short while work is pending,
// so freed resources come back quickly; longer when idle (and the framework
// suppresses offers anyway).
var (
	busyFilter = &kernelpb.Filters{RefuseSeconds: 1}
	idleFilter = &kernelpb.Filters{RefuseSeconds: 5}
)

// The sdk.Scheduler callbacks hand over to methods that take the driver as
// an interface, so tests can drive the framework without a master.

// Subscribed implements sdk.Scheduler.
func (f *Framework) Subscribed(d *sdk.Driver, id string, reconnected bool) {
	f.onSubscribed(d, id, reconnected)
}

// Offers implements sdk.Scheduler.
func (f *Framework) Offers(d *sdk.Driver, offers []*kernelpb.Offer) { f.onOffers(d, offers) }

// Rescinded implements sdk.Scheduler. The framework holds no offers (it
// answers each at once), so there is nothing to undo.
func (f *Framework) Rescinded(*sdk.Driver, string) {}

// Update implements sdk.Scheduler.
func (f *Framework) Update(d *sdk.Driver, st *kernelpb.TaskStatus) { f.onUpdate(d, st) }

// Error implements sdk.Scheduler.
func (f *Framework) Error(_ *sdk.Driver, msg string) {
	f.log.Warn("master refused a message", "error", msg)
}

// Disconnected implements sdk.Scheduler.
func (f *Framework) Disconnected(_ *sdk.Driver, reason error) {
	f.mu.Lock()
	f.connected = false
	f.mu.Unlock()
	f.log.Warn("disconnected from the master", "reason", reason)
}

func (f *Framework) onSubscribed(d driverCalls, id string, reconnected bool) {
	f.mu.Lock()
	changed := f.frameworkID != id
	f.frameworkID = id
	f.connected = true
	if f.drv == nil {
		f.drv = d
	}
	var recon, kills []*kernelpb.ReconcileTask
	for _, j := range f.order {
		if j.state != StatePending && j.state != StateRunning {
			continue
		}
		for i := range j.inst {
			in := &j.inst[i]
			if in.phase == phStaging || in.phase == phRunning {
				t := &kernelpb.ReconcileTask{TaskId: taskID(j.id, i, in.attempt), AgentId: in.agentID}
				recon = append(recon, t)
				if j.killed {
					// A kill sent while disconnected was dropped.
					kills = append(kills, t)
				}
			}
		}
	}
	pending := f.pending
	// A new subscription starts unsuppressed; say what we want.
	f.suppressed = pending == 0
	meta := f.metaRecord()
	f.mu.Unlock()

	if changed {
		// The id must be durable before tasks run under it, or a restart
		// would subscribe as a new framework and orphan them.
		if err := f.putJSON(context.Background(), f.prefix+"meta", meta); err != nil {
			f.log.Error("cannot save the framework id; a restart will lose running tasks", "err", err)
		}
	}
	f.log.Info("subscribed", "framework_id", id, "reconnected", reconnected, "reconciling", len(recon), "pending", pending)
	if len(recon) > 0 {
		d.Reconcile(recon)
	}
	// Implicit reconciliation: learn about tasks we have no record of
	// (launched just before a crash) so they can be killed.
	d.Reconcile(nil)
	for _, k := range kills {
		d.Kill(k.GetTaskId(), k.GetAgentId())
	}
	if pending == 0 {
		d.Suppress()
	} else {
		d.Revive()
	}
}

func (f *Framework) onOffers(d driverCalls, offers []*kernelpb.Offer) {
	type accept struct {
		offerID string
		tasks   []*kernelpb.TaskInfo
	}
	var accepts []accept
	var declines []string

	f.mu.Lock()
	f.compactRotation()
	for _, o := range offers {
		if f.pending == 0 {
			declines = append(declines, o.GetId())
			continue
		}
		avail, err := resources.FromProto(o.GetResources())
		if err != nil {
			f.log.Warn("offer with malformed resources", "offer", o.GetId(), "err", err)
			declines = append(declines, o.GetId())
			continue
		}
		var tasks []*kernelpb.TaskInfo
		n := len(f.rotation)
		hasContainers := containerRuntime.Holds(o)
		for k := 0; k < n && f.pending > 0; k++ {
			j := f.rotation[(f.cursor+k)%n]
			want := j.count[phPending]
			if want == 0 {
				continue
			}
			if j.container && !hasContainers {
				j.declined.Looked()
				j.declined.Fails(containerRuntime.String())
				continue
			}
			fit := sdk.BinPack(avail, j.need, want)
			if fit == 0 {
				j.declined.Looked()
				j.declined.Lacks(offerName(o), avail, j.need)
				continue
			}
			tasks = f.launch(j, o, fit, tasks)
			avail = subtractN(avail, j.need, fit)
		}
		if n > 0 {
			f.cursor = (f.cursor + 1) % n
		}
		if len(tasks) > 0 {
			accepts = append(accepts, accept{o.GetId(), tasks})
		} else {
			declines = append(declines, o.GetId())
		}
	}
	busy := f.pending > 0
	suppress := !busy && !f.suppressed
	if suppress {
		f.suppressed = true
	}
	f.mu.Unlock()

	filter := idleFilter
	if busy {
		filter = busyFilter
	}
	for _, a := range accepts {
		d.Accept([]string{a.offerID}, a.tasks, filter)
	}
	if len(declines) > 0 {
		d.Decline(declines, filter)
	}
	if suppress {
		d.Suppress()
	}
}

// launch takes n pending instances of j off its queue and appends their
// tasks for offer o.
func (f *Framework) launch(j *job, o *kernelpb.Offer, n int, tasks []*kernelpb.TaskInfo) []*kernelpb.TaskInfo {
	now := time.Now().UTC()
	if j.started.IsZero() {
		j.started = now
	}
	j.waiting = ""
	for n > 0 && len(j.queue) > 0 {
		idx := j.queue[0]
		j.queue = j.queue[1:]
		in := &j.inst[idx]
		if in.phase != phPending {
			continue // stale entry
		}
		f.setPhase(j, in, phStaging)
		f.pending--
		n--
		in.agentID = o.GetAgentId()
		in.state = kernelpb.TaskState_TASK_STAGING
		in.reason, in.message, in.exitCode, in.updated = kernelpb.Reason_REASON_NONE, "", 0, now
		tasks = append(tasks, f.taskInfo(j, idx, in.attempt, o))
	}
	if j.state == StatePending {
		j.state = StateRunning
	}
	j.dirty = true
	return tasks
}

func (f *Framework) taskInfo(j *job, idx, attempt int, o *kernelpb.Offer) *kernelpb.TaskInfo {
	id := taskID(j.id, idx, attempt)
	inst := strconv.Itoa(idx)
	t := j.task.On(o, id)
	t.Name = j.spec.Name + "." + inst
	t.Env = make(map[string]string, len(j.spec.Env)+3)
	for k, v := range j.spec.Env {
		t.Env[k] = v
	}
	t.Env["PANDO_TASK_ID"] = id
	t.Env["PANDO_INSTANCE"] = inst
	t.Env["PANDO_JOB"] = j.id
	t.Labels = map[string]string{"pando.job": j.id, "pando.instance": inst}
	if len(j.spec.Each) > 0 {
		each := j.spec.Each[idx]
		t.Inputs = append(t.Inputs, &kernelpb.Input{Digest: each.Digest, Path: batchapi.EachPath, Archive: each.Archive})
		t.Env[batchapi.EnvInputName] = each.Name
		t.Env[batchapi.EnvInputPath] = batchapi.EachPath
	}
	return t
}

// sharedInputs are the inputs every instance of the job sees.
func sharedInputs(spec JobSpec) []*kernelpb.Input {
	out := make([]*kernelpb.Input, 0, len(spec.Inputs))
	for _, in := range spec.Inputs {
		out = append(out, &kernelpb.Input{Digest: in.Digest, Path: in.Path, Archive: in.Archive})
	}
	return out
}

// eachName names instance idx's Each input, "" for jobs without.
func (j *job) eachName(idx int) string {
	if idx < len(j.spec.Each) {
		return j.spec.Each[idx].Name
	}
	return ""
}

func offerName(o *kernelpb.Offer) string {
	if h := o.GetHostname(); h != "" {
		return h
	}
	return o.GetAgentId()
}

// subtractN returns avail minus n copies of need (which BinPack said fit).
func subtractN(avail, need resources.Resources, n int) resources.Resources {
	items := need.Items()
	scaled := make([]resources.Resource, 0, len(items))
	for _, it := range items {
		if len(it.Ranges) > 0 {
			// Ranges do not scale: take copies one by one.
			for ; n > 0; n-- {
				avail, _ = avail.Subtract(need)
			}
			return avail
		}
		scaled = append(scaled, resources.Resource{Name: it.Name, Role: it.Role, Milli: it.Milli * resources.Milli(n)})
	}
	out, err := avail.Subtract(resources.New(scaled...))
	if err != nil {
		return resources.Resources{}
	}
	return out
}

// compactRotation drops jobs that have nothing pending.
func (f *Framework) compactRotation() {
	keep := f.rotation[:0]
	for _, j := range f.rotation {
		if j.count[phPending] > 0 {
			keep = append(keep, j)
		} else {
			j.inRotation = false
		}
	}
	clear(f.rotation[len(keep):])
	f.rotation = keep
	if len(keep) == 0 {
		f.cursor = 0
	} else {
		f.cursor %= len(keep)
	}
}

func (f *Framework) onUpdate(d driverCalls, st *kernelpb.TaskStatus) {
	jobID, idx, attempt, ok := parseTaskID(st.GetTaskId())
	f.mu.Lock()
	j := f.jobs[jobID]
	if !ok || j == nil || idx >= len(j.inst) || attempt != j.inst[idx].attempt ||
		j.inst[idx].phase == phPending || j.inst[idx].phase.terminal() {
		f.mu.Unlock()
		// Not a task we are waiting on: an older attempt, a duplicate, or
		// one we have no record of. If it still runs, it must not.
		// UNKNOWN: the master has no such task, so there is none to kill.
		if !sdk.IsTerminal(st.GetState()) && st.GetState() != sdk.TaskUnknown {
			f.log.Info("killing a task the framework does not expect", "task", st.GetTaskId(), "state", st.GetState())
			d.Kill(st.GetTaskId(), st.GetAgentId())
		}
		return
	}
	in := &j.inst[idx]
	unsure := in.unsure
	in.unsure = false
	if st.GetState() == kernelpb.TaskState_TASK_UNREACHABLE {
		if in.unreachableSince.IsZero() {
			in.unreachableSince = time.Now()
		}
	} else {
		in.unreachableSince = time.Time{}
	}
	in.state, in.reason, in.message, in.exitCode = st.GetState(), st.GetReason(), st.GetMessage(), st.GetExitCode()
	in.updated = time.Now().UTC()
	if st.GetAgentId() != "" {
		in.agentID = st.GetAgentId()
	}
	requeued := false
	switch st.GetState() {
	case kernelpb.TaskState_TASK_LOST, kernelpb.TaskState_TASK_UNKNOWN:
		if (unsure || sdk.IsDroppedLaunch(st)) && !j.killed {
			// The launch never happened (its offer was gone, or the
			// master has no task of an unsure instance): launch again,
			// spending neither a retry nor a lost relaunch.
			f.requeue(j, idx)
			requeued = true
		} else {
			requeued = f.failOrRetry(j, idx, st, true)
		}
	case kernelpb.TaskState_TASK_UNREACHABLE:
		// Its agent may come back with it: wait, up to UnreachableTimeout.
		f.log.Info("instance unreachable: waiting for its agent", "task", st.GetTaskId(), "agent", in.agentID)
	case kernelpb.TaskState_TASK_RUNNING:
		if in.phase == phStaging {
			f.setPhase(j, in, phRunning)
		}
	case kernelpb.TaskState_TASK_FINISHED:
		f.setPhase(j, in, phFinished)
	case kernelpb.TaskState_TASK_FAILED, kernelpb.TaskState_TASK_ERROR:
		requeued = f.failOrRetry(j, idx, st, false)
	case kernelpb.TaskState_TASK_KILLED:
		if j.killed {
			f.setPhase(j, in, phKilled)
		} else {
			requeued = f.failOrRetry(j, idx, st, false)
		}
	default: // STAGING, STARTING, KILLING: nothing changes for us
	}
	wasLive := j.state == StatePending || j.state == StateRunning
	f.maybeEnd(j)
	ended := wasLive && j.state != StatePending && j.state != StateRunning
	j.dirty = true
	var revive driverCalls
	if requeued && f.suppressed {
		f.suppressed = false
		revive = d
	}
	f.mu.Unlock()
	if ended {
		f.kickPersist()
	}
	if revive != nil {
		revive.Revive()
	}
}

// failOrRetry settles an unsuccessful attempt: relaunch (reporting true) or
// give up on the instance.
func (f *Framework) failOrRetry(j *job, idx int, st *kernelpb.TaskStatus, lost bool) bool {
	in := &j.inst[idx]
	if j.killed {
		f.setPhase(j, in, phKilled)
		return false
	}
	if len(j.failures) < maxFailures {
		j.failures = append(j.failures, Failure{
			Instance: idx, TaskID: st.GetTaskId(), State: stateName(st.GetState()),
			Reason: reasonName(st.GetReason()), Message: st.GetMessage(), ExitCode: int(st.GetExitCode()),
			Input: j.eachName(idx),
		})
	}
	switch {
	case lost && in.lost < MaxLostRelaunches:
		in.lost++
		j.lostRetry++
	case in.retries < j.spec.Retries:
		in.retries++
		j.retried++
	default:
		f.setPhase(j, in, phFailed)
		return false
	}
	f.requeue(j, idx)
	return true
}

// requeue makes instance idx pending again, as a new attempt.
func (f *Framework) requeue(j *job, idx int) {
	in := &j.inst[idx]
	in.attempt++
	f.setPhase(j, in, phPending)
	j.queue = append(j.queue, idx)
	f.pending++
	f.addToRotation(j)
}

func stateName(s kernelpb.TaskState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "TASK_"))
}

func reasonName(r kernelpb.Reason) string {
	if r == kernelpb.Reason_REASON_NONE {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(r.String(), "REASON_"))
}
