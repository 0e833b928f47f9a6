package wasm

import (
	"io"
	goruntime "runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// taskCPU measures a task's CPU time. wazero runs the guest on the calling
// goroutine, and Go has no per-goroutine CPU clock, so a segment of running
// is measured one of two ways:
//
//   - on its thread's CPU clock: the goroutine locks itself to its OS thread
//     and the thread's clock counts the task (the guest, the host functions
//     it calls, its instantiation), whatever else the host runs;
//   - on the monotonic clock, for at most its first wallSegment: the time
//     the goroutine held its thread. That is its CPU time too, as long as it
//     does not block and the host's CPUs are not oversubscribed: guest code
//     is machine code that Go's scheduler cannot preempt, and the host
//     functions a task without listeners calls do not block (sleeps pause
//     the measure, see pause).
//
// Why not always the thread clock: locking thousands of tiny tasks a second
// to their threads cost a third of the pipeline's throughput (with each task
// pinned to its thread while it ran, the scheduler kept the agent's other
// goroutines waiting on one CPU while the other idled: tinyline 9.5-12.5k
// tasks/s locked, 12.6-18k unlocked, BenchmarkPipeline in the same runs).
// So a task starts on the monotonic clock and moves to its thread's clock
// at its first write or sleep past wallSegment (settle): a long task is
// measured by its thread, a task of a few hundred microseconds pays no
// lock. A task with listeners can block on a socket, so it is on its
// thread's clock from the start (beginLocked). A program that computes for
// long without writing or sleeping stays on the monotonic clock, which
// counts its time off a CPU if the host's CPUs are oversubscribed; so does a
// task that waits for a CPU in Go code (instantiation, host functions)
// before its first write or sleep past wallSegment.
//
// The lock is released while the guest sleeps (pause, resume), so that a
// sleeping task holds no thread: thousands of sleeping tasks must not need
// thousands of threads (Go stops at 10,000).
//
// The thread clock costs system calls, as Linux has no CPU clocks in the
// vDSO: three to start a segment (its thread's id and clock, and the clock
// at the end), and one for a read from another goroutine (Stats).
type taskCPU struct {
	// seq is odd while a segment runs, even when none does. A reader from
	// another goroutine trusts what it read between two equal odd loads.
	seq atomic.Uint32
	// tid is the segment's thread, 0 when it is on the monotonic clock;
	// start is its start on its clock.
	tid   atomic.Int32
	start atomic.Int64
	// ended is the CPU time of the segments that ended, in ns.
	ended atomic.Int64
	// Touched only by the task's goroutine: whether it is locked to its
	// thread now, and whether it ever was (then it resumes locked).
	locked, wasLocked bool
}

// wallSegment is the longest a segment is measured on the monotonic clock
// before the next write or sleep moves it to the thread's clock.
const wallSegment = time.Millisecond

// monotonicEpoch makes monotonic readings small integers.
var monotonicEpoch = time.Now()

func monotonic() int64 { return int64(time.Since(monotonicEpoch)) }

// begin (and resume) starts a segment on the monotonic clock, or on the
// thread's clock for a task that already moved to it.
func (c *taskCPU) begin() {
	if c.wasLocked {
		c.beginLocked()
		return
	}
	c.tid.Store(0)
	c.start.Store(monotonic())
	c.seq.Add(1)
}

// beginLocked locks the calling goroutine to its thread and starts a
// segment on the thread's clock.
func (c *taskCPU) beginLocked() {
	goruntime.LockOSThread()
	c.locked, c.wasLocked = true, true
	c.start.Store(threadCPU(unix.CLOCK_THREAD_CPUTIME_ID))
	c.tid.Store(int32(unix.Gettid()))
	c.seq.Add(1)
}

// settle moves a segment that has run on the monotonic clock for
// wallSegment to the thread's clock. The task's goroutine calls it from the
// host functions it runs (writes): the only points it is ours while the
// guest runs.
func (c *taskCPU) settle() {
	if c.locked || c.seq.Load()%2 == 0 {
		return
	}
	if now := monotonic(); now-c.start.Load() >= int64(wallSegment) {
		c.ended.Add(now - c.start.Load())
		c.seq.Add(1)
		c.beginLocked()
	}
}

// end (and pause) ends the segment and unlocks the goroutine (a goroutine
// that ended locked would take its thread with it).
func (c *taskCPU) end() {
	if !c.locked {
		c.ended.Add(monotonic() - c.start.Load())
		c.seq.Add(1)
		return
	}
	c.ended.Add(threadCPU(unix.CLOCK_THREAD_CPUTIME_ID) - c.start.Load())
	c.seq.Add(1)
	c.locked = false
	goruntime.UnlockOSThread()
}

// settlingWriter is a task's stdout or stderr as its guest sees it: each
// write first lets the task's CPU measure settle on its thread's clock.
type settlingWriter struct {
	log io.Writer
	cpu *taskCPU
}

func (w *settlingWriter) Write(p []byte) (int, error) {
	w.cpu.settle()
	return w.log.Write(p)
}

func (c *taskCPU) pause()  { c.end() }
func (c *taskCPU) resume() { c.begin() }

// used is the task's CPU time so far, from any goroutine: the ended
// segments', plus the running one's, read from its clock (its thread's
// clock id is what pthread_getcpuclockid gives in C).
func (c *taskCPU) used() time.Duration {
	for range 3 { // a segment that ends or starts meanwhile: read again
		seq := c.seq.Load()
		if seq%2 == 0 {
			return time.Duration(c.ended.Load())
		}
		tid, start, ended := c.tid.Load(), c.start.Load(), c.ended.Load()
		var now int64
		if tid == 0 {
			now = monotonic()
		} else {
			now = threadCPU(threadClockID(tid))
		}
		if now >= 0 && c.seq.Load() == seq {
			return time.Duration(ended + max(now-start, 0))
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
