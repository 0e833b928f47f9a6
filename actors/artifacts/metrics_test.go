package artifacts

import (
	"context"
	"testing"
	"time"
)

// The cache's counts: a digest asked three times is downloaded once; one
// the master lacks is a failed fetch; a Collect's deletions are evictions.
func TestCacheStatsCountRequestsFetchesAndEvictions(t *testing.T) {
	ctx := context.Background()
	store, cache := newLocalCache(t)
	data := []byte("an input of 22 bytes..")
	digest := mustPut(t, store, data)
	for range 3 {
		if _, err := cache.Fetch(ctx, digest); err != nil {
			t.Fatal(err)
		}
	}
	missing := "sha256:" + "00000000000000000000000000000000000000000000000000000000000000ff"
	if _, err := cache.Fetch(ctx, missing); err == nil {
		t.Fatal("fetching a digest the master lacks succeeded")
	}
	got := cache.Stats()
	want := CacheStats{Requests: 4, Fetches: 1, FetchFailures: 1, FetchedBytes: int64(len(data))}
	if got != want {
		t.Fatalf("after 3 fetches of one digest and one of a missing one: %+v, want %+v", got, want)
	}
	collected, err := cache.Collect(nil, Eviction{MaxBytes: 1, Grace: 0}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(collected.Deleted) != 1 {
		t.Fatalf("Collect deleted %v, want the one artifact", collected.Deleted)
	}
	got = cache.Stats()
	if got.Evicted != 1 || got.EvictedBytes != int64(len(data)) || got.Bytes != 0 {
		t.Errorf("after the eviction: %+v, want 1 entry and %d bytes evicted, 0 held", got, len(data))
	}
}
