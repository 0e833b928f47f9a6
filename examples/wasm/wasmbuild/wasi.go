package wasmbuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Probes are the WASI behaviour probes of examples/wasm/wasi, by the
// toolchain that builds them: one program, written once per toolchain, that
// prints the same bytes for the same input everywhere (its modes are in
// examples/wasm/wasi/README.md).
var Probes = []string{"c", "wat", "rust", "go", "assemblyscript"}

// ErrNoToolchain is wrapped by BuildProbe's error when the toolchain that
// builds a probe is not installed (scripts/setup.sh installs them all).
var ErrNoToolchain = errors.New("toolchain not installed")

// toolchain builds one probe.
type toolchain struct {
	// find locates the toolchain: the argv that prints its version (part
	// of the cache key) and the argv that builds src (the probe's
	// directory) into out, or an error wrapping ErrNoToolchain.
	find func(src, out string) (version, build []string, err error)
	env  []string // added to the environment of both commands
}

var toolchains = map[string]toolchain{
	"c": {find: func(src, out string) ([]string, []string, error) {
		clang, err := lookPath("clang", "apt-get install clang lld wasi-libc libclang-rt-dev-wasm32")
		if err != nil {
			return nil, nil, err
		}
		if _, err := lookPath("wasm-ld", "apt-get install lld"); err != nil {
			return nil, nil, err
		}
		// Debian's clang finds wasi-libc (/usr/lib/wasm32-wasi) by itself;
		// elsewhere WASI_SYSROOT names a wasi-sdk sysroot.
		build := []string{clang, "--target=wasm32-wasi", "-O2", "-Wall", "-Wextra", "-Werror", "-Wl,--strip-all"}
		if root := os.Getenv("WASI_SYSROOT"); root != "" {
			build = append(build, "--sysroot="+root)
		} else if _, err := os.Stat("/usr/lib/wasm32-wasi/libc.a"); err != nil {
			return nil, nil, fmt.Errorf("%w: wasi-libc (/usr/lib/wasm32-wasi/libc.a is missing: apt-get install wasi-libc libclang-rt-dev-wasm32, or set WASI_SYSROOT)", ErrNoToolchain)
		}
		return []string{clang, "--version"}, append(build, "-o", out, filepath.Join(src, "probe.c")), nil
	}},
	"wat": {find: func(src, out string) ([]string, []string, error) {
		w, err := lookPath("wat2wasm", "apt-get install wabt")
		if err != nil {
			return nil, nil, err
		}
		return []string{w, "--version"}, []string{w, filepath.Join(src, "probe.wat"), "-o", out}, nil
	}},
	"rust": {find: func(src, out string) ([]string, []string, error) {
		rustc, target, err := findRustc()
		if err != nil {
			return nil, nil, err
		}
		return []string{rustc, "--version"}, []string{rustc, "--edition=2021", "--target=" + target, "-O", "-C", "strip=symbols", "-o", out, filepath.Join(src, "probe.rs")}, nil
	}},
	"go": {
		find: func(src, out string) ([]string, []string, error) {
			return []string{goCommand(), "version"}, []string{goCommand(), "build", "-C", src, "-trimpath", "-o", out, "."}, nil
		},
		env: []string{"GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0"},
	},
	"assemblyscript": {find: findAssemblyScript},
}

// BuildProbe returns the path of the named probe's .wasm (see Probes),
// building it if its cached build is missing or stale. The file is shared:
// do not modify it.
func BuildProbe(ctx context.Context, name string) (string, error) {
	tc, ok := toolchains[name]
	if !ok {
		return "", fmt.Errorf("no WASI probe named %q (have %s)", name, strings.Join(Probes, ", "))
	}
	src := filepath.Join(Dir(), "wasi", name)
	// out is a placeholder in the version key: the real one is a temporary
	// file of the cache.
	const placeholder = "OUT.wasm"
	version, build, err := tc.find(src, placeholder)
	if err != nil {
		return "", fmt.Errorf("building the %s WASI probe: %w", name, err)
	}
	cmd := exec.CommandContext(ctx, version[0], version[1:]...)
	cmd.Env = append(os.Environ(), tc.env...)
	v, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building the %s WASI probe: %s: %w\n%s", name, strings.Join(version, " "), err, v)
	}
	files, err := sourceKey(src)
	if err != nil {
		return "", fmt.Errorf("the %s WASI probe: hashing its sources: %w", name, err)
	}
	gomod, _ := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(Dir())), "go.mod"))
	h := sha256.New()
	fmt.Fprintf(h, "%q\n%s\n%q\n%s\n%s", build, v, tc.env, files, gomod)
	return cached("wasi-"+name, hex.EncodeToString(h.Sum(nil)), func(out string) error {
		argv := slices.Clone(build)
		argv[slices.Index(argv, placeholder)] = out
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), tc.env...)
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("building the %s WASI probe: %s: %w\n%s", name, strings.Join(argv, " "), err, b)
		}
		return nil
	})
}

// MustBuildProbe is BuildProbe for tests. A missing toolchain skips the
// test with the reason, except under CI=true, where every toolchain must be
// there (scripts/setup.sh installs them) and its absence fails the test.
func MustBuildProbe(t testing.TB, name string) string {
	t.Helper()
	p, err := BuildProbe(context.Background(), name)
	switch {
	case errors.Is(err, ErrNoToolchain) && os.Getenv("CI") != "true":
		t.Skip(err)
	case err != nil:
		t.Fatal(err)
	}
	return p
}

func lookPath(tool, install string) (string, error) {
	p, err := exec.LookPath(tool)
	if err != nil {
		return "", fmt.Errorf("%w: %s is not on PATH (%s)", ErrNoToolchain, tool, install)
	}
	return p, nil
}

// findRustc is a rustc that has the standard library for WASI preview1:
// $RUSTC, then the one on PATH (often rustup's, without WASI targets), then
// Debian's /usr/bin/rustc (with libstd-rust-dev-wasm32). Rust names the
// target wasm32-wasip1 since 1.78, and wasm32-wasi before.
func findRustc() (rustc, target string, err error) {
	candidates := []string{os.Getenv("RUSTC")}
	if p, err := exec.LookPath("rustc"); err == nil {
		candidates = append(candidates, p)
	}
	candidates = append(candidates, "/usr/bin/rustc")
	var tried []string
	for _, c := range candidates {
		if c == "" || slices.Contains(tried, c) {
			continue
		}
		tried = append(tried, c)
		out, err := exec.Command(c, "--print", "sysroot").Output()
		if err != nil {
			continue
		}
		sysroot := strings.TrimSpace(string(out))
		for _, target := range []string{"wasm32-wasip1", "wasm32-wasi"} {
			if _, err := os.Stat(filepath.Join(sysroot, "lib", "rustlib", target, "lib")); err == nil {
				return c, target, nil
			}
		}
	}
	if len(tried) == 0 {
		return "", "", fmt.Errorf("%w: no rustc (apt-get install rustc libstd-rust-dev-wasm32)", ErrNoToolchain)
	}
	return "", "", fmt.Errorf("%w: no rustc with a WASI standard library among %s (apt-get install rustc libstd-rust-dev-wasm32, or rustup target add wasm32-wasip1)", ErrNoToolchain, strings.Join(tried, ", "))
}

// findAssemblyScript is the compiler that scripts/setup.sh installs (npm ci)
// into the probe's node_modules, at the versions its package-lock.json pins.
func findAssemblyScript(src, out string) ([]string, []string, error) {
	node, err := lookPath("node", "apt-get install nodejs npm")
	if err != nil {
		return nil, nil, err
	}
	asc := filepath.Join(src, "node_modules", "assemblyscript", "bin", "asc.js")
	shim := filepath.Join(src, "node_modules", "@assemblyscript", "wasi-shim", "asconfig.json")
	for _, p := range []string{asc, shim} {
		if _, err := os.Stat(p); err != nil {
			return nil, nil, fmt.Errorf("%w: %s is missing (run scripts/setup.sh, or npm ci in %s)", ErrNoToolchain, p, src)
		}
	}
	// Relative paths, run in src: asc resolves the shim's "lib" against
	// the working directory, not against the config file.
	return []string{node, asc, "--version"}, []string{node, asc, "probe.ts", "--config", "node_modules/@assemblyscript/wasi-shim/asconfig.json", "-O3", "-o", out}, nil
}
