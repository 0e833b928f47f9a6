package wasm

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkTaskCPU is what measuring a task's CPU time adds to each task:
// "short" a task that ends within wallSegment (the monotonic clock),
// "locked" one on its thread's clock (locking its goroutine to a thread,
// reading the thread's clock and id at begin and its clock at end).
func BenchmarkTaskCPU(b *testing.B) {
	b.Run("short", func(b *testing.B) {
		for b.Loop() {
			var c taskCPU
			c.begin()
			c.settle()
			c.end()
		}
	})
	b.Run("locked", func(b *testing.B) {
		for b.Loop() {
			var c taskCPU
			c.beginLocked()
			c.end()
		}
	})
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
		c.beginLocked()
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

// spinFor keeps the calling goroutine busy for d.
func spinFor(d time.Duration) {
	x := 0
	for end := time.Now().Add(d); time.Now().Before(end); {
		for i := 0; i < 1000; i++ {
			x += i * x
		}
	}
	_ = x
}

// A task that writes within its first wallSegment is measured on the
// monotonic clock and never locks its thread; one that writes later moves
// to its thread's clock there, keeps what it ran before, and resumes on the
// thread's clock after a sleep.
func TestTaskCPUMovesToTheThreadClockPastItsFirstMillisecond(t *testing.T) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		var c taskCPU
		c.begin()
		c.settle() // a write at once
		if c.locked || c.tid.Load() != 0 {
			t.Error("a write within the first millisecond locked the thread")
		}
		spinFor(2 * wallSegment)
		c.settle()
		if !c.locked || c.tid.Load() != int32(unix.Gettid()) {
			t.Errorf("past %v a write did not move the task to its thread's clock (locked %v, tid %d)", wallSegment, c.locked, c.tid.Load())
		}
		moved := c.used()
		if moved < 2*wallSegment {
			t.Errorf("after the move the task has used %v, want at least the %v it spun before", moved, 2*wallSegment)
		}
		spinFor(5 * time.Millisecond)
		c.pause()
		if c.locked {
			t.Error("a sleeping task still holds its thread")
		}
		slept := c.used()
		if slept <= moved {
			t.Errorf("spinning on the thread's clock took the task from %v to %v", moved, slept)
		}
		time.Sleep(20 * time.Millisecond)
		c.resume()
		if !c.locked {
			t.Error("a task that had moved to its thread's clock resumed on the monotonic clock")
		}
		c.end()
		if got := c.used(); got < slept || got > slept+10*time.Millisecond {
			t.Errorf("used %v: want what it used before its 20ms sleep (%v), without the sleep", got, slept)
		}
		if c.seq.Load()%2 != 0 {
			t.Error("a segment is still running after end")
		}
	}()
	<-done
}

// While a task runs on the monotonic clock, another goroutine reads its
// time growing, and a pause stops it.
func TestTaskCPUOnTheMonotonicClockReadFromAnotherGoroutine(t *testing.T) {
	var c taskCPU
	c.begin()
	time.Sleep(5 * time.Millisecond)
	if got := c.used(); got < 5*time.Millisecond {
		t.Errorf("a running segment read %v after 5ms", got)
	}
	c.pause()
	paused := c.used()
	time.Sleep(5 * time.Millisecond)
	if got := c.used(); got != paused {
		t.Errorf("a paused task's time went from %v to %v", paused, got)
	}
}
