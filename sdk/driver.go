package sdk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/protobuf/proto"

	"github.com/pandodc/pando/internal/remoting"
	"github.com/pandodc/pando/internal/shell"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/sdk/client"
)

// Scheduler is what a framework implements. The driver invokes the
// callbacks one at a time on its actor goroutine; a callback that blocks
// stalls the driver, so long work belongs on another goroutine.
type Scheduler interface {
	// Subscribed is called once the master accepted the subscription.
	// reconnected is true when this driver had been subscribed before
	// (after a master failover or a lost connection); the scheduler should
	// then Reconcile the tasks it believes are running.
	Subscribed(d *Driver, frameworkID string, reconnected bool)
	// Offers hands over resources; each offer must be Accepted or
	// Declined (or it is rescinded after the master's offer timeout).
	Offers(d *Driver, offers []*kernelpb.Offer)
	// Rescinded says an offer is no longer valid.
	Rescinded(d *Driver, offerID string)
	// Update is a task status. Unless Config.ExplicitAck is set, the driver
	// acknowledges it after Update returns.
	Update(d *Driver, status *kernelpb.TaskStatus)
	// Error is the master refusing a message, in words.
	Error(d *Driver, message string)
	// Disconnected says the driver lost the master; it is already trying
	// to subscribe again. Outstanding offers are void.
	Disconnected(d *Driver, reason error)
}

// Errors passed to Scheduler.Disconnected; test with errors.Is.
var (
	ErrMasterTerminated = errors.New("sdk: the master actor terminated")
	ErrHeartbeatTimeout = errors.New("sdk: no message from the master within the heartbeat timeout")
	ErrMasterFailover   = errors.New("sdk: a new master was elected")
)

// Backoff bounds the wait between subscribe attempts: it starts at Min and
// doubles after each failed attempt up to Max.
type Backoff struct {
	Min, Max time.Duration
}

// Config configures a Driver.
type Config struct {
	// Framework describes the framework. Set Id to fail over a framework
	// that subscribed before (e.g. from a previous process); leave it empty
	// to be given a new id. FailoverTimeoutMs is how long the master keeps
	// the framework's tasks while it is disconnected.
	Framework *kernelpb.FrameworkInfo

	// System is the actor system the driver spawns its actor into. When
	// nil, the driver creates its own, quiet, system, with remoting on
	// ListenAddress if the master is in another process.
	System *actor.ActorSystem

	// Master is the master actor, e.g. actor.NewPID("127.0.0.1:5060",
	// "master"). Master wins over MasterURL.
	Master *actor.PID
	// MasterURL is the master's HTTP base URL (http://127.0.0.1:5050). The
	// driver asks GET <MasterURL>/api/v1/master for the leader's actor
	// address before every subscribe attempt, so it follows elections.
	// When neither Master nor MasterURL is set, MasterURL is
	// $PANDO_MASTER, or http://127.0.0.1:5050 (client.MasterFromEnv).
	MasterURL string

	// StopWithFailover makes Run stop the driver with failover when it is
	// interrupted (SIGINT, SIGTERM, ctx): the master keeps the framework's
	// tasks for Framework.FailoverTimeoutMs so a restarted framework
	// carries on. By default an interrupted framework is torn down and its
	// tasks killed. A framework that calls Driver.Finish is torn down.
	StopWithFailover bool

	// State, if set, keeps the framework id: NewDriver takes it from there
	// when Framework.Id is empty, and the driver saves the id the master
	// gives before the Subscribed callback runs, so a restarted framework
	// fails over to its old self and keeps its tasks.
	State *State

	// ExplicitAck turns off implicit acknowledgement: the scheduler must
	// call Acknowledge for every update that has an update_id. The zero
	// value (implicit) is what most schedulers want.
	ExplicitAck bool

	// HeartbeatTimeout is how long the driver waits without any message
	// from the master before it declares the master gone. Zero means four
	// heartbeat intervals as announced in Subscribed, or no timeout if the
	// master announces none (the actor watch still notices a dead master).
	HeartbeatTimeout time.Duration

	// ReconnectBackoff bounds the wait between subscribe attempts. Zero
	// values default to 250ms and 10s.
	ReconnectBackoff Backoff

	// ListenAddress ("host:port") is where the driver's own actor system
	// listens for the master when System is nil and the master is remote.
	// Defaults to "127.0.0.1:0" (any free port, loopback only): set it to
	// a reachable address when the master is on another machine.
	ListenAddress string
	// AdvertisedAddress is the address the master should use to reach the
	// driver, when it differs from ListenAddress (NAT, containers).
	AdvertisedAddress string

	// Logger receives the driver's logs; nil discards them. When the driver
	// creates its own actor system, protoactor's logs go here too, at
	// warning level and above only.
	Logger *slog.Logger
}

// subscribeReplyWait is the shortest time an attempt waits for Subscribed
// before subscribing again. A first subscription has no framework id, so
// resending it too eagerly could register the framework twice.
const subscribeReplyWait = 2 * time.Second

// Driver connects one Scheduler to the master. Create it with NewDriver.
//
// Callbacks receive a *Driver too: it is the same driver, marked as being
// on the actor's goroutine, so that Stop called from a callback does not
// wait for the actor (which is busy running that very callback).
type Driver struct {
	*driverCore
	onActor bool
}

type driverCore struct {
	cfg       Config
	sched     Scheduler
	log       *slog.Logger
	system    *actor.ActorSystem
	ownSystem bool
	remote    *remote.Remote
	http      *http.Client

	mu          sync.Mutex
	pid         *actor.PID
	frameworkID string
	started     bool
	stopping    bool
	finished    bool  // Finish was called
	result      error // what Finish was given

	// loop, when set, runs the protocol core synchronously instead of an
	// actor (see Loop).
	loop *Loop

	done     chan struct{}
	doneOnce sync.Once
	// shutDown is closed when Stop has done everything, the driver's own
	// actor system included.
	shutDown chan struct{}
	// cb is the handle passed to callbacks.
	cb *Driver
}

// NewDriver checks cfg and prepares a driver; Start connects it.
func NewDriver(cfg Config, s Scheduler) (*Driver, error) {
	if s == nil {
		return nil, errors.New("sdk: NewDriver needs a Scheduler")
	}
	if cfg.Framework == nil || cfg.Framework.GetName() == "" {
		return nil, errors.New("sdk: Config.Framework must be set and have a name")
	}
	if cfg.Master == nil && cfg.MasterURL == "" {
		cfg.MasterURL = client.MasterFromEnv("")
	}
	if cfg.MasterURL != "" && !strings.HasPrefix(cfg.MasterURL, "http://") && !strings.HasPrefix(cfg.MasterURL, "https://") {
		return nil, fmt.Errorf("sdk: MasterURL %q must start with http:// or https://", cfg.MasterURL)
	}
	if cfg.ReconnectBackoff.Min <= 0 {
		cfg.ReconnectBackoff.Min = 250 * time.Millisecond
	}
	if cfg.ReconnectBackoff.Max <= 0 {
		cfg.ReconnectBackoff.Max = 10 * time.Second
	}
	if cfg.ReconnectBackoff.Max < cfg.ReconnectBackoff.Min {
		cfg.ReconnectBackoff.Max = cfg.ReconnectBackoff.Min
	}
	// The driver owns its copy: the caller may reuse or mutate theirs.
	cfg.Framework = proto.Clone(cfg.Framework).(*kernelpb.FrameworkInfo)
	if cfg.State != nil && cfg.Framework.GetId() == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		id, _, err := cfg.State.frameworkID().Get(ctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("sdk: read the framework id: %w", err)
		}
		cfg.Framework.Id = id
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	core := &driverCore{
		cfg:         cfg,
		sched:       s,
		log:         log.With("framework", cfg.Framework.GetName()),
		frameworkID: cfg.Framework.GetId(),
		done:        make(chan struct{}),
		shutDown:    make(chan struct{}),
		http:        &http.Client{Timeout: 5 * time.Second},
	}
	core.cb = &Driver{driverCore: core, onActor: true}
	return &Driver{driverCore: core}, nil
}

// Start spawns the driver actor, which subscribes to the master and keeps
// subscribing until it succeeds or Stop is called. Start does not wait for
// Subscribed: that arrives as the Subscribed callback.
func (d *Driver) Start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started {
		return errors.New("sdk: driver already started")
	}
	system := d.cfg.System
	if system == nil {
		var err error
		system, err = d.newSystem()
		if err != nil {
			return err
		}
		d.ownSystem = true
	}
	if m := d.cfg.Master; m != nil && m.Address != system.Address() && system.Address() == "nonhost" {
		d.shutdownOwnSystem()
		return fmt.Errorf("sdk: the master %s is in another process but the actor system has no remoting: start remote.NewRemote(system, ...) first, or leave Config.System nil", m.Address)
	}
	d.system = system
	a := &driverActor{d: d, core: newProtocolCore(d.coreConfig())}
	props := actor.PropsFromProducer(func() actor.Actor { return a }, actor.WithDispatcher(shell.Dispatcher))
	d.pid = system.Root.SpawnPrefix(props, "driver-"+sanitize(d.cfg.Framework.GetName())+"-")
	d.started = true
	return nil
}

func (d *driverCore) coreConfig() coreConfig {
	return coreConfig{
		framework:        d.cfg.Framework,
		master:           d.cfg.Master,
		explicitAck:      d.cfg.ExplicitAck,
		heartbeatTimeout: d.cfg.HeartbeatTimeout,
		backoff:          d.cfg.ReconnectBackoff,
	}
}

func (d *driverCore) markDone() { d.doneOnce.Do(func() { close(d.done) }) }

// newSystem makes the driver's own actor system (internal/remoting, the
// bootstrap Pando's nodes use too): quiet, and remote-enabled when the
// master is (or may be) in another process.
func (d *driverCore) newSystem() (*actor.ActorSystem, error) {
	system := remoting.NewSystem(d.cfg.Logger)
	needRemote := d.cfg.MasterURL != "" || (d.cfg.Master != nil && d.cfg.Master.Address != system.Address())
	if !needRemote {
		return system, nil
	}
	addr := d.cfg.ListenAddress
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	r, err := remoting.Listen(system, addr, d.cfg.AdvertisedAddress)
	if err != nil {
		system.Shutdown()
		return nil, fmt.Errorf("sdk: ListenAddress: %w", err)
	}
	d.remote = r
	return system, nil
}

func (d *driverCore) shutdownOwnSystem() {
	if !d.ownSystem {
		return
	}
	if d.remote != nil {
		d.remote.Shutdown(false)
	}
	if d.system != nil {
		d.system.Shutdown()
	}
}

// Stop stops the driver. With failover=false the framework is finished: the
// driver sends Teardown and the master kills its tasks and forgets it. With
// failover=true the driver just goes away; the master keeps the tasks for
// the framework's failover timeout, so another driver can subscribe with
// the same framework id and carry on.
//
// Stop waits (up to 5s) for the driver actor to stop, except when called
// through the *Driver a Scheduler callback received, where waiting would
// deadlock; Done tells when it has stopped.
func (d *Driver) Stop(failover bool) {
	if d.loop != nil {
		d.loop.push(&stopMsg{failover: failover})
		return
	}
	d.mu.Lock()
	if !d.started || d.stopping {
		d.mu.Unlock()
		return
	}
	d.stopping = true
	pid, system := d.pid, d.system
	d.mu.Unlock()

	system.Root.Send(pid, &stopMsg{failover: failover})
	if d.onActor {
		// Shut down our own system once the actor is gone, off this
		// goroutine.
		go d.finishStop(failover)
		return
	}
	d.finishStop(failover)
}

// finishStop waits for the actor to stop, then shuts down the driver's own
// actor system and closes shutDown.
func (d *driverCore) finishStop(failover bool) {
	defer close(d.shutDown)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		d.log.Warn("driver actor did not stop within 5s")
	}
	if d.ownSystem {
		// Give remoting a moment to flush a Teardown to a remote master.
		if d.remote != nil && !failover {
			time.Sleep(100 * time.Millisecond)
		}
		d.shutdownOwnSystem()
	}
}

// Done is closed when the driver actor has stopped.
func (d *Driver) Done() <-chan struct{} { return d.done }

// Finish says the framework's work is done: the driver stops without
// failover (the master forgets the framework and kills what still runs),
// and Run returns err. Call it from a callback or any goroutine; the first
// call wins.
func (d *Driver) Finish(err error) {
	d.mu.Lock()
	if d.finished {
		d.mu.Unlock()
		return
	}
	d.finished, d.result = true, err
	d.mu.Unlock()
	d.Stop(false)
}

// Result reports whether Finish was called, and with what.
func (d *Driver) Result() (finished bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.finished, d.result
}

// FrameworkID returns the framework id the master gave, or the configured
// one before the first Subscribed; "" if neither.
func (d *Driver) FrameworkID() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.frameworkID
}

// PID returns the driver actor's PID (nil before Start).
func (d *Driver) PID() *actor.PID {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pid
}

// Accept launches tasks on the resources of the given offers (all from one
// agent). Resources of the offers that the tasks do not use go back to the
// master, which will not re-offer them to this framework for
// filters.refuse_seconds (nil filters: the master's default).
func (d *Driver) Accept(offerIDs []string, tasks []*kernelpb.TaskInfo, filters *kernelpb.Filters) {
	d.send(&callAccept{offerIDs: offerIDs, tasks: tasks, filters: filters})
}

// Decline gives offers back unused; filters.refuse_seconds keeps the
// master from re-offering those agents' resources for that long.
func (d *Driver) Decline(offerIDs []string, filters *kernelpb.Filters) {
	d.send(&callDecline{offerIDs: offerIDs, filters: filters})
}

// Acknowledge confirms a status update (only needed with ExplicitAck;
// updates without update_id need no acknowledgement and are ignored).
func (d *Driver) Acknowledge(status *kernelpb.TaskStatus) {
	if status.GetUpdateId() == "" {
		return
	}
	d.send(&callAck{status: status})
}

// Reconcile asks for the latest state of tasks; an empty list asks for all
// of the framework's tasks. Answers arrive as Update callbacks.
func (d *Driver) Reconcile(tasks []*kernelpb.ReconcileTask) {
	d.send(&callReconcile{tasks: tasks})
}

// Kill asks the master to kill a task; its terminal status arrives as an
// Update.
func (d *Driver) Kill(taskID, agentID string) {
	d.send(&callKill{taskID: taskID, agentID: agentID})
}

// Suppress asks the master to stop sending offers until Revive. The driver
// remembers it and suppresses again after re-subscribing.
func (d *Driver) Suppress() { d.send(&callSuppress{}) }

// Revive asks for offers again and clears the framework's decline filters.
func (d *Driver) Revive() { d.send(&callRevive{}) }

func (d *driverCore) send(msg any) {
	if d.loop != nil {
		d.loop.push(msg)
		return
	}
	d.mu.Lock()
	pid, system, ok := d.pid, d.system, d.started && !d.stopping
	d.mu.Unlock()
	if !ok {
		d.log.Debug("driver call dropped: driver not running", "call", fmt.Sprintf("%T", msg))
		return
	}
	system.Root.Send(pid, msg)
}

// frameworkIDChanged reports whether id differs from the driver's
// framework id.
func (d *driverCore) frameworkIDChanged(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.frameworkID != id
}

func (d *driverCore) setFrameworkID(id string) {
	d.mu.Lock()
	d.frameworkID = id
	d.mu.Unlock()
}

// MasterInfo is the answer of GET /api/v1/master.
type MasterInfo = client.MasterInfo

// ResolveMaster asks the master at baseURL (http://host:5050) for the
// leading master's actor PID. httpClient nil means http.DefaultClient.
func ResolveMaster(ctx context.Context, httpClient *http.Client, baseURL string) (*actor.PID, MasterInfo, error) {
	urls := client.SplitMasters(baseURL)
	if len(urls) <= 1 {
		return resolveOne(ctx, httpClient, baseURL)
	}
	// Several masters (elected through Consul): any of them leads the
	// way, since stand-bys redirect to the leader; the first answer wins.
	var errs []error
	for _, u := range urls {
		pid, info, err := resolveOne(ctx, httpClient, u)
		if err == nil {
			return pid, info, nil
		}
		errs = append(errs, err)
	}
	return nil, MasterInfo{}, errors.Join(errs...)
}

func resolveOne(ctx context.Context, httpClient *http.Client, baseURL string) (*actor.PID, MasterInfo, error) {
	c, err := client.NewWithHTTP(baseURL, httpClient)
	if err != nil {
		return nil, MasterInfo{}, fmt.Errorf("sdk: find master: %w", err)
	}
	info, err := c.Master(ctx)
	if err != nil {
		return nil, info, fmt.Errorf("sdk: find master at %s: %w", c.Base(), err)
	}
	if info.ActorAddress == "" || info.ActorID == "" {
		return nil, info, fmt.Errorf("sdk: find master at %s: answer lacks actor_address or actor_id (no leader yet?)", c.Base())
	}
	return actor.NewPID(info.ActorAddress, info.ActorID), info, nil
}

// sanitize keeps actor names readable and free of the separators
// protoactor uses itself.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}
