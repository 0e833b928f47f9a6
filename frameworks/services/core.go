package services

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pandodc/pando/sdk"
)

// The scheduling logic is a pure core, like the kernel's: Core holds the
// apps, their versions, instances and deployments, takes commands (deploy,
// rollback, delete), offers, status updates and ticks with the time as a
// parameter, and leaves what the shell must do (kill, revive, suppress,
// persist, publish) in its Effects. It starts no goroutine, reads no clock
// and does no I/O.

// Instance is one task of an app.
type Instance struct {
	ID      string   `json:"id"`
	AppID   string   `json:"appId"`
	AgentID string   `json:"slaveId"`
	Host    string   `json:"host"`
	Ports   []uint32 `json:"ports,omitempty"`
	// Version is the app version the instance was launched as;
	// ConfigVersion the version of its task (lastConfigChangeAt).
	Version       string            `json:"version"`
	ConfigVersion string            `json:"configVersion"`
	State         string            `json:"state"`
	Healthy       *bool             `json:"healthy,omitempty"`
	Killing       bool              `json:"killing,omitempty"`
	StagedAt      time.Time         `json:"stagedAt"`
	StartedAt     time.Time         `json:"startedAt,omitzero"`
	Message       string            `json:"message,omitempty"`
	Attributes    map[string]string `json:"attributes,omitempty"`
}

// Deployment is a change of an app being rolled out.
type Deployment struct {
	ID           string    `json:"id"`
	Version      string    `json:"version"`
	AffectedApps []string  `json:"affectedApps"`
	FromVersion  string    `json:"fromVersion,omitempty"` // what a rollback deploys
	StartedAt    time.Time `json:"startedAt"`
	CurrentStep  int       `json:"currentStep"`
	TotalSteps   int       `json:"totalSteps"`
	Actions      []Action  `json:"currentActions"`
	Progress     Progress  `json:"progress"`
}

// Action is what a deployment does to an app.
type Action struct {
	Action string `json:"action"`
	App    string `json:"app"`
}

// Progress counts a deployment's instances against its bounds.
type Progress struct {
	Target     int `json:"target"`
	New        int `json:"new"`
	NewHealthy int `json:"newHealthy"`
	Old        int `json:"old"`
	MinHealthy int `json:"minHealthy"`
	MaxTotal   int `json:"maxTotal"`
}

// Event is one entry of the event stream, in Marathon's shape.
type Event map[string]any

// Kill is a task to kill.
type Kill struct{ TaskID, AgentID string }

// Effects is what the shell must carry out after a step.
type Effects struct {
	Kills            []Kill
	Revive, Suppress bool
	Dirty            []string // apps to write to the store
	Removed          []string // apps to delete from the store
	Events           []Event
}

// maxVersions bounds the versions kept per app.
const maxVersions = 50

type appState struct {
	versions    []App // oldest first; the last is the target
	inst        map[string]*Instance
	deploy      *Deployment
	delay       time.Duration
	next        time.Time // no launch before
	deleted     bool
	want        int // instances to launch now
	why         sdk.Why
	lastFailure string
}

func (s *appState) target() App { return s.versions[len(s.versions)-1] }

// healthy: running and, with a health check, reported healthy.
func (s *appState) healthy(in *Instance) bool {
	return in.State == sdk.TaskRunning.String() && (len(s.target().HealthChecks) == 0 || in.Healthy != nil && *in.Healthy)
}

// Core is the services framework's scheduling state.
type Core struct {
	apps       map[string]*appState
	order      []string          // creation order
	tasks      map[string]string // task id -> app id
	seq        int
	lastStamp  time.Time
	suppressed bool
	unsynced   bool // the driver's suppression is not known: say it again
	out        Effects
}

// NewCore returns an empty core.
func NewCore() *Core {
	return &Core{apps: map[string]*appState{}, tasks: map[string]string{}}
}

// Take returns the effects accumulated since the last Take.
func (c *Core) Take() Effects {
	e := c.out
	c.out = Effects{}
	e.Dirty = slices.Compact(slices.Sorted(slices.Values(e.Dirty)))
	return e
}

func (c *Core) emit(now time.Time, typ string, kv ...any) {
	e := Event{"eventType": typ, "timestamp": now.UTC().Format(time.RFC3339Nano)}
	for i := 0; i+1 < len(kv); i += 2 {
		e[kv[i].(string)] = kv[i+1]
	}
	c.out.Events = append(c.out.Events, e)
}

func (c *Core) dirty(id string) { c.out.Dirty = append(c.out.Dirty, id) }

func (c *Core) kill(in *Instance) {
	in.Killing = true
	c.out.Kills = append(c.out.Kills, Kill{TaskID: in.ID, AgentID: in.AgentID})
}

// stamp returns a version timestamp after every earlier one.
func (c *Core) stamp(now time.Time) string {
	t := now.UTC().Truncate(time.Millisecond)
	if !t.After(c.lastStamp) {
		t = c.lastStamp.Add(time.Millisecond)
	}
	c.lastStamp = t
	return t.Format("2006-01-02T15:04:05.000Z")
}

func (c *Core) live(id string) (*appState, error) {
	s, ok := c.apps[id]
	if !ok || s.deleted {
		return nil, fmt.Errorf("%w: app %q does not exist", ErrNotFound, id)
	}
	return s, nil
}

// Deploy makes app (normalized) a new version of its app, creating the
// app when create is set, and starts its deployment. An app under
// deployment is refused unless force. restart replaces every instance even
// if the task did not change.
func (c *Core) Deploy(now time.Time, app App, create, force, restart bool) (*Deployment, error) {
	s, exists := c.apps[app.ID]
	if exists && s.deleted {
		return nil, fmt.Errorf("%w: app %s is still being deleted", ErrConflict, app.ID)
	}
	if create && exists {
		return nil, fmt.Errorf("%w: app %s already exists (update it with PUT, or `pando app deploy` again)", ErrConflict, app.ID)
	}
	if exists && s.deploy != nil && !force {
		return nil, fmt.Errorf("%w: app %s is being deployed (%s): wait, roll it back, or force", ErrConflict, app.ID, s.deploy.ID)
	}
	if err := c.checkDependencies(app); err != nil {
		return nil, err
	}
	app = app.clone()
	app.Version = c.stamp(now)
	app.VersionInfo = &VersionInfo{LastScalingAt: app.Version, LastConfigChangeAt: app.Version}
	from := ""
	if exists {
		prev := s.target()
		from = prev.Version
		for _, v := range slices.Backward(s.versions) {
			if !restart && sameTask(v, app) {
				// Back to (or still at) a task that ran before: its
				// instances need no replacing.
				app.VersionInfo.LastConfigChangeAt = v.VersionInfo.LastConfigChangeAt
				break
			}
		}
	} else {
		s = &appState{inst: map[string]*Instance{}}
		c.apps[app.ID] = s
		c.order = append(c.order, app.ID)
	}
	s.versions = append(s.versions, app)
	if len(s.versions) > maxVersions {
		s.versions = slices.Delete(s.versions, 0, len(s.versions)-maxVersions)
	}
	c.seq++
	action := "RestartApplication"
	if !exists {
		action = "StartApplication"
	} else if app.VersionInfo.LastConfigChangeAt != app.Version {
		action = "ScaleApplication"
	}
	s.deploy = &Deployment{
		ID: "deployment-" + strconv.Itoa(c.seq), Version: app.Version, AffectedApps: []string{app.ID},
		FromVersion: from, StartedAt: now, CurrentStep: 1, TotalSteps: 1, Actions: []Action{{action, app.ID}},
	}
	s.delay, s.next = 0, time.Time{}
	c.dirty(app.ID)
	c.emit(now, "deployment_info", "appId", app.ID, "version", app.Version, "deploymentId", s.deploy.ID)
	d := *s.deploy
	c.plan(now)
	return &d, nil
}

func (c *Core) checkDependencies(app App) error {
	for _, d := range app.Dependencies {
		if _, err := c.live(d); err != nil {
			return fmt.Errorf("%w: dependencies: no app %s (create it first)", ErrInvalid, d)
		}
		seen := map[string]bool{}
		for todo := []string{d}; len(todo) > 0; todo = todo[1:] {
			if todo[0] == app.ID {
				return fmt.Errorf("%w: dependencies: %s depends on %s, which depends on %s", ErrInvalid, app.ID, d, app.ID)
			}
			if s, ok := c.apps[todo[0]]; ok && !seen[todo[0]] {
				seen[todo[0]] = true
				todo = append(todo, s.target().Dependencies...)
			}
		}
	}
	return nil
}

// Rollback deploys an earlier version again: version, or the one before
// the current one when empty.
func (c *Core) Rollback(now time.Time, id, version string) (*Deployment, error) {
	s, err := c.live(id)
	if err != nil {
		return nil, err
	}
	i := len(s.versions) - 2
	if version != "" {
		i = slices.IndexFunc(s.versions, func(a App) bool { return a.Version == version })
	}
	if i < 0 {
		return nil, fmt.Errorf("%w: app %s has no version %q to roll back to (see its versions)", ErrNotFound, id, version)
	}
	return c.Deploy(now, s.versions[i], false, true, false)
}

// Cancel ends a deployment: by rolling back to the version before it, or,
// with force, by leaving the app at the new version.
func (c *Core) Cancel(now time.Time, deploymentID string, force bool) (*Deployment, error) {
	for _, id := range c.order {
		s := c.apps[id]
		if s.deploy == nil || s.deploy.ID != deploymentID || s.deleted {
			continue
		}
		from := s.deploy.FromVersion
		s.deploy = nil
		c.dirty(id)
		c.emit(now, "deployment_failed", "appId", id, "deploymentId", deploymentID)
		if force || from == "" {
			return nil, nil
		}
		return c.Rollback(now, id, from)
	}
	return nil, fmt.Errorf("%w: no deployment %q in progress", ErrNotFound, deploymentID)
}

// Delete kills an app's instances and forgets it once they are gone.
func (c *Core) Delete(now time.Time, id string) error {
	s, err := c.live(id)
	if err != nil {
		return err
	}
	s.deleted, s.deploy = true, nil
	c.out.Removed = append(c.out.Removed, id)
	c.emit(now, "app_terminated_event", "appId", id)
	c.plan(now)
	return nil
}

// Tick lets time pass: backoffs end.
func (c *Core) Tick(now time.Time) { c.plan(now) }

// Update applies a task status.
func (c *Core) Update(now time.Time, st *sdk.TaskStatus) {
	id := st.GetTaskId()
	appID, ok := c.tasks[id]
	if !ok {
		if !sdk.IsTerminal(st.GetState()) && st.GetState() != sdk.TaskUnknown {
			// A task of ours we forgot (deleted app, lost state): kill it.
			c.out.Kills = append(c.out.Kills, Kill{TaskID: id, AgentID: st.GetAgentId()})
		}
		return
	}
	s := c.apps[appID]
	in := s.inst[id]
	in.State, in.Message = st.GetState().String(), st.GetMessage()
	c.emit(now, "status_update_event", "appId", appID, "taskId", id, "taskStatus", in.State, "host", in.Host, "ports", in.Ports, "version", in.Version, "message", in.Message)
	switch {
	case sdk.IsTerminal(st.GetState()) || st.GetState() == sdk.TaskUnknown:
		delete(s.inst, id)
		delete(c.tasks, id)
		if !in.Killing && !sdk.IsDroppedLaunch(st) && !s.deleted {
			// A failure: replace it, after a growing delay.
			t := s.target()
			s.delay = time.Duration(float64(s.delay) * t.BackoffFactor)
			if s.delay == 0 {
				s.delay = time.Duration(t.BackoffSeconds * float64(time.Second))
			}
			s.delay = min(s.delay, time.Duration(t.MaxLaunchDelay*float64(time.Second)))
			s.next = now.Add(s.delay)
			s.lastFailure = fmt.Sprintf("%s %s at %s: %s %s", id, in.State, now.UTC().Format(time.RFC3339), st.GetReason(), st.GetMessage())
		}
	default:
		if st.GetState() == sdk.TaskRunning && in.StartedAt.IsZero() {
			in.StartedAt = now
		}
		if st.Healthy != nil && (in.Healthy == nil || *in.Healthy != *st.Healthy) {
			h := *st.Healthy
			in.Healthy = &h
			c.emit(now, "health_status_changed_event", "appId", appID, "taskId", id, "alive", h)
		}
	}
	c.dirty(appID)
	c.plan(now)
}

// plan brings every app towards its target and says whether offers are
// wanted.
func (c *Core) plan(now time.Time) {
	wants := false
	for _, id := range slices.Clone(c.order) {
		s := c.apps[id]
		c.planApp(now, id, s)
		wants = wants || c.mayLaunch(now, s)
	}
	if wants && (c.suppressed || c.unsynced) {
		c.suppressed, c.out.Revive = false, true
	} else if !wants && (!c.suppressed || c.unsynced) {
		c.suppressed, c.out.Suppress = true, true
	}
	c.unsynced = false
}

// Resync, after subscribing, makes the next step say whether offers are
// wanted, whatever it said before, and kill again what is being killed
// (a kill sent while disconnected was dropped).
func (c *Core) Resync() {
	c.unsynced = true
	for _, s := range c.apps {
		for _, in := range s.inst {
			if in.Killing {
				c.kill(in)
			}
		}
	}
}

func (c *Core) mayLaunch(now time.Time, s *appState) bool {
	if s.deleted || s.want <= 0 || now.Before(s.next) {
		return false
	}
	for _, d := range s.target().Dependencies {
		if !c.ready(d) {
			return false
		}
	}
	return true
}

// ready: an app has all its instances of its target healthy.
func (c *Core) ready(id string) bool {
	s, ok := c.apps[id]
	if !ok || s.deleted {
		return false
	}
	n := 0
	for _, in := range s.inst {
		if in.ConfigVersion == s.target().VersionInfo.LastConfigChangeAt && s.healthy(in) {
			n++
		}
	}
	return n >= s.target().instances()
}

// planApp kills what the app's upgrade strategy allows and sets how many
// instances to launch. Old instances (another task version) are killed
// only while enough others are healthy; new ones are launched only while
// the total stays within the over-capacity bound.
func (c *Core) planApp(now time.Time, id string, s *appState) {
	if s.deleted {
		for _, in := range s.inst {
			if !in.Killing {
				c.kill(in)
			}
		}
		if len(s.inst) == 0 {
			delete(c.apps, id)
			c.order = slices.DeleteFunc(c.order, func(x string) bool { return x == id })
		}
		return
	}
	t := s.target()
	n := t.instances()
	var fresh, old []*Instance
	oldLeft := 0
	for _, in := range s.inst {
		if in.ConfigVersion != t.VersionInfo.LastConfigChangeAt {
			oldLeft++
		}
		if in.Killing {
			continue
		}
		if in.ConfigVersion == t.VersionInfo.LastConfigChangeAt {
			fresh = append(fresh, in)
		} else {
			old = append(old, in)
		}
	}
	// Least useful first: not healthy, then the youngest.
	rank := func(a, b *Instance) int {
		if ha, hb := s.healthy(a), s.healthy(b); ha != hb {
			if ha {
				return 1
			}
			return -1
		}
		return cmp.Or(b.StagedAt.Compare(a.StagedAt), strings.Compare(b.ID, a.ID))
	}
	slices.SortFunc(fresh, rank)
	slices.SortFunc(old, rank)
	for len(fresh) > n {
		c.kill(fresh[0])
		fresh = fresh[1:]
	}
	countHealthy := func(list []*Instance) (k int) {
		for _, in := range list {
			if s.healthy(in) {
				k++
			}
		}
		return k
	}
	newHealthy, oldHealthy := countHealthy(fresh), countHealthy(old)
	us := t.UpgradeStrategy
	minHealthy := int(math.Ceil(float64(n)**us.MinimumHealthCapacity - 1e-9))
	maxTotal := n + int(math.Floor(float64(n)**us.MaximumOverCapacity+1e-9))
	killed := 0
	for _, in := range old {
		if s.healthy(in) {
			if oldHealthy+newHealthy <= minHealthy {
				continue
			}
			oldHealthy--
		}
		c.kill(in)
		killed++
	}
	alive := len(fresh) + len(old) - killed
	s.want = max(0, min(n-len(fresh), maxTotal-alive))
	if s.want == 0 && len(fresh) < n && killed == 0 && newHealthy == len(fresh) {
		// minimumHealthCapacity 1 with maximumOverCapacity 0 could never
		// move: run one instance over capacity.
		s.want = 1
	}
	if d := s.deploy; d != nil {
		d.Progress = Progress{Target: n, New: len(fresh), NewHealthy: newHealthy, Old: oldLeft, MinHealthy: minHealthy, MaxTotal: maxTotal}
		if oldLeft == 0 && len(s.inst) == n && newHealthy == n { // and no kill unconfirmed
			c.emit(now, "deployment_success", "appId", id, "deploymentId", d.ID, "version", d.Version)
			s.deploy = nil
			c.dirty(id)
		}
	}
	// A backoff ends once an instance launched since the failure that
	// began it (s.next - s.delay) stayed healthy that long. Instances
	// older than the failure say nothing of it: one healthy instance
	// must not keep resetting the backoff of another that keeps failing
	// (a port the host holds, a bad agent), which would relaunch it
	// every second for ever.
	if s.delay > 0 {
		failedAt := s.next.Add(-s.delay)
		for _, in := range fresh {
			if s.healthy(in) && !in.StagedAt.Before(failedAt) && !in.StartedAt.IsZero() && now.Sub(in.StartedAt) >= s.delay {
				s.delay, s.next = 0, time.Time{}
				c.dirty(id)
				break
			}
		}
	}
}

// Known lists the instances to reconcile.
func (c *Core) Known() []*sdk.ReconcileTask {
	var out []*sdk.ReconcileTask
	for _, id := range c.order {
		for _, in := range c.apps[id].inst {
			out = append(out, &sdk.ReconcileTask{TaskId: in.ID, AgentId: in.AgentID})
		}
	}
	return out
}
