package registry

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/pandodc/pando/sdk/store"
)

func openBolt(t *testing.T, path string) *store.Bolt {
	t.Helper()
	b, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestEmbedded(t *testing.T) {
	testRegistry(t, func(t *testing.T) newTermFunc {
		b := openBolt(t, filepath.Join(t.TempDir(), "registry.db"))
		return func(t *testing.T) Registry {
			r, err := OpenEmbedded(context.Background(), b, 100)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
	})
}

func TestEmbeddedEpochSurvivesReopening(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "registry.db")
	b, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	first, err := OpenEmbedded(ctx, b, 1_000)
	if err != nil || first.Epoch() != 1_000 {
		t.Fatalf("first open: epoch %d, %v; want the start time given", first.Epoch(), err)
	}
	mustApply(t, first, Put("agents/a1", []byte("x")))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = openBolt(t, path)
	// The clock went back: the epoch still grows past the stored one.
	second, err := OpenEmbedded(ctx, b, 10)
	if err != nil || second.Epoch() != 1_001 {
		t.Fatalf("reopen with an earlier clock: epoch %d, %v; want 1001", second.Epoch(), err)
	}
	if e := mustGet(t, second, "agents/a1"); string(e.Value) != "x" {
		t.Fatalf("value lost across reopening: %q", e.Value)
	}
	third, err := OpenEmbedded(ctx, b, 5_000)
	if err != nil || third.Epoch() != 5_000 {
		t.Fatalf("open at a later start time: epoch %d, %v", third.Epoch(), err)
	}
	if err := second.Apply(ctx, Put("agents/a2", nil)); !errors.Is(err, ErrFenced) {
		t.Fatalf("write at epoch 1001 after epoch 5000 opened: %v, want ErrFenced", err)
	}
}

func TestEmbeddedRefusesAForeignFile(t *testing.T) {
	ctx := context.Background()
	b := openBolt(t, filepath.Join(t.TempDir(), "other.db"))
	if err := b.Put(ctx, embeddedEpoch, []byte("not a counter")); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenEmbedded(ctx, b, 1); err == nil {
		t.Fatal("OpenEmbedded accepted a damaged epoch")
	}
	if _, err := OpenEmbedded(ctx, nil, 1); err == nil {
		t.Fatal("OpenEmbedded accepted a nil store")
	}
}
