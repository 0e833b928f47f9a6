package batch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/sdk/client"
)

func digestOf(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

func TestInputsAndEachReachTheTasks(t *testing.T) {
	f, d := newFW(t, newMemStore(), nil)
	data, a, b := digestOf('d'), digestOf('a'), digestOf('b')
	job := submit(t, f, JobSpec{
		Inputs: []Input{{Digest: data, Path: "/input/data.csv"}},
		Each:   []Input{{Digest: a, Name: "in/a.txt"}, {Digest: b, Name: "in/b.txt"}},
	})
	if job.Instances != 2 {
		t.Fatalf("a job with two Each inputs has %d instances, want 2", job.Instances)
	}
	f.onOffers(d, []*kernelpb.Offer{offer("o1", "a1", "cpus:1;mem:1GiB")})
	tasks := d.accepts[0].tasks
	for i, want := range []string{a, b} {
		in := tasks[i].GetInputs()
		if len(in) != 2 || in[0].GetDigest() != data || in[0].GetPath() != "/input/data.csv" || in[1].GetDigest() != want || in[1].GetPath() != EachPath {
			t.Errorf("task %d inputs %v", i, in)
		}
		if name := tasks[i].GetEnv()[EnvInputName]; name != []string{"in/a.txt", "in/b.txt"}[i] {
			t.Errorf("task %d %s=%q", i, EnvInputName, name)
		}
	}
	st := status("job-1.1.0", kernelpb.TaskState_TASK_FAILED)
	f.onUpdate(d, st)
	if fails := mustJob(t, f, "job-1").Failures; len(fails) != 1 || fails[0].Input != "in/b.txt" {
		t.Errorf("failures %+v, want the failure of in/b.txt", fails)
	}
}

func TestBadInputsAreRefused(t *testing.T) {
	f, _ := newFW(t, newMemStore(), nil)
	cases := []struct {
		spec JobSpec
		want string
	}{
		{JobSpec{Instances: 1, Inputs: []Input{{Digest: digestOf('d'), Path: "/etc/x"}}}, "under /input/"},
		{JobSpec{Instances: 1, Inputs: []Input{{Digest: "sha256:x", Path: "/input/x"}}}, "input /input/x"},
		{JobSpec{Instances: 1, Inputs: []Input{{Digest: digestOf('d'), Path: "/input/x"}, {Digest: digestOf('e'), Path: "/input/x"}}}, "two inputs at /input/x"},
		{JobSpec{Instances: 3, Each: []Input{{Digest: digestOf('a')}}}, "instances is 3 but each names 1"},
		{JobSpec{Each: []Input{{Digest: digestOf('a')}}, Inputs: []Input{{Digest: digestOf('d'), Path: EachPath}}}, "where each instance sees its own"},
	}
	for _, tc := range cases {
		tc.spec.Module = module
		_, err := f.Submit(context.Background(), tc.spec)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want ErrInvalid saying %q", tc.spec, err, tc.want)
		}
	}
}

// fakeLeaser records leases as the master would keep them.
type fakeLeaser struct {
	mu      sync.Mutex
	held    map[string][]string
	missing string // a digest the master does not hold
}

func (l *fakeLeaser) LeaseArtifacts(_ context.Context, holder string, digests []string, _ time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if slices.Contains(digests, l.missing) {
		return &client.APIError{Status: http.StatusNotFound, Message: fmt.Sprintf("%s: artifact not found: upload it first", l.missing)}
	}
	l.held[holder] = digests
	return nil
}

func (l *fakeLeaser) ReleaseArtifacts(_ context.Context, holder string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.held, holder)
	return nil
}

func (l *fakeLeaser) holding(holder string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held[holder]
}

func TestJobsLeaseTheirArtifactsUntilTheyEnd(t *testing.T) {
	leases := &fakeLeaser{held: map[string][]string{}, missing: digestOf('9')}
	f, err := New(Config{Store: newMemStore(), PersistInterval: time.Hour, Leases: leases})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	d := &fakeDriver{}
	f.onSubscribed(d, "fw-1", false)

	if _, err := f.Submit(context.Background(), JobSpec{Module: digestOf('9'), Instances: 1}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "upload it first") {
		t.Fatalf("a job naming a module the master lacks: %v, want ErrInvalid", err)
	}
	if _, ok := f.Job("job-1"); ok {
		t.Error("a refused job was kept")
	}
	job := submit(t, f, JobSpec{Instances: 1, Inputs: []Input{{Digest: digestOf('d'), Path: "/input/d"}}})
	holder := "batch/batch/" + job.ID
	if got := leases.holding(holder); !slices.Equal(got, []string{module, digestOf('d')}) {
		t.Fatalf("lease of %s holds %v, want the module and the input", holder, got)
	}
	f.onOffers(d, []*kernelpb.Offer{offer("o1", "a1", "cpus:1;mem:1GiB")})
	f.onUpdate(d, status(job.ID+".0.0", kernelpb.TaskState_TASK_FINISHED))
	deadline := time.Now().Add(5 * time.Second)
	for leases.holding(holder) != nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := leases.holding(holder); got != nil {
		t.Errorf("the ended job still holds %v", got)
	}
}
