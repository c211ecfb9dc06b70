package http

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
)

// BenchmarkReplay decodes the captured connections, a parser per connection, and reports the
// cost per packet (TCP segment with payload) next to the usual per-op figures.
func BenchmarkReplay(b *testing.B) {
	for _, file := range []string{"curl.pcap", "pipelined.pcap"} {
		b.Run(file, func(b *testing.B) {
			type conn struct {
				c    protocols.Conn
				dirs []protocols.Dir
				data [][]byte
			}
			var conns []*conn
			byClient := map[netip.AddrPort]*conn{}
			var size, pkts int
			for _, sg := range readSegs(b, file) {
				if len(sg.Payload) == 0 {
					continue
				}
				cn := byClient[sg.Client]
				if cn == nil {
					cn = &conn{c: protocols.Conn{Client: sg.Client, Server: sg.Server, Transport: "tcp"}}
					byClient[sg.Client] = cn
					conns = append(conns, cn)
				}
				cn.dirs = append(cn.dirs, sg.Dir)
				cn.data = append(cn.data, sg.Payload)
				size += len(sg.Payload)
				pkts++
			}
			var events int
			sink := protocols.SinkFunc(func(*event.Event) { events++ })
			opts := &protocols.Options{MaxQueryLength: 1024}
			ts := time.Unix(1700000000, 0)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			b.ResetTimer()
			for range b.N {
				for _, cn := range conns {
					p := New(&cn.c, opts, sink)
					for j, d := range cn.data {
						p.Data(cn.dirs[j], d, ts)
					}
					p.Close(ts)
				}
			}
			b.StopTimer()
			runtime.ReadMemStats(&ms1)
			n := float64(b.N) * float64(pkts)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/pkt")
			b.ReportMetric(n/b.Elapsed().Seconds(), "pkts/s")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/pkt")
			b.ReportMetric(float64(events)/float64(b.N), "events/op")
		})
	}
}
