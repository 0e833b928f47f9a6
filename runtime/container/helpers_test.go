package container_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pandodc/pando/runtime"
	"github.com/pandodc/pando/runtime/container"
	"github.com/pandodc/pando/runtime/container/containerdtest"
	"github.com/pandodc/pando/runtime/container/ocilayout"
)

var shared containerdtest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Stop()
	os.RemoveAll(imagesDir)
	os.Exit(code)
}

var (
	imagesOnce sync.Once
	imagesDir  string
	busyboxTar string
	imagesErr  error
)

// busybox is the path of a busybox image tarball ("busybox:latest"), made
// once for the package.
func busybox(t testing.TB) string {
	t.Helper()
	imagesOnce.Do(func() {
		imagesDir, imagesErr = os.MkdirTemp("", "pando-images-")
		if imagesErr != nil {
			return
		}
		img, err := ocilayout.Busybox("busybox:latest", "")
		if err != nil {
			imagesErr = err
			return
		}
		busyboxTar = filepath.Join(imagesDir, "busybox.tar")
		_, imagesErr = ocilayout.WriteFile(busyboxTar, img)
	})
	if imagesErr != nil {
		t.Fatal(imagesErr)
	}
	return busyboxTar
}

func token() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// testConfig is a Config for a fresh namespace and agent of the shared daemon.
func testConfig(t testing.TB) container.Config {
	d := shared.Get(t)
	return container.Config{
		Address:          d.Address,
		Namespace:        "test-" + token(),
		AgentID:          "agent-" + token(),
		DefaultKillGrace: 2 * time.Second,
	}
}

// newRuntime is a runtime on cfg, closed at the end of the test, which then
// checks that its namespace holds nothing of any task.
func newRuntime(t testing.TB, cfg container.Config) *container.Runtime {
	t.Helper()
	rt, err := container.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := rt.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		containerdtest.AssertNoTasks(t, shared.Get(t).Address, cfg.Namespace)
	})
	return rt
}

// sh is a spec running script with busybox's sh.
func sh(t testing.TB, script string) runtime.Spec {
	return runtime.Spec{
		TaskID:   "task-" + token(),
		Sandbox:  t.TempDir(),
		Artifact: busybox(t),
		Args:     []string{"sh", "-c", script},
	}
}

func launch(t testing.TB, rt runtime.Runtime, spec runtime.Spec) *container.Task {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	task, err := rt.Launch(ctx, spec)
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	return task.(*container.Task)
}

func wait(t testing.TB, task runtime.Task) runtime.Exit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	exit, err := task.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return exit
}

func readLog(t testing.TB, spec runtime.Spec, name string) string {
	b, err := os.ReadFile(filepath.Join(spec.Sandbox, name))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// waitForLog waits until the task's log contains want.
func waitForLog(t testing.TB, spec runtime.Spec, name, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(readLog(t, spec, name), want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the task's %s did not show %q within 30s; it holds %q", name, want, readLog(t, spec, name))
}
