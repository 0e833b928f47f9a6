package main_test

import (
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/sdk/client"
)

// TestFrameworkFailover runs a framework process (cmd/pando/testdata/keeper)
// that launches two long tasks once. Killed with SIGKILL and started again
// within its failover timeout, it is the same framework and its tasks run
// on, none launched again; a framework that stays away longer than its
// failover timeout has its tasks killed.
func TestFrameworkFailover(t *testing.T) {
	skipIfShort(t)
	bin := buildPando(t)
	keeper := goBuild(t, "keeper", "./testdata/keeper")
	cl := startCluster(t, bin, []string{"cpus:2;mem:1GiB"})
	module := cl.upload(wasmbuild.MustBuild(t, "sleep"))

	tasksOf := func(fw string) []client.Task {
		tasks, err := cl.tasks(url.Values{"framework": {fw}, "all": {"1"}})
		if err != nil {
			cl.fatalf("tasks of %s: %v", fw, err)
		}
		return tasks
	}
	running := func(fw string) (bool, string) {
		tasks := tasksOf(fw)
		var ids []string
		for _, task := range tasks {
			if task.State == "TASK_RUNNING" {
				ids = append(ids, task.ID)
			}
		}
		slices.Sort(ids)
		return len(tasks) == 2 && strings.Join(ids, ",") == "keep-1,keep-2", fmt.Sprintf("%+v", tasks)
	}
	frameworkID := func(p *proc) string {
		var id string
		cl.waitFor(30*time.Second, p.name+" to subscribe", func() (bool, string) {
			for _, line := range strings.Split(p.out.String(), "\n") {
				if rest, ok := strings.CutPrefix(line, "subscribed as "); ok {
					id = rest
				}
			}
			return id != "", p.out.String()
		})
		return id
	}
	start := func(name, state, failover string) *proc {
		return cl.start(name, keeper, "--master", cl.url, "--module", module, "--n", "2",
			"--state", state, "--failover", failover)
	}

	// Back within the failover timeout: the same framework, the same tasks.
	state := filepath.Join(t.TempDir(), "keeper.db")
	first := start("keeper", state, "1m")
	id := frameworkID(first)
	cl.waitFor(30*time.Second, "keeper's two tasks RUNNING", func() (bool, string) { return running(id) })
	first.kill()
	again := start("keeper again", state, "1m")
	if got := frameworkID(again); got != id {
		t.Fatalf("the restarted framework subscribed as %s, want its old id %s", got, id)
	}
	cl.waitFor(10*time.Second, "the framework connected again", func() (bool, string) {
		fws, err := call(cl.c.Frameworks)
		if err != nil {
			return false, err.Error()
		}
		for _, f := range fws {
			if f.ID == id {
				return f.Connected, fmt.Sprintf("%+v", f)
			}
		}
		return false, fmt.Sprintf("%+v", fws)
	})
	time.Sleep(time.Second) // time for a wrong relaunch to show
	if ok, seen := running(id); !ok {
		t.Errorf("after the failover: %s; want keep-1 and keep-2 still RUNNING, nothing new", seen)
	}

	// Away longer than its failover timeout: its tasks are killed.
	short := start("short keeper", filepath.Join(t.TempDir(), "short.db"), "2s")
	shortID := frameworkID(short)
	cl.waitFor(30*time.Second, "the short keeper's tasks RUNNING", func() (bool, string) { return running(shortID) })
	short.kill()
	cl.waitFor(30*time.Second, "the short keeper's tasks killed after its failover timeout", func() (bool, string) {
		tasks := tasksOf(shortID)
		killed := 0
		for _, task := range tasks {
			if task.State == "TASK_KILLED" {
				killed++
			}
		}
		return killed == 2, fmt.Sprintf("%+v", tasks)
	})
	if ok, seen := running(id); !ok {
		t.Errorf("the other framework's tasks: %s; want them untouched", seen)
	}
}
