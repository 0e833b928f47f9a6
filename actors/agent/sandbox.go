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
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pandodc/pando/internal/httpjson"
	"github.com/pandodc/pando/internal/shell"
	kagent "github.com/pandodc/pando/kernel/agent"
	"github.com/pandodc/pando/runtime/tasklog"
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
	maxBytes  int64
	// logs finds the logs runtimes keep in segments (see package
	// tasklog); nil when they keep them in sandboxes only.
	logs *tasklog.Index

	mu     sync.Mutex
	active map[kagent.TaskRef]*activeTask
	// ended maps each remembered ended task to when it ended; queue holds
	// the same tasks oldest first (with stale entries for tasks that were
	// run again, recognised by their time).
	ended map[kagent.TaskRef]endedTask
	queue []endedTask
	// bytes is the output of the ended tasks remembered, as their
	// runtimes counted it.
	bytes int64
}

type activeTask struct {
	done chan struct{} // closed when the task ends
	run  int64         // when it started (unix ns): older logs are not its
}

type endedTask struct {
	ref   kagent.TaskRef
	at    time.Time
	run   int64
	bytes int64
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
	// DefaultMaxEndedTasks): the oldest go first.
	MaxEnded int
	// MaxBytes caps the output (stdout and stderr) of the ended tasks
	// kept (default 1GiB): the oldest go first.
	MaxBytes int64
	// LogDir holds the runtimes' log segments (see package tasklog); ""
	// when they keep logs in sandboxes only.
	LogDir string
	// Clock gives the time (default time.Now).
	Clock func() time.Time
}

const (
	defaultSandboxRetention = 24 * time.Hour
	defaultMaxEndedBytes    = 1 << 30
)

// DefaultMaxEndedTasks is SandboxesConfig.MaxEnded's default: enough for a
// job of 100,000 instances on one agent to keep every instance's output
// (an ended task whose output fits the log segments costs the agent a few
// hundred bytes of memory and no file).
const DefaultMaxEndedTasks = 100000

// NewSandboxes serves the sandboxes under cfg.Root. Sandboxes already there
// belong to tasks of an earlier run of the agent, which ended with it: they
// are kept as ended at their last modification.
func NewSandboxes(cfg SandboxesConfig) *Sandboxes {
	if cfg.Retention <= 0 {
		cfg.Retention = defaultSandboxRetention
	}
	if cfg.MaxEnded <= 0 {
		cfg.MaxEnded = DefaultMaxEndedTasks
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = defaultMaxEndedBytes
	}
	s := &Sandboxes{
		root: cfg.Root, retention: cfg.Retention, max: cfg.MaxEnded, maxBytes: cfg.MaxBytes,
		active: map[kagent.TaskRef]*activeTask{}, ended: map[kagent.TaskRef]endedTask{},
	}
	var earlier []endedTask
	if cfg.LogDir != "" {
		s.logs = tasklog.NewIndex(cfg.LogDir)
		_ = s.logs.Refresh() // a corrupt segment is skipped from the bad record on
		for key, info := range s.logs.Keys() {
			if fw, task, ok := strings.Cut(key, "/"); ok {
				earlier = append(earlier, endedTask{ref: kagent.TaskRef{FrameworkID: fw, TaskID: task}, at: info.Last, bytes: info.Bytes})
			}
		}
	}
	earlier = append(earlier, existingSandboxes(cfg.Root)...)
	slices.SortFunc(earlier, func(a, b endedTask) int { return a.at.Compare(b.at) })
	for _, e := range earlier {
		s.stopped(e.ref, e.at, e.bytes)
	}
	return s
}

// existingSandboxes lists the sandboxes under root.
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
			dir := filepath.Join(root, fw.Name(), t.Name())
			found = append(found, endedTask{ref: kagent.TaskRef{FrameworkID: fw.Name(), TaskID: t.Name()}, at: info.ModTime(),
				bytes: fileSize(filepath.Join(dir, "stdout")) + fileSize(filepath.Join(dir, "stderr"))})
		}
	}
	return found
}

func fileSize(path string) int64 {
	if fi, err := os.Lstat(path); err == nil {
		return fi.Size()
	}
	return 0
}

// started records that a task starts now: the logs of its earlier runs
// are no longer its. (The real clock, not the agent's: runtimes stamp
// their logs with it.)
func (s *Sandboxes) started(taskID kagent.TaskRef) { s.begin(taskID, time.Now().UnixNano()) }

// adopted records that a task of the agent's previous run is its again:
// its logs are those of its latest run, which began before this agent
// started (run 0 admits every run; the index keeps only the latest).
func (s *Sandboxes) adopted(taskID kagent.TaskRef) { s.begin(taskID, 0) }

// begin records a running task whose logs are those of runs that started
// at or after run (unix ns).
func (s *Sandboxes) begin(taskID kagent.TaskRef, run int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.active[taskID]; !ok {
		s.active[taskID] = &activeTask{done: make(chan struct{}), run: run}
	}
}

// stopped records that a task ended at the given time, having written
// bytes of output.
func (s *Sandboxes) stopped(taskID kagent.TaskRef, at time.Time, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := endedTask{ref: taskID, at: at, bytes: bytes}
	if a, ok := s.active[taskID]; ok {
		close(a.done)
		delete(s.active, taskID)
		e.run = a.run
	}
	if old, ok := s.ended[taskID]; ok {
		s.bytes -= old.bytes
	}
	s.ended[taskID] = e
	s.bytes += bytes
	s.queue = append(s.queue, e)
}

// since is when the task's current (or last) run started, in unix ns: its
// logs are those of runs that started then or later.
func (s *Sandboxes) since(taskID kagent.TaskRef) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.active[taskID]; ok {
		return a.run
	}
	return s.ended[taskID].run
}

// Collect removes the sandboxes and logs of tasks that ended before now
// minus the retention, and of the oldest ended tasks beyond the caps (of
// tasks and of bytes). It does the
// removals itself, off any actor: call it from a goroutine of its own.
// It returns how many sandboxes it removed.
func (s *Sandboxes) Collect(now time.Time) int {
	var doomed []kagent.TaskRef
	s.mu.Lock()
	for len(s.queue) > 0 {
		oldest := s.queue[0]
		if len(s.ended) <= s.max && s.bytes <= s.maxBytes && now.Sub(oldest.at) < s.retention {
			break
		}
		s.queue = s.queue[1:]
		if e, ok := s.ended[oldest.ref]; !ok || !e.at.Equal(oldest.at) {
			continue // the task ran again since; a later entry stands for it
		}
		delete(s.ended, oldest.ref)
		s.bytes -= oldest.bytes
		if _, running := s.active[oldest.ref]; !running {
			doomed = append(doomed, oldest.ref)
		}
	}
	s.mu.Unlock()
	if s.logs != nil && len(doomed) > 0 {
		keys := make([]string, len(doomed))
		for i, ref := range doomed {
			keys[i] = tasklog.Key(ref.FrameworkID, ref.TaskID)
		}
		_ = s.logs.Refresh() // so that Forget sees every segment the tasks wrote
		s.logs.Forget(keys...)
	}
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
	shell.Every(ctx, interval, func(time.Time) { s.Collect(clock()) })
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
	if a, ok := s.active[taskID]; ok {
		return a.done
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
	stream, err := tasklog.ParseStream(r.PathValue("stream"))
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "%v", err)
		return
	}
	dir, err := sandboxDir(s.root, taskID)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "%v", err)
		return
	}
	l := &taskLog{s: s, key: tasklog.Key(taskID.FrameworkID, taskID.TaskID), stream: stream,
		path: filepath.Join(dir, stream.String()), since: s.since(taskID)}
	// Check the task is known first: its logs may be in neither place yet.
	if !s.known(taskID) {
		if _, err := os.Stat(dir); err != nil {
			if s.logs == nil || s.logs.Refresh() != nil || !s.logs.Has(l.key, 0) {
				httpjson.Error(w, http.StatusNotFound, "task %s has no sandbox on this agent (not started yet, or its sandbox was removed)", taskID.TaskID)
				return
			}
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	defer l.close()
	if r.URL.Query().Get("follow") != "" {
		s.follow(w, r, l, s.done(taskID))
		return
	}
	if n, err := l.copyNew(w); err != nil && n == 0 {
		httpjson.Error(w, http.StatusInternalServerError, "reading %s of task %s: %v", stream, taskID.TaskID, err)
	}
}

// taskLog reads one log of a task as it grows: its chunks in the log
// segments (runtimes keep small logs there), then its file in the sandbox
// (where a log moves once it is large, after its last chunk).
type taskLog struct {
	s      *Sandboxes
	key    string
	stream tasklog.Stream
	path   string
	since  int64

	chunks int      // chunks copied
	file   *os.File // the sandbox's file, once it exists
}

// copyNew copies what was written since the last call.
func (l *taskLog) copyNew(w io.Writer) (int64, error) {
	// The file first: when it exists, every chunk was written before it.
	if l.file == nil {
		f, err := openLog(l.path)
		switch {
		case err == nil:
			l.file = f
		case !errors.Is(err, fs.ErrNotExist):
			return 0, err
		}
	}
	var n int64
	if l.s.logs != nil {
		_ = l.s.logs.Refresh() // a corrupt segment is read up to the bad record
		cw := &countingWriter{w: w}
		var err error
		l.chunks, err = l.s.logs.CopyTo(cw, l.key, l.stream, l.since, l.chunks)
		n = cw.n
		if err != nil {
			return n, err
		}
	}
	if l.file != nil {
		m, err := io.Copy(w, l.file)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (l *taskLog) close() {
	if l.file != nil {
		l.file.Close()
	}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// follow copies the log to w as it grows, until the task ends (then drains
// what is left) or the client goes away.
func (s *Sandboxes) follow(w http.ResponseWriter, r *http.Request, l *taskLog, done <-chan struct{}) {
	flusher, _ := w.(http.Flusher)
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	for {
		n, err := l.copyNew(w)
		if err != nil {
			return
		}
		if n > 0 && flusher != nil {
			flusher.Flush()
		}
		select {
		case <-done:
			_, _ = l.copyNew(w)
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
