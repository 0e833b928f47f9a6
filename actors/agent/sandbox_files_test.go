package agent

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	kagent "github.com/pandodc/pando/kernel/agent"
	"github.com/pandodc/pando/sdk/client"
)

func TestSandboxFilesServesWhatATaskLeftInOut(t *testing.T) {
	s, root, srv := serveSandboxes(t)
	dir := filepath.Join(root, "fw", "t1")
	for path, data := range map[string]string{"out/result.txt": "42\n", "out/sub/part": "p", "secret-in-sandbox": "not out"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, path)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, path), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s.stopped(kagent.TaskRef{FrameworkID: "fw", TaskID: "t1"}, time.Now(), 0)
	base := srv.URL + "/api/v1/sandbox/fw/t1/files/"

	code, body := get(t, base+"out/")
	var entries []client.SandboxEntry
	if err := json.Unmarshal([]byte(body), &entries); code != http.StatusOK || err != nil {
		t.Fatalf("listing out/: %d %q (%v)", code, body, err)
	}
	want := []client.SandboxEntry{{Name: "result.txt", Type: "file", Size: 3}, {Name: "sub", Type: "dir"}}
	if len(entries) != 2 || entries[0] != want[0] || entries[1] != want[1] {
		t.Errorf("out/ lists %+v, want %+v", entries, want)
	}
	if code, body := get(t, base+"out/sub/part"); code != http.StatusOK || body != "p" {
		t.Errorf("out/sub/part: %d %q, want 200 \"p\"", code, body)
	}
	for _, path := range []string{"secret-in-sandbox", "out/../secret-in-sandbox", "stdout"} {
		if code, body := get(t, base+path); code != http.StatusBadRequest || strings.Contains(body, "not out") {
			t.Errorf("%s: %d %q, want 400", path, code, body)
		}
	}
	if code, body := get(t, base+"out/missing"); code != http.StatusNotFound || !strings.Contains(body, "left no out/missing") {
		t.Errorf("out/missing: %d %q, want 404 saying the task left none", code, body)
	}
	if code, body := get(t, srv.URL+"/api/v1/sandbox/fw/never-ran/files/out/"); code != http.StatusNotFound || !strings.Contains(body, "has no sandbox") {
		t.Errorf("a task never run: %d %q, want 404 saying it has no sandbox", code, body)
	}
}

func TestSandboxFilesRefuseLinksAndFIFOs(t *testing.T) {
	_, root, srv := serveSandboxes(t)
	out := filepath.Join(root, "fw", "t1", "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "secret"), []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(hostDir, "secret"), filepath.Join(out, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(hostDir, filepath.Join(out, "dirlink")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(out, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := srv.URL + "/api/v1/sandbox/fw/t1/files/out/"
	for _, path := range []string{"link", "dirlink/secret", "dirlink", "fifo"} {
		if code, body := get(t, base+path); code != http.StatusForbidden || strings.Contains(body, "host secret") {
			t.Errorf("%s: %d %q, want 403", path, code, body)
		}
	}
	code, body := get(t, base)
	var entries []client.SandboxEntry
	if err := json.Unmarshal([]byte(body), &entries); code != http.StatusOK || err != nil || len(entries) != 3 {
		t.Fatalf("listing out/: %d %q (%v), want 3 entries", code, body, err)
	}
	for _, e := range entries {
		if e.Type != "other" {
			t.Errorf("%s is listed as %q, want other", e.Name, e.Type)
		}
	}
}
