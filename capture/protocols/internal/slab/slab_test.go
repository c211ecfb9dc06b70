package slab

import "testing"

type big [5000]byte

// TestNeverReused: every value New returns is distinct and zero, however many chunks it takes.
func TestNeverReused(t *testing.T) {
	var s Slab[[2]int]
	seen := map[*[2]int]bool{}
	for i := range 200 {
		v := s.New()
		if seen[v] || *v != [2]int{} {
			t.Fatalf("value %d handed out twice or not zero: %v", i, *v)
		}
		seen[v] = true
		v[0], v[1] = i, -i
	}
	var b Slab[big]
	x, y := b.New(), b.New()
	if x == y || s.n > maxChunk || b.n != 1 {
		t.Errorf("chunks: %d small, %d big", s.n, b.n)
	}
}

func TestAllocs(t *testing.T) {
	var s Slab[[4]uint64]
	for range maxChunk * 2 {
		s.New()
	}
	// AllocsPerRun rounds down: count per chunk's worth of values.
	if n := testing.AllocsPerRun(10, func() {
		for range maxChunk {
			s.New()
		}
	}); n != 1 {
		t.Errorf("%v allocations per %d values, want 1", n, maxChunk)
	}
}

// TestFree: a value given back comes out of New again, zero, and no value is handed out twice
// while held; a Slab keeps at most maxFree of them.
func TestFree(t *testing.T) {
	var s Slab[[2]int]
	v := s.New()
	v[0] = 7
	s.Free(v)
	if w := s.New(); w != v || *w != [2]int{} {
		t.Fatalf("New after Free: %p %v, want %p zeroed", w, *w, v)
	}
	held := map[*[2]int]bool{v: true}
	for range 3 * maxFree {
		w := s.New()
		if held[w] {
			t.Fatalf("%p handed out twice", w)
		}
		held[w] = true
	}
	for w := range held {
		s.Free(w)
	}
	if len(s.freed) != maxFree {
		t.Errorf("%d values kept, bound %d", len(s.freed), maxFree)
	}
	var p Pool[[2]int]
	x := p.New()
	x[1] = 1
	p.Free(x)
	if y := p.New(); *y != [2]int{} {
		t.Errorf("Pool.New after Free: %v", *y)
	}
}
