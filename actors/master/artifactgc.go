package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pandodc/pando/actors/artifacts"
	"github.com/pandodc/pando/internal/httpjson"
	"github.com/pandodc/pando/internal/shell"
	"github.com/pandodc/pando/kernel/kernelpb"
	kmaster "github.com/pandodc/pando/kernel/master"
	"github.com/pandodc/pando/sdk/client"
)

// Collector is the shell around artifacts.Refs: it takes leases from the
// HTTP API, asks the master actor which artifacts its tasks name, and
// deletes from the store what no one needs any more.
type Collector struct {
	Store  *artifacts.Store
	Images *artifacts.Images // nil: no catalog
	System *actor.ActorSystem
	Master *actor.PID
	Logger *slog.Logger

	mu   sync.Mutex
	refs *artifacts.Refs
}

// NewCollector makes a collector that keeps unreferenced artifacts for grace.
func NewCollector(store *artifacts.Store, images *artifacts.Images, grace time.Duration, now time.Time) *Collector {
	return &Collector{Store: store, Images: images, refs: artifacts.NewRefs(grace, now), Logger: slog.Default()}
}

// maxLeaseTTL bounds a lease: a holder that dies lets go within it.
const maxLeaseTTL = 7 * 24 * time.Hour

// Lease records holder's lease on digests, each of which must be stored.
func (c *Collector) Lease(holder string, digests []string, ttl time.Duration, now time.Time) error {
	if holder == "" {
		return errors.New("a lease needs a holder")
	}
	if ttl <= 0 || ttl > maxLeaseTTL {
		return fmt.Errorf("lease ttl %s: want more than 0 and at most %s", ttl, maxLeaseTTL)
	}
	for _, d := range digests {
		if _, err := c.Store.Path(d); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refs.Lease(holder, digests, ttl, now)
	return nil
}

// Release ends holder's lease.
func (c *Collector) Release(holder string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refs.Release(holder, now)
}

// Collect deletes the artifacts no one needs and returns their digests.
func (c *Collector) Collect(ctx context.Context, now time.Time) ([]string, error) {
	var inUse []string
	if c.Master != nil {
		var err error
		inUse, err = Query(ctx, c.System, c.Master, func(v kmaster.Views, _ time.Time) []string {
			var out []string
			for _, t := range v.Tasks(kmaster.TaskFilter{ActiveOnly: true}) {
				out = append(out, kernelpb.TaskDigests(t.Info)...)
			}
			return out
		})
		if err != nil {
			// Without the tasks' digests nothing can be known unused.
			return nil, fmt.Errorf("collecting artifacts: the master did not say which its tasks use: %w", err)
		}
	}
	if c.Images != nil {
		for _, im := range c.Images.List() {
			inUse = append(inUse, im.Digest)
		}
	}
	stored, err := c.Store.List()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	doomed := c.refs.Collect(stored, inUse, now)
	c.mu.Unlock()
	var errs []error
	for _, d := range doomed {
		errs = append(errs, c.Store.Delete(d))
	}
	if len(doomed) > 0 {
		c.Logger.Info("artifacts collected", "count", len(doomed))
	}
	return doomed, errors.Join(errs...)
}

// Run collects every interval until ctx ends.
func (c *Collector) Run(ctx context.Context, interval time.Duration) {
	shell.Every(ctx, interval, func(now time.Time) {
		qctx, cancel := context.WithTimeout(ctx, queryTimeout)
		defer cancel()
		if _, err := c.Collect(qctx, now); err != nil {
			c.Logger.Warn("artifact collection", "error", err)
		}
	})
}

// lease is POST /api/v1/artifacts/leases.
func (api *API) lease(w http.ResponseWriter, r *http.Request) {
	if api.Collector == nil {
		httpjson.Error(w, http.StatusNotImplemented, "this master collects no artifacts, so it keeps no leases")
		return
	}
	var req client.ArtifactLease
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		httpjson.Error(w, http.StatusBadRequest, "reading the lease: %v", err)
		return
	}
	err := api.Collector.Lease(req.Holder, req.Digests, time.Duration(req.TTLSeconds)*time.Second, time.Now())
	switch {
	case errors.Is(err, artifacts.ErrNotFound):
		httpjson.Error(w, http.StatusNotFound, "%v: upload it first", err)
	case err != nil:
		httpjson.Error(w, http.StatusBadRequest, "%v", err)
	default:
		httpjson.Write(w, http.StatusOK, req)
	}
}

// release is DELETE /api/v1/artifacts/leases?holder=H.
func (api *API) release(w http.ResponseWriter, r *http.Request) {
	if api.Collector != nil {
		api.Collector.Release(r.URL.Query().Get("holder"), time.Now())
	}
	w.WriteHeader(http.StatusNoContent)
}
