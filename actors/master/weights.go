package master

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/pandodc/pando/internal/httpjson"
	kmaster "github.com/pandodc/pando/kernel/master"
	"github.com/pandodc/pando/sdk/client"
)

// Weights serves the roles and their weights: GET /api/v1/roles, GET and
// PUT /api/v1/weights (Mesos's operator API). A weight is written to the
// registry before the master applies it, so that a weight an operator was
// told is set survives a failover.
type Weights struct {
	API *API
	// Save writes every weight set to the registry, fenced (nil: this
	// master keeps none, and weights last until it stops).
	Save func(ctx context.Context, weights map[string]float64) error

	mu sync.Mutex // one update at a time: each saves the whole map
}

// Register adds the routes to mux.
func (ws *Weights) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/roles", ws.roles)
	mux.HandleFunc("GET /api/v1/weights", ws.list)
	mux.HandleFunc("PUT /api/v1/weights", ws.update)
}

func (ws *Weights) roles(w http.ResponseWriter, r *http.Request) {
	ws.API.answer(w, r, func(v kmaster.Views, _ time.Time) any {
		out := []client.Role{}
		for _, role := range v.Roles() {
			out = append(out, client.Role{Name: role.Name, Weight: role.Weight, Frameworks: role.Frameworks, Share: role.Share})
		}
		return out
	})
}

func (ws *Weights) list(w http.ResponseWriter, r *http.Request) {
	ws.API.answer(w, r, func(v kmaster.Views, _ time.Time) any { return weightList(v.RegistryWeights()) })
}

func weightList(weights map[string]float64) []client.Weight {
	out := []client.Weight{}
	for _, role := range slices.Sorted(maps.Keys(weights)) {
		out = append(out, client.Weight{Role: role, Weight: weights[role]})
	}
	return out
}

// update is PUT /api/v1/weights with [{"role": R, "weight": W}, ...]: the
// roles named get those weights, the others keep theirs. A bad entry
// refuses the whole request and sets nothing.
func (ws *Weights) update(w http.ResponseWriter, r *http.Request) {
	var req []client.Weight
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		httpjson.Error(w, http.StatusBadRequest, `reading the weights: %v (want e.g. [{"role": "eng", "weight": 2}])`, err)
		return
	}
	set := make(map[string]float64, len(req))
	for _, e := range req {
		if _, dup := set[e.Role]; dup {
			httpjson.Error(w, http.StatusBadRequest, "role %q is given twice", e.Role)
			return
		}
		set[e.Role] = e.Weight
	}
	if err := kmaster.CheckWeights(set); err != nil {
		httpjson.Error(w, http.StatusBadRequest, "%v", err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	ws.mu.Lock()
	defer ws.mu.Unlock()
	all, err := Query(ctx, ws.API.System, ws.API.Master, func(v kmaster.Views, _ time.Time) map[string]float64 { return v.RegistryWeights() })
	if err != nil {
		httpjson.Error(w, http.StatusServiceUnavailable, "the master did not answer: %v", err)
		return
	}
	maps.Copy(all, set)
	if ws.Save != nil {
		if err := ws.Save(ctx, all); err != nil {
			httpjson.Error(w, http.StatusServiceUnavailable, "the weights were not set: %v", err)
			return
		}
	}
	err = Operate(ctx, ws.API.System, ws.API.Master, r.RemoteAddr, kmaster.SetWeights{Weights: set})
	switch {
	case errors.Is(err, kmaster.ErrInvalid):
		httpjson.Error(w, http.StatusBadRequest, "%v", err)
	case err != nil:
		httpjson.Error(w, http.StatusServiceUnavailable, "%v", err)
	default:
		httpjson.Write(w, http.StatusOK, weightList(all))
	}
}
