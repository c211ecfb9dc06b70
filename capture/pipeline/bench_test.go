package pipeline

import (
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"

	"github.com/audit-io/wire-audit/capture/decode"
	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/dns"
)

// BenchmarkDNSReplay sends the frames of dig against dnsmasq (the DNS parser's udp.pcap: A,
// AAAA, TXT, MX, SRV, CNAME and NXDOMAIN, query and response each) through decode, the
// pipeline's datagram path and the DNS parser, as the sidecar does. Allocations per packet are
// those of the seven events; the path itself allocates nothing.
func BenchmarkDNSReplay(b *testing.B) {
	f, err := os.Open("../protocols/dns/testdata/udp.pcap")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	var frames [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		frames = append(frames, data)
	}
	for _, mode := range []struct {
		name  string
		ports []uint16
	}{{"port", []uint16{15353}}, {"by-content", nil}} {
		b.Run(mode.name, func(b *testing.B) {
			events := 0
			p, err := New(Options{Sink: protocols.SinkFunc(func(*event.Event) { events++ }),
				Protocols: []Protocol{{Name: "dns", Ports: mode.ports, Factory: dns.NewTCP, Datagram: dns.NewUDP}}})
			if err != nil {
				b.Fatal(err)
			}
			d, err := decode.New(r.LinkType())
			if err != nil {
				b.Fatal(err)
			}
			var pkt decode.Packet
			ts := time.Unix(1_700_000_000, 0)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for _, fr := range frames {
					p.Frame(d, fr, ts, &pkt)
				}
			}
			b.StopTimer()
			if want := b.N * len(frames) / 2; events != want {
				b.Fatalf("%d events, want %d", events, want)
			}
			b.ReportMetric(float64(b.N*len(frames))/b.Elapsed().Seconds(), "packets/s")
			b.ReportMetric(float64(testing.AllocsPerRun(20, func() {
				for _, fr := range frames {
					p.Frame(d, fr, ts, &pkt)
				}
			}))/float64(len(frames)), "allocs/packet")
		})
	}
}
