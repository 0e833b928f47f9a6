package services

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
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
		f.read(w, func(now time.Time) (any, error) { return map[string]any{"apps": f.core.Apps(now)}, nil })
	})
	mux.HandleFunc("/v2/apps/{path...}", f.handleApp)
	mux.HandleFunc("GET /v2/deployments", func(w http.ResponseWriter, r *http.Request) {
		f.read(w, func(time.Time) (any, error) { return f.core.Deployments(), nil })
	})
	mux.HandleFunc("DELETE /v2/deployments/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.change(w, func(now time.Time) (*Deployment, error) { return f.core.Cancel(now, r.PathValue("id"), force(r)) })
	})
	mux.HandleFunc("GET /v2/events", f.events)
	return mux
}

func force(r *http.Request) bool { return r.URL.Query().Get("force") == "true" }

// read answers with what get returns, read under the lock.
func (f *Framework) read(w http.ResponseWriter, get func(now time.Time) (any, error)) {
	f.mu.Lock()
	v, err := get(time.Now())
	f.mu.Unlock()
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// change makes a change and answers with the deployment it started.
func (f *Framework) change(w http.ResponseWriter, do func(now time.Time) (*Deployment, error)) {
	var d *Deployment
	var err error
	if serr := f.step(func(now time.Time) { d, err = do(now) }); err == nil {
		err = serr
	}
	switch {
	case err != nil:
		writeError(w, err)
	case d == nil:
		writeJSON(w, http.StatusOK, map[string]string{})
	default:
		writeJSON(w, http.StatusOK, map[string]string{"deploymentId": d.ID, "version": d.Version})
	}
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
	switch {
	case r.Method == http.MethodGet && rest == "":
		f.read(w, func(now time.Time) (any, error) {
			st, err := f.core.App(now, id)
			return map[string]any{"app": st}, err
		})
	case r.Method == http.MethodGet && rest == "/versions":
		f.read(w, func(time.Time) (any, error) {
			vs, err := f.core.Versions(id)
			slices.Reverse(vs)
			return map[string]any{"versions": vs}, err
		})
	case r.Method == http.MethodGet && strings.HasPrefix(rest, "/versions/"):
		f.read(w, func(time.Time) (any, error) { return f.core.Version(id, strings.TrimPrefix(rest, "/versions/")) })
	case r.Method == http.MethodPost && rest == "/restart":
		f.change(w, func(now time.Time) (*Deployment, error) {
			st, err := f.core.App(now, id)
			if err != nil {
				return nil, err
			}
			return f.core.Deploy(now, st.App, false, force(r), true)
		})
	case (r.Method == http.MethodPut || r.Method == http.MethodPatch) && rest == "":
		f.update(w, r, id)
	case r.Method == http.MethodDelete && rest == "":
		f.change(w, func(now time.Time) (*Deployment, error) { return nil, f.core.Delete(now, id) })
	default:
		writeError(w, fmt.Errorf("%w: %s %s is not part of the API", ErrNotFound, r.Method, r.URL.Path))
	}
}

// update merges the fields given onto the current version (creating the
// app if there is none), or rolls back to {"version": V}.
func (f *Framework) update(w http.ResponseWriter, r *http.Request, id string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var fields map[string]json.RawMessage
	if err == nil && json.Unmarshal(body, &fields) != nil {
		err = fmt.Errorf("%w: malformed JSON: %v", ErrInvalid, json.Unmarshal(body, &fields))
	}
	var version string
	if v, ok := fields["version"]; ok && len(fields) == 1 && err == nil {
		if err = json.Unmarshal(v, &version); err == nil {
			f.change(w, func(now time.Time) (*Deployment, error) { return f.core.Rollback(now, id, version) })
			return
		}
	}
	f.mu.Lock()
	st, missing := f.core.App(time.Now(), id)
	f.mu.Unlock()
	base := &st.App
	if missing != nil {
		base = nil
	}
	fields["id"], _ = json.Marshal(id)
	app, err2 := readApp(overlay(base, fields))
	if err = errors.Join(err, err2); err != nil {
		writeError(w, err)
		return
	}
	f.deploy(w, r, app, false, force(r))
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
	if !create {
		f.change(w, func(now time.Time) (*Deployment, error) { return f.core.Deploy(now, app, false, force, false) })
		return
	}
	var err error
	if serr := f.step(func(now time.Time) { _, err = f.core.Deploy(now, app, true, false, false) }); err == nil {
		err = serr
	}
	if err != nil {
		writeError(w, err)
		return
	}
	f.mu.Lock()
	st, _ := f.core.App(time.Now(), app.ID)
	f.mu.Unlock()
	writeJSON(w, http.StatusCreated, st)
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
