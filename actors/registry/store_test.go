package registry

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pandodc/pando/sdk/store"
)

func TestAsStoreServesAFrameworksKeysFenced(t *testing.T) {
	ctx := context.Background()
	b := openBolt(t, filepath.Join(t.TempDir(), "registry.db"))
	reg, err := OpenEmbedded(ctx, b, 100)
	if err != nil {
		t.Fatal(err)
	}
	s := AsStore(reg, "frameworks/batch/")
	if _, err := s.Get(ctx, "meta"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of a missing key: %v, want store.ErrNotFound", err)
	}
	for _, k := range []string{"jobs/2", "jobs/1", "meta"} {
		if err := s.Put(ctx, k, []byte("v-"+k)); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := s.Get(ctx, "jobs/1"); err != nil || string(v) != "v-jobs/1" {
		t.Fatalf("Get jobs/1 = %q, %v", v, err)
	}
	kvs, err := s.List(ctx, "jobs/")
	if err != nil || len(kvs) != 2 || kvs[0].Key != "jobs/1" || kvs[1].Key != "jobs/2" {
		t.Fatalf("List jobs/ = %+v, %v", kvs, err)
	}
	if e, err := reg.Get(ctx, "frameworks/batch/meta"); err != nil || !bytes.Equal(e.Value, []byte("v-meta")) {
		t.Fatalf("the registry holds %q, %v under the store's prefix", e.Value, err)
	}
	if err := s.Delete(ctx, "jobs/2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "jobs/2"); err != nil {
		t.Fatalf("a second delete: %v", err)
	}
	if err := s.Put(ctx, "big", make([]byte, MaxValueSize+1)); err == nil || !strings.Contains(err.Error(), "KiB") {
		t.Fatalf("a value over the limit: %v", err)
	}
	// A new term fences the old one's store: a deposed master's framework
	// writes nothing.
	if _, err := OpenEmbedded(ctx, b, 100); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "meta", []byte("late")); !errors.Is(err, ErrFenced) {
		t.Fatalf("a write from the old term: %v, want ErrFenced", err)
	}
}
