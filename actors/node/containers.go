package node

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"time"

	aagent "github.com/pandodc/pando/actors/agent"
	"github.com/pandodc/pando/isolators"
	"github.com/pandodc/pando/isolators/cgroups"
	"github.com/pandodc/pando/isolators/ebpf"
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
func startContainers(ctx context.Context, opts AgentOptions, logger *slog.Logger) (*container.Runtime, string) {
	if opts.Containerd == "" {
		return nil, noContainerd
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rt, err := container.New(cctx, container.Config{
		Address: opts.Containerd, DefaultKillGrace: opts.KillGrace, Logger: logger,
		Isolator: containerIsolators(logger),
	})
	if err != nil {
		logger.Warn("agent: no container runtime; running WASM tasks only", "error", err)
		return nil, err.Error()
	}
	return rt, ""
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
