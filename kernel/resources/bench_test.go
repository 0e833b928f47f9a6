package resources

import "testing"

// A typical agent and task: the allocator's inner loop is
// "does the task fit what's left of the agent, then take it".
var (
	benchAgent = MustParse("cpus:32;mem:128GiB;disk:1TiB;ports:[31000-32000]")
	benchTask  = MustParse("cpus:0.5;mem:512MiB;disk:1GiB;ports:[31500-31500]")
	benchCPU   = MustParse("cpus:32;mem:128GiB;disk:1TiB")
	benchCPUT  = MustParse("cpus:0.5;mem:512MiB;disk:1GiB")
	sink       Resources
	sinkBool   bool
)

func BenchmarkAdd(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sink = benchAgent.Add(benchTask)
	}
}

func BenchmarkAddScalarsOnly(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sink = benchCPU.Add(benchCPUT)
	}
}

func BenchmarkSubtract(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sink, _ = benchAgent.Subtract(benchTask)
	}
}

func BenchmarkSubtractScalarsOnly(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sink, _ = benchCPU.Subtract(benchCPUT)
	}
}

func BenchmarkContains(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkBool = benchAgent.Contains(benchTask)
	}
}

func BenchmarkContainsMiss(b *testing.B) {
	big := MustParse("cpus:64;mem:1GiB;disk:1;ports:[80-80]")
	b.ReportAllocs()
	for b.Loop() {
		sinkBool = benchAgent.Contains(big)
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sink, _ = Parse("cpus:32;mem:128GiB;disk:1TiB;ports:[31000-32000]")
	}
}

func BenchmarkString(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = benchAgent.String()
	}
}

func TestContainsDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { sinkBool = benchAgent.Contains(benchTask) }); n != 0 {
		t.Errorf("Contains allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { sinkBool = benchAgent.Contains(benchAgent.Add(benchTask)) }); n > 2 {
		t.Errorf("Add+Contains allocates %v times", n)
	}
}
