package resources

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// The algebra works on canonical sets: both operands are sorted by
// (name, role), so Add, Subtract and Contains are linear merges over two
// short slices, with no maps and no fmt. The allocator calls them millions
// of times per round.

// Add returns r + o. Quantities add (saturating at math.MaxInt64 rather
// than wrapping), ranges unite. See Resource for what happens when the
// same (name, role) is a quantity on one side and ranges on the other.
func (r Resources) Add(o Resources) Resources {
	a, b := r.items, o.items
	if len(b) == 0 {
		return r
	}
	if len(a) == 0 {
		return o
	}
	// Size the result exactly: entries are 64 bytes, and the common case
	// (same names on both sides) needs half of len(a)+len(b).
	out := make([]Resource, 0, mergedLen(a, b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch c := cmpKey(&a[i], &b[j]); {
		case c < 0:
			out = append(out, a[i])
			i++
		case c > 0:
			out = append(out, b[j])
			j++
		default:
			x := a[i]
			x.Milli = addSat(x.Milli, b[j].Milli)
			x.Ranges = unionRanges(x.Ranges, b[j].Ranges)
			out = append(out, x)
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	out = append(out, b[j:]...)
	return Resources{items: out}
}

// mergedLen counts the distinct (name, role) keys of two canonical lists.
func mergedLen(a, b []Resource) int {
	n, i, j := 0, 0, 0
	for i < len(a) && j < len(b) {
		c := cmpKey(&a[i], &b[j])
		if c <= 0 {
			i++
		}
		if c >= 0 {
			j++
		}
		n++
	}
	return n + len(a) - i + len(b) - j
}

// Subtract returns r - o, or an error naming what r lacks if !r.Contains(o).
// The error wraps ErrInsufficient and carries r.Shortfall(o).
func (r Resources) Subtract(o Resources) (Resources, error) {
	if !r.Contains(o) {
		return Resources{}, fmt.Errorf("%w: lacking %s", ErrInsufficient, r.Shortfall(o))
	}
	a, b := r.items, o.items
	if len(b) == 0 {
		return r, nil
	}
	out := make([]Resource, 0, len(a))
	j := 0
	for i := range a {
		// Contains guarantees every entry of b has its twin in a, in order.
		if j < len(b) && cmpKey(&a[i], &b[j]) == 0 {
			x := a[i]
			x.Milli -= b[j].Milli
			if len(b[j].Ranges) > 0 {
				x.Ranges = diffRanges(x.Ranges, b[j].Ranges)
			}
			j++
			if x.Milli == 0 && len(x.Ranges) == 0 {
				continue
			}
			out = append(out, x)
			continue
		}
		out = append(out, a[i])
	}
	if len(out) == 0 {
		return Resources{}, nil
	}
	return Resources{items: out}, nil
}

// Contains reports whether o fits in r (same name and role). It does not
// allocate.
func (r Resources) Contains(o Resources) bool {
	a, b := r.items, o.items
	if len(b) > len(a) {
		return false // every entry of o needs its own entry in r
	}
	i := 0
	for j := range b {
		for i < len(a) && cmpKey(&a[i], &b[j]) < 0 {
			i++
		}
		if i == len(a) || cmpKey(&a[i], &b[j]) != 0 {
			return false
		}
		if a[i].Milli < b[j].Milli || !rangesContain(a[i].Ranges, b[j].Ranges) {
			return false
		}
		i++
	}
	return true
}

// Shortfall describes, for a person, what of `need` r cannot provide, e.g.
// "mem 64GiB (has 19GiB)"; empty when r.Contains(need). Each lacking entry
// shows what is needed and what r has of that (name, role); mem and disk
// are printed with FormatSize.
func (r Resources) Shortfall(need Resources) string {
	var sb strings.Builder
	i := 0
	a := r.items
	for j := range need.items {
		n := &need.items[j]
		for i < len(a) && cmpKey(&a[i], n) < 0 {
			i++
		}
		var have *Resource
		if i < len(a) && cmpKey(&a[i], n) == 0 {
			have = &a[i]
		}
		var hasMilli Milli
		var hasRanges []Range
		if have != nil {
			hasMilli, hasRanges = have.Milli, have.Ranges
		}
		lackMilli := n.Milli > hasMilli
		lackRanges := !rangesContain(hasRanges, n.Ranges)
		if !lackMilli && !lackRanges {
			continue
		}
		if sb.Len() > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(n.Name)
		if n.Role != "" {
			sb.WriteString("(" + n.Role + ")")
		}
		if lackMilli {
			sb.WriteString(" " + formatQuantity(n.Name, n.Milli) + " (has " + formatQuantity(n.Name, hasMilli) + ")")
		}
		if lackRanges {
			if lackMilli {
				sb.WriteString(" and")
			}
			has := "none"
			if len(hasRanges) > 0 {
				has = formatRanges(hasRanges)
			}
			sb.WriteString(" " + formatRanges(n.Ranges) + " (has " + has + ")")
		}
	}
	return sb.String()
}

// formatQuantity prints a scalar for Shortfall: sizes for mem and disk,
// plain numbers otherwise.
func formatQuantity(name string, m Milli) string {
	if name == Mem || name == Disk {
		return FormatSize(m)
	}
	return formatMilli(m)
}

// normalizeRanges sorts and coalesces rs in place ([1-3],[4-5] -> [1-5])
// and returns the result (nil when empty).
func normalizeRanges(rs []Range) []Range {
	if len(rs) == 0 {
		return nil
	}
	if !slices.IsSortedFunc(rs, cmpRange) {
		slices.SortFunc(rs, cmpRange)
	}
	out := rs[:1]
	for _, rg := range rs[1:] {
		last := &out[len(out)-1]
		// Adjacent or overlapping: extend. The MaxUint64 test keeps End+1
		// from wrapping to 0.
		if last.End == math.MaxUint64 || rg.Begin <= last.End+1 {
			if rg.End > last.End {
				last.End = rg.End
			}
			continue
		}
		out = append(out, rg)
	}
	return out
}

func cmpRange(a, b Range) int {
	switch {
	case a.Begin < b.Begin:
		return -1
	case a.Begin > b.Begin:
		return 1
	}
	return 0
}

// unionRanges merges two normalized lists into a new normalized list. When
// one side is empty it returns the other without copying (sets are
// immutable, so sharing is safe).
func unionRanges(a, b []Range) []Range {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := make([]Range, 0, len(a)+len(b))
	i, j := 0, 0
	push := func(rg Range) {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if last.End == math.MaxUint64 || rg.Begin <= last.End+1 {
				if rg.End > last.End {
					last.End = rg.End
				}
				return
			}
		}
		out = append(out, rg)
	}
	for i < len(a) || j < len(b) {
		if j == len(b) || (i < len(a) && a[i].Begin <= b[j].Begin) {
			push(a[i])
			i++
		} else {
			push(b[j])
			j++
		}
	}
	return out
}

// diffRanges returns a minus b for normalized lists, as a new list (nil
// when empty). b need not be inside a.
func diffRanges(a, b []Range) []Range {
	if len(b) == 0 {
		return a
	}
	out := make([]Range, 0, len(a)+len(b)) // each range of b splits at most one
	j := 0
	for _, cur := range a {
		for j < len(b) && b[j].End < cur.Begin {
			j++
		}
		k, done := j, false
		for k < len(b) && b[k].Begin <= cur.End {
			if b[k].Begin > cur.Begin {
				out = append(out, Range{cur.Begin, b[k].Begin - 1})
			}
			if b[k].End >= cur.End {
				// b[k] may reach into the next range of a: keep it.
				done = true
				break
			}
			cur.Begin = b[k].End + 1
			k++
		}
		if !done {
			out = append(out, cur)
		}
		j = k
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// rangesContain reports whether every integer of b is in a (both
// normalized). Because a is coalesced, each range of b must lie inside a
// single range of a.
func rangesContain(a, b []Range) bool {
	i := 0
	for _, rb := range b {
		for i < len(a) && a[i].End < rb.Begin {
			i++
		}
		if i == len(a) || a[i].Begin > rb.Begin || a[i].End < rb.End {
			return false
		}
	}
	return true
}

// rangeCount returns how many integers the normalized ranges hold,
// saturating at MaxUint64.
func rangeCount(rs []Range) uint64 {
	var n uint64
	for _, rg := range rs {
		w := rg.End - rg.Begin + 1 // 0 only for the full [0-MaxUint64]
		if w == 0 || n+w < n {
			return math.MaxUint64
		}
		n += w
	}
	return n
}
