package redis

import (
	"encoding/json"
	"slices"
	"strings"
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

// TestWholeOrBytewise feeds values that the in-place paths read when they are whole, and
// values close to them that they must leave to the general path, whole and byte by byte: the
// events must be the same.
func TestWholeOrBytewise(t *testing.T) {
	tests := []struct{ name, cli, srv string }{
		{"commands", cmd("SET", "k", "v") + cmd("GET", "k") + cmd("DEL", "", "k"), "+OK\r\n$1\r\nv\r\n:1\r\n"},
		{"leading zeros", "*02\r\n$003\r\nGET\r\n$01\r\nk\r\n", "$0001\r\nv\r\n"},
		{"long argument", cmd("SET", "k", strings.Repeat("v", 300)), "+OK\r\n"},
		{"array reply", cmd("LRANGE", "l", "0", "-1"), "*3\r\n$1\r\na\r\n$0\r\n\r\n$2\r\nbc\r\n"},
		{"mixed array reply", cmd("EXEC"), "*3\r\n$1\r\na\r\n:2\r\n*1\r\n$1\r\nb\r\n"},
		{"null and empty", cmd("GET", "x") + cmd("LRANGE", "y", "0", "0"), "$-1\r\n*0\r\n"},
		{"bulk not ended by CRLF", "*2\r\n$3\r\nGETX\r\n$1\r\nk\r\n" + cmd("PING"), "+PONG\r\n"},
		{"bulk length too long", "*1\r\n$12345678901\r\nx\r\n" + cmd("PING"), "+PONG\r\n"},
		{"count too long", "*12345678901\r\n$1\r\nx\r\n" + cmd("PING"), "+PONG\r\n"},
		{"count over the bound", "*1073741825\r\n$1\r\nx\r\n" + cmd("PING"), "+PONG\r\n"},
		{"not a bulk string", "*2\r\n$3\r\nGET\r\n:1\r\n" + cmd("PING"), "+PONG\r\n"},
		{"no digits", "*\r\n$3\r\nGET\r\n" + cmd("PING"), "+PONG\r\n"},
		{"LF without CR", "*1\n$4\r\nPING\r\n" + cmd("PING"), "+PONG\r\n"},
		{"zero arguments", "*0\r\n" + cmd("PING"), "+PONG\r\n"},
		{"inline then array", "PING\r\n" + cmd("PING"), "+PONG\r\n+PONG\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			steps := []step{c(tc.cli), s(tc.srv)}
			whole := run(t, steps, false, nil, 0)
			if bytewise := run(t, steps, false, nil, 1); !slices.Equal(bytewise, whole) {
				t.Errorf("byte by byte:\n got  %q\n whole %q", bytewise, whole)
			}
		})
	}
}
