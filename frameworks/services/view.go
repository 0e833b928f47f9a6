package services

import (
	"slices"
	"strings"
	"time"
)

// AppStatus is an app as GET /v2/apps shows it: the current version and
// its instances.
type AppStatus struct {
	App
	TasksStaged     int          `json:"tasksStaged"`
	TasksRunning    int          `json:"tasksRunning"`
	TasksHealthy    int          `json:"tasksHealthy"`
	TasksUnhealthy  int          `json:"tasksUnhealthy"`
	Deployments     []Deployment `json:"deployments"`
	Tasks           []Instance   `json:"tasks"`
	Waiting         string       `json:"waiting,omitempty"` // why instances are not launching
	LastTaskFailure string       `json:"lastTaskFailure,omitempty"`
}

// Apps returns every app, in creation order.
func (c *Core) Apps(now time.Time) []AppStatus {
	out := []AppStatus{}
	for _, id := range c.order {
		if s := c.apps[id]; !s.deleted {
			out = append(out, c.status(now, s))
		}
	}
	return out
}

// App returns one app.
func (c *Core) App(now time.Time, id string) (AppStatus, error) {
	s, err := c.live(id)
	if err != nil {
		return AppStatus{}, err
	}
	return c.status(now, s), nil
}

func (c *Core) status(now time.Time, s *appState) AppStatus {
	st := AppStatus{App: s.target(), Deployments: []Deployment{}, Tasks: []Instance{}, LastTaskFailure: s.lastFailure}
	for _, in := range s.inst {
		st.Tasks = append(st.Tasks, *in)
		switch {
		case in.State != "TASK_RUNNING":
			st.TasksStaged++
			continue
		case s.healthy(in):
			st.TasksHealthy++
		case in.Healthy != nil:
			st.TasksUnhealthy++
		}
		st.TasksRunning++
	}
	slices.SortFunc(st.Tasks, func(a, b Instance) int { return a.StagedAt.Compare(b.StagedAt) })
	if s.deploy != nil {
		st.Deployments = append(st.Deployments, *s.deploy)
	}
	if s.want > 0 {
		switch {
		case now.Before(s.next):
			st.Waiting = "backing off after a failure: next launch at " + s.next.UTC().Format(time.RFC3339)
		case !c.mayLaunch(now, s):
			st.Waiting = "waiting for its dependencies to be healthy: " + strings.Join(s.target().Dependencies, ", ")
		case !s.why.IsZero():
			st.Waiting = "waiting for an offer that fits; declined " + s.why.String()
		default:
			st.Waiting = "waiting for offers"
		}
	}
	return st
}

// Versions lists an app's versions, oldest first.
func (c *Core) Versions(id string) ([]string, error) {
	s, err := c.live(id)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(s.versions))
	for i, v := range s.versions {
		out[i] = v.Version
	}
	return out, nil
}

// Version returns one version of an app.
func (c *Core) Version(id, version string) (App, error) {
	s, err := c.live(id)
	if err != nil {
		return App{}, err
	}
	for _, v := range s.versions {
		if v.Version == version {
			return v, nil
		}
	}
	return App{}, ErrNotFound
}

// Deployments lists the deployments in progress.
func (c *Core) Deployments() []Deployment {
	out := []Deployment{}
	for _, id := range c.order {
		if d := c.apps[id].deploy; d != nil {
			out = append(out, *d)
		}
	}
	return out
}

// Record is an app as the store keeps it.
type Record struct {
	Versions    []App         `json:"versions"`
	Instances   []*Instance   `json:"instances,omitempty"`
	Deployment  *Deployment   `json:"deployment,omitempty"`
	Delay       time.Duration `json:"delay,omitempty"`
	Next        time.Time     `json:"next,omitzero"`
	LastFailure string        `json:"lastFailure,omitempty"`
}

// Record returns an app's record (false once it is deleted).
func (c *Core) Record(id string) (Record, bool) {
	s, ok := c.apps[id]
	if !ok || s.deleted {
		return Record{}, false
	}
	r := Record{Versions: s.versions, Deployment: s.deploy, Delay: s.delay, Next: s.next, LastFailure: s.lastFailure}
	for _, in := range s.inst {
		cp := *in
		r.Instances = append(r.Instances, &cp)
	}
	return r, true
}

// Seq is the counter task and deployment ids come from.
func (c *Core) Seq() int { return c.seq }

// Restore loads apps saved by Record, and the id counter.
func (c *Core) Restore(recs []Record, seq int) {
	c.seq = max(c.seq, seq)
	for _, r := range recs {
		if len(r.Versions) == 0 {
			continue
		}
		id := r.Versions[0].ID
		s := &appState{versions: r.Versions, inst: map[string]*Instance{}, deploy: r.Deployment, delay: r.Delay, next: r.Next, lastFailure: r.LastFailure}
		for _, in := range r.Instances {
			s.inst[in.ID] = in
			c.tasks[in.ID] = id
		}
		c.apps[id] = s
		c.order = append(c.order, id)
		if t, err := time.Parse("2006-01-02T15:04:05.000Z", s.target().Version); err == nil && t.After(c.lastStamp) {
			c.lastStamp = t
		}
	}
	slices.SortFunc(c.order, func(a, b string) int {
		return strings.Compare(c.apps[a].versions[0].Version, c.apps[b].versions[0].Version)
	})
}
