package allocator

import (
	"slices"
	"sort"
)

// ranked is what an ordered set holds: the roles of the cluster and the
// frameworks of a role, each ranked by (share, id).
type ranked interface {
	comparable
	rank() (float64, string)
}

func before[T ranked](x, y T) bool {
	sx, ix := x.rank()
	sy, iy := y.rank()
	if sx != sy {
		return sx < sy
	}
	return ix < iy
}

// ordered keeps items sorted by (share, id), lowest first. A round walks it
// from the front and, after an allocation raises one item's share, moves
// just that item with fix: a binary search and one copy, instead of the
// re-sort per agent that made Mesos' allocator slow at scale. Ids are
// unique, so the order is a function of the keys alone: the same shares
// give the same order whatever the history.
type ordered[T ranked] struct {
	items []T
}

// search returns the index where x belongs by its current key.
func (o *ordered[T]) search(x T) int {
	return sort.Search(len(o.items), func(i int) bool { return !before(o.items[i], x) })
}

// find returns x's index, or -1. It must be called before x's key changes.
// If the keys have gone stale (the cluster total changed and a rebuild is
// pending) the binary search can miss, so it falls back to a scan.
func (o *ordered[T]) find(x T) int {
	if i := o.search(x); i < len(o.items) && o.items[i] == x {
		return i
	}
	return slices.Index(o.items, x)
}

func (o *ordered[T]) insert(x T) {
	o.items = slices.Insert(o.items, o.search(x), x)
}

func (o *ordered[T]) removeAt(i int) {
	o.items = slices.Delete(o.items, i, i+1)
}

// fix moves items[i], whose key just changed, to its place.
func (o *ordered[T]) fix(i int) {
	s := o.items
	x := s[i]
	switch {
	case i+1 < len(s) && before(s[i+1], x):
		// Moved up: find its place in s[i+1:], shift the rest down.
		j := i + 1 + sort.Search(len(s)-i-1, func(k int) bool { return !before(s[i+1+k], x) })
		copy(s[i:j-1], s[i+1:j])
		s[j-1] = x
	case i > 0 && before(x, s[i-1]):
		j := sort.Search(i, func(k int) bool { return !before(s[k], x) })
		copy(s[j+1:i+1], s[j:i])
		s[j] = x
	}
}

func (o *ordered[T]) sort() {
	slices.SortFunc(o.items, func(x, y T) int {
		switch {
		case before(x, y):
			return -1
		case before(y, x):
			return 1
		}
		return 0
	})
}
