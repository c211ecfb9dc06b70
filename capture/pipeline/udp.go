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
	if p.opts.Claims != nil && !p.ownsUDPFlow(pkt, ts) {
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

// udpFlow remembers whether this pipeline decodes a UDP flow (both endpoints), and when a
// datagram of it was last seen.
type udpFlow struct {
	last  time.Time
	owned bool
}

// udpFlowIdle is how long a UDP flow keeps its owner without datagrams: longer than a
// transaction waits for its response.
const udpFlowIdle = 30 * time.Second

// ownsUDPFlow says whether this pipeline decodes the datagrams of pkt's flow: the first
// interface to see a flow claims it, so a datagram seen on two interfaces is decoded once. It
// takes the shared lock only for a flow it has not seen yet.
func (p *Pipeline) ownsUDPFlow(pkt *decode.Packet, ts time.Time) bool {
	key, _ := keyOf(pkt)
	key.udp = true
	f, ok := p.udpFlows[key]
	if !ok {
		if len(p.udpFlows) >= p.opts.MaxConnections {
			p.stats.ConnsRefused.Add(1)
			return false
		}
		if p.udpFlows == nil {
			p.udpFlows = map[connKey]udpFlow{}
		}
		if f.owned = p.opts.Claims.claim(key, p.opts.Interface, ts); !f.owned {
			p.stats.Duplicates.Add(1)
		}
	}
	f.last = ts
	p.udpFlows[key] = f
	return f.owned
}

// expireUDPFlows forgets flows idle for udpFlowIdle and gives up their claims.
func (p *Pipeline) expireUDPFlows(now time.Time) {
	idle := now.Add(-udpFlowIdle)
	for key, f := range p.udpFlows {
		if f.last.Before(idle) {
			if f.owned {
				p.opts.Claims.release(key, p.opts.Interface, now)
			}
			delete(p.udpFlows, key)
		}
	}
}
