package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// bucket holds every key. Keys are paths already, so one flat bucket keeps
// List a single cursor seek instead of a walk through nested buckets.
var bucket = []byte("kv")

// lockTimeout bounds how long OpenBolt waits for the file lock. Another live
// process holding the lock will not let go soon, so waiting longer only
// delays the error the operator needs to see.
const lockTimeout = time.Second

// ErrLocked is wrapped by OpenBolt's error when another process (or another
// OpenBolt in this process) has the file open.
var ErrLocked = errors.New("store: database file is locked")

// Bolt is a Store in a single bbolt file on local disk.
type Bolt struct {
	db   *bolt.DB
	path string
}

var _ Store = (*Bolt)(nil)

// OpenBolt opens (creating if needed, with its parent directory) the bbolt
// file at path. Only one process may have it open: if another does,
// OpenBolt fails after about a second with an error wrapping ErrLocked that
// names the directory, rather than hanging.
func OpenBolt(path string) (*Bolt, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("store: create directory for %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("data dir %s is in use by another pando process (%s is locked; stop that process or choose another data dir): %w",
				filepath.Dir(path), path, ErrLocked)
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	}); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: initialise %s: %w", path, err)
	}
	return &Bolt{db: db, path: path}, nil
}

// Path returns the file the store lives in.
func (b *Bolt) Path() string { return b.path }

// Get implements Store.
func (b *Bolt) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []byte
	err := b.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucket).Get([]byte(key))
		if v == nil {
			return fmt.Errorf("%q: %w", key, ErrNotFound)
		}
		// bbolt's slices are only valid inside the transaction.
		out = bytes.Clone(v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Put implements Store.
func (b *Bolt) Put(ctx context.Context, key string, val []byte) error {
	if key == "" {
		return errors.New("store: put with an empty key")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if val == nil {
		// bbolt treats a nil value as "no value"; store an empty one so
		// that Get finds the key.
		val = []byte{}
	}
	// Batch coalesces concurrent writers into one transaction and one
	// fsync, which matters when several goroutines persist at once.
	if err := b.db.Batch(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).Put([]byte(key), val)
	}); err != nil {
		return fmt.Errorf("store: put %q in %s: %w", key, b.path, err)
	}
	return nil
}

// Delete implements Store.
func (b *Bolt) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.db.Batch(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).Delete([]byte(key))
	}); err != nil {
		return fmt.Errorf("store: delete %q in %s: %w", key, b.path, err)
	}
	return nil
}

// List implements Store.
func (b *Bolt) List(ctx context.Context, prefix string) ([]KV, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []KV
	p := []byte(prefix)
	err := b.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			out = append(out, KV{Key: string(k), Value: bytes.Clone(v)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: list %q in %s: %w", prefix, b.path, err)
	}
	return out, nil
}

// Close implements Store.
func (b *Bolt) Close() error {
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("store: close %s: %w", b.path, err)
	}
	return nil
}

// BoltTx is the view of the store inside one Update: reads see the
// transaction's own writes, and nothing is visible to others until Update
// returns nil.
type BoltTx struct {
	bucket *bolt.Bucket
}

// Get returns a copy of key's value, and whether the key exists.
func (tx *BoltTx) Get(key string) ([]byte, bool) {
	v := tx.bucket.Get([]byte(key))
	if v == nil {
		return nil, false
	}
	return bytes.Clone(v), true
}

// Put sets key to val within the transaction.
func (tx *BoltTx) Put(key string, val []byte) error {
	if key == "" {
		return errors.New("store: put with an empty key")
	}
	if val == nil {
		val = []byte{}
	}
	return tx.bucket.Put([]byte(key), val)
}

// Delete removes key within the transaction (a missing key is not an error).
func (tx *BoltTx) Delete(key string) error {
	return tx.bucket.Delete([]byte(key))
}

// Update runs fn in one read-write transaction: either all of fn's writes
// are durable when Update returns nil, or none is applied (fn's error is
// returned as is, so callers can test it with errors.Is). It is for
// read-modify-write steps that must not interleave with other writers, such
// as a check-and-set. Updates are serialised; keep fn short and free of I/O.
func (b *Bolt) Update(ctx context.Context, fn func(tx *BoltTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var fnErr error
	err := b.db.Update(func(tx *bolt.Tx) error {
		fnErr = fn(&BoltTx{bucket: tx.Bucket(bucket)})
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("store: update in %s: %w", b.path, err)
	}
	return nil
}
