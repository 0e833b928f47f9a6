package services

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBadAppsNameTheField(t *testing.T) {
	mod := `"module": "sha256:` + hex64 + `"`
	for _, tc := range []struct{ js, want string }{
		{`{"id": "/a", ` + mod, "malformed JSON"},
		{`{"id": "/a", ` + mod + `, "instanses": 2, "healthChecks": [{"protocol": "TCP", "prot": 1}]}`, "unknown fields healthChecks[0].prot, instanses"},
		{`{"id": "/a", ` + mod + `, "healthChecks": [{"protocol": "HTTP", "portIndex": 0}]}`, "healthChecks[0].portIndex 0: the app has 0 ports"},
		{`{"id": "/a", ` + mod + `, "constraints": [["hostname", "NEAR"]]}`, `constraints[0]`},
		{`{"id": "/a", ` + mod + `, "constraints": [["hostname", "MAX_PER", "x"]]}`, `MAX_PER value "x"`},
		{`{"id": "/a", ` + mod + `, "cmd": "echo hi"}`, "cmd: a WASM module has no shell"},
		{`{"id": "/a"}`, "give a container image"},
		{`{"id": "/A_b", ` + mod + `}`, `id "/A_b"`},
		{`{"id": "/a", ` + mod + `, "mem": -1}`, "mem is -1"},
		{`{"id": "/a", ` + mod + `, "upgradeStrategy": {"minimumHealthCapacity": 2}}`, "upgradeStrategy.minimumHealthCapacity is 2"},
		{`{"id": "/a", ` + mod + `, "env": {"PORT0": "1"}}`, `env "PORT0"`},
	} {
		a, err := DecodeApp([]byte(tc.js))
		if err == nil {
			err = a.Normalize()
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant an ErrInvalid with %q", tc.js, err, tc.want)
		}
	}
}

func TestMarathonDefaults(t *testing.T) {
	a := mustApp(t, `{"id": "web", "container": {"type": "DOCKER", "docker": {"image": "busybox:latest"}}, "cmd": "httpd -f",
		"portDefinitions": [{"port": 0}], "healthChecks": [{"protocol": "MESOS_HTTP", "portIndex": 0}]}`)
	if a.ID != "/web" || a.Image != "busybox:latest" || a.CPUs != 1 || a.Mem != 128 || a.instances() != 1 ||
		*a.UpgradeStrategy.MinimumHealthCapacity != 1 || *a.UpgradeStrategy.MaximumOverCapacity != 1 || a.BackoffFactor != 1.15 {
		t.Errorf("defaults: %+v", a)
	}
	if h := a.HealthChecks[0]; h.Protocol != "HTTP" || h.GracePeriodSeconds != 300 || h.IntervalSeconds != 60 || *h.MaxConsecutiveFailures != 3 {
		t.Errorf("health check defaults: %+v", h)
	}
}

func TestSampleAppsAreValid(t *testing.T) {
	paths, _ := filepath.Glob("../../examples/apps/*.json")
	if len(paths) == 0 {
		t.Fatal("no sample apps in examples/apps")
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		a, err := DecodeApp(data)
		if err == nil {
			err = a.Normalize()
		}
		if err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
