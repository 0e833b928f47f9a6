package container_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pandodc/pando/runtime"
	"github.com/pandodc/pando/runtime/container"
	"github.com/pandodc/pando/runtime/container/containerdtest"
	"github.com/pandodc/pando/runtime/container/ocilayout"
)

func TestEchoAndExitCodes(t *testing.T) {
	rt := newRuntime(t, testConfig(t))
	spec := sh(t, `echo "hello $NAME"; echo oops >&2; exit 0`)
	spec.Env = map[string]string{"NAME": "pando"}
	exit := wait(t, launch(t, rt, spec))
	if exit.Outcome != runtime.Finished || exit.Code != 0 {
		t.Fatalf("exit = %+v, want finished (stderr %q)", exit, readLog(t, spec, "stderr"))
	}
	if got := readLog(t, spec, "stdout"); got != "hello pando\n" {
		t.Errorf("stdout = %q", got)
	}
	if got := readLog(t, spec, "stderr"); got != "oops\n" {
		t.Errorf("stderr = %q", got)
	}
	for _, code := range []int{1, 3, 42} {
		spec := sh(t, "exit "+strconv.Itoa(code))
		exit := wait(t, launch(t, rt, spec))
		if exit.Outcome != runtime.Failed || exit.Cause != runtime.CauseExitNonZero || exit.Code != code {
			t.Errorf("exit %d: got %+v", code, exit)
		}
		if want := "exited with code " + strconv.Itoa(code); exit.Message != want {
			t.Errorf("exit %d: message %q, want %q", code, exit.Message, want)
		}
	}
}

func TestCommandWorkingDirAndSandbox(t *testing.T) {
	rt := newRuntime(t, testConfig(t))
	spec := sh(t, "")
	spec.Command = []string{"/bin/sh", "-c", `pwd; echo "$@" > /sandbox/args.txt`, "zero"}
	spec.Args = []string{"one", "two"}
	spec.WorkingDir = "/tmp"
	exit := wait(t, launch(t, rt, spec))
	if exit.Outcome != runtime.Finished {
		t.Fatalf("exit = %+v (stderr %q)", exit, readLog(t, spec, "stderr"))
	}
	if got := readLog(t, spec, "stdout"); got != "/tmp\n" {
		t.Errorf("the working directory = %q, want /tmp", got)
	}
	b, err := os.ReadFile(filepath.Join(spec.Sandbox, "args.txt"))
	if err != nil {
		t.Fatalf("the task's file in /sandbox is not in its sandbox: %v", err)
	}
	if string(b) != "one two\n" {
		t.Errorf("args = %q, want the spec's Args after its Command", b)
	}
}

func TestKillHonoursSIGTERM(t *testing.T) {
	rt := newRuntime(t, testConfig(t))
	spec := sh(t, `trap 'echo got TERM; exit 0' TERM; echo ready; while :; do sleep 0.1; done`)
	spec.KillGrace = time.Minute // a SIGKILL would come too late for the test
	task := launch(t, rt, spec)
	waitForLog(t, spec, "stdout", "ready")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := task.Kill(ctx); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if exit := wait(t, task); exit.Outcome != runtime.Killed || exit.Cause != runtime.CauseKilled {
		t.Fatalf("exit = %+v, want killed", exit)
	}
	if got := readLog(t, spec, "stdout"); !strings.Contains(got, "got TERM") {
		t.Errorf("stdout = %q: the task did not see SIGTERM", got)
	}
}

func TestKillForcesAfterGrace(t *testing.T) {
	rt := newRuntime(t, testConfig(t))
	spec := sh(t, `trap 'echo ignoring TERM' TERM; echo ready; while :; do sleep 0.1; done`)
	spec.KillGrace = 500 * time.Millisecond
	task := launch(t, rt, spec)
	waitForLog(t, spec, "stdout", "ready")
	start := time.Now()
	if err := task.Kill(context.Background()); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	took := time.Since(start)
	if exit := wait(t, task); exit.Outcome != runtime.Killed {
		t.Fatalf("exit = %+v, want killed", exit)
	}
	if got := readLog(t, spec, "stdout"); !strings.Contains(got, "ignoring TERM") {
		t.Errorf("stdout = %q: the task was not sent SIGTERM first", got)
	}
	if took < spec.KillGrace {
		t.Errorf("a task ignoring SIGTERM ended %s after Kill, before its grace of %s", took, spec.KillGrace)
	}
}

func TestTimeoutOfTaskIgnoringSIGTERM(t *testing.T) {
	rt := newRuntime(t, testConfig(t))
	spec := sh(t, `trap '' TERM; sleep 3600`)
	spec.Timeout = 300 * time.Millisecond
	spec.KillGrace = 200 * time.Millisecond
	exit := wait(t, launch(t, rt, spec))
	if exit.Outcome != runtime.Failed || exit.Cause != runtime.CauseTimeout || !strings.Contains(exit.Message, "300ms") {
		t.Fatalf("exit = %+v, want failed by its timeout of 300ms", exit)
	}
}

func TestMemoryLimitIsOOM(t *testing.T) {
	rt := newRuntime(t, testConfig(t))
	spec := sh(t, hogScript)
	spec.MemoryBytes = 32 << 20
	exit := wait(t, launch(t, rt, spec))
	if exit.Outcome != runtime.Failed || exit.Cause != runtime.CauseMemoryLimit {
		t.Fatalf("exit = %+v, want failed by its memory limit (stderr %q)", exit, readLog(t, spec, "stderr"))
	}
	if !strings.Contains(exit.Message, "memory limit exceeded") || !strings.Contains(exit.Message, "32MiB") {
		t.Errorf("message %q does not say the limit of 32MiB was exceeded", exit.Message)
	}

	// A process killed by SIGKILL with memory to spare is not an OOM.
	spec = sh(t, `sleep 60 & kill -9 $!; wait $!`)
	spec.MemoryBytes = 32 << 20
	exit = wait(t, launch(t, rt, spec))
	if exit.Cause != runtime.CauseExitNonZero || exit.Code != 137 {
		t.Fatalf("a task killed by SIGKILL under its limit: exit = %+v, want exit non-zero 137", exit)
	}
}

func TestLimitsInCgroupAndBeforeStart(t *testing.T) {
	cfg := testConfig(t)
	var mu sync.Mutex
	var infos []container.StartInfo
	var sawStdout []string
	cfg.BeforeStart = func(ctx context.Context, info container.StartInfo) error {
		mu.Lock()
		defer mu.Unlock()
		infos = append(infos, info)
		// The task has not started: it has printed nothing yet.
		b, _ := os.ReadFile(filepath.Join(info.Labels["pando.sandbox"], "stdout"))
		sawStdout = append(sawStdout, string(b))
		if info.Labels[container.LabelFrameworkID] == "refused" {
			return errors.New("the isolator refuses this task")
		}
		return nil
	}
	rt := newRuntime(t, cfg)
	spec := sh(t, `echo started; sleep 3600 & trap 'exit 143' TERM; wait`)
	spec.CPUMilli = 500
	spec.MemoryBytes = 48 << 20
	spec.FrameworkID = "fw-1"
	task := launch(t, rt, spec)
	waitForLog(t, spec, "stdout", "started")
	cg := task.CgroupPath()
	if want := "/pando/" + task.ContainerID(); cg != want || !strings.HasPrefix(cg, "/pando/"+spec.TaskID+"-") {
		t.Errorf("CgroupPath = %q, want %q", cg, want)
	}
	limits := map[string]string{ // cgroup v1 (and hybrid) hosts
		"/sys/fs/cgroup/cpu" + cg + "/cpu.cfs_quota_us":         "50000",
		"/sys/fs/cgroup/cpu" + cg + "/cpu.cfs_period_us":        "100000",
		"/sys/fs/cgroup/cpu" + cg + "/cpu.shares":               "512",
		"/sys/fs/cgroup/memory" + cg + "/memory.limit_in_bytes": strconv.Itoa(48 << 20),
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil { // cgroup v2 only
		limits = map[string]string{
			"/sys/fs/cgroup" + cg + "/cpu.max":    "50000 100000",
			"/sys/fs/cgroup" + cg + "/memory.max": strconv.Itoa(48 << 20),
		}
	}
	for file, want := range limits {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("reading the task's cgroup: %v", err)
			continue
		}
		if got := strings.TrimSpace(string(b)); got != want {
			t.Errorf("%s = %s, want %s", file, got, want)
		}
	}
	_, err := os.Stat("/sys/fs/cgroup/unified" + cg)
	t.Logf("the task's cgroup in the unified (v2) hierarchy: %v", err)
	st, err := task.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if st.MemoryLimit != 48<<20 || st.MemoryBytes == 0 || st.MemoryPeakBytes < st.MemoryBytes || st.CPUTime <= 0 {
		t.Errorf("Stats = %+v, want the limit of 48MiB, memory in use, its peak and some CPU time", st)
	}
	if st.StdoutBytes != uint64(len("started\n")) {
		t.Errorf("Stats.StdoutBytes = %d, want %d", st.StdoutBytes, len("started\n"))
	}
	if len(st.Unavailable) == 0 {
		t.Error("Stats names nothing unavailable, though containerd has no network counters of a task on the host's network")
	}
	mu.Lock()
	if len(infos) != 1 || infos[0].TaskID != spec.TaskID || infos[0].PID != task.PID() || infos[0].CgroupPath != cg ||
		infos[0].Labels[container.LabelFrameworkID] != "fw-1" || infos[0].Labels[container.LabelAgentID] != cfg.AgentID {
		t.Errorf("BeforeStart saw %+v, want one call with the task's id, pid %d, cgroup and labels", infos, task.PID())
	}
	if len(sawStdout) == 1 && sawStdout[0] != "" {
		t.Errorf("the task had printed %q before BeforeStart returned", sawStdout[0])
	}
	mu.Unlock()
	if err := task.Kill(context.Background()); err != nil {
		t.Fatal(err)
	}
	wait(t, task)
	for file := range limits {
		if _, err := os.Stat(filepath.Dir(file)); !os.IsNotExist(err) {
			t.Errorf("the task's cgroup %s is still there after it ended: %v", filepath.Dir(file), err)
		}
	}

	// An error from BeforeStart aborts the launch; nothing ran.
	refused := sh(t, `echo should not run`)
	refused.FrameworkID = "refused"
	_, err = rt.Launch(context.Background(), refused)
	if err == nil || !strings.Contains(err.Error(), "the isolator refuses this task") {
		t.Fatalf("Launch with a failing BeforeStart: %v, want its error", err)
	}
	if got := readLog(t, refused, "stdout"); got != "" {
		t.Errorf("the refused task ran: stdout %q", got)
	}
}

func TestRecoverAfterDetach(t *testing.T) {
	cfg := testConfig(t)
	a, err := container.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	spec := sh(t, `trap 'exit 143' TERM; i=0; while :; do echo "tick $i"; i=$((i+1)); sleep 0.05; done`)
	spec.FrameworkID = "fw-recover"
	task := launch(t, a, spec)
	short := sh(t, `sleep 0.5; echo done; exit 3`) // ends while no runtime follows it
	launch(t, a, short)
	waitForLog(t, spec, "stdout", "tick 2")
	pid, id := task.PID(), task.ContainerID()
	// Another agent's container, in the same namespace, is not ours.
	other := cfg
	other.AgentID = "another-agent"
	b := newRuntime(t, other)
	otherSpec := sh(t, `trap 'exit 143' TERM; sleep 3600 & wait`)
	otherTask := launch(t, b, otherSpec)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := a.Detach(ctx); err != nil {
		t.Fatalf("Detach: %v", err)
	}
	if _, err := task.Wait(ctx); !errors.Is(err, container.ErrDetached) {
		t.Fatalf("Wait after Detach: %v, want ErrDetached", err)
	}
	// The logs go on while no runtime follows the task.
	n := strings.Count(readLog(t, spec, "stdout"), "tick")
	waitForLog(t, spec, "stdout", "tick "+strconv.Itoa(n+3))
	waitForLog(t, short, "stdout", "done")

	c := newRuntime(t, cfg)
	tasks, err := c.Recover(ctx)
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if len(tasks) != 2 {
		t.Fatalf("Recover returned %d tasks, want the one still running and the one that ended meanwhile (not another agent's)", len(tasks))
	}
	// The one that ended while nobody followed it ends as it did.
	ended, ok := tasks[short.Ref()]
	if !ok {
		t.Fatalf("Recover did not return the ended %s: %v", short.TaskID, tasks)
	}
	if exit := wait(t, ended); exit.Outcome != runtime.Failed || exit.Code != 3 {
		t.Errorf("the task that ended during the detach: %+v, want failed with its exit code 3", exit)
	}
	got, ok := tasks[spec.Ref()].(*container.Task)
	if !ok {
		t.Fatalf("Recover did not return %s: %v", spec.TaskID, tasks)
	}
	if got.PID() != pid || got.ContainerID() != id {
		t.Errorf("recovered pid %d container %s, want the same process %d in %s", got.PID(), got.ContainerID(), pid, id)
	}
	if got.Labels()[container.LabelFrameworkID] != "fw-recover" || got.CgroupPath() != task.CgroupPath() {
		t.Errorf("recovered labels %v, cgroup %s", got.Labels(), got.CgroupPath())
	}
	if st, err := got.Stats(ctx); err != nil || st.MemoryBytes == 0 {
		t.Errorf("Stats of the recovered task: %+v, %v", st, err)
	}
	if err := got.Kill(ctx); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if exit := wait(t, got); exit.Outcome != runtime.Killed {
		t.Fatalf("exit = %+v, want killed", exit)
	}
	// The other agent's task was left alone.
	if exit, err := otherTask.Wait(contextFor(t, 50*time.Millisecond)); err == nil {
		t.Fatalf("another agent's task ended: %+v", exit)
	}
	if err := otherTask.Kill(ctx); err != nil {
		t.Fatal(err)
	}
}

func contextFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestBadInput(t *testing.T) {
	tar := busybox(t)
	dir := t.TempDir()
	write := func(name string, images ...ocilayout.Image) string {
		path := filepath.Join(dir, name)
		if _, err := ocilayout.WriteFile(path, images...); err != nil {
			t.Fatal(err)
		}
		return path
	}
	arm, err := ocilayout.Busybox("busybox:arm", otherArch())
	if err != nil {
		t.Fatal(err)
	}
	wrongArch := write("arm.tar", arm)
	garbage := filepath.Join(dir, "garbage.tar")
	if err := os.WriteFile(garbage, []byte("this is not a tarball at all\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.tar")
	whole, _ := os.ReadFile(tar)
	if err := os.WriteFile(truncated, whole[:len(whole)/2], 0o644); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct{ name, path, want string }{
		{"garbage", garbage, "importing image tarball"},
		{"truncated", truncated, "importing image tarball"},
		{"wrong architecture", wrongArch, "built for linux/" + otherArch()},
		{"missing file", filepath.Join(dir, "absent.tar"), "no such file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t)
			rt := newRuntime(t, cfg)
			err := rt.Prepare(context.Background(), "", c.path)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
				t.Fatalf("Prepare = %v, want an error naming %s and saying %q", err, c.path, c.want)
			}
			t.Log(err)
			containerdtest.AssertEmpty(t, shared.Get(t).Address, cfg.Namespace)
		})
	}

	t.Run("unknown image name", func(t *testing.T) {
		rt := newRuntime(t, testConfig(t))
		spec := sh(t, "true")
		spec.Image = "alpine:3"
		_, err := rt.Launch(context.Background(), spec)
		if err == nil || !strings.Contains(err.Error(), `"alpine:3"`) || !strings.Contains(err.Error(), "busybox:latest") {
			t.Fatalf("Launch = %v, want an error naming alpine:3 and listing busybox:latest", err)
		}
	})
	t.Run("several images", func(t *testing.T) {
		one, _ := ocilayout.Busybox("one:1", "")
		two, _ := ocilayout.Busybox("two:2", "")
		two.Cmd = []string{"echo", "I am two"}
		both := write("both.tar", one, two)
		rt := newRuntime(t, testConfig(t))
		spec := sh(t, "")
		spec.Artifact, spec.Args = both, nil
		if _, err := rt.Launch(context.Background(), spec); err == nil || !strings.Contains(err.Error(), "one:1, two:2") {
			t.Fatalf("Launch of an unnamed image of two = %v, want an error listing them", err)
		}
		spec.Image = "two:2"
		if exit := wait(t, launch(t, rt, spec)); exit.Outcome != runtime.Finished || readLog(t, spec, "stdout") != "I am two\n" {
			t.Fatalf("the image named two:2 ran %+v, stdout %q", exit, readLog(t, spec, "stdout"))
		}
	})
	t.Run("missing command", func(t *testing.T) {
		rt := newRuntime(t, testConfig(t))
		spec := sh(t, "")
		spec.Command = []string{"/bin/no-such-command"}
		_, err := rt.Launch(context.Background(), spec)
		if err == nil || !strings.Contains(err.Error(), "/bin/no-such-command") {
			t.Fatalf("Launch = %v, want an error naming the command", err)
		}
		t.Log(err)
	})
}

func otherArch() string {
	if goruntime.GOARCH == "arm64" {
		return "amd64"
	}
	return "arm64"
}

// TestSameNameInTwoTarballs: images are kept apart by tarball, whether
// named by org.opencontainers.image.ref.name or io.containerd.image.name.
func TestSameNameInTwoTarballs(t *testing.T) {
	rt := newRuntime(t, testConfig(t))
	dir := t.TempDir()
	for _, annotation := range []string{"org.opencontainers.image.ref.name", "io.containerd.image.name"} {
		var specs []runtime.Spec
		for _, word := range []string{"first", "second"} {
			img, err := ocilayout.Busybox("", "")
			if err != nil {
				t.Fatal(err)
			}
			img.Annotations = map[string]string{annotation: "docker.io/library/app:1"}
			img.Cmd = []string{"echo", word}
			path := filepath.Join(dir, word+strconv.Itoa(len(annotation))+".tar")
			if _, err := ocilayout.WriteFile(path, img); err != nil {
				t.Fatal(err)
			}
			if err := rt.Prepare(context.Background(), "", path); err != nil {
				t.Fatal(err)
			}
			spec := sh(t, "")
			spec.Artifact, spec.Args, spec.Image = path, nil, "docker.io/library/app:1"
			specs = append(specs, spec)
		}
		for i, spec := range specs {
			exit := wait(t, launch(t, rt, spec))
			want := []string{"first\n", "second\n"}[i]
			if got := readLog(t, spec, "stdout"); exit.Outcome != runtime.Finished || got != want {
				t.Errorf("%s: tarball %d ran %+v printing %q, want %q", annotation, i, exit, got, want)
			}
		}
	}
}

func TestPrepareImportsOnce(t *testing.T) {
	rt := newRuntime(t, testConfig(t))
	tar := busybox(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- rt.Prepare(context.Background(), "sha256:same", tar) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := container.Imports(rt); n != 1 {
		t.Errorf("8 concurrent Prepares of one digest made %d imports, want 1", n)
	}
}

func TestUnavailable(t *testing.T) {
	_, err := container.New(context.Background(), container.Config{Address: filepath.Join(t.TempDir(), "no.sock")})
	if !errors.Is(err, container.ErrUnavailable) || !strings.Contains(err.Error(), "no.sock") {
		t.Fatalf("New on a missing socket = %v, want ErrUnavailable naming the socket", err)
	}
	t.Log(err)
}
