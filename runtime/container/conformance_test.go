package container_test

import (
	"sync"
	"testing"

	"github.com/pandodc/pando/runtime"
	"github.com/pandodc/pando/runtime/container"
	"github.com/pandodc/pando/runtime/runtimetest"
)

// Busybox scripts that behave as runtimetest.Artifacts says. The ones that
// run until killed trap SIGTERM (a container's init ignores it otherwise),
// so that Kill ends them at once rather than after the kill grace.
const (
	helloScript = `echo "hello from instance $PANDO_INSTANCE of task $PANDO_TASK_ID"`
	failScript  = `echo "fail: failing on purpose with exit code 3" >&2; exit 3`
	spinScript  = `trap 'exit 143' TERM; echo spinning; while :; do :; done`
	sleepScript = `trap 'exit 143' TERM; echo sleeping; sleep 3600 & wait`
	// dd reads into one buffer of 1GiB, touching all of it.
	hogScript    = `dd if=/dev/zero of=/dev/null bs=1024M count=1`
	escapeScript = `for a in "$@"; do
  case "$a" in
  symlink:*)
    spec=${a#symlink:}; target=${spec%%=*}; link=${spec#*=}
    if err=$(ln -s "$target" "$link" 2>&1); then echo "$a: made"; else echo "$a: denied: $err"; fi ;;
  *)
    if c=$(cat "$a" 2>&1); then echo "$a: read: $c"; else echo "$a: denied: $c"; fi ;;
  esac
done`
)

func TestConformance(t *testing.T) {
	tar := busybox(t)
	art := func(script string, args ...string) runtimetest.Artifact {
		return runtimetest.Artifact{Path: tar, Args: append([]string{"sh", "-c", script}, args...)}
	}
	// One namespace and agent per test case: the Recover case's second
	// runtime must be the same agent as its first.
	var mu sync.Mutex
	configs := map[string]container.Config{}
	runtimetest.Run(t, func(t *testing.T) runtime.Runtime {
		mu.Lock()
		cfg, ok := configs[t.Name()]
		if !ok {
			cfg = testConfig(t)
			configs[t.Name()] = cfg
		}
		mu.Unlock()
		return newRuntime(t, cfg)
	}, runtimetest.Artifacts{
		Hello:        art(helloScript),
		Fail:         art(failScript),
		Spin:         art(spinScript),
		Sleep:        art(sleepScript),
		Hog:          art(hogScript),
		Escape:       art(escapeScript, "escape"),
		SandboxMount: container.SandboxMount,
		Parallel:     20,
	})
}
