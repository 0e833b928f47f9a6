package wasm_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/runtime"
	"github.com/pandodc/pando/runtime/wasm"
)

// TestWASIBehaviour runs the WASI probes of examples/wasm/wasi, one per
// toolchain, through Pando's runtime and through plain wazero configured as
// its own CLI (`wazero run`) configures it, with the same arguments,
// environment, stdin (none) and files, and compares exit code, stdout and
// stderr byte for byte; then it checks Pando's run against what the probe
// must print. A toolchain that is missing skips its probe (fails under
// CI=true: scripts/setup.sh installs them all).
func TestWASIBehaviour(t *testing.T) {
	for _, name := range wasmbuild.Probes {
		t.Run(name, func(t *testing.T) {
			probe := wasmbuild.MustBuildProbe(t, name)
			rt := newRuntime(t, wasm.Config{})
			plain := newPlainWASI(t, probe)
			for _, c := range wasiCases() {
				t.Run(c.name, func(t *testing.T) {
					ref := plain.run(t, c)
					if c.stdin != nil {
						if err := c.check(ref); err != nil {
							t.Errorf("under plain wazero with stdin: %v\n  %s", err, ref)
						}
						return
					}
					pando := runPando(t, rt, probe, c)
					if c.logs {
						t.Logf("%s", pando)
					}
					if !c.varies {
						if pando.code != ref.code || !bytes.Equal(pando.stdout, ref.stdout) || !bytes.Equal(pando.stderr, ref.stderr) {
							t.Errorf("Pando and plain wazero differ:\n  Pando: %s\n  plain: %s", pando, ref)
						}
					}
					if err := c.check(pando); err != nil {
						t.Errorf("under Pando: %v\n  %s", err, pando)
					}
					if err := c.check(ref); err != nil {
						t.Errorf("under plain wazero: %v\n  %s", err, ref)
					}
				})
			}
		})
	}
}

// wasiCase is one run of a probe: its arguments after args[0] (the task id),
// its environment and sandbox files, and what its run must show.
type wasiCase struct {
	name  string
	args  []string
	env   map[string]string
	files map[string][]byte
	// stdin, if set, is given to plain wazero only (Pando gives tasks no
	// stdin): it shows that the probe reads it, so that the empty stdin
	// seen under Pando is the runtime's doing, not the probe's.
	stdin []byte
	// logs: the outcome depends on the toolchain; the test logs it.
	logs bool
	// varies: the output differs from run to run (clocks, random), so
	// only check compares it.
	varies bool
	check  func(wasiRun) error
}

// wasiRun is how a run ended: its exit code (proc_exit's, as a u32) and logs.
type wasiRun struct {
	code           uint32
	stdout, stderr []byte
}

func (r wasiRun) String() string {
	return fmt.Sprintf("exit code %d, stdout %s, stderr %s", r.code, abbrev(r.stdout), abbrev(r.stderr))
}

func abbrev(b []byte) string {
	if len(b) > 200 {
		return fmt.Sprintf("%q... (%d bytes)", b[:200], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// probeTaskID is every run's task id, hence its args[0].
const probeTaskID = "job-7.3.0"

// binaryContent is a file of every byte value, line ends of both kinds and
// a NUL, so that any translation shows.
var binaryContent = func() []byte {
	b := []byte("line\r\nline\n\x00\x1a\xff")
	for i := range 256 {
		b = append(b, byte(i))
	}
	return b
}()

func wasiCases() []wasiCase {
	nuls := func(ss ...string) []byte {
		var b []byte
		for _, s := range ss {
			b = append(append(b, s...), 0)
		}
		return b
	}
	args := []string{"args", "with space", `"double quotes"`, `'single quotes'`, `back\slash`, "", "unicode: ünïcødé 日本語 🎉", "new\nline", "tab\there", "--flag=a=b", "$HOME", "*", " "}
	env := map[string]string{
		"EQUALS":        "a=b=c",
		"NEWLINES":      "line 1\nline 2\r\n",
		"EMPTY":         "",
		"UNICODE":       "ü日🎉",
		"SPACES":        "  padded  ",
		"lower_case":    "yes",
		"PANDO_CUSTOM":  "the runtime passes PANDO_* names through",
		"QUOTES":        `"'`,
		"ZZ_LAST_FIRST": "order",
	}
	cases := []wasiCase{
		{name: "Args", args: args, check: wantOutput(nuls(append([]string{probeTaskID}, args...)...), nil)},
		{name: "Env", args: []string{"env"}, env: env, check: wantOutput(nuls(taskEnv(env)...), nil)},
		{name: "EnvDefaults", args: []string{"env"}, check: wantOutput(nuls("PANDO_TASK_ID="+probeTaskID, "PWD=/sandbox"), nil)},
		{name: "EnvOverridesDefaults", args: []string{"env"}, env: map[string]string{"PANDO_TASK_ID": "given", "PWD": "/sandbox/work"},
			check: wantOutput(nuls("PANDO_TASK_ID=given", "PWD=/sandbox/work"), nil)},
		{name: "Stdout1MiB", args: []string{"stdout", "1048576"}, check: wantOutput(pattern(1<<20), nil)},
		{name: "StdoutEmpty", args: []string{"stdout", "0"}, check: wantOutput(nil, nil)},
		{name: "Streams", args: []string{"streams"}, check: wantOutput([]byte("o1\no2\r\n\x00\xff\x1a"), []byte("e1\ne2 no newline"))},
		{name: "Clock", args: []string{"clock"}, varies: true, check: checkClock},
		{name: "Random", args: []string{"random"}, varies: true, check: checkRandom},
		{name: "ReadSandboxFile", args: []string{"cat", "/sandbox/input.bin"}, files: map[string][]byte{"input.bin": binaryContent},
			check: wantOutput(binaryContent, nil)},
		{name: "ReadMissingFile", args: []string{"cat", "/sandbox/missing"}, check: wantCode(1)},
		// A relative path depends on the toolchain's libc (Go's resolves
		// it against $PWD, wasi-libc against its own cwd, "/"): only the
		// comparison with plain wazero holds for every toolchain.
		{name: "ReadRelativePath", args: []string{"cat", "input.bin"}, files: map[string][]byte{"input.bin": binaryContent},
			logs: true, check: func(wasiRun) error { return nil }},
		{name: "Stdin", args: []string{"stdin"}, check: wantOutput(nil, nil)},
		{name: "StdinUnderPlainWazero", args: []string{"stdin"}, stdin: binaryContent, check: wantOutput(binaryContent, nil)},
		{name: "Preopens", args: []string{"preopens"}, check: wantOutput(nuls("/sandbox"), nil)},
	}
	for _, code := range []int64{0, 1, 3, 42, 255, 256, 65536, -1} {
		cases = append(cases, wasiCase{name: fmt.Sprintf("Exit%d", code), args: []string{"exit", fmt.Sprint(code)}, check: wantCode(uint32(code))})
	}
	return cases
}

// taskEnv is the environment a task given env sees: PANDO_TASK_ID and PWD
// first unless env sets them, then env's variables sorted by name.
func taskEnv(env map[string]string) []string {
	var kv []string
	if _, ok := env["PANDO_TASK_ID"]; !ok {
		kv = append(kv, "PANDO_TASK_ID="+probeTaskID)
	}
	if _, ok := env["PWD"]; !ok {
		kv = append(kv, "PWD="+wasm.SandboxMount)
	}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		kv = append(kv, k+"="+env[k])
	}
	return kv
}

// pattern is what `probe stdout n` writes: byte i is i^(i>>8), which takes
// every value, line ends and NULs included.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i ^ i>>8)
	}
	return b
}

func wantOutput(stdout, stderr []byte) func(wasiRun) error {
	return func(r wasiRun) error {
		switch {
		case r.code != 0:
			return fmt.Errorf("exit code %d, want 0", r.code)
		case !bytes.Equal(r.stdout, stdout):
			return fmt.Errorf("stdout is not the %d bytes wanted: %s", len(stdout), abbrev(stdout))
		case !bytes.Equal(r.stderr, stderr):
			return fmt.Errorf("stderr is not %q", stderr)
		}
		return nil
	}
}

func wantCode(code uint32) func(wasiRun) error {
	return func(r wasiRun) error {
		if r.code != code {
			return fmt.Errorf("exit code %d, want %d", r.code, code)
		}
		return nil
	}
}

// checkClock: `probe clock` prints the realtime clock, the monotonic one, and
// the monotonic one again after sleeping 5ms, as three little-endian u64.
func checkClock(r wasiRun) error {
	if r.code != 0 || len(r.stdout) != 24 {
		return errors.New("want exit code 0 and 24 bytes of stdout")
	}
	real := int64(binary.LittleEndian.Uint64(r.stdout))
	mono1 := binary.LittleEndian.Uint64(r.stdout[8:])
	mono2 := binary.LittleEndian.Uint64(r.stdout[16:])
	// Generous bounds: the checks are that the clocks are real, not fake
	// (wazero's default realtime is a fixed 2022 date and its monotonic
	// clock ticks 1ms per read), not how fast the machine is.
	if d := time.Since(time.Unix(0, real)); d < -time.Minute || d > time.Hour {
		return fmt.Errorf("realtime clock says %s, %s from the host's", time.Unix(0, real).UTC(), d)
	}
	if mono2 < mono1+uint64(5*time.Millisecond) {
		return fmt.Errorf("the monotonic clock advanced %s over a sleep of 5ms", time.Duration(mono2-mono1))
	}
	return nil
}

// checkRandom: `probe random` prints 32 bytes from random_get. Each run
// checks its bytes are not a constant; the first run's bytes are kept so
// that the next (the other runtime's) must differ.
var lastRandom []byte

func checkRandom(r wasiRun) error {
	if r.code != 0 || len(r.stdout) != 32 {
		return errors.New("want exit code 0 and 32 bytes of stdout")
	}
	if bytes.Count(r.stdout, r.stdout[:1]) == 32 {
		return fmt.Errorf("random_get gave %x, one byte repeated", r.stdout)
	}
	defer func() { lastRandom = r.stdout }()
	if bytes.Equal(r.stdout, lastRandom) {
		return fmt.Errorf("random_get gave %x in two runs", r.stdout)
	}
	return nil
}

// runPando runs c through Pando's runtime, as the agent would.
func runPando(t *testing.T, rt *wasm.Runtime, probe string, c wasiCase) wasiRun {
	t.Helper()
	sandbox := sandboxWith(t, c.files)
	exit, stdout, stderr := run(t, rt, runtime.Spec{TaskID: probeTaskID, Sandbox: sandbox, Artifact: probe, Args: c.args, Env: c.env})
	switch {
	case exit.Outcome == runtime.Finished:
		return wasiRun{code: 0, stdout: []byte(stdout), stderr: []byte(stderr)}
	case exit.Cause == runtime.CauseExitNonZero:
		return wasiRun{code: uint32(exit.Code), stdout: []byte(stdout), stderr: []byte(stderr)}
	}
	t.Fatalf("Pando: the probe did not exit: %+v (stderr %q)", exit, stderr)
	return wasiRun{}
}

func sandboxWith(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// plainWASI is wazero configured as `wazero run` configures it (real clocks,
// real sleep, crypto random, a directory mount), with close-on-context-done
// as Pando so that both share the compilation cache.
type plainWASI struct {
	wz       wazero.Runtime
	compiled wazero.CompiledModule
}

func newPlainWASI(t *testing.T, path string) *plainWASI {
	t.Helper()
	ctx := context.Background()
	cache, err := wazero.NewCompilationCacheWithDir(sharedCache)
	if err != nil {
		t.Fatal(err)
	}
	wz := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(true).WithCompilationCache(cache))
	t.Cleanup(func() {
		wz.Close(ctx)
		cache.Close(ctx)
	})
	wasi_snapshot_preview1.MustInstantiate(ctx, wz)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	compiled, err := wz.CompileModule(ctx, b)
	if err != nil {
		t.Fatalf("plain wazero: compiling %s: %v", path, err)
	}
	return &plainWASI{wz: wz, compiled: compiled}
}

// run gives the probe the environment Pando documents for a task (see
// taskEnv), so that only the runtimes differ.
func (p *plainWASI) run(t *testing.T, c wasiCase) wasiRun {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cfg := wazero.NewModuleConfig().WithName("").
		WithArgs(append([]string{probeTaskID}, c.args...)...).
		WithStdout(&stdout).WithStderr(&stderr).
		WithStdin(bytes.NewReader(c.stdin)).
		WithRandSource(rand.Reader).
		WithSysNanosleep().WithSysNanotime().WithSysWalltime().
		WithFSConfig(wazero.NewFSConfig().WithDirMount(sandboxWith(t, c.files), wasm.SandboxMount))
	for _, kv := range taskEnv(c.env) {
		k, v, _ := strings.Cut(kv, "=")
		cfg = cfg.WithEnv(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mod, err := p.wz.InstantiateModule(ctx, p.compiled, cfg)
	if mod != nil {
		mod.Close(ctx)
	}
	var ee *sys.ExitError
	switch {
	case err == nil:
		return wasiRun{code: 0, stdout: stdout.Bytes(), stderr: stderr.Bytes()}
	case errors.As(err, &ee):
		return wasiRun{code: ee.ExitCode(), stdout: stdout.Bytes(), stderr: stderr.Bytes()}
	}
	t.Fatalf("plain wazero: the probe did not exit: %v (stderr %q)", err, stderr.Bytes())
	return wasiRun{}
}

// TestWASIStringsWithNUL: WASI passes arguments and environment variables as
// NUL-terminated strings, so one holding a NUL (or a variable name holding
// "=") cannot be given; wazero refuses to instantiate such a module, and
// the task fails to launch, saying which string is wrong.
func TestWASIStringsWithNUL(t *testing.T) {
	rt := newRuntime(t, wasm.Config{})
	tiny := wasmbuild.MustBuild(t, "tiny")
	cases := []struct {
		name string
		spec runtime.Spec
		want string
	}{
		{"arg", runtime.Spec{Args: []string{"a\x00b"}}, "args invalid: contains NUL character"},
		{"env value", runtime.Spec{Env: map[string]string{"K": "a\x00b"}}, "environ invalid: contains NUL character"},
		{"env name with =", runtime.Spec{Env: map[string]string{"K=V": "x"}}, "environ invalid: key contains '=' character"},
		{"empty env name", runtime.Spec{Env: map[string]string{"": "x"}}, "environ invalid: empty key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.spec.Artifact = tiny
			exit, _, stderr := run(t, rt, c.spec)
			if exit.Outcome != runtime.Failed || exit.Cause != runtime.CauseLaunchFailed || !strings.Contains(exit.Message, c.want) {
				t.Fatalf("exit = %+v, want failed to launch saying %q (stderr %q)", exit, c.want, stderr)
			}
		})
	}
}
