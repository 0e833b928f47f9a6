package resources

import (
	"errors"
	"math"
	"slices"
	"strings"
)

// Milli is a fixed-point scalar quantity in thousandths: 1.5 cpus is 1500.
// Fixed point keeps the algebra exact (no float drift after a million
// additions and subtractions).
type Milli int64

// One is a whole unit (1 cpu, 1 MiB of mem).
const One Milli = 1000

// Well-known resource names. mem and disk are in MiB, as in Mesos.
const (
	CPUs  = "cpus"
	Mem   = "mem"
	Disk  = "disk"
	GPUs  = "gpus"
	Ports = "ports"
)

// Limits on what Parse and FromProto accept. They keep every sum the
// allocator computes far from int64 overflow: a cluster of 9000 agents each
// offering the maximum still adds up exactly. (Add also saturates instead of
// wrapping, as a last line of defence.)
const (
	// MaxQuantity is the largest scalar accepted from text or protocol:
	// 10^12 units (10^12 cpus, or 10^12 MiB ≈ 0.9 EiB of mem).
	MaxQuantity Milli = 1_000_000_000_000 * One
	// MaxRangeValue is the largest integer a range may hold. Ranges are
	// for ports and similar small identifiers; capping them keeps
	// "[0-18446744073709551615]" from a hostile peer out of the algebra.
	MaxRangeValue uint64 = math.MaxUint32
)

// ErrInsufficient is wrapped by Subtract when the minuend does not contain
// the subtrahend, so callers can tell "does not fit" from other failures
// with errors.Is.
var ErrInsufficient = errors.New("insufficient resources")

// Range is an inclusive range of integers.
type Range struct{ Begin, End uint64 }

// Resource is one named quantity under a role. Scalar resources set Milli;
// range resources (ports, and any name given ranges in the text form) set
// Ranges, sorted, non-overlapping and coalesced.
//
// Parse and FromProto never produce an entry with both Milli and Ranges set,
// and reject a name used both ways. An entry with both can only come from
// New or Add on hand-built items; the algebra then treats the quantity and
// the ranges as two independent parts of the entry (so Add, Subtract and
// Contains stay lawful), String prints it as two entries, and Parse rejects
// that text.
type Resource struct {
	Name   string
	Role   string // "" is unreserved ("*" in the text form)
	Milli  Milli
	Ranges []Range
}

// Resources is a canonical multiset of resources: at most one entry per
// (name, role), sorted by name then role, no empty entries. The zero value
// is the empty set. Values are immutable: every operation returns a new set.
type Resources struct {
	items []Resource
}

// New builds a canonical set from items (merging duplicates). Role "*" is
// read as unreserved. Items are copied, so the caller may reuse them.
//
// New panics on a negative Milli or a range whose Begin is after its End:
// those are programming errors in the caller (values from outside Pando go
// through Parse or FromProto, which return errors instead).
func New(items ...Resource) Resources {
	out := make([]Resource, 0, len(items))
	for _, it := range items {
		if it.Milli < 0 {
			panic("resources.New: negative quantity for " + it.Name)
		}
		for _, rg := range it.Ranges {
			if rg.Begin > rg.End {
				panic("resources.New: range ends before it begins for " + it.Name)
			}
		}
		if it.Role == "*" {
			it.Role = ""
		}
		// Copy so that the set does not alias the caller's slice.
		it.Ranges = normalizeRanges(slices.Clone(it.Ranges))
		out = append(out, it)
	}
	return canonical(out)
}

// canonical sorts items by (name, role), merges duplicates and drops empty
// entries. It owns items and their Ranges (they may be modified).
func canonical(items []Resource) Resources {
	slices.SortStableFunc(items, func(a, b Resource) int { return cmpKey(&a, &b) })
	out := items[:0]
	for _, it := range items {
		if n := len(out); n > 0 && cmpKey(&out[n-1], &it) == 0 {
			last := &out[n-1]
			last.Milli = addSat(last.Milli, it.Milli)
			last.Ranges = unionRanges(last.Ranges, it.Ranges)
			continue
		}
		out = append(out, it)
	}
	// Drop empties after merging (merging never empties an entry, but
	// zero-valued inputs are empty from the start).
	kept := out[:0]
	for _, it := range out {
		if it.Milli != 0 || len(it.Ranges) != 0 {
			if len(it.Ranges) == 0 {
				it.Ranges = nil
			}
			kept = append(kept, it)
		}
	}
	if len(kept) == 0 {
		return Resources{}
	}
	return Resources{items: kept}
}

// Scalar makes one unreserved scalar resource. It panics if m is negative
// (see New).
func Scalar(name string, m Milli) Resources {
	if m < 0 {
		panic("resources.Scalar: negative quantity for " + name)
	}
	if m == 0 {
		return Resources{}
	}
	return Resources{items: []Resource{{Name: name, Milli: m}}}
}

// Items returns the entries in canonical order; callers must not modify them.
func (r Resources) Items() []Resource { return r.items }

// Len returns the number of entries (distinct (name, role) pairs) in r.
func (r Resources) Len() int { return len(r.items) }

// IsEmpty reports whether r holds nothing.
func (r Resources) IsEmpty() bool { return len(r.items) == 0 }

// Equal reports whether r and o hold the same resources.
func (r Resources) Equal(o Resources) bool {
	if len(r.items) != len(o.items) {
		return false
	}
	for i := range r.items {
		a, b := &r.items[i], &o.items[i]
		if a.Name != b.Name || a.Role != b.Role || a.Milli != b.Milli || !slices.Equal(a.Ranges, b.Ranges) {
			return false
		}
	}
	return true
}

// Get returns the total scalar quantity of name over all roles. For a range
// resource it returns the number of integers in the ranges times One (so
// "ports:[31000-31009]" gives 10*One), which lets ports take part in shares.
// The result saturates at math.MaxInt64 rather than wrapping.
func (r Resources) Get(name string) Milli {
	var total Milli
	for i := range r.items {
		it := &r.items[i]
		if it.Name != name {
			continue
		}
		total = addSat(total, it.Milli)
		if len(it.Ranges) > 0 {
			total = addSat(total, mulOneSat(rangeCount(it.Ranges)))
		}
	}
	return total
}

// Names returns the distinct resource names in r, sorted.
func (r Resources) Names() []string {
	var names []string
	for i := range r.items {
		if n := len(names); n == 0 || names[n-1] != r.items[i].Name {
			names = append(names, r.items[i].Name)
		}
	}
	return names
}

// Unreserved returns the part of r with no role.
func (r Resources) Unreserved() Resources {
	return r.filter(func(role string) bool { return role == "" })
}

// Reserved returns the part of r reserved for role. Reserved("") and
// Reserved("*") are the unreserved part.
func (r Resources) Reserved(role string) Resources {
	if role == "*" {
		role = ""
	}
	return r.filter(func(got string) bool { return got == role })
}

// AllocatableTo returns what a framework in role may use: the unreserved
// part plus what is reserved for role. Entries keep their role, so the
// framework can see which part is its reservation.
func (r Resources) AllocatableTo(role string) Resources {
	if role == "*" {
		role = ""
	}
	return r.filter(func(got string) bool { return got == "" || got == role })
}

// filter keeps the entries whose role satisfies keep. Filtering a canonical
// set leaves it canonical; the Ranges slices are shared, which is safe
// because sets are immutable.
func (r Resources) filter(keep func(role string) bool) Resources {
	n := 0
	for i := range r.items {
		if keep(r.items[i].Role) {
			n++
		}
	}
	if n == len(r.items) {
		return r
	}
	if n == 0 {
		return Resources{}
	}
	out := make([]Resource, 0, n)
	for _, it := range r.items {
		if keep(it.Role) {
			out = append(out, it)
		}
	}
	return Resources{items: out}
}

// cmpKey orders entries by name, then role. It is on every hot path, so it
// compares strings directly instead of building keys.
func cmpKey(a, b *Resource) int {
	if a.Name != b.Name {
		return strings.Compare(a.Name, b.Name)
	}
	if a.Role != b.Role {
		return strings.Compare(a.Role, b.Role)
	}
	return 0
}

// addSat adds two non-negative quantities, saturating at MaxInt64 so an
// absurd sum stays absurd instead of turning negative.
func addSat(a, b Milli) Milli {
	s := a + b
	if s < a {
		return math.MaxInt64
	}
	return s
}

// mulOneSat returns n*One, saturating.
func mulOneSat(n uint64) Milli {
	if n > uint64(math.MaxInt64/One) {
		return math.MaxInt64
	}
	return Milli(n) * One
}
