package master

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pandodc/pando/actors/artifacts"
	"github.com/pandodc/pando/internal/httpjson"
	"github.com/pandodc/pando/sdk/client"
)

// API serves the master's HTTP API under /api/v1.
type API struct {
	System    *actor.ActorSystem
	Master    *actor.PID
	Artifacts *artifacts.Store
	// Images is the catalog of imported image tarballs (nil: none kept).
	Images *artifacts.Images
	// MaxArtifactSize bounds an upload; 0 means artifacts.MaxSize.
	MaxArtifactSize int64
	// Collector keeps the artifact leases (nil: nothing is collected).
	Collector *Collector
	Info      client.MasterInfo
	Logger    *slog.Logger
}

// Register adds the API's routes to mux.
func (api *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/master", api.master)
	mux.HandleFunc("POST /api/v1/artifacts", api.upload)
	mux.HandleFunc("POST /api/v1/artifacts/leases", api.lease)
	mux.HandleFunc("DELETE /api/v1/artifacts/leases", api.release)
	mux.HandleFunc("POST /api/v1/images", api.importImage)
	mux.HandleFunc("GET /api/v1/images", api.images)
	mux.HandleFunc("GET /api/v1/agents", api.agents)
	mux.HandleFunc("GET /api/v1/frameworks", api.frameworks)
	mux.HandleFunc("GET /api/v1/tasks", api.tasks)
	mux.HandleFunc("GET /api/v1/tasks/{id}", api.task)
	mux.HandleFunc("POST /api/v1/tasks/{id}/kill", api.killTask)
	mux.HandleFunc("GET /api/v1/tasks/{id}/logs", api.logs)
}

func (api *API) master(w http.ResponseWriter, r *http.Request) {
	httpjson.Write(w, http.StatusOK, api.Info)
}

// upload is POST /api/v1/artifacts: the body is streamed to a temporary
// file while its digest is computed, so a 1 GiB input costs the master no
// 1 GiB of memory; an upload over the limit is refused and leaves nothing.
func (api *API) upload(w http.ResponseWriter, r *http.Request) {
	limit := api.maxArtifactSize()
	var check func(*os.File) error
	var refused error // what check found wrong with the upload
	if r.URL.Query().Get("kind") == "wasm" {
		check = func(f *os.File) error {
			head := make([]byte, 8)
			n, _ := io.ReadFull(f, head)
			refused = artifacts.CheckWasm("the upload", head[:n])
			return refused
		}
	}
	digest, size, err := api.Artifacts.PutStream(r.Body, limit, check)
	switch {
	case errors.Is(err, artifacts.ErrTooLarge):
		httpjson.Error(w, http.StatusRequestEntityTooLarge, "%v (the master's --max-artifact-size)", err)
	case refused != nil:
		httpjson.Error(w, http.StatusBadRequest, "%v", err)
	case err != nil:
		httpjson.Error(w, http.StatusInternalServerError, "%v", err)
	default:
		httpjson.Write(w, http.StatusCreated, client.Artifact{Digest: digest, Size: size})
	}
}

// maxArtifactSize is the upload limit in bytes.
func (api *API) maxArtifactSize() int64 {
	if api.MaxArtifactSize > 0 {
		return api.MaxArtifactSize
	}
	return artifacts.MaxSize
}

// queryTimeout bounds how long an HTTP request waits for the master actor.
const queryTimeout = 5 * time.Second
