package batch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pandodc/pando/kernel/resources"
	"github.com/pandodc/pando/sdk/store"
)

// metaRecord is the framework's own state in the store.
type metaRecord struct {
	FrameworkID string `json:"framework_id"`
	// Seq is the last job number handed out, so ids are never reused.
	Seq int `json:"seq"`
}

// jobRecord is a job in the store. Instances are stored column-wise
// (a string of phase letters and parallel arrays) to keep a job of
// 100,000 instances a few hundred KiB rather than megabytes of objects.
type jobRecord struct {
	ID          string    `json:"id"`
	Spec        JobSpec   `json:"spec"`
	State       string    `json:"state"`
	Killed      bool      `json:"killed,omitempty"`
	SubmittedAt time.Time `json:"submitted_at"`
	StartedAt   time.Time `json:"started_at,omitzero"`
	FinishedAt  time.Time `json:"finished_at,omitzero"`
	Retried     int       `json:"retried,omitempty"`
	LostRetried int       `json:"lost_retried,omitempty"`
	Failures    []Failure `json:"failures,omitempty"`
	Waiting     string    `json:"waiting,omitempty"`

	// Phases has one letter per instance: p(ending) s(taging) r(unning)
	// f(inished) x (failed) k(illed).
	Phases   string   `json:"phases"`
	Attempts []int    `json:"attempts,omitempty"`
	Retries  []int    `json:"retries,omitempty"`
	Lost     []int    `json:"lost,omitempty"`
	Agents   []string `json:"agents,omitempty"`
}

const phaseLetters = "psrfxk"

func (f *Framework) jobKey(id string) string { return f.prefix + "jobs/" + id }

func (f *Framework) metaRecord() metaRecord {
	return metaRecord{FrameworkID: f.frameworkID, Seq: f.seq}
}

// record snapshots j; the caller holds f.mu.
func (j *job) record() jobRecord {
	r := jobRecord{
		ID: j.id, Spec: j.spec, State: j.state, Killed: j.killed,
		SubmittedAt: j.submitted, StartedAt: j.started, FinishedAt: j.finished,
		Retried: j.retried, LostRetried: j.lostRetry, Failures: slices.Clone(j.failures), Waiting: j.waiting,
	}
	phases := make([]byte, len(j.inst))
	var attempts, retries, lost []int
	var agents []string
	live := j.state == StatePending || j.state == StateRunning
	for i := range j.inst {
		in := &j.inst[i]
		phases[i] = phaseLetters[in.phase]
		if in.unsure {
			phases[i] = phaseLetters[phPending] // still unsure when read again
		}
		// Columns are written only when some instance needs them.
		if in.attempt != 0 && attempts == nil {
			attempts = make([]int, len(j.inst))
		}
		if in.retries != 0 && retries == nil {
			retries = make([]int, len(j.inst))
		}
		if in.lost != 0 && lost == nil {
			lost = make([]int, len(j.inst))
		}
		// Agents only matter to reconcile live tasks.
		if live && in.agentID != "" && agents == nil {
			agents = make([]string, len(j.inst))
		}
		if attempts != nil {
			attempts[i] = in.attempt
		}
		if retries != nil {
			retries[i] = in.retries
		}
		if lost != nil {
			lost[i] = in.lost
		}
		if agents != nil && (in.phase == phStaging || in.phase == phRunning) {
			agents[i] = in.agentID
		}
	}
	r.Phases, r.Attempts, r.Retries, r.Lost, r.Agents = string(phases), attempts, retries, lost, agents
	return r
}

// fromRecord rebuilds a job. Instances that were pending when saved may
// have been launched since (state is saved every PersistInterval, not at
// every launch): they are unsure, staging under their saved attempt until
// reconciliation says whether that task exists. A task that runs is kept
// (launching it again would run the instance twice); one the master calls
// LOST or UNKNOWN is launched again, spending no retry.
func fromRecord(r jobRecord) (*job, error) {
	need, err := resources.Parse(r.Spec.Resources)
	if err != nil {
		return nil, fmt.Errorf("job %s: resources %q: %w", r.ID, r.Spec.Resources, err)
	}
	n := len(r.Phases)
	if n != r.Spec.Instances {
		return nil, fmt.Errorf("job %s: %d instance phases for %d instances", r.ID, n, r.Spec.Instances)
	}
	j := newJob(r.ID, r.Spec, need)
	j.state, j.killed = r.State, r.Killed
	j.submitted, j.started, j.finished = r.SubmittedAt, r.StartedAt, r.FinishedAt
	j.retried, j.lostRetry, j.failures, j.waiting = r.Retried, r.LostRetried, r.Failures, r.Waiting
	live := j.state == StatePending || j.state == StateRunning
	col := func(c []int, i int) int {
		if i < len(c) {
			return c[i]
		}
		return 0
	}
	for i := 0; i < n; i++ {
		p := strings.IndexByte(phaseLetters, r.Phases[i])
		if p < 0 {
			return nil, fmt.Errorf("job %s: instance %d has unknown phase %q", r.ID, i, r.Phases[i])
		}
		in := &j.inst[i]
		in.phase = phase(p)
		in.attempt, in.retries, in.lost = col(r.Attempts, i), col(r.Retries, i), col(r.Lost, i)
		if i < len(r.Agents) {
			in.agentID = r.Agents[i]
		}
		if live && in.phase == phPending {
			in.phase, in.unsure = phStaging, true
		}
		j.count[in.phase]++
	}
	return j, nil
}

// load reads the framework id and the jobs.
func (f *Framework) load(ctx context.Context) error {
	raw, err := f.cfg.Store.Get(ctx, f.prefix+"meta")
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fmt.Errorf("batch: load framework state: %w", err)
	default:
		var m metaRecord
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("batch: framework state at %smeta is corrupt: %w", f.prefix, err)
		}
		f.frameworkID, f.seq = m.FrameworkID, m.Seq
	}
	kvs, err := f.cfg.Store.List(ctx, f.prefix+"jobs/")
	if err != nil {
		return fmt.Errorf("batch: load jobs: %w", err)
	}
	for _, kv := range kvs {
		var r jobRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			// One bad record should not keep every other job down.
			f.log.Error("skipping a corrupt job record", "key", kv.Key, "err", err)
			continue
		}
		j, err := fromRecord(r)
		if err != nil {
			f.log.Error("skipping a corrupt job record", "key", kv.Key, "err", err)
			continue
		}
		f.jobs[j.id] = j
		f.order = append(f.order, j)
		f.pending += j.count[phPending]
		if j.count[phPending] > 0 {
			f.addToRotation(j)
		}
	}
	// Keys sort as strings (job-10 before job-9); list in submit order.
	sortJobs(f.order)
	for _, j := range f.order {
		if j.done() {
			f.ended = append(f.ended, j)
		}
	}
	slices.SortStableFunc(f.ended, func(a, b *job) int { return a.finished.Compare(b.finished) })
	// The bound may have been lowered since these jobs were saved.
	f.pruneEnded()
	return nil
}

func sortJobs(js []*job) {
	for i := 1; i < len(js); i++ {
		for k := i; k > 0 && js[k].submitted.Before(js[k-1].submitted); k-- {
			js[k], js[k-1] = js[k-1], js[k]
		}
	}
}

func (f *Framework) putJSON(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return f.cfg.Store.Put(ctx, key, b)
}

// kickPersist asks the persister to write now (a job ended).
func (f *Framework) kickPersist() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

func (f *Framework) persistLoop() {
	defer f.persistWG.Done()
	t := time.NewTicker(f.cfg.PersistInterval)
	defer t.Stop()
	for {
		select {
		case <-f.closed:
			return
		case <-t.C:
		case <-f.kick:
		}
		if err := f.flush(context.Background()); err != nil {
			f.log.Error("cannot save job progress; will retry", "err", err)
		}
	}
}

// flush writes every job changed since the last flush and deletes the
// records of forgotten jobs. Snapshots are taken under the lock; the slow
// writes happen outside it. Flushes run one at a time (flushMu), so that
// an older snapshot never overwrites a newer one and a forgotten job's
// last write always precedes its delete.
func (f *Framework) flush(ctx context.Context) error {
	type write struct {
		key string
		rec jobRecord
		j   *job
	}
	f.flushMu.Lock()
	defer f.flushMu.Unlock()
	f.mu.Lock()
	var writes []write
	for _, j := range f.order {
		if j.dirty {
			j.dirty = false
			writes = append(writes, write{f.jobKey(j.id), j.record(), j})
		}
	}
	pruned := f.pruned
	f.pruned = nil
	f.mu.Unlock()
	var errs []error
	for _, w := range writes {
		if err := f.putJSON(ctx, w.key, w.rec); err != nil {
			errs = append(errs, err)
			f.mu.Lock()
			w.j.dirty = true
			f.mu.Unlock()
		}
	}
	for _, id := range pruned {
		if err := f.cfg.Store.Delete(ctx, f.jobKey(id)); err != nil {
			errs = append(errs, fmt.Errorf("delete %s: %w", f.jobKey(id), err))
			f.mu.Lock()
			f.pruned = append(f.pruned, id)
			f.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}
