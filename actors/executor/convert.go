package executor

import (
	"time"

	"github.com/pandodc/pando/actors/executor/executorpb"
	"github.com/pandodc/pando/runtime"
)

type key struct{ frameworkID, taskID string }

func keyOf(k *executorpb.TaskKey) key { return key{k.GetFrameworkId(), k.GetTaskId()} }

func (k key) proto() *executorpb.TaskKey {
	return &executorpb.TaskKey{FrameworkId: k.frameworkID, TaskId: k.taskID}
}

func specProto(s runtime.Spec, record []byte) *executorpb.Spec {
	return &executorpb.Spec{
		FrameworkId: s.FrameworkID, TaskId: s.TaskID, AgentId: s.AgentID,
		Sandbox: s.Sandbox, Artifact: s.Artifact, Digest: s.Digest,
		Args: s.Args, Env: s.Env, MemoryBytes: s.MemoryBytes,
		TimeoutNs: int64(s.Timeout), CpuMilli: s.CPUMilli, KillGraceNs: int64(s.KillGrace),
		Record: record, Ports: ports32(s.Ports), Inputs: mountsProto(s.Inputs),
	}
}

func mountsProto(ms []runtime.Mount) []*executorpb.Mount {
	var out []*executorpb.Mount
	for _, m := range ms {
		out = append(out, &executorpb.Mount{Source: m.Source, Target: m.Target})
	}
	return out
}

func mountsFromProto(ms []*executorpb.Mount) []runtime.Mount {
	var out []runtime.Mount
	for _, m := range ms {
		out = append(out, runtime.Mount{Source: m.GetSource(), Target: m.GetTarget()})
	}
	return out
}

func ports32(ports []uint16) []uint32 {
	if len(ports) == 0 {
		return nil
	}
	out := make([]uint32, len(ports))
	for i, p := range ports {
		out[i] = uint32(p)
	}
	return out
}

func ports16(ports []uint32) []uint16 {
	if len(ports) == 0 {
		return nil
	}
	out := make([]uint16, len(ports))
	for i, p := range ports {
		out[i] = uint16(p)
	}
	return out
}

func specFromProto(p *executorpb.Spec) runtime.Spec {
	return runtime.Spec{
		FrameworkID: p.GetFrameworkId(), TaskID: p.GetTaskId(), AgentID: p.GetAgentId(),
		Sandbox: p.GetSandbox(), Artifact: p.GetArtifact(), Digest: p.GetDigest(),
		Args: p.GetArgs(), Env: p.GetEnv(), MemoryBytes: p.GetMemoryBytes(),
		Timeout: time.Duration(p.GetTimeoutNs()), CPUMilli: p.GetCpuMilli(), KillGrace: time.Duration(p.GetKillGraceNs()),
		Ports: ports16(p.GetPorts()), Inputs: mountsFromProto(p.GetInputs()),
	}
}

func statsProto(s runtime.Stats) *executorpb.Stats {
	return &executorpb.Stats{
		MemoryBytes: s.MemoryBytes, MemoryPeakBytes: s.MemoryPeakBytes, MemoryLimit: s.MemoryLimit,
		CpuTimeNs: int64(s.CPUTime), NetRxBytes: s.NetRxBytes, NetTxBytes: s.NetTxBytes,
		NetRxPackets: s.NetRxPackets, NetTxPackets: s.NetTxPackets,
		IoReadBytes: s.IOReadBytes, IoWriteBytes: s.IOWriteBytes,
		StdoutBytes: s.StdoutBytes, StderrBytes: s.StderrBytes, Unavailable: s.Unavailable,
	}
}

func statsFromProto(p *executorpb.Stats) runtime.Stats {
	return runtime.Stats{
		MemoryBytes: p.GetMemoryBytes(), MemoryPeakBytes: p.GetMemoryPeakBytes(), MemoryLimit: p.GetMemoryLimit(),
		CPUTime: time.Duration(p.GetCpuTimeNs()), NetRxBytes: p.GetNetRxBytes(), NetTxBytes: p.GetNetTxBytes(),
		NetRxPackets: p.GetNetRxPackets(), NetTxPackets: p.GetNetTxPackets(),
		IOReadBytes: p.GetIoReadBytes(), IOWriteBytes: p.GetIoWriteBytes(),
		StdoutBytes: p.GetStdoutBytes(), StderrBytes: p.GetStderrBytes(), Unavailable: p.GetUnavailable(),
	}
}

func exitProto(e runtime.Exit) *executorpb.Exit {
	out := &executorpb.Exit{Outcome: int32(e.Outcome), Cause: int32(e.Cause), Code: int64(e.Code), Message: e.Message}
	if e.Usage != nil {
		out.Usage = statsProto(*e.Usage)
	}
	return out
}

func exitFromProto(p *executorpb.Exit) runtime.Exit {
	e := runtime.Exit{Outcome: runtime.Outcome(p.GetOutcome()), Cause: runtime.Cause(p.GetCause()), Code: int(p.GetCode()), Message: p.GetMessage()}
	if p.GetUsage() != nil {
		u := statsFromProto(p.GetUsage())
		e.Usage = &u
	}
	return e
}
