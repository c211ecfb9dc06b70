package pipeline

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/audit-io/wire-audit/capture/decode"
	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
)

// connState is where a connection is in its life.
type connState uint8

const (
	stateDecoding  connState = iota // a parser has it
	stateDetecting                  // its first bytes are kept until a Detect says whose it is
	stateSkipped                    // not decoded: no protocol recognised it, or it is TLS
	stateDuplicate                  // another interface's pipeline decodes it
)

// Bounds of detection: the first bytes of each direction kept per connection, and the
// number of Data calls after which a connection no detector took is given up.
const (
	detectBytes  = 1024
	detectChunks = 8
)

// detecting holds the first bytes of a connection while no protocol has claimed it. chunks
// remembers how they arrived, so that the chosen parser sees them in capture order.
type detecting struct {
	buf    [2][]byte
	chunks []chunk
}

type chunk struct {
	dir protocols.Dir
	n   int
	ts  time.Time
}

func (c *conn) protoName() string {
	if c.proto != nil {
		return c.proto.Name
	}
	if c.state == stateSkipped {
		return event.TypeTLS
	}
	return ""
}

// guessServer picks the server of a connection that no port names: the side that received
// the SYN, or, mid-stream, the side with the lower port (clients use ephemeral ports).
func guessServer(pkt *decode.Packet, src, dst netip.AddrPort) (client, server netip.AddrPort) {
	switch {
	case pkt.SYN && !pkt.ACK:
		return src, dst
	case pkt.SYN && pkt.ACK:
		return dst, src
	case pkt.SrcPort < pkt.DstPort:
		return dst, src
	}
	return src, dst
}

// detectData keeps the first bytes of c and asks every detector about them; the first that
// recognises a direction gets the connection and every byte seen so far.
func (p *Pipeline) detectData(c *conn, dir protocols.Dir, data []byte, ts time.Time) {
	d := c.detecting
	n := min(len(data), detectBytes-len(d.buf[dir]))
	d.buf[dir] = append(d.buf[dir], data[:n]...)
	d.chunks = append(d.chunks, chunk{dir, n, ts})
	first := d.buf[dir]
	pr := c.proto // the port's owner: explicit ports win over detection
	if dir == protocols.ToServer && isTLSClientHello(first) || dir == protocols.ToClient && isTLSServerHello(first) {
		if !p.tlsHere(c) {
			p.encrypted(c, ts)
			return
		}
		pr = p.tls // the TLS parser reports it, even on another protocol's port
		p.stats.Encrypted.Add(1)
	}
	for _, cand := range p.detect {
		if pr != nil {
			break
		}
		if cand.Detect(first, dir) {
			pr = cand
			p.stats.Detected.Add(1)
		}
	}
	if pr != nil {
		c.proto, c.state, c.detecting = pr, stateDecoding, nil
		c.parser = pr.Factory(&c.info, &p.opts.Parser, p.sink)
		var off [2]int
		for _, ch := range d.chunks {
			c.parser.Data(ch.dir, d.buf[ch.dir][off[ch.dir]:off[ch.dir]+ch.n], ch.ts)
			off[ch.dir] += ch.n
		}
		if n < len(data) {
			c.parser.Data(dir, data[n:], ts)
		}
		return
	}
	if n < len(data) || len(d.buf[dir]) >= detectBytes || len(d.chunks) >= detectChunks {
		p.undetected(c)
	}
}

// detectGap gives up on a connection whose first bytes were not all captured, unless a port
// names its protocol: that parser then resynchronises as it would after any gap.
func (p *Pipeline) detectGap(c *conn, dir protocols.Dir, n int, ts time.Time) {
	if c.proto == nil {
		p.undetected(c)
		return
	}
	p.detectData(c, dir, nil, ts) // hands the connection to its owner
	c.parser.Gap(dir, n, ts)
}

func (p *Pipeline) undetected(c *conn) {
	p.stats.Undetected.Add(1)
	c.state, c.detecting = stateSkipped, nil
	p.skipHalves(c)
}

// encrypted reports a connection that opens with a TLS handshake once, as a tls event, and
// stops looking at it: its content cannot be audited, and it is never decoded as garbage.
func (p *Pipeline) encrypted(c *conn, ts time.Time) {
	p.stats.Encrypted.Add(1)
	c.state, c.detecting = stateSkipped, nil
	p.skipHalves(c)
	if p.tls != nil {
		return // TLS is configured for other ports only: no event here
	}
	ev := protocols.NewEvent(&c.info, event.TypeTLS, c.first)
	ev.Status = event.StatusOK
	ev.TLS = &event.TLS{Encrypted: true}
	protocols.Finish(ev, ts, 0, 0)
	p.emit(ev)
}

// skipHalves releases what reassembly holds for c; its later packets are dropped unread.
func (p *Pipeline) skipHalves(c *conn) {
	for dir := range c.half {
		c.half[dir].Discard(&p.budget)
	}
}

// isTLSClientHello says whether b starts with a TLS handshake record holding a ClientHello.
func isTLSClientHello(b []byte) bool {
	return len(b) >= 6 && b[0] == 0x16 && b[1] == 3 && b[2] <= 4 && b[5] == 1
}

// isTLSServerHello says whether b starts with a TLS handshake record holding a ServerHello.
func isTLSServerHello(b []byte) bool {
	return len(b) >= 6 && b[0] == 0x16 && b[1] == 3 && b[2] <= 4 && b[5] == 2
}

// Claims gives each connection (TCP, or UDP flow) to the first pipeline (interface) that sees
// it. The pipelines of one sidecar share one Claims and consult it once per new connection.
// Each interface has its own capture goroutine, and one may have read a whole short
// connection before the other reads its first packet, so a claim outlives the connection by
// claimGrace: the late interface still finds it taken.
type Claims struct {
	mu        sync.Mutex
	owner     map[connKey]claim
	lastSweep time.Time
}

type claim struct {
	iface    string
	released time.Time // zero while the owner still has the connection
}

// claimGrace is how long a released claim still refuses other interfaces.
const claimGrace = 30 * time.Second

// NewClaims returns an empty Claims.
func NewClaims() *Claims { return &Claims{owner: map[connKey]claim{}} }

func (c *Claims) claim(key connKey, iface string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.lastSweep) > claimGrace {
		c.lastSweep = now
		for k, cl := range c.owner {
			if !cl.released.IsZero() && now.Sub(cl.released) > claimGrace {
				delete(c.owner, k)
			}
		}
	}
	if cl, ok := c.owner[key]; ok && cl.iface != iface && (cl.released.IsZero() || now.Sub(cl.released) <= claimGrace) {
		return false
	}
	c.owner[key] = claim{iface: iface}
	return true
}

func (c *Claims) release(key connKey, iface string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.owner[key]; ok && cl.iface == iface {
		c.owner[key] = claim{iface: iface, released: now}
	}
}

// tlsHere says whether the TLS protocol reports connection c: it is configured, on any port
// or on c's server port.
func (p *Pipeline) tlsHere(c *conn) bool {
	return p.tls != nil && (len(p.tls.Ports) == 0 || slices.Contains(p.tls.Ports, c.info.Server.Port()))
}
