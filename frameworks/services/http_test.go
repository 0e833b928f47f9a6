package services

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/sdk/store"
)

// api serves a Framework (not subscribed: no master) over a bolt store.
type api struct {
	t   *testing.T
	f   *Framework
	srv *httptest.Server
}

func newAPI(t *testing.T, st store.Store) *api {
	f, err := New(Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(func() { srv.Close(); f.Close() })
	return &api{t: t, f: f, srv: srv}
}

func (a *api) do(method, path, body string, out any) int {
	a.t.Helper()
	req, _ := http.NewRequest(method, a.srv.URL+path, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			a.t.Fatalf("%s %s answered %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

func openBolt(t *testing.T, path string) store.Store {
	st, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestAPIAppLifeAndRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	st := openBolt(t, path)
	a := newAPI(t, st)
	app := `{"id": "/web", "module": "sha256:` + hex64 + `", "cpus": 0.1, "mem": 32, "instances": 2}`
	var errBody map[string]string
	if code := a.do("POST", "/v2/apps", `{"id": "/web", "bogus": 1}`, &errBody); code != 400 || !strings.Contains(errBody["message"], "bogus") {
		t.Fatalf("bad app: %d %v", code, errBody)
	}
	if code := a.do("GET", "/v2/apps/web", "", nil); code != 404 {
		t.Fatalf("a refused app was half-created: GET answered %d", code)
	}
	var created AppStatus
	if code := a.do("POST", "/v2/apps", app, &created); code != 201 || created.ID != "/web" || len(created.Deployments) != 1 {
		t.Fatalf("create: %d %+v", code, created)
	}
	if code := a.do("POST", "/v2/apps", app, nil); code != 409 {
		t.Fatalf("create twice: %d, want 409", code)
	}
	var dep map[string]string
	if code := a.do("PUT", "/v2/apps/web?force=true", `{"instances": 5}`, &dep); code != 200 || dep["deploymentId"] == "" {
		t.Fatalf("scale: %d %v", code, dep)
	}
	if code := a.do("PUT", "/v2/apps/web", `{"env": {"A": "1"}}`, nil); code != 409 {
		t.Fatalf("update during a deployment: %d, want 409", code)
	}
	var deps []Deployment
	a.do("GET", "/v2/deployments", "", &deps)
	if len(deps) != 1 || deps[0].Actions[0].Action != "ScaleApplication" {
		t.Fatalf("deployments: %+v", deps)
	}
	if code := a.do("DELETE", "/v2/deployments/"+deps[0].ID, "", &dep); code != 200 || dep["deploymentId"] == "" {
		t.Fatalf("cancel with rollback: %d %v", code, dep)
	}
	var got struct {
		App AppStatus `json:"app"`
	}
	a.do("GET", "/v2/apps/web", "", &got)
	if *got.App.Instances != 2 {
		t.Errorf("after the rollback: %d instances, want 2", *got.App.Instances)
	}
	var vs struct{ Versions []string }
	a.do("GET", "/v2/apps/web/versions", "", &vs)
	if len(vs.Versions) != 3 {
		t.Fatalf("versions %v, want 3", vs.Versions)
	}
	var old App
	if code := a.do("GET", "/v2/apps/web/versions/"+vs.Versions[1], "", &old); code != 200 || *old.Instances != 5 {
		t.Fatalf("version %s: %d %+v", vs.Versions[1], code, old)
	}

	// A restarted framework on the same store has the app and versions.
	a.srv.Close()
	a.f.Close()
	st.Close()
	b := newAPI(t, openBolt(t, path))
	var again struct{ Versions []string }
	b.do("GET", "/v2/apps/web/versions", "", &again)
	if strings.Join(again.Versions, ",") != strings.Join(vs.Versions, ",") {
		t.Fatalf("after a restart: versions %v, want %v", again.Versions, vs.Versions)
	}
	if code := b.do("DELETE", "/v2/apps/web", "", nil); code != 200 {
		t.Fatalf("delete: %d", code)
	}
	var list struct{ Apps []AppStatus }
	b.do("GET", "/v2/apps", "", &list)
	if len(list.Apps) != 0 {
		t.Fatalf("apps after delete: %+v", list.Apps)
	}
}

func TestAPIEventStream(t *testing.T) {
	a := newAPI(t, openBolt(t, filepath.Join(t.TempDir(), "state.db")))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", a.srv.URL+"/v2/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	lines.Scan()
	if lines.Text() != "event: event_stream_attached" {
		t.Fatalf("first line %q", lines.Text())
	}
	a.do("POST", "/v2/apps", `{"id": "/e", "module": "sha256:`+hex64+`"}`, nil)
	for lines.Scan() {
		if lines.Text() == "event: deployment_info" {
			return
		}
	}
	t.Fatalf("no deployment_info event: %v", lines.Err())
}
