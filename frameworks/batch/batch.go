package batch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pandodc/pando/frameworks/batch/batchapi"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
	"github.com/pandodc/pando/sdk"
	"github.com/pandodc/pando/sdk/client"
	"github.com/pandodc/pando/sdk/store"
)

// Errors returned by Submit, Kill and the HTTP API; test with errors.Is.
var (
	// ErrInvalid: the job spec is malformed (HTTP 400).
	ErrInvalid = errors.New("invalid job")
	// ErrImpossible: no agent of the cluster could ever run one instance
	// (HTTP 422).
	ErrImpossible = errors.New("job cannot run on this cluster")
	// ErrNotFound: no job has that id (HTTP 404).
	ErrNotFound = errors.New("no such job")
)

// DefaultResources is what an instance gets when the spec names none.
const DefaultResources = "cpus:0.1;mem:64MiB"

// MaxLostRelaunches bounds how often one instance is relaunched after
// TASK_LOST without consuming a retry.
const MaxLostRelaunches = 5

// maxFailures bounds the failures a job keeps for display.
const maxFailures = 20

// Cluster lists the agents; the framework uses it to reject jobs no agent
// could ever run. APICluster answers it from the master's HTTP API.
type Cluster interface {
	Agents(ctx context.Context) ([]client.Agent, error)
}

// APICluster is the Cluster any framework can use: the master's GET
// /api/v1/agents.
func APICluster(c *client.Client) Cluster { return apiCluster{c} }

type apiCluster struct{ c *client.Client }

func (a apiCluster) Agents(ctx context.Context) ([]client.Agent, error) {
	return a.c.Agents(ctx)
}

// Config configures a Framework.
type Config struct {
	// Store keeps jobs and the framework id. Required.
	Store store.Store
	// Cluster, if set, is asked about agents at submit time.
	Cluster Cluster
	// Leases, if set, holds each job's artifacts on the master for the
	// job's lifetime (the master collects artifacts no one needs).
	Leases Leaser
	Logger *slog.Logger
	// Role the framework subscribes in; "" means "*".
	Role string
	// FrameworkName defaults to "batch". It also names the store prefix,
	// so two batch frameworks with different names can share a store.
	FrameworkName string
	// FailoverTimeout is how long the master keeps the framework's tasks
	// while it is away; default one hour.
	FailoverTimeout time.Duration
	// PersistInterval throttles progress writes; default 1s.
	PersistInterval time.Duration
	// MaxEndedJobs bounds the ended jobs (finished, failed or killed)
	// kept for listing, in memory and in the store: beyond it, the jobs
	// that ended first are forgotten. Default 1000. Jobs that have not
	// ended are always kept.
	MaxEndedJobs int
	// UnreachableTimeout is how long an instance whose agent is
	// unreachable (TASK_UNREACHABLE: the framework is partition-aware) is
	// waited for before it is relaunched elsewhere, as a new attempt; the
	// old task is killed if its agent comes back. Default
	// DefaultUnreachableTimeout. The master's own --agent-unreachable-timeout
	// ends the wait sooner (TASK_LOST).
	UnreachableTimeout time.Duration
}

// DefaultUnreachableTimeout is Config.UnreachableTimeout when it is not set.
const DefaultUnreachableTimeout = 2 * time.Minute

// DefaultMaxEndedJobs is Config.MaxEndedJobs when it is not set.
const DefaultMaxEndedJobs = 1000

// JobSpec is what a user submits: the API's wire type, shared with the
// client so the two cannot drift apart.
type JobSpec = batchapi.JobSpec

// ContainerSpec is the container of a container job.
type ContainerSpec = batchapi.ContainerSpec

// Input is an artifact instances read.
type Input = batchapi.Input

// Where an instance of a job with Each inputs sees its own (see batchapi).
const (
	EachPath     = batchapi.EachPath
	EnvInputName = batchapi.EnvInputName
	EnvInputPath = batchapi.EnvInputPath
)

// Job states.
const (
	StatePending  = "pending"
	StateRunning  = "running"
	StateFinished = "finished"
	StateFailed   = "failed"
	StateKilled   = "killed"
)

// Failure is one failed attempt of an instance: the API's wire type, shared
// with the client like JobSpec.
type Failure = batchapi.JobFailure

// JobStatus is a job as users see it: the API's wire type.
type JobStatus = batchapi.JobStatus

// TaskStatusView is one instance's current attempt.
type TaskStatusView = batchapi.TaskStatusView

// phase is an instance's place in its life, from the framework's view.
type phase uint8

const (
	phPending phase = iota
	phStaging
	phRunning
	phFinished
	phFailed
	phKilled
)

func (p phase) terminal() bool { return p >= phFinished }

var phaseNames = [...]string{"pending", "staging", "running", "finished", "failed", "killed"}

func (p phase) String() string { return phaseNames[p] }

type instance struct {
	phase   phase
	attempt int
	retries int // FAILED/ERROR relaunches used
	lost    int // LOST relaunches used
	agentID string
	// unsure: saved pending, so it may have been launched (under its
	// attempt) before the framework's state was saved; it waits, staging,
	// for reconciliation to say whether that task exists.
	unsure bool
	// unreachableSince is when its task was reported UNREACHABLE (zero
	// while reachable); see expireUnreachable.
	unreachableSince time.Time
	// Last status, for Tasks().
	state    kernelpb.TaskState
	reason   kernelpb.Reason
	message  string
	exitCode int32
	updated  time.Time
}

type job struct {
	id         string
	spec       JobSpec
	need       resources.Resources
	task       sdk.TaskBuilder // every instance's task, but for ids, env and labels
	container  bool            // runs only on agents with a container runtime
	declined   sdk.Why         // offers that could not take an instance, by reason
	inst       []instance
	queue      []int // pending instance indices, FIFO; may hold stale entries
	count      [phKilled + 1]int
	killed     bool // the user asked to kill the job
	state      string
	submitted  time.Time
	started    time.Time
	finished   time.Time
	retried    int
	lostRetry  int
	failures   []Failure
	waiting    string
	dirty      bool
	inRotation bool // present in Framework.rotation
}

// driverCalls is what the framework needs of *sdk.Driver; tests fake it.
type driverCalls interface {
	Accept(offerIDs []string, tasks []*kernelpb.TaskInfo, filters *kernelpb.Filters)
	Decline(offerIDs []string, filters *kernelpb.Filters)
	Reconcile(tasks []*kernelpb.ReconcileTask)
	Kill(taskID, agentID string)
	Suppress()
	Revive()
}

// Framework is the batch framework. It implements sdk.Scheduler.
type Framework struct {
	cfg    Config
	log    *slog.Logger
	prefix string

	mu          sync.Mutex
	jobs        map[string]*job
	order       []*job   // submit order, for listing
	ended       []*job   // ended jobs, in the order they ended
	pruned      []string // ids of forgotten jobs still to delete from the store
	rotation    []*job   // jobs with pending instances, round-robin
	cursor      int
	pending     int // pending instances over all jobs
	seq         int
	frameworkID string
	suppressed  bool
	connected   bool
	// unreachableReconciled is when unreachable tasks were last reconciled.
	unreachableReconciled time.Time
	drv                   driverCalls
	sdkDriver             *sdk.Driver

	kick      chan struct{}
	closed    chan struct{}
	flushMu   sync.Mutex // held by flush, outside mu
	persistWG sync.WaitGroup
	closeOnce sync.Once
}

var _ sdk.Scheduler = (*Framework)(nil)

// New loads the framework's jobs and id from cfg.Store and starts its
// background persister. Unfinished jobs resume once Start subscribes.
func New(cfg Config) (*Framework, error) {
	if cfg.Store == nil {
		return nil, errors.New("batch: Config.Store is required")
	}
	if cfg.FrameworkName == "" {
		cfg.FrameworkName = "batch"
	}
	if cfg.FailoverTimeout <= 0 {
		cfg.FailoverTimeout = time.Hour
	}
	if cfg.PersistInterval <= 0 {
		cfg.PersistInterval = time.Second
	}
	if cfg.MaxEndedJobs <= 0 {
		cfg.MaxEndedJobs = DefaultMaxEndedJobs
	}
	if cfg.UnreachableTimeout <= 0 {
		cfg.UnreachableTimeout = DefaultUnreachableTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Framework{
		cfg:    cfg,
		log:    log.With("framework", cfg.FrameworkName),
		prefix: "frameworks/" + cfg.FrameworkName + "/",
		jobs:   map[string]*job{},
		kick:   make(chan struct{}, 1),
		closed: make(chan struct{}),
	}
	if err := f.load(context.Background()); err != nil {
		return nil, err
	}
	f.persistWG.Add(2)
	go f.persistLoop()
	if cfg.Leases != nil {
		f.persistWG.Add(1)
		go f.renewLoop()
	}
	go f.unreachableLoop()
	if len(f.pruned) > 0 {
		f.kickPersist() // jobs beyond MaxEndedJobs were found in the store
	}
	return f, nil
}

// Start creates the scheduler driver and subscribes. dc supplies the
// connection (System, Master or MasterURL, backoff, logger); its Framework
// field is filled in from the batch Config and the persisted framework id.
func (f *Framework) Start(dc sdk.Config) error {
	f.mu.Lock()
	if f.sdkDriver != nil {
		f.mu.Unlock()
		return errors.New("batch: already started")
	}
	dc.Framework = f.frameworkInfo()
	if dc.Logger == nil {
		dc.Logger = f.cfg.Logger
	}
	f.mu.Unlock()
	d, err := sdk.NewDriver(dc, f)
	if err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	f.mu.Lock()
	f.sdkDriver = d
	f.drv = d
	f.mu.Unlock()
	if err := d.Start(); err != nil {
		return fmt.Errorf("batch: start driver: %w", err)
	}
	return nil
}

// frameworkInfo is what the framework subscribes with; the caller holds f.mu.
func (f *Framework) frameworkInfo() *kernelpb.FrameworkInfo {
	role := f.cfg.Role
	if role == "" {
		role = "*"
	}
	return &kernelpb.FrameworkInfo{
		Id:                f.frameworkID,
		Name:              f.cfg.FrameworkName,
		Roles:             []string{role},
		FailoverTimeoutMs: f.cfg.FailoverTimeout.Milliseconds(),
		// TASK_UNREACHABLE, not LOST, when an agent stops answering: the
		// instance is waited for (UnreachableTimeout) rather than run twice.
		PartitionAware: true,
	}
}

// Close stops the driver with failover (the master keeps the tasks for
// FailoverTimeout, so a restarted framework carries on) and writes out all
// unsaved progress. The store is the caller's to close.
func (f *Framework) Close() error {
	var err error
	f.closeOnce.Do(func() {
		f.mu.Lock()
		d := f.sdkDriver
		f.mu.Unlock()
		if d != nil {
			d.Stop(true)
		}
		close(f.closed)
		f.persistWG.Wait()
		err = f.flush(context.Background())
	})
	return err
}

// FrameworkID returns the id the master gave ("" before the first
// subscription).
func (f *Framework) FrameworkID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.frameworkID
}

var envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// containerRuntime is the constraint of container jobs.
var containerRuntime = sdk.HasRuntime("container")

// validate normalizes spec and returns the per-instance resources.
func validate(spec *JobSpec) (resources.Resources, error) {
	bad := func(format string, a ...any) (resources.Resources, error) {
		return resources.Resources{}, fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	switch c := spec.Container; {
	case c != nil && spec.Module != "":
		return bad("give a module or a container, not both")
	case c != nil:
		if err := sdk.CheckDigest(c.Image); err != nil {
			return bad("container image: %v", err)
		}
	default:
		if err := sdk.CheckDigest(spec.Module); err != nil {
			return bad("module: %v", err)
		}
	}
	if err := validateInputs(spec); err != nil {
		return bad("%v", err)
	}
	if spec.Instances < 1 || spec.Instances > 1_000_000 {
		return bad("instances is %d: want 1 to 1000000", spec.Instances)
	}
	if spec.Retries < 0 || spec.Retries > 100 {
		return bad("retries is %d: want 0 to 100", spec.Retries)
	}
	if spec.TimeoutMS < 0 {
		return bad("timeout_ms is %d: want 0 (none) or more", spec.TimeoutMS)
	}
	if spec.KillGraceMS < 0 {
		return bad("kill_grace_ms is %d: want 0 (the agent's default) or more", spec.KillGraceMS)
	}
	for k := range spec.Env {
		if !envKeyRE.MatchString(k) {
			return bad("env name %q is not a valid variable name", k)
		}
		if strings.HasPrefix(k, "PANDO_") {
			return bad("env name %q is reserved: PANDO_* variables are set by Pando", k)
		}
	}
	if strings.TrimSpace(spec.Resources) == "" {
		spec.Resources = DefaultResources
	}
	need, err := resources.Parse(spec.Resources)
	if err != nil {
		return bad("resources %q: %v", spec.Resources, err)
	}
	if need.IsEmpty() {
		return bad("resources %q ask for nothing", spec.Resources)
	}
	if !need.Unreserved().Equal(need) {
		return bad("resources %q name a role: give plain quantities; the framework's role decides", spec.Resources)
	}
	spec.Resources = need.String()
	if spec.Name == "" {
		spec.Name = defaultName(*spec)
	}
	return need, nil
}

// validateInputs checks the job's inputs; with Each it also sets Instances.
func validateInputs(spec *JobSpec) error {
	seen := map[string]bool{}
	for _, in := range spec.Inputs {
		if err := sdk.CheckDigest(in.Digest); err != nil {
			return fmt.Errorf("input %s: %v", in.Path, err)
		}
		if err := kernelpb.CheckInputPath(in.Path); err != nil {
			return err
		}
		if in.Path == batchapi.EachPath && len(spec.Each) > 0 {
			return fmt.Errorf("input path %s is where each instance sees its own input: choose another", in.Path)
		}
		if seen[in.Path] {
			return fmt.Errorf("two inputs at %s: give each its own path", in.Path)
		}
		seen[in.Path] = true
	}
	if len(spec.Each) == 0 {
		return nil
	}
	if spec.Instances == 0 {
		spec.Instances = len(spec.Each)
	}
	if spec.Instances != len(spec.Each) {
		return fmt.Errorf("instances is %d but each names %d inputs: one instance runs per input", spec.Instances, len(spec.Each))
	}
	for i, in := range spec.Each {
		if err := sdk.CheckDigest(in.Digest); err != nil {
			return fmt.Errorf("each input %d (%s): %v", i, in.Name, err)
		}
	}
	return nil
}

func defaultName(spec JobSpec) string {
	c := spec.Container
	switch {
	case c == nil:
		return strings.TrimPrefix(spec.Module, "sha256:")[:12]
	case c.ImageName != "":
		// "docker.io/library/busybox:latest" -> "busybox"
		name := c.ImageName[strings.LastIndexByte(c.ImageName, '/')+1:]
		name, _, _ = strings.Cut(name, ":")
		return name
	}
	return strings.TrimPrefix(c.Image, "sha256:")[:12]
}

// newJob makes the job's in-memory form from a validated spec.
func newJob(id string, spec JobSpec, need resources.Resources) *job {
	var tb sdk.TaskBuilder
	if c := spec.Container; c != nil {
		tb = sdk.ContainerTask(sdk.Image{Digest: c.Image, Name: c.ImageName}).
			Command(c.Command...).Args(spec.Args...).WorkingDir(c.WorkingDir)
	} else {
		tb = sdk.WasmTask(spec.Module, spec.Args...)
	}
	tb = tb.Resources(need).
		Timeout(time.Duration(spec.TimeoutMS) * time.Millisecond).
		KillGrace(time.Duration(spec.KillGraceMS) * time.Millisecond).
		Inputs(sharedInputs(spec)...)
	return &job{
		id: id, spec: spec, need: need, task: tb, container: spec.Container != nil,
		inst: make([]instance, spec.Instances),
	}
}

// Submit validates spec, checks that the cluster could run it, persists
// it and queues its instances.
func (f *Framework) Submit(ctx context.Context, spec JobSpec) (JobStatus, error) {
	need, err := validate(&spec)
	if err != nil {
		return JobStatus{}, err
	}
	waiting, err := f.checkCluster(ctx, need, spec.Container != nil)
	if err != nil {
		return JobStatus{}, err
	}

	f.mu.Lock()
	f.seq++
	j := newJob(fmt.Sprintf("job-%d", f.seq), spec, need)
	j.queue = make([]int, spec.Instances)
	j.state = StatePending
	j.submitted = time.Now().UTC()
	j.waiting = waiting
	for i := range j.queue {
		j.queue[i] = i
	}
	j.count[phPending] = spec.Instances
	rec := j.record()
	meta := f.metaRecord()
	f.mu.Unlock()

	if err := f.lease(ctx, j.id, spec); err != nil {
		return JobStatus{}, err
	}

	// Durable before anyone is told the job exists; writing outside the
	// lock keeps the fsync from stalling the scheduler.
	if err := f.putJSON(ctx, f.prefix+"meta", meta); err != nil {
		return JobStatus{}, fmt.Errorf("batch: save job: %w", err)
	}
	if err := f.putJSON(ctx, f.jobKey(j.id), rec); err != nil {
		return JobStatus{}, fmt.Errorf("batch: save job: %w", err)
	}

	f.mu.Lock()
	f.jobs[j.id] = j
	f.order = append(f.order, j)
	f.pending += spec.Instances
	f.addToRotation(j)
	st := j.status(f.connected)
	drv := f.reviveLocked()
	f.mu.Unlock()
	if drv != nil {
		drv.Revive()
	}
	f.log.Info("job submitted", "job", j.id, "name", spec.Name, "instances", spec.Instances, "resources", spec.Resources)
	return st, nil
}

// checkCluster rejects jobs no agent can run. It returns a waiting note
// when the cluster has no agent yet, or none with a container runtime for
// a container job (the job is accepted and waits).
func (f *Framework) checkCluster(ctx context.Context, need resources.Resources, container bool) (string, error) {
	if f.cfg.Cluster == nil {
		return "", nil
	}
	agents, err := f.cfg.Cluster.Agents(ctx)
	if err != nil {
		// Not knowing the cluster is no reason to refuse work.
		f.log.Warn("cannot list agents to check the job", "err", err)
		return "", nil
	}
	if len(agents) == 0 {
		return "no agent has registered yet: the job waits for one", nil
	}
	runtime := "" // every agent runs WASM
	if container {
		runtime = "container"
		var why []string
		has := slices.ContainsFunc(agents, func(a client.Agent) bool {
			if !a.Active {
				return false
			}
			if sdk.ListHas(a.Attributes[sdk.RuntimesAttribute], "container") {
				return true
			}
			if len(why) < 3 {
				name := cmp.Or(a.Hostname, a.ID)
				note := a.Attributes["container"]
				if note == "" {
					note = "runtimes: " + a.Attributes[sdk.RuntimesAttribute]
				}
				why = append(why, name+": "+note)
			}
			return false
		})
		if !has {
			return "no agent has a container runtime (" + strings.Join(why, "; ") + "): the job waits for one that has", nil
		}
	}
	if err := sdk.NeverFits(agents, need, runtime); err != nil {
		return "", fmt.Errorf("%w: %w", ErrImpossible, err)
	}
	return "", nil
}

// Kill kills every instance of a job: pending ones at once, running ones
// through the master. Killing a finished job is a no-op.
func (f *Framework) Kill(ctx context.Context, jobID string) error {
	f.mu.Lock()
	j, ok := f.jobs[jobID]
	if !ok {
		f.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrNotFound, jobID)
	}
	if j.state == StateFinished || j.state == StateFailed || j.state == StateKilled {
		f.mu.Unlock()
		return nil
	}
	j.killed = true
	var kills []*kernelpb.ReconcileTask
	for i := range j.inst {
		in := &j.inst[i]
		switch in.phase {
		case phPending:
			f.setPhase(j, in, phKilled)
			f.pending--
		case phStaging, phRunning:
			kills = append(kills, &kernelpb.ReconcileTask{TaskId: taskID(j.id, i, in.attempt), AgentId: in.agentID})
		}
	}
	j.queue = nil
	f.maybeEnd(j)
	j.dirty = true
	drv := f.drv
	f.mu.Unlock()
	f.kickPersist()
	if drv != nil {
		for _, k := range kills {
			drv.Kill(k.GetTaskId(), k.GetAgentId())
		}
	}
	f.log.Info("job killed", "job", jobID, "tasks_to_kill", len(kills))
	return nil
}

// Job returns one job's status.
func (f *Framework) Job(id string) (JobStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[id]
	if !ok {
		return JobStatus{}, false
	}
	return j.status(f.connected), true
}

// Jobs returns every job, oldest first.
func (f *Framework) Jobs() []JobStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]JobStatus, 0, len(f.order))
	for _, j := range f.order {
		out = append(out, j.status(f.connected))
	}
	return out
}

// Tasks returns the current attempt of each instance of a job (nil if the
// job is unknown).
func (f *Framework) Tasks(jobID string) []TaskStatusView {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[jobID]
	if !ok {
		return nil
	}
	out := make([]TaskStatusView, len(j.inst))
	for i := range j.inst {
		in := &j.inst[i]
		v := TaskStatusView{
			Instance: i, Attempt: in.attempt, TaskID: taskID(j.id, i, in.attempt), FrameworkID: f.frameworkID, State: in.phase.String(),
			AgentID: in.agentID, Message: in.message, ExitCode: in.exitCode, UpdatedAt: in.updated,
		}
		v.Reason = reasonName(in.reason)
		out[i] = v
	}
	return out
}

func (j *job) status(connected bool) JobStatus {
	s := JobStatus{
		ID: j.id, Name: j.spec.Name, Module: j.spec.Module, Args: j.spec.Args, Resources: j.spec.Resources,
		Instances: j.spec.Instances, Retries: j.spec.Retries, TimeoutMS: j.spec.TimeoutMS,
		Pending: j.count[phPending], Staging: j.count[phStaging], Running: j.count[phRunning],
		Finished: j.count[phFinished], Failed: j.count[phFailed], Killed: j.count[phKilled],
		Retried: j.retried, LostRetried: j.lostRetry,
		State: j.state, SubmittedAt: j.submitted,
		Failures: append([]Failure(nil), j.failures...),
	}
	if !j.started.IsZero() {
		t := j.started
		s.StartedAt = &t
	}
	end := time.Now()
	if !j.finished.IsZero() {
		t := j.finished
		s.FinishedAt = &t
		end = t
	}
	s.DurationS = end.Sub(j.submitted).Seconds()
	if c := j.spec.Container; c != nil {
		s.Image, s.ImageName = c.Image, c.ImageName
	}
	if !j.declined.IsZero() {
		d := j.declined
		s.Declined = &d
	}
	if s.Pending > 0 {
		what := "offers with room for " + j.spec.Resources
		if j.container {
			what += " on agents with a container runtime"
		}
		switch {
		case j.waiting != "":
			s.Why = j.waiting
		case !connected:
			s.Why = "the framework is not subscribed to the master"
		case !j.declined.IsZero():
			s.Why = "waiting for " + what + "; declined " + j.declined.String()
		default:
			s.Why = "waiting for " + what
		}
	}
	return s
}

// setPhase moves an instance and keeps the job's counts right.
func (f *Framework) setPhase(j *job, in *instance, p phase) {
	j.count[in.phase]--
	j.count[p]++
	in.phase = p
}

// done reports whether the job has ended: finished, failed or killed.
func (j *job) done() bool { return j.state != StatePending && j.state != StateRunning }

// maybeEnd settles the job state after a change.
func (f *Framework) maybeEnd(j *job) {
	if j.state != StatePending && j.state != StateRunning {
		return
	}
	terminal := j.count[phFinished] + j.count[phFailed] + j.count[phKilled]
	if terminal < len(j.inst) {
		if j.count[phPending] < len(j.inst) || terminal > 0 {
			j.state = StateRunning
		}
		return
	}
	switch {
	case j.killed:
		j.state = StateKilled
	case j.count[phFinished] == len(j.inst):
		j.state = StateFinished
	default:
		j.state = StateFailed
	}
	j.finished = time.Now().UTC()
	j.dirty = true
	f.log.Info("job ended", "job", j.id, "state", j.state, "finished", j.count[phFinished],
		"failed", j.count[phFailed], "killed", j.count[phKilled])
	f.ended = append(f.ended, j)
	f.pruneEnded()
	go f.release(j.id) // f.mu is held: no HTTP under it
}

// pruneEnded forgets the jobs that ended first, beyond MaxEndedJobs; the
// persister deletes their records. The caller holds f.mu.
func (f *Framework) pruneEnded() {
	for len(f.ended) > f.cfg.MaxEndedJobs {
		j := f.ended[0]
		f.ended[0] = nil
		f.ended = f.ended[1:]
		delete(f.jobs, j.id)
		f.order = slices.DeleteFunc(f.order, func(o *job) bool { return o == j })
		f.pruned = append(f.pruned, j.id)
		f.log.Debug("job forgotten", "job", j.id, "max_ended_jobs", f.cfg.MaxEndedJobs)
	}
}

func (f *Framework) addToRotation(j *job) {
	if !j.inRotation {
		j.inRotation = true
		f.rotation = append(f.rotation, j)
	}
}

// reviveLocked notes that offers are wanted again and returns the driver
// to call Revive on (after unlocking), or nil.
func (f *Framework) reviveLocked() driverCalls {
	if !f.suppressed || f.drv == nil {
		return nil
	}
	f.suppressed = false
	return f.drv
}

func taskID(jobID string, instance, attempt int) string {
	return jobID + "." + strconv.Itoa(instance) + "." + strconv.Itoa(attempt)
}

// parseTaskID splits "<job>.<instance>.<attempt>".
func parseTaskID(id string) (jobID string, instance, attempt int, ok bool) {
	b := strings.LastIndexByte(id, '.')
	if b <= 0 {
		return "", 0, 0, false
	}
	a := strings.LastIndexByte(id[:b], '.')
	if a <= 0 {
		return "", 0, 0, false
	}
	// strconv, not Sscanf: this runs for every status update.
	instance, err1 := strconv.Atoi(id[a+1 : b])
	attempt, err2 := strconv.Atoi(id[b+1:])
	if err1 != nil || err2 != nil || instance < 0 || attempt < 0 {
		return "", 0, 0, false
	}
	return id[:a], instance, attempt, true
}
