package artifacts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/pandodc/pando/internal/atomicfile"
	"github.com/pandodc/pando/runtime"
	"github.com/pandodc/pando/sdk/client"
)

// ErrNotFound is returned for an artifact the store does not hold.
var ErrNotFound = errors.New("artifact not found")

// MaxSize is the default bound of one artifact (the master's
// --max-artifact-size); a larger upload is refused rather than filling the
// master's disk. Uploads stream to disk, so the bound is not a memory one.
const MaxSize = 4 << 30

// Store is a content-addressed directory of artifacts. Writes go through a
// temporary file and a rename, so a reader never sees half an artifact.
type Store struct {
	dir string
}

// OpenStore opens (creating if needed) a store in dir.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("artifact store: %w", err)
	}
	return &Store{dir: dir}, nil
}

// Put stores data and returns its digest. Storing the same bytes twice is
// a no-op.
func (s *Store) Put(data []byte) (string, error) {
	digest := Digest(data)
	hexPart, _ := ParseDigest(digest)
	path := filepath.Join(s.dir, hexPart)
	if _, err := os.Stat(path); err == nil {
		touch(path) // stored again: a fresh grace before collection
		return digest, nil
	}
	if err := atomicfile.Write(path, bytes.NewReader(data)); err != nil {
		return "", fmt.Errorf("artifact store: saving %s: %w", digest, err)
	}
	return digest, nil
}

// PutStream stores what r yields, up to limit bytes, without holding it
// in memory: it is written to a temporary file while its digest is
// computed. check, if not nil, may refuse the file (e.g. a malformed image
// tarball) before it is stored; nothing is left behind then.
func (s *Store) PutStream(r io.Reader, limit int64, check func(*os.File) error) (string, int64, error) {
	return s.putStream(r, limit, check, "")
}

// PutVerified stores what r yields, streamed as PutStream does, only if
// it is want's content (and at most limit bytes): a mirror fetching from
// another master keeps nothing that does not match what it asked for.
func (s *Store) PutVerified(r io.Reader, want string, limit int64) (int64, error) {
	if _, err := ParseDigest(want); err != nil {
		return 0, err
	}
	_, n, err := s.putStream(r, limit, nil, want)
	return n, err
}

// ErrDigestMismatch is returned by PutVerified for bytes of another digest.
var ErrDigestMismatch = errors.New("artifact digest mismatch")

func (s *Store) putStream(r io.Reader, limit int64, check func(*os.File) error, want string) (string, int64, error) {
	tmp, err := os.CreateTemp(s.dir, ".upload-*")
	if err != nil {
		return "", 0, fmt.Errorf("artifact store: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	defer tmp.Close()
	hash := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, hash), io.LimitReader(r, limit+1))
	if err != nil {
		return "", 0, fmt.Errorf("artifact store: reading upload: %w", err)
	}
	if n > limit {
		return "", 0, fmt.Errorf("%w: the upload is larger than the %s limit", ErrTooLarge, runtime.FormatBytes(uint64(limit)))
	}
	if check != nil {
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return "", 0, fmt.Errorf("artifact store: %w", err)
		}
		if err := check(tmp); err != nil {
			return "", 0, err
		}
	}
	if err := tmp.Close(); err != nil {
		return "", 0, fmt.Errorf("artifact store: %w", err)
	}
	digest := digestPrefix + hex.EncodeToString(hash.Sum(nil))
	if want != "" && digest != want {
		return "", 0, fmt.Errorf("%w: asked for %s, got %d bytes of %s", ErrDigestMismatch, want, n, digest)
	}
	hexPart, _ := ParseDigest(digest)
	if err := os.Rename(tmp.Name(), filepath.Join(s.dir, hexPart)); err != nil {
		return "", 0, fmt.Errorf("artifact store: saving %s: %w", digest, err)
	}
	return digest, n, nil
}

// ErrTooLarge is returned for an upload over the size limit.
var ErrTooLarge = errors.New("artifact too large")

// Path returns the local file holding digest.
func (s *Store) Path(digest string) (string, error) {
	hexPart, err := ParseDigest(digest)
	if err != nil {
		return "", err
	}
	path := filepath.Join(s.dir, hexPart)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s: %w", digest, ErrNotFound)
	} else if err != nil {
		return "", fmt.Errorf("artifact store: %w", err)
	}
	return path, nil
}

// Open opens the artifact for reading.
func (s *Store) Open(digest string) (io.ReadCloser, error) {
	path, err := s.Path(digest)
	if err != nil {
		return nil, err
	}
	return os.Open(path)
}

// List returns every stored artifact with when it was stored.
func (s *Store) List() (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := s.each(func(digest string, fi fs.FileInfo) { out[digest] = fi.ModTime() })
	return out, err
}

// Artifacts lists every stored artifact with its size, by digest (GET
// /api/v1/artifacts, which stand-by masters mirror).
func (s *Store) Artifacts() ([]client.Artifact, error) {
	out := []client.Artifact{}
	err := s.each(func(digest string, fi fs.FileInfo) {
		out = append(out, client.Artifact{Digest: digest, Size: fi.Size()})
	})
	return out, err // ReadDir sorts by name, so by digest
}

// each visits every stored artifact, by digest.
func (s *Store) each(visit func(digest string, fi fs.FileInfo)) error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("artifact store: %w", err)
	}
	for _, e := range entries {
		digest := digestPrefix + e.Name()
		if _, err := ParseDigest(digest); err != nil || !e.Type().IsRegular() {
			continue // a temporary upload, or not an artifact
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		visit(digest, fi)
	}
	return nil
}

// Delete removes an artifact; a missing one is no error.
func (s *Store) Delete(digest string) error {
	hexPart, err := ParseDigest(digest)
	if err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(s.dir, hexPart)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("artifact store: %w", err)
	}
	return nil
}

// touch marks an artifact as just stored, for the collection's grace.
func touch(path string) {
	now := time.Now()
	_ = os.Chtimes(path, now, now)
}
