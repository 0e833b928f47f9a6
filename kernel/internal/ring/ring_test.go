package ring

import (
	"fmt"
	"slices"
	"testing"
)

func newest[T any](r *Ring[T]) []T { return slices.Collect(r.Newest()) }

func TestRingKeepsTheNewest(t *testing.T) {
	r := New[int](3)
	if got := newest(&r); len(got) != 0 || r.Len() != 0 {
		t.Fatalf("empty ring: %v", got)
	}
	for v := 1; v <= 3; v++ {
		if old, ok := r.Push(v); ok {
			t.Fatalf("push %d into a ring with room evicted %d", v, old)
		}
	}
	if got := fmt.Sprint(newest(&r)); got != "[3 2 1]" {
		t.Fatalf("newest first %s, want [3 2 1]", got)
	}
	// Each push onto the full ring evicts the oldest, in order.
	for _, c := range []struct{ push, evicted int }{{4, 1}, {5, 2}, {6, 3}, {7, 4}} {
		old, ok := r.Push(c.push)
		if !ok || old != c.evicted {
			t.Fatalf("push %d evicted %d, %v; want %d", c.push, old, ok, c.evicted)
		}
	}
	if got := fmt.Sprint(newest(&r)); got != "[7 6 5]" || r.Len() != 3 {
		t.Fatalf("newest first %s (len %d), want [7 6 5]", got, r.Len())
	}
	// Stopping early is allowed.
	for v := range r.Newest() {
		if v != 7 {
			t.Fatalf("first value %d, want 7", v)
		}
		break
	}
}

func TestRingOfOne(t *testing.T) {
	r := New[string](1)
	r.Push("a")
	if old, ok := r.Push("b"); !ok || old != "a" {
		t.Fatalf("evicted %q, %v; want a", old, ok)
	}
	if got := newest(&r); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("ring %v, want [b]", got)
	}
}

func TestNewPanicsOnNoRoom(t *testing.T) {
	for _, n := range []int{0, -1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%d) did not panic", n)
				}
			}()
			New[int](n)
		}()
	}
}

func TestSetForgetsTheOldestKeys(t *testing.T) {
	s := NewSet[string](2)
	s.Add("a")
	s.Add("b")
	s.Add("a") // already held: neither newer nor counted twice
	if !s.Has("a") || !s.Has("b") || s.Len() != 2 {
		t.Fatalf("set after a, b, a: has a %v, has b %v, len %d", s.Has("a"), s.Has("b"), s.Len())
	}
	s.Add("c") // evicts a, the oldest added
	if s.Has("a") || !s.Has("b") || !s.Has("c") || s.Len() != 2 {
		t.Fatalf("set after c: has a %v, b %v, c %v, len %d", s.Has("a"), s.Has("b"), s.Has("c"), s.Len())
	}
	s.Add("a") // a is new again, and evicts b
	if !s.Has("a") || s.Has("b") || !s.Has("c") {
		t.Fatalf("set after a again: has a %v, b %v, c %v", s.Has("a"), s.Has("b"), s.Has("c"))
	}
}

func TestSetOfStructKeys(t *testing.T) {
	type ref struct{ fw, task string }
	s := NewSet[ref](1000)
	for i := range 5000 {
		s.Add(ref{"f", fmt.Sprint(i)})
	}
	if s.Len() != 1000 || !s.Has(ref{"f", "4999"}) || !s.Has(ref{"f", "4000"}) || s.Has(ref{"f", "3999"}) {
		t.Fatalf("len %d; want the last 1000 keys", s.Len())
	}
}
