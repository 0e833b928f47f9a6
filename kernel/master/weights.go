package master

import (
	"maps"
	"math"
	"slices"

	"github.com/pandodc/pando/kernel/allocator"
)

// SetWeights is an operator's input (and the shell's, with the weights
// the registry kept, at leadership start): it sets the weights of roles.
// A role of weight 2 is entitled to twice the share of a role of weight 1;
// roles not named keep theirs (1 unless set). Each weight must be a
// positive finite number and each role a valid name; one bad entry refuses
// the whole input (ErrInvalid), so nothing is half-set.
type SetWeights struct {
	Weights map[string]float64
}

func (SetWeights) operatorInput() {}

func (m *Master) setWeights(msg SetWeights) error {
	if len(msg.Weights) == 0 {
		return invalidf("no weights given (want e.g. {\"eng\": 2})")
	}
	roles := slices.Sorted(maps.Keys(msg.Weights))
	for _, role := range roles {
		if err := validRole(role); err != nil {
			return invalidf("weight of %q: %v", role, err)
		}
		if w := msg.Weights[role]; !(w > 0) || math.IsInf(w, 0) {
			return invalidf("weight of %q is %v: want a positive number (1 is the default)", role, w)
		}
	}
	for _, role := range roles {
		m.alloc.SetWeight(role, msg.Weights[role])
	}
	return nil
}

// RoleView describes a role: its weight, its frameworks and its share.
type RoleView = allocator.RoleInfo

// Roles lists, by name, the roles with a subscribed framework or a weight
// set.
func (m *Master) Roles() []RoleView { return m.alloc.Roles() }

// RegistryWeights is what the registry should hold of the weights: every
// weight set, by role. A new leader steps it back in as SetWeights.
func (m *Master) RegistryWeights() map[string]float64 { return m.alloc.Weights() }
