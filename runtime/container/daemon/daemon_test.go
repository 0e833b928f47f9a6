package daemon_test

import (
	"context"
	"os/exec"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"

	"github.com/pandodc/pando/runtime/container/containerdtest"
)

func TestStartServesAndStopEndsIt(t *testing.T) {
	start := time.Now()
	d := containerdtest.Start(t)
	t.Logf("containerd serving after %s", time.Since(start))
	c, err := containerd.New(d.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	v, err := c.Version(context.Background())
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	t.Logf("containerd %s", v.Version)
	if err := d.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := d.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if out, err := exec.Command("pgrep", "-f", "containerd --config "+d.Dir).CombinedOutput(); err == nil {
		t.Fatalf("containerd still running after Stop: %s", out)
	}
}
