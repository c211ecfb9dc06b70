package intern

import (
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// same says whether a and b share their bytes: the cache returned what it made before.
func same(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }

type cache interface{ Bytes([]byte) string }

// TestNoStale feeds values that differ only in case or in one byte, more of them than a Ring
// holds and past a Table's bound: every answer must equal its input, whatever was cached.
func TestNoStale(t *testing.T) {
	var vals []string
	for i := range 40 {
		n := strconv.Itoa(i % 13)
		vals = append(vals, "Host-"+n, "host-"+n, "host-"+n+"x", "")
	}
	vals = append(vals, strings.Repeat("a", MaxLen+1), strings.Repeat("a", MaxLen+1)+"b")
	for _, tc := range []struct {
		name string
		c    cache
	}{{"ring", &Ring{}}, {"table", NewTable(5)}} {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range vals {
				if got := tc.c.Bytes([]byte(v)); got != v {
					t.Fatalf("Bytes(%q) = %q", v, got)
				}
			}
		})
	}
}

func TestReuse(t *testing.T) {
	r := &Ring{}
	a := r.Bytes([]byte("/a.html"))
	for i := range ringSize - 1 {
		r.Bytes([]byte(strconv.Itoa(i)))
	}
	if b := r.Bytes([]byte("/a.html")); !same(a, b) {
		t.Errorf("ring: a value among the last %d was made again", ringSize)
	}
	for i := range ringSize {
		r.Bytes([]byte("x" + strconv.Itoa(i)))
	}
	if b := r.Bytes([]byte("/a.html")); same(a, b) || b != "/a.html" {
		t.Errorf("ring: evicted value came back as %q (same memory: %v)", b, same(a, b))
	}
	long := strings.Repeat("a", ringMaxLen+1)
	if r.Bytes([]byte(long)); same(r.Bytes([]byte(long)), long) {
		t.Errorf("ring: kept a value longer than ringMaxLen")
	}

	tb := NewTable(3)
	a = tb.Bytes([]byte("www.example.com"))
	if b := tb.Bytes([]byte("www.example.com")); !same(a, b) {
		t.Errorf("table: value made again")
	}
	for i := range 3 {
		tb.Bytes([]byte(strconv.Itoa(i)))
	}
	if tb.Len() > 3 {
		t.Errorf("table holds %d, bound 3", tb.Len())
	}
	if b := tb.Bytes([]byte("www.example.com")); same(a, b) || b != "www.example.com" {
		t.Errorf("table: forgotten value came back as %q", b)
	}
}

func BenchmarkRingHit(b *testing.B) {
	r := &Ring{}
	vals := [][]byte{[]byte("/a.html"), []byte("/big.txt"), []byte("/missing")}
	b.ReportAllocs()
	for i := range b.N {
		r.Bytes(vals[i%len(vals)])
	}
}

// TestArena: strings from an Arena keep their bytes while later ones are made, across chunks,
// and long ones get their own memory.
func TestArena(t *testing.T) {
	var a Arena
	var got, want []string
	b := []byte{}
	for i := range 2000 {
		v := strconv.Itoa(i*7919) + strings.Repeat("x", i%300)
		b = append(b[:0], v...)
		got, want = append(got, a.String(b)), append(want, v)
		clear(b) // the caller's buffer changes; the string must not
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("string %d is %q, want %q", i, got[i], want[i])
		}
	}
	if s := a.String(nil); s != "" {
		t.Errorf("empty: %q", s)
	}
	if n := testing.AllocsPerRun(10, func() {
		for range 50 {
			a.String([]byte("12345"))
		}
	}); n > 2 {
		t.Errorf("%v allocations for 50 strings of 5 bytes, want at most 2 (chunks of %d)", n, maxChunk)
	}
}
