package mysql

import (
	"net/netip"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// benchConns are the connections of the captures, each a list of segments.
func benchConns(b *testing.B) [][]protocoltest.Segment {
	var conns [][]protocoltest.Segment
	for _, file := range captures {
		index := map[netip.AddrPort]int{}
		for _, s := range protocoltest.ReadSegments(b, "testdata/"+file, testPort) {
			if len(s.Payload) == 0 {
				continue
			}
			i, ok := index[s.Client]
			if !ok {
				i = len(conns)
				index[s.Client] = i
				conns = append(conns, nil)
			}
			conns[i] = append(conns[i], s)
		}
	}
	return conns
}

var discard = protocols.SinkFunc(func(*event.Event) {})

// BenchmarkCaptures replays the captures' connections: handshakes, queries, prepared
// statements, a 40 000-byte row, mariadb-slap's load. Allocations here are per connection and
// per event.
func BenchmarkCaptures(b *testing.B) {
	conns := benchConns(b)
	var bytes, packets int
	for _, c := range conns {
		for _, s := range c {
			bytes += len(s.Payload)
			packets++
		}
	}
	opts := &protocols.Options{}
	b.SetBytes(int64(bytes))
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range conns {
			conn := protocols.Conn{Client: c[0].Client, Server: c[0].Server, Transport: "tcp"}
			p := New(&conn, opts, discard)
			for _, s := range c {
				p.Data(s.Dir, s.Payload, s.TS)
			}
			p.Close(c[len(c)-1].TS)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*packets), "ns/packet")
}

// BenchmarkRows is the steady state of a busy connection: one query answered by 1000 rows,
// cut into 1448-byte segments as on an Ethernet path. Only the event allocates.
func BenchmarkRows(b *testing.B) {
	rows := make([]string, 1000)
	for i := range rows {
		rows[i] = "row value with some text in it, number " + string(rune('0'+i%10))
	}
	resp, _ := resultSet(1, true, 0, rows...)
	query := cmdPkt(comQuery, "SELECT v FROM t WHERE k > 10")
	var segs [][]byte
	for d := resp; len(d) > 0; d = d[min(1448, len(d)):] {
		segs = append(segs, d[:min(1448, len(d))])
	}
	p := New(&testConn, &protocols.Options{}, discard)
	ts := time.Unix(1700000000, 0)
	b.SetBytes(int64(len(resp) + len(query)))
	b.ReportAllocs()
	for b.Loop() {
		p.Data(protocols.ToServer, query, ts)
		for _, s := range segs {
			p.Data(protocols.ToClient, s, ts)
		}
	}
	n := float64(b.N * (len(segs) + 1))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/packet")
	b.ReportMetric(testing.AllocsPerRun(10, func() {
		p.Data(protocols.ToServer, query, ts)
		for _, s := range segs {
			p.Data(protocols.ToClient, s, ts)
		}
	})/float64(len(segs)+1), "allocs/packet")
}
