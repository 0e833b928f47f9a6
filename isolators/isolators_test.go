package isolators_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/pandodc/pando/isolators"
	"github.com/pandodc/pando/runtime"
)

// fake records what is done to it, in log.
type fake struct {
	name   string
	fail   error
	log    *[]string
	detach error
}

func (f *fake) Name() string          { return f.name }
func (f *fake) Unavailable() []string { return []string{f.name + ": nothing"} }
func (f *fake) Close() error          { *f.log = append(*f.log, "close "+f.name); return nil }
func (f *fake) Attach(ctx context.Context, t isolators.Target) (isolators.Handle, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	*f.log = append(*f.log, "attach "+f.name)
	return fakeHandle{f}, nil
}

type fakeHandle struct{ f *fake }

func (h fakeHandle) Usage(ctx context.Context, s *runtime.Stats) error {
	if h.f.name == "cpu" {
		s.CPUTime = 7
	} else {
		s.NetTxBytes = 9
	}
	return nil
}

func (h fakeHandle) Detach() error {
	*h.f.log = append(*h.f.log, "detach "+h.f.name)
	return h.f.detach
}

func TestAll(t *testing.T) {
	var log []string
	all := isolators.All(&fake{name: "cpu", log: &log}, &fake{name: "net", log: &log})
	if all.Name() != "cpu+net" {
		t.Errorf("name %q", all.Name())
	}
	if u := all.Unavailable(); !reflect.DeepEqual(u, []string{"cpu: nothing", "net: nothing"}) {
		t.Errorf("unavailable %q", u)
	}
	h, err := all.Attach(context.Background(), isolators.Target{TaskID: "t1", PID: 1, CgroupPath: "/pando/t1"})
	if err != nil {
		t.Fatal(err)
	}
	var s runtime.Stats
	if err := h.Usage(context.Background(), &s); err != nil || s.CPUTime != 7 || s.NetTxBytes != 9 {
		t.Errorf("usage %+v, %v: want both isolators' fields", s, err)
	}
	if err := errors.Join(h.Detach(), all.Close()); err != nil {
		t.Fatal(err)
	}
	want := []string{"attach cpu", "attach net", "detach net", "detach cpu", "close cpu", "close net"}
	if !reflect.DeepEqual(log, want) {
		t.Errorf("log %q, want %q", log, want)
	}
}

func TestAllDetachesWhatAttachedWhenOneFails(t *testing.T) {
	var log []string
	refused := &isolators.NotSupportedError{What: "net", Reason: "eBPF unavailable: no permission"}
	all := isolators.All(&fake{name: "cpu", log: &log}, &fake{name: "net", log: &log, fail: refused})
	_, err := all.Attach(context.Background(), isolators.Target{TaskID: "t1", PID: 1, CgroupPath: "/pando/t1"})
	if !errors.Is(err, isolators.ErrNotSupported) {
		t.Fatalf("error %v, want the net isolator's", err)
	}
	if want := []string{"attach cpu", "detach cpu"}; !reflect.DeepEqual(log, want) {
		t.Errorf("log %q, want %q", log, want)
	}
}

func TestUnavailable(t *testing.T) {
	err := fmt.Errorf("starting the agent: %w", &isolators.NotSupportedError{What: "net", Reason: "eBPF unavailable: no cgroup v2 hierarchy is mounted"})
	if r, ok := isolators.Unavailable(err); !ok || r != "net: eBPF unavailable: no cgroup v2 hierarchy is mounted" {
		t.Errorf("Unavailable = %q, %v", r, ok)
	}
	for _, err := range []error{nil, errors.New("disk on fire")} {
		if r, ok := isolators.Unavailable(err); ok {
			t.Errorf("Unavailable(%v) = %q, true", err, r)
		}
	}
}
