package resources

import (
	"errors"
	"fmt"

	"github.com/pandodc/pando/kernel/kernelpb"
)

// ToProto converts r to protocol messages.
func (r Resources) ToProto() []*kernelpb.Resource {
	if len(r.items) == 0 {
		return nil
	}
	out := make([]*kernelpb.Resource, 0, len(r.items))
	for _, it := range r.items {
		p := &kernelpb.Resource{Name: it.Name, Role: it.Role, Milli: int64(it.Milli)}
		if len(it.Ranges) > 0 {
			p.Ranges = make([]*kernelpb.Range, len(it.Ranges))
			for i, rg := range it.Ranges {
				p.Ranges[i] = &kernelpb.Range{Begin: rg.Begin, End: rg.End}
			}
		}
		out = append(out, p)
	}
	return out
}

// FromProto converts and validates protocol messages: negative quantities,
// empty names, or malformed ranges are errors, never panics. It applies the
// same rules as Parse: names match [a-zA-Z0-9_.-]+, a name is either a
// quantity or ranges (a message with both, or a name used both ways, is an
// error), quantities are at most MaxQuantity, range values at most
// MaxRangeValue; duplicate entries add up; role "*" is unreserved.
func FromProto(in []*kernelpb.Resource) (Resources, error) {
	items := make([]Resource, 0, len(in))
	for i, p := range in {
		if p == nil {
			return Resources{}, fmt.Errorf("resource #%d is nil", i)
		}
		it, err := fromProto(p)
		if err != nil {
			return Resources{}, fmt.Errorf("resource #%d (%q): %w", i, p.GetName(), err)
		}
		// Kind consistency per name. Messages with neither a quantity nor
		// ranges say nothing about the kind and are dropped below.
		if it.Milli != 0 || len(it.Ranges) != 0 {
			for _, prev := range items {
				if prev.Name == it.Name && (len(prev.Ranges) != 0) != (len(it.Ranges) != 0) {
					return Resources{}, fmt.Errorf("resource #%d (%q): %s is both a quantity and ranges; a name is one or the other", i, it.Name, it.Name)
				}
			}
		}
		items = append(items, it)
	}
	return canonical(items), nil
}

func fromProto(p *kernelpb.Resource) (Resource, error) {
	var it Resource
	if err := checkName(p.Name); err != nil {
		return it, err
	}
	role := p.Role
	if role != "" {
		if err := checkRole(role); err != nil {
			return it, err
		}
		if role == "*" {
			role = ""
		}
	}
	switch {
	case p.Milli < 0:
		return it, fmt.Errorf("quantity %d is negative; quantities are zero or more", p.Milli)
	case Milli(p.Milli) > MaxQuantity:
		return it, fmt.Errorf("quantity %d is too large (at most %d)", p.Milli, int64(MaxQuantity))
	case p.Milli != 0 && len(p.Ranges) != 0:
		return it, errors.New("has both a quantity and ranges; a resource is one or the other")
	}
	var rs []Range
	if len(p.Ranges) > 0 {
		rs = make([]Range, 0, len(p.Ranges))
		for j, pr := range p.Ranges {
			if pr == nil {
				return it, fmt.Errorf("range #%d is nil", j)
			}
			if pr.Begin > pr.End {
				return it, fmt.Errorf("range [%d-%d] ends before it begins", pr.Begin, pr.End)
			}
			if pr.End > MaxRangeValue {
				return it, fmt.Errorf("range [%d-%d]: %w", pr.Begin, pr.End, errRangeTooLarge)
			}
			rs = append(rs, Range{pr.Begin, pr.End})
		}
	}
	it.Name, it.Role, it.Milli, it.Ranges = p.Name, role, Milli(p.Milli), normalizeRanges(rs)
	return it, nil
}
