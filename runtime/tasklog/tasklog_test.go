package tasklog

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func openStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func read(t *testing.T, x *Index, key string, stream Stream, since int64) string {
	t.Helper()
	if err := x.Refresh(); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := x.CopyTo(&b, key, stream, since, 0); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func spillTo(t *testing.T, path string) func() (*os.File, error) {
	return func() (*os.File, error) {
		return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	}
}

// Small logs of many tasks go to one segment, none to files of their own,
// and each reads back whole and apart from the others.
func TestSmallLogsShareOneSegment(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Config{Dir: filepath.Join(dir, "logs")})
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := Key("fw", "t"+string(rune('A'+i)))
			out := s.NewLog(LogConfig{Key: key, Stream: Stdout, Run: 1, Spill: func() (*os.File, error) { return nil, errors.New("must not spill") }})
			errLog := s.NewLog(LogConfig{Key: key, Stream: Stderr, Run: 1})
			for j := range 3 {
				if _, err := out.Write([]byte(strings.Repeat(string(rune('a'+j)), 2) + "\n")); err != nil {
					t.Error(err)
				}
			}
			_, _ = errLog.Write([]byte("oops\n"))
			out.Close()
			errLog.Close()
		}()
	}
	wg.Wait()
	segs, _ := os.ReadDir(filepath.Join(dir, "logs"))
	if len(segs) != 1 {
		t.Fatalf("%d segment files, want 1", len(segs))
	}
	x := NewIndex(filepath.Join(dir, "logs"))
	for i := range 50 {
		key := Key("fw", "t"+string(rune('A'+i)))
		if got := read(t, x, key, Stdout, 0); got != "aa\nbb\ncc\n" {
			t.Errorf("%s stdout = %q", key, got)
		}
		if got := read(t, x, key, Stderr, 0); got != "oops\n" {
			t.Errorf("%s stderr = %q", key, got)
		}
	}
}

// A log past SpillBytes streams to its own file: the segment keeps what
// was flushed before, the file the rest, and together they are the log.
func TestLargeLogSpillsToItsFile(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Config{Dir: filepath.Join(dir, "logs"), SpillBytes: 1000})
	file := filepath.Join(dir, "stdout")
	l := s.NewLog(LogConfig{Key: "fw/big", Stream: Stdout, Run: 1, Spill: spillTo(t, file)})
	var want bytes.Buffer
	write := func(p string) {
		want.WriteString(p)
		if _, err := l.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	write("first\n")
	s.Flush() // a running task's output reaches the segment
	for i := range 100 {
		write(strings.Repeat("x", i) + "\n")
	}
	l.Close()
	x := NewIndex(filepath.Join(dir, "logs"))
	fromFile, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, x, "fw/big", Stdout, 0) + string(fromFile); got != want.String() {
		t.Errorf("segment + file = %d bytes, want %d", len(got), want.Len())
	}
	if got := read(t, x, "fw/big", Stdout, 0); got != "first\n" {
		t.Errorf("segment part = %q, want the flushed line", got)
	}
}

// The budget keeps what fits, fails the write past it, and says so once.
func TestBudget(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Config{Dir: dir})
	calls := 0
	b := &Budget{Max: 10, OnExceed: func() { calls++ }}
	out := s.NewLog(LogConfig{Key: "fw/t", Stream: Stdout, Run: 1, Budget: b})
	errLog := s.NewLog(LogConfig{Key: "fw/t", Stream: Stderr, Run: 1, Budget: b})
	if n, err := out.Write([]byte("123456")); n != 6 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if n, err := errLog.Write([]byte("abcdef")); n != 4 || !errors.Is(err, ErrOutputLimit) {
		t.Fatalf("Write past the budget = %d, %v; want 4, ErrOutputLimit", n, err)
	}
	if _, err := out.Write([]byte("x")); !errors.Is(err, ErrOutputLimit) {
		t.Fatalf("Write after = %v", err)
	}
	if !b.Exceeded() || calls != 1 {
		t.Errorf("Exceeded = %v, OnExceed calls = %d", b.Exceeded(), calls)
	}
	out.Close()
	errLog.Close()
	x := NewIndex(dir)
	if got := read(t, x, "fw/t", Stderr, 0); got != "abcd" {
		t.Errorf("stderr = %q", got)
	}
}

// A task id run again shows only its latest run; Forget deletes sealed
// segments no key needs; Close writes what running tasks buffered.
func TestRunsForgetAndClose(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir, SegmentBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	first := s.NewLog(LogConfig{Key: "fw/t", Stream: Stdout, Run: 1})
	first.Write([]byte("run 1\n"))
	first.Close()
	second := s.NewLog(LogConfig{Key: "fw/t", Stream: Stdout, Run: 2})
	second.Write([]byte("run 2\n"))
	running := s.NewLog(LogConfig{Key: "fw/r", Stream: Stdout, Run: 1})
	running.Write([]byte("still running\n"))
	if err := s.Close(); err != nil { // never closed its logs: a clean stop
		t.Fatal(err)
	}
	x := NewIndex(dir)
	if got := read(t, x, "fw/t", Stdout, 0); got != "run 2\n" {
		t.Errorf("stdout of the task run again = %q", got)
	}
	if got := read(t, x, "fw/t", Stdout, 3); got != "" {
		t.Errorf("stdout of a run that started later = %q, want none", got)
	}
	if got := read(t, x, "fw/r", Stdout, 0); got != "still running\n" {
		t.Errorf("stdout buffered at Close = %q", got)
	}
	segs, _ := os.ReadDir(dir)
	if removed := x.Forget("fw/t", "fw/r"); removed != len(segs) {
		t.Errorf("Forget removed %d segments of %d", removed, len(segs))
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("%d segments left", len(left))
	}
}

// A segment cut in the middle of a record (a writer killed) reads up to it.
func TestPartialRecord(t *testing.T) {
	dir := t.TempDir()
	b := appendRecord(nil, kindData, Stdout, 1, 1, "fw/t", []byte("whole\n"))
	b = appendRecord(b, kindData, Stdout, 1, 1, "fw/t", []byte("cut short\n"))
	if err := os.WriteFile(filepath.Join(dir, "x"+SegmentSuffix), b[:len(b)-3], 0o644); err != nil {
		t.Fatal(err)
	}
	if got := read(t, NewIndex(dir), "fw/t", Stdout, 0); got != "whole\n" {
		t.Errorf("read %q", got)
	}
	if _, _, err := decodeRecord([]byte{1, 0, 0, 0, 0}); !errors.Is(err, errCorrupt) {
		t.Errorf("decoding a too short length: %v", err)
	}
}

// A record bigger than the piece the index reads at once reads whole.
func TestRecordBiggerThanAPiece(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Config{Dir: dir, SpillBytes: 4 * scanPiece})
	want := strings.Repeat("0123456789abcdef", 2*scanPiece/16)
	for _, key := range []string{"fw/big", "fw/after"} {
		l := s.NewLog(LogConfig{Key: key, Stream: Stdout, Run: 1})
		l.Write([]byte(want))
		l.Close()
	}
	x := NewIndex(dir)
	for _, key := range []string{"fw/big", "fw/after"} {
		if got := read(t, x, key, Stdout, 0); got != want {
			t.Errorf("%s: read %d bytes, want %d", key, len(got), len(want))
		}
	}
}
