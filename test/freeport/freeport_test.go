package freeport

import (
	"net"
	"strconv"
	"testing"
)

// TestNeverTwice picks many ports, each closed again at once as a test's would be, and checks
// that none repeats and that each lies in the range and can be bound. Without the record of
// ports given, 300 random picks from 10,000 repeat one in 99% of runs.
func TestNeverTwice(t *testing.T) {
	low := min(ephemeralLow(), top)
	seen := map[int]bool{}
	for range 300 {
		p, err := Loopback()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d returned twice", p)
		}
		seen[p] = true
		if p < base || p >= low {
			t.Fatalf("port %d outside %d-%d", p, base, low-1)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d cannot be bound: %v", p, err)
		}
		_ = l.Close()
	}
}
