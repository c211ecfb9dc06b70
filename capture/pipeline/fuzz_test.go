package pipeline

import (
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/audit-io/wire-audit/capture/decode"
	"github.com/audit-io/wire-audit/capture/protocols/dns"
	"github.com/audit-io/wire-audit/capture/protocols/mysql"
	"github.com/audit-io/wire-audit/capture/protocols/pgsql"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// FuzzPipeline sends arbitrary bytes as TCP segments of a MySQL and a PostgreSQL connection,
// in arbitrary order, directions, overlaps and gaps, through decode, reassembly and the real
// parsers: nothing panics, and buffered bytes stay within the budget.
func FuzzPipeline(f *testing.F) {
	f.Add([]byte("\x21\x00\x00\x00\x03SELECT * FROM t WHERE id = 1"), []byte{0, 1, 2, 3})
	f.Add([]byte("Q\x00\x00\x00\x0dSELECT 1;\x00"), []byte{0x81, 0x02, 0x40})
	f.Fuzz(func(t *testing.T, data, ops []byte) {
		fuzzSegments(t, data, ops, []Protocol{{Name: "mysql", Ports: []uint16{3306}, Factory: mysql.New}, {Name: "pgsql", Ports: []uint16{5432}, Factory: pgsql.New}})
	})
}

// FuzzDetect is FuzzPipeline with every protocol recognised by content, no port configured:
// detection, the hand-over of the first bytes and TLS marking must hold up as well.
func FuzzDetect(f *testing.F) {
	f.Add([]byte("!\x00\x00\x00\x03SELECT * FROM t WHERE id = 1"), []byte{0, 1, 2, 3})
	f.Add([]byte("\x00\x00\x00\x08\x04\xd2\x16/N\x16\x03\x01\x00P\x01"), []byte{0x88, 0xc1, 0x84})
	f.Fuzz(func(t *testing.T, data, ops []byte) {
		fuzzSegments(t, data, ops, []Protocol{
			{Name: "mysql", Factory: mysql.New, Detect: mysql.Detect},
			{Name: "pgsql", Factory: pgsql.New, Detect: pgsql.Detect},
			{Name: "dns", Factory: dns.NewTCP, Detect: dns.Detect, Datagram: dns.NewUDP},
		})
	})
}

// fuzzSegments plays ops over data as segments of two connections, to ports 3306 and 5432.
func fuzzSegments(t *testing.T, data, ops []byte, protos []Protocol) {
	if len(ops) == 0 || len(ops) > 64 {
		return
	}
	var sink protocoltest.Collector
	p, err := New(Options{Sink: &sink, Flows: true, MaxPendingBytes: 4096, MaxBufferedBytes: 8192, Protocols: protos})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := decode.New(layers.LinkTypeEthernet)
	var dp decode.Packet
	var seq [2][2]uint32 // per server, per direction
	off := 0
	for i, op := range ops {
		server := int(op>>7) & 1
		dir := int(op>>6) & 1
		n := int(op&0x1f) + 1
		if off >= len(data) {
			off = 0
		}
		end := min(off+n, len(data))
		srv := "10.0.0.2:3306"
		if server == 1 {
			srv = "10.0.0.2:5432"
		}
		src, dst := cli, srv
		if dir == 1 {
			src, dst = srv, cli
		}
		s := seq[server][dir]
		if op&0x20 != 0 {
			s += uint32(n) // skip ahead: a gap, or out of order
		}
		pk := pkt{src: src, dst: dst, seq: s, flags: "A", data: string(data[off:end])}
		p.Frame(d, serialize(t, pk), t0.Add(time.Duration(i)*time.Millisecond), &dp)
		seq[server][dir] = s + uint32(end-off)
		off = end
		if used := p.budget.Used(); used > p.opts.MaxBufferedBytes+n {
			t.Fatalf("%d bytes buffered, budget %d", used, p.opts.MaxBufferedBytes)
		}
	}
	p.Tick(t0.Add(time.Hour))
	p.Close(t0.Add(time.Hour))
	if p.budget.Used() != 0 || p.Stats().ActiveConns.Load() != 0 {
		t.Fatalf("after close: %d bytes held, %d connections", p.budget.Used(), p.Stats().ActiveConns.Load())
	}
}
