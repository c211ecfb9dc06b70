package redis

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// TestSplitAnywhere replays every capture with its segments cut into smaller ones: byte by
// byte, in chunks of 2..64 bytes, and each segment in two at every offset up to 512. Framing
// does not depend on segment boundaries, so the events must be those of the whole segments.
func TestSplitAnywhere(t *testing.T) {
	for _, file := range []string{"cli.pcap", "pipe.pcap", "resp3.pcap", "pubsub.pcap"} {
		t.Run(file, func(t *testing.T) {
			segs := readSegs(t, file)
			want := jsonEvents(t, segs)
			check := func(how string, cut func(n int) []int) {
				t.Helper()
				if got := jsonEvents(t, split(segs, cut)); !slices.Equal(got, want) {
					t.Fatalf("%s: %d events differ from the %d of whole segments", how, len(got), len(want))
				}
			}
			check("byte by byte", func(n int) []int { return every(n, 1) })
			for c := 2; c <= 64; c++ {
				check("chunks of "+itoa(c), func(n int) []int { return every(n, c) })
			}
			for k := 1; k <= 512; k++ {
				check("cut at "+itoa(k), func(n int) []int {
					if k < n {
						return []int{k}
					}
					return nil
				})
			}
		})
	}
}

// every returns the offsets that cut n bytes into chunks of c.
func every(n, c int) []int {
	var cuts []int
	for k := c; k < n; k += c {
		cuts = append(cuts, k)
	}
	return cuts
}

// split cuts every segment's payload at the offsets cut gives for its length; the pieces keep
// the segment's timestamp.
func split(segs []protocoltest.Segment, cut func(n int) []int) []protocoltest.Segment {
	var out []protocoltest.Segment
	for _, s := range segs {
		prev := 0
		for _, k := range append(cut(len(s.Payload)), len(s.Payload)) {
			p := s
			p.Payload, p.Seq = s.Payload[prev:k], s.Seq+uint32(prev)
			if prev > 0 && s.SYN {
				p.SYN, p.Seq = false, p.Seq+1
			}
			if k < len(s.Payload) {
				p.FIN, p.RST = false, false
			}
			out = append(out, p)
			prev = k
		}
	}
	return out
}

func jsonEvents(t *testing.T, segs []protocoltest.Segment) []string {
	t.Helper()
	var out []string
	for _, ev := range protocoltest.Replay(segs, New, nil) {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}
