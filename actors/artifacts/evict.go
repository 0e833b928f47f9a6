package artifacts

import (
	"cmp"
	"slices"
	"time"
)

// CacheEntry is one thing an agent's cache keeps on disk: an artifact, an
// input view, an unpacked archive, a compiled module.
type CacheEntry struct {
	Key string
	// Bytes is what deleting this entry alone frees once nothing links
	// its files: a view's hard links to artifacts are the artifacts'
	// bytes, not the view's.
	Bytes    int64
	LastUsed time.Time
	// Links are the keys of the entries whose files this one hard-links
	// (a view links the artifacts of its file inputs): their bytes are
	// freed only when they and every entry linking them go.
	Links []string
}

// Eviction bounds a cache, Mesos fetcher cache style: when what it holds
// passes MaxBytes, the least recently used entries go first until it is
// under again, but never one a live task uses nor one used within Grace
// (which covers the gap between a fetch and the task's launch, and an
// agent restart). The bound is soft: what must stay, stays, even past it.
type Eviction struct {
	MaxBytes int64
	Grace    time.Duration
}

// Evict returns, in the order to delete them, the keys of entries to
// delete now; inUse holds the keys live tasks need. It is pure: no clock,
// no I/O. Deleting an artifact that a view links frees nothing while the
// view stays, so an artifact goes with every view linking it, or not at
// all; an entry that a kept entry links is kept.
func (p Eviction) Evict(entries []CacheEntry, inUse map[string]bool, now time.Time) []string {
	var total int64
	byKey := make(map[string]*CacheEntry, len(entries))
	linkedBy := map[string][]string{}
	for i := range entries {
		e := &entries[i]
		total += e.Bytes
		byKey[e.Key] = e
	}
	if total <= p.MaxBytes {
		return nil
	}
	for _, e := range entries {
		for _, l := range e.Links {
			linkedBy[l] = append(linkedBy[l], e.Key)
		}
	}
	pinned := p.pinned(entries, byKey, inUse, now)
	var candidates []*CacheEntry
	for i := range entries {
		if !pinned[entries[i].Key] {
			candidates = append(candidates, &entries[i])
		}
	}
	slices.SortFunc(candidates, func(a, b *CacheEntry) int {
		return cmp.Or(a.LastUsed.Compare(b.LastUsed), cmp.Compare(a.Key, b.Key))
	})
	deleted := map[string]bool{}
	var out []string
	for _, e := range candidates {
		if total <= p.MaxBytes {
			break
		}
		// e with every entry linking it, transitively: those link
		// nothing pinned, or e would be pinned too. Linkers go first,
		// so an entry is never deleted while one linking it remains.
		var group []string
		var visit func(key string)
		visit = func(key string) {
			if deleted[key] || byKey[key] == nil {
				return
			}
			deleted[key] = true
			for _, l := range linkedBy[key] {
				visit(l)
			}
			group = append(group, key)
			total -= byKey[key].Bytes
		}
		visit(e.Key)
		out = append(out, group...)
	}
	return out
}

// pinned are the entries that must stay: in use, used within the grace,
// or linked (transitively) by one of those.
func (p Eviction) pinned(entries []CacheEntry, byKey map[string]*CacheEntry, inUse map[string]bool, now time.Time) map[string]bool {
	pinned := map[string]bool{}
	var pin func(key string)
	pin = func(key string) {
		e := byKey[key]
		if e == nil || pinned[key] {
			return
		}
		pinned[key] = true
		for _, l := range e.Links {
			pin(l)
		}
	}
	for _, e := range entries {
		if inUse[e.Key] || now.Sub(e.LastUsed) < p.Grace {
			pin(e.Key)
		}
	}
	return pinned
}
