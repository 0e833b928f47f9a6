package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/pandodc/pando/sdk/store"
)

// MaxValueSize is the largest value a registry keeps (Consul's KV limit is
// 512 KiB; a little is left for the transaction around it).
const MaxValueSize = 500 << 10

// AsStore serves the keys under prefix of reg as a framework's store
// (sdk/store.Store): the built-in frameworks of a leading master keep their
// state there, so that the master elected after it finds their jobs, and
// every write is fenced, so a deposed master's frameworks write nothing.
func AsStore(reg Registry, prefix string) store.Store {
	return &regStore{reg: reg, prefix: prefix}
}

type regStore struct {
	reg    Registry
	prefix string
}

func (s *regStore) Get(ctx context.Context, key string) ([]byte, error) {
	e, err := s.reg.Get(ctx, s.prefix+key)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return e.Value, nil
}

func (s *regStore) Put(ctx context.Context, key string, val []byte) error {
	if len(val) > MaxValueSize {
		return fmt.Errorf("registry store: %s is %d KiB, more than the %d KiB a registry value holds", key, len(val)>>10, MaxValueSize>>10)
	}
	return s.reg.Apply(ctx, Put(s.prefix+key, val))
}

func (s *regStore) Delete(ctx context.Context, key string) error {
	return s.reg.Apply(ctx, Delete(s.prefix+key))
}

func (s *regStore) List(ctx context.Context, prefix string) ([]store.KV, error) {
	entries, err := s.reg.List(ctx, s.prefix+prefix)
	if err != nil {
		return nil, err
	}
	out := make([]store.KV, len(entries))
	for i, e := range entries {
		out[i] = store.KV{Key: e.Key[len(s.prefix):], Value: e.Value}
	}
	return out, nil
}

func (s *regStore) Close() error { return nil }
