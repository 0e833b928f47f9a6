package agent

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kagent "github.com/pandodc/pando/kernel/agent"
	"github.com/pandodc/pando/runtime/tasklog"
)

// serveStoreSandboxes serves sandboxes whose logs a tasklog.Store keeps.
func serveStoreSandboxes(t *testing.T, cfg SandboxesConfig) (*Sandboxes, *tasklog.Store, string) {
	t.Helper()
	cfg.Root = filepath.Join(t.TempDir(), "sandboxes")
	cfg.LogDir = filepath.Join(filepath.Dir(cfg.Root), "logs")
	store, err := tasklog.Open(tasklog.Config{Dir: cfg.LogDir, SpillBytes: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	s := NewSandboxes(cfg)
	mux := http.NewServeMux()
	s.Register(mux, "")
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return s, store, srv.URL
}

// storeLog is a task's log as a runtime opens it: spilling to the sandbox.
func storeLog(store *tasklog.Store, root string, ref kagent.TaskRef, stream tasklog.Stream) *tasklog.Log {
	dir := filepath.Join(root, ref.FrameworkID, ref.TaskID)
	return store.NewLog(tasklog.LogConfig{
		Key: tasklog.Key(ref.FrameworkID, ref.TaskID), Stream: stream, Run: time.Now().UnixNano(),
		Spill: func() (*os.File, error) {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
			return os.Create(filepath.Join(dir, stream.String()))
		},
	})
}

// A small log is served from the segments; a log that moved to its file is
// served whole, segment part then file; a task run again shows its own.
func TestSandboxLogsFromTheStore(t *testing.T) {
	s, store, url := serveStoreSandboxes(t, SandboxesConfig{})
	small := kagent.TaskRef{FrameworkID: "F1", TaskID: "small"}
	s.started(small)
	l := storeLog(store, s.root, small, tasklog.Stdout)
	l.Write([]byte("one line\n"))
	l.Close()
	s.stopped(small, time.Now(), 9)
	if code, body := get(t, url+"/api/v1/sandbox/F1/small/stdout"); code != http.StatusOK || body != "one line\n" {
		t.Fatalf("small log: %d %q", code, body)
	}
	if exists(filepath.Join(s.root, "F1", "small")) {
		t.Error("a task that wrote one line has a sandbox directory")
	}

	big := kagent.TaskRef{FrameworkID: "F1", TaskID: "big"}
	s.started(big)
	l = storeLog(store, s.root, big, tasklog.Stdout)
	l.Write([]byte("head\n"))
	store.Flush()
	want := "head\n" + strings.Repeat("0123456789", 20) + "\n"
	l.Write([]byte(want[5:]))
	l.Close()
	s.stopped(big, time.Now(), int64(len(want)))
	if code, body := get(t, url+"/api/v1/sandbox/F1/big/stdout"); code != http.StatusOK || body != want {
		t.Fatalf("spilled log: %d %q, want %q", code, body, want)
	}

	time.Sleep(time.Millisecond) // a later run stamp
	s.started(small)             // run again, writing nothing
	if code, body := get(t, url+"/api/v1/sandbox/F1/small/stdout"); code != http.StatusOK || body != "" {
		t.Fatalf("log of the task run again: %d %q, want only its own (none)", code, body)
	}
}

// Following a log kept in the store sees lines flushed while the task
// runs, and ends with the task.
func TestSandboxFollowFromTheStore(t *testing.T) {
	s, store, url := serveStoreSandboxes(t, SandboxesConfig{})
	ref := kagent.TaskRef{FrameworkID: "F1", TaskID: "slow"}
	s.started(ref)
	l := storeLog(store, s.root, ref, tasklog.Stdout)
	got := make(chan string, 1)
	go func() {
		_, body := get(t, url+"/api/v1/sandbox/F1/slow/stdout?follow=1")
		got <- body
	}()
	l.Write([]byte("first\n"))
	time.Sleep(250 * time.Millisecond) // a flush or two while it runs
	l.Write([]byte("last\n"))
	l.Close()
	s.stopped(ref, time.Now(), 11)
	select {
	case body := <-got:
		if body != "first\nlast\n" {
			t.Fatalf("followed %q", body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("following did not end when the task did")
	}
}

// Past the byte cap the oldest ended tasks go, their segments with them
// once sealed; tasks found in segments at start are remembered as ended.
func TestSandboxByteCapAndRestart(t *testing.T) {
	s, store, url := serveStoreSandboxes(t, SandboxesConfig{MaxBytes: 20})
	now := time.Now()
	for i, id := range []string{"a", "b", "c"} {
		ref := kagent.TaskRef{FrameworkID: "F1", TaskID: id}
		s.started(ref)
		l := storeLog(store, s.root, ref, tasklog.Stdout)
		l.Write([]byte("ten bytes\n"))
		l.Close()
		s.stopped(ref, now.Add(time.Duration(i)*time.Second), 10)
	}
	s.Collect(now.Add(3 * time.Second))
	if code, _ := get(t, url+"/api/v1/sandbox/F1/a/stdout"); code != http.StatusNotFound {
		t.Errorf("the oldest task past the byte cap: %d, want 404", code)
	}
	if code, body := get(t, url+"/api/v1/sandbox/F1/c/stdout"); code != http.StatusOK || body != "ten bytes\n" {
		t.Errorf("the newest task: %d %q", code, body)
	}
	store.Close() // seals the segment
	again := NewSandboxes(SandboxesConfig{Root: s.root, LogDir: filepath.Join(filepath.Dir(s.root), "logs"), MaxBytes: 20})
	if !again.known(kagent.TaskRef{FrameworkID: "F1", TaskID: "c"}) {
		t.Fatal("a restarted agent does not know the task it found in the segments")
	}
	again.Collect(now.Add(48 * time.Hour))
	if segs, _ := os.ReadDir(filepath.Join(filepath.Dir(s.root), "logs")); len(segs) != 0 {
		t.Errorf("%d segments left after every task expired", len(segs))
	}
}
