package wasm

import (
	"testing"
	"time"
)

// BenchmarkTaskCPU is what measuring a task's CPU time adds to each task:
// locking its goroutine to a thread, reading the thread's clock and id at
// begin and its clock at end.
func BenchmarkTaskCPU(b *testing.B) {
	for b.Loop() {
		var c taskCPU
		c.begin()
		c.end()
	}
}

// BenchmarkTaskCPUUsed is one Stats' reading of a running task's clock
// from another goroutine.
func BenchmarkTaskCPUUsed(b *testing.B) {
	var c taskCPU
	ready, done := make(chan struct{}), make(chan struct{})
	go func() {
		c.begin()
		close(ready)
		<-done
		c.end()
	}()
	<-ready
	for b.Loop() {
		if c.used() < 0 {
			b.Fatal("negative CPU time")
		}
	}
	close(done)
}

func TestThreadClockIsTheTasks(t *testing.T) {
	var c taskCPU
	ready, stop, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		c.begin()
		close(ready)
		x := 0
		for spin := true; spin; {
			select {
			case <-stop:
				spin = false
			default:
				for i := 0; i < 1000; i++ {
					x += i * x
				}
			}
		}
		_ = x
		c.end()
	}()
	<-ready
	deadline := time.Now().Add(10 * time.Second)
	for c.used() < 10*time.Millisecond && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	running := c.used()
	close(stop)
	<-done
	if running < 10*time.Millisecond {
		t.Errorf("a spinning goroutine's thread clock read %v from another goroutine, want it growing", running)
	}
	if c.used() < running {
		t.Errorf("total %v below the running reading %v", c.used(), running)
	}
	if c.seq.Load()%2 != 0 {
		t.Error("a segment is still running after end")
	}
}
