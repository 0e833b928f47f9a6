package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	kagent "github.com/pandodc/pando/kernel/agent"
)

// Sandboxes serves task sandboxes over HTTP and knows which tasks are still
// running, so that following a log ends when its task does.
type Sandboxes struct {
	root string

	mu     sync.Mutex
	active map[kagent.TaskRef]chan struct{} // closed when the task ends
}

// NewSandboxes serves the sandboxes under root.
func NewSandboxes(root string) *Sandboxes {
	return &Sandboxes{root: root, active: map[kagent.TaskRef]chan struct{}{}}
}

func (s *Sandboxes) started(taskID kagent.TaskRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.active[taskID]; !ok {
		s.active[taskID] = make(chan struct{})
	}
}

func (s *Sandboxes) ended(taskID kagent.TaskRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.active[taskID]; ok {
		close(ch)
		delete(s.active, taskID)
	}
}

// done returns a channel closed when the task is no longer running.
func (s *Sandboxes) done(taskID kagent.TaskRef) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.active[taskID]; ok {
		return ch
	}
	closed := make(chan struct{})
	close(closed)
	return closed
}

// Register adds GET /api/v1/sandbox/{framework}/{task}/{stream} (stream:
// stdout or stderr; ?follow=1 streams until the task ends) to mux, under
// prefix.
func (s *Sandboxes) Register(mux *http.ServeMux, prefix string) {
	mux.HandleFunc("GET "+prefix+"/api/v1/sandbox/{framework}/{task}/{stream}", s.serveLog)
}

func (s *Sandboxes) serveLog(w http.ResponseWriter, r *http.Request) {
	taskID := kagent.TaskRef{FrameworkID: r.PathValue("framework"), TaskID: r.PathValue("task")}
	stream := r.PathValue("stream")
	if stream != "stdout" && stream != "stderr" {
		writeError(w, http.StatusBadRequest, "stream %q: want stdout or stderr", stream)
		return
	}
	dir, err := sandboxDir(s.root, taskID)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	f, err := os.Open(filepath.Join(dir, stream))
	if errors.Is(err, fs.ErrNotExist) {
		writeError(w, http.StatusNotFound, "task %s has no %s on this agent (not started yet, or its sandbox was removed)", taskID.TaskID, stream)
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "opening %s of task %s: %v", stream, taskID.TaskID, err)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if r.URL.Query().Get("follow") == "" {
		_, _ = io.Copy(w, f)
		return
	}
	s.follow(w, r, f, s.done(taskID))
}

// follow copies f to w as it grows, until the task ends (then drains what
// is left) or the client goes away.
func (s *Sandboxes) follow(w http.ResponseWriter, r *http.Request, f *os.File, done <-chan struct{}) {
	flusher, _ := w.(http.Flusher)
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	for {
		n, err := io.Copy(w, f)
		if err != nil {
			return
		}
		if n > 0 && flusher != nil {
			flusher.Flush()
		}
		select {
		case <-done:
			_, _ = io.Copy(w, f)
			return
		case <-r.Context().Done():
			return
		case <-poll.C:
		}
	}
}

func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": fmt.Sprintf(format, args...)})
}
