// Package atomicfile writes a file whole or not at all: to a temporary
// file beside it, then renamed over it, so a reader (or a restart after a
// crash) sees the old content or the new, never half of either. The
// artifact store, the image catalog and the agent's checkpoint use it.
package atomicfile

import (
	"io"
	"os"
	"path/filepath"
)

// Write writes what r yields to path.
func Write(path string, r io.Reader) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
