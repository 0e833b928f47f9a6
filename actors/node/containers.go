package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"time"

	aagent "github.com/pandodc/pando/actors/agent"
	"github.com/pandodc/pando/isolators"
	"github.com/pandodc/pando/isolators/cgroups"
	"github.com/pandodc/pando/isolators/ebpf"
	kagent "github.com/pandodc/pando/kernel/agent"
	"github.com/pandodc/pando/runtime"
	"github.com/pandodc/pando/runtime/container"
)

// Agent attributes that say which task runtimes an agent has. Frameworks
// place container tasks only where AttrRuntimes lists "container".
const (
	AttrRuntimes  = "runtimes"  // "wasm" or "wasm,container"
	AttrContainer = "container" // "containerd <address>" or "unavailable: <why>"
)

// noContainerd is why an agent started without --containerd has none.
const noContainerd = "no containerd configured (start the agent with --containerd /run/containerd/containerd.sock)"

// startContainers connects the agent's container runtime, or says why it
// has none: the agent then runs WASM tasks only, and says so once.
func startContainers(ctx context.Context, opts AgentOptions, agentID string, logger *slog.Logger) (*container.Runtime, string) {
	if opts.Containerd == "" {
		return nil, noContainerd
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rt, err := container.New(cctx, container.Config{
		Address: opts.Containerd, DefaultKillGrace: opts.KillGrace, Logger: logger,
		Isolator: containerIsolators(logger), AgentID: agentID, Owner: imageOwner(opts.WorkDir),
	})
	if err != nil {
		logger.Warn("agent: no container runtime; running WASM tasks only", "error", err)
		return nil, err.Error()
	}
	return rt, ""
}

// imageOwner names an agent's images in containerd by its work dir: two
// agents on one host (one containerd) keep their images apart, and an
// agent's next run names them as this one did.
func imageOwner(workDir string) string {
	if abs, err := filepath.Abs(workDir); err == nil {
		workDir = abs
	}
	sum := sha256.Sum256([]byte(workDir))
	return hex.EncodeToString(sum[:6])
}

// containerIsolators accounts container tasks: CPU, memory and block IO from
// their cgroups, network bytes and packets with eBPF. What the host cannot
// measure is said once here, and in every task's usage (Unavailable).
func containerIsolators(logger *slog.Logger) isolators.Isolator {
	var all []isolators.Isolator
	cg, err := cgroups.New()
	if err != nil {
		logger.Warn("agent: container tasks run without cgroup accounting", "why", err)
		return isolators.Unsupported(err)
	}
	all = append(all, cg)
	if net, err := ebpf.New(cg.Layout()); err != nil {
		logger.Warn("agent: container tasks run without network accounting", "why", err)
		all = append(all, isolators.Unsupported(err))
	} else {
		all = append(all, net)
	}
	for _, iso := range all {
		for _, why := range iso.Unavailable() {
			logger.Warn("agent: container accounting is partial", "unavailable", why)
		}
	}
	return isolators.All(all...)
}

// recoverContainers finds the container tasks of the agent's previous run
// that still run, and matches them with its checkpoint: those it knows are
// taken back; a running container it has no checkpoint of is killed and
// removed (nobody would follow it), and a checkpoint whose container is
// gone is forgotten (the master settles that task when the agent
// re-registers without it).
func recoverContainers(ctx context.Context, rt *container.Runtime, cp *aagent.Checkpoint, logger *slog.Logger) ([]aagent.RecoveredTask, error) {
	known, err := cp.Tasks()
	if err != nil {
		return nil, err
	}
	running, err := rt.Recover(ctx)
	if err != nil {
		return nil, fmt.Errorf("agent: finding the containers of its previous run: %w", err)
	}
	var out []aagent.RecoveredTask
	for _, k := range known {
		ref := kagent.TaskRef{FrameworkID: k.FrameworkID, TaskID: k.Task.GetTaskId()}
		end, err := cp.End(ref)
		if err != nil {
			return nil, err
		}
		if end != nil {
			// It ended before the restart, its end not yet acknowledged:
			// reported again as it was (what is left of it is removed).
			out = append(out, aagent.RecoveredTask{Recovered: k, Ended: end})
			continue
		}
		key := runtime.TaskRef{FrameworkID: ref.FrameworkID, TaskID: ref.TaskID}
		if task, ok := running[key]; ok {
			out = append(out, aagent.RecoveredTask{Recovered: k, Running: task})
			delete(running, key)
			continue
		}
		logger.Warn("agent: a container task ended while the agent was down", "task", ref.TaskID, "framework", ref.FrameworkID)
		if err := cp.RemoveTask(ref); err != nil {
			logger.Warn("agent: forgetting an ended task's checkpoint", "task", ref.TaskID, "error", err)
		}
	}
	for key, task := range running {
		logger.Warn("agent: killing and removing a container of a task it does not know", "task", key.TaskID,
			"framework", key.FrameworkID)
		kctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := task.Kill(kctx); err != nil {
			logger.Warn("agent: killing an unknown container task", "task", key.TaskID, "error", err)
		}
		cancel()
	}
	return out, nil
}

// runtimeAttributes adds to attrs what the agent's runtimes are.
func runtimeAttributes(attrs map[string]string, rts aagent.Runtimes, containerd string) map[string]string {
	out := maps.Clone(attrs)
	if out == nil {
		out = map[string]string{}
	}
	if rts.Containers != nil {
		out[AttrRuntimes] = "wasm,container"
		out[AttrContainer] = "containerd " + containerd
	} else {
		out[AttrRuntimes] = "wasm"
		out[AttrContainer] = fmt.Sprintf("unavailable: %s", rts.NoContainers)
	}
	return out
}

// RuntimesNote says which task runtimes the agent has, for its start line.
func (a *Agent) RuntimesNote() string {
	if a.containers != nil {
		return "runs WASM and container tasks"
	}
	return "runs WASM tasks only: " + a.noContainers
}
