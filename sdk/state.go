package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/pandodc/pando/sdk/store"
)

// State is a framework's durable state: typed values, stored as JSON under
// "frameworks/<name>/" in a store.Store (a bbolt file now, Consul KV in a
// highly available deployment: State does not care which). With
// Config.State set, the driver keeps the framework id there too, so a
// restarted framework fails over to its old id and finds its tasks.
//
//	st, _ := sdk.OpenState("/var/lib/myfw/state.db", "myfw")
//	jobs := sdk.MapOf[Job](st, "jobs")
//	_ = jobs.Put(ctx, "j1", Job{...})
type State struct {
	store  store.Store
	prefix string
	owned  bool
}

// NewState keeps framework's state in st (shared with others: keys are
// prefixed with the framework's name). The store stays the caller's.
func NewState(st store.Store, framework string) (*State, error) {
	if st == nil {
		return nil, errors.New("sdk: NewState needs a store")
	}
	if framework == "" || strings.Contains(framework, "/") {
		return nil, fmt.Errorf("sdk: state: framework name %q must be non-empty and without '/'", framework)
	}
	return &State{store: st, prefix: "frameworks/" + framework + "/"}, nil
}

// OpenState opens (creating it) a bbolt file at path for framework's
// state. Close closes it.
func OpenState(path, framework string) (*State, error) {
	b, err := store.OpenBolt(path)
	if err != nil {
		return nil, err
	}
	s, err := NewState(b, framework)
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	s.owned = true
	return s, nil
}

// Close closes the store if OpenState opened it.
func (s *State) Close() error {
	if s.owned {
		return s.store.Close()
	}
	return nil
}

func (s *State) get(ctx context.Context, key string, v any) (bool, error) {
	raw, err := s.store.Get(ctx, s.prefix+key)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sdk: state: read %s: %w", key, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("sdk: state: %s%s is corrupt: %w", s.prefix, key, err)
	}
	return true, nil
}

func (s *State) put(ctx context.Context, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("sdk: state: encode %s: %w", key, err)
	}
	if err := s.store.Put(ctx, s.prefix+key, raw); err != nil {
		return fmt.Errorf("sdk: state: write %s: %w", key, err)
	}
	return nil
}

// Value is one typed value of a State.
type Value[T any] struct {
	s   *State
	key string
}

// ValueOf is the value named name in s.
func ValueOf[T any](s *State, name string) Value[T] { return Value[T]{s: s, key: "values/" + name} }

// Get returns the value, and false if it was never put.
func (v Value[T]) Get(ctx context.Context) (T, bool, error) {
	var out T
	ok, err := v.s.get(ctx, v.key, &out)
	return out, ok, err
}

// Put stores the value durably.
func (v Value[T]) Put(ctx context.Context, val T) error { return v.s.put(ctx, v.key, val) }

// Map is a durable collection of typed values by id.
type Map[T any] struct {
	s      *State
	prefix string
}

// MapOf is the collection named name in s.
func MapOf[T any](s *State, name string) Map[T] { return Map[T]{s: s, prefix: "maps/" + name + "/"} }

// Get returns the entry for id, and false if there is none.
func (m Map[T]) Get(ctx context.Context, id string) (T, bool, error) {
	var out T
	ok, err := m.s.get(ctx, m.prefix+id, &out)
	return out, ok, err
}

// Put stores the entry for id durably.
func (m Map[T]) Put(ctx context.Context, id string, val T) error {
	if id == "" {
		return errors.New("sdk: state: empty id")
	}
	return m.s.put(ctx, m.prefix+id, val)
}

// Delete removes the entry for id; a missing entry is no error.
func (m Map[T]) Delete(ctx context.Context, id string) error {
	if err := m.s.store.Delete(ctx, m.s.prefix+m.prefix+id); err != nil {
		return fmt.Errorf("sdk: state: delete %s: %w", id, err)
	}
	return nil
}

// All returns every entry by id. A corrupt entry fails the whole call,
// naming its key.
func (m Map[T]) All(ctx context.Context) (map[string]T, error) {
	full := m.s.prefix + m.prefix
	kvs, err := m.s.store.List(ctx, full)
	if err != nil {
		return nil, fmt.Errorf("sdk: state: list %s: %w", m.prefix, err)
	}
	out := make(map[string]T, len(kvs))
	for _, kv := range kvs {
		var v T
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			return nil, fmt.Errorf("sdk: state: %s is corrupt: %w", kv.Key, err)
		}
		out[strings.TrimPrefix(kv.Key, full)] = v
	}
	return out, nil
}

// frameworkID is where the driver keeps the framework id.
func (s *State) frameworkID() Value[string] { return Value[string]{s: s, key: "framework_id"} }
