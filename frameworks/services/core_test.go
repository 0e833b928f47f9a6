package services

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/sdk"
)

// sim drives a Core by hand: the tests are scenarios of offers, status
// updates and time.
type sim struct {
	t     *testing.T
	c     *Core
	now   time.Time
	seq   int
	tasks map[string]*sdk.TaskInfo
}

func newSim(t *testing.T) *sim {
	return &sim{t: t, c: NewCore(), now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), tasks: map[string]*sdk.TaskInfo{}}
}

func mustApp(t *testing.T, js string) App {
	t.Helper()
	a, err := DecodeApp([]byte(js))
	if err == nil {
		err = a.Normalize()
	}
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (s *sim) deploy(js string) *Deployment {
	s.t.Helper()
	d, err := s.c.Deploy(s.now, mustApp(s.t, js), false, false, false)
	if err != nil {
		s.t.Fatal(err)
	}
	return d
}

// offer makes an offer of agent (hostname = agent) with 4 cpus, 4GiB and
// ports 31000-31009.
func (s *sim) offer(agent string, attrs ...string) *sdk.Offer {
	s.seq++
	r := sdk.MustParseResources("cpus:4;mem:4GiB;ports:[31000-31009]")
	o := &sdk.Offer{Id: fmt.Sprint("o", s.seq), AgentId: agent, Hostname: agent, Resources: r.ToProto(), Attributes: map[string]string{"runtimes": "wasm,container"}}
	for i := 0; i+1 < len(attrs); i += 2 {
		o.Attributes[attrs[i]] = attrs[i+1]
	}
	return o
}

// launch offers one offer per agent and returns the tasks launched.
func (s *sim) launch(agents ...string) []*sdk.TaskInfo {
	var offers []*sdk.Offer
	for _, a := range agents {
		offers = append(offers, s.offer(a))
	}
	ans := s.c.Offers(s.now, offers)
	var out []*sdk.TaskInfo
	for _, o := range offers {
		for _, t := range ans.Accept[o.GetId()] {
			s.tasks[t.GetTaskId()] = t
			out = append(out, t)
		}
	}
	return out
}

func (s *sim) update(id string, state sdk.TaskState, healthy *bool, reason ...sdk.Reason) {
	st := &sdk.TaskStatus{TaskId: id, State: state, AgentId: s.tasks[id].GetAgentId(), Healthy: healthy}
	if len(reason) > 0 {
		st.Reason = reason[0]
	}
	s.c.Update(s.now, st)
}

var yes, no = func() *bool { b := true; return &b }(), func() *bool { b := false; return &b }()

// healthyAll reports the tasks running and healthy.
func (s *sim) healthyAll(tasks []*sdk.TaskInfo) {
	for _, t := range tasks {
		s.update(t.GetTaskId(), sdk.TaskRunning, yes)
	}
}

// kills carries out the core's kills: each task ends KILLED.
func (s *sim) kills() []string {
	var ids []string
	for _, k := range s.c.Take().Kills {
		ids = append(ids, k.TaskID)
		s.update(k.TaskID, sdk.TaskKilled, nil)
	}
	return ids
}

func (s *sim) status(id string) AppStatus {
	st, err := s.c.App(s.now, id)
	if err != nil {
		s.t.Fatal(err)
	}
	return st
}

const web = `{"id": "/web", "args": ["serve"], "module": "sha256:` + hex64 + `", "cpus": 0.5, "mem": 64, "instances": 3,
  "constraints": [["hostname", "UNIQUE"]], "portDefinitions": [{"port": 0, "name": "http"}],
  "healthChecks": [{"protocol": "HTTP", "path": "/health", "portIndex": 0, "gracePeriodSeconds": 5, "intervalSeconds": 1, "maxConsecutiveFailures": 2}]}`

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestThreeInstancesUniqueHostnamesPortsAndHealthCheck(t *testing.T) {
	s := newSim(t)
	s.deploy(web)
	got := s.launch("h1", "h2")
	if len(got) != 2 || got[0].GetAgentId() == got[1].GetAgentId() {
		t.Fatalf("launched %d tasks on two agents with hostname UNIQUE, want 2 on different hosts", len(got))
	}
	task := got[0]
	if task.GetEnv()["PORT0"] != "31000" || task.GetEnv()["PORT_HTTP"] != "31000" || task.GetEnv()["MARATHON_APP_ID"] != "/web" {
		t.Errorf("env = %v, want PORT0=PORT_HTTP=31000 and MARATHON_APP_ID", task.GetEnv())
	}
	hc := task.GetHealthCheck()
	if hc.GetType() != kernelpb.HealthCheck_HTTP || hc.GetPort() != 31000 || hc.GetPath() != "/health" || hc.GetMaxConsecutiveFailures() != 2 || hc.GetGracePeriodMs() != 5000 {
		t.Errorf("health check = %v", hc)
	}
	if w := s.status("/web").Waiting; !strings.Contains(w, "hostname UNIQUE") {
		t.Errorf("waiting = %q, want the UNIQUE constraint named", w)
	}
	if more := s.launch("h1", "h2"); len(more) != 0 {
		t.Fatalf("launched %d more on the same hosts", len(more))
	}
	third := s.launch("h3")
	s.healthyAll(append(got, third...))
	st := s.status("/web")
	if st.TasksHealthy != 3 || len(st.Deployments) != 0 {
		t.Fatalf("healthy %d, deployments %v; want 3 healthy and the deployment done", st.TasksHealthy, st.Deployments)
	}
}

func TestFailedInstanceReplacedWithBackoff(t *testing.T) {
	s := newSim(t)
	s.deploy(`{"id": "svc", "module": "sha256:` + hex64 + `", "cpus": 0.1, "mem": 32, "backoffSeconds": 2, "backoffFactor": 2, "maxLaunchDelaySeconds": 5}`)
	first := s.launch("h1")
	s.update(first[0].GetTaskId(), sdk.TaskRunning, nil)
	s.update(first[0].GetTaskId(), sdk.TaskFailed, nil)
	if got := s.launch("h1"); len(got) != 0 {
		t.Fatal("relaunched at once; want a backoff")
	}
	if w := s.status("/svc").Waiting; !strings.Contains(w, "backing off") {
		t.Errorf("waiting = %q", w)
	}
	for _, wait := range []time.Duration{2 * time.Second, 4 * time.Second, 5 * time.Second} {
		s.now = s.now.Add(wait - time.Millisecond)
		if got := s.launch("h1"); len(got) != 0 {
			t.Fatalf("relaunched before the %s backoff", wait)
		}
		s.now = s.now.Add(time.Millisecond)
		got := s.launch("h1")
		if len(got) != 1 {
			t.Fatalf("not relaunched after the %s backoff", wait)
		}
		s.update(got[0].GetTaskId(), sdk.TaskFailed, nil)
	}
	if st := s.status("/svc"); !strings.Contains(st.LastTaskFailure, "TASK_FAILED") {
		t.Errorf("last failure = %q", st.LastTaskFailure)
	}
}

// TestHealthyInstanceDoesNotResetAnothersBackoff: with one instance
// healthy for long, another that fails at every launch (its port held on
// the host) still backs off longer each time; only an instance launched
// since the failure, healthy for the delay, ends the backoff.
func TestHealthyInstanceDoesNotResetAnothersBackoff(t *testing.T) {
	s := newSim(t)
	s.deploy(`{"id": "svc", "module": "sha256:` + hex64 + `", "cpus": 0.1, "mem": 32, "instances": 2, "backoffSeconds": 1, "backoffFactor": 2, "maxLaunchDelaySeconds": 60}`)
	got := s.launch("h1")
	if len(got) != 2 {
		t.Fatalf("launched %d, want 2", len(got))
	}
	good, bad := got[0].GetTaskId(), got[1].GetTaskId()
	s.update(good, sdk.TaskRunning, yes)
	s.now = s.now.Add(time.Minute)
	for _, wait := range []time.Duration{1, 2, 4, 8, 16} {
		s.update(bad, sdk.TaskFailed, nil)
		s.now = s.now.Add(wait*time.Second - time.Millisecond)
		if got := s.launch("h1"); len(got) != 0 {
			t.Fatalf("relaunched before the %ds backoff: a healthy instance reset it", wait)
		}
		s.now = s.now.Add(time.Millisecond)
		got := s.launch("h1")
		if len(got) != 1 {
			t.Fatalf("not relaunched after the %ds backoff", wait)
		}
		bad = got[0].GetTaskId()
	}
	// The replacement comes up and stays healthy for the delay: the
	// backoff ends, and the next failure starts again from 1s.
	s.update(bad, sdk.TaskRunning, yes)
	s.now = s.now.Add(32 * time.Second)
	s.c.Tick(s.now)
	s.update(bad, sdk.TaskFailed, nil)
	s.now = s.now.Add(time.Second)
	if got := s.launch("h1"); len(got) != 1 {
		t.Fatalf("after a healthy run as long as the delay, relaunched %d after 1s; want the backoff reset", len(got))
	}
}

func TestUnhealthyInstanceKilledByAgentIsReplaced(t *testing.T) {
	s := newSim(t)
	s.deploy(web)
	tasks := s.launch("h1", "h2", "h3")
	s.healthyAll(tasks)
	bad := tasks[1].GetTaskId()
	s.update(bad, sdk.TaskRunning, no, kernelpb.Reason_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED)
	if st := s.status("/web"); st.TasksUnhealthy != 1 || st.TasksHealthy != 2 {
		t.Fatalf("healthy %d unhealthy %d, want 2 and 1", st.TasksHealthy, st.TasksUnhealthy)
	}
	s.update(bad, sdk.TaskKilled, no, kernelpb.Reason_REASON_TASK_UNHEALTHY)
	s.now = s.now.Add(time.Second) // the default backoff
	got := s.launch("h1", "h2", "h3", "h4")
	if len(got) != 1 || got[0].GetAgentId() != tasks[1].GetAgentId() && got[0].GetAgentId() != "h4" {
		t.Fatalf("replacement: %v", got)
	}
}

// rolling runs a deploy from v1 to v2 to its end, checking after every
// step that the healthy instances never drop below the minimum. newHealthy
// says whether v2's instances pass their health check.
func rolling(t *testing.T, s *sim, minHealthy int, newHealthy bool) (steps int) {
	t.Helper()
	hosts := []string{"h1", "h2", "h3", "h4", "h5", "h6"}
	for steps = 0; steps < 50; steps++ {
		s.kills()
		if st := s.status("/web"); st.TasksHealthy < minHealthy {
			t.Fatalf("step %d: %d healthy, below the minimum %d", steps, st.TasksHealthy, minHealthy)
		}
		launched := s.launch(hosts...)
		for _, task := range launched {
			h := yes
			if !newHealthy {
				h = no
			}
			s.update(task.GetTaskId(), sdk.TaskRunning, h)
		}
		if len(s.status("/web").Deployments) == 0 || !newHealthy && len(launched) == 0 {
			return steps
		}
	}
	t.Fatal("deploy did not end in 50 steps")
	return steps
}

func TestRollingDeployKeepsMinimumHealthCapacity(t *testing.T) {
	s := newSim(t)
	s.deploy(strings.Replace(web, `"instances": 3`, `"instances": 4, "upgradeStrategy": {"minimumHealthCapacity": 0.75, "maximumOverCapacity": 0.25}`, 1))
	s.healthyAll(s.launch("h1", "h2", "h3", "h4"))
	before := s.status("/web").Tasks
	v2 := strings.Replace(web, `"instances": 3`, `"instances": 4, "env": {"V": "2"}, "upgradeStrategy": {"minimumHealthCapacity": 0.75, "maximumOverCapacity": 0.25}`, 1)
	s.deploy(v2)
	if st := s.status("/web"); st.Deployments[0].Progress.MaxTotal != 5 || st.Deployments[0].Progress.MinHealthy != 3 {
		t.Fatalf("progress %+v, want min 3 and max 5", st.Deployments[0].Progress)
	}
	if steps := rolling(t, s, 3, true); steps < 2 {
		t.Errorf("deploy took %d rounds; with one instance over capacity it needs at least 2", steps)
	}
	st := s.status("/web")
	for _, in := range st.Tasks {
		if in.ConfigVersion != st.VersionInfo.LastConfigChangeAt || slices.ContainsFunc(before, func(b Instance) bool { return b.ID == in.ID }) {
			t.Errorf("instance %s of the old version survived the deploy", in.ID)
		}
	}
	if st.TasksHealthy != 4 || len(st.Tasks) != 4 {
		t.Errorf("after the deploy: %d healthy of %d", st.TasksHealthy, len(st.Tasks))
	}
}

func TestNeverHealthyDeployRolledBackLosesNoCapacity(t *testing.T) {
	s := newSim(t)
	s.deploy(web) // minimumHealthCapacity 1, maximumOverCapacity 1
	v1tasks := s.launch("h1", "h2", "h3")
	s.healthyAll(v1tasks)
	d := s.deploy(strings.Replace(web, `"args": ["serve"]`, `"args": ["broken"]`, 1))
	rolling(t, s, 3, false) // v2 never gets healthy: nothing old is killed
	if st := s.status("/web"); st.TasksHealthy != 3 || len(st.Deployments) != 1 {
		t.Fatalf("healthy %d, deployments %d; want 3 and the deploy stuck", st.TasksHealthy, len(st.Deployments))
	}
	if _, err := s.c.Deploy(s.now, mustApp(t, web), false, false, false); !errors.Is(err, ErrConflict) {
		t.Fatalf("deploy during a deployment: %v, want a conflict", err)
	}
	back, err := s.c.Cancel(s.now, d.ID, false)
	if err != nil || back == nil {
		t.Fatalf("cancel with rollback: %v %v", back, err)
	}
	killed := s.kills()
	if len(killed) != 3 || slices.ContainsFunc(v1tasks, func(t *sdk.TaskInfo) bool { return slices.Contains(killed, t.GetTaskId()) }) {
		t.Fatalf("rollback killed %v, want the 3 broken v2 instances only", killed)
	}
	st := s.status("/web")
	if st.TasksHealthy != 3 || len(st.Deployments) != 0 || len(st.Tasks) != 3 {
		t.Fatalf("after rollback: %d healthy, %d tasks, deployments %v", st.TasksHealthy, len(st.Tasks), st.Deployments)
	}
	if vs, _ := s.c.Versions("/web"); len(vs) != 3 || !sameTask(mustApp(t, web), st.App) {
		t.Errorf("versions %v: want v1, v2 and the rollback (v1's task again)", vs)
	}
}

func TestScaleUpAndDownRestartsNothing(t *testing.T) {
	s := newSim(t)
	s.deploy(strings.Replace(web, `"instances": 3`, `"instances": 2`, 1))
	first := s.launch("h1", "h2")
	s.healthyAll(first)
	d := s.deploy(web)
	if d.Actions[0].Action != "ScaleApplication" {
		t.Errorf("action %q, want ScaleApplication", d.Actions[0].Action)
	}
	s.healthyAll(s.launch("h1", "h2", "h3"))
	if k := s.kills(); len(k) != 0 {
		t.Fatalf("scale up killed %v", k)
	}
	s.deploy(strings.Replace(web, `"instances": 3`, `"instances": 1`, 1))
	if st := s.status("/web"); len(st.Deployments) != 1 {
		t.Fatal("the scale down ended before its kills were confirmed")
	}
	if k := s.kills(); len(k) != 2 {
		t.Fatalf("scale down to 1 killed %v, want 2", k)
	}
	if st := s.status("/web"); st.TasksHealthy != 1 || len(st.Deployments) != 0 {
		t.Fatalf("after scale down: %d healthy, deployments %v", st.TasksHealthy, st.Deployments)
	}
}

func TestDependenciesStartFirst(t *testing.T) {
	s := newSim(t)
	s.deploy(`{"id": "/db", "module": "sha256:` + hex64 + `", "cpus": 0.1, "mem": 32}`)
	if _, err := s.c.Deploy(s.now, mustApp(t, `{"id": "/db2", "module": "sha256:`+hex64+`", "dependencies": ["/nope"]}`), true, false, false); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown dependency: %v", err)
	}
	s.deploy(`{"id": "/web", "module": "sha256:` + hex64 + `", "cpus": 0.1, "mem": 32, "dependencies": ["/db"]}`)
	got := s.launch("h1")
	if len(got) != 1 || !strings.HasPrefix(got[0].GetTaskId(), "db.") {
		t.Fatalf("launched %v, want the db only", got)
	}
	if w := s.status("/web").Waiting; !strings.Contains(w, "dependencies") {
		t.Errorf("web waiting = %q", w)
	}
	s.update(got[0].GetTaskId(), sdk.TaskRunning, nil)
	if got := s.launch("h1"); len(got) != 1 || !strings.HasPrefix(got[0].GetTaskId(), "web.") {
		t.Fatalf("launched %v, want the web tier once the db runs", got)
	}
}

func TestConstraints(t *testing.T) {
	for _, tc := range []struct {
		constraint string
		want       int // of 6 instances on h1..h3 (rack r1, r1, r2)
	}{
		{`["hostname", "MAX_PER", "2"]`, 6},
		{`["rack", "CLUSTER", "r1"]`, 6},
		{`["hostname", "LIKE", "h[12]"]`, 6},
		{`["hostname", "UNLIKE", "h[12]"]`, 6},
		{`["rack", "UNIQUE"]`, 2},
		{`["hostname", "MAX_PER", "1"]`, 3},
	} {
		s := newSim(t)
		s.deploy(`{"id": "/c", "module": "sha256:` + hex64 + `", "cpus": 0.1, "mem": 32, "instances": 6, "constraints": [` + tc.constraint + `]}`)
		placed := map[string]int{}
		for range 4 {
			ans := s.c.Offers(s.now, []*sdk.Offer{s.offer("h1", "rack", "r1"), s.offer("h2", "rack", "r1"), s.offer("h3", "rack", "r2")})
			for _, tasks := range ans.Accept {
				for _, task := range tasks {
					placed[task.GetAgentId()]++
				}
			}
		}
		total := 0
		for h, n := range placed {
			total += n
			if strings.Contains(tc.constraint, "MAX_PER") && n > 2 || strings.Contains(tc.constraint, "CLUSTER") && h == "h3" ||
				strings.Contains(tc.constraint, `"LIKE"`) && h == "h3" || strings.Contains(tc.constraint, "UNLIKE") && h != "h3" {
				t.Errorf("%s: %d on %s", tc.constraint, n, h)
			}
		}
		if total != tc.want {
			t.Errorf("%s: placed %v (%d), want %d", tc.constraint, placed, total, tc.want)
		}
	}
}

func TestRestoreKeepsAppsVersionsAndInstances(t *testing.T) {
	s := newSim(t)
	s.deploy(web)
	s.healthyAll(s.launch("h1", "h2", "h3"))
	s.deploy(strings.Replace(web, `"instances": 3`, `"instances": 2`, 1))
	r, ok := s.c.Record("/web")
	if !ok {
		t.Fatal("no record")
	}
	c := NewCore()
	c.Restore([]Record{r}, s.c.Seq())
	vs, _ := c.Versions("/web")
	st, _ := c.App(s.now, "/web")
	if len(vs) != 2 || len(st.Tasks) != 3 || len(c.Known()) != 3 {
		t.Fatalf("restored %d versions and %d tasks", len(vs), len(st.Tasks))
	}
	if c.Seq() != s.c.Seq() {
		t.Errorf("seq %d, want %d", c.Seq(), s.c.Seq())
	}
}

func TestDeleteKillsEverything(t *testing.T) {
	s := newSim(t)
	s.deploy(web)
	s.launch("h1", "h2")
	if err := s.c.Delete(s.now, "/web"); err != nil {
		t.Fatal(err)
	}
	if k := s.kills(); len(k) != 2 {
		t.Fatalf("delete killed %v", k)
	}
	if _, err := s.c.App(s.now, "/web"); !errors.Is(err, ErrNotFound) || len(s.c.Apps(s.now)) != 0 {
		t.Fatalf("app still there: %v", err)
	}
	// A task the framework no longer knows is killed when it reports.
	s.c.Update(s.now, &sdk.TaskStatus{TaskId: "stray.1", State: sdk.TaskRunning, AgentId: "h1"})
	if k := s.c.Take().Kills; len(k) != 1 || k[0].TaskID != "stray.1" {
		t.Fatalf("stray task not killed: %v", k)
	}
}

func TestDroppedLaunchIsNoFailureAndKillsAreResent(t *testing.T) {
	s := newSim(t)
	s.deploy(`{"id": "/svc", "module": "sha256:` + hex64 + `", "cpus": 0.1, "mem": 32, "instances": 2}`)
	got := s.launch("h1")
	s.c.Update(s.now, &sdk.TaskStatus{TaskId: got[0].GetTaskId(), State: sdk.TaskLost, Reason: sdk.DroppedLaunchReason})
	again := s.launch("h1")
	if len(got) != 2 || len(again) != 1 {
		t.Fatalf("launched %d, then %d after a dropped launch; want 2 then 1 at once", len(got), len(again))
	}
	s.healthyAll(append(got[1:], again...))
	s.deploy(`{"id": "/svc", "module": "sha256:` + hex64 + `", "cpus": 0.1, "mem": 32, "instances": 0}`)
	first := s.c.Take().Kills
	s.c.Resync() // subscribed again: the kills may have been dropped
	if again := s.c.Take().Kills; len(first) != 2 || len(again) != 2 {
		t.Fatalf("kills %v, then after Resync %v; want both twice", first, again)
	}
}

func TestGroupBySpreadsEvenly(t *testing.T) {
	s := newSim(t)
	s.deploy(`{"id": "/g", "module": "sha256:` + hex64 + `", "cpus": 0.1, "mem": 32, "instances": 4, "constraints": [["rack", "GROUP_BY", "2"]]}`)
	per := map[string]int{}
	for range 4 {
		ans := s.c.Offers(s.now, []*sdk.Offer{s.offer("h1", "rack", "r1"), s.offer("h2", "rack", "r1"), s.offer("h3", "rack", "r2")})
		for _, tasks := range ans.Accept {
			for _, task := range tasks {
				per[map[string]string{"h1": "r1", "h2": "r1", "h3": "r2"}[task.GetAgentId()]]++
			}
		}
	}
	if per["r1"] != 2 || per["r2"] != 2 {
		t.Fatalf("per rack %v, want 2 and 2", per)
	}
}
