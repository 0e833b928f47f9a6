package container_test

import (
	"strconv"
	"testing"

	"github.com/pandodc/pando/runtime"
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
		spec := sh(t, "exit "+itoa(code))
		exit := wait(t, launch(t, rt, spec))
		if exit.Outcome != runtime.Failed || exit.Cause != runtime.CauseExitNonZero || exit.Code != code {
			t.Errorf("exit %d: got %+v", code, exit)
		}
		if want := "exited with code " + itoa(code); exit.Message != want {
			t.Errorf("exit %d: message %q, want %q", code, exit.Message, want)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
