package artifacts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pandodc/pando/internal/atomicfile"
)

// Source yields an artifact's bytes: the master's store in process, or its
// HTTP API from a remote agent.
type Source interface {
	Open(ctx context.Context, digest string) (io.ReadCloser, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context, digest string) (io.ReadCloser, error)

// Open calls f.
func (f SourceFunc) Open(ctx context.Context, digest string) (io.ReadCloser, error) {
	return f(ctx, digest)
}

// LocalSource serves a Store as a Source.
func LocalSource(s *Store) Source {
	return SourceFunc(func(_ context.Context, digest string) (io.ReadCloser, error) {
		return s.Open(digest)
	})
}

// Cache is an agent's local copy of artifacts. Fetch downloads each digest
// at most once, even when many tasks ask for it at the same moment, and
// verifies the bytes against the digest before anyone uses them. Collect
// bounds what it keeps (see collect.go).
type Cache struct {
	dir         string
	compiledDir string
	src         Source
	started     time.Time

	mu       sync.Mutex
	ready    map[string]string // key (see once) -> local path
	inflight map[string]*fetch
	// lastUsed is when each key was last asked for, in this run: what
	// an earlier run left counts as used at started.
	lastUsed map[string]time.Time

	collecting sync.Mutex // one Collect at a time
	measured   map[string]measured

	counters cacheCounters // see Stats
}

type fetch struct {
	done chan struct{}
	path string
	err  error
}

// CacheConfig configures a Cache.
type CacheConfig struct {
	// Dir holds the artifacts, their views and unpacked trees.
	Dir    string
	Source Source
	// CompiledDir, if set, is a compilation cache (wazero's) that Collect
	// bounds with the artifacts, within the same bytes.
	CompiledDir string
}

// NewCache makes a cache in dir fed by src.
func NewCache(dir string, src Source) (*Cache, error) {
	return OpenCache(CacheConfig{Dir: dir, Source: src})
}

// OpenCache makes (or reopens, keeping what an earlier run fetched) a
// cache.
func OpenCache(cfg CacheConfig) (*Cache, error) {
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("artifact cache: %w", err)
	}
	return &Cache{
		dir: cfg.Dir, compiledDir: cfg.CompiledDir, src: cfg.Source, started: time.Now(),
		ready: map[string]string{}, inflight: map[string]*fetch{}, lastUsed: map[string]time.Time{},
		measured: map[string]measured{},
	}, nil
}

// Fetch returns the path of a verified local copy of digest.
func (c *Cache) Fetch(ctx context.Context, digest string) (string, error) {
	c.counters.requests.Add(1)
	// The fetch outlives any one caller's context: others may be waiting.
	return c.once(ctx, digest, func() (string, error) { return c.download(context.Background(), digest) })
}

// Cached says whether digest is in the cache, verified: a Fetch of it
// would not wait.
func (c *Cache) Cached(digest string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.ready[digest]
	return ok
}

func (c *Cache) download(ctx context.Context, digest string) (string, error) {
	hexPart, err := ParseDigest(digest)
	if err != nil {
		return "", err
	}
	path := filepath.Join(c.dir, hexPart)
	if err := verifyFile(path, hexPart); err == nil {
		return path, nil // left by an earlier run of this agent
	} else if !errors.Is(err, fs.ErrNotExist) {
		os.Remove(path) // corrupt: fetch it again
	}
	n, err := c.fetchFromSource(ctx, digest, hexPart, path)
	if err != nil {
		c.counters.fetchFailures.Add(1)
		return "", err
	}
	c.counters.fetches.Add(1)
	c.counters.fetchedBytes.Add(n)
	return path, nil
}

// fetchFromSource downloads digest into path and verifies it; it returns
// the bytes it wrote.
func (c *Cache) fetchFromSource(ctx context.Context, digest, hexPart, path string) (int64, error) {
	rc, err := c.src.Open(ctx, digest)
	if err != nil {
		return 0, fmt.Errorf("fetching artifact %s: %w", digest, err)
	}
	defer rc.Close()
	// No size limit here: the master enforces its own on upload, and
	// bytes that do not hash to the digest are thrown away below.
	h := sha256.New()
	if err := atomicfile.Write(path, io.TeeReader(rc, h)); err != nil {
		return 0, fmt.Errorf("fetching artifact %s: %w", digest, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != hexPart {
		os.Remove(path)
		return 0, fmt.Errorf("artifact %s failed verification: its bytes hash to sha256:%s", digest, got)
	}
	// Readable by all: a container task may run as any user, and it sees
	// inputs through hard links to this file.
	if err := os.Chmod(path, 0o644); err != nil {
		return 0, fmt.Errorf("fetching artifact %s: %w", digest, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("fetching artifact %s: %w", digest, err)
	}
	return fi.Size(), nil
}

func verifyFile(path, hexPart string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if hex.EncodeToString(h.Sum(nil)) != hexPart {
		return errors.New("digest mismatch")
	}
	return nil
}
