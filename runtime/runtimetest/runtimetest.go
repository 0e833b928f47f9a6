package runtimetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pandodc/pando/runtime"
)

// Artifact is a module or image on local disk, and the arguments that make
// it behave as the suite needs.
type Artifact struct {
	Path string
	// Digest is its content address; "" lets the suite compute it
	// ("sha256:<hex>" of the file).
	Digest string
	// Args are given before any the suite adds.
	Args []string
}

// Artifacts are what the suite runs. Each must behave as described, whatever
// it is built from.
type Artifacts struct {
	// Hello prints "hello from instance $PANDO_INSTANCE of task
	// $PANDO_TASK_ID\n" on stdout and exits with code 0.
	Hello Artifact
	// Fail prints something on stderr, nothing on stdout, and exits with
	// code 3.
	Fail Artifact
	// Spin prints "spinning\n" on stdout, then runs forever without
	// calling the host.
	Spin Artifact
	// Sleep prints "sleeping\n" on stdout, then sleeps for an hour in one
	// host call (the task is blocked, not running).
	Sleep Artifact
	// Hog allocates and touches memory without bound.
	Hog Artifact
	// Escape, for each argument: "symlink:<target>=<link>" makes a
	// symbolic link and prints "<arg>: made" or "<arg>: denied: <why>";
	// any other argument is a path it reads, printing "<path>: read:
	// <content>" or "<path>: denied: <why>".
	Escape Artifact
	// SandboxMount is where a task sees its sandbox directory ("/sandbox").
	SandboxMount string
	// Parallel is how many tasks the Concurrent case launches at once;
	// 0 is 200. Runtimes whose tasks are processes (containers) take fewer.
	Parallel int
}

// Detacher is a runtime whose tasks can outlive it: Detach lets go of them,
// still running, for a new runtime's Recover (Close, by contrast, stops them).
type Detacher interface {
	Detach(ctx context.Context) error
}

// timeouts of the suite: generous, because the machine may be busy; the
// checks are on outcomes, not speed.
const (
	waitLimit = 60 * time.Second
	spinLimit = 500 * time.Millisecond
	hogLimit  = 64 << 20
	parallel  = 200
)

// Run runs the conformance suite. newRuntime makes a fresh runtime for each
// case; the suite closes it.
func Run(t *testing.T, newRuntime func(t *testing.T) runtime.Runtime, a Artifacts) {
	s := &suite{newRuntime: newRuntime, a: a, digests: map[string]string{}}
	t.Run("Finished", s.finished)
	t.Run("ExitNonZero", s.exitNonZero)
	t.Run("Timeout", s.timeout)
	t.Run("Kill", s.kill)
	t.Run("KillBlocked", s.killBlocked)
	t.Run("KillIdempotent", s.killIdempotent)
	t.Run("Stats", s.stats)
	t.Run("WaitContext", s.waitContext)
	t.Run("MemoryLimit", s.memoryLimit)
	t.Run("Malformed", s.malformed)
	t.Run("MissingSandbox", s.missingSandbox)
	t.Run("SandboxEscape", s.sandboxEscape)
	t.Run("Concurrent", s.concurrent)
	t.Run("CloseStopsTasks", s.closeStopsTasks)
	t.Run("Logs", s.logs)
	t.Run("Recover", s.recover)
}

type suite struct {
	newRuntime func(t *testing.T) runtime.Runtime
	a          Artifacts

	mu      sync.Mutex
	digests map[string]string
}

// runtime makes a runtime that is closed at the end of the test.
func (s *suite) runtime(t *testing.T) runtime.Runtime {
	t.Helper()
	rt := s.newRuntime(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := rt.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return rt
}

func (s *suite) digest(t *testing.T, a Artifact) string {
	t.Helper()
	if a.Digest != "" {
		return a.Digest
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.digests[a.Path]; ok {
		return d
	}
	b, err := os.ReadFile(a.Path)
	if err != nil {
		t.Fatalf("reading artifact: %v", err)
	}
	sum := sha256.Sum256(b)
	d := "sha256:" + hex.EncodeToString(sum[:])
	s.digests[a.Path] = d
	return d
}

// spec is a Spec for a, with a fresh task id and sandbox.
func (s *suite) spec(t *testing.T, a Artifact, args ...string) runtime.Spec {
	t.Helper()
	if a.Path == "" {
		t.Fatal("the runtime's test gave no artifact for this case (runtimetest.Artifacts field is empty)")
	}
	return runtime.Spec{
		TaskID:   "task-" + token(t)[:12],
		Sandbox:  t.TempDir(),
		Artifact: a.Path,
		Digest:   s.digest(t, a),
		Args:     append(append([]string(nil), a.Args...), args...),
	}
}

func launch(t *testing.T, rt runtime.Runtime, spec runtime.Spec) runtime.Task {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	task, err := rt.Launch(ctx, spec)
	if err != nil {
		t.Fatalf("Launch(%s): %v", spec.TaskID, err)
	}
	return task
}

func wait(t *testing.T, task runtime.Task) runtime.Exit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	exit, err := task.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return exit
}

func readLog(t *testing.T, spec runtime.Spec, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(spec.Sandbox, name))
	if errors.Is(err, fs.ErrNotExist) {
		return "" // a runtime may leave a log it never wrote uncreated
	}
	if err != nil {
		t.Fatalf("reading the task's %s: %v", name, err)
	}
	return string(b)
}

// waitForOutput waits until the task's stdout contains want: the task is
// then running its own code.
func waitForOutput(t *testing.T, spec runtime.Spec, task runtime.Task, want string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(filepath.Join(spec.Sandbox, "stdout"))
		if strings.Contains(string(b), want) {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		exit, err := task.Wait(ctx)
		cancel()
		if err == nil {
			t.Fatalf("the task ended (%v, %q) before printing %q", exit.Outcome, exit.Message, want)
		}
	}
	t.Fatalf("the task did not print %q within %s", want, waitLimit)
}

func token(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func (s *suite) finished(t *testing.T) {
	rt := s.runtime(t)
	spec := s.spec(t, s.a.Hello)
	instance := token(t)[:6]
	spec.Env = map[string]string{"PANDO_INSTANCE": instance, "PANDO_TASK_ID": spec.TaskID}
	task := launch(t, rt, spec)
	exit := wait(t, task)
	if exit.Outcome != runtime.Finished || exit.Cause != runtime.CauseNone || exit.Code != 0 {
		t.Fatalf("exit = %+v, want finished with code 0 (stderr: %q)", exit, readLog(t, spec, "stderr"))
	}
	want := fmt.Sprintf("hello from instance %s of task %s\n", instance, spec.TaskID)
	if got := readLog(t, spec, "stdout"); got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if _, err := task.Stats(context.Background()); err != nil {
		t.Errorf("Stats of an ended task: %v", err)
	}
}

func (s *suite) exitNonZero(t *testing.T) {
	rt := s.runtime(t)
	spec := s.spec(t, s.a.Fail)
	exit := wait(t, launch(t, rt, spec))
	if exit.Outcome != runtime.Failed || exit.Cause != runtime.CauseExitNonZero || exit.Code != 3 {
		t.Fatalf("exit = %+v, want failed, exit non-zero, code 3", exit)
	}
	if !strings.Contains(exit.Message, "3") {
		t.Errorf("message %q does not give the exit code", exit.Message)
	}
	if readLog(t, spec, "stderr") == "" {
		t.Error("stderr is empty; the program wrote to it")
	}
}

func (s *suite) timeout(t *testing.T) {
	rt := s.runtime(t)
	spec := s.spec(t, s.a.Spin)
	spec.Timeout = spinLimit
	start := time.Now()
	exit := wait(t, launch(t, rt, spec))
	took := time.Since(start)
	if exit.Outcome != runtime.Failed || exit.Cause != runtime.CauseTimeout {
		t.Fatalf("exit = %+v, want failed by timeout", exit)
	}
	if took < spinLimit {
		t.Errorf("timed out after %s, before its timeout of %s", took, spinLimit)
	}
	if !strings.Contains(exit.Message, spinLimit.String()) {
		t.Errorf("message %q does not give the timeout %s", exit.Message, spinLimit)
	}
}

func (s *suite) kill(t *testing.T) {
	rt := s.runtime(t)
	spec := s.spec(t, s.a.Spin)
	task := launch(t, rt, spec)
	waitForOutput(t, spec, task, "spinning")
	if err := task.Kill(context.Background()); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	exit := wait(t, task)
	if exit.Outcome != runtime.Killed || exit.Cause != runtime.CauseKilled {
		t.Fatalf("exit = %+v, want killed", exit)
	}
}

// killBlocked kills a task blocked in the host (sleeping), not running.
func (s *suite) killBlocked(t *testing.T) {
	rt := s.runtime(t)
	spec := s.spec(t, s.a.Sleep)
	task := launch(t, rt, spec)
	waitForOutput(t, spec, task, "sleeping")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := task.Kill(ctx); err != nil {
		t.Fatalf("Kill of a sleeping task: %v", err)
	}
	exit, err := task.Wait(ctx)
	if err != nil {
		t.Fatalf("a killed sleeping task did not end within 10s: %v", err)
	}
	if exit.Outcome != runtime.Killed || exit.Cause != runtime.CauseKilled {
		t.Fatalf("exit = %+v, want killed", exit)
	}
}

func (s *suite) killIdempotent(t *testing.T) {
	rt := s.runtime(t)
	task := launch(t, rt, s.spec(t, s.a.Spin))
	ctx := context.Background()
	for i := range 3 {
		if err := task.Kill(ctx); err != nil {
			t.Fatalf("Kill #%d: %v", i+1, err)
		}
	}
	if exit := wait(t, task); exit.Outcome != runtime.Killed {
		t.Fatalf("exit = %+v, want killed", exit)
	}
	if err := task.Kill(ctx); err != nil {
		t.Fatalf("Kill of an ended task: %v", err)
	}

	// Killing a task that finished on its own does not change its end.
	done := launch(t, rt, s.spec(t, s.a.Fail))
	before := wait(t, done)
	if err := done.Kill(ctx); err != nil {
		t.Fatalf("Kill of a failed task: %v", err)
	}
	if after := wait(t, done); after != before {
		t.Fatalf("Kill changed an ended task's exit from %+v to %+v", before, after)
	}
}

func (s *suite) stats(t *testing.T) {
	rt := s.runtime(t)
	spec := s.spec(t, s.a.Spin)
	task := launch(t, rt, spec)
	defer task.Kill(context.Background())
	waitForOutput(t, spec, task, "spinning")
	st, err := task.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if st.MemoryBytes == 0 {
		t.Errorf("Stats of a running task: memory = 0, want its current use")
	}
}

func (s *suite) waitContext(t *testing.T) {
	rt := s.runtime(t)
	task := launch(t, rt, s.spec(t, s.a.Spin))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if exit, err := task.Wait(ctx); err == nil {
		t.Fatalf("Wait with an expiring context returned %+v and no error, while the task spins", exit)
	}
	// The task is still there, and still killable.
	if err := task.Kill(context.Background()); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if exit := wait(t, task); exit.Outcome != runtime.Killed {
		t.Fatalf("exit = %+v, want killed", exit)
	}
}

func (s *suite) memoryLimit(t *testing.T) {
	rt := s.runtime(t)
	spec := s.spec(t, s.a.Hog)
	spec.MemoryBytes = hogLimit
	exit := wait(t, launch(t, rt, spec))
	if exit.Outcome != runtime.Failed || exit.Cause != runtime.CauseMemoryLimit {
		t.Fatalf("exit = %+v, want failed by memory limit (stderr: %q)", exit, tail(readLog(t, spec, "stderr")))
	}
	if exit.Message == "" {
		t.Error("no message for people")
	}
}

func (s *suite) malformed(t *testing.T) {
	rt := s.runtime(t)
	path := filepath.Join(t.TempDir(), "job")
	if err := os.WriteFile(path, []byte("#!/bin/sh\necho this is a shell script, not an artifact\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := Artifact{Path: path}
	ctx := context.Background()
	if err := rt.Prepare(ctx, s.digest(t, a), path); err == nil {
		t.Error("Prepare accepted a shell script")
	} else if !strings.Contains(err.Error(), path) {
		t.Errorf("Prepare's error %q does not name the artifact", err)
	}
	spec := s.spec(t, a)
	if task, err := rt.Launch(ctx, spec); err == nil {
		exit, _ := task.Wait(ctx)
		t.Errorf("Launch accepted a shell script; it ended %+v", exit)
	}
}

// missingSandbox: the runtime makes the sandbox (parents included) when the
// task needs it, and refuses one that is not a directory.
func (s *suite) missingSandbox(t *testing.T) {
	rt := s.runtime(t)
	spec := s.spec(t, s.a.Hello)
	spec.Sandbox = filepath.Join(spec.Sandbox, "framework", "task")
	exit := wait(t, launch(t, rt, spec))
	if exit.Outcome != runtime.Finished {
		t.Fatalf("a task whose sandbox did not exist yet ended %+v, want finished", exit)
	}
	if got := readLog(t, spec, "stdout"); !strings.Contains(got, "hello") {
		t.Errorf("stdout in the sandbox the runtime made = %q, want the greeting", got)
	}

	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	spec.Sandbox = notDir
	task, err := rt.Launch(context.Background(), spec)
	if err == nil {
		exit, _ := task.Wait(context.Background())
		t.Fatalf("Launch into a sandbox that is a file succeeded; the task ended %+v", exit)
	}
	if !strings.Contains(err.Error(), "sandbox") {
		t.Errorf("Launch into a sandbox that is a file: %q does not mention the sandbox", err)
	}
}

func (s *suite) sandboxEscape(t *testing.T) {
	rt := s.runtime(t)
	spec := s.spec(t, s.a.Escape)
	// The sandbox is a directory beside a secret the task must not read.
	parent := t.TempDir()
	spec.Sandbox = filepath.Join(parent, "sandbox")
	if err := os.Mkdir(spec.Sandbox, 0o755); err != nil {
		t.Fatal(err)
	}
	secret, inside := token(t), token(t)
	secretPath := filepath.Join(parent, "secret.txt")
	if err := os.WriteFile(secretPath, []byte(secret), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spec.Sandbox, "inside.txt"), []byte(inside), 0o644); err != nil {
		t.Fatal(err)
	}
	m := s.a.SandboxMount
	up := strings.Repeat("../", strings.Count(m, "/")+strings.Count(spec.Sandbox, "/"))
	attempts := []string{
		m + "/inside.txt", // the control: reading the sandbox works
		m + "/../secret.txt",
		m + "/../../../../../../.." + secretPath,
		"../secret.txt",
		up + strings.TrimPrefix(secretPath, "/"),
		secretPath,
		"symlink:../secret.txt=" + m + "/relative-link",
		m + "/relative-link",
		"symlink:" + secretPath + "=" + m + "/absolute-link",
		m + "/absolute-link",
		"symlink:" + up + strings.TrimPrefix(parent, "/") + "=" + m + "/dir-link",
		m + "/dir-link/secret.txt",
	}
	spec.Args = append(spec.Args, attempts...)
	exit := wait(t, launch(t, rt, spec))
	out := readLog(t, spec, "stdout")
	if exit.Outcome != runtime.Finished {
		t.Fatalf("exit = %+v, want finished (stdout %q, stderr %q)", exit, out, readLog(t, spec, "stderr"))
	}
	if !strings.Contains(out, inside) {
		t.Fatalf("the task could not read its own sandbox file %s/inside.txt, so the other attempts prove nothing; stdout:\n%s", m, out)
	}
	if strings.Contains(out, secret) {
		t.Errorf("the task read a host file outside its sandbox; stdout:\n%s", out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		t.Log(line)
	}
}

func (s *suite) concurrent(t *testing.T) {
	rt := s.runtime(t)
	type started struct {
		spec     runtime.Spec
		instance int
		task     runtime.Task
	}
	n := s.a.Parallel
	if n <= 0 {
		n = parallel
	}
	tasks := make([]started, n)
	var wg sync.WaitGroup
	for i := range tasks {
		spec := s.spec(t, s.a.Hello)
		spec.Env = map[string]string{"PANDO_INSTANCE": fmt.Sprint(i), "PANDO_TASK_ID": spec.TaskID}
		tasks[i] = started{spec: spec, instance: i}
	}
	errs := make(chan error, n)
	for i := range tasks {
		wg.Go(func() {
			task, err := rt.Launch(context.Background(), tasks[i].spec)
			if err != nil {
				errs <- fmt.Errorf("Launch #%d: %w", i, err)
				return
			}
			tasks[i].task = task
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, st := range tasks {
		exit := wait(t, st.task)
		if exit.Outcome != runtime.Finished {
			t.Errorf("task %d: exit = %+v, want finished", st.instance, exit)
			continue
		}
		want := fmt.Sprintf("hello from instance %d of task %s\n", st.instance, st.spec.TaskID)
		if got := readLog(t, st.spec, "stdout"); got != want {
			t.Errorf("task %d: stdout = %q, want %q", st.instance, got, want)
		}
	}
}

// closeStopsTasks: closing a runtime stops its tasks, whether or not they
// could outlive it (Recover), and a closed runtime launches nothing.
func (s *suite) closeStopsTasks(t *testing.T) {
	rt := s.newRuntime(t)
	spec := s.spec(t, s.a.Spin)
	task := launch(t, rt, spec)
	waitForOutput(t, spec, task, "spinning")
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := rt.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := rt.Launch(ctx, s.spec(t, s.a.Hello)); err == nil {
		t.Error("Launch on a closed runtime succeeded")
	}
	exit := wait(t, task)
	if exit.Outcome == runtime.Finished {
		t.Fatalf("a spinning task ended %+v when its runtime was closed", exit)
	}
	if err := rt.Close(ctx); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}

// logs: a task's stdout and stderr go to the files "stdout" and "stderr" of
// its sandbox, each only what was written to it.
func (s *suite) logs(t *testing.T) {
	rt := s.runtime(t)
	hello := s.spec(t, s.a.Hello)
	hello.Env = map[string]string{"PANDO_INSTANCE": "7", "PANDO_TASK_ID": hello.TaskID}
	fail := s.spec(t, s.a.Fail)
	helloTask, failTask := launch(t, rt, hello), launch(t, rt, fail)
	wait(t, helloTask)
	wait(t, failTask)
	if got, want := readLog(t, hello, "stdout"), fmt.Sprintf("hello from instance 7 of task %s\n", hello.TaskID); got != want {
		t.Errorf("Hello's stdout = %q, want %q", got, want)
	}
	if got := readLog(t, hello, "stderr"); got != "" {
		t.Errorf("Hello's stderr = %q, want it empty", got)
	}
	if got := readLog(t, fail, "stderr"); got == "" {
		t.Error("Fail's stderr is empty; it wrote to it")
	}
	if got := readLog(t, fail, "stdout"); got != "" {
		t.Errorf("Fail's stdout = %q, want it empty", got)
	}

	// A task id run again starts with fresh logs.
	again := hello
	again.Env = map[string]string{"PANDO_INSTANCE": "8", "PANDO_TASK_ID": hello.TaskID}
	wait(t, launch(t, rt, again))
	if got, want := readLog(t, again, "stdout"), fmt.Sprintf("hello from instance 8 of task %s\n", hello.TaskID); got != want {
		t.Errorf("stdout of the task run again = %q, want only its own %q", got, want)
	}
}

// recover: a runtime whose tasks outlive it (Recover supported) lets go of
// them with Detach; a new runtime recovers them, running, and can kill them.
func (s *suite) recover(t *testing.T) {
	rt := s.newRuntime(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if _, err := rt.Recover(ctx); errors.Is(err, runtime.ErrNotSupported) {
		rt.Close(ctx)
		t.Skip("the runtime's tasks cannot outlive it (Recover not supported)")
	} else if err != nil {
		rt.Close(ctx)
		t.Fatalf("Recover on a fresh runtime: %v", err)
	}
	d, ok := rt.(Detacher)
	if !ok {
		rt.Close(ctx)
		t.Fatalf("%T supports Recover but has no Detach to leave its tasks running", rt)
	}
	spec := s.spec(t, s.a.Spin)
	task := launch(t, rt, spec)
	waitForOutput(t, spec, task, "spinning")
	if err := d.Detach(ctx); err != nil {
		t.Fatalf("Detach: %v", err)
	}
	if exit, err := task.Wait(ctx); err == nil {
		t.Fatalf("Wait on a detached runtime's task returned %+v and no error", exit)
	}

	rt2 := s.runtime(t)
	tasks, err := rt2.Recover(ctx)
	if err != nil {
		t.Fatalf("Recover after Detach: %v", err)
	}
	again, ok := tasks[spec.Ref()]
	if !ok {
		t.Fatalf("Recover after Detach returned %d tasks, not the spinning %s", len(tasks), spec.TaskID)
	}
	if _, err := again.Stats(ctx); err != nil {
		t.Errorf("Stats of a recovered task: %v", err)
	}
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	exit, err := again.Wait(short)
	cancelShort()
	if err == nil {
		t.Fatalf("the recovered task had ended: %+v", exit)
	}
	if err := again.Kill(ctx); err != nil {
		t.Fatalf("Kill of a recovered task: %v", err)
	}
	if exit := wait(t, again); exit.Outcome != runtime.Killed {
		t.Fatalf("recovered task: exit = %+v, want killed", exit)
	}
	if got := readLog(t, spec, "stdout"); !strings.Contains(got, "spinning") {
		t.Errorf("the recovered task's stdout = %q, want what it printed before", got)
	}
}

func tail(s string) string {
	if len(s) > 2000 {
		return "..." + s[len(s)-2000:]
	}
	return s
}
