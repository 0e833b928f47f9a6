package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pandodc/pando/actors/artifacts"
	amaster "github.com/pandodc/pando/actors/master"
	"github.com/pandodc/pando/actors/registry"
	"github.com/pandodc/pando/actors/telemetry"
	"github.com/pandodc/pando/internal/httpjson"
	kmaster "github.com/pandodc/pando/kernel/master"
	"github.com/pandodc/pando/sdk/client"
	"github.com/pandodc/pando/sdk/store"
)

// Version is Pando's version, reported by the API.
var Version = "0.1.0-dev"

// MasterOptions configures a master process.
type MasterOptions struct {
	// HTTPAddr is where the API listens ("127.0.0.1:5050"; port 0: any).
	HTTPAddr string
	// RemotingAddr is where the actor system listens for agents and
	// framework drivers in other processes ("" = this process only).
	RemotingAddr string
	// DataDir holds the artifacts and, without HA, the registry
	// (RegistryFile).
	DataDir string
	Kernel  kmaster.Config
	// AllocationInterval is the period of the allocation timer.
	AllocationInterval time.Duration
	Logger             *slog.Logger
	Telemetry          telemetry.Options
	// HA, if set, elects the leading master through Consul.
	HA *HAOptions
	// MaxArtifactSize bounds one uploaded artifact in bytes; 0 means
	// artifacts.MaxSize.
	MaxArtifactSize int64
	// ArtifactGrace is how long an artifact no lease, task or image needs
	// is kept before it is collected; 0 means DefaultArtifactGrace.
	ArtifactGrace time.Duration
	// ArtifactGCInterval is how often the master collects; 0 means
	// DefaultArtifactGCInterval.
	ArtifactGCInterval time.Duration
}

// Defaults of the artifact collection.
const (
	DefaultArtifactGrace      = time.Hour
	DefaultArtifactGCInterval = 10 * time.Minute
)

// Master is a running master: actor, HTTP API, artifacts. With HA it
// starts as a stand-by: PID is nil and the API redirects to the leader
// until Leading is closed.
type Master struct {
	System    *System
	PID       *actor.PID
	URL       string
	Mux       *http.ServeMux
	Artifacts *artifacts.Store
	Images    *artifacts.Images
	Telemetry *telemetry.Telemetry
	// Collector deletes artifacts no one needs; set once leading.
	Collector *amaster.Collector
	stopGC    context.CancelFunc
	server    *http.Server
	listener  net.Listener
	opts      MasterOptions
	metrics   *amaster.Metrics
	logger    *slog.Logger
	ha        *haState      // nil without HA
	lone      *loneRegistry // without HA: the registry in the data dir
}

// loneRegistry is the registry of a master that leads alone: embedded in
// a bbolt file of its data dir (RegistryFile), synced until stop.
type loneRegistry struct {
	registry *registry.Embedded
	file     *store.Bolt
	stopSync context.CancelFunc
	synced   chan struct{} // closed when the sync has written its last
}

// RegistryFile is the file, in a master's data dir, of its registry when
// it leads alone (no Consul): the agents it admitted, the frameworks, the
// roles' weights. A master restarted on the data dir reads them back and
// waits for those agents to re-register, as an elected one does.
const RegistryFile = "registry.db"

// openLoneRegistry opens the registry of a master without HA at an epoch
// of at least atLeast.
func openLoneRegistry(dataDir string, atLeast uint64) (*loneRegistry, error) {
	file, err := store.OpenBolt(filepath.Join(dataDir, RegistryFile))
	if err != nil {
		return nil, fmt.Errorf("master: opening the registry: %w", err)
	}
	reg, err := registry.OpenEmbedded(context.Background(), file, atLeast)
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("master: opening the registry: %w", err)
	}
	return &loneRegistry{registry: reg, file: file}, nil
}

// DefaultReregistrationWindow is how long an elected master waits for the
// agents to re-register before it answers a reconciliation of a task it
// does not know with LOST (kernel/master Config.ReregistrationWindow).
const DefaultReregistrationWindow = 20 * time.Second

// StartMaster starts a master and serves its API. Without HA it leads at
// once; with opts.HA it contends for leadership through Consul.
func StartMaster(opts MasterOptions) (*Master, error) {
	m, err := newMaster(opts)
	if err != nil {
		return nil, err
	}
	if opts.HA == nil {
		// Without an elected leader the epoch is the start time, and
		// always more than the registry's last: a master restarted later
		// fences out messages meant for the old one.
		if m.lone, err = openLoneRegistry(opts.DataDir, max(opts.Kernel.Epoch, uint64(time.Now().Unix()))); err != nil {
			m.shutdown(context.Background())
			return nil, err
		}
		if err := m.lead(m.lone.registry.Epoch()); err != nil {
			m.shutdown(context.Background())
			return nil, err
		}
		m.serve()
		return m, nil
	}
	if err := m.startHA(*opts.HA); err != nil {
		m.shutdown(context.Background())
		return nil, err
	}
	return m, nil
}

// newMaster opens what a master has whether or not it leads: its store,
// telemetry, HTTP listener and actor system.
func newMaster(opts MasterOptions) (*Master, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.DataDir == "" {
		return nil, errors.New("master: a data dir is required (--data-dir)")
	}
	store, err := artifacts.OpenStore(filepath.Join(opts.DataDir, "artifacts"))
	if err != nil {
		return nil, err
	}
	images, err := artifacts.OpenImages(store, filepath.Join(opts.DataDir, "images.json"))
	if err != nil {
		return nil, err
	}
	tel, err := telemetry.New(opts.Telemetry)
	if err != nil {
		return nil, err
	}
	metrics, err := amaster.NewMetrics(tel)
	if err != nil {
		return nil, fmt.Errorf("master metrics: %w", err)
	}
	listener, err := net.Listen("tcp", opts.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("master: cannot listen for HTTP on %s: %w (is another pando running? pick another with --http)", opts.HTTPAddr, err)
	}
	sys, err := NewSystem(logger, opts.RemotingAddr)
	if err != nil {
		listener.Close()
		return nil, err
	}
	m := &Master{
		System: sys, Artifacts: store, Images: images, Telemetry: tel,
		URL: "http://" + listener.Addr().String(), Mux: http.NewServeMux(), listener: listener,
		opts: opts, metrics: metrics, logger: logger,
	}
	m.Mux.Handle("GET /metrics", tel.Handler())
	m.Mux.HandleFunc("GET /api/v1/health", func(w http.ResponseWriter, _ *http.Request) {
		httpjson.Write(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	m.Mux.HandleFunc("GET /api/v1/state", m.state)
	files := &amaster.ArtifactFiles{Store: store, Missing: m.artifactMissing}
	files.Register(m.Mux)
	m.server = &http.Server{Handler: m.Mux, ReadHeaderTimeout: 10 * time.Second}
	return m, nil
}

// serve starts answering HTTP.
func (m *Master) serve() {
	go func() {
		if err := m.server.Serve(m.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.logger.Error("master: HTTP server stopped", "error", err)
		}
	}()
}

// lead spawns the master actor at epoch and mounts the API that needs it.
func (m *Master) lead(epoch uint64) error {
	m.opts.Kernel.Epoch = epoch
	reg := m.Registry()
	if reg != nil && m.opts.Kernel.ReregistrationWindow == 0 {
		// A master with a registry may be taking over (elected, or
		// restarted): give the agents time to re-register before it
		// calls tasks it does not know LOST.
		m.opts.Kernel.ReregistrationWindow = DefaultReregistrationWindow
	}
	opts := m.opts
	known, err := m.loadRegistry(reg)
	if err != nil {
		return err
	}
	pid, err := m.System.Actors.Root.SpawnNamed(amaster.Props(amaster.Config{
		Kernel:             opts.Kernel,
		AllocationInterval: opts.AllocationInterval,
		Logger:             m.logger,
		Metrics:            m.metrics,
		KnownAgents:        known.agents,
		KnownFrameworks:    known.frameworks,
		KnownWeights:       known.weights,
	}), amaster.ActorID)
	if err != nil {
		return fmt.Errorf("master: spawning the master actor: %w", err)
	}
	m.PID = pid
	grace := cmp.Or(opts.ArtifactGrace, DefaultArtifactGrace)
	m.Collector = amaster.NewCollector(m.Artifacts, m.Images, grace, time.Now())
	m.Collector.System, m.Collector.Master, m.Collector.Logger = m.System.Actors, pid, m.logger
	gcCtx, stopGC := context.WithCancel(context.Background())
	m.stopGC = stopGC
	go m.Collector.Run(gcCtx, cmp.Or(opts.ArtifactGCInterval, DefaultArtifactGCInterval))
	switch {
	case m.ha != nil:
		go m.syncRegistry(m.ha.ctx, m.ha.lost, m.ha.syncInterval, false, reg, known)
	case m.lone != nil:
		ctx, stop := context.WithCancel(context.Background())
		m.lone.stopSync, m.lone.synced = stop, make(chan struct{})
		go func() {
			defer close(m.lone.synced)
			m.syncRegistry(ctx, nil, 0, true, reg, known)
		}()
	}
	api := &amaster.API{
		System: m.System.Actors, Master: pid, Artifacts: m.Artifacts, Images: m.Images, Logger: m.logger,
		MaxArtifactSize: opts.MaxArtifactSize, Collector: m.Collector,
		Info: client.MasterInfo{
			Version: Version, Epoch: epoch, ActorAddress: pid.Address,
			ActorID: pid.Id, StartedAt: time.Now().UTC(),
		},
	}
	api.Register(m.Mux)
	weights := &amaster.Weights{API: api}
	if reg != nil {
		weights.Save = func(ctx context.Context, w map[string]float64) error { return registry.SaveWeights(ctx, reg, w) }
	}
	weights.Register(m.Mux)
	return nil
}

// Stop shuts the master down.
func (m *Master) Stop(ctx context.Context) error {
	return m.shutdown(ctx)
}

func (m *Master) shutdown(ctx context.Context) error {
	if m.stopGC != nil {
		m.stopGC()
	}
	err := m.server.Shutdown(ctx)
	if m.ha != nil {
		err = errors.Join(err, m.ha.stop(ctx))
	}
	if m.lone != nil && m.lone.stopSync != nil {
		m.lone.stopSync()
		<-m.lone.synced // its last write asks the actor: before it stops
	}
	if m.PID != nil {
		_ = m.System.Actors.Root.StopFuture(m.PID).Wait()
	}
	if m.lone != nil {
		err = errors.Join(err, m.lone.registry.Close(), m.lone.file.Close())
	}
	m.System.Shutdown()
	return errors.Join(err, m.Telemetry.Shutdown(ctx))
}

// ensureDir makes dir and says which flag names it if that fails.
func ensureDir(dir, flag string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create %s (%s): %w", dir, flag, err)
	}
	return nil
}
