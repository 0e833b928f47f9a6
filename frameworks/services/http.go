package services

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Handler serves Marathon's REST API; paths are relative, so mount it
// with http.StripPrefix (Pando's master mounts it at APIPrefix):
//
//	POST   /v2/apps                        create an app
//	GET    /v2/apps                        {"apps": [...]}
//	GET    /v2/apps/{id}                   {"app": {...}} with its tasks and deployments
//	PUT    /v2/apps/{id}[?force=true]      update (fields given replace the current ones),
//	                                       create if missing; {"instances": N} scales;
//	                                       {"version": V} rolls back to version V
//	DELETE /v2/apps/{id}                   kill the instances and forget the app
//	POST   /v2/apps/{id}/restart           replace every instance, rolling
//	GET    /v2/apps/{id}/versions          {"versions": [...]}, newest first
//	GET    /v2/apps/{id}/versions/{v}      one version
//	GET    /v2/deployments                 deployments in progress
//	DELETE /v2/deployments/{id}[?force=true] cancel: roll back (force: stop where it is)
//	GET    /v2/events                      server-sent events
//
// Errors are {"message": "...", "error": "..."} with 400 (bad app), 404,
// 409 (exists, or being deployed) or 422 (cannot fit the cluster).
func (f *Framework) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v2/apps", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		app, err2 := readApp(body)
		if err = errors.Join(err, err2); err != nil {
			writeError(w, err)
			return
		}
		f.deploy(w, r, app, true, false)
	})
	mux.HandleFunc("GET /v2/apps", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		apps := f.core.Apps(time.Now())
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"apps": apps})
	})
	mux.HandleFunc("/v2/apps/{path...}", f.handleApp)
	mux.HandleFunc("GET /v2/deployments", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		writeJSON(w, http.StatusOK, f.core.Deployments())
	})
	mux.HandleFunc("DELETE /v2/deployments/{id}", func(w http.ResponseWriter, r *http.Request) {
		var d *Deployment
		var err error
		f.step(func(now time.Time) {
			d, err = f.core.Cancel(now, r.PathValue("id"), r.URL.Query().Get("force") == "true")
		})
		f.answer(w, d, err)
	})
	mux.HandleFunc("GET /v2/events", f.events)
	return mux
}

// handleApp routes /v2/apps/{id}[/restart|/versions[/{v}]]: ids have
// slashes, as in Marathon.
func (f *Framework) handleApp(w http.ResponseWriter, r *http.Request) {
	id, rest := "/"+strings.Trim(r.PathValue("path"), "/"), ""
	if i := strings.LastIndex(id, "/versions"); i >= 0 {
		id, rest = id[:i], id[i:]
	} else if strings.HasSuffix(id, "/restart") {
		id, rest = strings.TrimSuffix(id, "/restart"), "/restart"
	}
	now := time.Now()
	switch {
	case r.Method == http.MethodGet && rest == "":
		f.mu.Lock()
		st, err := f.core.App(now, id)
		f.mu.Unlock()
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"app": st})
	case r.Method == http.MethodGet && rest == "/versions":
		f.mu.Lock()
		vs, err := f.core.Versions(id)
		f.mu.Unlock()
		for i, j := 0, len(vs)-1; i < j; i, j = i+1, j-1 {
			vs[i], vs[j] = vs[j], vs[i]
		}
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"versions": vs})
	case r.Method == http.MethodGet && strings.HasPrefix(rest, "/versions/"):
		f.mu.Lock()
		app, err := f.core.Version(id, strings.TrimPrefix(rest, "/versions/"))
		f.mu.Unlock()
		if err != nil {
			writeError(w, fmt.Errorf("%w: app %s has no version %q", err, id, strings.TrimPrefix(rest, "/versions/")))
			return
		}
		writeJSON(w, http.StatusOK, app)
	case r.Method == http.MethodPost && rest == "/restart":
		f.mu.Lock()
		st, err := f.core.App(now, id)
		f.mu.Unlock()
		if err != nil {
			writeError(w, err)
			return
		}
		var d *Deployment
		f.step(func(now time.Time) {
			d, err = f.core.Deploy(now, st.App, false, r.URL.Query().Get("force") == "true", true)
		})
		f.answer(w, d, err)
	case (r.Method == http.MethodPut || r.Method == http.MethodPatch) && rest == "":
		f.update(w, r, id)
	case r.Method == http.MethodDelete && rest == "":
		var err error
		f.step(func(now time.Time) { err = f.core.Delete(now, id) })
		f.answer(w, nil, err)
	default:
		writeError(w, fmt.Errorf("%w: %s %s is not part of the API", ErrNotFound, r.Method, r.URL.Path))
	}
}

// update merges the fields given onto the current version, or rolls back
// to {"version": V}.
func (f *Framework) update(w http.ResponseWriter, r *http.Request, id string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, err)
		return
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		writeError(w, fmt.Errorf("%w: malformed JSON: %v", ErrInvalid, err))
		return
	}
	force := r.URL.Query().Get("force") == "true"
	if v, ok := fields["version"]; ok && len(fields) == 1 {
		var version string
		if err := json.Unmarshal(v, &version); err != nil {
			writeError(w, fmt.Errorf("%w: version: %v", ErrInvalid, err))
			return
		}
		var d *Deployment
		f.step(func(now time.Time) { d, err = f.core.Rollback(now, id, version) })
		f.answer(w, d, err)
		return
	}
	f.mu.Lock()
	st, err := f.core.App(time.Now(), id)
	f.mu.Unlock()
	var base *App
	if err == nil {
		base = &st.App
	}
	fields["id"], _ = json.Marshal(id)
	app, err := readApp(overlay(base, fields))
	if err != nil {
		writeError(w, err)
		return
	}
	f.deploy(w, r, app, false, force)
}

// readApp decodes and normalizes an app.
func readApp(data []byte) (App, error) {
	app, err := DecodeApp(data)
	if err != nil {
		return app, err
	}
	return app, app.Normalize()
}

// overlay lays the fields given over base: what an update means.
func overlay(base *App, fields map[string]json.RawMessage) []byte {
	merged := map[string]json.RawMessage{}
	if base != nil {
		b, _ := json.Marshal(base)
		_ = json.Unmarshal(b, &merged)
		delete(merged, "version")
		delete(merged, "versionInfo")
		delete(merged, "resolvedImage")
	}
	for k, v := range fields {
		merged[k] = v
	}
	data, _ := json.Marshal(merged)
	return data
}

func (f *Framework) deploy(w http.ResponseWriter, r *http.Request, app App, create, force bool) {
	if err := f.check(r.Context(), &app); err != nil {
		writeError(w, err)
		return
	}
	var d *Deployment
	var err error
	if serr := f.step(func(now time.Time) { d, err = f.core.Deploy(now, app, create, force, false) }); err == nil && serr != nil {
		err = serr
	}
	if err != nil || !create {
		f.answer(w, d, err)
		return
	}
	f.mu.Lock()
	st, _ := f.core.App(time.Now(), app.ID)
	f.mu.Unlock()
	writeJSON(w, http.StatusCreated, st)
}

// answer is Marathon's answer to a change: the deployment it started.
func (f *Framework) answer(w http.ResponseWriter, d *Deployment, err error) {
	switch {
	case err != nil:
		writeError(w, err)
	case d == nil:
		writeJSON(w, http.StatusOK, map[string]string{})
	default:
		writeJSON(w, http.StatusOK, map[string]string{"deploymentId": d.ID, "version": d.Version})
	}
}

// events streams the core's events as server-sent events.
func (f *Framework) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, errors.New("streaming unsupported"))
		return
	}
	ch := make(chan Event, 256)
	f.mu.Lock()
	f.subs[ch] = struct{}{}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		if _, ok := f.subs[ch]; ok {
			delete(f.subs, ch)
		}
		f.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	send := func(e Event) {
		data, _ := json.Marshal(e)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e["eventType"], data)
		fl.Flush()
	}
	send(Event{"eventType": "event_stream_attached", "timestamp": time.Now().UTC().Format(time.RFC3339Nano)})
	for {
		select {
		case <-r.Context().Done():
			return
		case e, ok := <-ch:
			if !ok {
				return
			}
			send(e)
		}
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	for kind, c := range map[error]int{ErrInvalid: 400, ErrNotFound: 404, ErrConflict: 409, ErrImpossible: 422} {
		if errors.Is(err, kind) {
			code = c
		}
	}
	writeJSON(w, code, map[string]string{"message": err.Error(), "error": err.Error()})
}
