package master

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pandodc/pando/internal/httpjson"
	"github.com/pandodc/pando/kernel/kernelpb"
	kmaster "github.com/pandodc/pando/kernel/master"
	"github.com/pandodc/pando/sdk/client"
)

func (api *API) query(r *http.Request, fn func(v kmaster.Views, now time.Time) any) (any, error) {
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	return Query(ctx, api.System, api.Master, fn)
}

// answer runs fn in the master actor and writes its result as JSON.
func (api *API) answer(w http.ResponseWriter, r *http.Request, fn func(v kmaster.Views, now time.Time) any) {
	v, err := api.query(r, fn)
	if err != nil {
		httpjson.Error(w, http.StatusServiceUnavailable, "the master did not answer: %v", err)
		return
	}
	httpjson.Write(w, http.StatusOK, v)
}

func (api *API) agents(w http.ResponseWriter, r *http.Request) {
	api.answer(w, r, func(v kmaster.Views, now time.Time) any {
		views := v.Agents()
		out := make([]client.Agent, 0, len(views))
		for _, a := range views {
			j := client.Agent{
				ID: a.ID, Hostname: a.Hostname, HTTPAddress: a.HTTPAddress, Active: a.Active,
				Total: a.Total.String(), Used: a.Used.Add(a.Offered).String(), Attributes: a.Attributes,
				Tasks: a.Tasks, RegisteredAt: a.RegisteredAt,
			}
			if a.Active {
				j.Free = v.Available(a.ID).String()
			}
			out = append(out, j)
		}
		return out
	})
}

func (api *API) frameworks(w http.ResponseWriter, r *http.Request) {
	api.answer(w, r, func(v kmaster.Views, now time.Time) any {
		views := v.Frameworks()
		out := make([]client.Framework, 0, len(views))
		for _, f := range views {
			c := client.Framework{
				ID: f.ID, Name: f.Name, Roles: f.Roles, Connected: f.Connected, Share: f.Share,
				Why: f.Why, Offers: f.Offers, Tasks: f.Tasks, Adopted: f.Adopted,
				NotOffered: f.NotOffered, TooSmall: f.TooSmall,
			}
			if !f.RemoveAt.IsZero() {
				c.RemoveAt = &f.RemoveAt
			}
			out = append(out, c)
		}
		return out
	})
}

func taskJSON(t kmaster.TaskView) client.Task {
	c := client.Task{
		ID: t.ID, Name: t.Name, FrameworkID: t.FrameworkID, AgentID: t.AgentID,
		State: t.State.String(), Message: t.Message, ExitCode: int(t.ExitCode), Resources: t.Resources.String(),
		Healthy: t.Healthy,
	}
	if t.Reason != kernelpb.Reason_REASON_NONE {
		c.Reason = strings.TrimPrefix(t.Reason.String(), "REASON_")
	}
	if u := t.Usage; u != nil {
		c.Usage = &client.TaskUsage{
			TaskID: t.ID, FrameworkID: t.FrameworkID, AgentID: t.AgentID,
			CPUSeconds: float64(u.CpuTimeNs) / 1e9, MemBytes: u.MemBytes, MemPeakBytes: u.MemPeakBytes,
			MemLimitBytes: u.MemLimitBytes, NetRxBytes: u.NetRxBytes, NetTxBytes: u.NetTxBytes,
			NetRxPackets: u.NetRxPackets, NetTxPackets: u.NetTxPackets, IOReadBytes: u.IoReadBytes,
			IOWriteBytes: u.IoWriteBytes, StdoutBytes: u.StdoutBytes, StderrBytes: u.StderrBytes,
			Unavailable: u.Unavailable,
		}
	}
	if n := len(t.History); n > 0 {
		c.UpdatedAt = t.History[n-1].At
	}
	return c
}

// tasks serves GET /api/v1/tasks?state=&framework=&agent=&prefix=&all=&limit=.
func (api *API) tasks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	filter := kmaster.TaskFilter{FrameworkID: q.Get("framework"), AgentID: q.Get("agent"), ActiveOnly: q.Get("all") == ""}
	if s := q.Get("state"); s != "" {
		if !strings.HasPrefix(s, "TASK_") {
			s = "TASK_" + s
		}
		state, ok := kernelpb.TaskState_value[strings.ToUpper(s)]
		if !ok {
			httpjson.Error(w, http.StatusBadRequest, "state %q: want one of staging, starting, running, finished, failed, killed, lost, error", q.Get("state"))
			return
		}
		filter.State = kernelpb.TaskState(state)
	}
	limit := 1000
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			httpjson.Error(w, http.StatusBadRequest, "limit %q: want a positive number", l)
			return
		}
		limit = n
	}
	prefix := q.Get("prefix")
	if prefix == "" {
		filter.Limit = limit
	}
	api.answer(w, r, func(v kmaster.Views, now time.Time) any {
		out := []client.Task{}
		for _, t := range v.Tasks(filter) {
			if len(out) == limit {
				break
			}
			if strings.HasPrefix(t.ID, prefix) {
				out = append(out, taskJSON(t))
			}
		}
		return out
	})
}

// findTask looks a task up by id across frameworks (ids are unique per
// framework; the most relevant match wins: active before completed).
func findTask(v kmaster.Views, id string) (kmaster.TaskView, bool) {
	views := v.Tasks(kmaster.TaskFilter{TaskID: id, Limit: 1})
	if len(views) == 0 {
		return kmaster.TaskView{}, false
	}
	return views[0], true
}

type taskLookup struct {
	task  kmaster.TaskView
	found bool
	agent kmaster.AgentView
}

// lookup finds the task {id}: by key when ?framework= names its framework
// (no scan of every task: a big job's logs make one lookup per instance),
// else by id across frameworks. With agentHint, a task the master has
// forgotten (it keeps only the most recent ended ones) is taken to be on
// the agent ?agent= names, if that agent is registered: its framework knows
// where it ran, and the agent keeps its sandbox longer.
func (api *API) lookup(w http.ResponseWriter, r *http.Request, agentHint bool) (taskLookup, bool) {
	id, q := r.PathValue("id"), r.URL.Query()
	framework, agent := q.Get("framework"), q.Get("agent")
	v, err := api.query(r, func(v kmaster.Views, now time.Time) any {
		var t kmaster.TaskView
		var found bool
		if framework != "" {
			t, found = v.Task(framework, id)
		} else {
			t, found = findTask(v, id)
		}
		if found {
			a, _ := v.Agent(t.AgentID)
			return taskLookup{task: t, found: true, agent: a}
		}
		if a, known := v.Agent(agent); agentHint && known && framework != "" {
			return taskLookup{task: kmaster.TaskView{ID: id, FrameworkID: framework, AgentID: agent}, found: true, agent: a}
		}
		return taskLookup{}
	})
	if err != nil {
		httpjson.Error(w, http.StatusServiceUnavailable, "the master did not answer: %v", err)
		return taskLookup{}, false
	}
	l := v.(taskLookup)
	if !l.found {
		httpjson.Error(w, http.StatusNotFound, "no task %q: none runs with that id, and the master no longer remembers one that ended (it keeps the most recent ones; pando ps --all lists them)", id)
		return l, false
	}
	return l, true
}

func (api *API) task(w http.ResponseWriter, r *http.Request) {
	if l, ok := api.lookup(w, r, false); ok {
		httpjson.Write(w, http.StatusOK, taskJSON(l.task))
	}
}

// killTask serves POST /api/v1/tasks/{id}/kill[?framework=]: an operator's
// kill, its own input to the master (not the framework's Kill). The task
// ends KILLED with reason KILLED_BY_OPERATOR, which its framework hears like
// any update. The master's refusal is the answer: 404 for no such task, 409
// for a task that has ended or an id several frameworks use, 503 when the
// task's agent (or the master) cannot be reached.
func (api *API) killTask(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	fwID := r.URL.Query().Get("framework")
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	err := Operate(ctx, api.System, api.Master, r.RemoteAddr, kmaster.OperatorKill{FrameworkID: fwID, TaskID: id})
	switch {
	case err == nil:
		httpjson.Write(w, http.StatusAccepted, map[string]string{"task": id, "status": "killing"})
	case errors.Is(err, kmaster.ErrUnknownTask):
		httpjson.Error(w, http.StatusNotFound, "%v (pando ps lists tasks)", err)
	case errors.Is(err, kmaster.ErrTaskEnded):
		httpjson.Error(w, http.StatusConflict, "%v", err)
	case errors.Is(err, kmaster.ErrAmbiguousTask):
		httpjson.Error(w, http.StatusConflict, "%v with ?framework=<id>", err)
	case errors.Is(err, kmaster.ErrAgentDisconnected), errors.Is(err, ErrNoAnswer):
		httpjson.Error(w, http.StatusServiceUnavailable, "%v", err)
	default:
		httpjson.Error(w, http.StatusInternalServerError, "%v", err)
	}
}

// logs proxies a task's stdout or stderr from its agent; ?framework= and
// ?agent= reach the agent of a task the master has forgotten (see lookup).
func (api *API) logs(w http.ResponseWriter, r *http.Request) {
	l, ok := api.lookup(w, r, true)
	if !ok {
		return
	}
	if l.agent.HTTPAddress == "" {
		httpjson.Error(w, http.StatusServiceUnavailable, "agent %s of task %s is gone, and its sandbox with it", l.task.AgentID, l.task.ID)
		return
	}
	stream := r.URL.Query().Get("stream")
	if stream == "" {
		stream = "stdout"
	}
	target := strings.TrimRight(l.agent.HTTPAddress, "/") + "/api/v1/sandbox/" + url.PathEscape(l.task.FrameworkID) + "/" + url.PathEscape(l.task.ID) + "/" + url.PathEscape(stream)
	if r.URL.Query().Get("follow") != "" {
		target += "?follow=1"
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, target, nil)
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, "%v", err)
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		httpjson.Error(w, http.StatusBadGateway, "cannot reach agent %s at %s: %v", l.task.AgentID, l.agent.HTTPAddress, err)
		return
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type"} {
		w.Header().Set(h, resp.Header.Get(h))
	}
	w.WriteHeader(resp.StatusCode)
	copyFlushing(w, resp.Body)
}

// copyFlushing copies as data arrives, so `pando logs --follow` is live.
func copyFlushing(w http.ResponseWriter, r io.Reader) {
	flusher, _ := w.(http.Flusher)
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if err != nil {
			return
		}
	}
}
