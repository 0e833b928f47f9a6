package main

import (
	"testing"

	"github.com/pandodc/pando/sdk/client"
)

func TestTaskStateShowsHealth(t *testing.T) {
	yes, no := true, false
	for _, c := range []struct {
		task client.Task
		want string
	}{
		{client.Task{State: "TASK_RUNNING"}, "RUNNING"},
		{client.Task{State: "TASK_RUNNING", Healthy: &yes}, "RUNNING (healthy)"},
		{client.Task{State: "TASK_RUNNING", Healthy: &no}, "RUNNING (unhealthy)"},
		{client.Task{State: "TASK_KILLED", Reason: "TASK_UNHEALTHY", Healthy: &no}, "KILLED (unhealthy)"},
		{client.Task{State: "TASK_KILLED", Reason: "KILLED_BY_OPERATOR"}, "KILLED (by operator)"},
	} {
		if got := taskState(c.task); got != c.want {
			t.Errorf("taskState(%+v) = %q, want %q", c.task, got, c.want)
		}
	}
}
