package event

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// TestPlain8 checks the word-at-a-time test against the byte-wise one: every byte value at
// every position, and random words of bytes around the boundaries.
func TestPlain8(t *testing.T) {
	naive := func(s string) bool {
		for i := range len(s) {
			if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f {
				return false
			}
		}
		return true
	}
	check := func(w []byte) {
		if got, want := plain8(load8(string(w))), naive(string(w)); got != want {
			t.Fatalf("plain8(%q) = %v, want %v", w, got, want)
		}
	}
	for pos := range 8 {
		for c := range 256 {
			for _, fill := range []byte{'a', ' ', '~', '#', '[', ']', '!'} {
				w := []byte{fill, fill, fill, fill, fill, fill, fill, fill}
				w[pos] = byte(c)
				check(w)
			}
		}
	}
	edges := []byte{0x00, 0x01, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x7e, 0x7f, 0x80, 0xff, 'a'}
	r := rand.New(rand.NewPCG(1, 2))
	w := make([]byte, 8)
	for range 200000 {
		for i := range w {
			if r.IntN(4) == 0 {
				w[i] = byte(r.IntN(256))
			} else {
				w[i] = edges[r.IntN(len(edges))]
			}
		}
		check(w)
	}
}

// TestAppendTime compares the direct formatter with time.Time.MarshalJSON on every day from
// year 0 to 9999, at a varying time of day, nanosecond and zone offset.
func TestAppendTime(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("", 5*3600+30*60), time.FixedZone("", -86399), time.FixedZone("", 86399),
		time.FixedZone("", -3599), time.FixedZone("", 1), time.Local}
	start := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix() - 86400
	end := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).Unix() + 86400
	var buf []byte
	n := 0
	for sec := start; sec < end; sec += 86400 {
		n++
		ts := time.Unix(sec+int64(n*7919%86400), int64(n)*104729%1e9).In(zones[n%len(zones)])
		if n%5 == 0 {
			ts = ts.Truncate(time.Duration(n%4) * time.Millisecond)
		}
		if n%3 == 0 {
			// A fraction with zeros at the end, at the start or in the middle of its groups.
			nanos := []int{1, 10, 100, 1000, 1001, 1010, 1200, 100000, 1000000, 1000001, 1000100, 100000000, 120000000, 999999999, 5000}
			ts = ts.Truncate(time.Second).Add(time.Duration(nanos[n/3%len(nanos)]))
		}
		want, err := ts.MarshalJSON()
		buf = appendTime(buf[:0], ts)
		if err != nil {
			// Outside RFC 3339: written as RFC3339Nano formats it.
			want = []byte(`"` + ts.Format(time.RFC3339Nano) + `"`)
		}
		if string(buf) != string(want) {
			t.Fatalf("%v: got %s, want %s", ts, buf, want)
		}
	}
}

// TestAppendUint compares appendUint and appendInt with strconv around every power of ten and
// of two, and on random values.
func TestAppendUint(t *testing.T) {
	var vs []uint64
	for p := uint64(1); p <= 1e19; p *= 10 {
		vs = append(vs, p-1, p, p+1, 2*p-1, 9*p)
	}
	for k := range 64 { // where the bit length, which the digit count starts from, changes
		p := uint64(1) << k
		vs = append(vs, p-1, p, p+1)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		vs = append(vs, r.Uint64()>>r.IntN(64))
	}
	vs = append(vs, 0, 1<<63, 1<<64-1)
	for _, v := range vs {
		if got, want := string(appendUint([]byte("x"), v)), "x"+strconv.FormatUint(v, 10); got != want {
			t.Fatalf("appendUint(%d) = %s", v, got)
		}
		if got, want := string(appendInt(nil, int64(v))), strconv.FormatInt(int64(v), 10); got != want {
			t.Fatalf("appendInt(%d) = %s", int64(v), got)
		}
	}
}
