package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pandodc/pando/frameworks/batch/batchapi"
	"github.com/pandodc/pando/sdk/client"
)

// collectedMaster serves a finished job of three instances whose middle
// one's sandbox is gone: the agent answers 404 for its logs.
func collectedMaster(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/batch/jobs/job-9/tasks", func(w http.ResponseWriter, r *http.Request) {
		var tasks []batchapi.TaskStatusView
		for i := range 3 {
			tasks = append(tasks, batchapi.TaskStatusView{Instance: i, TaskID: fmt.Sprintf("job-9.%d.0", i), State: "finished", AgentID: "a1"})
		}
		_ = json.NewEncoder(w).Encode(tasks)
	})
	mux.HandleFunc("GET /api/v1/tasks/{id}/logs", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if id == "job-9.1.0" {
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "task " + id + " has no sandbox on this agent (not started yet, or its sandbox was removed)"})
			return
		}
		fmt.Fprintf(w, "%s of %s", r.URL.Query().Get("stream"), id) // no final newline
	})
	// The master's agent list points at this server, as the agent too: its
	// tasks left no /sandbox/out/.
	var srv *httptest.Server
	mux.HandleFunc("GET /api/v1/agents", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode([]client.Agent{{ID: "a1", HTTPAddress: srv.URL}})
	})
	mux.HandleFunc("GET /api/v1/sandbox/{framework}/{task}/files/{path...}", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error": "left no out"}`, http.StatusNotFound)
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestLogsOfACollectedInstance(t *testing.T) {
	master := collectedMaster(t)
	stdout, stderr, code := runCLI(t, master, "logs", "job-9", "--prefix")
	if want := "[0] stdout of job-9.0.0\n[2] stdout of job-9.2.0\n"; stdout != want {
		t.Errorf("stdout %q, want %q", stdout, want)
	}
	if code != 1 || !strings.Contains(stderr, "instance 1 (job-9.1.0): its logs are gone") {
		t.Errorf("exit %d, stderr %q; want 1 naming instance 1's logs as gone", code, stderr)
	}
}

func TestFetchOfACollectedInstanceWritesNothing(t *testing.T) {
	master := collectedMaster(t)
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	_, stderr, code := runCLI(t, master, "fetch", "job-9", dir)
	if code != 1 || !strings.Contains(stderr, "instance 1 (job-9.1.0): its logs are gone") || !strings.Contains(stderr, "nothing written to "+dir) {
		t.Errorf("exit %d, stderr %q; want 1 naming instance 1 and saying nothing was written", code, stderr)
	}
	if entries, err := os.ReadDir(parent); err != nil || len(entries) != 0 {
		t.Errorf("%s holds %v (%v) after a failed fetch, want nothing", parent, entries, err)
	}
}

func TestPrefixWriter(t *testing.T) {
	var b bytes.Buffer
	p := &prefixWriter{w: &b, prefix: []byte("[7] "), atStart: true}
	for _, chunk := range []string{"a", "b\nc\n", "\nd"} {
		if n, err := p.Write([]byte(chunk)); err != nil || n != len(chunk) {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	if err := p.endLine(); err != nil {
		t.Fatal(err)
	}
	if want := "[7] ab\n[7] c\n[7] \n[7] d\n"; b.String() != want {
		t.Errorf("wrote %q, want %q", b.String(), want)
	}
}

// A big job whose logs are all gone names the first instances and counts
// the rest, rather than printing a line per instance.
func TestLogsOfAManyInstanceJobWhoseLogsAreGoneStaysShort(t *testing.T) {
	const n = 50
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/batch/jobs/job-8/tasks", func(w http.ResponseWriter, r *http.Request) {
		var tasks []batchapi.TaskStatusView
		for i := range n {
			tasks = append(tasks, batchapi.TaskStatusView{Instance: i, TaskID: fmt.Sprintf("job-8.%d.0", i), State: "finished", AgentID: "a1"})
		}
		_ = json.NewEncoder(w).Encode(tasks)
	})
	mux.HandleFunc("GET /api/v1/tasks/{id}/logs", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "gone"})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	_, stderr, code := runCLI(t, srv.URL, "logs", "job-8")
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	named := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "instance ") {
			named++
		}
	}
	if code != 1 || named != maxInstanceNotes || !strings.Contains(stderr, fmt.Sprintf("... and %d more instances", n-maxInstanceNotes)) || !strings.Contains(stderr, fmt.Sprintf("the logs of %d instance(s) could not be read", n)) {
		t.Errorf("exit %d, %d instances named; stderr:\n%s\nwant exit 1, %d named, the rest counted and the total", code, named, stderr, maxInstanceNotes)
	}
}
