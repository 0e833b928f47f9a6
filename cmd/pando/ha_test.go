package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pandodc/pando/actors/election/consultest"
	"github.com/pandodc/pando/actors/node"
	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/sdk/client"
)

// haMaster is one `pando master --consul` process.
type haMaster struct {
	id   string
	url  string
	proc *proc
	// Supervised masters only: restarts counts the restarts, and mu
	// guards it and proc.
	mu       *sync.Mutex
	restarts int
}

// current is the master's process: its newest incarnation if supervised.
func (m *haMaster) current() *proc {
	if m.mu == nil {
		return m.proc
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.proc
}

// state reads GET /api/v1/state; ok is false when the master does not answer.
func (m *haMaster) state() (node.State, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.url+"/api/v1/state", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return node.State{}, false
	}
	defer resp.Body.Close()
	var st node.State
	if json.NewDecoder(resp.Body).Decode(&st) != nil {
		return node.State{}, false
	}
	return st, true
}

// startHAMasters starts n masters against consul, with extra flags.
func startHAMasters(l *lab, bin, consul string, n int, extra ...string) []*haMaster {
	var masters []*haMaster
	for i := range n {
		httpAddr := freeAddr(l.t)
		m := &haMaster{id: fmt.Sprintf("m%d", i+1), url: "http://" + httpAddr}
		args := append([]string{"master", "--consul", consul, "--id", m.id, "--http", httpAddr,
			"--remoting", freeAddr(l.t), "--data-dir", l.t.TempDir(), "--log-level", "info"}, extra...)
		m.proc = l.start("pando master "+m.id, bin, args...)
		masters = append(masters, m)
	}
	return masters
}

// leaderAmong waits until exactly one of the live masters says it leads and
// every other live one names it, and returns it and its epoch.
func leaderAmong(l *lab, masters []*haMaster, timeout time.Duration) (*haMaster, uint64) {
	l.t.Helper()
	var leader *haMaster
	var epoch uint64
	l.waitFor(timeout, "one leader that the others name", func() (bool, string) {
		leader, epoch = nil, 0
		var seen []string
		for _, m := range masters {
			if m.current().exited() {
				continue
			}
			st, ok := m.state()
			if !ok {
				return false, m.id + " does not answer"
			}
			seen = append(seen, fmt.Sprintf("%s: leader=%v leader_id=%s", m.id, st.Leader, st.LeaderID))
			if st.Leader {
				if leader != nil {
					return false, "two leaders: " + strings.Join(seen, "; ")
				}
				leader, epoch = m, st.Epoch
			}
		}
		if leader == nil {
			return false, strings.Join(seen, "; ")
		}
		for _, m := range masters {
			if m.current().exited() || m == leader {
				continue
			}
			if st, _ := m.state(); st.LeaderID != leader.id || st.LeaderURL != leader.url {
				return false, fmt.Sprintf("%s names %q as leader, not %s", m.id, st.LeaderID, leader.id)
			}
		}
		return true, ""
	})
	return leader, epoch
}

// waitAgents waits until m lists n active agents.
func waitAgents(l *lab, m *haMaster, n int) {
	l.t.Helper()
	mc, err := client.New(m.url)
	if err != nil {
		l.t.Fatal(err)
	}
	l.waitFor(30*time.Second, fmt.Sprintf("%d active agents on %s", n, m.id), func() (bool, string) {
		agents, err := call(mc.Agents)
		if err != nil {
			return false, err.Error()
		}
		active := 0
		for _, a := range agents {
			if a.Active {
				active++
			}
		}
		return active == n, fmt.Sprintf("%d active of %+v", active, agents)
	})
}

// TestHAMastersFailOver runs three masters against a real Consul: one
// leads, the stand-bys redirect to it; SIGKILL of the leader elects another
// with a higher epoch; a leader frozen past its session (SIGSTOP) is
// replaced, and once it runs again it steps down and exits by itself.
func TestHAMastersFailOver(t *testing.T) {
	skipIfShort(t)
	consul := consultest.Start(t)
	bin := buildPando(t)
	l := newLab(t)
	masters := startHAMasters(l, bin, consul.Addr, 3)

	first, epoch1 := leaderAmong(l, masters, 60*time.Second)
	t.Logf("%s leads at epoch %d", first.id, epoch1)

	// A stand-by redirects the API to the leader: the client lands there.
	var standby *haMaster
	for _, m := range masters {
		if m != first {
			standby = m
			break
		}
	}
	c, err := client.New(standby.url)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Master(context.Background())
	if err != nil {
		t.Fatalf("GET /api/v1/master on stand-by %s: %v", standby.id, err)
	}
	if info.Epoch != epoch1 {
		t.Errorf("through stand-by %s: master epoch %d, want the leader's %d", standby.id, info.Epoch, epoch1)
	}
	// The leader's built-in batch framework answers through the stand-by too.
	if err := c.Do(context.Background(), http.MethodGet, "/api/v1/batch/jobs", nil, nil); err != nil {
		t.Errorf("batch API through stand-by %s: %v", standby.id, err)
	}

	// Two agents that know every master, and four long tasks on them.
	var urls []string
	for _, m := range masters {
		urls = append(urls, m.url)
	}
	for i := range 2 {
		name := fmt.Sprintf("agent-%d", i+1)
		l.start("pando "+name, bin, "agent", "--master", strings.Join(urls, ","), "--hostname", name,
			"--http", freeAddr(t), "--remoting", freeAddr(t), "--work-dir", t.TempDir(),
			"--resources", "cpus:2;mem:1GiB", "--log-level", "info")
	}
	waitAgents(l, first, 2)
	cl := &cluster{lab: l, bin: bin, url: standby.url, c: c}
	job := cl.submit(wasmbuild.MustBuild(t, "sleep"), "-n", "4", "--cpus", "0.5", "--mem", "64MiB", "--", "1h")
	running := func(m *haMaster) (bool, string) {
		mc, _ := client.New(m.url)
		tasks, err := call(func(ctx context.Context) ([]client.Task, error) {
			return mc.Tasks(ctx, url.Values{"prefix": {job + "."}})
		})
		if err != nil {
			return false, err.Error()
		}
		n := 0
		for _, task := range tasks {
			if task.State == "TASK_RUNNING" {
				n++
			}
		}
		return n == 4, fmt.Sprintf("%d of 4 tasks of %s RUNNING on %s: %+v", n, job, m.id, tasks)
	}
	l.waitFor(30*time.Second, "four RUNNING tasks", func() (bool, string) { return running(first) })

	// SIGKILL the leader: another takes over, at a higher epoch, and the
	// agents re-register with it, their tasks still running.
	killedAt := time.Now()
	first.proc.kill()
	second, epoch2 := leaderAmong(l, masters, 30*time.Second)
	failover := time.Since(killedAt)
	if second == first || epoch2 <= epoch1 {
		t.Fatalf("after SIGKILL of %s (epoch %d): leader %s at epoch %d", first.id, epoch1, second.id, epoch2)
	}
	waitAgents(l, second, 2)
	reregistered := time.Since(killedAt)
	l.waitFor(30*time.Second, "the four tasks RUNNING on the new leader", func() (bool, string) { return running(second) })
	t.Logf("SIGKILL of %s: %s leads at epoch %d after %s; both agents re-registered after %s",
		first.id, second.id, epoch2, failover.Round(time.Millisecond), reregistered.Round(time.Millisecond))

	// The CLI given every master, the dead one first, finds one that answers.
	all := strings.Join(append([]string{first.url}, second.url), ",")
	var agents []client.Agent
	if r := pando(t, bin, all, "agents", "--json"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &agents) != nil || len(agents) != 2 {
		t.Errorf("pando agents --master %s: exit %d, %q, %q", all, r.code, r.stdout, r.stderr)
	}

	// The batch framework of the new leader found the job in Consul, took
	// its running tasks back under the same framework id, and lost or
	// relaunched none of them.
	cl.url = second.url
	if cl.c, err = client.New(second.url); err != nil {
		t.Fatal(err)
	}
	l.waitFor(30*time.Second, "the job on the new leader with its 4 tasks running", func() (bool, string) {
		j, err := cl.job(job)
		if err != nil {
			return false, err.Error()
		}
		return j.Running == 4 && j.Failed == 0 && j.Pending == 0, fmt.Sprintf("%+v", j)
	})
	if r := cl.pando("kill", job); r.code != 0 {
		l.fatalf("pando kill %s on the new leader: exit %d, %s", job, r.code, r.stderr)
	}
	if j := cl.waitJobDone(job, 30*time.Second); j.Killed != 4 {
		t.Errorf("the job after its kill on the new leader: %+v, want 4 killed", j)
	}

	// Freeze the new leader past its session: the last one takes over. When
	// the frozen one runs again, it must find it no longer leads and exit.
	if err := second.proc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var live []*haMaster
	for _, m := range masters {
		if m != first && m != second {
			live = append(live, m)
		}
	}
	third, epoch3 := leaderAmong(l, live, 60*time.Second)
	if epoch3 <= epoch2 {
		t.Fatalf("after SIGSTOP of %s (epoch %d): %s leads at epoch %d", second.id, epoch2, third.id, epoch3)
	}
	if err := second.proc.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	l.waitFor(30*time.Second, second.id+" to step down and exit after it was thawed", func() (bool, string) {
		if second.proc.exited() {
			return true, ""
		}
		st, _ := second.state()
		if st.Leader {
			return false, second.id + " still says it leads"
		}
		return false, second.id + " still runs"
	})
	if out := second.proc.out.String(); !strings.Contains(out, "stepped down") {
		t.Errorf("%s exited without saying it stepped down:\n%s", second.id, tail(out, 15))
	}
	if _, epoch := leaderAmong(l, live, 10*time.Second); epoch != epoch3 {
		t.Errorf("the leader changed after the zombie came back: epoch %d, want %d", epoch, epoch3)
	}
}

// supervised runs a master as systemd would: started again (same flags,
// same ports) whenever it exits, until the test ends. It returns the
// master, whose proc is the newest incarnation.
func supervised(l *lab, bin, consul, id string) *haMaster {
	httpAddr, remoting, dataDir := freeAddr(l.t), freeAddr(l.t), l.t.TempDir()
	m := &haMaster{id: id, url: "http://" + httpAddr}
	var mu sync.Mutex
	start := func() *proc {
		return l.start("pando master "+id, bin, "master", "--consul", consul, "--id", id,
			"--http", httpAddr, "--remoting", remoting, "--data-dir", dataDir, "--log-level", "info")
	}
	m.proc = start()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			mu.Lock()
			p := m.proc
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-p.done:
			}
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
			mu.Lock()
			m.proc = start()
			m.restarts++
			mu.Unlock()
		}
	}()
	l.t.Cleanup(func() { close(stop); <-done })
	m.mu = &mu
	return m
}

// TestHAConsulOutage stops Consul under two supervised masters, an agent
// and a running job: the leader steps down (and exits, and is restarted),
// no task is killed meanwhile, and once Consul is back a master leads again,
// the agent re-registers and the job's tasks are still the same, RUNNING.
func TestHAConsulOutage(t *testing.T) {
	skipIfShort(t)
	consul := consultest.Start(t)
	bin := buildPando(t)
	l := newLab(t)
	masters := []*haMaster{supervised(l, bin, consul.Addr, "m1"), supervised(l, bin, consul.Addr, "m2")}
	first, _ := leaderAmong(l, masters, 60*time.Second)
	urls := masters[0].url + "," + masters[1].url
	l.start("pando agent", bin, "agent", "--master", urls, "--hostname", "agent-1",
		"--http", freeAddr(t), "--remoting", freeAddr(t), "--work-dir", t.TempDir(),
		"--resources", "cpus:2;mem:1GiB", "--log-level", "info")
	waitAgents(l, first, 1)
	c, err := client.New(first.url)
	if err != nil {
		t.Fatal(err)
	}
	cl := &cluster{lab: l, bin: bin, url: first.url, c: c}
	job := cl.submit(wasmbuild.MustBuild(t, "sleep"), "-n", "2", "--cpus", "0.5", "--mem", "64MiB", "--", "1h")
	tasksOf := func(m *haMaster) ([]client.Task, error) {
		mc, _ := client.New(m.url)
		return call(func(ctx context.Context) ([]client.Task, error) {
			return mc.Tasks(ctx, url.Values{"prefix": {job + "."}, "all": {"1"}})
		})
	}
	var before []client.Task
	l.waitFor(30*time.Second, "two RUNNING tasks", func() (bool, string) {
		tasks, err := tasksOf(first)
		if err != nil {
			return false, err.Error()
		}
		before = tasks
		return len(tasks) == 2 && tasks[0].State == "TASK_RUNNING" && tasks[1].State == "TASK_RUNNING", fmt.Sprintf("%+v", tasks)
	})

	consul.Stop()
	l.waitFor(30*time.Second, "no master to lead while Consul is down", func() (bool, string) {
		for _, m := range masters {
			if st, ok := m.state(); ok && st.Leader {
				return false, m.id + " still leads"
			}
		}
		return true, ""
	})
	time.Sleep(2 * time.Second) // a while without Consul

	consul.StartAgain()
	leader, _ := leaderAmong(l, masters, 60*time.Second)
	waitAgents(l, leader, 1)
	l.waitFor(30*time.Second, "the same two tasks RUNNING under the new leader", func() (bool, string) {
		tasks, err := tasksOf(leader)
		if err != nil {
			return false, err.Error()
		}
		if len(tasks) != 2 {
			return false, fmt.Sprintf("%+v", tasks)
		}
		for i, task := range tasks {
			if task.ID != before[i].ID || task.State != "TASK_RUNNING" {
				return false, fmt.Sprintf("%+v, want %s and %s RUNNING", tasks, before[0].ID, before[1].ID)
			}
		}
		return true, ""
	})
	cl.url = leader.url
	if cl.c, err = client.New(leader.url); err != nil {
		t.Fatal(err)
	}
	l.waitFor(30*time.Second, "the job to count its 2 tasks running", func() (bool, string) {
		j, err := cl.job(job)
		if err != nil {
			return false, err.Error()
		}
		return j.Running == 2 && j.Failed == 0 && j.Retried == 0 && j.LostRetried == 0, fmt.Sprintf("%+v", j)
	})
	restarts := 0
	for _, m := range masters {
		m.mu.Lock()
		restarts += m.restarts
		m.mu.Unlock()
	}
	if restarts == 0 {
		t.Errorf("no master exited when Consul went away: the leader should have stepped down")
	}
}
