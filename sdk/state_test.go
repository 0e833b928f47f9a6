package sdk

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/pandodc/pando/kernel/kernelpb"
)

type job struct {
	Name string `json:"name"`
	Done int    `json:"done"`
}

func TestStateSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := OpenState(path, "fw")
	if err != nil {
		t.Fatal(err)
	}
	jobs := MapOf[job](st, "jobs")
	if _, ok, err := jobs.Get(ctx, "j1"); ok || err != nil {
		t.Fatalf("fresh state has j1 (%v)", err)
	}
	if err := jobs.Put(ctx, "j1", job{Name: "one", Done: 3}); err != nil {
		t.Fatal(err)
	}
	if err := jobs.Put(ctx, "j2", job{Name: "two"}); err != nil {
		t.Fatal(err)
	}
	if err := ValueOf[int](st, "seq").Put(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := jobs.Delete(ctx, "j2"); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = OpenState(path, "fw")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	all, err := MapOf[job](st, "jobs").All(ctx)
	if err != nil || len(all) != 1 || all["j1"] != (job{Name: "one", Done: 3}) {
		t.Fatalf("after reopen: %v, %v", all, err)
	}
	if seq, ok, _ := ValueOf[int](st, "seq").Get(ctx); !ok || seq != 2 {
		t.Fatalf("seq %d, %v", seq, ok)
	}
	// Another framework's state in the same store is separate.
	other, _ := NewState(st.store, "other")
	if all, _ := MapOf[job](other, "jobs").All(ctx); len(all) != 0 {
		t.Fatalf("other framework sees %v", all)
	}
	if _, err := NewState(st.store, "a/b"); err == nil {
		t.Fatal("a name with / was accepted")
	}
}

// TestDriverKeepsFrameworkIDInState: a driver with State saves the id it
// is given, and the next driver subscribes with it (failover).
func TestDriverKeepsFrameworkIDInState(t *testing.T) {
	st, err := OpenState(filepath.Join(t.TempDir(), "state.db"), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f := start(t, 1, func(c *Config) { c.State = st })
	f.d.Stop(true)
	if id, _, _ := st.frameworkID().Get(context.Background()); id != "fw-1" {
		t.Fatalf("saved id %q, want fw-1", id)
	}
	d2, err := NewDriver(Config{Framework: &kernelpb.FrameworkInfo{Name: "test"}, System: f.system, Master: f.mpid, State: st}, newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	if err := d2.Start(); err != nil {
		t.Fatal(err)
	}
	defer d2.Stop(true)
	if sub, _ := next[*kernelpb.Subscribe](t, f.master); sub.GetFramework().GetId() != "fw-1" {
		t.Fatalf("second driver subscribed as %q, want fw-1", sub.GetFramework().GetId())
	}
}
