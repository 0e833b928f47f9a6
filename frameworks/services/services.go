package services

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/pandodc/pando/sdk"
	"github.com/pandodc/pando/sdk/client"
	"github.com/pandodc/pando/sdk/store"
)

// APIPrefix is where Pando's master mounts the framework's API; the
// Marathon paths (/v2/apps, ...) are under it.
const APIPrefix = "/api/v1/services"

// Config configures a Framework.
type Config struct {
	// Store keeps apps, versions, instances and the framework id. Required.
	Store store.Store
	// Master, if set, is asked at deploy time whether an app can run:
	// its module or image exists and some agent is large enough.
	Master *client.Client
	Logger *slog.Logger
	// FrameworkName defaults to "services"; it names the store prefix.
	FrameworkName string
	// Role the framework subscribes in; "" means "*".
	Role string
	// FailoverTimeout is how long the master keeps the tasks while the
	// framework is away; default one week, as Marathon's.
	FailoverTimeout time.Duration
	// Tick is how often backoffs are looked at; default 250ms.
	Tick time.Duration
}

type meta struct {
	Seq int `json:"seq"`
}

// Framework is the services framework: the Core behind a driver, a store
// and an HTTP API. It implements sdk.Scheduler.
type Framework struct {
	cfg   Config
	log   *slog.Logger
	state *sdk.State
	apps  sdk.Map[Record]
	meta  sdk.Value[meta]

	mu   sync.Mutex
	core *Core
	drv  *sdk.Driver
	subs map[chan Event]struct{}

	stop      chan struct{}
	ticker    sync.WaitGroup
	closeOnce sync.Once
}

var _ sdk.Scheduler = (*Framework)(nil)

// New loads the apps from the store.
func New(cfg Config) (*Framework, error) {
	if cfg.Store == nil {
		return nil, errors.New("services: Config.Store is required")
	}
	cfg.FrameworkName = cmp.Or(cfg.FrameworkName, "services")
	cfg.FailoverTimeout = cmp.Or(max(cfg.FailoverTimeout, 0), 7*24*time.Hour)
	cfg.Tick = cmp.Or(max(cfg.Tick, 0), 250*time.Millisecond)
	cfg.Logger = cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	st, err := sdk.NewState(cfg.Store, cfg.FrameworkName)
	if err != nil {
		return nil, fmt.Errorf("services: %w", err)
	}
	f := &Framework{
		cfg: cfg, log: cfg.Logger.With("framework", cfg.FrameworkName), state: st,
		apps: sdk.MapOf[Record](st, "apps"), meta: sdk.ValueOf[meta](st, "meta"),
		core: NewCore(), subs: map[chan Event]struct{}{}, stop: make(chan struct{}),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recs, err := f.apps.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("services: load apps: %w", err)
	}
	m, _, err := f.meta.Get(ctx)
	if err != nil {
		return nil, fmt.Errorf("services: load: %w", err)
	}
	f.core.Restore(slices.Collect(maps.Values(recs)), m.Seq)
	return f, nil
}

// Start subscribes through a driver configured by dc (System, Master or
// MasterURL, logger); Framework and State are filled in here.
func (f *Framework) Start(dc sdk.Config) error {
	dc.Framework = &sdk.FrameworkInfo{Name: f.cfg.FrameworkName, Roles: []string{cmp.Or(f.cfg.Role, "*")}, FailoverTimeoutMs: f.cfg.FailoverTimeout.Milliseconds()}
	dc.State, dc.Logger = f.state, cmp.Or(dc.Logger, f.cfg.Logger)
	d, err := sdk.NewDriver(dc, f)
	if err != nil {
		return fmt.Errorf("services: %w", err)
	}
	f.mu.Lock()
	f.drv = d
	f.mu.Unlock()
	if err := d.Start(); err != nil {
		return fmt.Errorf("services: start driver: %w", err)
	}
	f.ticker.Add(1)
	go f.tick()
	return nil
}

func (f *Framework) tick() {
	defer f.ticker.Done()
	t := time.NewTicker(f.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
			f.step(func(now time.Time) { f.core.Tick(now) })
		}
	}
}

// Close stops the driver with failover: the master keeps the tasks, and a
// framework started again on the same store carries on with them.
func (f *Framework) Close() error {
	f.closeOnce.Do(func() {
		close(f.stop)
		f.ticker.Wait()
		f.mu.Lock()
		d := f.drv
		for ch := range f.subs {
			close(ch)
			delete(f.subs, ch)
		}
		f.mu.Unlock()
		if d != nil {
			d.Stop(true)
		}
	})
	return nil
}

// step runs one change of the core under the lock and carries out its
// effects: the store first, so that nothing the API reported is lost.
func (f *Framework) step(change func(now time.Time)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(time.Now())
	e := f.core.Take()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	for _, id := range e.Dirty {
		if r, ok := f.core.Record(id); ok {
			errs = append(errs, f.apps.Put(ctx, url.PathEscape(id), r))
		}
	}
	for _, id := range e.Removed {
		errs = append(errs, f.apps.Delete(ctx, url.PathEscape(id)))
	}
	if len(e.Dirty) > 0 {
		errs = append(errs, f.meta.Put(ctx, meta{Seq: f.core.Seq()}))
	}
	if d := f.drv; d != nil {
		for _, k := range e.Kills {
			d.Kill(k.TaskID, k.AgentID)
		}
		if e.Revive {
			d.Revive()
		}
		if e.Suppress {
			d.Suppress()
		}
	}
	for _, ev := range e.Events {
		for ch := range f.subs {
			select {
			case ch <- ev:
			default: // a slow reader misses events rather than stall us
			}
		}
	}
	err := errors.Join(errs...)
	if err != nil {
		f.log.Error("cannot save apps", "err", err)
	}
	return err
}

// Subscribed reconciles every known instance, and asks for all tasks so
// that strays (of apps deleted meanwhile) are killed.
func (f *Framework) Subscribed(d *sdk.Driver, id string, reconnected bool) {
	f.log.Info("subscribed", "framework_id", id, "reconnected", reconnected)
	var known []*sdk.ReconcileTask
	f.step(func(now time.Time) {
		known = f.core.Known()
		f.core.Resync()
		f.core.Tick(now)
	})
	d.Reconcile(known)
	d.Reconcile(nil)
}

// Offers launches what the apps want and declines the rest briefly.
func (f *Framework) Offers(d *sdk.Driver, offers []*sdk.Offer) {
	var ans Answer
	f.step(func(now time.Time) { ans = f.core.Offers(now, offers) })
	for _, o := range offers {
		if tasks := ans.Accept[o.GetId()]; len(tasks) > 0 {
			d.Accept([]string{o.GetId()}, tasks, nil)
		}
	}
	if len(ans.Decline) > 0 {
		d.Decline(ans.Decline, &sdk.Filters{RefuseSeconds: 2})
	}
}

// Update applies a task status.
func (f *Framework) Update(_ *sdk.Driver, st *sdk.TaskStatus) {
	f.step(func(now time.Time) { f.core.Update(now, st) })
}

func (f *Framework) Rescinded(*sdk.Driver, string) {}
func (f *Framework) Error(_ *sdk.Driver, msg string) {
	f.log.Warn("master refused a message", "error", msg)
}
func (f *Framework) Disconnected(_ *sdk.Driver, err error) {
	f.log.Warn("disconnected", "reason", err)
}

// check refuses an app the cluster cannot run: a module or image the
// master does not have, or an app larger than every agent.
func (f *Framework) check(ctx context.Context, a *App) error {
	c := f.cfg.Master
	if c == nil {
		return nil
	}
	runtime := "" // every agent runs WASM
	if a.Module != "" {
		if err := c.CheckArtifact(ctx, a.Module); errors.Is(err, client.ErrArtifactNotFound) {
			return fmt.Errorf("%w: module: %v", ErrInvalid, err)
		} else if err != nil {
			return fmt.Errorf("module %s: %w", a.Module, err)
		}
	} else {
		im, err := c.ResolveImage(ctx, a.Image)
		if errors.Is(err, client.ErrImageNotFound) {
			return fmt.Errorf("%w: image: %v", ErrInvalid, err)
		} else if err != nil {
			return fmt.Errorf("image %s: %w", a.Image, err)
		}
		a.ResolvedImage = &ResolvedImage{Digest: im.Digest, Name: im.Name}
		runtime = "container"
	}
	need, err := taskResources(*a)
	if err != nil {
		return fmt.Errorf("%w: resources: %v", ErrInvalid, err)
	}
	agents, err := c.Agents(ctx)
	if err != nil {
		f.log.Warn("cannot list agents to check an app", "err", err)
		return nil
	}
	if err := sdk.NeverFits(agents, need, runtime); err != nil {
		return fmt.Errorf("%w: %w", ErrImpossible, err)
	}
	return nil
}
