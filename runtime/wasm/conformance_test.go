package wasm_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/runtime"
	"github.com/pandodc/pando/runtime/runtimetest"
	"github.com/pandodc/pando/runtime/wasm"
)

// sharedCache is an on-disk compilation cache for every runtime of the
// tests, so that each Go module is compiled once for the whole package
// (compiling one takes seconds, tens of seconds under -race).
var sharedCache string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pando-wasm-test-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sharedCache = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestConformance(t *testing.T) {
	art := func(name string) runtimetest.Artifact {
		return runtimetest.Artifact{Path: wasmbuild.MustBuild(t, name)}
	}
	arts := runtimetest.Artifacts{
		Hello:        art("hello"),
		Fail:         art("fail"),
		Spin:         art("spin"),
		Sleep:        art("sleep"),
		Hog:          art("hog"),
		Escape:       art("escape"),
		SandboxMount: wasm.SandboxMount,
	}
	// Compile every Go module the package's tests use into the shared
	// cache at once, one per core, rather than one after the other as
	// tests first need them (ten seconds each under -race).
	warm := newRuntime(t, wasm.Config{})
	var wg sync.WaitGroup
	for _, a := range []runtimetest.Artifact{arts.Hello, arts.Fail, arts.Spin, arts.Sleep, arts.Hog, arts.Escape, art("pi"), art("webserver")} {
		wg.Go(func() {
			if err := warm.Prepare(context.Background(), "", a.Path); err != nil {
				t.Errorf("compiling %s: %v", a.Path, err)
			}
		})
	}
	wg.Wait()
	runtimetest.Run(t, func(t *testing.T) runtime.Runtime {
		rt, err := wasm.New(wasm.Config{CacheDir: sharedCache})
		if err != nil {
			t.Fatal(err)
		}
		return rt
	}, arts)
}

// newRuntime is a runtime closed at the end of the test, with the shared
// compilation cache unless cfg names one.
func newRuntime(t testing.TB, cfg wasm.Config) *wasm.Runtime {
	t.Helper()
	if cfg.CacheDir == "" {
		cfg.CacheDir = sharedCache
	}
	rt, err := wasm.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rt.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return rt
}
