package artifacts

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pandodc/pando/kernel/kernelpb"
)

// The keys of a cache's entries besides artifacts (whose key is their
// digest), and the folders of the cache's dir that hold them.
const (
	viewPrefix     = "view:"
	treePrefix     = "tree:"
	compiledPrefix = "compiled:"
	viewsDir       = "views"
	treesDir       = "trees"
	// trashPrefix names an entry being deleted: a directory is renamed
	// to it first, so that a half-deleted one is never found by name.
	trashPrefix = ".trash-"
)

// TaskKeys are the cache entries a task needs while it lives: its module
// or image, its inputs, their unpacked trees and its view.
func TaskKeys(task *kernelpb.TaskInfo) []string {
	keys := kernelpb.TaskDigests(task)
	inputs := task.GetInputs()
	for _, in := range inputs {
		if in.GetArchive() {
			keys = append(keys, treePrefix+in.GetDigest())
		}
	}
	if len(inputs) > 0 {
		keys = append(keys, viewPrefix+viewKey(sortInputs(inputs)))
	}
	return keys
}

// Collected is what a Collect did.
type Collected struct {
	// Deleted are the keys of the entries deleted, in order.
	Deleted []string
	// Freed is the bytes deleted; Bytes what the caches hold after.
	Freed, Bytes int64
}

// measured is what a scan learnt of an entry; views and trees never
// change once in place, so each is walked once.
type measured struct {
	path  string
	dir   bool
	bytes int64
	links []string
	// modified is a compiled entry's time of writing: its use, as far as
	// the cache can tell (the runtime reads it only to compile again).
	modified time.Time
}

// Collect deletes what p says of the cache's entries (and the compiled
// modules of CacheConfig.CompiledDir) at now; inUse are the keys live
// tasks need (TaskKeys). An entry being fetched, unpacked or linked counts
// as in use. It is safe beside Fetch and Inputs: an entry is dropped from
// what they hand out and renamed away, under the lock, before its files
// go, and the next task that names it fetches it again. A compiled module
// may go at any time: a running module stays compiled in memory, and the
// next start of the agent compiles it again.
func (c *Cache) Collect(inUse []string, p Eviction, now time.Time) (Collected, error) {
	c.collecting.Lock()
	defer c.collecting.Unlock()
	found, leftovers, scanErr := c.scan()
	needed := map[string]bool{}
	for _, k := range inUse {
		needed[k] = true
	}

	c.mu.Lock()
	for k := range c.inflight {
		needed[k] = true
	}
	entries := make([]CacheEntry, 0, len(found))
	var total int64
	for key, m := range found {
		last := c.started
		if m.modified.After(last) {
			last = m.modified
		}
		if t, ok := c.lastUsed[key]; ok && t.After(last) {
			last = t
		}
		entries = append(entries, CacheEntry{Key: key, Bytes: m.bytes, LastUsed: last, Links: m.links})
		total += m.bytes
	}
	for key, t := range c.lastUsed {
		// Keys asked for that never made it to disk (a failed fetch).
		if _, ok := found[key]; !ok && !needed[key] && now.Sub(t) >= p.Grace {
			delete(c.lastUsed, key)
		}
	}
	var out Collected
	var trash []string
	var err error
	if len(c.inflight) == 0 {
		// Nothing is being written, and nothing can start while the
		// lock is held: a temporary file or directory is what a crash
		// left (each piece of work removes its own before it ends).
		for _, tmp := range leftovers {
			dst := filepath.Join(filepath.Dir(tmp), trashPrefix+filepath.Base(tmp))
			if os.Rename(tmp, dst) == nil {
				trash = append(trash, dst)
			}
		}
	}
	for _, key := range p.Evict(entries, needed, now) {
		m := found[key]
		delete(c.ready, key)
		delete(c.lastUsed, key)
		delete(c.measured, key)
		if m.dir {
			tmp := filepath.Join(filepath.Dir(m.path), trashPrefix+filepath.Base(m.path))
			err = os.Rename(m.path, tmp)
			trash = append(trash, tmp)
		} else {
			err = os.Remove(m.path)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			// Stop here: what links this entry was deleted before it,
			// what it links stays.
			err = fmt.Errorf("artifact cache: deleting %s: %w", key, err)
			break
		}
		err = nil
		out.Deleted = append(out.Deleted, key)
		out.Freed += m.bytes
	}
	c.mu.Unlock()

	for _, dir := range trash {
		err = errors.Join(err, os.RemoveAll(dir))
	}
	out.Bytes = total - out.Freed
	c.counters.evicted.Add(int64(len(out.Deleted)))
	c.counters.evictedBytes.Add(out.Freed)
	c.counters.bytes.Store(out.Bytes)
	return out, errors.Join(scanErr, err)
}

// scan lists the entries on disk by key, with their bytes and links.
// What is being written (temporary names, beginning with a dot) is not
// an entry: their paths are the leftovers, which Collect deletes when
// nothing is being written. What an interrupted Collect left in its trash
// is deleted.
func (c *Cache) scan() (found map[string]measured, leftovers []string, _ error) {
	found = map[string]measured{}
	var errs []error
	byInode := map[fileID]string{} // artifact files, to see views' links
	err := c.list(c.dir, &leftovers, func(name string, d fs.DirEntry) {
		if !d.Type().IsRegular() {
			return
		}
		digest := digestPrefix + name
		if _, err := ParseDigest(digest); err != nil {
			return
		}
		fi, err := d.Info()
		if err != nil {
			return // deleted meanwhile
		}
		found[digest] = measured{path: filepath.Join(c.dir, name), bytes: fi.Size()}
		if id, ok := idOf(fi); ok {
			byInode[id] = digest
		}
	})
	errs = append(errs, err)
	errs = append(errs, c.scanDirs(found, &leftovers, treesDir, func(name string) string {
		if _, err := ParseDigest(digestPrefix + name); err != nil {
			return ""
		}
		return treePrefix + digestPrefix + name
	}, nil))
	errs = append(errs, c.scanDirs(found, &leftovers, viewsDir, func(name string) string { return viewPrefix + name }, byInode))
	if c.compiledDir != "" {
		errs = append(errs, c.scanCompiled(found))
	}
	return found, leftovers, errors.Join(errs...)
}

// list calls each with the entries of dir that are not being written,
// adds those that are to temps, and deletes the trash of an interrupted
// Collect.
func (c *Cache) list(dir string, temps *[]string, each func(name string, d fs.DirEntry)) error {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("artifact cache: %w", err)
	}
	var errs []error
	for _, d := range des {
		switch name := d.Name(); {
		case strings.HasPrefix(name, trashPrefix):
			errs = append(errs, os.RemoveAll(filepath.Join(dir, name)))
		case strings.HasPrefix(name, "."):
			*temps = append(*temps, filepath.Join(dir, name))
		default:
			each(name, d)
		}
	}
	return errors.Join(errs...)
}

// scanDirs measures the directories under sub (views or trees), keyed by
// key(name) ("" for a name that is no entry). A file of a view that is an
// artifact's (byInode) is a link to it, not the view's bytes.
func (c *Cache) scanDirs(found map[string]measured, temps *[]string, sub string, key func(name string) string, byInode map[fileID]string) error {
	var errs []error
	errs = append(errs, c.list(filepath.Join(c.dir, sub), temps, func(name string, d fs.DirEntry) {
		k := key(name)
		if k == "" || !d.IsDir() {
			return
		}
		c.mu.Lock()
		m, ok := c.measured[k]
		c.mu.Unlock()
		if !ok {
			var err error
			if m, err = measureDir(filepath.Join(c.dir, sub, name), byInode); err != nil {
				errs = append(errs, err)
				return
			}
			c.mu.Lock()
			c.measured[k] = m
			c.mu.Unlock()
		}
		found[k] = m
	}))
	return errors.Join(errs...)
}

func measureDir(dir string, byInode map[fileID]string) (measured, error) {
	m := measured{path: dir, dir: true}
	linked := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if id, ok := idOf(fi); ok && byInode[id] != "" {
			if !linked[byInode[id]] {
				linked[byInode[id]] = true
				m.links = append(m.links, byInode[id])
			}
			return nil
		}
		m.bytes += fi.Size()
		return nil
	})
	if err != nil {
		return measured{}, fmt.Errorf("artifact cache: measuring %s: %w", dir, err)
	}
	return m, nil
}

// scanCompiled lists the compiled modules: wazero keeps one file per
// module under a folder per wazero version, and writes each to a
// "*.tmp" file first, which is not an entry yet.
func (c *Cache) scanCompiled(found map[string]measured) error {
	err := filepath.WalkDir(c.compiledDir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || !d.Type().IsRegular() || strings.HasSuffix(d.Name(), ".tmp") {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return nil // deleted meanwhile
		}
		rel, err := filepath.Rel(c.compiledDir, path)
		if err != nil {
			return err
		}
		found[compiledPrefix+filepath.ToSlash(rel)] = measured{path: path, bytes: fi.Size(), modified: fi.ModTime()}
		return nil
	})
	if err != nil {
		return fmt.Errorf("compilation cache: %w", err)
	}
	return nil
}

// fileID names a file's inode: hard links share it.
type fileID struct{ dev, ino uint64 }

func idOf(fi fs.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino}, true
}
