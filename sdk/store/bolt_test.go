package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func openTemp(t *testing.T) (*Bolt, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "pando.db")
	b, err := OpenBolt(path)
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	return b, path
}

func TestBoltCRUD(t *testing.T) {
	ctx := context.Background()
	b, _ := openTemp(t)
	defer b.Close()

	if _, err := b.Get(ctx, "a/b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get missing: err = %v, want ErrNotFound", err)
	}
	if err := b.Put(ctx, "a/b", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "a/c", nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "ab", []byte("3")); err != nil {
		t.Fatal(err)
	}
	got, err := b.Get(ctx, "a/b")
	if err != nil || string(got) != "1" {
		t.Fatalf("Get a/b = %q, %v", got, err)
	}
	// The returned slice must be the caller's: scribbling on it must not
	// change the stored value.
	got[0] = 'x'
	again, _ := b.Get(ctx, "a/b")
	if string(again) != "1" {
		t.Fatalf("stored value changed through returned slice: %q", again)
	}
	if v, err := b.Get(ctx, "a/c"); err != nil || len(v) != 0 {
		t.Fatalf("empty value: %q, %v", v, err)
	}

	list, err := b.List(ctx, "a/")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range list {
		keys = append(keys, kv.Key)
	}
	if strings.Join(keys, ",") != "a/b,a/c" {
		t.Fatalf("List a/ = %v", keys)
	}
	all, _ := b.List(ctx, "")
	if len(all) != 3 {
		t.Fatalf("List all = %d entries, want 3", len(all))
	}

	if err := b.Delete(ctx, "a/b"); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "a/b"); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := b.Get(ctx, "a/b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := b.Put(ctx, "", []byte("x")); err == nil {
		t.Fatal("Put with empty key succeeded")
	}
}

func TestBoltReopenPersists(t *testing.T) {
	ctx := context.Background()
	b, path := openTemp(t)
	for i := 0; i < 10; i++ {
		if err := b.Put(ctx, fmt.Sprintf("jobs/%02d", i), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	list, err := b2.List(ctx, "jobs/")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 10 {
		t.Fatalf("after reopen: %d keys, want 10", len(list))
	}
	for i, kv := range list {
		if kv.Key != fmt.Sprintf("jobs/%02d", i) || len(kv.Value) != 1 || kv.Value[0] != byte(i) {
			t.Fatalf("entry %d = %q %v", i, kv.Key, kv.Value)
		}
	}
}

func TestBoltLockedByAnother(t *testing.T) {
	b, path := openTemp(t)
	defer b.Close()
	// flock locks are per open file, so a second open in this process
	// conflicts exactly like another process would.
	_, err := OpenBolt(path)
	if err == nil {
		t.Fatal("second OpenBolt of the same file succeeded")
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), "in use by another pando process") || !strings.Contains(err.Error(), filepath.Dir(path)) {
		t.Fatalf("error does not tell the operator what to do: %v", err)
	}
}

func TestBoltConcurrent(t *testing.T) {
	ctx := context.Background()
	b, _ := openTemp(t)
	defer b.Close()
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				key := fmt.Sprintf("w%d/%03d", w, i)
				if err := b.Put(ctx, key, []byte(key)); err != nil {
					t.Error(err)
					return
				}
				if v, err := b.Get(ctx, key); err != nil || string(v) != key {
					t.Errorf("Get %s = %q, %v", key, v, err)
					return
				}
				if _, err := b.List(ctx, fmt.Sprintf("w%d/", w)); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	all, err := b.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != workers*each {
		t.Fatalf("%d keys, want %d", len(all), workers*each)
	}
}

func TestBoltCanceledContext(t *testing.T) {
	b, _ := openTemp(t)
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Put(ctx, "k", []byte("v")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with canceled ctx: %v", err)
	}
}

func TestBoltUpdateIsAtomic(t *testing.T) {
	ctx := context.Background()
	b, _ := openTemp(t)
	defer b.Close()
	if err := b.Put(ctx, "n", []byte("1")); err != nil {
		t.Fatal(err)
	}
	// A failing update leaves nothing behind, and its error comes back as is.
	errStop := errors.New("stop")
	err := b.Update(ctx, func(tx *BoltTx) error {
		if err := tx.Put("n", []byte("2")); err != nil {
			return err
		}
		if v, ok := tx.Get("n"); !ok || string(v) != "2" {
			t.Errorf("inside the update, n = %q, %v; want its own write", v, ok)
		}
		if err := tx.Delete("missing"); err != nil {
			return err
		}
		return errStop
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("Update = %v, want the function's error", err)
	}
	if v, _ := b.Get(ctx, "n"); string(v) != "1" {
		t.Fatalf("after a failed update n = %q, want 1", v)
	}
	// Concurrent increments through Update never lose one.
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.Update(ctx, func(tx *BoltTx) error {
				v, _ := tx.Get("n")
				return tx.Put("n", append(v, '+'))
			}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if v, _ := b.Get(ctx, "n"); len(v) != 21 {
		t.Fatalf("after 20 concurrent increments n has %d bytes, want 21", len(v))
	}
	if err := b.Update(ctx, func(tx *BoltTx) error { return tx.Put("", nil) }); err == nil {
		t.Fatal("Update putting an empty key succeeded")
	}
}
