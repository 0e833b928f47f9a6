package container

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"

	"github.com/pandodc/pando/isolators"
	"github.com/pandodc/pando/runtime"
)

// Defaults of Config.
const (
	DefaultAddress   = "/run/containerd/containerd.sock"
	DefaultNamespace = "pando"
	DefaultKillGrace = 10 * time.Second
	// DefaultSnapshotter is containerd's snapshotter on Linux.
	DefaultSnapshotter = "overlayfs"
	// SandboxMount is where a task sees its sandbox directory.
	SandboxMount = "/sandbox"
	// CgroupParent is the cgroup under which every task has its own.
	CgroupParent = "/pando"
)

// Labels Pando puts on its containers.
const (
	LabelTaskID      = "pando.task-id"
	LabelFrameworkID = "pando.framework-id"
	LabelAgentID     = "pando.agent-id"
	// The rest are for Recover: what a new Runtime needs to go on where the
	// old one stopped.
	labelSandbox     = "pando.sandbox"
	labelKillGraceMS = "pando.kill-grace-ms"
	labelTimeoutMS   = "pando.timeout-ms"
	labelStartedAt   = "pando.started-at" // unix milliseconds
)

// Config configures a Runtime.
type Config struct {
	// Address is containerd's socket; "" is DefaultAddress.
	Address string
	// Namespace is the containerd namespace of Pando's images and
	// containers; "" is DefaultNamespace.
	Namespace string
	// Owner names the runtime's images in containerd
	// (pando.import/<owner>/<digest16>/<name>): runtimes of two owners that
	// share a namespace (two agents on one host) never remove each other's
	// images (CollectImages), and one owner's next run finds its earlier
	// run's images by their names. "" leaves the owner out (and earlier
	// runs' images alone).
	Owner string
	// AgentID labels every container (pando.agent-id) and is what Recover
	// looks for; "" takes Spec.AgentID at each launch, and Recover is then
	// refused.
	AgentID string
	// DefaultKillGrace is how long Kill waits between SIGTERM and SIGKILL
	// when Spec.KillGrace is 0; 0 is DefaultKillGrace.
	DefaultKillGrace time.Duration
	// Snapshotter unpacks images; "" is DefaultSnapshotter.
	Snapshotter string
	Logger      *slog.Logger
	// BeforeStart, when set, is called for each launch once the task's
	// process exists (created, in its cgroup) and before it runs any code
	// of the task: to attach accounting to its cgroup. An error aborts the
	// launch (the container is removed) and Launch returns it.
	BeforeStart func(ctx context.Context, info StartInfo) error
	// Isolator, when set, accounts each task (cgroups, eBPF network
	// counters): attached before the task starts, sampled with each Stats
	// and at its end, detached once it ended. Unavailable names what it
	// cannot measure on this host, in every Stats.
	Isolator isolators.Isolator
}

// StartInfo describes a created, not yet started task, for Config.BeforeStart.
type StartInfo struct {
	TaskID      string
	ContainerID string
	// PID is the task's init process, on the host.
	PID uint32
	// CgroupPath is the task's cgroup, relative to each hierarchy's root
	// ("/pando/<container id>": /sys/fs/cgroup/memory/pando/<id> on cgroup v1).
	CgroupPath string
	Labels     map[string]string
}

// ErrUnavailable is wrapped by New's error when containerd cannot be used.
var ErrUnavailable = errors.New("containerd is unavailable")

// ErrDetached is returned by Wait and Kill of a task whose Runtime was
// detached: the task goes on, but this Runtime no longer follows it.
var ErrDetached = errors.New("the container runtime was detached from its tasks")

var errClosed = errors.New("the container runtime is closed")

// Runtime runs container tasks on containerd.
type Runtime struct {
	cfg    Config
	client *containerd.Client
	log    *slog.Logger
	// root is the namespace's context of every call the runtime makes on
	// its own; Close and Detach cancel it.
	root       context.Context
	cancelRoot context.CancelFunc

	mu     sync.Mutex
	images map[string]*imageSet      // by digest; an entry is in progress until ready closes
	tasks  map[runtime.TaskRef]*Task // until they end
	// leftovers are the images an earlier run of this owner imported, by
	// their prefix (imagePrefix), until this run imports the same tarball
	// or CollectImages removes them, once idle since started.
	leftovers map[string][]string
	started   time.Time
	// removing is held by CollectImages while it removes images, and read
	// by imports, which must not make images of the names it removes.
	removing sync.RWMutex
	closed   bool
	imports  int // imports started, for tests
	// launching counts the launches in progress, which Close and Detach
	// wait for, so that none is cut off half made.
	launching sync.WaitGroup
	watchers  sync.WaitGroup
}

var _ runtime.Runtime = (*Runtime)(nil)

// New connects to containerd. When it cannot (no socket, not root, the
// daemon does not answer), the error wraps ErrUnavailable and says why.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.Address == "" {
		cfg.Address = DefaultAddress
	}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.DefaultKillGrace <= 0 {
		cfg.DefaultKillGrace = DefaultKillGrace
	}
	if cfg.Snapshotter == "" {
		cfg.Snapshotter = DefaultSnapshotter
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	unavailable := func(why string, err error) error {
		if err != nil {
			why += ": " + err.Error()
		}
		return fmt.Errorf("%w: %s", ErrUnavailable, why)
	}
	if _, err := os.Stat(cfg.Address); errors.Is(err, fs.ErrNotExist) {
		return nil, unavailable(fmt.Sprintf("no containerd socket at %s (is containerd running? install it with scripts/setup.sh)", cfg.Address), nil)
	} else if errors.Is(err, fs.ErrPermission) {
		return nil, unavailable(fmt.Sprintf("cannot reach the containerd socket %s (containers need root)", cfg.Address), err)
	}
	client, err := containerd.New(cfg.Address, containerd.WithDefaultNamespace(cfg.Namespace), containerd.WithTimeout(5*time.Second))
	if err != nil {
		return nil, unavailable("connecting to "+cfg.Address, err)
	}
	vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := client.Version(vctx); err != nil {
		client.Close()
		return nil, unavailable(fmt.Sprintf("containerd at %s does not answer", cfg.Address), err)
	}
	root, cancelRoot := context.WithCancel(namespaces.WithNamespace(context.Background(), cfg.Namespace))
	r := &Runtime{
		cfg: cfg, client: client, log: cfg.Logger,
		root: root, cancelRoot: cancelRoot,
		images: map[string]*imageSet{}, tasks: map[runtime.TaskRef]*Task{},
		started: time.Now(),
	}
	if r.leftovers, err = r.earlierImages(vctx); err != nil {
		r.log.Warn("listing the images an earlier run imported; they stay in containerd", "err", err)
	}
	return r, nil
}

// Client is the runtime's containerd client, in its namespace (for tests
// and tools that inspect what the runtime made).
func (r *Runtime) Client() *containerd.Client { return r.client }

// Namespace is the containerd namespace the runtime uses.
func (r *Runtime) Namespace() string { return r.cfg.Namespace }

// nsContext puts the runtime's namespace on ctx.
func (r *Runtime) nsContext(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.cfg.Namespace)
}

// track registers a running task; false if the runtime is closed.
func (r *Runtime) track(t *Task) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.tasks[t.ref] = t
	r.watchers.Add(1)
	return true
}

func (r *Runtime) untrack(t *Task) {
	r.mu.Lock()
	if r.tasks[t.ref] == t {
		delete(r.tasks, t.ref)
	}
	r.mu.Unlock()
}

// Close ends every task of the runtime (SIGTERM, SIGKILL after its grace;
// they end Killed), removes their containers, and disconnects. Images stay
// imported. To leave the tasks running instead, call Detach.
func (r *Runtime) Close(ctx context.Context) error {
	tasks, first := r.shut()
	if !first {
		return nil
	}
	// Launches in progress end (failing to track their task) first.
	r.launching.Wait()
	var wg sync.WaitGroup
	errs := make(chan error, len(tasks))
	for _, t := range tasks {
		wg.Go(func() {
			if err := t.Kill(ctx); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	var err error
	for e := range errs {
		err = errors.Join(err, e)
	}
	if err != nil {
		err = fmt.Errorf("closing the container runtime: %w", err)
	}
	return errors.Join(err, r.disconnect(ctx))
}

// Detach disconnects from containerd and leaves the runtime's tasks running,
// their logs still written: a new Runtime with the same AgentID recovers
// them (Recover). Their Tasks here return ErrDetached from Wait and Kill.
func (r *Runtime) Detach(ctx context.Context) error {
	if _, first := r.shut(); !first {
		return nil
	}
	r.launching.Wait()
	return r.disconnect(ctx)
}

// shut marks the runtime closed and returns its tasks; first is false when
// it already was.
func (r *Runtime) shut() (tasks []*Task, first bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, false
	}
	r.closed = true
	for _, t := range r.tasks {
		tasks = append(tasks, t)
	}
	return tasks, true
}

// disconnect stops the watchers and closes the client.
func (r *Runtime) disconnect(ctx context.Context) error {
	r.cancelRoot()
	stopped := make(chan struct{})
	go func() { r.watchers.Wait(); close(stopped) }()
	var err error
	select {
	case <-stopped:
	case <-ctx.Done():
		err = fmt.Errorf("closing the container runtime: its task watchers did not stop: %w", ctx.Err())
	}
	if e := r.client.Close(); e != nil && err == nil {
		err = fmt.Errorf("closing the containerd client: %w", e)
	}
	return err
}

func (r *Runtime) killGrace(spec runtime.Spec) time.Duration {
	if spec.KillGrace > 0 {
		return spec.KillGrace
	}
	return r.cfg.DefaultKillGrace
}

// ignoreNotFound drops the error of deleting what is already gone.
func ignoreNotFound(err error) error {
	if errdefs.IsNotFound(err) {
		return nil
	}
	return err
}

func msLabel(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

func parseMS(s string) time.Duration {
	n, _ := strconv.ParseInt(s, 10, 64)
	return time.Duration(n) * time.Millisecond
}
