package agent

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	kagent "github.com/pandodc/pando/kernel/agent"
)

func serveSandboxes(t *testing.T) (*Sandboxes, string, *httptest.Server) {
	t.Helper()
	root := t.TempDir()
	s := NewSandboxes(root)
	mux := http.NewServeMux()
	s.Register(mux, "")
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return s, root, srv
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// Runtimes make a sandbox only when the task first needs one: a task that
// ran without writing has empty logs, not missing ones; a task the agent
// never ran has none.
func TestSandboxLogsOfTasksThatWroteNothing(t *testing.T) {
	s, _, srv := serveSandboxes(t)
	ref := kagent.TaskRef{FrameworkID: "F1", TaskID: "quiet"}
	url := srv.URL + "/api/v1/sandbox/F1/quiet/stdout"

	if code, body := get(t, url); code != http.StatusNotFound {
		t.Fatalf("logs of a task never run: %d %q, want 404", code, body)
	}
	s.started(ref)
	if code, body := get(t, url); code != http.StatusOK || body != "" {
		t.Fatalf("logs of a running task with no sandbox yet: %d %q, want 200 and empty", code, body)
	}
	s.stopped(ref)
	if code, body := get(t, url); code != http.StatusOK || body != "" {
		t.Fatalf("logs of an ended task that wrote nothing: %d %q, want 200 and empty", code, body)
	}
	if code, _ := get(t, srv.URL+"/api/v1/sandbox/F1/quiet/other"); code != http.StatusBadRequest {
		t.Fatalf("an unknown stream: %d, want 400", code)
	}
}

// Following the log of a task whose sandbox does not exist yet picks the log
// up when the task writes it, and ends when the task does.
func TestSandboxFollowWaitsForTheLog(t *testing.T) {
	s, root, srv := serveSandboxes(t)
	ref := kagent.TaskRef{FrameworkID: "F1", TaskID: "late"}
	s.started(ref)
	type result struct {
		code int
		body string
	}
	got := make(chan result, 1)
	go func() {
		code, body := get(t, srv.URL+"/api/v1/sandbox/F1/late/stdout?follow=1")
		got <- result{code, body}
	}()
	time.Sleep(150 * time.Millisecond) // let the follower find no log yet
	dir := filepath.Join(root, "F1", "late")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stdout"), []byte("at last\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.stopped(ref)
	select {
	case r := <-got:
		if r.code != http.StatusOK || r.body != "at last\n" {
			t.Fatalf("followed log: %d %q, want 200 and the line written late", r.code, r.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("following did not end when the task did")
	}
}

// The agent remembers a bounded number of ended tasks.
func TestSandboxesForgetOldTasks(t *testing.T) {
	s := NewSandboxes(t.TempDir())
	for i := range rememberEnded + 10 {
		ref := kagent.TaskRef{FrameworkID: "F1", TaskID: fmt.Sprint("t", i)}
		s.started(ref)
		s.stopped(ref)
	}
	if len(s.ended) != rememberEnded {
		t.Fatalf("remembers %d ended tasks, want %d", len(s.ended), rememberEnded)
	}
	if s.known(kagent.TaskRef{FrameworkID: "F1", TaskID: "t0"}) {
		t.Fatal("the oldest ended task is still remembered")
	}
	last := rememberEnded + 9
	if !s.known(kagent.TaskRef{FrameworkID: "F1", TaskID: fmt.Sprint("t", last)}) {
		t.Fatal("the newest ended task is forgotten")
	}
}
