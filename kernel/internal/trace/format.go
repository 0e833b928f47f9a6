package trace

import (
	"fmt"
	"strings"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/master"
	"github.com/pandodc/pando/kernel/resources"
)

// FirstEpoch is the epoch of a cluster's first master; Format shows an
// epoch ("@2") only when it differs.
const FirstEpoch = 1

func res(in []*kernelpb.Resource) string {
	r, err := resources.FromProto(in)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	if r.IsEmpty() {
		return "{}"
	}
	return r.String()
}

func epoch(e uint64) string {
	if e == FirstEpoch {
		return ""
	}
	return fmt.Sprintf("@%d", e)
}

func state(s kernelpb.TaskState) string { return strings.TrimPrefix(s.String(), "TASK_") }

func status(st *kernelpb.TaskStatus) string {
	if st == nil {
		return "<nil>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%s %s", st.FrameworkId, st.TaskId, state(st.State))
	if st.Reason != kernelpb.Reason_REASON_NONE {
		b.WriteString(" " + strings.TrimPrefix(st.Reason.String(), "REASON_"))
	}
	if st.Healthy != nil {
		fmt.Fprintf(&b, " healthy:%v", *st.Healthy)
	}
	if st.UpdateId != "" {
		b.WriteString(" id:" + st.UpdateId)
	}
	if st.Source == kernelpb.Source_SOURCE_MASTER {
		b.WriteString(" src:master")
	}
	if st.Message != "" {
		fmt.Fprintf(&b, " %q", st.Message)
	}
	return b.String()
}

func task(t *kernelpb.TaskInfo) string {
	if t == nil {
		return "<nil>"
	}
	return t.TaskId + " " + res(t.Resources)
}

// Format prints a message compactly for traces. Epochs are shown ("@2")
// only when they differ from the first master's.
func Format(msg any) string {
	switch m := msg.(type) {
	case *kernelpb.RegisterAgent:
		var tasks []string
		for i, t := range m.Tasks {
			s := ""
			for _, st := range m.TaskStates {
				if st.TaskId == t.TaskId && i < len(m.TaskFrameworkIds) && st.FrameworkId == m.TaskFrameworkIds[i] {
					s = ":" + state(st.State)
				}
			}
			fw := ""
			if i < len(m.TaskFrameworkIds) {
				fw = m.TaskFrameworkIds[i]
			}
			tasks = append(tasks, fw+"/"+t.TaskId+s)
		}
		out := fmt.Sprintf("RegisterAgent{id:%s host:%s %s", m.AgentId, m.Hostname, res(m.Resources))
		if len(tasks) > 0 {
			out += " tasks:[" + strings.Join(tasks, " ") + "]"
		}
		return out + "}"
	case *kernelpb.AgentRegistered:
		return fmt.Sprintf("AgentRegistered%s{%s}", epoch(m.Epoch), m.AgentId)
	case *kernelpb.Ping:
		return fmt.Sprintf("Ping%s{%d}", epoch(m.Epoch), m.Seq)
	case *kernelpb.Pong:
		return fmt.Sprintf("Pong{%s %d}", m.AgentId, m.Seq)
	case *kernelpb.RunTask:
		return fmt.Sprintf("RunTask%s{%s %s}", epoch(m.Epoch), m.FrameworkId, task(m.Task))
	case *kernelpb.KillTask:
		return fmt.Sprintf("KillTask%s{%s/%s}", epoch(m.Epoch), m.FrameworkId, m.TaskId)
	case *kernelpb.ShutdownFramework:
		return fmt.Sprintf("ShutdownFramework%s{%s}", epoch(m.Epoch), m.FrameworkId)
	case *kernelpb.StatusUpdate:
		out := fmt.Sprintf("StatusUpdate{%s %s", m.AgentId, status(m.Status))
		if m.Status != nil && m.LatestState != kernelpb.TaskState_TASK_UNKNOWN && m.LatestState != m.Status.State {
			out += " latest:" + state(m.LatestState)
		}
		return out + "}"
	case *kernelpb.StatusUpdateAck:
		return fmt.Sprintf("StatusUpdateAck%s{%s/%s id:%s}", epoch(m.Epoch), m.FrameworkId, m.TaskId, m.UpdateId)
	case *kernelpb.Subscribe:
		f := m.Framework
		if f == nil {
			return "Subscribe{<nil>}"
		}
		out := fmt.Sprintf("Subscribe{name:%s", f.Name)
		if f.Id != "" {
			out += " id:" + f.Id
		}
		if len(f.Roles) > 0 {
			out += " roles:" + strings.Join(f.Roles, ",")
		}
		return out + "}"
	case *kernelpb.Subscribed:
		return fmt.Sprintf("Subscribed%s{%s}", epoch(m.Epoch), m.FrameworkId)
	case *kernelpb.Offers:
		var parts []string
		for _, o := range m.Offers {
			role := ""
			if o.Role != "" && o.Role != "*" {
				role = " role:" + o.Role
			}
			parts = append(parts, fmt.Sprintf("%s: %s %s%s", o.Id, o.AgentId, res(o.Resources), role))
		}
		return fmt.Sprintf("Offers%s{%s}", epoch(m.Epoch), strings.Join(parts, ", "))
	case *kernelpb.Rescind:
		return fmt.Sprintf("Rescind%s{%s}", epoch(m.Epoch), m.OfferId)
	case *kernelpb.Accept:
		var tasks []string
		for _, op := range m.Operations {
			for _, t := range op.GetLaunch() {
				tasks = append(tasks, task(t))
			}
		}
		out := fmt.Sprintf("Accept{%s offers:[%s] launch:[%s]", m.FrameworkId, strings.Join(m.OfferIds, " "), strings.Join(tasks, ", "))
		if m.Filters != nil {
			out += fmt.Sprintf(" refuse:%gs", m.Filters.RefuseSeconds)
		}
		return out + "}"
	case *kernelpb.Decline:
		out := fmt.Sprintf("Decline{%s offers:[%s]", m.FrameworkId, strings.Join(m.OfferIds, " "))
		if m.Filters != nil {
			out += fmt.Sprintf(" refuse:%gs", m.Filters.RefuseSeconds)
		}
		return out + "}"
	case *kernelpb.Revive:
		return fmt.Sprintf("Revive{%s}", m.FrameworkId)
	case *kernelpb.Suppress:
		return fmt.Sprintf("Suppress{%s}", m.FrameworkId)
	case *kernelpb.Update:
		return fmt.Sprintf("Update%s{%s}", epoch(m.Epoch), status(m.Status))
	case *kernelpb.Acknowledge:
		return fmt.Sprintf("Acknowledge{%s/%s id:%s}", m.FrameworkId, m.TaskId, m.UpdateId)
	case *kernelpb.Reconcile:
		var ids []string
		for _, t := range m.Tasks {
			ids = append(ids, t.GetTaskId())
		}
		return fmt.Sprintf("Reconcile{%s [%s]}", m.FrameworkId, strings.Join(ids, " "))
	case *kernelpb.Kill:
		return fmt.Sprintf("Kill{%s/%s}", m.FrameworkId, m.TaskId)
	case *kernelpb.Teardown:
		return fmt.Sprintf("Teardown{%s}", m.FrameworkId)
	case *kernelpb.Heartbeat:
		return fmt.Sprintf("Heartbeat%s{}", epoch(m.Epoch))
	case *kernelpb.Error:
		return fmt.Sprintf("Error%s{%q}", epoch(m.Epoch), m.Message)
	case master.Disconnected:
		return "(disconnected)"
	case nil:
		return "<nil>"
	}
	return fmt.Sprintf("%T", msg)
}
