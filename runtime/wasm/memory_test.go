package wasm

import (
	"bytes"
	"testing"
)

// A recycled memory must be all zero: a task must never see another's data.
func TestRecycledMemoryIsZero(t *testing.T) {
	for _, size := range []uint64{1 << 16, 3 << 20, 1<<22 + 1} {
		m := &limitedMemory{limit: 1 << 30}
		m.Allocate(size, 1<<32)
		b := m.Reallocate(size)
		for i := range b {
			b[i] = 0xAA
		}
		b = m.Reallocate(size + size/2) // grows: a copy into a bigger buffer
		if b[0] != 0xAA || b[size-1] != 0xAA || b[size] != 0 {
			t.Fatalf("size %d: growth lost the contents or is not zero past them", size)
		}
		for i := range b {
			b[i] = 0xBB
		}
		m.release()

		// Every buffer of the pools now: take many, all must be zero.
		for range 4 {
			n := &limitedMemory{limit: 1 << 30}
			n.Allocate(size, 1<<32)
			got := n.Reallocate(size + size/2)
			if i := bytes.IndexFunc(got[:cap(got)], func(r rune) bool { return r != 0 }); i >= 0 {
				t.Fatalf("size %d: a recycled memory has a non-zero byte at %d", size, i)
			}
			defer n.release()
		}
	}
}

func TestMemoryLimit(t *testing.T) {
	m := &limitedMemory{limit: 5 << 16}
	m.Allocate(1<<16, 1<<32)
	if b := m.Reallocate(1 << 16); len(b) != 1<<16 {
		t.Fatalf("initial memory: len %d", len(b))
	}
	if b := m.Reallocate(5 << 16); len(b) != 5<<16 || m.size.Load() != 5<<16 {
		t.Fatalf("growth up to the limit: len %d, size %d", len(b), m.size.Load())
	}
	if m.refused.Load() {
		t.Fatal("refused within the limit")
	}
	if b := m.Reallocate(6 << 16); b != nil || !m.refused.Load() {
		t.Fatalf("growth past the limit: got %d bytes, refused=%v", len(b), m.refused.Load())
	}
	m.Free()
	if m.size.Load() != 0 {
		t.Fatal("size after Free")
	}
	m.release()
}
