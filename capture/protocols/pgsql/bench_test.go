package pgsql

import (
	"testing"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// BenchmarkReplay decodes the captured connections, a parser per connection, and reports
// the cost per packet (TCP segment with payload) next to the usual per-op figures.
func BenchmarkReplay(b *testing.B) {
	for _, file := range []string{"pgbench_prepared.pcap", "pgbench_extended.pcap", "simple.pcap"} {
		b.Run(file, func(b *testing.B) {
			protocoltest.BenchReplay(b, readSegs(b, file), New, &protocols.Options{})
		})
	}
}

// BenchmarkRows is the steady state of one connection: a query answered by 10,000 rows in
// 64 KiB segments. Rows are counted in place, so the only allocations are the event's.
func BenchmarkRows(b *testing.B) {
	req := query("SELECT id, payload FROM t")
	var resp []byte
	resp = append(resp, rowDesc("id", "payload")...)
	for range 10000 {
		resp = append(resp, dataRow("12345", "the quick brown fox jumps over the lazy dog, twice over: the quick brown fox")...)
	}
	resp = append(resp, complete("SELECT 10000")...)
	resp = append(resp, ready()...)
	var events int
	p := New(&testConn, &protocols.Options{}, protocols.SinkFunc(func(*event.Event) { events++ }))
	ts := time.Unix(1700000000, 0)
	for _, st := range login {
		p.Data(st.dir, st.data, ts)
	}
	b.SetBytes(int64(len(req) + len(resp)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		p.Data(protocols.ToServer, req, ts)
		for data := resp; len(data) > 0; {
			k := min(len(data), 64<<10)
			p.Data(protocols.ToClient, data[:k], ts)
			data = data[k:]
		}
	}
	b.StopTimer()
	if events != b.N {
		b.Fatalf("%d events for %d queries", events, b.N)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*(1+(len(resp)+(64<<10)-1)/(64<<10))), "ns/pkt")
}
