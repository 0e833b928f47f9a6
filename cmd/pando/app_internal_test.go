package main

import (
	"strings"
	"testing"

	"github.com/pandodc/pando/frameworks/services"
)

func TestPrintAppShowsInstancesHealthAndProgress(t *testing.T) {
	n, yes, no := 2, true, false
	a := services.AppStatus{
		App:          services.App{ID: "/web", Version: "v2", Instances: &n, HealthChecks: []services.HealthCheck{{Protocol: "HTTP"}}},
		TasksRunning: 2, TasksHealthy: 1, TasksUnhealthy: 1,
		Deployments: []services.Deployment{{ID: "deployment-3", Version: "v2", Progress: services.Progress{Target: 2, NewHealthy: 1, Old: 1, MinHealthy: 1, MaxTotal: 3}}},
		Tasks: []services.Instance{
			{ID: "web.4", Host: "h1", Ports: []uint32{31000, 31001}, State: "TASK_RUNNING", Healthy: &yes, Version: "v2"},
			{ID: "web.1", Host: "h2", Ports: []uint32{31005}, State: "TASK_RUNNING", Healthy: &no, Killing: true, Version: "v1"},
		},
	}
	var out strings.Builder
	printApp(&out, a, []string{"v2", "v1"})
	for _, want := range []string{
		"2 running of 2 (1 healthy, 1 unhealthy",
		"deployment-3 to v2: 1 of 2 new healthy, 1 old left (at least 1 healthy, at most 3 running)",
		"web.4     h1    31000,31001  RUNNING            healthy",
		"RUNNING (killing)  unhealthy",
		"Versions (newest first): v2, v1",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("app show lacks %q:\n%s", want, out.String())
		}
	}
}
