package healthcheck

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
)

var t0 = time.Unix(1_000_000, 0)

// step is one check of a scenario: when it runs (offset from t0), whether
// it passes, and the outcome wanted.
type step struct {
	at     time.Duration
	pass   bool
	report bool // a change of health is reported
	kill   bool
}

func TestSchedule(t *testing.T) {
	refused := errors.New("connection refused")
	cases := []struct {
		name  string
		check *kernelpb.HealthCheck
		steps []step
	}{
		{"first result is reported, a repeat is not", &kernelpb.HealthCheck{IntervalMs: 100},
			[]step{{0, true, true, false}, {100 * time.Millisecond, true, false, false}, {200 * time.Millisecond, false, true, false}, {300 * time.Millisecond, false, false, false}, {400 * time.Millisecond, true, true, false}}},
		{"failures during the grace period count for nothing", &kernelpb.HealthCheck{GracePeriodMs: 1000, MaxConsecutiveFailures: 2},
			[]step{{0, false, false, false}, {500 * time.Millisecond, false, false, false}, {999 * time.Millisecond, false, false, false}, {time.Second, false, true, false}, {1100 * time.Millisecond, false, false, true}}},
		{"healthy once ends the grace period", &kernelpb.HealthCheck{GracePeriodMs: 10_000, MaxConsecutiveFailures: 2},
			[]step{{0, true, true, false}, {time.Second, false, true, false}, {2 * time.Second, false, false, true}}},
		{"a pass resets the count", &kernelpb.HealthCheck{MaxConsecutiveFailures: 3},
			[]step{{0, false, true, false}, {1, false, false, false}, {2, true, true, false}, {3, false, true, false}, {4, false, false, false}, {5, false, false, true}}},
		{"0 failures allowed never kills", &kernelpb.HealthCheck{},
			[]step{{0, false, true, false}, {1, false, false, false}, {2, false, false, false}, {3, false, false, false}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewSchedule(c.check, t0)
			for i, st := range c.steps {
				var err error
				if !st.pass {
					err = refused
				}
				out := s.Record(t0.Add(st.at), err)
				if out.Report != st.report || out.Kill != st.kill || (out.Report && out.Healthy != st.pass) {
					t.Fatalf("check %d at +%v (pass=%v): %+v, want report=%v kill=%v", i, st.at, st.pass, out, st.report, st.kill)
				}
			}
		})
	}
}

func TestScheduleTimes(t *testing.T) {
	s := NewSchedule(&kernelpb.HealthCheck{DelayMs: 300, IntervalMs: 50}, t0)
	if got := s.Next(); !got.Equal(t0.Add(300 * time.Millisecond)) {
		t.Errorf("first check at %v, want the delay after the start", got.Sub(t0))
	}
	s.Record(t0.Add(310*time.Millisecond), nil)
	if got := s.Next(); !got.Equal(t0.Add(360 * time.Millisecond)) {
		t.Errorf("next check at %v, want the interval after the last one ended", got.Sub(t0))
	}
	if s.Timeout() != DefaultTimeout {
		t.Errorf("timeout %v, want the default %v", s.Timeout(), DefaultTimeout)
	}
	d := NewSchedule(&kernelpb.HealthCheck{}, t0)
	d.Record(t0, nil)
	if got := d.Next(); !got.Equal(t0.Add(DefaultInterval)) {
		t.Errorf("default interval %v, want %v", got.Sub(t0), DefaultInterval)
	}
}

func TestKillMessageNamesTheCheck(t *testing.T) {
	s := NewSchedule(&kernelpb.HealthCheck{Type: kernelpb.HealthCheck_HTTP, Port: 31002, Path: "health", MaxConsecutiveFailures: 3}, t0)
	var out Outcome
	for i := range 3 {
		out = s.Record(t0.Add(time.Duration(i)*time.Second), errors.New("connection refused"))
	}
	if want := "HTTP GET :31002/health failed 3 times in a row: connection refused"; !out.Kill || out.Message != want {
		t.Errorf("after 3 failures: %+v, want a kill saying %q", out, want)
	}
	for c, want := range map[*kernelpb.HealthCheck]string{
		{Type: kernelpb.HealthCheck_TCP, Port: 8080}:                          "TCP :8080",
		{Type: kernelpb.HealthCheck_HTTP, Port: 80}:                           "HTTP GET :80/",
		{Type: kernelpb.HealthCheck_COMMAND, Command: []string{"pg_isready"}}: `COMMAND ["pg_isready"]`,
	} {
		if got := Describe(c); got != want {
			t.Errorf("Describe = %q, want %q", got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	wasm := func(hc *kernelpb.HealthCheck) *kernelpb.TaskInfo {
		return &kernelpb.TaskInfo{Runtime: &kernelpb.TaskInfo_Wasm{Wasm: &kernelpb.WasmTask{}}, HealthCheck: hc}
	}
	container := &kernelpb.TaskInfo{Runtime: &kernelpb.TaskInfo_Container{Container: &kernelpb.ContainerTask{}},
		HealthCheck: &kernelpb.HealthCheck{Type: kernelpb.HealthCheck_COMMAND, Command: []string{"true"}}}
	ports := []uint16{31000, 31001}
	for _, c := range []struct {
		task *kernelpb.TaskInfo
		want string // "" valid
	}{
		{wasm(nil), ""},
		{wasm(&kernelpb.HealthCheck{Type: kernelpb.HealthCheck_HTTP, Port: 31001}), ""},
		{container, ""},
		{wasm(&kernelpb.HealthCheck{Type: kernelpb.HealthCheck_TCP, Port: 8080}), "port 8080 is not one of the task's ports ([31000 31001])"},
		{wasm(&kernelpb.HealthCheck{Type: kernelpb.HealthCheck_HTTP}), "has no port"},
		{wasm(&kernelpb.HealthCheck{Type: kernelpb.HealthCheck_COMMAND, Command: []string{"true"}}), "a WASM task cannot have a COMMAND health check"},
		{wasm(&kernelpb.HealthCheck{Type: kernelpb.HealthCheck_COMMAND}), "has no command"},
		{wasm(&kernelpb.HealthCheck{Type: kernelpb.HealthCheck_TCP, Port: 31000, IntervalMs: -1}), "cannot be negative"},
		{wasm(&kernelpb.HealthCheck{Type: 7}), "unknown"},
	} {
		err := Validate(c.task, ports)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("Validate(%v) = %v, want %q", c.task.GetHealthCheck(), err, c.want)
		}
	}
}

func TestPorts(t *testing.T) {
	got, err := Ports(resources.MustParse("cpus:1;ports:[31000-31002,40000]"))
	if err != nil || fmt.Sprint(got) != "[31000 31001 31002 40000]" {
		t.Errorf("Ports = %v, %v; want the four ports, lowest first", got, err)
	}
	if _, err := Ports(resources.MustParse("ports:[1000-2000]")); err == nil || !strings.Contains(err.Error(), "more than 100 ports") {
		t.Errorf("1001 ports: %v, want refused", err)
	}
	if _, err := Ports(resources.MustParse("ports:[70000]")); err == nil {
		t.Errorf("port 70000 accepted")
	}
}
