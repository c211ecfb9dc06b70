package reassembly

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/capture/protocols"
)

// recorder writes what it receives as "abc|gap3|def".
type recorder struct{ parts []string }

func (r *recorder) Data(_ protocols.Dir, data []byte, _ time.Time) {
	r.parts = append(r.parts, string(data))
}
func (r *recorder) Gap(_ protocols.Dir, n int, _ time.Time) {
	r.parts = append(r.parts, fmt.Sprintf("gap%d", n))
}
func (r *recorder) String() string { return strings.Join(r.parts, "|") }

type seg struct {
	seq      uint32
	syn, fin bool
	data     string
	at       int // seconds after t0
}

var t0 = time.Unix(1_700_000_000, 0)

func TestHalf(t *testing.T) {
	const isn = 1000
	tests := []struct {
		name        string
		segs        []seg
		flushAt     int // if > 0, Flush with deadline t0+flushAt
		close       bool
		want        string
		wantRetrans uint64
		wantGaps    uint64
		wantHeld    int
	}{
		{name: "in order after SYN", segs: []seg{{seq: isn, syn: true}, {seq: isn + 1, data: "abc"}, {seq: isn + 4, data: "def"}}, want: "abc|def"},
		{name: "mid-stream start", segs: []seg{{seq: 5000, data: "xyz"}, {seq: 5003, data: "w"}}, want: "xyz|w"},
		{name: "exact retransmission dropped", segs: []seg{{seq: 1, data: "abc"}, {seq: 1, data: "abc"}, {seq: 4, data: "d"}}, want: "abc|d", wantRetrans: 1},
		{name: "overlap trimmed", segs: []seg{{seq: 1, data: "abc"}, {seq: 2, data: "bcde"}}, want: "abc|de", wantRetrans: 1},
		{name: "out of order reordered", segs: []seg{{seq: 1, data: "ab"}, {seq: 5, data: "ef"}, {seq: 3, data: "cd"}}, want: "ab|cd|ef", wantHeld: 0},
		{name: "two held, filled by one", segs: []seg{{seq: 1, data: "a"}, {seq: 4, data: "d"}, {seq: 3, data: "c"}, {seq: 2, data: "b"}}, want: "a|b|c|d"},
		{name: "held duplicate of delivered bytes", segs: []seg{{seq: 1, data: "a"}, {seq: 3, data: "c"}, {seq: 2, data: "bc"}}, want: "a|bc", wantRetrans: 1},
		{name: "over the limit becomes a gap", segs: []seg{{seq: 1, data: "a"}, {seq: 20, data: strings.Repeat("x", 20)}}, want: "a|gap18|" + strings.Repeat("x", 20), wantGaps: 1},
		{name: "waiting then flushed", segs: []seg{{seq: 1, data: "a"}, {seq: 5, data: "e", at: 1}}, flushAt: 2, want: "a|gap3|e", wantGaps: 1},
		{name: "not yet due", segs: []seg{{seq: 1, data: "a"}, {seq: 5, data: "e", at: 3}}, flushAt: 2, want: "a", wantHeld: 1},
		{name: "close delivers held bytes after gaps", segs: []seg{{seq: 1, data: "a"}, {seq: 5, data: "e"}, {seq: 9, data: "i"}}, close: true, want: "a|gap3|e|gap3|i", wantGaps: 2},
		{name: "sequence wraps", segs: []seg{{seq: 0xfffffffe, data: "ab"}, {seq: 0, data: "cd"}}, want: "ab|cd"},
		{name: "out of order across the wrap", segs: []seg{{seq: 0xfffffffe, data: "ab"}, {seq: 2, data: "ef"}, {seq: 0, data: "cd"}}, want: "ab|cd|ef"},
		{name: "SYN with data", segs: []seg{{seq: 10, syn: true, data: "hi"}}, want: "hi"},
		{name: "old retransmission far behind", segs: []seg{{seq: 100, data: "abc"}, {seq: 50, data: "zz"}}, want: "abc", wantRetrans: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h Half
			var r recorder
			lim := &Limits{MaxPendingBytes: 16, MaxPendingSegments: 4}
			b := &Budget{Max: 1 << 20}
			for _, s := range tc.segs {
				h.Segment(protocols.ToServer, s.seq, s.syn, s.fin, []byte(s.data), t0.Add(time.Duration(s.at)*time.Second), &r, lim, b)
			}
			if tc.flushAt > 0 {
				h.Flush(protocols.ToServer, t0.Add(time.Duration(tc.flushAt)*time.Second), &r, b)
			}
			if tc.close {
				h.Close(protocols.ToServer, &r, b)
			}
			if got := r.String(); got != tc.want {
				t.Errorf("delivered %q, want %q", got, tc.want)
			}
			if h.Retransmissions != tc.wantRetrans {
				t.Errorf("retransmissions = %d, want %d", h.Retransmissions, tc.wantRetrans)
			}
			if h.Gaps != tc.wantGaps {
				t.Errorf("gaps = %d, want %d", h.Gaps, tc.wantGaps)
			}
			if h.Pending() != tc.wantHeld || b.Used() != tc.wantHeld {
				t.Errorf("held %d (budget %d), want %d", h.Pending(), b.Used(), tc.wantHeld)
			}
		})
	}
}

// The shared budget turns out-of-order data into a gap when the pipeline as a whole holds too
// much, even if each stream is under its own limit.
func TestBudgetSharedAcrossHalves(t *testing.T) {
	b := &Budget{Max: 8}
	lim := &Limits{MaxPendingBytes: 100, MaxPendingSegments: 100}
	var h1, h2 Half
	var r1, r2 recorder
	h1.Segment(protocols.ToServer, 1, false, false, []byte("a"), t0, &r1, lim, b)
	h1.Segment(protocols.ToServer, 10, false, false, []byte("123456"), t0, &r1, lim, b)
	h2.Segment(protocols.ToClient, 1, false, false, []byte("a"), t0, &r2, lim, b)
	h2.Segment(protocols.ToClient, 10, false, false, []byte("789012"), t0, &r2, lim, b)
	if b.Used() > b.Max {
		t.Fatalf("budget holds %d bytes, max %d", b.Used(), b.Max)
	}
	if h2.Gaps != 1 || r2.String() != "a|gap8|789012" {
		t.Errorf("second stream: %q gaps=%d, want a gap once the budget is full", r2.String(), h2.Gaps)
	}
}

// Reassembly delivers exactly the original bytes whatever the order of arrival, as long as
// nothing is lost.
func FuzzHalfReorder(f *testing.F) {
	f.Add([]byte("the quick brown fox jumps over the lazy dog"), uint32(7), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, isn uint32, chunk uint8) {
		if len(data) == 0 || chunk == 0 {
			return
		}
		var segs []seg
		for i := 0; i < len(data); i += int(chunk) {
			end := min(i+int(chunk), len(data))
			segs = append(segs, seg{seq: isn + uint32(i), data: string(data[i:end])})
		}
		// Deliver the first segment, then the rest in reverse order: worst case reordering.
		var h Half
		var r recorder
		lim := &Limits{MaxPendingBytes: 1 << 20, MaxPendingSegments: 1 << 20}
		b := &Budget{Max: 1 << 20}
		h.Segment(protocols.ToServer, segs[0].seq, false, false, []byte(segs[0].data), t0, &r, lim, b)
		for i := len(segs) - 1; i > 0; i-- {
			h.Segment(protocols.ToServer, segs[i].seq, false, false, []byte(segs[i].data), t0, &r, lim, b)
		}
		if got := strings.Join(r.parts, ""); got != string(data) {
			t.Fatalf("reassembled %q, want %q", got, data)
		}
		if h.Gaps != 0 || b.Used() != 0 {
			t.Fatalf("gaps=%d held=%d after a complete stream", h.Gaps, b.Used())
		}
	})
}
