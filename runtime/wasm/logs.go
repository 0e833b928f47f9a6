package wasm

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// taskLog is a task's stdout or stderr file in its sandbox, created (with the
// sandbox, see there) on the first write: a task that writes nothing leaves
// no file, which readers take as empty.
type taskLog struct {
	sandbox *sandbox
	path    string

	mu     sync.Mutex
	file   *os.File
	err    error // the failure to create the file, reported on every write
	closed bool

	written atomic.Uint64 // bytes written, for Stats
}

func newTaskLog(sb *sandbox, name string) *taskLog {
	return &taskLog{sandbox: sb, path: filepath.Join(sb.dir, name)}
}

func (l *taskLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, os.ErrClosed
	}
	if l.file == nil && l.err == nil {
		l.file, l.err = l.create()
	}
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.file.Write(p)
	l.written.Add(uint64(n))
	return n, err
}

func (l *taskLog) create() (*os.File, error) {
	if err := l.sandbox.ensure(); err != nil {
		return nil, fmt.Errorf("creating the task's %s: %w", filepath.Base(l.path), err)
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("creating the task's %s in its sandbox: %w", filepath.Base(l.path), err)
	}
	return f, nil
}

// Close closes the file if one was created; later writes fail.
func (l *taskLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.file == nil {
		return nil
	}
	return l.file.Close()
}
