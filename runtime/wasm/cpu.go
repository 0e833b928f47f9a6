package wasm

import (
	goruntime "runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// taskCPU measures a task's CPU time. wazero runs the guest on the calling
// goroutine, so the task's goroutine locks itself to its OS thread while it
// runs, and the thread's CPU clock counts the task: the guest, the host
// functions it calls (WASI writes, file creation) and its instantiation.
// Go has no per-goroutine CPU clock.
//
// The lock is released while the guest sleeps (pause, resume), so that a
// sleeping task holds no thread: thousands of sleeping tasks must not need
// thousands of threads (Go stops at 10,000).
//
// The cost is system calls, as Linux has no CPU clocks in the vDSO: a
// segment of running costs three (its thread's id and clock at the start,
// the clock at the end), and a read from another goroutine (Stats) one.
type taskCPU struct {
	// seq is odd while a segment runs on thread tid since the thread's
	// clock read start; even when none does. A reader from another
	// goroutine trusts what it read between two equal odd loads of seq.
	seq   atomic.Uint32
	tid   atomic.Int32
	start atomic.Int64
	// ended is the CPU time of the segments that ended, in ns.
	ended atomic.Int64
}

// begin (and resume) locks the calling goroutine to its thread and starts a
// segment.
func (c *taskCPU) begin() {
	goruntime.LockOSThread()
	c.start.Store(threadCPU(unix.CLOCK_THREAD_CPUTIME_ID))
	c.tid.Store(int32(unix.Gettid()))
	c.seq.Add(1)
}

// end (and pause) ends the segment and unlocks the goroutine (a goroutine
// that ended locked would take its thread with it).
func (c *taskCPU) end() {
	c.ended.Add(threadCPU(unix.CLOCK_THREAD_CPUTIME_ID) - c.start.Load())
	c.seq.Add(1)
	goruntime.UnlockOSThread()
}

func (c *taskCPU) pause()  { c.end() }
func (c *taskCPU) resume() { c.begin() }

// used is the task's CPU time so far, from any goroutine: the ended
// segments', plus the running one's read from its thread's clock id (what
// pthread_getcpuclockid gives in C).
func (c *taskCPU) used() time.Duration {
	for range 3 { // a segment that ends or starts meanwhile: read again
		seq := c.seq.Load()
		if seq%2 == 0 {
			return time.Duration(c.ended.Load())
		}
		tid, start, ended := c.tid.Load(), c.start.Load(), c.ended.Load()
		now := threadCPU(threadClockID(tid))
		if now >= 0 && c.seq.Load() == seq {
			return time.Duration(ended + now - start)
		}
	}
	return time.Duration(c.ended.Load())
}

// threadClockID is the clock id of thread tid's CPU time: the kernel's
// MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED) = ~tid<<3 | PERTHREAD(4) | SCHED(2).
func threadClockID(tid int32) int32 {
	return ^tid<<3 | 4 | 2
}

// threadCPU reads a CPU clock in ns, -1 when it cannot be read.
func threadCPU(clock int32) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(clock, &ts); err != nil {
		return -1
	}
	return ts.Nano()
}
