package cron

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pandodc/pando/sdk"
	"github.com/pandodc/pando/sdk/client"
	"github.com/pandodc/pando/sdk/store"
)

// Config configures a Framework.
type Config struct {
	// Store keeps the jobs and the framework id. Required.
	Store store.Store
	// Master, if set, is the master's HTTP API: jobs whose module or
	// image the master lacks, or that no agent could ever hold, are
	// refused when added.
	Master *client.Client
	Logger *slog.Logger
	// Role the framework subscribes in; "" means "*".
	Role string
	// FrameworkName defaults to "cron"; it names the store prefix too.
	FrameworkName string
	// FailoverTimeout is how long the master keeps the tasks of a
	// framework that went away; default one hour.
	FailoverTimeout time.Duration
	// TickInterval is how often due slots are claimed; default 250ms.
	TickInterval time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Framework is the shell around Core: it owns the driver, the store and
// the ticker, and serves the API (Handler).
type Framework struct {
	cfg   Config
	log   *slog.Logger
	state *sdk.State
	jobs  sdk.Map[Record]

	mu       sync.Mutex
	core     *Core
	drv      *sdk.Driver
	offering bool // not suppressed

	closed    chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

var _ sdk.Scheduler = (*Framework)(nil)

// New loads the jobs from cfg.Store.
func New(cfg Config) (*Framework, error) {
	if cfg.Store == nil {
		return nil, errors.New("cron: Config.Store is required")
	}
	if cfg.FrameworkName == "" {
		cfg.FrameworkName = "cron"
	}
	if cfg.FailoverTimeout <= 0 {
		cfg.FailoverTimeout = time.Hour
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = 250 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	st, err := sdk.NewState(cfg.Store, cfg.FrameworkName)
	if err != nil {
		return nil, fmt.Errorf("cron: %w", err)
	}
	f := &Framework{cfg: cfg, log: cfg.Logger.With("framework", cfg.FrameworkName), state: st,
		jobs: sdk.MapOf[Record](st, "jobs"), core: NewCore(), closed: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	records, err := f.jobs.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("cron: load jobs: %w", err)
	}
	for name, r := range records {
		if err := f.core.Load(r); err != nil {
			f.log.Error("skipping a job that no longer loads", "job", name, "err", err)
		}
	}
	return f, nil
}

// Start subscribes to the master (dc says where it is) and starts
// claiming slots. The framework id is kept in the store, so a restarted
// framework fails over to its old self and finds its tasks.
func (f *Framework) Start(dc sdk.Config) error {
	role := f.cfg.Role
	if role == "" {
		role = "*"
	}
	dc.Framework = &sdk.FrameworkInfo{Name: f.cfg.FrameworkName, Roles: []string{role}, FailoverTimeoutMs: f.cfg.FailoverTimeout.Milliseconds()}
	dc.State, dc.ExplicitAck = f.state, true
	if dc.Logger == nil {
		dc.Logger = f.cfg.Logger
	}
	d, err := sdk.NewDriver(dc, f)
	if err != nil {
		return fmt.Errorf("cron: %w", err)
	}
	f.mu.Lock()
	f.drv = d
	f.mu.Unlock()
	if err := d.Start(); err != nil {
		return fmt.Errorf("cron: start driver: %w", err)
	}
	f.wg.Add(1)
	go f.tickLoop()
	return nil
}

// Close stops the ticker and the driver, with failover: the master keeps
// the tasks for FailoverTimeout. The store stays the caller's.
func (f *Framework) Close() error {
	f.closeOnce.Do(func() {
		close(f.closed)
		f.wg.Wait()
		f.mu.Lock()
		d := f.drv
		f.mu.Unlock()
		if d != nil {
			d.Stop(true)
		}
	})
	return nil
}

func (f *Framework) tickLoop() {
	defer f.wg.Done()
	t := time.NewTicker(f.cfg.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-f.closed:
			return
		case <-t.C:
		}
		f.tick()
	}
}

// tick claims the slots due now, stores them, and asks for offers when
// runs were queued.
func (f *Framework) tick() {
	f.mu.Lock()
	f.core.Tick(f.cfg.Now())
	changed := len(f.core.dirty) > 0
	err := f.flushLocked()
	revive := changed && f.core.Queued()
	f.mu.Unlock()
	if err != nil {
		f.log.Error("cannot save the jobs; will retry", "err", err)
	}
	if revive {
		f.revive()
	}
}

// flushLocked stores every job the core changed; a job that could not be
// stored stays dirty. The caller holds f.mu.
func (f *Framework) flushLocked() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	for _, name := range f.core.TakeDirty() {
		var err error
		if r, ok := f.core.Record(name); ok {
			err = f.jobs.Put(ctx, name, r)
		} else {
			err = f.jobs.Delete(ctx, name)
		}
		if err != nil {
			f.core.touch(name)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (f *Framework) revive() {
	f.mu.Lock()
	d := f.drv
	f.offering = true
	f.mu.Unlock()
	if d != nil {
		d.Revive()
	}
}

// Subscribed reconciles the tasks of the active runs.
func (f *Framework) Subscribed(d *sdk.Driver, id string, reconnected bool) {
	f.mu.Lock()
	inflight, queued := f.core.Inflight(), f.core.Queued()
	f.offering = queued
	f.mu.Unlock()
	f.log.Info("subscribed", "framework_id", id, "reconnected", reconnected, "reconciling", len(inflight))
	if len(inflight) > 0 {
		d.Reconcile(inflight)
	}
	d.Reconcile(nil) // and tasks of ours we have no run for, to kill
	if queued {
		d.Revive()
	} else {
		d.Suppress()
	}
}

// Offers launches the ready runs on the offers that fit them. Claims are
// stored before any task is launched.
func (f *Framework) Offers(d *sdk.Driver, offers []*sdk.Offer) {
	f.mu.Lock()
	now := f.cfg.Now()
	left := make([]sdk.Resources, len(offers))
	for i, o := range offers {
		left[i], _ = sdk.OfferResources(o)
	}
	tasks := make([][]*sdk.TaskInfo, len(offers))
	var claimed []string
	for _, l := range f.core.Ready(now) {
		var why sdk.Why
		placed := false
		for i, o := range offers {
			why.Looked()
			if c := failed(l.Shape.Constraints, o); c != "" {
				why.Fails(c)
				continue
			}
			if !left[i].Contains(l.Shape.Resources) {
				why.Lacks(o.GetHostname(), left[i], l.Shape.Resources)
				continue
			}
			left[i], _ = left[i].Subtract(l.Shape.Resources)
			f.core.Claim(l, o.GetAgentId(), now)
			tasks[i] = append(tasks[i], l.Task.On(o, l.TaskID))
			claimed = append(claimed, l.TaskID)
			placed = true
			break
		}
		if !placed {
			f.core.Waiting(l.Job, "no offer fits a run: "+why.String())
		}
	}
	if err := f.flushLocked(); err != nil {
		// Unclaimed, the runs launch on a later offer with a new attempt.
		f.log.Error("cannot save the runs' claims; not launching them", "err", err)
		for _, id := range claimed {
			f.core.Update(&sdk.TaskStatus{TaskId: id, State: sdk.TaskLost, Reason: sdk.DroppedLaunchReason}, now)
		}
		clear(tasks)
	}
	queued := f.core.Queued()
	suppress := !queued && f.offering
	f.offering = queued
	f.mu.Unlock()
	var unused []string
	for i, o := range offers {
		if len(tasks[i]) > 0 {
			d.Accept([]string{o.GetId()}, tasks[i], nil)
		} else {
			unused = append(unused, o.GetId())
		}
	}
	if len(unused) > 0 {
		d.Decline(unused, &sdk.Filters{RefuseSeconds: 1})
	}
	if suppress {
		d.Suppress()
	}
}

// failed names the first constraint o fails, "" if none.
func failed(cs []sdk.Constraint, o *sdk.Offer) string {
	for _, c := range cs {
		if !c.Holds(o) {
			return c.String()
		}
	}
	return ""
}

// Update applies a status, stores it, and only then acknowledges it: an
// update lost in a crash is delivered again.
func (f *Framework) Update(d *sdk.Driver, st *sdk.TaskStatus) {
	f.mu.Lock()
	kill := f.core.Update(st, f.cfg.Now())
	err := f.flushLocked()
	revive := f.core.Queued() && !f.offering
	f.mu.Unlock()
	if err != nil {
		f.log.Error("cannot save a run's status; it will be delivered again", "task", st.GetTaskId(), "err", err)
		return
	}
	d.Acknowledge(st)
	if kill {
		f.log.Info("killing a task that is no run of ours", "task", st.GetTaskId())
		d.Kill(st.GetTaskId(), st.GetAgentId())
	}
	if revive {
		f.revive()
	}
}

func (f *Framework) Rescinded(*sdk.Driver, string) {}

func (f *Framework) Error(_ *sdk.Driver, msg string) {
	f.log.Error("the master refused a call", "message", msg)
}

func (f *Framework) Disconnected(_ *sdk.Driver, reason error) {
	f.log.Warn("disconnected from the master", "reason", reason)
}

// Kinds of Add, as Chronos's two endpoints.
const (
	KindScheduled = "iso8601"
	KindDependent = "dependency"
)

// Add adds or replaces a job: KindScheduled jobs have a schedule,
// KindDependent jobs parents. A job refused leaves everything as it was.
func (f *Framework) Add(ctx context.Context, j Job, kind string) error {
	if kind == KindScheduled && len(j.Parents) > 0 {
		return fmt.Errorf("%w %q: parents: a job with parents goes to POST /v1/scheduler/dependency", ErrInvalid, j.Name)
	}
	if kind == KindDependent && len(j.Parents) == 0 {
		return fmt.Errorf("%w %q: parents: a dependent job needs parents (or POST it to /v1/scheduler/iso8601 with a schedule)", ErrInvalid, j.Name)
	}
	f.mu.Lock()
	err := f.core.Check(j)
	f.mu.Unlock()
	if err != nil {
		return err
	}
	img, err := f.checkCluster(ctx, j)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	prev, err := f.core.Put(j, img, f.cfg.Now())
	if err != nil {
		return err
	}
	if err := f.flushLocked(); err != nil {
		f.core.Restore(j.Name, prev)
		_ = f.flushLocked()
		return fmt.Errorf("cron: job %q not saved: %w", j.Name, err)
	}
	return nil
}

// checkCluster refuses a job whose module or image the master lacks or
// that no agent could ever hold, and resolves its image.
func (f *Framework) checkCluster(ctx context.Context, j Job) (sdk.Image, error) {
	c := f.cfg.Master
	var img sdk.Image
	if c == nil {
		if j.Container != nil {
			img.Digest = j.Container.Image
		}
		return img, nil
	}
	runtime := "" // every agent runs WASM
	if j.Module != "" {
		if err := c.CheckArtifact(ctx, j.Module); errors.Is(err, client.ErrArtifactNotFound) {
			return img, fmt.Errorf("%w %q: module: %v", ErrInvalid, j.Name, err)
		} else if err != nil {
			f.log.Warn("cannot check the job's module", "job", j.Name, "err", err)
		}
	} else {
		im, err := c.ResolveImage(ctx, j.Container.Image)
		if errors.Is(err, client.ErrImageNotFound) {
			return img, fmt.Errorf("%w %q: container.image: %v", ErrInvalid, j.Name, err)
		} else if err != nil {
			return img, fmt.Errorf("cron: job %q: container.image: %w", j.Name, err)
		}
		img = sdk.Image{Digest: im.Digest, Name: im.Name}
		runtime = "container"
	}
	agents, err := c.Agents(ctx)
	if err != nil {
		f.log.Warn("cannot list agents to check the job", "job", j.Name, "err", err)
		return img, nil
	}
	need, _ := j.need()
	if err := sdk.NeverFits(agents, need, runtime); err != nil {
		return img, fmt.Errorf("%w: job %q: %w: lower cpus, mem or disk", ErrImpossible, j.Name, err)
	}
	return img, nil
}

// RunNow queues a run of the job now.
func (f *Framework) RunNow(name string) error {
	f.mu.Lock()
	err := f.core.RunNow(name, f.cfg.Now())
	if err == nil {
		err = f.flushLocked()
	}
	f.mu.Unlock()
	if err == nil {
		f.revive()
	}
	return err
}

// Delete removes a job no other job depends on and kills its running
// tasks.
func (f *Framework) Delete(name string) error {
	f.mu.Lock()
	prev, _ := f.core.Record(name)
	runs, err := f.core.Delete(name)
	if err == nil {
		if err = f.flushLocked(); err != nil {
			f.core.Restore(name, &prev)
			_ = f.flushLocked()
		}
	}
	d := f.drv
	f.mu.Unlock()
	if err != nil {
		return err
	}
	for _, r := range runs {
		if d != nil {
			d.Kill(r.TaskID, r.AgentID)
		}
	}
	return nil
}

// Jobs lists the jobs with their counters.
func (f *Framework) Jobs() []JobView {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.core.Jobs()
}

// Job returns one job with its counters and history.
func (f *Framework) Job(name string) (JobView, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.core.Job(name)
}

// Graph returns the DAG of the jobs.
func (f *Framework) Graph() Graph {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.core.Graph()
}
