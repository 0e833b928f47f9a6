package registry

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/pandodc/pando/sdk/store"
)

// Keys of the embedded registry in its store.
const (
	embeddedRoot    = "registry/"
	embeddedData    = embeddedRoot + "data/"
	embeddedEpoch   = embeddedRoot + "epoch"   // the newest epoch opened
	embeddedVersion = embeddedRoot + "version" // the last version given out
)

// Embedded is a Registry in a bbolt file, for a master without Consul. The
// file keeps the newest epoch that opened it: a handle opened earlier
// (an older master in the same process, or one that lost the file and
// came back) is fenced.
type Embedded struct {
	bolt   *store.Bolt
	epoch  uint64
	closed atomic.Bool
}

var _ Registry = (*Embedded)(nil)

// OpenEmbedded opens the registry in b at an epoch newer than any before:
// the larger of atLeast and the stored epoch + 1. Pass the start time in
// seconds as atLeast, so that the epoch keeps fencing agents that saw an
// earlier master even if the data dir was lost, and keeps growing if the
// clock goes back. Its Epoch is the one the master must use.
func OpenEmbedded(ctx context.Context, b *store.Bolt, atLeast uint64) (*Embedded, error) {
	if b == nil {
		return nil, errors.New("registry: a store is required")
	}
	var epoch uint64
	err := b.Update(ctx, func(tx *store.BoltTx) error {
		stored, err := readUint(tx, embeddedEpoch)
		if err != nil {
			return err
		}
		epoch = max(atLeast, stored+1)
		return tx.Put(embeddedEpoch, binary.BigEndian.AppendUint64(nil, epoch))
	})
	if err != nil {
		return nil, fmt.Errorf("registry: opening in %s: %w", b.Path(), err)
	}
	return &Embedded{bolt: b, epoch: epoch}, nil
}

// Epoch implements Registry.
func (r *Embedded) Epoch() uint64 { return r.epoch }

// Close implements Registry: later writes fail. The store stays open.
func (r *Embedded) Close() error {
	r.closed.Store(true)
	return nil
}

// Get implements Registry.
func (r *Embedded) Get(ctx context.Context, key string) (Entry, error) {
	if err := checkKey(key); err != nil {
		return Entry{}, err
	}
	raw, err := r.bolt.Get(ctx, embeddedData+key)
	if errors.Is(err, store.ErrNotFound) {
		return Entry{}, fmt.Errorf("%q: %w", key, ErrNotFound)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("registry: reading %q: %w", key, err)
	}
	return decodeEntry(key, raw)
}

// List implements Registry.
func (r *Embedded) List(ctx context.Context, prefix string) ([]Entry, error) {
	kvs, err := r.bolt.List(ctx, embeddedData+prefix)
	if err != nil {
		return nil, fmt.Errorf("registry: listing %q: %w", prefix, err)
	}
	out := make([]Entry, 0, len(kvs))
	for _, kv := range kvs {
		e, err := decodeEntry(kv.Key[len(embeddedData):], kv.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Apply implements Registry.
func (r *Embedded) Apply(ctx context.Context, ops ...Op) error {
	if r.closed.Load() {
		return errors.New("registry: Apply after Close")
	}
	if err := checkOps(ops); err != nil {
		return err
	}
	if len(ops) == 0 {
		return nil
	}
	return r.bolt.Update(ctx, func(tx *store.BoltTx) error {
		stored, err := readUint(tx, embeddedEpoch)
		if err != nil {
			return err
		}
		if stored != r.epoch {
			return fmt.Errorf("%w (epoch %d; the registry file was opened at epoch %d since)", ErrFenced, r.epoch, stored)
		}
		last, err := readUint(tx, embeddedVersion)
		if err != nil {
			return err
		}
		// One version for the whole Apply, as Consul gives one index
		// to a transaction.
		version := last + 1
		for _, op := range ops {
			if err := applyOp(tx, op, version); err != nil {
				return err
			}
		}
		return tx.Put(embeddedVersion, binary.BigEndian.AppendUint64(nil, version))
	})
}

func applyOp(tx *store.BoltTx, op Op, version uint64) error {
	key := embeddedData + op.key
	if op.checked {
		raw, exists := tx.Get(key)
		var current uint64
		if exists {
			e, err := decodeEntry(op.key, raw)
			if err != nil {
				return err
			}
			current = e.Version
		}
		// A missing key counts as version 0, and deleting it is no
		// conflict: Consul's delete-cas behaves the same.
		if current != op.ifVer && !(op.kind == opDelete && !exists) {
			return fmt.Errorf("%w: %s: the version is %d", ErrConflict, op, current)
		}
	}
	if op.kind == opDelete {
		return tx.Delete(key)
	}
	return tx.Put(key, append(binary.BigEndian.AppendUint64(nil, version), op.value...))
}

// readUint reads a counter kept as 8 big-endian bytes (0 when missing).
func readUint(tx *store.BoltTx, key string) (uint64, error) {
	raw, ok := tx.Get(key)
	if !ok {
		return 0, nil
	}
	if len(raw) != 8 {
		return 0, fmt.Errorf("registry: %s holds %d bytes, not a counter: the file is not a Pando registry or is damaged", key, len(raw))
	}
	return binary.BigEndian.Uint64(raw), nil
}

// decodeEntry splits a stored value into its version and bytes.
func decodeEntry(key string, raw []byte) (Entry, error) {
	if len(raw) < 8 {
		return Entry{}, fmt.Errorf("registry: entry %q holds %d bytes, too short for its version: the file is damaged", key, len(raw))
	}
	return Entry{Key: key, Value: raw[8:], Version: binary.BigEndian.Uint64(raw[:8])}, nil
}
