package dns

import (
	"testing"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
)

// BenchmarkUDPReplay replays the datagrams of testdata/udp.pcap (dig against dnsmasq: A, AAAA,
// TXT, MX, SRV, CNAME, NXDOMAIN) through the UDP parser. It reports packets/s and allocations
// per packet: queries cost none; the allocations are those of the events built for responses.
func BenchmarkUDPReplay(b *testing.B) {
	dgs := readDatagrams(b, "testdata/udp.pcap")
	benchUDP(b, dgs)
}

// BenchmarkUDPQueries replays only the queries (each answered by nothing, then expired on
// close at the end): the per-packet cost of the parser itself, without building events.
func BenchmarkUDPQueries(b *testing.B) {
	var qs []datagram
	for _, d := range readDatagrams(b, "testdata/udp.pcap") {
		if d.payload[2]&0x80 == 0 {
			qs = append(qs, d)
		}
	}
	benchUDP(b, qs)
}

func benchUDP(b *testing.B, dgs []datagram) {
	var n int
	sink := protocols.SinkFunc(func(*event.Event) { n++ })
	u := NewUDP("eth0", nil, sink).(*UDP)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for _, d := range dgs {
			u.Datagram(d.src, d.dst, d.payload, d.ts)
		}
		if i%64 == 63 {
			u.Close(dgs[0].ts) // keep the table from filling with unanswered queries
		}
	}
	b.StopTimer()
	packets := float64(b.N) * float64(len(dgs))
	b.ReportMetric(packets/b.Elapsed().Seconds(), "packets/s")
	u.Close(dgs[0].ts)
	allocs := testing.AllocsPerRun(10, func() {
		for _, d := range dgs {
			u.Datagram(d.src, d.dst, d.payload, d.ts)
		}
	})
	b.ReportMetric(allocs/float64(len(dgs)), "allocs/packet")
	_ = n
}
