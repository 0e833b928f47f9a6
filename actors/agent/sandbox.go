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
// running, so that following a log ends when its task does, and which ended
// lately, since a task that never wrote anything has no sandbox to show.
type Sandboxes struct {
	root string

	mu     sync.Mutex
	active map[kagent.TaskRef]chan struct{} // closed when the task ends
	// ended and endedOrder remember the last rememberEnded tasks to end.
	ended      map[kagent.TaskRef]bool
	endedOrder []kagent.TaskRef
	endedNext  int
}

// rememberEnded is how many ended tasks Sandboxes remembers: a task among
// them with no sandbox ran and wrote nothing, so its logs are empty.
const rememberEnded = 10000

// NewSandboxes serves the sandboxes under root.
func NewSandboxes(root string) *Sandboxes {
	return &Sandboxes{root: root, active: map[kagent.TaskRef]chan struct{}{}, ended: map[kagent.TaskRef]bool{}}
}

func (s *Sandboxes) started(taskID kagent.TaskRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.active[taskID]; !ok {
		s.active[taskID] = make(chan struct{})
	}
}

func (s *Sandboxes) stopped(taskID kagent.TaskRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.active[taskID]; ok {
		close(ch)
		delete(s.active, taskID)
	}
	if s.ended[taskID] {
		return
	}
	if len(s.endedOrder) < rememberEnded {
		s.endedOrder = append(s.endedOrder, taskID)
	} else {
		delete(s.ended, s.endedOrder[s.endedNext])
		s.endedOrder[s.endedNext] = taskID
		s.endedNext = (s.endedNext + 1) % rememberEnded
	}
	s.ended[taskID] = true
}

// known reports whether the task is running or ended lately on this agent.
func (s *Sandboxes) known(taskID kagent.TaskRef) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, running := s.active[taskID]
	return running || s.ended[taskID]
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
	path := filepath.Join(dir, stream)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		// Runtimes make a sandbox and its logs when the task first needs
		// them: for a task that ran, or runs, a missing log is empty.
		if _, dirErr := os.Stat(dir); dirErr != nil && !s.known(taskID) {
			writeError(w, http.StatusNotFound, "task %s has no sandbox on this agent (not started yet, or its sandbox was removed)", taskID.TaskID)
			return
		}
		f, err = nil, nil
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "opening %s of task %s: %v", stream, taskID.TaskID, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if r.URL.Query().Get("follow") != "" {
		s.follow(w, r, path, f, s.done(taskID)) // closes f
		return
	}
	if f != nil {
		defer f.Close()
		_, _ = io.Copy(w, f)
	}
}

// follow copies the log at path to w as it grows, until the task ends (then
// drains what is left) or the client goes away. f is the log opened, or nil
// while the task has not written to it yet.
func (s *Sandboxes) follow(w http.ResponseWriter, r *http.Request, path string, f *os.File, done <-chan struct{}) {
	flusher, _ := w.(http.Flusher)
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	drain := func() (int64, error) {
		if f == nil {
			var err error
			if f, err = os.Open(path); err != nil {
				f = nil
				return 0, nil // not written yet
			}
		}
		return io.Copy(w, f)
	}
	for {
		n, err := drain()
		if err != nil {
			return
		}
		if n > 0 && flusher != nil {
			flusher.Flush()
		}
		select {
		case <-done:
			_, _ = drain()
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
