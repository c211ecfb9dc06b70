package pipeline

import (
	"net/netip"
	"time"

	"github.com/audit-io/wire-audit/capture/decode"
	"github.com/audit-io/wire-audit/capture/protocols"
)

// udpTable routes datagrams to the datagram parser of their protocol: by port, or, for a
// protocol configured without ports, to its parser, which checks the content itself.
type udpTable struct {
	ports   map[uint16]protocols.DatagramParser
	any     protocols.DatagramParser
	parsers []protocols.DatagramParser
}

func (u *udpTable) add(pr *Protocol, dp protocols.DatagramParser) {
	u.parsers = append(u.parsers, dp)
	if len(pr.Ports) == 0 {
		if u.any == nil {
			u.any = dp
		}
		return
	}
	if u.ports == nil {
		u.ports = map[uint16]protocols.DatagramParser{}
	}
	for _, port := range pr.Ports {
		if _, ok := u.ports[port]; !ok {
			u.ports[port] = dp
		}
	}
}

func (p *Pipeline) datagram(pkt *decode.Packet, ts time.Time) {
	dp := p.udp.ports[pkt.DstPort]
	if dp == nil {
		dp = p.udp.ports[pkt.SrcPort]
	}
	if dp == nil {
		dp = p.udp.any
	}
	if dp == nil {
		p.stats.Ignored.Add(1)
		return
	}
	dp.Datagram(netip.AddrPortFrom(pkt.Src, pkt.SrcPort), netip.AddrPortFrom(pkt.Dst, pkt.DstPort), pkt.Payload, ts)
}

func (u *udpTable) tick(now time.Time) {
	for _, dp := range u.parsers {
		dp.Tick(now)
	}
}

func (u *udpTable) close(now time.Time) {
	for _, dp := range u.parsers {
		dp.Close(now)
	}
}
