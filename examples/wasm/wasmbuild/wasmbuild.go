package wasmbuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Go lists the examples written in Go, built with GOOS=wasip1 GOARCH=wasm.
var Go = []string{"hello", "pi", "fail", "spin", "hog", "escape", "sleep", "webserver", "readinput"}

// Handwritten lists the examples written in the WebAssembly text format,
// whose .wasm is committed next to the .wat (wat2wasm is not needed to use them).
var Handwritten = []string{"tiny", "tinyline", "trap", "nap", "doze"}

// Dir is the examples/wasm directory of the source tree this package was
// compiled from.
func Dir() string {
	_, file, _, ok := goruntime.Caller(0)
	if !ok {
		panic("wasmbuild: cannot locate its own source file")
	}
	return filepath.Dir(filepath.Dir(file))
}

// mu serialises builds of one process; rename makes them safe across
// processes (test packages run in parallel).
var mu sync.Mutex

// Build returns the path of the named example's .wasm, building it if its
// cached build is missing or stale. The file is shared: do not modify it.
func Build(ctx context.Context, name string) (string, error) {
	if slices.Contains(Handwritten, name) {
		p := filepath.Join(Dir(), name, name+".wasm")
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("example %q: its committed .wasm is missing (regenerate it with wat2wasm %s.wat -o %s.wasm): %w", name, name, name, err)
		}
		return p, nil
	}
	if !slices.Contains(Go, name) {
		return "", fmt.Errorf("no WASM example named %q (have %s)", name, strings.Join(append(slices.Clone(Go), Handwritten...), ", "))
	}
	src := filepath.Join(Dir(), name)
	key, err := sourceKey(src)
	if err != nil {
		return "", fmt.Errorf("example %q: hashing its sources: %w", name, err)
	}
	return cached(name, key, func(out string) error {
		cmd := exec.CommandContext(ctx, goCommand(), "build", "-trimpath", "-o", out, ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("building example %q with GOOS=wasip1 GOARCH=wasm go build: %w\n%s", name, err, b)
		}
		return nil
	})
}

// cached returns the cache's build of name for key, running build (which
// writes the module to the path it is given) when there is none.
func cached(name, key string, build func(out string) error) (string, error) {
	cache, err := cacheDir()
	if err != nil {
		return "", err
	}
	base := strings.ReplaceAll(name, "/", "-")
	out := filepath.Join(cache, base+"-"+key[:16]+".wasm")

	mu.Lock()
	defer mu.Unlock()
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", fmt.Errorf("creating the WASM build cache: %w", err)
	}
	tmp, err := os.CreateTemp(cache, base+"-*.tmp")
	if err != nil {
		return "", fmt.Errorf("creating the WASM build cache: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	if err := build(tmp.Name()); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", fmt.Errorf("storing the build of example %q: %w", name, err)
	}
	return out, nil
}

// MustBuild is Build for tests: it fails t if the example cannot be built.
func MustBuild(t testing.TB, name string) string {
	t.Helper()
	p, err := Build(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// cacheDir is $PANDO_WASM_CACHE, else <repo>/.cache/wasm: inside the
// repository so that it is easy to find and to delete, and shared by every
// test package.
func cacheDir() (string, error) {
	if d := os.Getenv("PANDO_WASM_CACHE"); d != "" {
		return d, nil
	}
	root := filepath.Dir(filepath.Dir(Dir())) // examples/wasm -> repo
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("cannot find the repository root above %s (set PANDO_WASM_CACHE to a directory for WASM builds): %w", Dir(), err)
	}
	return filepath.Join(root, ".cache", "wasm"), nil
}

// sourceKey hashes what the build depends on: the example's files, the
// module's go.mod and the toolchain version (the test binary is built by the
// same toolchain as the one on PATH in every normal setup; a mismatch only
// costs a rebuild, not a wrong binary, because the go command is re-run).
func sourceKey(dir string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s wasip1/wasm\n", goruntime.Version())
	gomod := filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(dir))), "go.mod")
	files := []string{gomod}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "node_modules" {
			return filepath.SkipDir // installed, not sources: its lockfile is hashed
		}
		if !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	for _, p := range files {
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) && p == gomod {
			continue
		}
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\n", filepath.Base(p))
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// goCommand is the go command of the toolchain running the tests if it can
// be found (so that the build matches it), else "go" from PATH.
func goCommand() string {
	p := filepath.Join(goruntime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return "go"
}

// CompileCacheDir is an on-disk wazero compilation cache for tests, beside
// the builds, so that a module is compiled once for every test process
// rather than once per runtime a test makes: a Go module takes seconds to
// compile, tens of seconds under -race. (wazero keys its entries by its
// version and the module's hash.)
func CompileCacheDir(t testing.TB) string {
	t.Helper()
	dir, err := cacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(dir, "compiled")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("making the WASM compilation cache: %v", err)
	}
	return dir
}
