package main_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/frameworks/batch/batchapi"
	"github.com/pandodc/pando/sdk/client"
)

// These tests drive the real binary: `pando dev` as its own process on free
// ports, and the client commands against it, as a user would.

func TestMain(m *testing.M) {
	code := m.Run()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
	}
	os.Exit(code)
}

// builds are the binaries the tests build, once per test binary, into one
// temporary directory that TestMain removes.
var builds struct {
	sync.Mutex
	dir string
	m   map[string]*build
}

type build struct {
	once sync.Once
	path string
	err  error
}

// goBuild builds the Go package pkg into a binary called name, once.
func goBuild(t *testing.T, name, pkg string) string {
	t.Helper()
	builds.Lock()
	if builds.m == nil {
		builds.m = map[string]*build{}
	}
	b := builds.m[name]
	if b == nil {
		b = &build{}
		builds.m[name] = b
	}
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "pando-cli-test-")
		if err != nil {
			builds.Unlock()
			t.Fatal(err)
		}
		builds.dir = dir
	}
	dir := builds.dir
	builds.Unlock()
	b.once.Do(func() {
		b.path = filepath.Join(dir, name)
		if out, err := exec.Command("go", "build", "-o", b.path, pkg).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("building %s: %v\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// buildPando builds this package's binary (once for all the tests).
func buildPando(t *testing.T) string {
	t.Helper()
	return goBuild(t, "pando", ".")
}

// skipIfShort skips tests that start processes in -short mode, except
// under CI, where nothing may skip.
func skipIfShort(t *testing.T) {
	t.Helper()
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("starts pando processes; not in -short mode")
	}
}

// given holds every address freeAddr handed out: the kernel may offer a
// port again once its listener is closed, and two processes of one test
// (or a --http and a --remoting) must not get the same one.
var given struct {
	sync.Mutex
	addrs map[string]bool
}

// freeAddr returns a 127.0.0.1 address with a free port, never the same
// one twice in this test binary.
func freeAddr(t *testing.T) string {
	t.Helper()
	given.Lock()
	defer given.Unlock()
	if given.addrs == nil {
		given.addrs = map[string]bool{}
	}
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		if !given.addrs[addr] {
			given.addrs[addr] = true
			return addr
		}
	}
}

// syncBuffer collects a process's output; the test may read it while the
// process still writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a process a test started: pando dev, master, agent, a framework.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed once it has exited
	err  error         // what Wait said, once done is closed
}

// lab owns the processes of one test. When the test ends it interrupts
// them (each must exit within 15s of SIGINT) and, if the test failed,
// logs their output.
type lab struct {
	t     *testing.T
	mu    sync.Mutex
	procs []*proc
	shown bool // the output is already in a failure message
}

func newLab(t *testing.T) *lab {
	l := &lab{t: t}
	// Registered first, so it runs after every process is stopped.
	t.Cleanup(func() {
		l.mu.Lock()
		shown := l.shown
		l.mu.Unlock()
		if t.Failed() && !shown {
			t.Logf("the processes' output:\n%s", l.output())
		}
	})
	return l
}

// start runs bin with args as its own process.
func (l *lab) start(name, bin string, args ...string) *proc {
	l.t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		l.fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	if len(args) > 0 && args[0] == "agent" {
		// Runs after the stop below: an agent killed and never started
		// again leaves its executor process running.
		l.t.Cleanup(func() { killExecutor(l.t, args) })
	}
	l.t.Cleanup(func() {
		if err := p.stop(15 * time.Second); err != nil {
			l.t.Error(err)
		}
	})
	return p
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop interrupts the process (as Ctrl-C would) and waits for it to exit,
// killing it after timeout. It returns an error saying so, with its output.
func (p *proc) stop(timeout time.Duration) error {
	if p.exited() {
		return nil
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %s of SIGINT; its output:\n%s", p.name, timeout, p.out)
	}
}

// kill ends the process with SIGKILL (no chance to clean up) and waits
// for it.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// output is every process's output, most recent part of each.
func (l *lab) output() string {
	l.mu.Lock()
	procs := slices.Clone(l.procs)
	l.mu.Unlock()
	const keep = 6000 // bytes of each process's output, its end
	var b strings.Builder
	for _, p := range procs {
		out := p.out.String()
		if len(out) > keep {
			out = "[...]\n" + out[len(out)-keep:]
		}
		state := "running"
		if p.exited() {
			state = fmt.Sprintf("exited: %v", p.err)
		}
		fmt.Fprintf(&b, "----- %s (pid %d, %s): %s\n%s\n", p.name, p.cmd.Process.Pid, state, strings.Join(p.cmd.Args[1:], " "), out)
	}
	return b.String()
}

// fatalf fails the test with the processes' output.
func (l *lab) fatalf(format string, args ...any) {
	l.t.Helper()
	l.mu.Lock()
	l.shown = true
	l.mu.Unlock()
	l.t.Fatalf(format+"\nthe processes' output:\n%s", append(args, l.output())...)
}

// waitFor polls cond until it holds, failing the test after timeout with
// what cond last said and the processes' output.
func (l *lab) waitFor(timeout time.Duration, what string, cond func() (bool, string)) {
	l.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, status := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			l.fatalf("waited %s for %s; last seen: %s", timeout, what, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startDev runs `pando dev` and returns its master URL once it answers.
func startDev(t *testing.T, bin string, extra ...string) string {
	t.Helper()
	_, url := newLab(t).startDev(bin, t.TempDir(), extra...)
	return url
}

// startDev runs `pando dev` on fresh ports with dataDir and returns it and
// its master URL once it answers.
func (l *lab) startDev(bin, dataDir string, extra ...string) (*proc, string) {
	l.t.Helper()
	httpAddr := freeAddr(l.t)
	args := append([]string{"dev", "--http", httpAddr, "--remoting", freeAddr(l.t), "--data-dir", dataDir}, extra...)
	if !slices.Contains(extra, "--containerd") {
		// Only the container tests pay for a containerd of their own.
		args = append(args, "--containerd", "none")
	}
	p := l.start("pando dev", bin, args...)
	url := "http://" + httpAddr
	l.waitReady(p, url)
	l.waitBuiltins(url)
	return p, url
}

// waitBuiltins waits until the built-in frameworks' APIs answer at url: the
// master answers before they are mounted (cron is mounted last).
func (l *lab) waitBuiltins(url string) {
	l.t.Helper()
	c, err := client.New(url)
	if err != nil {
		l.t.Fatal(err)
	}
	l.waitFor(30*time.Second, "the built-in frameworks' APIs at "+url, func() (bool, string) {
		err := c.Do(context.Background(), http.MethodGet, "/api/v1/cron/v1/scheduler/jobs", nil, nil)
		return err == nil, fmt.Sprint(err)
	})
}

// waitReady waits until the master at url, run by p, answers.
func (l *lab) waitReady(p *proc, url string) {
	l.t.Helper()
	c, err := client.New(url)
	if err != nil {
		l.t.Fatal(err)
	}
	l.waitFor(30*time.Second, p.name+" to answer at "+url, func() (bool, string) {
		if p.exited() {
			l.fatalf("%s exited before answering: %v", p.name, p.err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := c.Master(ctx); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

type result struct {
	stdout, stderr string
	code           int
}

func pando(t *testing.T, bin, master string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "PANDO_MASTER="+master)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	code := 0
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("pando %v: %v", args, err)
	}
	return result{stdout.String(), stderr.String(), code}
}

func runJSON(t *testing.T, r result) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("--json printed %q (stderr %q): %v", r.stdout, r.stderr, err)
	}
	return out
}

func TestCLIAgainstDev(t *testing.T) {
	skipIfShort(t)
	bin := buildPando(t)
	master := startDev(t, bin, "--resources", "cpus:2;mem:4GiB")
	hello := wasmbuild.MustBuild(t, "hello")

	t.Run("thousand hellos finish", func(t *testing.T) {
		r := pando(t, bin, master, "run", hello, "-n", "1000", "--json")
		if r.code != 0 {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
		out := runJSON(t, r)
		if out["instances"] != 1000.0 || out["finished"] != 1000.0 || out["failed"] != 0.0 {
			t.Fatalf("summary %v, want 1000 of 1000 finished", out)
		}
		if d, ok := out["duration_s"].(float64); !ok || d <= 0 {
			t.Errorf("duration_s = %v, want a positive number", out["duration_s"])
		}
		job := out["job"].(string)
		for _, i := range []int{0, 499, 999} {
			task := fmt.Sprintf("%s.%d.0", job, i)
			logs := pando(t, bin, master, "logs", task)
			if want := fmt.Sprintf("instance %d of task %s", i, task); logs.code != 0 || !strings.Contains(logs.stdout, want) {
				t.Errorf("pando logs %s: exit %d, stdout %q, want it to contain %q", task, logs.code, logs.stdout, want)
			}
		}
	})

	t.Run("failures give the right state and reason", func(t *testing.T) {
		cases := []struct {
			example string
			args    []string
			message string
		}{
			{"fail", []string{"--retries", "1"}, "exited with code 3"},
			{"spin", []string{"--timeout", "1s"}, "ran past its timeout of 1s"},
			{"hog", []string{"--mem", "32MiB"}, "needed more than its 32MiB of memory"},
		}
		for _, tc := range cases {
			module := wasmbuild.MustBuild(t, tc.example)
			r := pando(t, bin, master, append([]string{"run", module, "--json"}, tc.args...)...)
			if r.code != 1 {
				t.Errorf("%s: exit %d, want 1 (stderr %q)", tc.example, r.code, r.stderr)
				continue
			}
			out := runJSON(t, r)
			failures, _ := out["failures"].([]any)
			if out["failed"] != 1.0 || len(failures) == 0 {
				t.Errorf("%s: summary %v, want one failed instance with failures", tc.example, out)
				continue
			}
			last := failures[len(failures)-1].(map[string]any)
			if !strings.Contains(fmt.Sprint(last["message"]), tc.message) || last["state"] != "failed" {
				t.Errorf("%s: failure %v, want state failed with %q", tc.example, last, tc.message)
			}
		}
		// --retries 1 runs the failing instance twice.
		r := pando(t, bin, master, "ps", "--all", "--json", "--state", "failed")
		var tasks []client.Task
		if err := json.Unmarshal([]byte(r.stdout), &tasks); err != nil {
			t.Fatalf("ps --json: %q: %v", r.stdout, err)
		}
		if len(tasks) < 4 { // 2 attempts of fail, spin, hog
			t.Errorf("ps --state failed lists %d tasks, want at least 4", len(tasks))
		}
	})

	t.Run("kill a running job", func(t *testing.T) {
		spin := wasmbuild.MustBuild(t, "spin")
		r := pando(t, bin, master, "run", spin, "-n", "3", "--detach")
		job := strings.TrimSpace(r.stdout)
		if r.code != 0 || job == "" {
			t.Fatalf("run --detach: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		if k := pando(t, bin, master, "kill", job); k.code != 0 {
			t.Fatalf("kill: exit %d, stderr %q", k.code, k.stderr)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			var jobs []batchapi.JobStatus
			r := pando(t, bin, master, "jobs", "--json")
			if err := json.Unmarshal([]byte(r.stdout), &jobs); err != nil {
				t.Fatalf("jobs --json: %q: %v", r.stdout, err)
			}
			var state string
			for _, j := range jobs {
				if j.ID == job {
					state = j.State
				}
			}
			if state == "killed" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s is %q 30s after kill, want killed", job, state)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("bad input gets a clear error", func(t *testing.T) {
		notWasm := filepath.Join(t.TempDir(), "job.wasm")
		if err := os.WriteFile(notWasm, []byte("#!/bin/sh\necho hi\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			args []string
			code int
			says string
		}{
			{[]string{"run", notWasm}, 2, "is not a WebAssembly module"},
			{[]string{"upload", notWasm}, 2, "is not a WebAssembly module"},
			{[]string{"run", filepath.Join(t.TempDir(), "missing.wasm")}, 2, "no such file"},
			{[]string{"run", hello, "--mem", "12XB"}, 2, `unknown unit "XB"`},
			{[]string{"run", hello, "--mem", "64GiB"}, 2, "largest agent"},
			{[]string{"run", hello, "--master", "http://127.0.0.1:1"}, 1, "cannot reach the master"},
			{[]string{"logs", "no-such-task"}, 1, "no task"},
			{[]string{"logs", ""}, 2, "give a task id"},
			{[]string{"master", "--agent-ping-interval", "0s"}, 2, "--agent-ping-interval must be positive"},
			{[]string{"master", "--agent-max-missed-pings", "0"}, 2, "--agent-max-missed-pings must be at least 1"},
			{[]string{"agent", "--sandbox-retention", "0s"}, 2, "--sandbox-retention must be positive"},
			{[]string{"master", "--artifact-grace", "0s"}, 2, "--artifact-grace and --artifact-gc-interval must be positive, got 0s"},
			{[]string{"dev", "--artifact-grace", "-1m"}, 2, "--artifact-grace and --artifact-gc-interval must be positive, got -1m0s"},
			{[]string{"master", "--artifact-gc-interval", "0s"}, 2, "must be positive, got 1h0m0s and 0s"},
			{[]string{"dev", "--max-artifact-size", "0"}, 2, `--max-artifact-size "0": want a positive size`},
			{[]string{"agent", "--artifact-cache-size", "0"}, 2, `--artifact-cache-size "0": want a positive size`},
			{[]string{"dev", "--artifact-cache-size", "2XB"}, 2, `unknown unit "XB"`},
			{[]string{"agent", "--artifact-cache-grace", "0s"}, 2, "--artifact-cache-grace must be positive"},
			{[]string{"dev", "--image-idle", "-1s"}, 2, "--image-idle must be positive, got -1s"},
			{[]string{"master", "--max-completed-tasks", "0"}, 2, "--max-completed-tasks must be at least 1, got 0"},
			{[]string{"dev", "--max-completed-tasks", "-5"}, 2, "--max-completed-tasks must be at least 1, got -5"},
			{[]string{"agent", "--max-ended-tasks", "0"}, 2, "--max-ended-tasks must be at least 1, got 0"},
		}
		for _, tc := range cases {
			r := pando(t, bin, master, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.says) {
				t.Errorf("pando %v: exit %d, stderr %q; want exit %d saying %q", tc.args, r.code, r.stderr, tc.code, tc.says)
			}
		}
	})

	t.Run("upload gives the module's content address", func(t *testing.T) {
		module, err := os.ReadFile(hello)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("sha256:%x", sha256.Sum256(module))
		r := pando(t, bin, master, "upload", hello)
		if r.code != 0 || strings.TrimSpace(r.stdout) != want {
			t.Fatalf("pando upload: exit %d, stdout %q, stderr %q; want %s", r.code, r.stdout, r.stderr, want)
		}
		var art client.Artifact
		r = pando(t, bin, master, "upload", hello, "--json")
		if err := json.Unmarshal([]byte(r.stdout), &art); err != nil || art.Digest != want || art.Size != int64(len(module)) {
			t.Fatalf("pando upload --json = %q (%v), want digest %s and size %d", r.stdout, err, want, len(module))
		}
	})

	t.Run("listings", func(t *testing.T) {
		var agents []client.Agent
		r := pando(t, bin, master, "agents", "--json")
		if err := json.Unmarshal([]byte(r.stdout), &agents); err != nil || len(agents) != 1 || agents[0].Total != "cpus:2;mem:4096" {
			t.Errorf("agents --json = %q (%v), want one agent with cpus:2;mem:4096", r.stdout, err)
		}
		var fws []client.Framework
		r = pando(t, bin, master, "frameworks", "--json")
		if err := json.Unmarshal([]byte(r.stdout), &fws); err != nil || len(namedFrameworks(fws, "batch")) != 1 || !namedFrameworks(fws, "batch")[0].Connected {
			t.Errorf("frameworks --json = %q (%v), want the connected batch framework", r.stdout, err)
		}
		if r = pando(t, bin, master, "frameworks"); r.code != 0 || !strings.Contains(r.stdout, "NOT OFFERED") || !strings.Contains(r.stdout, "batch") {
			t.Errorf("pando frameworks: exit %d, stdout %q: want the batch framework and the NOT OFFERED counts", r.code, r.stdout)
		}
		metrics, err := http.Get(master + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(metrics.Body)
		metrics.Body.Close()
		if !strings.Contains(string(body), "pando_master_task_states") || !strings.Contains(string(body), `state="TASK_FINISHED"`) {
			t.Errorf("/metrics lacks the task state counter:\n%.2000s", body)
		}
	})
}
