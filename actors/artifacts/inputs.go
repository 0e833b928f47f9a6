package artifacts

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/runtime"
)

// Mount is a host directory a task sees read-only.
type Mount = runtime.Mount

// Inputs fetches (once per agent, verified) the artifacts a task reads and
// returns what to mount, read-only, in the order to mount them: first a
// directory shown at /input holding the file inputs (hard links to the
// cache, so nothing is copied) and an empty directory where each archive
// goes, then each archive's unpacked tree at its path. Tasks with the same
// inputs share one view, and each archive is unpacked once per agent; like
// Fetch, concurrent callers share one piece of work.
func (c *Cache) Inputs(ctx context.Context, inputs []*kernelpb.Input) ([]Mount, error) {
	if len(inputs) == 0 {
		return nil, nil
	}
	sorted := sortInputs(inputs)
	for i, in := range sorted {
		if err := kernelpb.CheckInputPath(in.GetPath()); err != nil {
			return nil, err
		}
		if _, err := ParseDigest(in.GetDigest()); err != nil {
			return nil, fmt.Errorf("input %s: %w", in.GetPath(), err)
		}
		if i > 0 && isUnder(in.GetPath(), sorted[i-1].GetPath()) {
			return nil, fmt.Errorf("inputs %s and %s overlap: give each its own path", sorted[i-1].GetPath(), in.GetPath())
		}
	}
	if err := CheckMountPrefixes(sorted); err != nil {
		return nil, err
	}
	files := map[string]string{} // path under /input -> cached file
	var trees []Mount
	var dirs []string // where archives go, under /input
	for _, in := range sorted {
		local, err := c.Fetch(ctx, in.GetDigest())
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", in.GetPath(), err)
		}
		rel := strings.TrimPrefix(in.GetPath(), kernelpb.InputRoot+"/")
		if !in.GetArchive() {
			files[rel] = local
			continue
		}
		tree, err := c.once(ctx, treePrefix+in.GetDigest(), func() (string, error) { return c.unpack(in.GetDigest(), local) })
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", in.GetPath(), err)
		}
		trees = append(trees, Mount{Source: tree, Target: in.GetPath()})
		dirs = append(dirs, rel)
	}
	view, err := c.once(ctx, viewPrefix+viewKey(sorted), func() (string, error) { return c.makeView(viewKey(sorted), files, dirs) })
	if err != nil {
		return nil, err
	}
	return append([]Mount{{Source: view, Target: kernelpb.InputRoot}}, trees...), nil
}

// CheckMountPrefixes refuses an archive whose path begins another input's
// path (/input/corpus and /input/corpus2.txt): Go's WASI port picks the
// preopened directory by string prefix, not by path element, and would
// look for the second inside the first.
func CheckMountPrefixes(inputs []*kernelpb.Input) error {
	for _, dir := range inputs {
		if !dir.GetArchive() {
			continue
		}
		for _, other := range inputs {
			if other != dir && strings.HasPrefix(other.GetPath(), dir.GetPath()) && !isUnder(other.GetPath(), dir.GetPath()) {
				return fmt.Errorf("inputs %s and %s: the name of one begins with the other's, which WASI programs built with Go resolve wrongly; rename one", dir.GetPath(), other.GetPath())
			}
		}
	}
	return nil
}

func isUnder(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// sortInputs returns inputs sorted by path, the order of their view.
func sortInputs(inputs []*kernelpb.Input) []*kernelpb.Input {
	sorted := slices.Clone(inputs)
	slices.SortFunc(sorted, func(a, b *kernelpb.Input) int { return strings.Compare(a.GetPath(), b.GetPath()) })
	return sorted
}

// viewKey names a set of inputs: the same set, the same view.
func viewKey(sorted []*kernelpb.Input) string {
	h := sha256.New()
	for _, in := range sorted {
		fmt.Fprintf(h, "%s\x00%s\x00%t\n", in.GetPath(), in.GetDigest(), in.GetArchive())
	}
	return hex.EncodeToString(h.Sum(nil))
}

// once runs work for key once at a time, however many callers ask at the
// same moment, and remembers its result; a failure is forgotten so that
// the next task tries again. work outlives any one caller's context.
// Keys are an artifact's digest, treePrefix+digest and viewPrefix+viewKey; each
// call counts as a use of key, for Collect.
func (c *Cache) once(ctx context.Context, key string, work func() (string, error)) (string, error) {
	c.mu.Lock()
	c.lastUsed[key] = time.Now()
	if p, ok := c.ready[key]; ok {
		c.mu.Unlock()
		return p, nil
	}
	f, ok := c.inflight[key]
	if !ok {
		f = &fetch{done: make(chan struct{})}
		c.inflight[key] = f
		go func() {
			f.path, f.err = work()
			c.mu.Lock()
			delete(c.inflight, key)
			if f.err == nil {
				c.ready[key] = f.path
				c.lastUsed[key] = time.Now()
			}
			c.mu.Unlock()
			close(f.done)
		}()
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.path, f.err
	case <-ctx.Done():
		return "", fmt.Errorf("waiting for %s: %w", key, ctx.Err())
	}
}

// makeView builds the /input directory of a set of inputs in a temporary
// directory and renames it into place, so a half-made view is never used.
func (c *Cache) makeView(key string, files map[string]string, dirs []string) (string, error) {
	final := filepath.Join(c.dir, viewsDir, key)
	if _, err := os.Stat(final); err == nil {
		return final, nil // made by an earlier run of this agent
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", fmt.Errorf("making the input view: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(final), ".view-*")
	if err != nil {
		return "", fmt.Errorf("making the input view: %w", err)
	}
	defer os.RemoveAll(tmp) // no-op after the rename
	for _, rel := range dirs {
		if err := os.MkdirAll(filepath.Join(tmp, rel), 0o755); err != nil {
			return "", fmt.Errorf("making the input view: %w", err)
		}
	}
	for rel, local := range files {
		dst := filepath.Join(tmp, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", fmt.Errorf("making the input view: %w", err)
		}
		// A hard link: the cache and the views share a file system,
		// and a 1 GiB input costs no copy.
		if err := os.Link(local, dst); err != nil {
			return "", fmt.Errorf("making the input view: %w", err)
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("making the input view: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil && !errors.Is(err, fs.ErrExist) {
		if _, statErr := os.Stat(final); statErr != nil {
			return "", fmt.Errorf("making the input view: %w", err)
		}
	}
	return final, nil
}

// unpack extracts the tar archive at local into a directory of its own,
// once per digest.
func (c *Cache) unpack(digest, local string) (string, error) {
	hexPart, _ := ParseDigest(digest)
	final := filepath.Join(c.dir, treesDir, hexPart)
	if _, err := os.Stat(final); err == nil {
		return final, nil
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", fmt.Errorf("unpacking %s: %w", digest, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(final), ".tree-*")
	if err != nil {
		return "", fmt.Errorf("unpacking %s: %w", digest, err)
	}
	defer os.RemoveAll(tmp)
	f, err := os.Open(local)
	if err != nil {
		return "", fmt.Errorf("unpacking %s: %w", digest, err)
	}
	defer f.Close()
	if err := Untar(f, tmp); err != nil {
		return "", fmt.Errorf("unpacking %s: %w", digest, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("unpacking %s: %w", digest, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		if _, statErr := os.Stat(final); statErr != nil {
			return "", fmt.Errorf("unpacking %s: %w", digest, err)
		}
	}
	return final, nil
}

// Untar extracts a tar stream of regular files and directories into dir.
// Anything else (links, devices) and any name that would land outside dir
// is refused: a task's runtime follows host symbolic links, so a link in
// an input could show it files it must not see.
func Untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the archive: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if name == "." {
			continue
		}
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("the archive's entry %q would land outside its directory", h.Name)
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("the archive's entry %q is not a regular file or directory (type %q): inputs hold only those", h.Name, h.Typeflag)
		}
	}
}

// TarDir writes the tree under dir as a tar stream, in name order and
// without times or owners, so that the same tree always makes the same
// archive (and so the same digest). Only regular files and directories
// are allowed: a symbolic link is refused with its name.
func TarDir(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		name := filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, Format: tar.FormatPAX})
		case d.Type().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return err
			}
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: fi.Size(), Format: tar.FormatPAX}); err != nil {
				return err
			}
			if _, err := io.Copy(tw, f); err != nil {
				return fmt.Errorf("reading %s: %w", p, err)
			}
			return nil
		default:
			return fmt.Errorf("%s is not a regular file or directory (%s): inputs hold only those; copy what it points to instead", p, d.Type())
		}
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
