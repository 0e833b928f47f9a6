package agent

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	kagent "github.com/pandodc/pando/kernel/agent"
)

func serveSandboxes(t *testing.T) (*Sandboxes, string, *httptest.Server) {
	t.Helper()
	root := t.TempDir()
	s := NewSandboxes(SandboxesConfig{Root: root})
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
	s.stopped(ref, time.Now(), 0)
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
	s.stopped(ref, time.Now(), 0)
	select {
	case r := <-got:
		if r.code != http.StatusOK || r.body != "at last\n" {
			t.Fatalf("followed log: %d %q, want 200 and the line written late", r.code, r.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("following did not end when the task did")
	}
}

func makeSandbox(t *testing.T, root string, ref kagent.TaskRef) string {
	t.Helper()
	dir := filepath.Join(root, ref.FrameworkID, ref.TaskID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stdout"), []byte("out\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Sandboxes go once their retention has passed, running tasks' never, even
// when an earlier run of the same task id has expired.
func TestSandboxGCRemovesExpiredSandboxes(t *testing.T) {
	root := t.TempDir()
	s := NewSandboxes(SandboxesConfig{Root: root, Retention: time.Hour})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	old, recent, rerun := kagent.TaskRef{FrameworkID: "F1", TaskID: "old"}, kagent.TaskRef{FrameworkID: "F1", TaskID: "recent"}, kagent.TaskRef{FrameworkID: "F2", TaskID: "rerun"}
	oldDir, recentDir, rerunDir := makeSandbox(t, root, old), makeSandbox(t, root, recent), makeSandbox(t, root, rerun)
	for _, ref := range []kagent.TaskRef{old, rerun} {
		s.started(ref)
		s.stopped(ref, t0, 0)
	}
	s.started(recent)
	s.stopped(recent, t0.Add(50*time.Minute), 0)
	s.started(rerun) // the same id runs again

	if n := s.Collect(t0.Add(30 * time.Minute)); n != 0 || !exists(oldDir) {
		t.Fatalf("Collect before the retention passed removed %d sandboxes (old exists: %v)", n, exists(oldDir))
	}
	if n := s.Collect(t0.Add(70 * time.Minute)); n != 1 {
		t.Fatalf("Collect removed %d sandboxes, want 1 (old)", n)
	}
	if exists(oldDir) || !exists(recentDir) || !exists(rerunDir) {
		t.Fatalf("after Collect: old %v (want gone), recent %v, rerun (running) %v (want kept)", exists(oldDir), exists(recentDir), exists(rerunDir))
	}
	if s.known(old) {
		t.Error("a collected task is still known, so its logs would read as empty rather than gone")
	}
	s.stopped(rerun, t0.Add(2*time.Hour), 0)
	if n := s.Collect(t0.Add(2*time.Hour + 30*time.Minute)); n != 1 || exists(recentDir) || !exists(rerunDir) {
		t.Fatalf("second Collect removed %d; recent exists %v (want gone), rerun exists %v (want kept until 3h)", n, exists(recentDir), exists(rerunDir))
	}
}

// Beyond MaxEnded ended tasks, the oldest sandboxes go first, whatever
// their age.
func TestSandboxGCCapsEndedSandboxes(t *testing.T) {
	root := t.TempDir()
	s := NewSandboxes(SandboxesConfig{Root: root, MaxEnded: 3})
	now := time.Now()
	var dirs []string
	for i := range 5 {
		ref := kagent.TaskRef{FrameworkID: "F1", TaskID: fmt.Sprint("t", i)}
		dirs = append(dirs, makeSandbox(t, root, ref))
		s.started(ref)
		s.stopped(ref, now.Add(time.Duration(i)*time.Second), 0)
	}
	if n := s.Collect(now.Add(time.Minute)); n != 2 {
		t.Fatalf("Collect removed %d sandboxes, want the 2 oldest", n)
	}
	for i, dir := range dirs {
		if want := i >= 2; exists(dir) != want {
			t.Errorf("sandbox t%d exists = %v, want %v", i, exists(dir), want)
		}
	}
}

// Sandboxes left by an earlier run of the agent are collected too, by their
// age on disk.
func TestSandboxGCCollectsSandboxesOfAnEarlierRun(t *testing.T) {
	root := t.TempDir()
	stale := makeSandbox(t, root, kagent.TaskRef{FrameworkID: "F1", TaskID: "stale"})
	fresh := makeSandbox(t, root, kagent.TaskRef{FrameworkID: "F1", TaskID: "fresh"})
	longAgo := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(stale, longAgo, longAgo); err != nil {
		t.Fatal(err)
	}
	s := NewSandboxes(SandboxesConfig{Root: root, Retention: 24 * time.Hour})
	if n := s.Collect(time.Now()); n != 1 || exists(stale) || !exists(fresh) {
		t.Fatalf("Collect removed %d; stale exists %v (want gone), fresh exists %v (want kept)", n, exists(stale), exists(fresh))
	}
}

// TestLogsRefuseWhatATaskPutInTheirPlace: a container owns its sandbox and
// may replace its log with a link to a host file or a FIFO; neither is read.
func TestLogsRefuseWhatATaskPutInTheirPlace(t *testing.T) {
	_, root, srv := serveSandboxes(t)
	dir := filepath.Join(root, "fw", "t1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "stdout")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "stderr"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, stream := range []string{"stdout", "stderr"} {
		code, body := get(t, srv.URL+"/api/v1/sandbox/fw/t1/"+stream)
		if code == http.StatusOK || strings.Contains(body, "host secret") || !strings.Contains(body, "not a regular file") {
			t.Errorf("%s replaced by the task: %d %q, want a refusal", stream, code, body)
		}
	}
}
