package main_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/pandodc/pando/actors/election/consultest"
	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/frameworks/cron"
	"github.com/pandodc/pando/sdk/client"
)

// TestCronMasterFailover runs a 2 s schedule on the built-in cron framework
// of the leading master of two (Consul), SIGKILLs the leader mid-schedule,
// and finds the new leader's cron framework carrying on from the jobs it
// keeps in Consul: the same framework, every slot run once.
func TestCronMasterFailover(t *testing.T) {
	skipIfShort(t)
	t.Parallel()
	consul := consultest.Start(t)
	bin := buildPando(t)
	l := newLab(t)
	masters := startHAMasters(l, bin, consul.Addr, 2)
	first, _ := leaderAmong(l, masters, 60*time.Second)
	l.start("pando agent", bin, "agent", "--master", masters[0].url+","+masters[1].url, "--hostname", "agent-1",
		"--http", freeAddr(t), "--remoting", freeAddr(t), "--work-dir", t.TempDir(), "--resources", "cpus:2;mem:1GiB", "--log-level", "info")
	waitAgents(l, first, 1)
	l.waitBuiltins(first.url) // started once the master leads
	at := func(m *haMaster) *cronDev {
		c, err := client.New(m.url)
		if err != nil {
			t.Fatal(err)
		}
		return &cronDev{cluster: &cluster{lab: l, bin: bin, url: m.url, c: c}, dir: t.TempDir()}
	}
	d := at(first)
	hello := d.upload(wasmbuild.MustBuild(t, "hello"))
	start := time.Now().Truncate(time.Second).Add(2 * time.Second)
	if r := d.add(fmt.Sprintf(`{"name": "tick", "schedule": "R/%s/PT2S", "epsilon": "PT60S", "module": %q, "mem": 32}`, rfc3339(start), hello)); r.code != 0 {
		d.fatalf("pando cron add: exit %d, %s", r.code, r.stderr)
	}
	d.waitFor(30*time.Second, "two runs on the first leader", func() (bool, string) {
		j := d.jobs()["tick"]
		return j.SuccessCount >= 2, fmt.Sprintf("%+v", j.Status)
	})
	first.proc.kill()
	second, _ := leaderAmong(l, masters, 30*time.Second)
	d = at(second)
	back := time.Now()
	d.waitFor(40*time.Second, "two runs of slots after the failover", func() (bool, string) {
		v, err := call(func(ctx context.Context) (cron.JobView, error) {
			var v cron.JobView // the new leader's cron may not serve yet
			return v, d.c.Do(ctx, http.MethodGet, "/api/v1/cron/v1/scheduler/job/tick", nil, &v)
		})
		n := 0
		for _, r := range v.History {
			if r.Slot.After(back) && r.State == cron.RunSucceeded {
				n++
			}
		}
		return n >= 2, fmt.Sprintf("%+v %v", v.Status, err)
	})
	j := d.job("tick")
	runs := append(j.History, j.Active...)
	seen := map[int64]int{}
	for _, r := range runs {
		seen[r.Slot.UnixMilli()]++
		if r.State == cron.RunFailed || r.State == cron.RunSkipped {
			t.Errorf("run %+v, want none failed or skipped", r)
		}
	}
	last := runs[len(runs)-1].Slot
	for slot := start; !slot.After(last); slot = slot.Add(2 * time.Second) {
		if seen[slot.UnixMilli()] != 1 {
			t.Errorf("slot %s accounted for %d times, want once", slot.Format(time.TimeOnly), seen[slot.UnixMilli()])
		}
	}
	tasks, err := d.tasks(url.Values{"all": {"1"}, "prefix": {"cron.tick."}})
	if err != nil {
		t.Fatal(err)
	}
	fws := map[string]bool{}
	for _, task := range tasks {
		fws[task.FrameworkID] = true
	}
	if len(fws) != 1 {
		t.Errorf("the new leader's cron tasks belong to frameworks %v, want one", fws)
	}
	t.Logf("%d slots from %s to %s, each once; %d tasks known to the new leader", len(seen), start.Format(time.TimeOnly), last.Format(time.TimeOnly), len(tasks))
}
