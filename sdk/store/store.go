package store

import (
	"context"
	"errors"
)

// ErrNotFound is returned by Get when the key does not exist. Test for it
// with errors.Is.
var ErrNotFound = errors.New("store: key not found")

// KV is one key and its value, as returned by List.
type KV struct {
	Key   string
	Value []byte
}

// Store is a key-value store with "/"-separated keys. Implementations are
// safe for concurrent use by multiple goroutines.
type Store interface {
	// Get returns the value of key, or an error wrapping ErrNotFound.
	// The returned slice belongs to the caller.
	Get(ctx context.Context, key string) ([]byte, error)
	// Put sets key to val, replacing any previous value. It is durable
	// when it returns.
	Put(ctx context.Context, key string, val []byte) error
	// Delete removes key; deleting a missing key is not an error, so that
	// retried deletes are harmless.
	Delete(ctx context.Context, key string) error
	// List returns every key that starts with prefix, in key order. An
	// empty prefix lists everything.
	List(ctx context.Context, prefix string) ([]KV, error)
	// Close releases the store; later calls fail.
	Close() error
}
