package daemon_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/pandodc/pando/runtime/container/containerdtest"
	"github.com/pandodc/pando/runtime/container/daemon"
	"github.com/pandodc/pando/runtime/container/ocilayout"
)

// TestStartServesAndStopEndsIt: the daemon serves tasks, and Stop leaves
// neither it nor a task's shim running.
func TestStartServesAndStopEndsIt(t *testing.T) {
	start := time.Now()
	d := containerdtest.Start(t)
	t.Logf("containerd serving after %s", time.Since(start))
	c, err := containerd.New(d.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), "daemon-test"), time.Minute)
	defer cancel()
	v, err := c.Version(ctx)
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	t.Logf("containerd %s", v.Version)

	img, err := ocilayout.Busybox("busybox:latest", "")
	if err != nil {
		t.Fatal(err)
	}
	tar := filepath.Join(t.TempDir(), "busybox.tar")
	if _, err := ocilayout.WriteFile(tar, img); err != nil {
		t.Fatal(err)
	}
	image := importImage(t, ctx, c, tar)
	ctr, err := c.NewContainer(ctx, "sleeper", containerd.WithNewSnapshot("sleeper", image),
		containerd.WithNewSpec(oci.WithImageConfig(image), oci.WithProcessArgs("sleep", "3600")))
	if err != nil {
		t.Fatal(err)
	}
	task, err := ctr.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}

	if err := d.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := d.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	for _, pattern := range []string{"containerd --config " + d.Dir, "containerd-shim-runc-v2 .*-address " + d.Address} {
		if out, err := exec.Command("pgrep", "-af", pattern).CombinedOutput(); err == nil {
			t.Errorf("still running after Stop: %s", out)
		}
	}
}

func importImage(t *testing.T, ctx context.Context, c *containerd.Client, tar string) containerd.Image {
	t.Helper()
	f, err := os.Open(tar)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	imgs, err := c.Import(ctx, f)
	if err != nil || len(imgs) != 1 {
		t.Fatalf("Import: %v (%d images)", err, len(imgs))
	}
	image := containerd.NewImage(c, imgs[0])
	if err := image.Unpack(ctx, "overlayfs"); err != nil {
		t.Fatal(err)
	}
	return image
}

// TestLongDirectory: a directory too deep for a unix socket inside it still
// gets a daemon, its socket elsewhere.
func TestLongDirectory(t *testing.T) {
	containerdtest.Require(t)
	dir := filepath.Join(t.TempDir(), strings.Repeat("a-long-directory-name/", 5))
	d, err := daemon.Start(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	if len(d.Address) > 100 || strings.HasPrefix(d.Address, dir) {
		t.Errorf("socket %s: want one short enough, outside %s", d.Address, dir)
	}
	c, err := containerd.New(d.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Version(context.Background()); err != nil {
		t.Fatalf("Version: %v", err)
	}
}
