package master

import (
	"errors"
	"net/http"
	"time"

	"github.com/pandodc/pando/actors/artifacts"
)

// importImage is POST /api/v1/images: the body is an OCI image tarball,
// streamed to the artifact store and inspected before it is kept.
func (api *API) importImage(w http.ResponseWriter, r *http.Request) {
	if api.Images == nil {
		WriteError(w, http.StatusNotImplemented, "this master keeps no image catalog")
		return
	}
	limit := api.MaxArtifactSize
	if limit <= 0 {
		limit = artifacts.MaxSize
	}
	added, err := api.Images.Import(r.Body, limit, time.Now())
	switch {
	case errors.Is(err, artifacts.ErrTooLarge):
		WriteError(w, http.StatusRequestEntityTooLarge, "%v", err)
	case err != nil:
		WriteError(w, http.StatusBadRequest, "%v", err)
	default:
		WriteJSON(w, http.StatusCreated, added)
	}
}

// images is GET /api/v1/images.
func (api *API) images(w http.ResponseWriter, _ *http.Request) {
	if api.Images == nil {
		WriteJSON(w, http.StatusOK, []any{})
		return
	}
	WriteJSON(w, http.StatusOK, api.Images.List())
}
