package allocator

import (
	"strconv"

	"github.com/pandodc/pando/kernel/resources"
)

// The hot loop of a round must not walk Resources values to update shares:
// every quantity the allocator sums (cluster total and free, what a
// framework or role holds) is also kept as a vec, a flat array of
// quantities indexed by an interned resource name. Adding an agent's free
// resources to a framework is then a few integer additions, and a dominant
// share is a few divisions.

// vec holds one quantity per interned name; a missing tail counts as zero
// (vecs grow when a new resource name appears).
type vec []resources.Milli

// names interns resource names. Clusters use a handful of names, so a
// linear scan beats hashing.
type names struct {
	list []string
	// ranged marks names that were seen with ranges (ports). They count for
	// the minimum allocatable but not for shares: like Mesos, DRF is over
	// scalar resources only, since holding port 31000 is no "share" of a
	// cluster.
	ranged []bool
}

func (n *names) index(name string) int {
	for i, s := range n.list {
		if s == name {
			return i
		}
	}
	n.list = append(n.list, name)
	n.ranged = append(n.ranged, false)
	return len(n.list) - 1
}

// load overwrites v with the quantities of r and returns it (regrown if r
// has a name beyond v's length). A range entry counts its integers, as
// resources.Get does.
func (n *names) load(v vec, r resources.Resources) vec {
	clear(v)
	items := r.Items()
	for k := range items {
		it := &items[k]
		i := n.index(it.Name)
		if i >= len(v) {
			v = grow(v, i+1)
		}
		q := it.Milli
		if len(it.Ranges) > 0 {
			n.ranged[i] = true
			q += rangeQuantity(it.Ranges)
		}
		v[i] += q
	}
	return v
}

func rangeQuantity(rs []resources.Range) resources.Milli {
	var c resources.Milli
	for _, rg := range rs {
		c += resources.Milli(rg.End-rg.Begin+1) * resources.One
	}
	return c
}

func grow(v vec, n int) vec {
	for len(v) < n {
		v = append(v, 0)
	}
	return v
}

// add adds o to *v, growing it if needed.
func (v *vec) add(o vec) {
	if len(o) > len(*v) {
		*v = grow(*v, len(o))
	}
	d := *v
	for i, q := range o {
		d[i] += q
	}
}

// sub subtracts o from *v, growing it if needed (callers keep every
// difference non-negative; the property tests check it).
func (v *vec) sub(o vec) {
	if len(o) > len(*v) {
		*v = grow(*v, len(o))
	}
	d := *v
	for i, q := range o {
		d[i] -= q
	}
}

// isZero reports whether v holds nothing.
func (v vec) isZero() bool {
	for _, q := range v {
		if q != 0 {
			return false
		}
	}
	return true
}

// covers reports whether v holds at least m of every name.
func (v vec) covers(m vec) bool {
	for i, q := range m {
		if q == 0 {
			continue
		}
		if i >= len(v) || v[i] < q {
			return false
		}
	}
	return true
}

// share is the dominant share of v in a cluster of the given total: the
// largest fraction over scalar names. Floats are only ever recomputed from
// the exact integer vecs, never accumulated, so they are the same for the
// same holdings whatever the history.
func share(v, total vec, n *names) float64 {
	var s float64
	for i, q := range v {
		if q <= 0 || i >= len(total) || total[i] <= 0 || n.ranged[i] {
			continue
		}
		if x := float64(q) / float64(total[i]); x > s {
			s = x
		}
	}
	return s
}

// formatQuantity prints a quantity for people: sizes for mem and disk.
func formatQuantity(name string, m resources.Milli) string {
	if name == resources.Mem || name == resources.Disk {
		return resources.FormatSize(m)
	}
	return strconv.FormatFloat(float64(m)/float64(resources.One), 'f', -1, 64)
}

// intersect returns what a and b have in common, entry by entry (same name
// and role): the smaller quantity, the common ranges. Recover and Allocate
// use it to clamp a request to what is actually held or free, so that a
// wrong request from the master can never make accounting negative.
func intersect(a, b resources.Resources) resources.Resources {
	ai, bi := a.Items(), b.Items()
	var out []resources.Resource
	for i := range bi {
		y := &bi[i]
		for j := range ai {
			x := &ai[j]
			if x.Name != y.Name || x.Role != y.Role {
				continue
			}
			it := resources.Resource{Name: x.Name, Role: x.Role, Milli: min(x.Milli, y.Milli)}
			it.Ranges = intersectRanges(x.Ranges, y.Ranges)
			if it.Milli != 0 || len(it.Ranges) != 0 {
				out = append(out, it)
			}
			break
		}
	}
	if len(out) == 0 {
		return resources.Resources{}
	}
	return resources.New(out...)
}

// intersectRanges intersects two sorted, coalesced range lists.
func intersectRanges(a, b []resources.Range) []resources.Range {
	var out []resources.Range
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		lo, hi := max(a[i].Begin, b[j].Begin), min(a[i].End, b[j].End)
		if lo <= hi {
			out = append(out, resources.Range{Begin: lo, End: hi})
		}
		if a[i].End < b[j].End {
			i++
		} else {
			j++
		}
	}
	return out
}

// minus returns a - b where b is known to be inside a.
func minus(a, b resources.Resources) resources.Resources {
	r, err := a.Subtract(b)
	if err != nil {
		// Every caller subtracts something it just clamped with intersect
		// or checked with Contains: this is a bug in the allocator.
		panic("allocator: accounting bug: " + err.Error())
	}
	return r
}
