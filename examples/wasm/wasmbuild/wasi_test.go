package wasmbuild_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pandodc/pando/examples/wasm/wasmbuild"
)

// A probe whose toolchain is not on PATH is ErrNoToolchain, saying what to
// install, so that tests skip it (or fail under CI=true) with the reason.
func TestBuildProbeWithoutToolchain(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for probe, want := range map[string]string{"c": "clang", "wat": "wat2wasm", "assemblyscript": "node"} {
		_, err := wasmbuild.BuildProbe(context.Background(), probe)
		if !errors.Is(err, wasmbuild.ErrNoToolchain) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "install") {
			t.Errorf("BuildProbe(%q) with an empty PATH = %v, want ErrNoToolchain naming %s and how to install it", probe, err, want)
		}
	}
}

func TestBuildProbeUnknown(t *testing.T) {
	_, err := wasmbuild.BuildProbe(context.Background(), "cobol")
	if err == nil || errors.Is(err, wasmbuild.ErrNoToolchain) || !strings.Contains(err.Error(), "wat") {
		t.Fatalf("BuildProbe(cobol) = %v, want an error listing the probes", err)
	}
}
