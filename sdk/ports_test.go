package sdk_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
	"github.com/pandodc/pando/sdk"
)

func TestTakePorts(t *testing.T) {
	offer := resources.MustParse("cpus:2;mem:1024;ports:[31000-31001,31005-31010]")
	ports, rest, err := sdk.TakePorts(offer, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(sdk.PortsOf(ports)); got != "[31000 31001 31005]" {
		t.Errorf("took %s, want the three lowest", got)
	}
	if !rest.Add(ports).Equal(offer) || rest.Contains(ports) {
		t.Errorf("rest %s and taken %s do not split the offer %s", rest, ports, offer)
	}
	// Two tasks from one offer get different ports.
	second, _, err := sdk.TakePorts(rest, 1)
	if err != nil || fmt.Sprint(sdk.PortsOf(second)) != "[31006]" {
		t.Errorf("second take: %v %v, want [31006]", sdk.PortsOf(second), err)
	}
	if _, _, err := sdk.TakePorts(resources.MustParse("cpus:1;ports:[80]"), 2); err == nil || !strings.Contains(err.Error(), "2 ports wanted but the offer has 1") {
		t.Errorf("too many ports: %v", err)
	}
}

func TestWithPortsPointsTheCheckAtTheFirstPort(t *testing.T) {
	ports := resources.MustParse("ports:[31002-31003]")
	tb := sdk.WasmTask("sha256:" + strings.Repeat("a", 64)).
		Resources(resources.MustParse("cpus:0.5;mem:64")).
		HealthCheck(sdk.HTTPCheck("/health", 0, 0, 0, 3))
	task := tb.WithPorts(ports).On(&kernelpb.Offer{AgentId: "a1"}, "web-0")
	res, _ := resources.FromProto(task.GetResources())
	if !res.Equal(resources.MustParse("cpus:0.5;mem:64;ports:[31002-31003]")) {
		t.Errorf("resources %s, want the ports added", res)
	}
	if hc := task.GetHealthCheck(); hc.GetPort() != 31002 || hc.GetPath() != "/health" || hc.GetMaxConsecutiveFailures() != 3 {
		t.Errorf("health check %v, want HTTP /health on 31002", hc)
	}
	if tb.On(&kernelpb.Offer{}, "x").GetHealthCheck().GetPort() != 0 {
		t.Errorf("WithPorts changed the builder it was called on")
	}
}
