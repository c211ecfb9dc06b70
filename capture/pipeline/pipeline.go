// Package pipeline ties decode, TCP reassembly and the protocol parsers together for one
// capture interface: it keeps the connection table, decides which side is the server,
// dispatches bytes to the parser of the connection's protocol, keeps flow counters and emits
// flow records.
//
// A Pipeline is driven by one goroutine (the capture loop of its interface): Packet, Tick and
// Close must not be called concurrently. Stats may be read from any goroutine.
package pipeline

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/audit-io/wire-audit/capture/decode"
	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/flowid"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/reassembly"
)

// Protocol is a parser and the server ports it listens on.
type Protocol struct {
	Name string
	// Ports are the server ports, TCP and UDP. Without ports the protocol is recognised by
	// content: Detect on TCP, the datagram parser's own checks on UDP.
	Ports []uint16
	// Factory makes the TCP parser of a connection; nil when the protocol has none.
	Factory protocols.Factory
	// Detect recognises the protocol from the first bytes of a TCP connection; nil when it
	// cannot be recognised by content.
	Detect protocols.Detector
	// Datagram makes the protocol's UDP parser; nil when the protocol does not run over UDP.
	Datagram protocols.DatagramFactory
}

// Options configure a Pipeline. Zero values take the documented defaults.
type Options struct {
	// Protocols to decode. A TCP connection whose server port none of them lists is ignored.
	Protocols []Protocol
	// Parser settings shared by every parser.
	Parser protocols.Options
	// Sink receives every event (transactions and flow records). Required.
	Sink protocols.Sink
	// Kubernetes is attached to every event.
	Kubernetes *event.Kubernetes
	// Interface names the capture interface in events.
	Interface string

	// Flows enables flow records: one every FlowPeriod per active connection, and a final one
	// when it ends.
	Flows      bool
	FlowPeriod time.Duration // default 10s
	// IdleTimeout closes connections without packets for this long. Default 2m.
	IdleTimeout time.Duration
	// PendingTimeout is how long reassembly waits for a missing segment before declaring a
	// gap. Default 1s.
	PendingTimeout time.Duration
	// MaxConnections bounds the connection table; new connections beyond it are counted in
	// Stats.ConnsRefused and not decoded. Default 65536.
	MaxConnections int
	// MaxPendingBytes bounds out-of-order bytes held per direction (default 256 KiB) and
	// MaxBufferedBytes those held by the whole pipeline (default 16 MiB).
	MaxPendingBytes  int
	MaxBufferedBytes int

	// DetectAll recognises every protocol that has a Detect by content on connections to
	// ports no protocol claims, not only those configured without ports, and reports any
	// connection that opens with TLS as encrypted, even on a protocol's port: in a
	// service-mesh pod the application talks to the proxy's ports on lo, and eth0 carries mTLS
	// on the application's ports.
	DetectAll bool
	// Mesh marks every event of this pipeline as seen through a service mesh (network.mesh).
	Mesh bool
	// Claims, shared by the pipelines of one sidecar, gives each TCP connection to the first
	// interface that sees it, so that a connection visible on two interfaces is decoded once.
	Claims *Claims
	// IgnorePorts are never decoded or detected on, whatever the protocols say: the
	// sidecar's own health and metrics port, which kubelet probes and scrapers reach.
	IgnorePorts []uint16
}

// Stats are the pipeline's counters.
type Stats struct {
	Packets, Bytes          atomic.Uint64
	DecodeErrors, NotTCPUDP atomic.Uint64
	Ignored                 atomic.Uint64 // TCP/UDP packets of no configured protocol
	Conns, ConnsRefused     atomic.Uint64 // connections opened / refused for a full table
	Retransmissions, Gaps   atomic.Uint64
	GapBytes, Events, Flows atomic.Uint64
	Truncated, ActiveConns  atomic.Uint64
	Detected, Undetected    atomic.Uint64 // connections recognised / not recognised by content
	Encrypted               atomic.Uint64 // connections found to carry only TLS
	Duplicates              atomic.Uint64 // connections left to the interface that saw them first
	BufferedBytes           atomic.Int64
}

// Pipeline is the per-interface connection table.
type Pipeline struct {
	opts     Options
	ports    map[uint16]*Protocol
	conns    map[connKey]*conn
	budget   reassembly.Budget
	limits   reassembly.Limits
	nextTick time.Time
	stats    Stats
	sink     protocols.Sink
	detect   []*Protocol // recognised by content on TCP
	udp      udpTable
	udpFlows map[connKey]udpFlow // with Claims: which UDP flows this interface decodes
	// tls is the protocol named "tls" (event.TypeTLS), when configured: it takes every
	// connection that opens with a TLS handshake (on its ports, or on any port without).
	tls *Protocol
	// seq numbers connections as they are first seen, and byFirst is Tick's and Close's
	// scratch list of them in that order: the map's order differs from run to run, and
	// events and flow records must come out the same for the same capture.
	seq     uint64
	byFirst []keyedConn
}

type keyedConn struct {
	key connKey
	c   *conn
}

// inOrder returns the connections in the order they were first seen, in p.byFirst, which the
// caller clears when done so that it keeps no connection alive.
func (p *Pipeline) inOrder() []keyedConn {
	list := p.byFirst[:0]
	for key, c := range p.conns {
		list = append(list, keyedConn{key, c})
	}
	slices.SortFunc(list, func(a, b keyedConn) int { return cmp.Compare(a.c.seq, b.c.seq) })
	p.byFirst = list
	return list
}

type connKey struct {
	a, b   [16]byte
	pa, pb uint16
	udp    bool // the key of a UDP flow, in Claims
}

type conn struct {
	info       protocols.Conn
	proto      *Protocol // nil while detecting, and for a connection that is not decoded
	state      connState
	parser     protocols.StreamParser
	detecting  *detecting
	half       [2]reassembly.Half // indexed by protocols.Dir
	first      time.Time
	last       time.Time
	seq        uint64              // first seen after seq-1 others (Pipeline.seq)
	reported   [2]reassembly.Stats // at the last periodic flow record
	nextReport time.Time
	// receiver is made once per connection: as a two-pointer value it would be boxed into
	// reassembly's interface, one allocation, on every segment.
	receiver *receiver
}

// receiver forwards reassembled bytes to the connection's parser.
type receiver struct {
	p *Pipeline
	c *conn
}

func (r *receiver) Data(dir protocols.Dir, data []byte, ts time.Time) {
	switch r.c.state {
	case stateDecoding:
		r.c.parser.Data(dir, data, ts)
	case stateDetecting:
		r.p.detectData(r.c, dir, data, ts)
	}
}

func (r *receiver) Gap(dir protocols.Dir, n int, ts time.Time) {
	switch r.c.state {
	case stateDecoding:
		r.c.parser.Gap(dir, n, ts)
	case stateDetecting:
		r.p.detectGap(r.c, dir, n, ts)
	}
}

// New validates opts and returns a Pipeline.
func New(opts Options) (*Pipeline, error) {
	if opts.Sink == nil {
		return nil, errors.New("pipeline: a sink is required")
	}
	setDefault(&opts.FlowPeriod, 10*time.Second)
	setDefault(&opts.IdleTimeout, 2*time.Minute)
	setDefault(&opts.PendingTimeout, time.Second)
	setDefault(&opts.MaxConnections, 65536)
	setDefault(&opts.MaxPendingBytes, 256<<10)
	setDefault(&opts.MaxBufferedBytes, 16<<20)
	p := &Pipeline{
		opts:   opts,
		ports:  map[uint16]*Protocol{},
		conns:  map[connKey]*conn{},
		budget: reassembly.Budget{Max: opts.MaxBufferedBytes},
		limits: reassembly.Limits{MaxPendingBytes: opts.MaxPendingBytes, MaxPendingSegments: 1024},
	}
	for i := range opts.Protocols {
		pr := &opts.Protocols[i]
		if pr.Factory == nil && pr.Datagram == nil {
			return nil, fmt.Errorf("pipeline: protocol %q has no parser", pr.Name)
		}
		if pr.Factory != nil && pr.Detect != nil && (len(pr.Ports) == 0 || opts.DetectAll) {
			p.detect = append(p.detect, pr)
		}
		if pr.Datagram != nil {
			p.udp.add(pr, pr.Datagram(opts.Interface, &p.opts.Parser, protocols.SinkFunc(p.emit)))
		}
		if pr.Factory == nil {
			continue
		}
		if pr.Name == event.TypeTLS {
			p.tls = pr
		}
		for _, port := range pr.Ports {
			if other, ok := p.ports[port]; ok {
				return nil, fmt.Errorf("pipeline: port %d is claimed by %s and %s", port, other.Name, pr.Name)
			}
			p.ports[port] = pr
		}
	}
	p.sink = protocols.SinkFunc(p.emit)
	return p, nil
}

func setDefault[T time.Duration | int](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// Stats returns the live counters.
func (p *Pipeline) Stats() *Stats { return &p.stats }

func (p *Pipeline) emit(ev *event.Event) {
	ev.Kubernetes = p.opts.Kubernetes
	ev.Network.Mesh = p.opts.Mesh
	p.stats.Events.Add(1)
	p.opts.Sink.Emit(ev)
}

// Frame decodes one captured frame with d and processes it. It is the hot path.
func (p *Pipeline) Frame(d *decode.Decoder, frame []byte, ts time.Time, pkt *decode.Packet) {
	p.stats.Packets.Add(1)
	p.stats.Bytes.Add(uint64(len(frame)))
	if err := d.Decode(frame, pkt); err != nil {
		if errors.Is(err, decode.ErrNotTransport) {
			p.stats.NotTCPUDP.Add(1)
		} else {
			p.stats.DecodeErrors.Add(1)
		}
		p.maybeTick(ts)
		return
	}
	p.Packet(pkt, ts)
}

// Packet processes one decoded packet captured at ts.
func (p *Pipeline) Packet(pkt *decode.Packet, ts time.Time) {
	if pkt.Truncated {
		p.stats.Truncated.Add(1)
	}
	switch pkt.Transport {
	case decode.TCP:
		p.tcp(pkt, ts)
	case decode.UDP:
		p.datagram(pkt, ts)
	default:
		p.stats.Ignored.Add(1)
	}
	p.maybeTick(ts)
}

func (p *Pipeline) maybeTick(ts time.Time) {
	if ts.Before(p.nextTick) {
		return
	}
	p.Tick(ts)
}

func keyOf(pkt *decode.Packet) (connKey, bool) {
	var k connKey
	src, dst := pkt.Src.As16(), pkt.Dst.As16()
	// The lower endpoint goes first, so both directions find the same entry.
	swapped := pkt.Src.Compare(pkt.Dst) > 0 || (pkt.Src == pkt.Dst && pkt.SrcPort > pkt.DstPort)
	if swapped {
		k.a, k.b, k.pa, k.pb = dst, src, pkt.DstPort, pkt.SrcPort
	} else {
		k.a, k.b, k.pa, k.pb = src, dst, pkt.SrcPort, pkt.DstPort
	}
	return k, swapped
}

func (p *Pipeline) tcp(pkt *decode.Packet, ts time.Time) {
	key, _ := keyOf(pkt)
	c := p.conns[key]
	if c != nil && pkt.SYN && !pkt.ACK && (c.half[protocols.ToServer].FIN || c.half[protocols.ToClient].FIN) {
		// The 5-tuple is reused by a new connection.
		p.closeConn(key, c, ts)
		c = nil
	}
	if c == nil {
		if len(pkt.Payload) == 0 && !pkt.SYN {
			// A bare ACK, FIN or RST of a connection we do not track (or already closed).
			p.stats.Ignored.Add(1)
			return
		}
		if c = p.open(key, pkt, ts); c == nil {
			return
		}
	}
	c.last = ts
	dir := protocols.ToServer
	if pkt.Src != c.info.Client.Addr() || pkt.SrcPort != c.info.Client.Port() {
		dir = protocols.ToClient
	}
	if c.state >= stateSkipped {
		if pkt.FIN {
			c.half[dir].FIN = true
		}
		if pkt.RST || (c.half[0].FIN && c.half[1].FIN) {
			p.closeConn(key, c, ts)
		}
		return
	}
	h := &c.half[dir]
	before := h.Stats
	h.Segment(dir, pkt.Seq, pkt.SYN, pkt.FIN, pkt.Payload, ts, c.receiver, &p.limits, &p.budget)
	if r := h.Retransmissions - before.Retransmissions; r > 0 {
		p.stats.Retransmissions.Add(r)
	}
	if g := h.Gaps - before.Gaps; g > 0 {
		p.stats.Gaps.Add(g)
		p.stats.GapBytes.Add(h.GapBytes - before.GapBytes)
	}
	if pkt.RST || (c.half[0].FIN && c.half[1].FIN) {
		p.closeConn(key, c, ts)
	}
}

// open starts tracking a connection, or returns nil when no configured protocol owns it.
func (p *Pipeline) open(key connKey, pkt *decode.Packet, ts time.Time) *conn {
	src := netip.AddrPortFrom(pkt.Src, pkt.SrcPort)
	dst := netip.AddrPortFrom(pkt.Dst, pkt.DstPort)
	var client, server netip.AddrPort
	var proto *Protocol
	switch {
	case pkt.SYN && !pkt.ACK:
		client, server, proto = src, dst, p.ports[pkt.DstPort]
	case pkt.SYN && pkt.ACK:
		client, server, proto = dst, src, p.ports[pkt.SrcPort]
	case p.ports[pkt.DstPort] != nil:
		client, server, proto = src, dst, p.ports[pkt.DstPort]
	default:
		client, server, proto = dst, src, p.ports[pkt.SrcPort]
	}
	if slices.Contains(p.opts.IgnorePorts, pkt.SrcPort) || slices.Contains(p.opts.IgnorePorts, pkt.DstPort) {
		p.stats.Ignored.Add(1)
		return nil
	}
	if proto == nil && len(p.detect) > 0 {
		client, server = guessServer(pkt, src, dst)
	} else if proto == nil {
		p.stats.Ignored.Add(1)
		return nil
	}
	if len(p.conns) >= p.opts.MaxConnections {
		p.stats.ConnsRefused.Add(1)
		return nil
	}
	p.seq++
	c := &conn{proto: proto, first: ts, last: ts, seq: p.seq, nextReport: ts.Add(p.opts.FlowPeriod)}
	c.info = protocols.Conn{
		Client:      client,
		Server:      server,
		Transport:   "tcp",
		CommunityID: flowid.CommunityID(client, server, decode.TCP),
		Interface:   p.opts.Interface,
		MidStream:   !(pkt.SYN && !pkt.ACK),
	}
	if p.opts.Claims != nil && !p.opts.Claims.claim(key, p.opts.Interface, ts) {
		// Another interface decodes this connection; remember it, to drop its packets cheaply.
		c.state = stateDuplicate
		p.stats.Duplicates.Add(1)
		p.conns[key] = c
		return c
	}
	c.receiver = &receiver{p, c}
	if proto != nil && !p.opts.DetectAll {
		c.parser = proto.Factory(&c.info, &p.opts.Parser, p.sink)
	} else {
		// With DetectAll even a port's owner waits for the first bytes, so that a TLS
		// connection is reported as encrypted instead of being fed to it.
		c.state, c.detecting = stateDetecting, &detecting{}
	}
	p.conns[key] = c
	p.stats.Conns.Add(1)
	p.stats.ActiveConns.Store(uint64(len(p.conns)))
	return c
}

func (p *Pipeline) closeConn(key connKey, c *conn, ts time.Time) {
	if c.state >= stateSkipped {
		p.forget(key, c)
		return
	}
	for dir := range c.half {
		before := c.half[dir].Stats
		c.half[dir].Close(protocols.Dir(dir), c.receiver, &p.budget)
		if g := c.half[dir].Gaps - before.Gaps; g > 0 {
			p.stats.Gaps.Add(g)
			p.stats.GapBytes.Add(c.half[dir].GapBytes - before.GapBytes)
		}
	}
	if c.parser != nil {
		c.parser.Close(ts)
	}
	if p.opts.Flows && c.state != stateDetecting {
		p.flow(c, true)
	}
	p.forget(key, c)
}

// forget drops c from the table and gives up its claim.
func (p *Pipeline) forget(key connKey, c *conn) {
	if p.opts.Claims != nil && c.state != stateDuplicate {
		p.opts.Claims.release(key, p.opts.Interface, c.last)
	}
	delete(p.conns, key)
	p.stats.ActiveConns.Store(uint64(len(p.conns)))
	p.stats.BufferedBytes.Store(int64(p.budget.Used()))
}

// Tick runs the timers at now (packet time during replay, wall time when live): idle
// connections close, overdue gaps are declared, and periodic flow records go out. The
// capture loop calls it at least once a second when no packet arrives.
func (p *Pipeline) Tick(now time.Time) {
	if p.nextTick.IsZero() {
		p.nextTick = now.Add(time.Second)
		return
	}
	p.nextTick = now.Add(time.Second)
	idle := now.Add(-p.opts.IdleTimeout)
	pending := now.Add(-p.opts.PendingTimeout)
	for _, kc := range p.inOrder() {
		key, c := kc.key, kc.c
		if c.last.Before(idle) {
			p.closeConn(key, c, now)
			continue
		}
		if c.state >= stateSkipped {
			continue
		}
		for dir := range c.half {
			if c.half[dir].Pending() > 0 {
				before := c.half[dir].Stats
				c.half[dir].Flush(protocols.Dir(dir), pending, c.receiver, &p.budget)
				p.stats.Gaps.Add(c.half[dir].Gaps - before.Gaps)
				p.stats.GapBytes.Add(c.half[dir].GapBytes - before.GapBytes)
			}
		}
		if p.opts.Flows && c.state != stateDetecting && !now.Before(c.nextReport) {
			c.nextReport = now.Add(p.opts.FlowPeriod)
			// A connection that was quiet since its last record has nothing new to say.
			if c.reported != [2]reassembly.Stats{c.half[0].Stats, c.half[1].Stats} {
				p.flow(c, false)
			}
		}
	}
	clear(p.byFirst)
	p.udp.tick(now)
	p.expireUDPFlows(now)
	p.stats.BufferedBytes.Store(int64(p.budget.Used()))
}

// Close ends every connection, as at the end of a capture file or on shutdown, in the order
// they were first seen.
func (p *Pipeline) Close(now time.Time) {
	for _, kc := range p.inOrder() {
		p.closeConn(kc.key, kc.c, now)
	}
	clear(p.byFirst)
	p.udp.close(now)
}
