package artifacts

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pandodc/pando/kernel/kernelpb"
)

func mustPut(t *testing.T, store *Store, data []byte) string {
	t.Helper()
	d, err := store.Put(data)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// newLocalCache is a cache fed by a store of its own, both in temp dirs.
func newLocalCache(t *testing.T) (*Store, *Cache) {
	t.Helper()
	store, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cache, err := NewCache(t.TempDir(), LocalSource(store))
	if err != nil {
		t.Fatal(err)
	}
	return store, cache
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func TestCollectDeletesWhatNoTaskNeedsAndFetchesItAgain(t *testing.T) {
	ctx := context.Background()
	store, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	src := &countingSource{store: store}
	dir, compiled := t.TempDir(), t.TempDir()
	cache, err := OpenCache(CacheConfig{Dir: dir, Source: src, CompiledDir: compiled})
	if err != nil {
		t.Fatal(err)
	}
	module := mustPut(t, store, []byte("\x00asm\x01\x00\x00\x00 the live task's module"))
	other := mustPut(t, store, []byte("\x00asm\x01\x00\x00\x00 an ended task's module"))
	file := mustPut(t, store, []byte("an input file"))
	tree := t.TempDir()
	os.WriteFile(filepath.Join(tree, "one.txt"), []byte("one"), 0o644)
	archive := mustPut(t, store, tarOf(t, tree))
	inputs := []*kernelpb.Input{{Digest: file, Path: "/input/f.txt"}, {Digest: archive, Path: "/input/tree", Archive: true}}
	// wazero's layout: a folder per version, a file per module, a
	// temporary file while one is written.
	wz := filepath.Join(compiled, "wazero-v1-amd64-linux")
	os.MkdirAll(wz, 0o755)
	os.WriteFile(filepath.Join(wz, "0123abcd"), []byte("native code"), 0o644)
	os.WriteFile(filepath.Join(wz, "4567ef.123.tmp"), []byte("being written"), 0o644)

	path := func(digest string) string { h, _ := ParseDigest(digest); return filepath.Join(dir, h) }
	for _, d := range []string{module, other} {
		if _, err := cache.Fetch(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	mounts, err := cache.Inputs(ctx, inputs)
	if err != nil {
		t.Fatal(err)
	}
	view, treeDir := mounts[0].Source, mounts[1].Source
	live := TaskKeys(&kernelpb.TaskInfo{Runtime: &kernelpb.TaskInfo_Wasm{Wasm: &kernelpb.WasmTask{Module: module}}})
	all := Eviction{MaxBytes: 0, Grace: time.Hour}

	// Within the grace nothing goes, however small the bound.
	got, err := cache.Collect(live, all, time.Now())
	if err != nil || len(got.Deleted) != 0 {
		t.Fatalf("within the grace: deleted %v (%v), want nothing", got.Deleted, err)
	}

	// Past the grace, everything no live task names goes.
	later := time.Now().Add(2 * time.Hour)
	if _, err := cache.Collect(live, all, later); err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]string{"live module": path(module)} {
		if !exists(p) {
			t.Errorf("the %s was deleted", name)
		}
	}
	for name, p := range map[string]string{"ended module": path(other), "file": path(file), "archive": path(archive), "view": view, "tree": treeDir, "compiled module": filepath.Join(wz, "0123abcd")} {
		if exists(p) {
			t.Errorf("the %s (%s) is still there", name, p)
		}
	}
	if !exists(filepath.Join(wz, "4567ef.123.tmp")) {
		t.Error("a compiled module being written was deleted")
	}

	// What went is fetched again, verified, when a task names it.
	if p, err := cache.Fetch(ctx, other); err != nil || !exists(p) || verifyFile(p, path(other)[len(dir)+1:]) != nil {
		t.Fatalf("fetching an evicted module again: %s, %v", p, err)
	}
	if n := src.count(other); n != 2 {
		t.Errorf("the evicted module was fetched %d times, want 2", n)
	}
	mounts, err = cache.Inputs(ctx, inputs)
	if err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(mounts[0].Source, "f.txt")); err != nil || string(data) != "an input file" {
		t.Fatalf("the remade view holds %q (%v)", data, err)
	}
	if data, err := os.ReadFile(filepath.Join(mounts[1].Source, "one.txt")); err != nil || string(data) != "one" {
		t.Fatalf("the unpacked tree holds %q (%v)", data, err)
	}

	// A view that is held keeps the file it hard-links, though nothing
	// names the file itself: deleting it would free nothing.
	held := TaskKeys(&kernelpb.TaskInfo{Inputs: inputs})
	viewOnly := held[len(held)-1]
	got, err = cache.Collect([]string{viewOnly}, all, time.Now().Add(4*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !exists(path(file)) || !exists(mounts[0].Source) {
		t.Fatalf("deleted %v: the held view or the file it links is gone", got.Deleted)
	}
	if want := []string{module, other, archive, treePrefix + archive}; !slices.Equal(sorted(got.Deleted), sorted(want)) {
		t.Errorf("deleted %v, want %v", got.Deleted, want)
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func TestCollectAfterARestartWaitsForTheGrace(t *testing.T) {
	ctx := context.Background()
	store, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	first, err := NewCache(dir, LocalSource(store))
	if err != nil {
		t.Fatal(err)
	}
	digest := mustPut(t, store, []byte("fetched by the previous run"))
	if _, err := first.Fetch(ctx, digest); err != nil {
		t.Fatal(err)
	}
	// What a crash in the middle of a fetch, an unpacking, a view or a
	// collection leaves.
	leftovers := []string{filepath.Join(dir, ".tmp-123"), filepath.Join(dir, viewsDir, ".view-1"), filepath.Join(dir, treesDir, ".tree-1", "sub"), filepath.Join(dir, viewsDir, trashPrefix+"v")}
	for _, p := range leftovers {
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("half"), 0o644)
	}
	restarted, err := NewCache(dir, LocalSource(store))
	if err != nil {
		t.Fatal(err)
	}
	p := Eviction{MaxBytes: 0, Grace: time.Hour}
	if got, err := restarted.Collect(nil, p, time.Now()); err != nil || len(got.Deleted) != 0 || got.Bytes == 0 {
		t.Fatalf("right after a restart: %+v, %v; want nothing deleted, the entry counted", got, err)
	}
	for _, p := range leftovers {
		if exists(p) || exists(filepath.Dir(p)) && filepath.Base(filepath.Dir(p)) == ".tree-1" {
			t.Errorf("%s, left by a crash, is still there", p)
		}
	}
	if des, _ := os.ReadDir(filepath.Join(dir, viewsDir)); len(des) != 0 {
		t.Errorf("views/ still holds %v", des)
	}
	got, err := restarted.Collect(nil, p, time.Now().Add(2*time.Hour))
	if err != nil || !slices.Equal(got.Deleted, []string{digest}) || got.Bytes != 0 {
		t.Fatalf("after the grace: %+v, %v; want %s deleted", got, err, digest)
	}
}

// TestCollectBesideFetches collects, over and over, entries no task needs
// while tasks fetch and link others: what they get is always whole.
func TestCollectBesideFetches(t *testing.T) {
	ctx := context.Background()
	store, cache := newLocalCache(t)
	var live []*kernelpb.Input
	var liveKeys []string
	for i := range 4 {
		in := &kernelpb.Input{Digest: mustPut(t, store, fmt.Appendf(nil, "live %d", i)), Path: fmt.Sprintf("/input/%d", i)}
		live = append(live, in)
		liveKeys = append(liveKeys, TaskKeys(&kernelpb.TaskInfo{Inputs: []*kernelpb.Input{in}})...)
	}
	var idle []string
	for i := range 20 {
		idle = append(idle, mustPut(t, store, fmt.Appendf(nil, "idle %d", i)))
	}
	p := Eviction{MaxBytes: 0, Grace: time.Hour}
	later := time.Now().Add(2 * time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for _, in := range live {
		wg.Go(func() {
			for range 10 {
				mounts, err := cache.Inputs(ctx, []*kernelpb.Input{in})
				if err != nil {
					errs <- err
					return
				}
				name := filepath.Base(in.GetPath())
				data, err := os.ReadFile(filepath.Join(mounts[0].Source, name))
				if err != nil || Digest(data) != in.GetDigest() {
					errs <- fmt.Errorf("input %s reads %q (%v)", name, data, err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for _, d := range idle {
			if _, err := cache.Fetch(ctx, d); err != nil {
				errs <- err
				return
			}
			if _, err := cache.Collect(liveKeys, p, later); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := cache.Collect(liveKeys, p, later)
	if err != nil {
		t.Fatal(err)
	}
	// Only the live inputs and their views are left.
	left, _ := os.ReadDir(cache.dir)
	var files int
	for _, e := range left {
		if e.Type().IsRegular() {
			files++
		}
	}
	if files != len(live) {
		t.Errorf("%d artifacts left (last collect deleted %v), want the %d live inputs", files, got.Deleted, len(live))
	}
}
