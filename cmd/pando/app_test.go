package main_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/frameworks/services"
	"github.com/pandodc/pando/runtime/container/containerdtest"
	"github.com/pandodc/pando/sdk/client"
)

// These tests run the services framework in real processes: a master with
// its built-in frameworks, agents on real containerd, apps deployed and
// managed with `pando app`, and their instances' HTTP ports probed by the
// test itself.

// deployApp writes app JSON to a file and runs `pando app deploy`.
func (cl *cluster) deployApp(js string) {
	cl.t.Helper()
	path := filepath.Join(cl.t.TempDir(), "app.json")
	if err := os.WriteFile(path, []byte(js), 0o644); err != nil {
		cl.t.Fatal(err)
	}
	if r := cl.pando("app", "deploy", path); r.code != 0 {
		cl.fatalf("pando app deploy: exit %d, %s", r.code, r.stderr)
	}
}

// app reads an app through `pando app show --json`.
func (cl *cluster) app(id string) services.AppStatus {
	cl.t.Helper()
	var out struct {
		App      services.AppStatus `json:"app"`
		Versions []string           `json:"versions"`
	}
	cl.pandoJSON(&out, "app", "show", id)
	return out.App
}

// probe GETs /health of an instance's first port: its body, or "" if it
// does not answer 200.
func probe(in services.Instance) string {
	if len(in.Ports) == 0 {
		return ""
	}
	c := http.Client{Timeout: 500 * time.Millisecond}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/health", in.Ports[0]))
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	return strings.TrimSpace(string(body))
}

// answering counts the instances of an app that answer with body.
func (cl *cluster) answering(id, body string) (int, services.AppStatus) {
	a := cl.app(id)
	n := 0
	for _, in := range a.Tasks {
		if in.State == "TASK_RUNNING" && probe(in) == body {
			n++
		}
	}
	return n, a
}

// waitSettled waits until the app has no deployment and n healthy
// instances, each answering body.
func (cl *cluster) waitSettled(id string, n int, body string, timeout time.Duration) services.AppStatus {
	cl.t.Helper()
	var a services.AppStatus
	cl.waitFor(timeout, fmt.Sprintf("%s: %d healthy instances answering %q", id, n, body), func() (bool, string) {
		var k int
		k, a = cl.answering(id, body)
		return k == n && a.TasksHealthy == n && len(a.Tasks) == n && len(a.Deployments) == 0, fmt.Sprintf("%d answer; %+v", k, a)
	})
	return a
}

// rollOut starts a change with start and polls every instance's port
// until the app has settled with two instances answering body: at every
// poll at least one instance answers (minimumHealthCapacity 0.5 of 2).
func (cl *cluster) rollOut(id, body string, start func()) {
	cl.t.Helper()
	stop := make(chan struct{})
	failed := make(chan string, 1)
	polls := 0
	go func() {
		defer close(failed)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			a, err := cl.appAPI(id)
			n := 0
			for _, in := range a.Tasks {
				if probe(in) != "" {
					n++
				}
			}
			if polls++; err == nil && n < 1 {
				failed <- fmt.Sprintf("poll %d: no instance answers: %+v", polls, a)
				return
			}
		}
	}()
	start()
	cl.waitSettled(id, 2, body, 90*time.Second)
	close(stop)
	if msg, ok := <-failed; ok {
		cl.fatalf("%s", msg)
	}
	cl.t.Logf("%s: %d polls, each with at least one instance answering", body, polls)
}

// appAPI reads an app through the API (from any goroutine).
func (cl *cluster) appAPI(id string) (services.AppStatus, error) {
	var out struct {
		App services.AppStatus `json:"app"`
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return out.App, cl.c.Do(ctx, http.MethodGet, services.APIPrefix+"/v2/apps"+id, nil, &out)
}

// waitGone waits until the app no longer lists instance task.
func (cl *cluster) waitGone(id, task string) {
	cl.t.Helper()
	cl.waitFor(30*time.Second, task+" to be gone", func() (bool, string) {
		a := cl.app(id)
		return !slices.ContainsFunc(a.Tasks, func(in services.Instance) bool { return in.ID == task }), fmt.Sprintf("%+v", a.Tasks)
	})
}

// webApp is busybox httpd serving /health with body version, checked by
// the agent every second, two failures in a row killing it.
func webApp(version string, instances int) string {
	return `{"id": "/web", "image": "busybox:latest", "instances": ` + strconv.Itoa(instances) + `, "cpus": 0.1, "mem": 32,
	  "cmd": "mkdir -p /www && echo ` + version + ` > /www/health && httpd -p $PORT0 -h /www && exec sleep 3600",
	  "constraints": [["hostname", "UNIQUE"]], "portDefinitions": [{"port": 0, "name": "http"}],
	  "healthChecks": [{"protocol": "HTTP", "path": "/health", "portIndex": 0, "gracePeriodSeconds": 1,
	    "intervalSeconds": 1, "timeoutSeconds": 1, "maxConsecutiveFailures": 2}],
	  "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0}, "backoffSeconds": 0.2}`
}

// killHTTPD kills the httpd serving port, leaving its container running.
func killHTTPD(t *testing.T, port uint32) {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if args := strings.Split(string(cmdline), "\x00"); len(args) > 2 && strings.HasSuffix(args[0], "httpd") && args[1] == "-p" && args[2] == strconv.FormatUint(uint64(port), 10) {
			pid, _ := strconv.Atoi(strings.Split(p, "/")[2])
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no httpd serves port %d", port)
}

// TestServicesOnContainers: an app of busybox httpd instances with an HTTP
// health check on two agents (real containerd), through its life: hostname
// UNIQUE, scaling, a killed instance replaced, an unhealthy one killed and
// replaced, a rolling deploy that never drops below minimumHealthCapacity
// (polled on every instance's port throughout), a rollback, deletion.
func TestServicesOnContainers(t *testing.T) {
	skipIfShort(t)
	ctd := containerdtest.Start(t)
	bin := buildPando(t)
	cl := &cluster{lab: newLab(t), bin: bin}
	httpAddr := freeAddr(t)
	cl.url = "http://" + httpAddr
	cl.master = cl.start("pando master", bin, "master", "--http", httpAddr, "--remoting", freeAddr(t), "--data-dir", t.TempDir(), "--log-level", "info")
	cl.waitReady(cl.master, cl.url)
	cl.c, _ = client.New(cl.url)
	for i, ports := range []string{"[32000-32099]", "[32100-32199]"} {
		cl.agents = append(cl.agents, cl.start(fmt.Sprint("pando agent ", i+1), bin, "agent", "--master", cl.url,
			"--http", freeAddr(t), "--remoting", freeAddr(t), "--work-dir", t.TempDir(), "--containerd", ctd.Address,
			"--resources", "cpus:1;mem:512MiB;ports:"+ports, "--hostname", fmt.Sprint("agent-", i+1), "--kill-grace", "1s", "--log-level", "info"))
	}
	cl.waitFor(30*time.Second, "two agents with containers", func() (bool, string) {
		agents, err := call(cl.c.Agents)
		n := 0
		for _, a := range agents {
			if a.Active && a.Attributes["runtimes"] == "wasm,container" {
				n++
			}
		}
		return n == 2, fmt.Sprintf("%+v %v", agents, err)
	})
	if r := cl.pando("image", "import", containerdtest.BusyboxTarball(t)); r.code != 0 {
		cl.fatalf("pando image import: %s", r.stderr)
	}

	// Three instances, hostname UNIQUE, two agents: two run, one waits
	// and says why.
	cl.deployApp(webApp("v1", 3))
	var a services.AppStatus
	cl.waitFor(60*time.Second, "two healthy instances on two hosts", func() (bool, string) {
		var n int
		n, a = cl.answering("/web", "v1")
		return n == 2 && a.TasksHealthy == 2 && strings.Contains(a.Waiting, "hostname UNIQUE"), fmt.Sprintf("%+v", a)
	})
	if a.Tasks[0].Host == a.Tasks[1].Host || len(a.Deployments) != 1 {
		t.Fatalf("instances on %s and %s, deployments %v", a.Tasks[0].Host, a.Tasks[1].Host, a.Deployments)
	}
	if r := cl.pando("app", "scale", "web", "2"); r.code != 0 {
		cl.fatalf("pando app scale: %s", r.stderr)
	}
	a = cl.waitSettled("/web", 2, "v1", 30*time.Second)

	// An instance killed from outside is replaced.
	victim := a.Tasks[0]
	if r := cl.pando("kill", victim.ID); r.code != 0 {
		cl.fatalf("pando kill %s: %s", victim.ID, r.stderr)
	}
	cl.waitGone("/web", victim.ID)
	a = cl.waitSettled("/web", 2, "v1", 60*time.Second)

	// An instance that stops answering is killed by its agent after two
	// failed checks and replaced.
	sick := a.Tasks[1]
	killHTTPD(t, sick.Ports[0])
	cl.waitGone("/web", sick.ID)
	a = cl.waitSettled("/web", 2, "v1", 60*time.Second)
	if !strings.Contains(a.LastTaskFailure, sick.ID) || !strings.Contains(a.LastTaskFailure, "UNHEALTHY") {
		t.Errorf("last failure %q, want %s killed unhealthy", a.LastTaskFailure, sick.ID)
	}

	// Rolling deploy v1 -> v2: at least one instance answers at every
	// poll (minimumHealthCapacity 0.5 of 2).
	v1Version := a.Version
	cl.rollOut("/web", "v2", func() { cl.deployApp(webApp("v2", 2)) })

	// v3 never gets healthy; rolling back (cancelling its deployment)
	// brings v2 back, never below the minimum either.
	cl.rollOut("/web", "v2", func() {
		cl.deployApp(strings.Replace(webApp("v3", 2), "httpd -p $PORT0 -h /www && ", "", 1))
		cl.waitFor(30*time.Second, "an instance of v3 to fail its health check", func() (bool, string) {
			a := cl.app("/web")
			return strings.Contains(a.LastTaskFailure, "UNHEALTHY") && len(a.Deployments) == 1, fmt.Sprintf("%+v", a)
		})
		if r := cl.pando("app", "rollback", "web"); r.code != 0 || !strings.Contains(r.stdout, "cancelling") {
			cl.fatalf("pando app rollback web: exit %d, %s%s", r.code, r.stdout, r.stderr)
		}
	})

	// Roll back to a version by name: v1's task again, as a new version.
	cl.rollOut("/web", "v1", func() {
		if r := cl.pando("app", "rollback", "web", v1Version); r.code != 0 {
			cl.fatalf("pando app rollback: %s", r.stderr)
		}
	})
	var vs struct {
		Versions []string `json:"versions"`
	}
	cl.pandoJSON(&vs, "app", "show", "web")
	if len(vs.Versions) != 6 { // v1 with 3, scaled to 2, v2, v3, back to v2, back to v1
		t.Errorf("versions %v, want 6", vs.Versions)
	}

	// The services framework and its tasks show in the master's views.
	var fws []client.Framework
	cl.pandoJSON(&fws, "frameworks")
	found := false
	for _, f := range fws {
		found = found || f.Name == "services" && f.Tasks == 2 && f.Share > 0
	}
	if !found {
		t.Errorf("pando frameworks: %+v, want services with 2 tasks and a share", fws)
	}

	if r := cl.pando("app", "rm", "web"); r.code != 0 {
		cl.fatalf("pando app rm: %s", r.stderr)
	}
	cl.waitFor(30*time.Second, "the app's tasks to end", func() (bool, string) {
		tasks, err := cl.tasks(nil)
		return err == nil && len(tasks) == 0, fmt.Sprintf("%+v %v", tasks, err)
	})
	if r := cl.pando("app", "show", "web"); r.code == 0 || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("pando app show after rm: exit %d, %s", r.code, r.stderr)
	}
}

// TestServicesWASMOnDev: a WASM service in `pando dev` answers HTTP on its
// port and is healthy; its app, versions and tasks show in the CLI; a
// restart of `pando dev` keeps the app and its versions, and brings it back.
// Bad apps are refused naming the field, and create nothing.
func TestServicesWASMOnDev(t *testing.T) {
	skipIfShort(t)
	bin := buildPando(t)
	web := wasmbuild.MustBuild(t, "webserver")
	dataDir := t.TempDir()
	l := newLab(t)
	// Ports of their own, below the ephemeral range (32768-60999): an
	// outgoing connection holding 33000 once made every launch on it fail.
	args := []string{"--resources", "cpus:2;mem:1GiB;ports:[30000-30099]", "--log-level", "info"}
	dev, url := l.startDev(bin, dataDir, args...)
	cl := &cluster{lab: l, bin: bin, url: url}
	module := cl.upload(web)
	app := func(instances int, greeting string) string {
		return `{"id": "/hello", "module": "` + module + `", "cpus": 0.1, "mem": 32, "instances": ` + strconv.Itoa(instances) + `,
		  "env": {"GREETING": "` + greeting + `"}, "portDefinitions": [{"port": 0}],
		  "healthChecks": [{"protocol": "HTTP", "path": "/health", "portIndex": 0, "gracePeriodSeconds": 1, "intervalSeconds": 1, "timeoutSeconds": 1}]}`
	}
	for _, bad := range []struct{ js, want string }{
		{`{"id": "/bad", "module": "` + module + `", "mem": 65536}`, "lacks mem 64GiB (has 1GiB)"},
		{`{"id": "/bad", "module": "sha256:` + strings.Repeat("0", 64) + `"}`, "the master has no such artifact"},
		{`{"id": "/bad", "image": "nginx:1"}`, `no image "nginx:1"`},
		{`{"id": "/bad", "module": "` + module + `", "healthChecks": [{"protocol": "TCP", "portIndex": 1}], "portDefinitions": [{"port": 0}]}`, "healthChecks[0].portIndex 1: the app has 1 ports"},
		{`{"id": "/bad", "module": "` + module + `", "instancs": 2}`, "unknown fields instancs"},
		{`{"id": "/bad", `, "is not JSON"},
	} {
		path := filepath.Join(t.TempDir(), "bad.json")
		os.WriteFile(path, []byte(bad.js), 0o644)
		if r := cl.pando("app", "deploy", path); r.code == 0 || !strings.Contains(r.stderr, bad.want) {
			t.Errorf("deploy %s: exit %d, stderr %q; want an error with %q", bad.js, r.code, r.stderr, bad.want)
		}
	}
	var apps []services.AppStatus
	cl.pandoJSON(&apps, "app", "ls")
	if len(apps) != 0 {
		t.Fatalf("refused apps were created: %+v", apps)
	}

	t0 := time.Now()
	cl.deployApp(app(1, "hi"))
	a := cl.waitSettled("/hello", 1, "ok", 30*time.Second)
	t.Logf("healthy %s after the deploy", time.Since(t0).Round(time.Millisecond))
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", a.Tasks[0].Ports[0]))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), a.Tasks[0].ID) {
		t.Errorf("GET / answered %q, want a greeting naming task %s", body, a.Tasks[0].ID)
	}
	if r := cl.pando("ps"); !strings.Contains(r.stdout, a.Tasks[0].ID) {
		t.Errorf("pando ps does not list %s:\n%s", a.Tasks[0].ID, r.stdout)
	}
	if r := cl.pando("top", "--once"); !strings.Contains(r.stdout, a.Tasks[0].ID) {
		t.Errorf("pando top does not list %s:\n%s", a.Tasks[0].ID, r.stdout)
	}
	if r := cl.pando("app", "show", "hello"); !strings.Contains(r.stdout, "healthy") || !strings.Contains(r.stdout, strconv.FormatUint(uint64(a.Tasks[0].Ports[0]), 10)) {
		t.Errorf("pando app show:\n%s", r.stdout)
	}
	cl.deployApp(app(2, "hello"))
	cl.waitSettled("/hello", 2, "ok", 30*time.Second)

	t0 = time.Now()
	if err := dev.stop(15 * time.Second); err != nil {
		cl.fatalf("%v", err)
	}
	_, cl.url = l.startDev(bin, dataDir, args...)
	t.Logf("pando dev restarted in %s", time.Since(t0).Round(time.Millisecond))
	var out struct {
		App      services.AppStatus `json:"app"`
		Versions []string           `json:"versions"`
	}
	cl.pandoJSON(&out, "app", "show", "hello")
	if len(out.Versions) != 2 || out.App.Env["GREETING"] != "hello" {
		t.Fatalf("after the restart: versions %v, env %v; want 2 versions, the last one's env", out.Versions, out.App.Env)
	}
	cl.waitSettled("/hello", 2, "ok", 30*time.Second)
	t.Logf("healthy again %s after the restart", time.Since(t0).Round(time.Millisecond))
}
