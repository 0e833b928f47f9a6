package tasklog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Index finds tasks' logs in the segments of a directory, written by any
// number of Stores (in this process or others). It reads a segment only
// once, as it grows, and holds where each chunk is, not the chunks. It is
// safe for concurrent use.
type Index struct {
	dir string

	mu    sync.Mutex
	segs  map[string]*segment // by file name
	tasks map[string]*entry   // by key
}

type segment struct {
	scanned int64 // bytes decoded so far
	sealed  bool
	broken  error // a corrupt record: the rest is not read
	keys    map[string]struct{}
}

// entry is the latest run of one key.
type entry struct {
	run    int64
	last   int64 // when its last record was written (unix ns)
	bytes  int64
	chunks [3][]chunk // by Stream
}

type chunk struct {
	seg string
	off int64
	n   int
}

// NewIndex reads the segments under dir (there may be none yet).
func NewIndex(dir string) *Index {
	return &Index{dir: dir, segs: map[string]*segment{}, tasks: map[string]*entry{}}
}

// Refresh reads what was appended to the segments since the last call.
func (x *Index) Refresh() error {
	entries, err := os.ReadDir(x.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing the task log segments: %w", err)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, SegmentSuffix) || !e.Type().IsRegular() {
			continue
		}
		seg, ok := x.segs[name]
		if !ok {
			seg = &segment{keys: map[string]struct{}{}}
			x.segs[name] = seg
		}
		if seg.sealed || seg.broken != nil {
			continue
		}
		if err := x.scanLocked(name, seg); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// scanLocked decodes the records appended to one segment.
func (x *Index) scanLocked(name string, seg *segment) error {
	f, err := os.Open(filepath.Join(x.dir, name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			delete(x.segs, name)
			return nil
		}
		return fmt.Errorf("opening the task log segment %s: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil
	}
	// In pieces, so that a big segment read at start does not sit in
	// memory whole: a piece holds at least the record it starts with.
	want := int64(scanPiece)
	for seg.scanned < fi.Size() {
		b := make([]byte, min(want, fi.Size()-seg.scanned))
		n, err := f.ReadAt(b, seg.scanned)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading the task log segment %s: %w", name, err)
		}
		b = b[:n]
		used := 0
		for used < len(b) {
			r, size, err := decodeRecord(b[used:])
			if err != nil {
				seg.broken = err
				return fmt.Errorf("task log segment %s at %d: %w", name, seg.scanned, err)
			}
			if size == 0 {
				break // cut at the piece's end, or being written
			}
			if r.kind == kindSeal {
				seg.sealed = true
			} else {
				x.addLocked(name, seg, r, seg.scanned+int64(r.dataOff))
			}
			seg.scanned += int64(size)
			used += size
		}
		switch {
		case used > 0:
			want = scanPiece
		case int64(n) < want || len(b) < 4:
			return nil // the writer is writing the last record
		default: // one record bigger than the piece
			want = 4 + int64(binary.LittleEndian.Uint32(b))
		}
	}
	return nil
}

// scanPiece is how much of a segment is read at once.
const scanPiece = 1 << 20

func (x *Index) addLocked(name string, seg *segment, r record, off int64) {
	e, ok := x.tasks[r.key]
	switch {
	case !ok || r.run > e.run: // the first record of a (new) run
		if ok { // the earlier run's chunks are no longer shown
			for _, cs := range e.chunks {
				for _, c := range cs {
					if old, ok := x.segs[c.seg]; ok {
						delete(old.keys, r.key)
					}
				}
			}
		}
		e = &entry{run: r.run}
		x.tasks[r.key] = e
	case r.run < e.run:
		return // an earlier run's, read late
	}
	seg.keys[r.key] = struct{}{}
	e.last = max(e.last, r.at)
	e.bytes += int64(len(r.data))
	e.chunks[r.stream] = append(e.chunks[r.stream], chunk{seg: name, off: off, n: len(r.data)})
}

// Keys lists the keys in the index, with when each last wrote and how
// many bytes it has in segments.
func (x *Index) Keys() map[string]KeyInfo {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make(map[string]KeyInfo, len(x.tasks))
	for k, e := range x.tasks {
		out[k] = KeyInfo{Last: time.Unix(0, e.last), Bytes: e.bytes}
	}
	return out
}

// KeyInfo is what Keys says of one key.
type KeyInfo struct {
	Last  time.Time
	Bytes int64
}

// Has reports whether the index holds output of key of a run that
// started at or after since (unix ns).
func (x *Index) Has(key string, since int64) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	e, ok := x.tasks[key]
	return ok && e.run >= since
}

// CopyTo writes to w the chunks of key's stream from the from-th on, of a
// run that started at or after since (unix ns), and returns the number of
// chunks copied in all, for the next call (following a log). It does not
// Refresh.
func (x *Index) CopyTo(w io.Writer, key string, stream Stream, since int64, from int) (int, error) {
	x.mu.Lock()
	e, ok := x.tasks[key]
	var chunks []chunk
	if ok && e.run >= since && from < len(e.chunks[stream]) {
		chunks = e.chunks[stream][from:]
	}
	x.mu.Unlock()
	files := map[string]*os.File{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	done := from
	for _, c := range chunks {
		f, ok := files[c.seg]
		if !ok {
			var err error
			if f, err = os.Open(filepath.Join(x.dir, c.seg)); err != nil {
				return done, fmt.Errorf("opening the task log segment %s: %w", c.seg, err)
			}
			files[c.seg] = f
		}
		if _, err := io.Copy(w, io.NewSectionReader(f, c.off, int64(c.n))); err != nil {
			return done, err
		}
		done++
	}
	return done, nil
}

// Forget drops keys from the index, and deletes the sealed segments that
// no longer hold any key's output. It returns how many it deleted.
func (x *Index) Forget(keys ...string) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, key := range keys {
		e, ok := x.tasks[key]
		if !ok {
			continue
		}
		delete(x.tasks, key)
		for _, cs := range e.chunks {
			for _, c := range cs {
				if seg, ok := x.segs[c.seg]; ok {
					delete(seg.keys, key)
				}
			}
		}
	}
	// Every segment, not only those of keys: an earlier run's, replaced,
	// may have left one holding nothing shown.
	removed := 0
	for name, seg := range x.segs {
		if (seg.sealed || seg.broken != nil) && len(seg.keys) == 0 {
			if err := os.Remove(filepath.Join(x.dir, name)); err == nil || errors.Is(err, fs.ErrNotExist) {
				delete(x.segs, name)
				removed++
			}
		}
	}
	return removed
}
