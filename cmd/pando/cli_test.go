package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/sdk/client"
)

// These tests drive the real binary: `pando dev` as its own process on free
// ports, and the client commands against it, as a user would.

func buildPando(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pando")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("building pando: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startDev runs `pando dev` and returns its master URL once it answers.
func startDev(t *testing.T, bin string, extra ...string) string {
	t.Helper()
	httpAddr := freeAddr(t)
	args := append([]string{"dev", "--http", httpAddr, "--remoting", freeAddr(t), "--data-dir", t.TempDir()}, extra...)
	cmd := exec.Command(bin, args...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("pando dev did not stop within 15s of SIGINT; its output:\n%s", logs.String())
		}
	})
	url := "http://" + httpAddr
	c, err := client.New(url)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatalf("%v; its output:\n%s", err, logs.String())
	}
	return url
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
	if testing.Short() {
		t.Skip("starts pando dev as a process; not in -short mode")
	}
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
			var jobs []client.JobStatus
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
			{[]string{"run", filepath.Join(t.TempDir(), "missing.wasm")}, 2, "no such file"},
			{[]string{"run", hello, "--mem", "12XB"}, 2, `unknown unit "XB"`},
			{[]string{"run", hello, "--mem", "64GiB"}, 2, "largest agent"},
			{[]string{"run", hello, "--master", "http://127.0.0.1:1"}, 1, "cannot reach the master"},
			{[]string{"logs", "no-such-task"}, 1, "no task"},
		}
		for _, tc := range cases {
			r := pando(t, bin, master, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.says) {
				t.Errorf("pando %v: exit %d, stderr %q; want exit %d saying %q", tc.args, r.code, r.stderr, tc.code, tc.says)
			}
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
		if err := json.Unmarshal([]byte(r.stdout), &fws); err != nil || len(fws) != 1 || fws[0].Name != "batch" || !fws[0].Connected {
			t.Errorf("frameworks --json = %q (%v), want the connected batch framework", r.stdout, err)
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
