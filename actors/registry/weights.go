package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// WeightsKey holds the roles' weights the operators set, as one JSON
// object by role ({"eng": 2}): they change seldom, and one record keeps
// an update whole.
const WeightsKey = "master/weights"

// LoadWeights reads the weights a previous leader kept (none: an empty
// map), for the new leader's kmaster.SetWeights.
func LoadWeights(ctx context.Context, reg Registry) (map[string]float64, error) {
	e, err := reg.Get(ctx, WeightsKey)
	if errors.Is(err, ErrNotFound) {
		return map[string]float64{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("registry: loading the weights: %w", err)
	}
	weights := map[string]float64{}
	if err := json.Unmarshal(e.Value, &weights); err != nil {
		return nil, fmt.Errorf("registry: %s is not a map of role weights: %w", WeightsKey, err)
	}
	return weights, nil
}

// SaveWeights writes all the weights, fenced like every write: a deposed
// leader's save fails with ErrFenced.
func SaveWeights(ctx context.Context, reg Registry, weights map[string]float64) error {
	raw, err := json.Marshal(weights)
	if err != nil {
		return fmt.Errorf("registry: encoding the weights: %w", err)
	}
	if err := reg.Apply(ctx, Put(WeightsKey, raw)); err != nil {
		return fmt.Errorf("registry: saving the weights: %w", err)
	}
	return nil
}
