package pipeline

import (
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/audit-io/wire-audit/capture/decode"
	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
)

// countParser counts bytes and keeps nothing, so that any allocation measured is the
// pipeline's own.
type countParser struct{ n int }

func (c *countParser) Data(_ protocols.Dir, data []byte, _ time.Time) { c.n += len(data) }
func (c *countParser) Gap(protocols.Dir, int, time.Time)              {}
func (c *countParser) Close(time.Time)                                {}

// TestSteadyStateDoesNotAllocate: once a connection is open, each in-order segment, both
// ways, goes from frame to parser without an allocation.
func TestSteadyStateDoesNotAllocate(t *testing.T) {
	var parser countParser
	p, err := New(Options{Interface: "eth0", Protocols: []Protocol{{Name: "count", Ports: []uint16{5432},
		Factory: func(*protocols.Conn, *protocols.Options, protocols.Sink) protocols.StreamParser { return &parser }}},
		Sink: protocols.SinkFunc(func(*event.Event) {})})
	if err != nil {
		t.Fatal(err)
	}
	d, err := decode.New(layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	const client, server = "10.0.0.1:40000", "10.0.0.2:5432"
	payload := "0123456789abcdef0123456789abcdef"
	var pk decode.Packet
	for _, f := range []pkt{{src: client, dst: server, seq: 100, flags: "S"}, {src: server, dst: client, seq: 500, flags: "SA"}} {
		p.Frame(d, serialize(t, f), t0, &pk)
	}
	// Pre-built frames of many segments, so that serialising costs nothing in the loop.
	const rounds = 200
	frames := make([][]byte, 0, 2*rounds)
	for i := range rounds {
		frames = append(frames,
			serialize(t, pkt{src: client, dst: server, seq: 101 + uint32(i*len(payload)), flags: "A", data: payload}),
			serialize(t, pkt{src: server, dst: client, seq: 501 + uint32(i*len(payload)), flags: "A", data: payload}))
	}
	next := 0
	allocs := testing.AllocsPerRun(len(frames)-1, func() {
		p.Frame(d, frames[next], t0.Add(time.Millisecond), &pk)
		next++
	})
	if allocs != 0 {
		t.Fatalf("%.2f allocations per segment, want 0", allocs)
	}
	if parser.n < (len(frames)-2)*len(payload) {
		t.Fatalf("the parser got %d bytes, want at least %d: the segments did not reach it", parser.n, (len(frames)-2)*len(payload))
	}
}
