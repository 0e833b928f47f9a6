package node

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/pandodc/pando/actors/artifacts"
	"github.com/pandodc/pando/actors/telemetry"
	kmaster "github.com/pandodc/pando/kernel/master"
)

// DevOptions configures a single-process cluster.
type DevOptions struct {
	HTTPAddr     string
	RemotingAddr string
	DataDir      string
	Resources    string
	// SandboxRetention: see AgentOptions.
	SandboxRetention time.Duration
	// MaxTaskOutputBytes, MaxEndedOutputBytes, MaxEndedSandboxes: see
	// AgentOptions.
	MaxTaskOutputBytes  uint64
	MaxEndedOutputBytes int64
	MaxEndedSandboxes   int
	// Containerd, KillGrace, ArtifactCacheBytes, ArtifactCacheGrace,
	// ArtifactCacheInterval: see AgentOptions.
	Containerd            string
	KillGrace             time.Duration
	ArtifactCacheBytes    int64
	ArtifactCacheGrace    time.Duration
	ArtifactCacheInterval time.Duration
	ImageIdle             time.Duration // see AgentOptions
	// Telemetry, MaxArtifactSize, ArtifactGrace, ArtifactGCInterval: see
	// MasterOptions.
	Telemetry          telemetry.Options
	MaxArtifactSize    int64
	ArtifactGrace      time.Duration
	ArtifactGCInterval time.Duration
	// MaxCompletedTasks: see kmaster.Config.
	MaxCompletedTasks int
	Logger            *slog.Logger
}

// Dev is a master and one agent in one process, sharing one actor system:
// the cluster `pando dev` runs. Frameworks are added by the caller.
type Dev struct {
	Master *Master
	Agent  *Agent
}

// StartDev starts a master and an agent. The agent reads artifacts straight
// from the master's store and serves sandboxes under the master's HTTP
// server at /agent.
func StartDev(ctx context.Context, opts DevOptions) (*Dev, error) {
	if opts.DataDir == "" {
		return nil, errors.New("dev: a data dir is required (--data-dir)")
	}
	m, err := StartMaster(MasterOptions{
		HTTPAddr: opts.HTTPAddr, RemotingAddr: opts.RemotingAddr,
		DataDir: filepath.Join(opts.DataDir, "master"), Logger: opts.Logger,
		Telemetry: opts.Telemetry, MaxArtifactSize: opts.MaxArtifactSize, ArtifactGrace: opts.ArtifactGrace,
		ArtifactGCInterval: opts.ArtifactGCInterval, Kernel: kmaster.Config{MaxCompletedTasks: opts.MaxCompletedTasks},
	})
	if err != nil {
		return nil, err
	}
	a, err := StartAgent(ctx, AgentOptions{
		System: m.System, Master: m.PID, Artifacts: artifacts.LocalSource(m.Artifacts),
		WorkDir: filepath.Join(opts.DataDir, "agent"), Resources: opts.Resources,
		Mux: m.Mux, MuxPrefix: "/agent", HTTPBase: m.URL + "/agent", Logger: opts.Logger,
		SandboxRetention: opts.SandboxRetention, Telemetry: m.Telemetry,
		MaxTaskOutputBytes: opts.MaxTaskOutputBytes, MaxEndedOutputBytes: opts.MaxEndedOutputBytes,
		MaxEndedSandboxes: opts.MaxEndedSandboxes,
		Containerd:        opts.Containerd, KillGrace: opts.KillGrace,
		ArtifactCacheBytes: opts.ArtifactCacheBytes, ArtifactCacheGrace: opts.ArtifactCacheGrace,
		ArtifactCacheInterval: opts.ArtifactCacheInterval, ImageIdle: opts.ImageIdle,
	})
	if err != nil {
		_ = m.Stop(ctx)
		return nil, err
	}
	return &Dev{Master: m, Agent: a}, nil
}

// Stop stops the agent, then the master.
func (d *Dev) Stop(ctx context.Context) error {
	return errors.Join(d.Agent.Stop(ctx), d.Master.Stop(ctx))
}
