package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// newTermFunc returns the registry of a new leadership term over one
// shared keyspace; each call fences the registries of the earlier terms.
type newTermFunc func(t *testing.T) Registry

// testRegistry is the suite every Registry implementation must pass.
func testRegistry(t *testing.T, fresh func(t *testing.T) newTermFunc) {
	t.Run("PutGetVersions", func(t *testing.T) { testPutGet(t, fresh(t)(t)) })
	t.Run("ListByPrefix", func(t *testing.T) { testList(t, fresh(t)(t)) })
	t.Run("CheckAndSet", func(t *testing.T) { testCheckAndSet(t, fresh(t)(t)) })
	t.Run("ApplyIsAllOrNothing", func(t *testing.T) { testAtomic(t, fresh(t)(t)) })
	t.Run("BadInputWritesNothing", func(t *testing.T) { testBadInput(t, fresh(t)(t)) })
	t.Run("OlderTermIsFenced", func(t *testing.T) { testFenced(t, fresh(t)) })
}

func mustApply(t *testing.T, r Registry, ops ...Op) {
	t.Helper()
	if err := r.Apply(context.Background(), ops...); err != nil {
		t.Fatalf("Apply(%v): %v", ops, err)
	}
}

func mustGet(t *testing.T, r Registry, key string) Entry {
	t.Helper()
	e, err := r.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return e
}

func testPutGet(t *testing.T, r Registry) {
	ctx := context.Background()
	if _, err := r.Get(ctx, "agents/a1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
	}
	mustApply(t, r, Put("agents/a1", []byte("one")))
	first := mustGet(t, r, "agents/a1")
	if string(first.Value) != "one" || first.Key != "agents/a1" || first.Version == 0 {
		t.Fatalf("after Put: %+v", first)
	}
	mustApply(t, r, Put("agents/a1", []byte("two")))
	second := mustGet(t, r, "agents/a1")
	if string(second.Value) != "two" || second.Version <= first.Version {
		t.Fatalf("second Put: %+v after %+v, want the new value and a larger version", second, first)
	}
	mustApply(t, r, Put("agents/empty", nil))
	if e := mustGet(t, r, "agents/empty"); e.Value == nil || len(e.Value) != 0 {
		t.Fatalf("empty value read back as %#v, want an empty non-nil slice", e.Value)
	}
	mustApply(t, r, Delete("agents/a1"), Delete("agents/never-there"))
	if _, err := r.Get(ctx, "agents/a1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
	mustApply(t, r) // nothing to do is no error
}

func testList(t *testing.T, r Registry) {
	ctx := context.Background()
	mustApply(t, r,
		Put("frameworks/f2", []byte("2")), Put("frameworks/f1", []byte("1")),
		Put("frameworksx", []byte("x")), Put("roles/web", []byte("w")))
	got, err := r.List(ctx, "frameworks/")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range got {
		keys = append(keys, e.Key+"="+string(e.Value))
	}
	if strings.Join(keys, ",") != "frameworks/f1=1,frameworks/f2=2" {
		t.Fatalf("List(frameworks/) = %v", keys)
	}
	all, err := r.List(ctx, "")
	if err != nil || len(all) != 4 {
		t.Fatalf("List(\"\") = %d entries, %v; want 4", len(all), err)
	}
	none, err := r.List(ctx, "weights/")
	if err != nil || len(none) != 0 {
		t.Fatalf("List of an empty prefix = %v, %v", none, err)
	}
}

func testCheckAndSet(t *testing.T, r Registry) {
	ctx := context.Background()
	mustApply(t, r, PutIf("weights/web", []byte("1"), 0))
	created := mustGet(t, r, "weights/web")
	if err := r.Apply(ctx, PutIf("weights/web", []byte("clobber"), 0)); !errors.Is(err, ErrConflict) {
		t.Fatalf("create-only Put of an existing key: %v, want ErrConflict", err)
	}
	mustApply(t, r, PutIf("weights/web", []byte("2"), created.Version))
	updated := mustGet(t, r, "weights/web")
	if string(updated.Value) != "2" {
		t.Fatalf("PutIf at the current version wrote %q", updated.Value)
	}
	if err := r.Apply(ctx, PutIf("weights/web", []byte("stale"), created.Version)); !errors.Is(err, ErrConflict) {
		t.Fatalf("PutIf at a stale version: %v, want ErrConflict", err)
	}
	if err := r.Apply(ctx, DeleteIf("weights/web", created.Version)); !errors.Is(err, ErrConflict) {
		t.Fatalf("DeleteIf at a stale version: %v, want ErrConflict", err)
	}
	if e := mustGet(t, r, "weights/web"); string(e.Value) != "2" || e.Version != updated.Version {
		t.Fatalf("failed checks changed the entry: %+v, want %+v", e, updated)
	}
	mustApply(t, r, DeleteIf("weights/web", updated.Version))
	if _, err := r.Get(ctx, "weights/web"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after DeleteIf: %v", err)
	}
	mustApply(t, r, DeleteIf("weights/web", updated.Version)) // gone already: no conflict
	if err := r.Apply(ctx, PutIf("weights/missing", []byte("x"), 5)); !errors.Is(err, ErrConflict) {
		t.Fatalf("PutIf at a version of a missing key: %v, want ErrConflict", err)
	}
}

func testAtomic(t *testing.T, r Registry) {
	ctx := context.Background()
	mustApply(t, r, Put("unreachable/a1", []byte("since 1")))
	before := mustGet(t, r, "unreachable/a1")
	err := r.Apply(ctx,
		Put("agents/a1", []byte("admitted")),
		Delete("unreachable/a1"),
		PutIf("unreachable/a1", []byte("x"), before.Version+1000))
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("Apply with a failing check: %v, want ErrConflict", err)
	}
	if _, err := r.Get(ctx, "agents/a1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a rolled-back Apply wrote agents/a1 (%v)", err)
	}
	if e := mustGet(t, r, "unreachable/a1"); e.Version != before.Version {
		t.Fatalf("a rolled-back Apply changed unreachable/a1: %+v", e)
	}
	mustApply(t, r, Put("agents/a1", []byte("admitted")), Delete("unreachable/a1"))
	if _, err := r.Get(ctx, "unreachable/a1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Apply did not delete: %v", err)
	}
}

func testBadInput(t *testing.T, r Registry) {
	ctx := context.Background()
	tooMany := make([]Op, MaxOps+1)
	for i := range tooMany {
		tooMany[i] = Put(fmt.Sprintf("k/%d", i), nil)
	}
	for name, ops := range map[string][]Op{
		"empty key":      {Put("", nil)},
		"leading slash":  {Put("/agents", nil)},
		"empty segment":  {Put("agents//a", nil)},
		"zero Op":        {{}},
		"too many":       tooMany,
		"one bad of two": {Put("good", []byte("x")), Delete("bad/")},
	} {
		if err := r.Apply(ctx, ops...); err == nil {
			t.Errorf("%s: Apply succeeded", name)
		}
	}
	if all, err := r.List(ctx, ""); err != nil || len(all) != 0 {
		t.Fatalf("bad input wrote %v (%v)", all, err)
	}
	if _, err := r.Get(ctx, "/x"); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a bad key: %v, want a clear error", err)
	}
}

func testFenced(t *testing.T, newTerm newTermFunc) {
	ctx := context.Background()
	old := newTerm(t)
	mustApply(t, old, Put("frameworks/f1", []byte("old")))
	current := newTerm(t)
	if current.Epoch() <= old.Epoch() {
		t.Fatalf("new term's epoch %d is not above the old %d", current.Epoch(), old.Epoch())
	}
	for _, op := range []Op{Put("frameworks/f1", []byte("stale")), Put("frameworks/f2", nil), Delete("frameworks/f1")} {
		if err := old.Apply(ctx, op); !errors.Is(err, ErrFenced) {
			t.Fatalf("deposed term's %v: %v, want ErrFenced", op, err)
		}
	}
	if e := mustGet(t, current, "frameworks/f1"); !bytes.Equal(e.Value, []byte("old")) {
		t.Fatalf("fenced writes changed the value to %q", e.Value)
	}
	if _, err := current.Get(ctx, "frameworks/f2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a fenced write created frameworks/f2 (%v)", err)
	}
	mustApply(t, current, Put("frameworks/f1", []byte("new")))
	if e := mustGet(t, old, "frameworks/f1"); string(e.Value) != "new" {
		t.Fatalf("the deposed registry still reads: got %q, want the new leader's write", e.Value)
	}
	if err := current.Close(); err != nil {
		t.Fatal(err)
	}
	if err := current.Apply(ctx, Put("x", nil)); err == nil {
		t.Fatal("Apply after Close succeeded")
	}
}
