package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	aagent "github.com/pandodc/pando/actors/agent"
	"github.com/pandodc/pando/actors/node"
	kmaster "github.com/pandodc/pando/kernel/master"
	"github.com/pandodc/pando/kernel/resources"
	"github.com/pandodc/pando/runtime/container/daemon"
	"github.com/pandodc/pando/sdk/client"
)

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func defaultDataDir() string {
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "pando")
	}
	return filepath.Join(os.TempDir(), "pando")
}

// waitForSignal blocks until the command's context ends (Ctrl-C, SIGTERM).
func waitForSignal(ctx context.Context) {
	<-ctx.Done()
}

// shutdownContext bounds a clean stop: 10 s, plus the kill grace of the
// container tasks it stops (0 for a master, which runs none), so that a
// container that ignores SIGTERM (busybox httpd as PID 1 does) is still
// killed, and its end recorded, before the process gives up on it.
func shutdownContext(killGrace time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second+max(killGrace, 0))
}

func newDevCmd() *cobra.Command {
	var httpAddr, remotingAddr, dataDir, res, logLevel, containerd string
	var sandboxRetention, killGrace time.Duration
	var artifacts masterArtifacts
	var completed completedTasks
	var limits outputLimits
	var cache artifactCache
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a whole cluster in one process: master, one agent and the built-in frameworks",
		Long: `Starts a master, one agent (offering this machine's resources, or --resources)
and the batch framework in one process, with an embedded store in --data-dir.
No Consul needed. Submit work with 'pando run' from another terminal.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			if sandboxRetention <= 0 {
				return usageError("--sandbox-retention must be positive, got %s", sandboxRetention)
			}
			if err := limits.check(); err != nil {
				return err
			}
			if err := artifacts.check(); err != nil {
				return err
			}
			if err := completed.check(); err != nil {
				return err
			}
			if err := cache.check(); err != nil {
				return err
			}
			own, address, note := devContainerd(cmd.Context(), containerd, dataDir, logger)
			if note != "" {
				fmt.Fprintln(cmd.OutOrStdout(), "pando dev:", note)
			}
			if own != nil {
				defer own.Stop()
			}
			dev, err := startDev(cmd.Context(), node.DevOptions{
				HTTPAddr: httpAddr, RemotingAddr: remotingAddr, DataDir: dataDir, Resources: res, Logger: logger,
				SandboxRetention: sandboxRetention, Containerd: address, KillGrace: killGrace,
				MaxArtifactSize: artifacts.maxBytes, ArtifactGrace: artifacts.grace, ArtifactGCInterval: artifacts.gcInterval,
				MaxTaskOutputBytes: limits.taskBytes(), MaxEndedOutputBytes: limits.endedBytes(), MaxEndedSandboxes: limits.endedTasks,
				ArtifactCacheBytes: cache.bytes, ArtifactCacheGrace: cache.grace, ImageIdle: cache.imageIdle,
				MaxCompletedTasks: completed.max,
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pando dev: master at %s (actors at %s), agent offering %s, data in %s\n",
				dev.Master.URL, dev.Master.PID.Address, dev.Agent.Resources, dataDir)
			fmt.Fprintf(cmd.OutOrStdout(), "try: pando run hello.wasm -n 100 --master %s\n", dev.Master.URL)
			waitForSignal(cmd.Context())
			ctx, cancel := shutdownContext(killGrace)
			defer cancel()
			return dev.Stop(ctx)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&httpAddr, "http", "127.0.0.1:5050", "address of the HTTP API")
	fl.StringVar(&remotingAddr, "remoting", "127.0.0.1:5060", "address for actor remoting (agents and frameworks in other processes)")
	fl.StringVar(&dataDir, "data-dir", defaultDataDir(), "directory for the store, artifacts and sandboxes")
	artifacts.register(fl)
	completed.register(fl)
	fl.StringVar(&res, "resources", "", "resources the agent offers, e.g. 'cpus:4;mem:8GiB' (default: detected)")
	fl.DurationVar(&sandboxRetention, "sandbox-retention", 24*time.Hour, "how long a task's sandbox (its files and logs) is kept after it ends")
	limits.register(fl)
	cache.register(fl)
	fl.StringVar(&containerd, "containerd", "auto", "containerd socket for container tasks; 'auto' starts a containerd of its own under --data-dir when run as root with containerd installed; 'none' for WASM only")
	fl.DurationVar(&killGrace, "kill-grace", 10*time.Second, "how long a killed container task has between SIGTERM and SIGKILL (tasks may set their own)")
	fl.StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error")
	return cmd
}

func newMasterCmd() *cobra.Command {
	var httpAddr, remotingAddr, dataDir, logLevel, consul, masterID string
	var artifacts masterArtifacts
	var completed completedTasks
	var noFrameworks bool
	var pingInterval, unreachableTimeout, unreachableWindow, reregistrationWindow time.Duration
	var maxMissedPings, maxUnreachable int
	cmd := &cobra.Command{
		Use:   "master",
		Short: "Run a master (agents join it with 'pando agent --master')",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			if pingInterval <= 0 {
				return usageError("--agent-ping-interval must be positive, got %s", pingInterval)
			}
			if maxMissedPings < 1 {
				return usageError("--agent-max-missed-pings must be at least 1, got %d", maxMissedPings)
			}
			if unreachableTimeout <= 0 || unreachableWindow <= 0 {
				return usageError("--agent-unreachable-timeout and --agent-unreachable-window must be positive, got %s and %s", unreachableTimeout, unreachableWindow)
			}
			if reregistrationWindow <= 0 {
				return usageError("--agent-reregistration-window must be positive, got %s", reregistrationWindow)
			}
			if maxUnreachable < 0 {
				return usageError("--agent-max-unreachable must be 0 (no limit) or more, got %d", maxUnreachable)
			}
			if err := artifacts.check(); err != nil {
				return err
			}
			if err := completed.check(); err != nil {
				return err
			}
			opts := node.MasterOptions{
				HTTPAddr: httpAddr, RemotingAddr: remotingAddr, DataDir: dataDir, Logger: logger,
				MaxArtifactSize: artifacts.maxBytes, ArtifactGrace: artifacts.grace, ArtifactGCInterval: artifacts.gcInterval,
				Kernel: kmaster.Config{
					PingInterval: pingInterval, MaxMissedPings: maxMissedPings, AgentUnreachableTimeout: unreachableTimeout,
					MaxUnreachablePerWindow: maxUnreachable, UnreachableWindow: unreachableWindow,
					MaxCompletedTasks: completed.max,
				},
			}
			if cmd.Flags().Changed("agent-reregistration-window") {
				opts.Kernel.ReregistrationWindow = reregistrationWindow
			}
			if consul == "" {
				consul = os.Getenv("CONSUL_HTTP_ADDR")
			}
			if consul != "" {
				opts.HA = &node.HAOptions{Consul: consul, ID: masterID}
			}
			m, err := startMaster(cmd.Context(), opts, !noFrameworks)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if opts.HA != nil {
				fmt.Fprintf(out, "pando master: API at %s, actors at %s; contending for leadership through Consul at %s\n", m.Master.URL, m.Master.System.Address(), consul)
			} else {
				fmt.Fprintf(out, "pando master: API at %s, actors at %s\n", m.Master.URL, m.Master.PID.Address)
			}
			var lost error
			select {
			case <-cmd.Context().Done():
			case <-m.Master.Lost():
				// As a Mesos master does: a master that lost its
				// leadership exits, and its supervisor starts it
				// again as a stand-by with a clean state.
				lost = fmt.Errorf("%w; exiting so that it restarts as a stand-by", m.Master.Err())
			}
			ctx, cancel := shutdownContext(0)
			defer cancel()
			return errors.Join(lost, m.Stop(ctx))
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&httpAddr, "http", "127.0.0.1:5050", "address of the HTTP API")
	fl.StringVar(&remotingAddr, "remoting", "127.0.0.1:5060", "address for actor remoting")
	fl.StringVar(&dataDir, "data-dir", filepath.Join(defaultDataDir(), "master"), "directory for the store and artifacts")
	artifacts.register(fl)
	completed.register(fl)
	fl.BoolVar(&noFrameworks, "no-frameworks", false, "do not run the built-in frameworks in the master process")
	fl.StringVar(&consul, "consul", "", "Consul agent address (host:port; default $CONSUL_HTTP_ADDR): run as one of several masters, elected through Consul (ACL token from $CONSUL_HTTP_TOKEN)")
	fl.StringVar(&masterID, "id", "", "this master's name among the masters (default: hostname and HTTP port)")
	fl.DurationVar(&pingInterval, "agent-ping-interval", time.Second, "how often the master pings each agent")
	fl.IntVar(&maxMissedPings, "agent-max-missed-pings", 5, "unanswered pings in a row after which an agent is unreachable (its tasks become UNREACHABLE to partition-aware frameworks, LOST to the others)")
	fl.DurationVar(&unreachableTimeout, "agent-unreachable-timeout", 10*time.Minute, "how long an unreachable agent may take to come back with its tasks before it is removed (its tasks become LOST)")
	fl.IntVar(&maxUnreachable, "agent-max-unreachable", 0, "at most this many agents are marked unreachable per --agent-unreachable-window; the others wait (0: no limit)")
	fl.DurationVar(&unreachableWindow, "agent-unreachable-window", time.Minute, "the sliding window of --agent-max-unreachable")
	fl.DurationVar(&reregistrationWindow, "agent-reregistration-window", node.DefaultReregistrationWindow, "how long a master that takes over (elected, or restarted on its data dir) waits for the agents of the registry to re-register before it marks them unreachable and answers the reconciliation of tasks it does not know")
	fl.StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error")
	return cmd
}

func newAgentCmd(g *globals) *cobra.Command {
	var httpAddr, remotingAddr, workDir, res, logLevel, hostname, containerd, executorMode string
	var attrs []string
	var sandboxRetention, killGrace time.Duration
	var limits outputLimits
	var cache artifactCache
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run an agent that offers this machine's resources to a master",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			attributes := map[string]string{}
			for _, kv := range attrs {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usageError("--attribute %q is not of the form KEY=VALUE", kv)
				}
				attributes[k] = v
			}
			if sandboxRetention <= 0 {
				return usageError("--sandbox-retention must be positive, got %s", sandboxRetention)
			}
			if err := limits.check(); err != nil {
				return err
			}
			if err := cache.check(); err != nil {
				return err
			}
			a, err := node.StartAgent(cmd.Context(), node.AgentOptions{
				MasterURL: client.MasterFromEnv(g.master), HTTPAddr: httpAddr, RemotingAddr: remotingAddr,
				WorkDir: workDir, Resources: res, Attributes: attributes, Hostname: hostname, Logger: logger,
				SandboxRetention: sandboxRetention, Containerd: containerd, KillGrace: killGrace,
				MaxTaskOutputBytes: limits.taskBytes(), MaxEndedOutputBytes: limits.endedBytes(), MaxEndedSandboxes: limits.endedTasks,
				ArtifactCacheBytes: cache.bytes, ArtifactCacheGrace: cache.grace, ImageIdle: cache.imageIdle,
				Executor: executorMode, ExecutorCommand: executorCommand(workDir, logLevel, limits.taskBytes(), cache.grace),
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pando agent: offering %s; sandboxes at %s; %s\n", a.Resources, a.URL, a.RuntimesNote())
			waitForSignal(cmd.Context())
			ctx, cancel := shutdownContext(killGrace)
			defer cancel()
			return a.Stop(ctx)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&httpAddr, "http", "127.0.0.1:5051", "address of the agent's HTTP API (sandboxes, logs)")
	fl.StringVar(&remotingAddr, "remoting", "127.0.0.1:0", "address for actor remoting (port 0: any free port)")
	fl.StringVar(&workDir, "work-dir", filepath.Join(defaultDataDir(), "agent"), "directory for sandboxes and caches")
	fl.DurationVar(&sandboxRetention, "sandbox-retention", 24*time.Hour, "how long a task's sandbox (its files and logs) is kept after it ends")
	limits.register(fl)
	cache.register(fl)
	fl.StringVar(&res, "resources", "", "resources to offer, e.g. 'cpus:4;mem:8GiB' (default: detected)")
	fl.StringArrayVar(&attrs, "attribute", nil, "attribute KEY=VALUE offered with the resources (repeatable)")
	fl.StringVar(&hostname, "hostname", "", "hostname to report (default: this machine's)")
	fl.StringVar(&containerd, "containerd", "", "containerd socket for container tasks, e.g. /run/containerd/containerd.sock (default: WASM tasks only)")
	fl.DurationVar(&killGrace, "kill-grace", 10*time.Second, "how long a killed container task has between SIGTERM and SIGKILL (tasks may set their own)")
	fl.StringVar(&executorMode, "executor", node.ExecutorProcess, "where WASM tasks run: 'process' (a 'pando executor' process that outlives a restart of the agent, which takes them back) or 'inprocess' (in the agent's process, ending with it)")
	fl.StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error")
	return cmd
}

// devContainerd decides where pando dev's agent finds containerd: the
// socket given, none, or (auto) a containerd of its own under the data dir
// when this machine can run one. The note says, once, what was chosen and
// why there are no containers when there are none.
func devContainerd(ctx context.Context, flag, dataDir string, logger *slog.Logger) (own *daemon.Daemon, address, note string) {
	switch flag {
	case "none", "":
		return nil, "", "WASM tasks only (--containerd none)"
	case "auto":
	default:
		return nil, flag, ""
	}
	if err := daemon.Available(); err != nil {
		return nil, "", "no container tasks: " + err.Error()
	}
	d, err := daemon.Start(ctx, filepath.Join(dataDir, "containerd"), logger)
	if err != nil {
		return nil, "", "no container tasks: " + err.Error()
	}
	return d, d.Address, "containerd of its own at " + d.Address
}

// masterArtifacts are the master's flags for the artifacts it stores: the
// bound on one upload, and how its collector keeps and deletes them.
type masterArtifacts struct {
	maxSize    string
	maxBytes   int64
	grace      time.Duration
	gcInterval time.Duration
}

func (a *masterArtifacts) register(fl *pflag.FlagSet) {
	fl.StringVar(&a.maxSize, "max-artifact-size", "4GiB", "largest artifact (module, image, input file or directory archive) an upload may be, e.g. 512MiB or 8GiB")
	fl.DurationVar(&a.grace, "artifact-grace", node.DefaultArtifactGrace, "how long an artifact no job, task or image needs any more is kept before the master deletes it")
	fl.DurationVar(&a.gcInterval, "artifact-gc-interval", node.DefaultArtifactGCInterval, "how often the master looks for artifacts to delete")
}

func (a *masterArtifacts) check() error {
	var err error
	if a.maxBytes, err = parseSizeFlag("--max-artifact-size", a.maxSize); err != nil {
		return err
	}
	if a.grace <= 0 || a.gcInterval <= 0 {
		return usageError("--artifact-grace and --artifact-gc-interval must be positive, got %s and %s", a.grace, a.gcInterval)
	}
	return nil
}

// completedTasks is the flag of pando master and pando dev that bounds the
// ended tasks the master remembers.
type completedTasks struct{ max int }

func (c *completedTasks) register(fl *pflag.FlagSet) {
	fl.IntVar(&c.max, "max-completed-tasks", kmaster.DefaultMaxCompletedTasks, "how many ended tasks the master remembers for pando ps --all and reconciliation (about 1.3 KB each); older ones are forgotten, though their agents keep their logs and files for --sandbox-retention")
}

func (c *completedTasks) check() error {
	if c.max < 1 {
		return usageError("--max-completed-tasks must be at least 1, got %d", c.max)
	}
	return nil
}

// parseSizeFlag reads a positive size with units, in bytes.
func parseSizeFlag(flag, s string) (int64, error) {
	m, err := resources.ParseSize(s)
	if err != nil {
		return 0, usageError("%s: %v; want a positive size such as 512MiB or 8GiB", flag, err)
	}
	if m <= 0 {
		return 0, usageError("%s %q: want a positive size such as 512MiB or 8GiB", flag, s)
	}
	return int64(m) * (1 << 20) / int64(resources.One), nil
}

// artifactCache are the agent's flags that bound its artifact cache.
type artifactCache struct {
	size      string
	bytes     int64
	grace     time.Duration
	imageIdle time.Duration
}

func (c *artifactCache) register(fl *pflag.FlagSet) {
	fl.StringVar(&c.size, "artifact-cache-size", fmt.Sprintf("%dGiB", node.DefaultArtifactCacheBytes>>30), "bytes the agent's caches of artifacts (modules, images, inputs) and compiled modules may hold, e.g. 512MiB or 20GiB; past it, what no live task needs goes, least recently used first (the default is twice the largest artifact the master takes by default)")
	fl.DurationVar(&c.grace, "artifact-cache-grace", node.DefaultArtifactCacheGrace, "how long after its last use a cached artifact is kept whatever --artifact-cache-size (covers the time between a fetch and a task's launch, and a restart of the agent); a compiled WASM module no task runs leaves memory after as long")
	fl.DurationVar(&c.imageIdle, "image-idle", node.DefaultImageIdle, "how long an image imported into containerd stays after its last task ends; then it is removed, and its next task imports its tarball again")
}

func (c *artifactCache) check() error {
	var err error
	if c.bytes, err = parseSizeFlag("--artifact-cache-size", c.size); err != nil {
		return err
	}
	if c.grace <= 0 {
		return usageError("--artifact-cache-grace must be positive, got %s", c.grace)
	}
	if c.imageIdle <= 0 {
		return usageError("--image-idle must be positive, got %s", c.imageIdle)
	}
	return nil
}

// outputLimits are the agent's flags that bound tasks' output.
type outputLimits struct {
	taskMiB, endedMiB int64
	endedTasks        int
}

func (l *outputLimits) register(fl *pflag.FlagSet) {
	fl.Int64Var(&l.taskMiB, "task-output-limit", node.DefaultMaxTaskOutput>>20, "MiB a task may write to stdout and stderr together; past it the task is stopped, FAILED with REASON_OUTPUT_LIMIT")
	fl.Int64Var(&l.endedMiB, "ended-output-limit", 1024, "MiB of output of ended tasks the agent keeps (oldest removed first, besides --sandbox-retention)")
	fl.IntVar(&l.endedTasks, "max-ended-tasks", aagent.DefaultMaxEndedTasks, "how many ended tasks' sandboxes (logs and files) the agent keeps (oldest removed first, besides --sandbox-retention and --ended-output-limit)")
}

func (l *outputLimits) check() error {
	if l.taskMiB <= 0 || l.endedMiB <= 0 {
		return usageError("--task-output-limit and --ended-output-limit must be positive (MiB), got %d and %d", l.taskMiB, l.endedMiB)
	}
	if l.endedTasks < 1 {
		return usageError("--max-ended-tasks must be at least 1, got %d", l.endedTasks)
	}
	return nil
}

func (l *outputLimits) taskBytes() uint64 { return uint64(l.taskMiB) << 20 }
func (l *outputLimits) endedBytes() int64 { return l.endedMiB << 20 }
