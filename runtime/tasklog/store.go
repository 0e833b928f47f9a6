package tasklog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Store.
type Config struct {
	// Dir holds the segments; made if missing. "" keeps no segments:
	// every log goes to its own file from its first write.
	Dir string
	// SpillBytes is how much of one log is kept in segments before the
	// log moves to a file of its own (default 64KiB).
	SpillBytes int
	// SegmentBytes is the size past which a segment is sealed and the
	// next one begun (default 64MiB).
	SegmentBytes int64
	// FlushInterval is how often the output of running tasks is appended
	// to the segment (default 100ms): how late `logs --follow` sees it.
	FlushInterval time.Duration
}

const (
	defaultSpillBytes    = 64 << 10
	defaultSegmentBytes  = 64 << 20
	defaultFlushInterval = 100 * time.Millisecond
	// batchBytes is how much the store buffers before writing, between
	// flushes: records of tasks that end close together share a write.
	batchBytes = 256 << 10
)

// SegmentSuffix ends the name of every segment file.
const SegmentSuffix = ".seg"

// Store is the writer of one process's task logs. It is safe for
// concurrent use.
type Store struct {
	cfg Config

	mu      sync.Mutex
	file    *os.File // the open segment; nil until the first record
	size    int64    // its size
	seq     int      // segments begun
	pending []byte   // records not yet written
	err     error    // the last failure to write; reported by Close
	dirty   map[*Log]struct{}
	closed  bool

	stop chan struct{}
	done chan struct{}
}

// Open starts a store writing segments into cfg.Dir.
func Open(cfg Config) (*Store, error) {
	if cfg.SpillBytes <= 0 && cfg.Dir != "" {
		cfg.SpillBytes = defaultSpillBytes
	}
	if cfg.SegmentBytes <= 0 {
		cfg.SegmentBytes = defaultSegmentBytes
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = defaultFlushInterval
	}
	if cfg.Dir == "" {
		cfg.SpillBytes = 0
	} else if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("making the task log directory: %w", err)
	}
	s := &Store{cfg: cfg, dirty: map[*Log]struct{}{}, stop: make(chan struct{}), done: make(chan struct{})}
	go s.flushEvery(cfg.FlushInterval)
	return s, nil
}

// Dir is where the store writes its segments.
func (s *Store) Dir() string { return s.cfg.Dir }

func (s *Store) flushEvery(interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Flush()
		}
	}
}

// Flush appends the buffered output of every log to the segment.
func (s *Store) Flush() {
	s.mu.Lock()
	if len(s.dirty) == 0 {
		s.mu.Unlock()
		return
	}
	logs := make([]*Log, 0, len(s.dirty))
	for l := range s.dirty {
		logs = append(logs, l)
	}
	clear(s.dirty)
	s.mu.Unlock()
	for _, l := range logs {
		l.mu.Lock()
		l.flushLocked(false)
		l.mu.Unlock()
	}
	s.mu.Lock()
	s.writePendingLocked()
	s.mu.Unlock()
}

// Close flushes every log, seals the segment and stops the store. Logs
// still open can be written no more.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	s.Flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.sealLocked()
	return s.err
}

// append adds a record; sync writes it (and all before it) now.
func (s *Store) append(stream Stream, run int64, key string, data []byte, sync bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errStoreClosed
	}
	s.pending = appendRecord(s.pending, kindData, stream, run, time.Now().UnixNano(), key, data)
	if sync || len(s.pending) >= batchBytes {
		return s.writePendingLocked()
	}
	return nil
}

var errStoreClosed = errors.New("the task log store is closed")

// writePendingLocked writes the pending records, beginning a segment if
// none is open and sealing it once it is full.
func (s *Store) writePendingLocked() error {
	if len(s.pending) == 0 {
		return nil
	}
	if s.file == nil {
		s.seq++
		name := strconv.FormatInt(time.Now().UnixNano(), 10) + "-" + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(s.seq) + SegmentSuffix
		f, err := os.OpenFile(filepath.Join(s.cfg.Dir, name), os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_EXCL, 0o644)
		if err != nil {
			s.err = fmt.Errorf("beginning a task log segment: %w", err)
			s.pending = s.pending[:0]
			return s.err
		}
		s.file, s.size = f, 0
	}
	n, err := s.file.Write(s.pending)
	s.size += int64(n)
	s.pending = s.pending[:0]
	if cap(s.pending) > 4*batchBytes { // a burst: give the memory back
		s.pending = nil
	}
	if err != nil {
		s.err = fmt.Errorf("appending to the task log segment %s: %w", s.file.Name(), err)
		s.sealLocked() // whatever follows goes to a new segment
		return s.err
	}
	if s.size >= s.cfg.SegmentBytes {
		s.sealLocked()
	}
	return nil
}

// sealLocked marks the open segment complete and closes it.
func (s *Store) sealLocked() {
	if s.file == nil {
		return
	}
	_, _ = s.file.Write(appendRecord(nil, kindSeal, 0, 0, time.Now().UnixNano(), "", nil))
	if err := s.file.Close(); err != nil && s.err == nil {
		s.err = fmt.Errorf("closing the task log segment: %w", err)
	}
	s.file = nil
}

func (s *Store) markDirty(l *Log) {
	s.mu.Lock()
	s.dirty[l] = struct{}{}
	s.mu.Unlock()
}

func (s *Store) forget(l *Log) {
	s.mu.Lock()
	delete(s.dirty, l)
	s.mu.Unlock()
}

// Key names a task's logs: its framework id and task id.
func Key(frameworkID, taskID string) string { return frameworkID + "/" + taskID }

// Budget is the output a task may write, stdout and stderr together;
// shared by its two logs. The zero Budget is unlimited.
type Budget struct {
	Max      uint64 // 0: no limit
	used     atomic.Uint64
	exceeded atomic.Bool
	// OnExceed, if set, is called once, by the write that goes past Max.
	OnExceed func()
}

// Exceeded reports whether the task tried to write past its budget.
func (b *Budget) Exceeded() bool { return b != nil && b.exceeded.Load() }

// take grants up to n bytes and returns how many.
func (b *Budget) take(n int) int {
	if b == nil || b.Max == 0 {
		return n
	}
	for {
		used := b.used.Load()
		left := uint64(0)
		if used < b.Max {
			left = b.Max - used
		}
		grant := min(uint64(n), left)
		if b.used.CompareAndSwap(used, used+grant) {
			if grant < uint64(n) && b.exceeded.CompareAndSwap(false, true) && b.OnExceed != nil {
				b.OnExceed()
			}
			return int(grant)
		}
	}
}

// ErrOutputLimit is returned by a write past the task's Budget.
var ErrOutputLimit = errors.New("the task wrote more output than its limit allows")

// LogConfig describes one log of a task.
type LogConfig struct {
	Key    string // see Key
	Stream Stream
	// Run is when this run of the task started (unix ns): an Index shows
	// only the latest run of a key.
	Run int64
	// Spill makes the log's own file, when it outgrows the segments.
	Spill func() (*os.File, error)
	// Budget, if set, limits what the task writes.
	Budget *Budget
}

// Log is one stream of one task: an io.Writer. It is safe for concurrent
// use.
type Log struct {
	s   *Store
	cfg LogConfig

	mu      sync.Mutex
	buf     []byte // written, not yet appended to the store
	stored  int    // appended to the store or buffered
	file    *os.File
	err     error // the failure to spill, reported on every write
	closed  bool
	written atomic.Uint64
}

// NewLog begins a log. Nothing is stored until it is written to.
func (s *Store) NewLog(cfg LogConfig) *Log {
	return &Log{s: s, cfg: cfg}
}

// Written is how many bytes the log took.
func (l *Log) Written() uint64 { return l.written.Load() }

// Err is the failure that made writes fail, if any.
func (l *Log) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Write keeps p: in memory while the log is small, in its own file once
// it is not. A write past the Budget keeps what fits and fails with
// ErrOutputLimit.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, os.ErrClosed
	}
	if l.err != nil {
		return 0, l.err
	}
	granted := l.cfg.Budget.take(len(p))
	n, err := l.writeLocked(p[:granted])
	l.written.Add(uint64(n))
	if err == nil && granted < len(p) {
		err = ErrOutputLimit
	}
	return n, err
}

func (l *Log) writeLocked(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if l.file == nil && l.stored+len(p) > l.s.cfg.SpillBytes {
		f, err := l.cfg.Spill()
		if err != nil {
			l.err = fmt.Errorf("moving the task's %s to a file: %w", l.cfg.Stream, err)
			return 0, l.err
		}
		l.file = f
		if len(l.buf) > 0 {
			if _, err := f.Write(l.buf); err != nil {
				l.err = fmt.Errorf("writing the task's %s: %w", l.cfg.Stream, err)
				return 0, l.err
			}
			l.buf = nil
		}
		l.s.forget(l)
	}
	if l.file != nil {
		return l.file.Write(p)
	}
	if len(l.buf) == 0 {
		l.s.markDirty(l)
	}
	l.buf = append(l.buf, p...)
	l.stored += len(p)
	return len(p), nil
}

// flushLocked appends the buffered output to the store.
func (l *Log) flushLocked(sync bool) {
	if len(l.buf) == 0 {
		return
	}
	if err := l.s.append(l.cfg.Stream, l.cfg.Run, l.cfg.Key, l.buf, sync); err != nil && l.err == nil {
		l.err = err
	}
	l.buf = nil
}

// Close writes what is buffered to the segment (not just to memory) or
// closes the log's own file; later writes fail.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.file != nil {
		return l.file.Close()
	}
	if len(l.buf) > 0 {
		l.s.forget(l)
		l.flushLocked(true)
	}
	return l.err
}
