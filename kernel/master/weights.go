package master

import (
	"fmt"
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
	if err := CheckWeights(msg.Weights); err != nil {
		return err
	}
	for _, role := range slices.Sorted(maps.Keys(msg.Weights)) {
		m.alloc.SetWeight(role, msg.Weights[role])
	}
	return nil
}

// CheckWeights says what is wrong with weights, as SetWeights would
// (ErrInvalid), so that a shell can check them before it writes them to
// its registry.
func CheckWeights(weights map[string]float64) error {
	if len(weights) == 0 {
		return weightsError("no weights given: name at least one role and its weight")
	}
	for _, role := range slices.Sorted(maps.Keys(weights)) {
		if err := validRole(role); err != nil {
			return weightsError(fmt.Sprintf("weight of %q: %v", role, err))
		}
		if w := weights[role]; !(w > 0) || math.IsInf(w, 0) {
			return weightsError(fmt.Sprintf("weight of %q is %v: want a positive number (1 is the default)", role, w))
		}
	}
	return nil
}

// weightsError is an operator's mistake in SetWeights: it says what is
// wrong in the operator's terms, and is ErrInvalid.
type weightsError string

func (e weightsError) Error() string        { return string(e) }
func (e weightsError) Is(target error) bool { return target == ErrInvalid }

// RoleView describes a role: its weight, its frameworks and its share.
type RoleView = allocator.RoleInfo

// Roles lists, by name, the roles with a subscribed framework or a weight
// set.
func (m *Master) Roles() []RoleView { return m.alloc.Roles() }

// RegistryWeights is what the registry should hold of the weights: every
// weight set, by role. A new leader steps it back in as SetWeights.
func (m *Master) RegistryWeights() map[string]float64 { return m.alloc.Weights() }
