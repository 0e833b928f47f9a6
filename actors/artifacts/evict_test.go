package artifacts

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestEvictionTable(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }
	now := at(120)
	p := Eviction{MaxBytes: 100, Grace: 10 * time.Minute}
	cases := []struct {
		name    string
		entries []CacheEntry
		inUse   []string
		want    []string
	}{
		{
			name:    "under the bound, nothing goes however old",
			entries: []CacheEntry{{Key: "a", Bytes: 60, LastUsed: at(0)}, {Key: "b", Bytes: 40, LastUsed: at(1)}},
		},
		{
			name: "least recently used first, only until under",
			entries: []CacheEntry{
				{Key: "new", Bytes: 50, LastUsed: at(60)}, {Key: "old", Bytes: 50, LastUsed: at(10)},
				{Key: "mid", Bytes: 50, LastUsed: at(30)},
			},
			want: []string{"old"},
		},
		{
			name: "in use and within the grace stay, past the bound if need be",
			entries: []CacheEntry{
				{Key: "used", Bytes: 80, LastUsed: at(0)}, {Key: "fresh", Bytes: 80, LastUsed: at(115)},
				{Key: "idle", Bytes: 10, LastUsed: at(50)},
			},
			inUse: []string{"used"},
			want:  []string{"idle"},
		},
		{
			name: "the grace is counted from the last use",
			entries: []CacheEntry{
				{Key: "just-past", Bytes: 80, LastUsed: at(110)}, {Key: "within", Bytes: 80, LastUsed: at(111)},
			},
			want: []string{"just-past"},
		},
		{
			name: "an artifact goes with the unused views linking it",
			entries: []CacheEntry{
				{Key: "art", Bytes: 90, LastUsed: at(10)},
				{Key: "view:1", Bytes: 1, LastUsed: at(40), Links: []string{"art"}},
				{Key: "view:2", Bytes: 1, LastUsed: at(50), Links: []string{"art", "other"}},
				{Key: "other", Bytes: 30, LastUsed: at(60)},
			},
			want: []string{"view:1", "view:2", "art"},
		},
		{
			name: "an artifact a kept view links stays: deleting it frees nothing",
			entries: []CacheEntry{
				{Key: "art", Bytes: 90, LastUsed: at(10)},
				{Key: "view:live", Bytes: 1, LastUsed: at(10), Links: []string{"art"}},
				{Key: "b", Bytes: 30, LastUsed: at(20)},
			},
			inUse: []string{"view:live"},
			want:  []string{"b"},
		},
		{
			name: "an unused view goes alone when it is the oldest",
			entries: []CacheEntry{
				{Key: "view:1", Bytes: 5, LastUsed: at(0), Links: []string{"art"}},
				{Key: "art", Bytes: 96, LastUsed: at(100)},
			},
			want: []string{"view:1"},
		},
		{
			name: "ties are broken by key",
			entries: []CacheEntry{
				{Key: "b", Bytes: 60, LastUsed: at(0)}, {Key: "a", Bytes: 60, LastUsed: at(0)},
			},
			want: []string{"a"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inUse := map[string]bool{}
			for _, k := range c.inUse {
				inUse[k] = true
			}
			got := p.Evict(slices.Clone(c.entries), inUse, now)
			if !slices.Equal(got, c.want) {
				t.Fatalf("evicted %v, want %v", got, c.want)
			}
		})
	}
}

// TestEvictionProperties checks, on random caches, what must always hold:
// nothing in use or within the grace goes, nor anything a kept entry
// links; nothing goes when under the bound; the cache ends under the
// bound whenever what must stay fits in it.
func TestEvictionProperties(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for seed := range uint64(2000) {
		r := rand.New(rand.NewPCG(seed, 7))
		n := r.IntN(12)
		var entries []CacheEntry
		for i := range n {
			e := CacheEntry{Key: fmt.Sprintf("e%d", i), Bytes: r.Int64N(50), LastUsed: t0.Add(time.Duration(r.IntN(120)) * time.Minute)}
			for j := range i {
				if r.IntN(5) == 0 {
					e.Links = append(e.Links, fmt.Sprintf("e%d", j))
				}
			}
			entries = append(entries, e)
		}
		inUse := map[string]bool{}
		for _, e := range entries {
			if r.IntN(6) == 0 {
				inUse[e.Key] = true
			}
		}
		p := Eviction{MaxBytes: r.Int64N(300), Grace: time.Duration(r.IntN(60)) * time.Minute}
		now := t0.Add(120 * time.Minute)
		got := p.Evict(slices.Clone(entries), inUse, now)
		checkEviction(t, seed, p, entries, inUse, now, got)
	}
}

func checkEviction(t *testing.T, seed uint64, p Eviction, entries []CacheEntry, inUse map[string]bool, now time.Time, got []string) {
	t.Helper()
	deleted := map[string]bool{}
	for _, k := range got {
		if deleted[k] {
			t.Fatalf("seed %d: %s evicted twice", seed, k)
		}
		deleted[k] = true
	}
	var total, kept int64
	for _, e := range entries {
		total += e.Bytes
		if !deleted[e.Key] {
			kept += e.Bytes
			for _, l := range e.Links {
				if deleted[l] {
					t.Fatalf("seed %d: %s evicted while %s, kept, links it", seed, l, e.Key)
				}
			}
			continue
		}
		if inUse[e.Key] || now.Sub(e.LastUsed) < p.Grace {
			t.Fatalf("seed %d: %s evicted though in use (%v) or used %s ago, within the grace of %s", seed, e.Key, inUse[e.Key], now.Sub(e.LastUsed), p.Grace)
		}
	}
	if total <= p.MaxBytes && len(got) > 0 {
		t.Fatalf("seed %d: evicted %v with %d bytes under a bound of %d", seed, got, total, p.MaxBytes)
	}
	// What must stay: the protected entries and what they link, found
	// here by a fixed point rather than the policy's own walk.
	must := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for _, e := range entries {
			if !must[e.Key] && (inUse[e.Key] || now.Sub(e.LastUsed) < p.Grace) {
				must[e.Key], changed = true, true
			}
			if must[e.Key] {
				for _, l := range e.Links {
					if !must[l] {
						must[l], changed = true, true
					}
				}
			}
		}
	}
	var mustBytes int64
	for _, e := range entries {
		if must[e.Key] {
			mustBytes += e.Bytes
		}
	}
	if mustBytes <= p.MaxBytes && kept > p.MaxBytes {
		t.Fatalf("seed %d: %d bytes kept over a bound of %d, though only %d must stay", seed, kept, p.MaxBytes, mustBytes)
	}
}
