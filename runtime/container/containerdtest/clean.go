package containerdtest

import (
	"context"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
)

// Leftovers lists what a namespace of the daemon at address holds of tasks
// and failed imports: containers, tasks, leases, active snapshots (a
// container's root filesystem), and, when imagesToo, images and any
// snapshot or content at all.
func Leftovers(ctx context.Context, address, namespace string, imagesToo bool) ([]string, error) {
	c, err := containerd.New(address, containerd.WithDefaultNamespace(namespace))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctx = namespaces.WithNamespace(ctx, namespace)
	var left []string
	ctrs, err := c.Containers(ctx)
	if err != nil {
		return nil, err
	}
	for _, ctr := range ctrs {
		left = append(left, "container "+ctr.ID())
	}
	tasks, err := c.TaskService().List(ctx, nil)
	if err != nil {
		return nil, err
	}
	for _, task := range tasks.GetTasks() {
		left = append(left, "task "+task.GetID())
	}
	ls, err := c.LeasesService().List(ctx)
	if err != nil {
		return nil, err
	}
	for _, l := range ls {
		left = append(left, "lease "+l.ID)
	}
	err = c.SnapshotService("overlayfs").Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		if imagesToo || info.Kind != snapshots.KindCommitted {
			left = append(left, "snapshot "+info.Name+" ("+info.Kind.String()+")")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if imagesToo {
		imgs, err := c.ImageService().List(ctx)
		if err != nil {
			return nil, err
		}
		for _, img := range imgs {
			left = append(left, "image "+img.Name)
		}
		// Content goes with containerd's collector: give it a second.
		var blobs []string
		for range 50 {
			blobs = blobs[:0]
			err = c.ContentStore().Walk(ctx, func(info content.Info) error {
				blobs = append(blobs, "content "+info.Digest.String())
				return nil
			})
			if err != nil {
				return nil, err
			}
			if len(blobs) == 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		left = append(left, blobs...)
	}
	return left, nil
}

// AssertNoTasks fails t if the namespace holds containers, tasks, leases or
// active snapshots.
func AssertNoTasks(t testing.TB, address, namespace string) {
	t.Helper()
	assertClean(t, address, namespace, false)
}

// AssertEmpty fails t if the namespace holds anything: no images, content or
// snapshots either (after a failed import).
func AssertEmpty(t testing.TB, address, namespace string) {
	t.Helper()
	assertClean(t, address, namespace, true)
}

func assertClean(t testing.TB, address, namespace string, imagesToo bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	left, err := Leftovers(ctx, address, namespace, imagesToo)
	if err != nil {
		t.Errorf("listing what containerd holds in namespace %s: %v", namespace, err)
		return
	}
	for _, l := range left {
		t.Errorf("containerd namespace %s still holds %s", namespace, l)
	}
}
