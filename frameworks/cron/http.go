package cron

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/pandodc/pando/sdk/client"
)

// Handler serves Chronos's API. Paths are relative, so it mounts under a
// prefix with http.StripPrefix (pando serves it under /api/v1/cron):
//
//	POST   /v1/scheduler/iso8601             add or replace a scheduled job (204)
//	POST   /v1/scheduler/dependency          add or replace a dependent job (204)
//	GET    /v1/scheduler/jobs                every job with its counters
//	GET    /v1/scheduler/job/{name}          one job with its active runs and history
//	GET    /v1/scheduler/job/{name}/history  its ended runs, oldest first
//	PUT    /v1/scheduler/job/{name}          run it now (204)
//	DELETE /v1/scheduler/job/{name}          delete it, killing its tasks (204)
//	GET    /v1/scheduler/graph/dot           the DAG in Graphviz's language
//	GET    /v1/scheduler/graph/json          the DAG as nodes and edges
//
// Errors are {"error": "..."}: 400 for a bad job, 404 for an unknown
// one, 409 for a delete others depend on, 422 for a job no agent can hold.
func (f *Framework) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/scheduler/iso8601", f.handleAdd(KindScheduled))
	mux.HandleFunc("POST /v1/scheduler/dependency", f.handleAdd(KindDependent))
	mux.HandleFunc("GET /v1/scheduler/jobs", func(w http.ResponseWriter, _ *http.Request) {
		client.WriteJSON(w, http.StatusOK, f.Jobs())
	})
	job := func(w http.ResponseWriter, r *http.Request) (JobView, bool) {
		v, ok := f.Job(r.PathValue("name"))
		if !ok {
			writeError(w, fmt.Errorf("%w: %q", ErrNotFound, r.PathValue("name")))
		}
		return v, ok
	}
	mux.HandleFunc("GET /v1/scheduler/job/{name}", func(w http.ResponseWriter, r *http.Request) {
		if v, ok := job(w, r); ok {
			client.WriteJSON(w, http.StatusOK, v)
		}
	})
	mux.HandleFunc("GET /v1/scheduler/job/{name}/history", func(w http.ResponseWriter, r *http.Request) {
		if v, ok := job(w, r); ok {
			client.WriteJSON(w, http.StatusOK, append([]Run{}, v.History...))
		}
	})
	mux.HandleFunc("PUT /v1/scheduler/job/{name}", func(w http.ResponseWriter, r *http.Request) {
		noContent(w, f.RunNow(r.PathValue("name")))
	})
	mux.HandleFunc("DELETE /v1/scheduler/job/{name}", func(w http.ResponseWriter, r *http.Request) {
		noContent(w, f.Delete(r.PathValue("name")))
	})
	mux.HandleFunc("GET /v1/scheduler/graph/dot", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/vnd.graphviz")
		_, _ = io.WriteString(w, f.Graph().DOT())
	})
	mux.HandleFunc("GET /v1/scheduler/graph/json", func(w http.ResponseWriter, _ *http.Request) {
		client.WriteJSON(w, http.StatusOK, f.Graph())
	})
	return mux
}

func (f *Framework) handleAdd(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		jobs, err := DecodeJobs(r.Body)
		if err == nil && len(jobs) != 1 {
			err = fmt.Errorf("%w: one job per request, not %d", ErrInvalid, len(jobs))
		}
		if err == nil {
			err = f.Add(r.Context(), jobs[0], kind)
		}
		noContent(w, err)
	}
}

func noContent(w http.ResponseWriter, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	for kind, c := range map[error]int{ErrInvalid: http.StatusBadRequest, ErrNotFound: http.StatusNotFound,
		ErrConflict: http.StatusConflict, ErrImpossible: http.StatusUnprocessableEntity} {
		if errors.Is(err, kind) {
			code = c
		}
	}
	client.WriteError(w, code, "%v", err)
}
