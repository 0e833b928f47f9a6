package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/pandodc/pando/actors/election"
	amaster "github.com/pandodc/pando/actors/master"
	"github.com/pandodc/pando/actors/registry"
	"github.com/pandodc/pando/internal/httpjson"
	kmaster "github.com/pandodc/pando/kernel/master"
)

// HAOptions makes a master one of several, elected through Consul.
type HAOptions struct {
	// Consul is the Consul agent's address ("127.0.0.1:8500"); "" reads
	// CONSUL_HTTP_ADDR. The ACL token comes from CONSUL_HTTP_TOKEN.
	Consul string
	// ID names this master among the masters (default: hostname and
	// HTTP port).
	ID string
	// Prefix is the Consul KV prefix (default "pando").
	Prefix string
	// SessionTTL and LockDelay tune failover (defaults: election's).
	SessionTTL time.Duration
	LockDelay  time.Duration
	// RegistrySyncInterval is how often the leader writes what changed of its
	// agents to the registry (default DefaultRegistrySyncInterval).
	RegistrySyncInterval time.Duration
	// MirrorInterval is how often a stand-by copies what it lacks of the
	// leader's artifacts and image catalog (default DefaultMirrorInterval).
	MirrorInterval time.Duration
}

// haState is what a master contending for leadership knows.
type haState struct {
	id      string
	prefix  string
	consul  *api.Client
	elector *election.Elector
	ctx     context.Context // ends when the master stops
	cancel  context.CancelFunc

	syncInterval   time.Duration
	mirrorInterval time.Duration
	leading        chan struct{} // closed once this master leads
	lost           chan struct{} // closed when it steps down
	done           chan struct{} // closed when the event loop ends
	mirrorDone     chan struct{} // closed when the stand-by's mirroring ends

	mu       sync.Mutex
	leader   election.LeaderInfo // the leader known; ID "" when none
	isLeader bool
	lostWhy  error
	registry registry.Registry // this term's, once leading
}

// State is GET /api/v1/state: whether this master leads, and who does.
type State struct {
	ID        string `json:"id"`
	Leader    bool   `json:"leader"`
	Epoch     uint64 `json:"epoch,omitempty"`
	LeaderID  string `json:"leader_id,omitempty"`
	LeaderURL string `json:"leader_url,omitempty"`
	// HA is false for a master that leads alone (no Consul).
	HA bool `json:"ha"`
}

// startHA contends for leadership. Until this master leads, every API call
// but health, state and artifact reads is redirected (307) to the leader,
// or answered 503 while there is none; meanwhile it mirrors the leader's
// artifacts (mirrorLeader).
func (m *Master) startHA(opts HAOptions) error {
	consul, err := election.NewClient(opts.Consul)
	if err != nil {
		return err
	}
	id := opts.ID
	if id == "" {
		host, _ := os.Hostname()
		u, _ := url.Parse(m.URL)
		id = strings.NewReplacer(":", "-").Replace(host + "-" + u.Port())
	}
	remoting := ""
	if m.System.remote != nil {
		remoting = m.System.Address()
	}
	el, err := election.New(consul, election.Config{
		ID: id, HTTPURL: m.URL, RemotingAddr: remoting, Prefix: opts.Prefix,
		SessionTTL: opts.SessionTTL, LockDelay: opts.LockDelay, Logger: m.logger,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.ha = &haState{id: id, prefix: opts.Prefix, consul: consul, elector: el, ctx: ctx, cancel: cancel, syncInterval: opts.RegistrySyncInterval,
		mirrorInterval: opts.MirrorInterval, leading: make(chan struct{}), lost: make(chan struct{}),
		done: make(chan struct{}), mirrorDone: make(chan struct{})}
	m.Mux.HandleFunc("/", m.standby)
	m.serve() // Consul's health check of this master must be answered first
	if err := el.Start(ctx); err != nil {
		cancel()
		close(m.ha.done) // no election to follow: stopping must not wait for one
		close(m.ha.mirrorDone)
		return fmt.Errorf("master: joining the election in Consul at %s (is it running? see --consul): %w", opts.Consul, err)
	}
	go m.followElection()
	go m.mirrorLeader()
	return nil
}

// followElection acts on the elector's events: lead once elected; step
// down for good when the leadership is lost (the process then exits, as a
// Mesos master does, and its supervisor starts it again as a stand-by).
func (m *Master) followElection() {
	h := m.ha
	defer close(h.done)
	for ev := range h.elector.Events() {
		switch ev.Kind {
		case election.Leading:
			reg, err := registry.NewConsul(h.consul, h.prefix, ev.Term)
			if err != nil {
				m.stepDown(fmt.Errorf("elected, but could not open the registry: %w", err))
				return
			}
			h.mu.Lock()
			h.leader, h.isLeader, h.registry = ev.Leader, true, reg
			h.mu.Unlock()
			if err := m.lead(ev.Term.Epoch); err != nil {
				m.stepDown(fmt.Errorf("elected, but could not lead: %w", err))
				return
			}
			m.logger.Warn("master: leading", "epoch", ev.Term.Epoch)
			close(h.leading)
		case election.LeaderIs:
			h.mu.Lock()
			h.leader = ev.Leader
			h.mu.Unlock()
		case election.SteppedDown:
			m.stepDown(fmt.Errorf("stepped down: %s", ev.Reason))
			return
		}
	}
	m.stepDown(errors.New("the election ended"))
}

func (m *Master) stepDown(why error) {
	h := m.ha
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lostWhy != nil {
		return
	}
	h.lostWhy, h.isLeader = why, false
	m.logger.Warn("master: no longer leads", "why", why)
	close(h.lost)
}

// Leading is closed once this master leads (at once without HA).
func (m *Master) Leading() <-chan struct{} {
	if m.ha == nil {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return m.ha.leading
}

// Lost is closed when an HA master loses its leadership, or its place in
// the election; Err then says why. It is never closed without HA.
func (m *Master) Lost() <-chan struct{} {
	if m.ha == nil {
		return nil
	}
	return m.ha.lost
}

// Err says why Lost was closed.
func (m *Master) Err() error {
	if m.ha == nil {
		return nil
	}
	m.ha.mu.Lock()
	defer m.ha.mu.Unlock()
	return m.ha.lostWhy
}

// Elected says whether this master leads by election through Consul
// (rather than alone).
func (m *Master) Elected() bool { return m.ha != nil }

// Registry is the leading master's fenced registry: in Consul with HA (nil
// before this master leads), embedded in its data dir without.
func (m *Master) Registry() registry.Registry {
	if m.ha == nil {
		if m.lone == nil {
			return nil
		}
		return m.lone.registry
	}
	m.ha.mu.Lock()
	defer m.ha.mu.Unlock()
	return m.ha.registry
}

func (h *haState) stop(ctx context.Context) error {
	err := h.elector.Resign(ctx)
	h.cancel()
	for _, done := range []chan struct{}{h.done, h.mirrorDone} {
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
	return err
}

func (m *Master) state(w http.ResponseWriter, _ *http.Request) {
	httpjson.Write(w, http.StatusOK, m.State())
}

// State says whether this master leads, and who does.
func (m *Master) State() State {
	if m.ha == nil {
		return State{ID: m.URL, Leader: true, Epoch: m.opts.Kernel.Epoch, LeaderURL: m.URL}
	}
	h := m.ha
	h.mu.Lock()
	defer h.mu.Unlock()
	return State{
		ID: h.id, Leader: h.isLeader, Epoch: h.leader.Epoch, HA: true,
		LeaderID: h.leader.ID, LeaderURL: h.leader.HTTPURL,
	}
}

// standby answers what the mux has no route for: on a stand-by, every
// API call, redirected to the leader (307 keeps the method and body).
func (m *Master) standby(w http.ResponseWriter, r *http.Request) {
	st := m.State()
	switch {
	case st.Leader:
		httpjson.Error(w, http.StatusNotFound, "no such API: %s %s", r.Method, r.URL.Path)
	case st.LeaderURL == "":
		w.Header().Set("Retry-After", "1")
		httpjson.Error(w, http.StatusServiceUnavailable, "no master leads right now (an election is under way); retry in a moment")
	default:
		target := strings.TrimRight(st.LeaderURL, "/") + r.URL.RequestURI()
		http.Redirect(w, r, target, http.StatusTemporaryRedirect)
	}
}

// DefaultRegistrySyncInterval is how often a leading master writes the
// changes of its agents and frameworks to the registry
// (HAOptions.RegistrySyncInterval).
const DefaultRegistrySyncInterval = time.Second

// registryContents is what a new leader reads from the registry.
type registryContents struct {
	agents     []kmaster.KnownAgent
	frameworks []kmaster.KnownFramework
	weights    map[string]float64
}

// loadRegistry reads the agents, frameworks and weights the previous
// leader kept in reg (nothing without a registry), for the master actor to
// await. A damaged record is logged and skipped; a failed read keeps this
// master from leading (it would treat every running task as unknown).
func (m *Master) loadRegistry(reg registry.Registry) (registryContents, error) {
	var out registryContents
	if reg == nil {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	var err error
	out.agents, err = registry.LoadAgents(ctx, reg)
	if err != nil && out.agents == nil {
		return out, fmt.Errorf("master: reading the agents from the registry: %w", err)
	}
	if err != nil {
		m.logger.Error("master: some agents of the registry are unreadable; they register as new", "error", err)
	}
	out.frameworks, err = registry.LoadFrameworks(ctx, reg)
	if err != nil && out.frameworks == nil {
		return out, fmt.Errorf("master: reading the frameworks from the registry: %w", err)
	}
	if err != nil {
		m.logger.Error("master: some frameworks of the registry are unreadable", "error", err)
	}
	if out.weights, err = registry.LoadWeights(ctx, reg); err != nil {
		// Weights only tune the shares: lead with the default ones
		// rather than not at all, and say so.
		m.logger.Error("master: the roles' weights of the registry are unreadable; every role has weight 1 until they are set again", "error", err)
	}
	m.logger.Info("master: read the registry", "agents", len(out.agents), "frameworks", len(out.frameworks), "weights", len(out.weights), "took", time.Since(start))
	return out, nil
}

// syncRegistry writes the master's agents and frameworks to reg every
// interval while this master leads (until ctx ends or lost is closed):
// one diff in memory each time, writes only for what changed, batched
// (registry.AgentWriter and FrameworkWriter). With flushAtEnd (a master
// that leads alone, whose registry nobody else writes) it writes once more
// when ctx ends, so that a clean stop keeps what the last second changed.
func (m *Master) syncRegistry(ctx context.Context, lost <-chan struct{}, interval time.Duration, flushAtEnd bool, reg registry.Registry, loaded registryContents) {
	if interval <= 0 {
		interval = DefaultRegistrySyncInterval
	}
	agents := registry.NewAgentWriter(reg, loaded.agents)
	frameworks := registry.NewFrameworkWriter(reg, loaded.frameworks)
	sync := func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		now, err := amaster.Query(ctx, m.System.Actors, m.PID, func(v kmaster.Views, _ time.Time) registryContents {
			return registryContents{agents: v.RegistryAgents(), frameworks: v.RegistryFrameworks()}
		})
		if err == nil {
			_, err = agents.Sync(ctx, now.agents)
		}
		if err == nil {
			_, err = frameworks.Sync(ctx, now.frameworks)
		}
		return err
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if flushAtEnd {
				if err := sync(context.Background()); err != nil {
					m.logger.Warn("master: could not write the registry at stop", "error", err)
				}
			}
			return
		case <-lost:
			return
		case <-tick.C:
		}
		err := sync(ctx)
		if errors.Is(err, registry.ErrFenced) {
			m.logger.Warn("master: the registry fenced this master's writes: it no longer leads", "error", err)
			return
		}
		if err != nil {
			m.logger.Warn("master: cannot write to the registry; will retry", "error", err)
		}
	}
}
