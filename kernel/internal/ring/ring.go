// Package ring keeps the most recent values in bounded memory: Ring holds
// the last n values pushed, Set the last n distinct keys added. The master
// and the agent use them to remember settled tasks and removed frameworks
// however long they run.
package ring

import (
	"fmt"
	"iter"
)

// Ring holds at most a fixed number of values; pushing onto a full ring
// evicts the oldest. Make one with New.
type Ring[T any] struct {
	buf []T
	// next is where the next push goes once the ring is full, hence the
	// oldest value; it stays 0 until then.
	next int
	max  int
}

// New makes a ring of at most max values. It panics if max < 1.
func New[T any](max int) Ring[T] {
	if max < 1 {
		panic(fmt.Sprintf("ring: size %d, want at least 1", max))
	}
	return Ring[T]{max: max}
}

// Push adds v as the newest value and returns the value it evicted, if the
// ring was full.
func (r *Ring[T]) Push(v T) (evicted T, ok bool) {
	if len(r.buf) < r.max {
		r.buf = append(r.buf, v)
		return evicted, false
	}
	evicted = r.buf[r.next]
	r.buf[r.next] = v
	r.next = (r.next + 1) % r.max
	return evicted, true
}

// Len returns the number of values held.
func (r *Ring[T]) Len() int { return len(r.buf) }

// Newest yields the values from the newest to the oldest.
func (r *Ring[T]) Newest() iter.Seq[T] {
	return func(yield func(T) bool) {
		n := len(r.buf)
		for i := range n {
			if !yield(r.buf[(r.next+n-1-i)%n]) {
				return
			}
		}
	}
}

// Set remembers the most recent distinct keys added, at most a fixed number
// of them: adding a new key to a full set forgets the oldest. Make one with
// NewSet.
type Set[K comparable] struct {
	has  map[K]struct{}
	keys Ring[K]
}

// NewSet makes a set of at most max keys. It panics if max < 1.
func NewSet[K comparable](max int) Set[K] {
	return Set[K]{has: map[K]struct{}{}, keys: New[K](max)}
}

// Add remembers k. Adding a key already held changes nothing (it does not
// make it newer).
func (s *Set[K]) Add(k K) {
	if _, ok := s.has[k]; ok {
		return
	}
	if old, ok := s.keys.Push(k); ok {
		delete(s.has, old)
	}
	s.has[k] = struct{}{}
}

// Has reports whether k is held.
func (s *Set[K]) Has(k K) bool {
	_, ok := s.has[k]
	return ok
}

// Len returns the number of keys held.
func (s *Set[K]) Len() int { return len(s.has) }

// Newest yields the keys held from the newest to the oldest.
func (s *Set[K]) Newest() iter.Seq[K] { return s.keys.Newest() }
