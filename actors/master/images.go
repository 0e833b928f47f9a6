package master

import (
	"errors"
	"net/http"
	"time"

	"github.com/pandodc/pando/actors/artifacts"
	"github.com/pandodc/pando/internal/httpjson"
)

// importImage is POST /api/v1/images: the body is an OCI image tarball,
// streamed to the artifact store and inspected before it is kept.
func (api *API) importImage(w http.ResponseWriter, r *http.Request) {
	if api.Images == nil {
		httpjson.Error(w, http.StatusNotImplemented, "this master keeps no image catalog")
		return
	}
	added, err := api.Images.Import(r.Body, api.maxArtifactSize(), time.Now())
	switch {
	case errors.Is(err, artifacts.ErrTooLarge):
		httpjson.Error(w, http.StatusRequestEntityTooLarge, "%v", err)
	case err != nil:
		httpjson.Error(w, http.StatusBadRequest, "%v", err)
	default:
		httpjson.Write(w, http.StatusCreated, added)
	}
}

// images is GET /api/v1/images.
func (api *API) images(w http.ResponseWriter, _ *http.Request) {
	if api.Images == nil {
		httpjson.Write(w, http.StatusOK, []any{})
		return
	}
	httpjson.Write(w, http.StatusOK, api.Images.List())
}
