package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrFenced is returned (wrapped) by a write from a master that no longer
// leads: nothing was written. The master must step down.
var ErrFenced = errors.New("registry: write fenced: this master no longer leads")

// ErrConflict is returned (wrapped) when a PutIf or DeleteIf found another
// version than expected: nothing was written; read again and retry.
var ErrConflict = errors.New("registry: version conflict")

// ErrNotFound is returned (wrapped) by Get for a missing key.
var ErrNotFound = errors.New("registry: key not found")

// Entry is one key, its value, and its version.
type Entry struct {
	Key   string
	Value []byte
	// Version changes on every write of the key (it only grows); PutIf
	// and DeleteIf compare against it.
	Version uint64
}

// Registry is a fenced key-value store. Implementations are safe for
// concurrent use.
type Registry interface {
	// Get returns key's entry, or an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) (Entry, error)
	// List returns the entries whose keys start with prefix, in key
	// order.
	List(ctx context.Context, prefix string) ([]Entry, error)
	// Apply performs ops atomically, all or none, if this master still
	// leads: an error wraps ErrFenced (deposed), ErrConflict (a
	// version check failed) or says what else went wrong.
	Apply(ctx context.Context, ops ...Op) error
	// Epoch is the epoch this registry's writes are fenced by.
	Epoch() uint64
	// Close releases the registry (not the store or client under it).
	Close() error
}

// MaxOps bounds the operations of one Apply (Consul's transactions hold
// 64, one of which is the fence).
const MaxOps = 63

// opKind is the kind of a write.
type opKind int

const (
	opPut opKind = iota + 1
	opDelete
)

// Op is one write of an Apply; make it with Put, PutIf, Delete, DeleteIf.
type Op struct {
	kind    opKind
	key     string
	value   []byte
	ifVer   uint64
	checked bool // compare the version before writing
}

// Put sets key to value.
func Put(key string, value []byte) Op { return Op{kind: opPut, key: key, value: value} }

// PutIf sets key to value only if its version is still version; version
// 0 means "only if the key does not exist".
func PutIf(key string, value []byte, version uint64) Op {
	return Op{kind: opPut, key: key, value: value, ifVer: version, checked: true}
}

// Delete removes key (a missing key is not an error).
func Delete(key string) Op { return Op{kind: opDelete, key: key} }

// DeleteIf removes key only if its version is still version; a missing
// key is no conflict (it is gone already, as Consul sees it too).
func DeleteIf(key string, version uint64) Op {
	return Op{kind: opDelete, key: key, ifVer: version, checked: true}
}

func (op Op) String() string {
	verb := map[opKind]string{opPut: "put", opDelete: "delete"}[op.kind]
	if op.checked {
		return fmt.Sprintf("%s %q if version %d", verb, op.key, op.ifVer)
	}
	return fmt.Sprintf("%s %q", verb, op.key)
}

// checkKey refuses keys the two implementations could not both store.
func checkKey(key string) error {
	switch {
	case key == "":
		return errors.New("registry: empty key")
	case strings.HasPrefix(key, "/"), strings.HasSuffix(key, "/"):
		return fmt.Errorf("registry: key %q must not start or end with '/'", key)
	case strings.Contains(key, "//"):
		return fmt.Errorf("registry: key %q has an empty path segment", key)
	}
	return nil
}

// checkOps validates an Apply's operations before anything is written.
func checkOps(ops []Op) error {
	if len(ops) > MaxOps {
		return fmt.Errorf("registry: %d operations in one Apply, at most %d: split it", len(ops), MaxOps)
	}
	for _, op := range ops {
		if op.kind != opPut && op.kind != opDelete {
			return errors.New("registry: an Op must be made with Put, PutIf, Delete or DeleteIf")
		}
		if err := checkKey(op.key); err != nil {
			return err
		}
	}
	return nil
}
