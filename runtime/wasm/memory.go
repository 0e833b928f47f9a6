package wasm

import (
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// limitedMemory backs one task's linear memory and refuses to grow it past
// the task's limit.
//
// Why an allocator rather than wazero's RuntimeConfig.WithMemoryLimitPages:
// that limit belongs to a wazero.Runtime and is applied when a module is
// decoded, so a CompiledModule carries it. Tasks with different limits would
// need one runtime per limit, and each runtime its own compilation of every
// module (seconds for a Go binary, and the machine code held once per
// limit). experimental.WithMemoryAllocator instead hooks each instance's
// memory: one runtime and one compilation serve every limit, the limit is
// exact to the byte, and we learn for free both the current size (for Stats,
// read atomically from any goroutine) and whether the guest was refused
// memory (to report CauseMemoryLimit without parsing its stderr). The price
// is an experimental API, which may change with wazero upgrades.
//
// It also lets us recycle memories: see bufferPools.
type limitedMemory struct {
	limit uint64 // bytes
	// buf and used are touched only by the task's goroutine: wazero
	// allocates and grows memory there, and run releases it there.
	buf  []byte
	used uint64 // the most of buf ever handed to the guest

	size    atomic.Uint64 // current length, for Stats
	peak    atomic.Uint64 // the largest length, for Stats after the end
	refused atomic.Bool   // the guest asked for more than limit
}

var _ experimental.LinearMemory = (*limitedMemory)(nil)

// Allocate implements experimental.MemoryAllocator: wazero calls it once per
// instance, at instantiation, then Reallocate with the initial size.
func (m *limitedMemory) Allocate(capHint, maxBytes uint64) experimental.LinearMemory {
	// A quarter more than the initial size: Go programs grow their memory
	// a little while starting (hello: from 2432KiB to 3008KiB), and every
	// growth past the capacity is a copy of the whole memory.
	m.buf = getBuffer(min(capHint+capHint/4, m.limit, maxBytes))
	return m
}

// Reallocate grows the memory to size bytes, keeping its contents; it
// returns nil past the limit, which makes memory.grow fail in the guest (Go
// programs then die with "out of memory").
func (m *limitedMemory) Reallocate(size uint64) []byte {
	if size > m.limit {
		m.refused.Store(true)
		return nil
	}
	if size > uint64(cap(m.buf)) {
		// Grow by a quarter, as append does for large slices, to
		// amortise copies, but never reserve more than the limit.
		b := getBuffer(min(max(size, uint64(cap(m.buf))+uint64(cap(m.buf))/4), m.limit))
		copy(b[:m.used], m.buf[:m.used])
		m.release()
		m.buf = b
	}
	m.used = max(m.used, size)
	m.size.Store(size)
	if size > m.peak.Load() { // only this goroutine stores
		m.peak.Store(size)
	}
	return m.buf[:size]
}

// Free implements experimental.LinearMemory; wazero calls it when the
// instance is closed, which may be from another goroutine (Runtime.Close), so
// it leaves buf alone: the task's goroutine releases it when the task ends.
func (m *limitedMemory) Free() {
	m.size.Store(0)
}

// release gives buf back for another task, zeroed. Only once the instance
// can no longer run: its goroutine has returned from wazero.
func (m *limitedMemory) release() {
	if m.buf != nil {
		putBuffer(m.buf[:cap(m.buf)], m.used)
	}
	m.buf, m.used = nil, 0
}

// bufferPools recycle linear memories by power-of-two capacity, from 64KiB
// (one page) to 64MiB; bigger ones are rare and left to the collector.
// Launching thousands of tasks a second would otherwise allocate megabytes
// per task from the Go heap (a large allocation takes the heap's global
// lock) and keep the collector busy. Pooled buffers are all zero, as a new
// memory must be: putBuffer clears what a guest could have written.
var bufferPools [11]sync.Pool // 2^16 .. 2^26 bytes

const (
	minPooledShift = 16
	maxPooledShift = minPooledShift + len(bufferPools) - 1
)

// getBuffer returns a zeroed buffer of length 0 and capacity at least n.
func getBuffer(n uint64) []byte {
	shift := max(minPooledShift, bits.Len64(n-1)) // n rounded up to a power of two
	if n == 0 || shift > maxPooledShift {
		return make([]byte, 0, n)
	}
	if b, ok := bufferPools[shift-minPooledShift].Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, 1<<shift)
}

// putBuffer zeroes the first used bytes of b (the rest never left the pool's
// zeroed state) and pools it, if its capacity is one of the pooled sizes.
func putBuffer(b []byte, used uint64) {
	c := uint64(cap(b))
	shift := bits.Len64(c) - 1
	if c == 0 || c != 1<<shift || shift < minPooledShift || shift > maxPooledShift {
		return
	}
	clear(b[:used])
	b = b[:0]
	bufferPools[shift-minPooledShift].Put(&b)
}
