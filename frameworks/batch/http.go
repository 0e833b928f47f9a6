package batch

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/pandodc/pando/sdk/client"
)

// maxBody bounds a submitted spec: a job is a few hundred bytes.
const maxBody = 1 << 20

// Handler serves the framework's JSON API. Paths are relative, so it can be
// mounted under a prefix with http.StripPrefix:
//
//	POST   /jobs             submit a JobSpec; 201 with the JobStatus
//	GET    /jobs             every job
//	GET    /jobs/{id}        one job
//	DELETE /jobs/{id}        kill a job; 202 with its status
//	GET    /jobs/{id}/tasks  the current attempt of each instance
//
// Errors are {"error": "..."}: 400 for an invalid spec, 422 for a job the
// cluster cannot run, 404 for an unknown job.
func (f *Framework) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /jobs", f.handleSubmit)
	mux.HandleFunc("GET /jobs", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, f.Jobs())
	})
	mux.HandleFunc("GET /jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		st, ok := f.Job(r.PathValue("id"))
		if !ok {
			writeError(w, fmt.Errorf("%w: %q", ErrNotFound, r.PathValue("id")))
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("DELETE /jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if err := f.Kill(r.Context(), id); err != nil {
			writeError(w, err)
			return
		}
		st, _ := f.Job(id)
		writeJSON(w, http.StatusAccepted, st)
	})
	mux.HandleFunc("GET /jobs/{id}/tasks", func(w http.ResponseWriter, r *http.Request) {
		tasks := f.Tasks(r.PathValue("id"))
		if tasks == nil {
			writeError(w, fmt.Errorf("%w: %q", ErrNotFound, r.PathValue("id")))
			return
		}
		writeJSON(w, http.StatusOK, tasks)
	})
	return mux
}

func (f *Framework) handleSubmit(w http.ResponseWriter, r *http.Request) {
	var spec JobSpec
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		writeError(w, fmt.Errorf("%w: request body is not a job spec: %v", ErrInvalid, err))
		return
	}
	st, err := f.Submit(r.Context(), spec)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Location", "jobs/"+st.ID)
	writeJSON(w, http.StatusCreated, st)
}

func writeJSON(w http.ResponseWriter, code int, v any) { client.WriteJSON(w, code, v) }

// writeError answers with the status err's kind calls for.
func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, ErrImpossible):
		code = http.StatusUnprocessableEntity
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	}
	client.WriteError(w, code, "%v", err)
}
