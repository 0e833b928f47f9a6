package kernelpb

import (
	"maps"
	"slices"
)

// The kernel copies every task and status update it keeps or sends, so that
// a peer holding the same message (in-process, actors pass pointers) cannot
// change the kernel's state behind its back. proto.Clone does that through
// reflection, and in the task pipeline it cost a tenth of the CPU; these
// copy the same fields directly. clone_test.go fills every field of the
// messages through their descriptors and checks these against proto.Clone,
// so a field added to kernel.proto but not here fails the tests. Unknown
// fields (from a newer peer) are not copied.

// CloneTaskInfo returns a deep copy of t.
func CloneTaskInfo(t *TaskInfo) *TaskInfo {
	if t == nil {
		return nil
	}
	out := &TaskInfo{
		TaskId:    t.TaskId,
		Name:      t.Name,
		AgentId:   t.AgentId,
		Resources: CloneResources(t.Resources),
		Env:       maps.Clone(t.Env),
		TimeoutMs: t.TimeoutMs,
		Labels:    maps.Clone(t.Labels),

		KillGracePeriodMs: t.KillGracePeriodMs,
		HealthCheck:       CloneHealthCheck(t.HealthCheck),
		Inputs:            cloneInputs(t.Inputs),
	}
	switch r := t.Runtime.(type) {
	case *TaskInfo_Wasm:
		var w *WasmTask
		if r.Wasm != nil {
			w = &WasmTask{Module: r.Wasm.Module, Args: slices.Clone(r.Wasm.Args)}
		}
		out.Runtime = &TaskInfo_Wasm{Wasm: w}
	case *TaskInfo_Container:
		var c *ContainerTask
		if r.Container != nil {
			c = &ContainerTask{
				Image: r.Container.Image, Args: slices.Clone(r.Container.Args), ImageName: r.Container.ImageName,
				Command: slices.Clone(r.Container.Command), WorkingDir: r.Container.WorkingDir,
			}
		}
		out.Runtime = &TaskInfo_Container{Container: c}
	}
	return out
}

// CloneTaskStatus returns a copy of s.
func CloneTaskStatus(s *TaskStatus) *TaskStatus {
	if s == nil {
		return nil
	}
	return &TaskStatus{
		TaskId:      s.TaskId,
		State:       s.State,
		AgentId:     s.AgentId,
		FrameworkId: s.FrameworkId,
		Reason:      s.Reason,
		Message:     s.Message,
		Source:      s.Source,
		TimestampNs: s.TimestampNs,
		UpdateId:    s.UpdateId,
		ExitCode:    s.ExitCode,
		Usage:       CloneResourceUsage(s.Usage),
		Healthy:     cloneBoolPtr(s.Healthy),
	}
}

// CloneHealthCheck returns a deep copy of h.
func CloneHealthCheck(h *HealthCheck) *HealthCheck {
	if h == nil {
		return nil
	}
	return &HealthCheck{
		Type: h.Type, Port: h.Port, Path: h.Path, Command: slices.Clone(h.Command),
		GracePeriodMs: h.GracePeriodMs, IntervalMs: h.IntervalMs, TimeoutMs: h.TimeoutMs,
		MaxConsecutiveFailures: h.MaxConsecutiveFailures, DelayMs: h.DelayMs,
	}
}

func cloneInputs(in []*Input) []*Input {
	if in == nil {
		return nil
	}
	out := make([]*Input, len(in))
	for i, x := range in {
		if x != nil {
			out[i] = &Input{Digest: x.Digest, Path: x.Path, Archive: x.Archive}
		}
	}
	return out
}

func cloneBoolPtr(b *bool) *bool {
	if b == nil {
		return nil
	}
	v := *b
	return &v
}

// CloneResourceUsage returns a copy of u.
func CloneResourceUsage(u *ResourceUsage) *ResourceUsage {
	if u == nil {
		return nil
	}
	return &ResourceUsage{
		CpuTimeNs: u.CpuTimeNs, MemBytes: u.MemBytes, MemPeakBytes: u.MemPeakBytes, MemLimitBytes: u.MemLimitBytes,
		NetRxBytes: u.NetRxBytes, NetTxBytes: u.NetTxBytes, NetRxPackets: u.NetRxPackets, NetTxPackets: u.NetTxPackets,
		IoReadBytes: u.IoReadBytes, IoWriteBytes: u.IoWriteBytes, StdoutBytes: u.StdoutBytes, StderrBytes: u.StderrBytes,
		Unavailable: slices.Clone(u.Unavailable), TimestampNs: u.TimestampNs,
	}
}

// CloneResources returns a deep copy of rs.
func CloneResources(rs []*Resource) []*Resource {
	if rs == nil {
		return nil
	}
	out := make([]*Resource, len(rs))
	for i, r := range rs {
		if r == nil {
			continue
		}
		c := &Resource{Name: r.Name, Milli: r.Milli, Role: r.Role}
		if r.Ranges != nil {
			c.Ranges = make([]*Range, len(r.Ranges))
			for j, rg := range r.Ranges {
				if rg != nil {
					c.Ranges[j] = &Range{Begin: rg.Begin, End: rg.End}
				}
			}
		}
		out[i] = c
	}
	return out
}
