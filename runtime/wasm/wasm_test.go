package wasm_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/runtime"
	"github.com/pandodc/pando/runtime/wasm"
)

// run launches a task of the named example and waits for its end.
func run(t *testing.T, rt *wasm.Runtime, spec runtime.Spec) (runtime.Exit, string, string) {
	t.Helper()
	if spec.Sandbox == "" {
		spec.Sandbox = t.TempDir()
	}
	if spec.TaskID == "" {
		spec.TaskID = "t1"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	task, err := rt.Launch(ctx, spec)
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	exit, err := task.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	stdout, _ := os.ReadFile(filepath.Join(spec.Sandbox, "stdout"))
	stderr, _ := os.ReadFile(filepath.Join(spec.Sandbox, "stderr"))
	return exit, string(stdout), string(stderr)
}

func TestNotWebAssembly(t *testing.T) {
	rt := newRuntime(t, wasm.Config{})
	dir := t.TempDir()
	cases := []struct {
		name, content, want string
	}{
		{"script", "#!/bin/sh\necho hi\n", "not a WebAssembly module"},
		{"elf", "\x7fELF\x02\x01\x01", "GOOS=wasip1 GOARCH=wasm"},
		{"empty", "", "not a WebAssembly module"},
		{"component", "\x00asm\x0d\x00\x01\x00", "not a core module"},
		{"truncated", "\x00asm\x01\x00\x00\x00\x01\xff", "compiling WASM module"},
		// A valid module, but an empty one: nothing to run.
		{"library", "\x00asm\x01\x00\x00\x00", "exports no _start"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name)
			if err := os.WriteFile(path, []byte(c.content), 0o644); err != nil {
				t.Fatal(err)
			}
			err := rt.Prepare(context.Background(), "sha256:"+c.name, path)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Prepare = %v, want an error saying %q", err, c.want)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("the error %q does not name the file", err)
			}
		})
	}
}

func TestPrepareMissingFileIsRetried(t *testing.T) {
	rt := newRuntime(t, wasm.Config{})
	path := filepath.Join(t.TempDir(), "late.wasm")
	if err := rt.Prepare(context.Background(), "sha256:late", path); err == nil {
		t.Fatal("Prepare of a missing file succeeded")
	}
	b, err := os.ReadFile(wasmbuild.MustBuild(t, "tiny"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rt.Prepare(context.Background(), "sha256:late", path); err != nil {
		t.Fatalf("Prepare once the file is there: %v (a failure was cached)", err)
	}
}

func TestPrepareConcurrentCompilesOnce(t *testing.T) {
	rt := newRuntime(t, wasm.Config{})
	path := wasmbuild.MustBuild(t, "hello")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := rt.Prepare(context.Background(), "sha256:hello", path); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := wasm.Compiles(rt); n != 1 {
		t.Fatalf("8 concurrent Prepare of one digest compiled %d times, want 1", n)
	}
	// Launch of a prepared digest does not compile again.
	if exit, _, _ := run(t, rt, runtime.Spec{Artifact: path, Digest: "sha256:hello"}); exit.Outcome != runtime.Finished {
		t.Fatalf("exit = %+v", exit)
	}
	if n := wasm.Compiles(rt); n != 1 {
		t.Fatalf("Launch after Prepare compiled again (%d compilations)", n)
	}
}

func TestOnDiskCache(t *testing.T) {
	cache := t.TempDir()
	path := wasmbuild.MustBuild(t, "tiny")
	rt := newRuntime(t, wasm.Config{CacheDir: cache})
	if err := rt.Prepare(context.Background(), "sha256:tiny", path); err != nil {
		t.Fatal(err)
	}
	var files int
	filepath.WalkDir(cache, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files++
		}
		return nil
	})
	if files == 0 {
		t.Fatalf("nothing was written to the compilation cache %s", cache)
	}
}

func TestTrap(t *testing.T) {
	rt := newRuntime(t, wasm.Config{})
	exit, _, stderr := run(t, rt, runtime.Spec{Artifact: wasmbuild.MustBuild(t, "trap")})
	if exit.Outcome != runtime.Failed || exit.Cause != runtime.CauseTrap {
		t.Fatalf("exit = %+v, want failed by a trap", exit)
	}
	if !strings.Contains(exit.Message, "unreachable") || strings.Contains(exit.Message, "\n") {
		t.Errorf("message %q: want one line naming the trap", exit.Message)
	}
	if !strings.Contains(stderr, "wasm stack trace") {
		t.Errorf("stderr %q: want the trap's stack trace", stderr)
	}
}

func TestTiny(t *testing.T) {
	rt := newRuntime(t, wasm.Config{})
	exit, stdout, stderr := run(t, rt, runtime.Spec{Artifact: wasmbuild.MustBuild(t, "tiny")})
	if exit.Outcome != runtime.Finished || stdout != "" || stderr != "" {
		t.Fatalf("exit = %+v, stdout %q, stderr %q; want finished in silence", exit, stdout, stderr)
	}
}

func TestMemoryLimitMessage(t *testing.T) {
	rt := newRuntime(t, wasm.Config{DefaultMemoryBytes: 48 << 20})
	exit, _, stderr := run(t, rt, runtime.Spec{Artifact: wasmbuild.MustBuild(t, "hog")})
	if exit.Cause != runtime.CauseMemoryLimit || exit.Message != "needed more than its 48MiB of memory" {
		t.Fatalf("exit = %+v, want the default limit of 48MiB reached (stderr %q)", exit, stderr)
	}
	// A task's own limit overrides the default.
	exit, _, _ = run(t, rt, runtime.Spec{Artifact: wasmbuild.MustBuild(t, "hog"), MemoryBytes: 40 << 20})
	if exit.Message != "needed more than its 40MiB of memory" {
		t.Fatalf("exit = %+v, want the task's limit of 40MiB reached", exit)
	}
}

func TestMemoryTooSmallToStart(t *testing.T) {
	rt := newRuntime(t, wasm.Config{})
	exit, _, stderr := run(t, rt, runtime.Spec{Artifact: wasmbuild.MustBuild(t, "hello"), MemoryBytes: 64 << 10})
	if exit.Outcome != runtime.Failed || exit.Cause != runtime.CauseMemoryLimit || !strings.Contains(exit.Message, "to start") {
		t.Fatalf("exit = %+v, want failed by memory limit before starting", exit)
	}
	if !strings.Contains(stderr, exit.Message) {
		t.Errorf("stderr %q does not say why the task did not start", stderr)
	}
}

func TestArgsAndDefaultEnv(t *testing.T) {
	rt := newRuntime(t, wasm.Config{})
	// pi reads its sample count from args[1].
	exit, stdout, stderr := run(t, rt, runtime.Spec{Artifact: wasmbuild.MustBuild(t, "pi"), Args: []string{"2e5"}})
	if exit.Outcome != runtime.Finished {
		t.Fatalf("pi: exit = %+v (stderr %q)", exit, stderr)
	}
	pi, err := strconv.ParseFloat(strings.TrimSpace(stdout), 64)
	if err != nil || pi < 3.0 || pi > 3.3 {
		t.Errorf("pi printed %q, want an estimate of pi", stdout)
	}
	exit, _, stderr = run(t, rt, runtime.Spec{Artifact: wasmbuild.MustBuild(t, "pi"), Args: []string{"many"}})
	if exit.Code != 2 || !strings.Contains(stderr, `"many"`) {
		t.Errorf("pi many: exit = %+v, stderr %q; want its usage error (so args reach it)", exit, stderr)
	}
	// Without PANDO_TASK_ID in Env, the runtime gives the task's id.
	_, stdout, _ = run(t, rt, runtime.Spec{TaskID: "job-42", Artifact: wasmbuild.MustBuild(t, "hello")})
	if want := "hello from instance  of task job-42\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
}

func TestRelativePathsAreInSandbox(t *testing.T) {
	rt := newRuntime(t, wasm.Config{})
	sandbox := t.TempDir()
	if err := os.WriteFile(filepath.Join(sandbox, "input.txt"), []byte("in the sandbox"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stdout, _ := run(t, rt, runtime.Spec{Sandbox: sandbox, Artifact: wasmbuild.MustBuild(t, "escape"), Args: []string{"input.txt"}})
	if want := "input.txt: read: in the sandbox\n"; stdout != want {
		t.Fatalf("stdout = %q, want %q", stdout, want)
	}
}

func TestRecoverNotSupported(t *testing.T) {
	rt := newRuntime(t, wasm.Config{})
	tasks, err := rt.Recover(context.Background())
	if !errors.Is(err, runtime.ErrNotSupported) || tasks != nil {
		t.Fatalf("Recover = %v, %v; want nil, ErrNotSupported", tasks, err)
	}
}

func TestUnwritableSandbox(t *testing.T) {
	if os.Geteuid() == 0 {
		// root writes anywhere: use a sandbox that is a file instead.
		sandbox := filepath.Join(t.TempDir(), "file")
		os.WriteFile(sandbox, nil, 0o644)
		rt := newRuntime(t, wasm.Config{})
		_, err := rt.Launch(context.Background(), runtime.Spec{TaskID: "t", Sandbox: sandbox, Artifact: wasmbuild.MustBuild(t, "tiny")})
		if err == nil || !strings.Contains(err.Error(), "sandbox") {
			t.Fatalf("Launch into a sandbox that is a file: %v, want an error about the sandbox", err)
		}
		return
	}
	// Logs are created on the first write: a task that prints into a
	// read-only sandbox runs, and its exit says where its output went.
	sandbox := t.TempDir()
	os.Chmod(sandbox, 0o500)
	rt := newRuntime(t, wasm.Config{})
	task, err := rt.Launch(context.Background(), runtime.Spec{TaskID: "t", Sandbox: sandbox, Artifact: wasmbuild.MustBuild(t, "hello")})
	if err != nil {
		t.Fatal(err)
	}
	exit, err := task.Wait(context.Background())
	if err != nil || !strings.Contains(exit.Message, "creating the task's stdout in its sandbox") {
		t.Fatalf("exit = %+v, %v; want a message about the unwritable stdout", exit, err)
	}
}

// A task that never writes leaves no sandbox behind (making one per task
// would cost more than running a tiny task); a task id run again in a
// sandbox that exists does not inherit the previous run's logs.
func TestSandboxMadeOnlyWhenNeeded(t *testing.T) {
	rt := newRuntime(t, wasm.Config{})
	ctx := context.Background()
	sandbox := filepath.Join(t.TempDir(), "fw", "task")
	run := func(module string) runtime.Exit {
		t.Helper()
		task, err := rt.Launch(ctx, runtime.Spec{TaskID: "t", Sandbox: sandbox, Artifact: wasmbuild.MustBuild(t, module)})
		if err != nil {
			t.Fatal(err)
		}
		exit, err := task.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return exit
	}
	if exit := run("tiny"); exit.Outcome != runtime.Finished {
		t.Fatalf("tiny ended %+v", exit)
	}
	if _, err := os.Stat(sandbox); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a task that wrote nothing left a sandbox behind (stat: %v)", err)
	}
	if exit := run("hello"); exit.Outcome != runtime.Finished {
		t.Fatalf("hello ended %+v", exit)
	}
	if b, err := os.ReadFile(filepath.Join(sandbox, "stdout")); err != nil || !strings.Contains(string(b), "hello") {
		t.Fatalf("hello's stdout = %q, %v", b, err)
	}
	run("tiny")
	if _, err := os.Stat(filepath.Join(sandbox, "stdout")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a rerun that wrote nothing kept the previous run's stdout (stat: %v)", err)
	}
}
