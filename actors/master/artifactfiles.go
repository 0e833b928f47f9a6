package master

import (
	"errors"
	"net/http"

	"github.com/pandodc/pando/actors/artifacts"
	"github.com/pandodc/pando/internal/httpjson"
)

// ArtifactFiles serves the artifacts a master holds, whether or not it
// leads: GET /api/v1/artifacts lists them (stand-bys mirror the leader
// from it) and GET /api/v1/artifacts/{digest} streams one, so an agent
// can fetch a module from any master that has it.
type ArtifactFiles struct {
	Store *artifacts.Store
	// Missing answers a download of an artifact this master lacks (a
	// stand-by redirects to the leader); nil: 404.
	Missing http.HandlerFunc
}

// Register adds the routes to mux.
func (f *ArtifactFiles) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/artifacts", f.list)
	mux.HandleFunc("GET /api/v1/artifacts/{digest}", f.download)
}

// list is GET /api/v1/artifacts: this master's artifacts, by digest.
func (f *ArtifactFiles) list(w http.ResponseWriter, _ *http.Request) {
	list, err := f.Store.Artifacts()
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, "%v", err)
		return
	}
	httpjson.Write(w, http.StatusOK, list)
}

func (f *ArtifactFiles) download(w http.ResponseWriter, r *http.Request) {
	digest := r.PathValue("digest")
	path, err := f.Store.Path(digest)
	if errors.Is(err, artifacts.ErrNotFound) {
		if f.Missing != nil {
			f.Missing(w, r)
			return
		}
		httpjson.Error(w, http.StatusNotFound, "no artifact %s on this master; upload it first", digest)
		return
	}
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "%v", err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeFile(w, r, path)
}
