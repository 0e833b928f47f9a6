package registry

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

func TestWeightsRoundTripFencedAndDamaged(t *testing.T) {
	ctx := context.Background()
	b := openBolt(t, filepath.Join(t.TempDir(), "registry.db"))
	first, err := OpenEmbedded(ctx, b, 100)
	if err != nil {
		t.Fatal(err)
	}
	if w, err := LoadWeights(ctx, first); err != nil || len(w) != 0 {
		t.Fatalf("weights of a new registry: %v, %v; want none", w, err)
	}
	if err := SaveWeights(ctx, first, map[string]float64{"eng": 2, "eng/batch": 0.5}); err != nil {
		t.Fatal(err)
	}
	second, err := OpenEmbedded(ctx, b, 100)
	if err != nil {
		t.Fatal(err)
	}
	w, err := LoadWeights(ctx, second)
	if err != nil || len(w) != 2 || w["eng"] != 2 || w["eng/batch"] != 0.5 {
		t.Fatalf("loaded %v, %v; want what was saved", w, err)
	}
	if err := SaveWeights(ctx, first, map[string]float64{"eng": 9}); !errors.Is(err, ErrFenced) {
		t.Fatalf("a deposed master's save: %v, want ErrFenced", err)
	}
	mustApply(t, second, Put(WeightsKey, []byte("[1,2]")))
	if _, err := LoadWeights(ctx, second); err == nil {
		t.Fatal("a damaged weights record loaded without error")
	}
}
