package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	aagent "github.com/pandodc/pando/actors/agent"
	"github.com/pandodc/pando/actors/artifacts"
	"github.com/pandodc/pando/actors/executor"
	"github.com/pandodc/pando/actors/telemetry"
	"github.com/pandodc/pando/internal/shell"
	kagent "github.com/pandodc/pando/kernel/agent"
	"github.com/pandodc/pando/kernel/resources"
	"github.com/pandodc/pando/runtime"
	"github.com/pandodc/pando/runtime/container"
	"github.com/pandodc/pando/runtime/tasklog"
	"github.com/pandodc/pando/sdk/client"
)

// AgentOptions configures an agent.
type AgentOptions struct {
	// System to run in; nil makes a new one listening on RemotingAddr.
	System       *System
	RemotingAddr string
	// Master is the master actor; with MasterURL only, it is looked up
	// through the master's API.
	Master    *actor.PID
	MasterURL string
	// Artifacts fetches modules; nil fetches them from MasterURL.
	Artifacts artifacts.Source
	// WorkDir holds sandboxes and the artifact and compilation caches.
	WorkDir string
	// Resources offered; empty means detected from the machine.
	Resources  string
	Attributes map[string]string
	Hostname   string
	// HTTPAddr serves sandboxes ("127.0.0.1:5051"); "" when Mux is given.
	HTTPAddr string
	// Mux and MuxPrefix mount the sandbox API on another server (pando dev
	// mounts it under the master's at /agent); HTTPBase is then its URL.
	Mux       *http.ServeMux
	MuxPrefix string
	HTTPBase  string
	// SandboxRetention keeps a task's sandbox this long after it ends
	// (default 24h); MaxEndedSandboxes caps how many are kept (default
	// agent.DefaultMaxEndedTasks, oldest removed first).
	SandboxRetention  time.Duration
	MaxEndedSandboxes int
	// MaxTaskOutputBytes caps what one task writes to stdout and stderr
	// (default 256MiB): a WASM task past it is stopped, FAILED with
	// REASON_OUTPUT_LIMIT. MaxEndedOutputBytes caps the output of ended
	// tasks kept (default 1GiB, oldest removed first).
	MaxTaskOutputBytes  uint64
	MaxEndedOutputBytes int64
	// ArtifactCacheBytes bounds the artifact cache (modules, image
	// tarballs, inputs, their views and unpacked trees) and the WASM
	// compilation cache together (default DefaultArtifactCacheBytes):
	// past it, every ArtifactCacheInterval (default a minute), the least
	// recently used entries go that no live task needs and that were not
	// used for ArtifactCacheGrace (default DefaultArtifactCacheGrace).
	ArtifactCacheBytes    int64
	ArtifactCacheGrace    time.Duration
	ArtifactCacheInterval time.Duration
	// ImageIdle is how long an image the agent imported into containerd
	// stays once no task of it runs (default DefaultImageIdle); then it
	// goes, checked every ArtifactCacheInterval.
	ImageIdle time.Duration
	// Containerd is the containerd socket for container tasks; "" runs
	// WASM tasks only. KillGrace is the default time between SIGTERM and
	// SIGKILL when a container task is killed (0: 10s).
	Containerd string
	KillGrace  time.Duration
	// Telemetry receives the agent's metrics; nil makes the agent its own,
	// served at /metrics on its HTTP server.
	Telemetry *telemetry.Telemetry
	Logger    *slog.Logger
	// Executor says where WASM tasks run: ExecutorInProcess ("", the
	// default) in the agent's process, dying with it; ExecutorProcess in
	// a `pando executor` process that outlives a restart of the agent,
	// started with ExecutorCommand. The process needs remoting: the
	// agent's actor system must listen (RemotingAddr).
	Executor        string
	ExecutorCommand func() *exec.Cmd
}

// Agent is a running agent.
type Agent struct {
	System    *System
	PID       *actor.PID
	Resources resources.Resources
	URL       string
	ownSystem bool
	runtime   runtime.Runtime // WASM tasks: in process, or an executor process's client
	logs      *tasklog.Store  // in-process WASM tasks' logs, closed after the runtime; nil with an executor process
	// containers is the container runtime, nil when the agent has none.
	containers   *container.Runtime
	noContainers string
	server       *http.Server
	stopGC       context.CancelFunc
	cacheGCDone  chan struct{}        // closed when the artifact cache's collector has stopped
	telemetry    *telemetry.Telemetry // the agent's own, if it has one
}

// sandboxGCInterval is how often an agent removes expired sandboxes.
const sandboxGCInterval = time.Minute

// DefaultArtifactCacheBytes bounds an agent's caches by default: twice
// the largest artifact the master takes by default (4GiB), so that one of
// those stays cached while a task fetches another, and small beside the
// disk of a machine that runs tasks. The bound is soft: what live tasks
// need stays, even past it.
const DefaultArtifactCacheBytes = 8 << 30

// DefaultArtifactCacheGrace keeps an entry of an agent's caches this long
// after its last use whatever the bound: it covers the seconds between a
// fetch and the task's launch, and an agent restart (what an earlier run
// left counts as used at start), and spares a job that runs again soon
// its fetches.
const DefaultArtifactCacheGrace = 10 * time.Minute

// DefaultImageIdle keeps an imported image in containerd this long after
// its last task: longer than the artifact cache's grace, since importing a
// tarball again (and fetching it, if evicted) costs a container's start
// many times over, while its snapshots are what the disk pays for.
const DefaultImageIdle = time.Hour

// DefaultMaxTaskOutput is a task's default output limit: far more than a
// batch task's lines, far less than a disk.
const DefaultMaxTaskOutput = 256 << 20

// StartAgent starts an agent that registers with the master.
func StartAgent(ctx context.Context, opts AgentOptions) (*Agent, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.WorkDir == "" {
		return nil, errors.New("agent: a work dir is required (--work-dir)")
	}
	sandboxRoot := filepath.Join(opts.WorkDir, "sandboxes")
	for _, dir := range []string{sandboxRoot, filepath.Join(opts.WorkDir, "artifacts"), CompileCacheDir(opts.WorkDir)} {
		if err := ensureDir(dir, "--work-dir"); err != nil {
			return nil, err
		}
	}
	res, err := agentResources(opts.Resources, opts.WorkDir)
	if err != nil {
		return nil, err
	}
	warnEphemeralPorts(res, logger)
	master := opts.Master
	if master == nil {
		if opts.MasterURL == "" {
			return nil, errors.New("agent: the master's address is required (--master)")
		}
		master, err = resolveMaster(ctx, client.SplitMasters(opts.MasterURL))
		if err != nil {
			return nil, err
		}
	}
	src := opts.Artifacts
	if src == nil {
		src = httpArtifacts(client.SplitMasters(opts.MasterURL))
	}
	cache, err := artifacts.OpenCache(artifacts.CacheConfig{
		Dir: filepath.Join(opts.WorkDir, "artifacts"), Source: src,
		CompiledDir: CompileCacheDir(opts.WorkDir),
	})
	if err != nil {
		return nil, err
	}
	logDir := filepath.Join(opts.WorkDir, "logs")
	if opts.MaxTaskOutputBytes == 0 {
		opts.MaxTaskOutputBytes = DefaultMaxTaskOutput
	}
	checkpoint, err := aagent.OpenCheckpoint(filepath.Join(opts.WorkDir, "checkpoint"))
	if err != nil {
		return nil, err
	}
	agentID, err := checkpoint.AgentID()
	if err != nil {
		return nil, err
	}
	a := &Agent{System: opts.System, Resources: res}
	if a.System == nil {
		if a.System, err = NewSystem(logger, opts.RemotingAddr); err != nil {
			return nil, err
		}
		a.ownSystem = true
	}
	var recovered []aagent.RecoveredTask
	if a.runtime, a.logs, recovered, err = startWASM(ctx, opts, a.System, agentID, logDir, logger); err != nil {
		a.abandon(ctx)
		return nil, err
	}
	a.containers, a.noContainers = startContainers(ctx, opts, agentID, logger)
	if a.containers != nil && agentID != "" {
		fromContainers, err := recoverContainers(ctx, a.containers, checkpoint, logger)
		if err != nil {
			a.abandon(ctx)
			return nil, err
		}
		recovered = append(recovered, fromContainers...)
	}
	runtimes := aagent.Runtimes{WASM: a.runtime, NoContainers: a.noContainers}
	if a.containers != nil {
		runtimes.Containers = a.containers
	}
	sandboxes := aagent.NewSandboxes(aagent.SandboxesConfig{
		Root: sandboxRoot, Retention: opts.SandboxRetention, MaxEnded: opts.MaxEndedSandboxes,
		MaxBytes: opts.MaxEndedOutputBytes, LogDir: logDir,
	})
	gcCtx, stopGC := context.WithCancel(context.Background())
	a.stopGC = stopGC
	go sandboxes.CollectEvery(gcCtx, sandboxGCInterval, time.Now)
	monitor := aagent.NewMonitor()
	tel := opts.Telemetry
	if tel == nil {
		if tel, err = telemetry.New(telemetry.Options{}); err != nil {
			a.abandon(ctx)
			return nil, err
		}
		a.telemetry = tel
	}
	if err := aagent.RegisterUsageMetrics(tel.Meter("pando/agent"), monitor); err != nil {
		a.abandon(ctx)
		return nil, err
	}
	if err := artifacts.RegisterCacheMetrics(tel.Meter("pando/agent"), cache); err != nil {
		a.abandon(ctx)
		return nil, err
	}
	a.URL = opts.HTTPBase
	if opts.Mux != nil {
		sandboxes.Register(opts.Mux, opts.MuxPrefix)
		monitor.Register(opts.Mux, opts.MuxPrefix)
	} else {
		listener, err := net.Listen("tcp", opts.HTTPAddr)
		if err != nil {
			a.abandon(ctx)
			return nil, fmt.Errorf("agent: cannot listen for HTTP on %s: %w (pick another with --http)", opts.HTTPAddr, err)
		}
		mux := http.NewServeMux()
		sandboxes.Register(mux, "")
		monitor.Register(mux, "")
		mux.Handle("GET /metrics", tel.Handler())
		a.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		a.URL = "http://" + listener.Addr().String()
		go func() { _ = a.server.Serve(listener) }()
	}
	hostname := opts.Hostname
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	props := aagent.Props(aagent.Config{
		Kernel: kagent.Config{
			Hostname: hostname, Resources: res, HTTPAddress: a.URL, AgentID: agentID,
			Attributes: runtimeAttributes(opts.Attributes, runtimes, opts.Containerd),
		},
		Master:      master,
		FindMaster:  findMasterFunc(opts),
		SandboxRoot: sandboxRoot,
		Runtimes:    runtimes,
		Fetcher:     cache,
		Logger:      logger,
		Sandboxes:   sandboxes,
		Monitor:     monitor,
		Checkpoint:  checkpoint,
		Recovered:   recovered,
	})
	a.PID, err = a.System.Actors.Root.SpawnNamed(props, aagent.ActorID)
	if err != nil {
		a.abandon(ctx)
		return nil, fmt.Errorf("agent: spawning the agent actor: %w", err)
	}
	a.cacheGCDone = make(chan struct{})
	go a.collectArtifacts(gcCtx, cache, opts, logger)
	return a, nil
}

// collectArtifacts bounds the agent's caches every interval, keeping what
// the agent actor says its live tasks name, until ctx ends.
func (a *Agent) collectArtifacts(ctx context.Context, cache *artifacts.Cache, opts AgentOptions, logger *slog.Logger) {
	defer close(a.cacheGCDone)
	p := artifacts.Eviction{MaxBytes: opts.ArtifactCacheBytes, Grace: opts.ArtifactCacheGrace}
	if p.MaxBytes <= 0 {
		p.MaxBytes = DefaultArtifactCacheBytes
	}
	if p.Grace <= 0 {
		p.Grace = DefaultArtifactCacheGrace
	}
	interval := opts.ArtifactCacheInterval
	if interval <= 0 {
		interval = sandboxGCInterval
	}
	imageIdle := opts.ImageIdle
	if imageIdle <= 0 {
		imageIdle = DefaultImageIdle
	}
	shell.Every(ctx, interval, func(time.Time) { a.collectArtifactsNow(cache, p, imageIdle, logger) })
}

// collectArtifactsNow asks the agent actor which tasks live, through its
// mailbox (its state is its own), and collects the rest, and the images
// idle for imageIdle.
func (a *Agent) collectArtifactsNow(cache *artifacts.Cache, p artifacts.Eviction, imageIdle time.Duration, logger *slog.Logger) {
	res, err := a.System.Actors.Root.RequestFuture(a.PID, aagent.LiveTasks{}, 5*time.Second).Result()
	live, ok := res.(*aagent.LiveTasksReply)
	if err != nil || !ok {
		// Without knowing what is in use, nothing may go.
		logger.Warn("agent: the artifact cache is not collected this time: the agent actor did not say which tasks live", "error", err)
		return
	}
	var inUse []string
	for _, t := range live.Tasks {
		inUse = append(inUse, artifacts.TaskKeys(t)...)
	}
	got, err := cache.Collect(inUse, p, time.Now())
	if err != nil {
		logger.Warn("agent: collecting the artifact cache", "error", err)
	}
	if len(got.Deleted) > 0 {
		logger.Info("agent: the artifact cache let go of entries no live task needs", "entries", len(got.Deleted), "freed_bytes", got.Freed, "bytes", got.Bytes)
	}
	if a.containers != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		gone, err := a.containers.CollectImages(ctx, imageIdle, time.Now())
		if err != nil {
			logger.Warn("agent: removing idle images from containerd", "error", err)
		}
		if len(gone) > 0 {
			logger.Info("agent: removed idle images from containerd", "tarballs", gone, "idle", imageIdle)
		}
	}
}

// Stop stops the agent and its tasks.
func (a *Agent) Stop(ctx context.Context) error {
	if a.PID != nil {
		_ = a.System.Actors.Root.StopFuture(a.PID).Wait()
	}
	if a.server != nil {
		_ = a.server.Shutdown(ctx)
	}
	return a.stopRuntime(ctx, true)
}

// abandon undoes a start that failed: an executor process of the previous
// run is left running with its tasks, for the next start to take back.
func (a *Agent) abandon(ctx context.Context) {
	if a.server != nil {
		_ = a.server.Shutdown(ctx)
	}
	_ = a.stopRuntime(ctx, false)
}

// stopRuntime closes what StartAgent opened, the actor system last: an
// executor process is shut down through it, or only left (clean false).
func (a *Agent) stopRuntime(ctx context.Context, clean bool) error {
	if a.stopGC != nil {
		a.stopGC()
	}
	if a.cacheGCDone != nil {
		<-a.cacheGCDone // no deletion under way once stopped
	}
	var err error
	if a.telemetry != nil {
		err = a.telemetry.Shutdown(ctx)
	}
	if a.containers != nil {
		err = errors.Join(err, a.containers.Close(ctx))
	}
	if c, ok := a.runtime.(*executor.Client); ok && !clean {
		c.Detach()
	} else if a.runtime != nil {
		err = errors.Join(err, a.runtime.Close(ctx))
	}
	if a.logs != nil {
		// After the runtime: its tasks' logs are closed, all on disk.
		err = errors.Join(err, a.logs.Close())
	}
	if a.ownSystem && a.System != nil {
		a.System.Shutdown()
	}
	return err
}

func agentResources(flag, workDir string) (resources.Resources, error) {
	if flag != "" {
		r, err := resources.Parse(flag)
		if err != nil {
			return resources.Resources{}, fmt.Errorf("--resources: %w", err)
		}
		return r, nil
	}
	return DetectResources(workDir)
}

// DetectResources offers the machine: every CPU, the memory less what the
// system needs (1 GiB or a quarter, whichever is smaller), 90% of the free
// disk under workDir, and ports 31000-32000 as Mesos does.
func DetectResources(workDir string) (resources.Resources, error) {
	memMiB, err := totalMemoryMiB()
	if err != nil {
		return resources.Resources{}, fmt.Errorf("detecting memory (or pass --resources): %w", err)
	}
	memMiB -= min(1024, memMiB/4)
	diskMiB := freeDiskMiB(workDir) * 9 / 10
	text := fmt.Sprintf("cpus:%d;mem:%d;ports:[31000-32000]", goruntime.NumCPU(), memMiB)
	if diskMiB > 0 {
		text += fmt.Sprintf(";disk:%d", diskMiB)
	}
	return resources.Parse(text)
}

func totalMemoryMiB() (uint64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kib, err := strconv.ParseUint(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("reading /proc/meminfo: %w", err)
			}
			return kib / 1024, nil
		}
	}
	return 0, errors.New("no MemTotal in /proc/meminfo")
}

func resolveMaster(ctx context.Context, urls []string) (*actor.PID, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		pid, err := findLeader(ctx, urls)
		if err == nil {
			return pid, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("agent: cannot reach the master: %w", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// findMasterFunc finds the leading master again after a failover, through
// the master URLs the agent was given; nil for an agent in the master's
// process, whose master cannot move.
func findMasterFunc(opts AgentOptions) func(context.Context) (*actor.PID, error) {
	urls := client.SplitMasters(opts.MasterURL)
	if opts.Master != nil || len(urls) == 0 {
		return nil
	}
	return func(ctx context.Context) (*actor.PID, error) { return findLeader(ctx, urls) }
}
