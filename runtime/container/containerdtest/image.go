package containerdtest

import (
	"path/filepath"
	"testing"

	"github.com/pandodc/pando/runtime/container/ocilayout"
)

// BusyboxTarball writes an OCI image tarball of busybox ("busybox:latest",
// for this machine's architecture) into a temp dir of t and returns its path.
func BusyboxTarball(t testing.TB) string {
	t.Helper()
	img, err := ocilayout.Busybox("busybox:latest", "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "busybox.tar")
	if _, err := ocilayout.WriteFile(path, img); err != nil {
		t.Fatal(err)
	}
	return path
}
