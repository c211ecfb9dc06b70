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
	long := strings.Repeat("a", MaxLen+1)
	if r.Bytes([]byte(long)); same(r.Bytes([]byte(long)), long) {
		t.Errorf("ring: kept a value longer than MaxLen")
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
