package wasm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/pandodc/pando/runtime"
	"github.com/pandodc/pando/runtime/tasklog"
)

// taskLogs are a task's stdout and stderr, kept by the runtime's log store
// (see package tasklog): in a shared segment while they are small, so that
// a task that writes a line makes no directory nor file; in the sandbox's
// "stdout" and "stderr" once they are not (the sandbox is then made).
type taskLogs struct {
	stdout, stderr *tasklog.Log
	budget         *tasklog.Budget
}

func (r *Runtime) newTaskLogs(spec runtime.Spec, sb *sandbox, run int64, onExceed func()) *taskLogs {
	key := tasklog.Key(spec.FrameworkID, spec.TaskID)
	budget := &tasklog.Budget{Max: r.cfg.MaxOutputBytes, OnExceed: onExceed}
	open := func(stream tasklog.Stream) *tasklog.Log {
		return r.logs.NewLog(tasklog.LogConfig{
			Key: key, Stream: stream, Run: run, Budget: budget,
			Spill: func() (*os.File, error) { return sb.createLog(stream.String()) },
		})
	}
	return &taskLogs{stdout: open(tasklog.Stdout), stderr: open(tasklog.Stderr), budget: budget}
}

// close ends both logs: what they buffered is then on disk, where the
// agent reads it.
func (l *taskLogs) close() {
	l.stdout.Close()
	l.stderr.Close()
}

// failure says why the guest saw its writes fail, if they did for another
// reason than the output limit (which classify reports).
func (l *taskLogs) failure() string {
	var msg string
	for _, log := range []*tasklog.Log{l.stdout, l.stderr} {
		if err := log.Err(); err != nil && !errors.Is(err, tasklog.ErrOutputLimit) {
			msg += "; " + err.Error()
		}
	}
	return msg
}

// createLog makes the sandbox, if needed, and the log's file in it.
func (s *sandbox) createLog(name string) (*os.File, error) {
	if err := s.ensure(); err != nil {
		return nil, fmt.Errorf("creating the task's %s: %w", name, err)
	}
	f, err := os.OpenFile(filepath.Join(s.dir, name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("creating the task's %s in its sandbox: %w", name, err)
	}
	return f, nil
}

// ReadLog returns what the task of spec wrote to stream ("stdout" or
// "stderr") in its latest run on this runtime: its chunks in the log
// store, then its file in the sandbox if it outgrew them. It is for tests
// and tools; agents serve logs with a tasklog.Index of their own.
func (r *Runtime) ReadLog(spec runtime.Spec, stream string) ([]byte, error) {
	s, err := tasklog.ParseStream(stream)
	if err != nil {
		return nil, err
	}
	// The file first: a log moves to its file after its last chunk.
	f, err := os.Open(filepath.Join(spec.Sandbox, stream))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var b bytes.Buffer
	if dir := r.logs.Dir(); dir != "" {
		x := tasklog.NewIndex(dir)
		if err := x.Refresh(); err != nil {
			return nil, err
		}
		if _, err := x.CopyTo(&b, tasklog.Key(spec.FrameworkID, spec.TaskID), s, 0, 0); err != nil {
			return nil, err
		}
	}
	if f != nil {
		defer f.Close()
		if _, err := io.Copy(&b, f); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}
