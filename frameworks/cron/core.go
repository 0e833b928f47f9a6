package cron

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pandodc/pando/sdk"
)

// Run states.
const (
	RunQueued    = "queued"
	RunStaging   = "staging"
	RunRunning   = "running"
	RunSucceeded = "succeeded"
	RunFailed    = "failed"
	RunSkipped   = "skipped"
)

// Run triggers.
const (
	TriggerSchedule = "schedule"
	TriggerParents  = "parents"
	TriggerManual   = "manual"
)

// MaxLost bounds the relaunches of one run after TASK_LOST (not the
// task's fault, so they use no retry).
const MaxLost = 5

// DefaultHistory is how many ended runs a job keeps.
const DefaultHistory = 100

// Run is one run of a job: a slot of its schedule, a success of its
// parents, or a "run now", and its latest attempt.
type Run struct {
	Slot    time.Time `json:"slot"`
	Trigger string    `json:"trigger"`
	State   string    `json:"state"`
	Attempt int       `json:"attempt"`
	Retried int       `json:"retried,omitempty"`
	Lost    int       `json:"lost,omitempty"`
	Slots   int       `json:"slots,omitempty"` // of a skipped entry: consecutive slots are one
	TaskID  string    `json:"taskId,omitempty"`
	AgentID string    `json:"agentId,omitempty"`
	Started time.Time `json:"started,omitzero"`
	Ended   time.Time `json:"ended,omitzero"`
	Message string    `json:"message,omitempty"`
	// Note says a slot was claimed late (missed while the framework was down).
	Note string `json:"note,omitempty"`
}

// key names the run among its job's: trigger and slot.
func (r Run) key() string { return r.Trigger[:1] + strconv.FormatInt(r.Slot.UnixMilli(), 10) }

// TaskID is the id of attempt a of run key of job: deterministic, so a
// restarted framework finds its tasks again.
func TaskID(job, key string, attempt int) string {
	return "cron." + job + "." + key + "." + strconv.Itoa(attempt)
}

// jobOf is the job of a task id, "" if it is none of ours.
func jobOf(taskID string) string {
	rest, ok := strings.CutPrefix(taskID, "cron.")
	parts := strings.Split(rest, ".")
	if !ok || len(parts) < 3 {
		return ""
	}
	return strings.Join(parts[:len(parts)-2], ".")
}

// Status is a job's counters (Chronos's names), its next slot, its
// active runs and its history.
type Status struct {
	SuccessCount           int       `json:"successCount"`
	ErrorCount             int       `json:"errorCount"`
	SkipCount              int       `json:"skipCount"`
	ErrorsSinceLastSuccess int       `json:"errorsSinceLastSuccess"`
	LastSuccess            string    `json:"lastSuccess"`
	LastError              string    `json:"lastError"`
	NextSlot               time.Time `json:"nextSlot,omitzero"`
	Exhausted              bool      `json:"exhausted,omitempty"`
	ParentsDone            []string  `json:"parentsDone,omitempty"`
	Waiting                string    `json:"waiting,omitempty"`
	Active                 []Run     `json:"active,omitempty"`
	History                []Run     `json:"history,omitempty"`
}

// Record is a job as stored: one key per job, written whole, so a slot's
// claim and the schedule's advance past it are one atomic write.
type Record struct {
	Job    Job       `json:"job"`
	Image  sdk.Image `json:"image,omitzero"`
	Status Status    `json:"status"`
}

// JobView is a job as GET /v1/scheduler/jobs lists it: Chronos's fields
// and counters side by side.
type JobView struct {
	Job
	Status
}

type entry struct {
	job   Job
	image sdk.Image
	c     compiled
	st    Status
}

// Core is the scheduler's pure logic: jobs, slots, the DAG, retries,
// epsilon, concurrency and history. It reads no clock, starts no
// goroutine and does no I/O: every input carries the time, and the shell
// persists the jobs TakeDirty names before it acts on them.
type Core struct {
	jobs    map[string]*entry
	dirty   map[string]bool
	History int // ended runs kept per job
}

// NewCore returns an empty core.
func NewCore() *Core {
	return &Core{jobs: map[string]*entry{}, dirty: map[string]bool{}, History: DefaultHistory}
}

func (c *Core) touch(name string) { c.dirty[name] = true }

// TakeDirty returns the jobs changed since the last call: store Record
// of each (or delete it when Record says there is none).
func (c *Core) TakeDirty() []string {
	names := slices.Sorted(maps.Keys(c.dirty))
	clear(c.dirty)
	return names
}

// Record returns the job's record, false if there is no such job.
func (c *Core) Record(name string) (Record, bool) {
	e, ok := c.jobs[name]
	if !ok {
		return Record{}, false
	}
	st := e.st
	st.Active, st.History, st.ParentsDone = slices.Clone(st.Active), slices.Clone(st.History), slices.Clone(st.ParentsDone)
	return Record{Job: e.job, Image: e.image, Status: st}, true
}

// Load puts back a stored job as it was (after a restart).
func (c *Core) Load(r Record) error {
	cj, err := compile(r.Job)
	if err != nil {
		return err
	}
	c.jobs[r.Job.Name] = &entry{job: r.Job, image: r.Image, c: cj, st: r.Status}
	return nil
}

// Check validates j against the other jobs: its fields, its parents
// (they exist, and no cycle), without changing anything.
func (c *Core) Check(j Job) error {
	if _, err := compile(j); err != nil {
		return err
	}
	for _, p := range j.Parents {
		if _, ok := c.jobs[p]; !ok {
			return fmt.Errorf("%w %q: parents: no job named %q (add the parents first)", ErrInvalid, j.Name, p)
		}
	}
	// The jobs had no cycle: a new one goes through j.
	parents := func(n string) []string {
		if n == j.Name {
			return j.Parents
		}
		return c.jobs[n].job.Parents
	}
	var path []string
	var visit func(n string) bool
	seen := map[string]bool{}
	visit = func(n string) bool {
		path = append(path, n)
		for _, p := range parents(n) {
			if p == j.Name || (!seen[p] && visit(p)) {
				if p == j.Name {
					path = append(path, p)
				}
				return true
			}
		}
		seen[n] = true
		path = path[:len(path)-1]
		return false
	}
	if visit(j.Name) {
		slices.Reverse(path)
		return fmt.Errorf("%w %q: parents: a dependency cycle %s", ErrInvalid, j.Name, strings.Join(path, " -> "))
	}
	return nil
}

// Put adds j, or replaces the job of that name keeping its counters and
// history. It returns the previous record (nil if new) for Restore.
func (c *Core) Put(j Job, image sdk.Image, now time.Time) (*Record, error) {
	if err := c.Check(j); err != nil {
		return nil, err
	}
	cj, _ := compile(j)
	var prev *Record
	e, ok := c.jobs[j.Name]
	if ok {
		r, _ := c.Record(j.Name)
		prev = &r
	} else {
		e = &entry{}
		c.jobs[j.Name] = e
	}
	rescheduled := !ok || e.job.Schedule != j.Schedule || e.job.ScheduleTimeZone != j.ScheduleTimeZone
	e.job, e.image, e.c = j, image, cj
	e.st.ParentsDone = slices.DeleteFunc(e.st.ParentsDone, func(p string) bool { return !slices.Contains(j.Parents, p) })
	if rescheduled {
		e.st.NextSlot, e.st.Exhausted = time.Time{}, true
		if cj.sched != nil {
			// A slot at this very instant counts; earlier ones do not.
			next, more := cj.sched.Next(now.Add(-time.Nanosecond))
			e.st.NextSlot, e.st.Exhausted = next, !more
		}
	}
	c.touch(j.Name)
	return prev, nil
}

// Restore undoes a Put that could not be stored: prev is what Put
// returned.
func (c *Core) Restore(name string, prev *Record) {
	delete(c.jobs, name)
	if prev != nil {
		_ = c.Load(*prev)
	}
	c.touch(name)
}

// Delete removes a job no other job depends on, and returns its active
// runs' tasks, to kill.
func (c *Core) Delete(name string) ([]Run, error) {
	e, ok := c.jobs[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	if kids := c.children(name); len(kids) > 0 {
		return nil, fmt.Errorf("%w: %s depend on %q: delete them or change their parents first", ErrConflict, strings.Join(kids, ", "), name)
	}
	delete(c.jobs, name)
	c.touch(name)
	return slices.DeleteFunc(e.st.Active, func(r Run) bool { return r.TaskID == "" }), nil
}

func (c *Core) children(name string) []string {
	var kids []string
	for n, e := range c.jobs {
		if slices.Contains(e.job.Parents, name) {
			kids = append(kids, n)
		}
	}
	slices.Sort(kids)
	return kids
}

// RunNow queues a run of the job at now, whatever its schedule.
func (c *Core) RunNow(name string, now time.Time) error {
	e, ok := c.jobs[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	for c.has(e, Run{Trigger: TriggerManual, Slot: now}.key()) {
		now = now.Add(time.Millisecond)
	}
	c.enqueue(name, e, now, TriggerManual)
	return nil
}

func (c *Core) has(e *entry, key string) bool {
	for _, r := range append(slices.Clip(e.st.Active), e.st.History...) {
		if r.key() == key {
			return true
		}
	}
	return false
}

// enqueue queues a run, unless the job has one for that slot already.
func (c *Core) enqueue(name string, e *entry, slot time.Time, trigger string) *Run {
	r := Run{Slot: slot, Trigger: trigger, State: RunQueued}
	if c.has(e, r.key()) {
		return nil
	}
	e.st.Active = append(e.st.Active, r)
	c.touch(name)
	return &e.st.Active[len(e.st.Active)-1]
}

// maxSkipSteps bounds the slots one Tick counts one by one after an
// outage; beyond it the schedule jumps to now.
const maxSkipSteps = 100_000

// Tick claims every slot due at now: a slot missed by more than the
// job's epsilon is skipped (consecutive ones in one history entry),
// others are queued to run.
func (c *Core) Tick(now time.Time) {
	for name, e := range c.jobs {
		c.skipLate(name, e, now)
		if e.c.sched == nil || e.job.Disabled || e.st.Exhausted {
			continue
		}
		var first, last time.Time
		skipped, jumped, before := 0, false, e.st.NextSlot
		for !e.st.NextSlot.After(now) {
			slot := e.st.NextSlot
			if late := now.Sub(slot); late <= e.c.epsilon {
				if r := c.enqueue(name, e, slot, TriggerSchedule); r != nil && late > time.Second {
					// The framework was down, or the ticks held up.
					r.Note = fmt.Sprintf("claimed %s late, within epsilon %s", late.Round(time.Millisecond), e.job.Epsilon)
				}
			} else {
				if skipped++; skipped == 1 {
					first = slot
				}
				last = slot
			}
			from := slot
			if skipped >= maxSkipSteps && now.Sub(slot) > e.c.epsilon {
				from, jumped = now.Add(-e.c.epsilon-time.Nanosecond), true
			}
			next, more := e.c.sched.Next(from)
			if !more {
				e.st.NextSlot, e.st.Exhausted = time.Time{}, true
				break
			}
			e.st.NextSlot = next
		}
		if skipped > 0 {
			many := ""
			if jumped {
				many = "at least "
			}
			c.ended(name, e, Run{Slot: first, Trigger: TriggerSchedule, State: RunSkipped, Slots: skipped, Ended: now,
				Message: fmt.Sprintf("%s%d slot(s) from %s to %s missed by more than epsilon %s", many, skipped,
					first.UTC().Format(time.RFC3339), last.UTC().Format(time.RFC3339), e.job.Epsilon)})
			e.st.SkipCount += skipped
		}
		if !e.st.NextSlot.Equal(before) {
			c.touch(name)
		}
	}
}

// Launch is a run to launch now.
type Launch struct {
	Job    string
	TaskID string
	Task   sdk.TaskBuilder
	Shape  sdk.Shape
	key    string // the run's, among its job's
}

// Ready returns the runs to launch at now, in the order of their jobs'
// names and slots: one at a time per job unless it is concurrent.
func (c *Core) Ready(now time.Time) []Launch {
	var out []Launch
	for _, name := range c.names() {
		e := c.jobs[name]
		c.skipLate(name, e, now)
		busy := slices.ContainsFunc(e.st.Active, func(r Run) bool { return r.State == RunStaging || r.State == RunRunning })
		for _, r := range e.st.Active {
			if r.State != RunQueued {
				continue
			}
			if busy && !e.job.Concurrent {
				break
			}
			busy = true
			task := e.job.task(e.image)
			out = append(out, Launch{Job: name, TaskID: TaskID(name, r.key(), r.Attempt), Task: task, Shape: task.Shape("cron." + name), key: r.key()})
		}
	}
	return out
}

// skipLate skips the scheduled runs still queued (a previous run still
// going, no offer fitting) more than epsilon after their slot. Retries
// and relaunches of a run that started in time are not late.
func (c *Core) skipLate(name string, e *entry, now time.Time) {
	for i := 0; i < len(e.st.Active); i++ {
		r := e.st.Active[i]
		if late := now.Sub(r.Slot); r.State == RunQueued && r.Trigger == TriggerSchedule && r.Retried == 0 && r.Lost == 0 && late > e.c.epsilon {
			r.State, r.Slots, r.Ended = RunSkipped, 1, now
			r.Message = fmt.Sprintf("could not start within epsilon %s of its slot (waited %s)", e.job.Epsilon, late.Round(time.Second))
			e.st.Active = slices.Delete(e.st.Active, i, i+1)
			i--
			e.st.SkipCount++
			c.ended(name, e, r)
		}
	}
}

func (c *Core) names() []string { return slices.Sorted(maps.Keys(c.jobs)) }

// find returns the active run whose current attempt is taskID.
func (c *Core) find(taskID string) (string, *entry, int) {
	name := jobOf(taskID)
	e := c.jobs[name]
	if e == nil {
		return name, nil, -1
	}
	return name, e, slices.IndexFunc(e.st.Active, func(r Run) bool { return r.TaskID == taskID })
}

// Claim marks the launch of l on agent at now. The shell stores the job
// before it sends the launch, so a restart knows the task is its own.
func (c *Core) Claim(l Launch, agent string, now time.Time) {
	e := c.jobs[l.Job]
	if e == nil {
		return
	}
	for i, r := range e.st.Active {
		if r.State == RunQueued && r.key() == l.key {
			e.st.Active[i].State, e.st.Active[i].TaskID, e.st.Active[i].AgentID, e.st.Active[i].Started = RunStaging, l.TaskID, agent, now
			e.st.Waiting = ""
			c.touch(l.Job)
		}
	}
}

// Waiting notes why a job's run has not launched (no offer fits).
func (c *Core) Waiting(job, why string) {
	if e, ok := c.jobs[job]; ok {
		e.st.Waiting = why
	}
}

// Update applies a task's status at now. kill says the task is none of
// the active runs' and still lives: the shell kills it.
func (c *Core) Update(st *sdk.TaskStatus, now time.Time) (kill bool) {
	name, e, i := c.find(st.GetTaskId())
	if i < 0 {
		return !sdk.IsTerminal(st.GetState())
	}
	r := &e.st.Active[i]
	msg := st.GetMessage()
	if msg == "" {
		msg = strings.ToLower(strings.TrimPrefix(st.GetState().String(), "TASK_"))
	}
	retry := func() {
		r.Attempt++
		r.State, r.TaskID, r.AgentID, r.Message = RunQueued, "", "", msg
	}
	switch s := st.GetState(); {
	case s == sdk.TaskStarting || s == sdk.TaskRunning:
		if r.State == RunRunning {
			return false
		}
		r.State = RunRunning
	case s == sdk.TaskFinished:
		c.finish(name, e, i, RunSucceeded, "", now)
	case sdk.IsDroppedLaunch(st):
		retry()
	case s == sdk.TaskLost || s == sdk.TaskUnknown:
		if r.Lost++; r.Lost > MaxLost {
			c.finish(name, e, i, RunFailed, fmt.Sprintf("lost %d times: %s", r.Lost, msg), now)
		} else {
			retry()
		}
	case sdk.IsTerminal(s): // FAILED, ERROR, KILLED
		if r.Retried < e.job.Retries {
			r.Retried++
			retry()
		} else {
			c.finish(name, e, i, RunFailed, msg, now)
		}
	default:
		return false
	}
	c.touch(name)
	return false
}

func (c *Core) finish(name string, e *entry, i int, state, msg string, now time.Time) {
	r := e.st.Active[i]
	e.st.Active = slices.Delete(e.st.Active, i, i+1)
	r.State, r.Ended, r.Message = state, now, msg
	stamp := now.UTC().Format(time.RFC3339Nano)
	if state == RunSucceeded {
		e.st.SuccessCount++
		e.st.ErrorsSinceLastSuccess = 0
		e.st.LastSuccess = stamp
		c.parentSucceeded(name, r.Slot, now)
	} else {
		e.st.ErrorCount++
		e.st.ErrorsSinceLastSuccess++
		e.st.LastError = stamp
	}
	c.ended(name, e, r)
}

// parentSucceeded queues a run of each child whose parents have all
// succeeded since its last run.
func (c *Core) parentSucceeded(parent string, slot, now time.Time) {
	for _, kid := range c.children(parent) {
		e := c.jobs[kid]
		if !slices.Contains(e.st.ParentsDone, parent) {
			e.st.ParentsDone = append(e.st.ParentsDone, parent)
		}
		c.touch(kid)
		if len(e.st.ParentsDone) < len(e.job.Parents) {
			continue
		}
		e.st.ParentsDone = nil
		if !e.job.Disabled {
			c.enqueue(kid, e, slot, TriggerParents)
		}
	}
}

func (c *Core) ended(name string, e *entry, r Run) {
	e.st.History = append(e.st.History, r)
	if over := len(e.st.History) - c.History; over > 0 {
		e.st.History = slices.Delete(e.st.History, 0, over)
	}
	c.touch(name)
}

// Inflight lists the tasks the core believes launched, to reconcile.
func (c *Core) Inflight() []*sdk.ReconcileTask {
	var out []*sdk.ReconcileTask
	for _, name := range c.names() {
		for _, r := range c.jobs[name].st.Active {
			if r.TaskID != "" {
				out = append(out, &sdk.ReconcileTask{TaskId: r.TaskID, AgentId: r.AgentID})
			}
		}
	}
	return out
}

// Queued reports whether some run waits for an offer.
func (c *Core) Queued() bool {
	for _, e := range c.jobs {
		if slices.ContainsFunc(e.st.Active, func(r Run) bool { return r.State == RunQueued }) {
			return true
		}
	}
	return false
}

// Jobs lists the jobs by name, without their histories.
func (c *Core) Jobs() []JobView {
	out := make([]JobView, 0, len(c.jobs))
	for _, n := range c.names() {
		v, _ := c.Job(n)
		v.History = nil
		out = append(out, v)
	}
	return out
}

// Job returns one job with its history.
func (c *Core) Job(name string) (JobView, bool) {
	r, ok := c.Record(name)
	return JobView{Job: r.Job, Status: r.Status}, ok
}
