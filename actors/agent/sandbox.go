package agent

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/pandodc/pando/internal/httpjson"
	kagent "github.com/pandodc/pando/kernel/agent"
)

// Sandboxes serves task sandboxes over HTTP and keeps them for a while. It
// knows which tasks are still running, so that following a log ends when
// its task does, and which ended and when, since a task that never wrote
// anything has no sandbox to show, and since sandboxes of tasks that ended
// long ago, or too many of them, are removed (see Collect).
type Sandboxes struct {
	root      string
	retention time.Duration
	max       int

	mu     sync.Mutex
	active map[kagent.TaskRef]chan struct{} // closed when the task ends
	// ended maps each remembered ended task to when it ended; queue holds
	// the same tasks oldest first (with stale entries for tasks that were
	// run again, recognised by their time).
	ended map[kagent.TaskRef]time.Time
	queue []endedTask
}

type endedTask struct {
	ref kagent.TaskRef
	at  time.Time
}

// SandboxesConfig says where sandboxes live and how long they are kept.
type SandboxesConfig struct {
	// Root holds one directory per task: Root/<framework>/<task>.
	Root string
	// Retention is how long a sandbox is kept after its task ends
	// (default 24h; Mesos keeps them a week, but scales that down as the
	// disk fills, which Pando does not).
	Retention time.Duration
	// MaxEnded caps how many ended tasks' sandboxes are kept (default
	// 10,000): the oldest go first.
	MaxEnded int
	// Clock gives the time (default time.Now).
	Clock func() time.Time
}

const (
	defaultSandboxRetention = 24 * time.Hour
	defaultMaxEndedTasks    = 10000
)

// NewSandboxes serves the sandboxes under cfg.Root. Sandboxes already there
// belong to tasks of an earlier run of the agent, which ended with it: they
// are kept as ended at their last modification.
func NewSandboxes(cfg SandboxesConfig) *Sandboxes {
	if cfg.Retention <= 0 {
		cfg.Retention = defaultSandboxRetention
	}
	if cfg.MaxEnded <= 0 {
		cfg.MaxEnded = defaultMaxEndedTasks
	}
	s := &Sandboxes{
		root: cfg.Root, retention: cfg.Retention, max: cfg.MaxEnded,
		active: map[kagent.TaskRef]chan struct{}{}, ended: map[kagent.TaskRef]time.Time{},
	}
	for _, e := range existingSandboxes(cfg.Root) {
		s.stopped(e.ref, e.at)
	}
	return s
}

// existingSandboxes lists the sandboxes under root, oldest first.
func existingSandboxes(root string) []endedTask {
	var found []endedTask
	frameworks, _ := os.ReadDir(root)
	for _, fw := range frameworks {
		tasks, _ := os.ReadDir(filepath.Join(root, fw.Name()))
		for _, t := range tasks {
			info, err := t.Info()
			if err != nil || !t.IsDir() {
				continue
			}
			found = append(found, endedTask{kagent.TaskRef{FrameworkID: fw.Name(), TaskID: t.Name()}, info.ModTime()})
		}
	}
	slices.SortFunc(found, func(a, b endedTask) int { return a.at.Compare(b.at) })
	return found
}

func (s *Sandboxes) started(taskID kagent.TaskRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.active[taskID]; !ok {
		s.active[taskID] = make(chan struct{})
	}
}

// stopped records that a task ended at the given time.
func (s *Sandboxes) stopped(taskID kagent.TaskRef, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.active[taskID]; ok {
		close(ch)
		delete(s.active, taskID)
	}
	s.ended[taskID] = at
	s.queue = append(s.queue, endedTask{taskID, at})
}

// Collect removes the sandboxes of tasks that ended before now minus the
// retention, and of the oldest ended tasks beyond the cap. It does the
// removals itself, off any actor: call it from a goroutine of its own.
// It returns how many sandboxes it removed.
func (s *Sandboxes) Collect(now time.Time) int {
	var doomed []kagent.TaskRef
	s.mu.Lock()
	for len(s.queue) > 0 {
		oldest := s.queue[0]
		if len(s.ended) <= s.max && now.Sub(oldest.at) < s.retention {
			break
		}
		s.queue = s.queue[1:]
		if at, ok := s.ended[oldest.ref]; !ok || !at.Equal(oldest.at) {
			continue // the task ran again since; a later entry stands for it
		}
		delete(s.ended, oldest.ref)
		if _, running := s.active[oldest.ref]; !running {
			doomed = append(doomed, oldest.ref)
		}
	}
	s.mu.Unlock()
	removed := 0
	for _, ref := range doomed {
		dir, err := sandboxDir(s.root, ref)
		if err != nil {
			continue
		}
		if _, err := os.Lstat(dir); err != nil {
			continue // the task wrote nothing: there was no sandbox
		}
		if os.RemoveAll(dir) == nil {
			removed++
		}
	}
	return removed
}

// CollectEvery runs Collect every interval until ctx is done.
func (s *Sandboxes) CollectEvery(ctx context.Context, interval time.Duration, clock func() time.Time) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Collect(clock())
		}
	}
}

// known reports whether the task is running or ended lately on this agent.
func (s *Sandboxes) known(taskID kagent.TaskRef) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, running := s.active[taskID]
	_, ended := s.ended[taskID]
	return running || ended
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
// stdout or stderr; ?follow=1 streams until the task ends) and
// GET /api/v1/sandbox/{framework}/{task}/files/out/... (a file the task
// left in /sandbox/out/, or a directory's entries: see serveFile) to mux,
// under prefix.
func (s *Sandboxes) Register(mux *http.ServeMux, prefix string) {
	mux.HandleFunc("GET "+prefix+"/api/v1/sandbox/{framework}/{task}/{stream}", s.serveLog)
	mux.HandleFunc("GET "+prefix+"/api/v1/sandbox/{framework}/{task}/files/{path...}", s.serveFile)
}

func (s *Sandboxes) serveLog(w http.ResponseWriter, r *http.Request) {
	taskID := kagent.TaskRef{FrameworkID: r.PathValue("framework"), TaskID: r.PathValue("task")}
	stream := r.PathValue("stream")
	if stream != "stdout" && stream != "stderr" {
		httpjson.Error(w, http.StatusBadRequest, "stream %q: want stdout or stderr", stream)
		return
	}
	dir, err := sandboxDir(s.root, taskID)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "%v", err)
		return
	}
	path := filepath.Join(dir, stream)
	f, err := openLog(path)
	if errors.Is(err, fs.ErrNotExist) {
		// Runtimes make a sandbox and its logs when the task first needs
		// them: for a task that ran, or runs, a missing log is empty.
		if _, dirErr := os.Stat(dir); dirErr != nil && !s.known(taskID) {
			httpjson.Error(w, http.StatusNotFound, "task %s has no sandbox on this agent (not started yet, or its sandbox was removed)", taskID.TaskID)
			return
		}
		f, err = nil, nil
	}
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, "opening %s of task %s: %v", stream, taskID.TaskID, err)
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
			if f, err = openLog(path); err != nil {
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

// errNotALog is openLog's refusal of anything but a regular file.
var errNotALog = errors.New("it is not a regular file (a task replaced its log?); refusing to read it")

// openLog opens a task's log for reading. The sandbox is the task's to
// write: a container can replace its log with a symbolic link to a host
// file, or a FIFO that would block the reader forever. Only a regular
// file, not reached through a final symlink, is read.
func openLog(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, errNotALog
	}
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, errNotALog
	}
	return f, nil
}
