package event

import (
	"time"
	"unsafe"
)

// Encoder writes a stream of events as AppendJSON does, byte for byte, at less cost: it keeps
// the text it wrote for what repeats from one event to the next (the second of a time; the
// addresses, network, type, statement and event kind of the last few connections, and the
// counts of their last event; the pod's identity) and copies it when the same values come
// again. The zero Encoder is ready to use; it is not safe for concurrent
// use.
//
// The pod's identity is recognised by its pointer: a Kubernetes must not change once an event
// that carries it was encoded, as Event.Kubernetes already requires. Everything else is
// compared by value.
type Encoder struct {
	sec   secondText
	conns [connSlots]connText
	last  int // the slot of the last event's connection
	next  int // the slot a new connection takes
	kube  *Kubernetes
	kubeT []byte // the text of kube
}

// secondText is the text appendSeconds wrote for the second unix in loc.
type secondText struct {
	unix   int64
	loc    *time.Location
	offset int
	text   [secondsLen]byte
}

// connSlots is how many connections an Encoder keeps the text of. On the 1.32M events of the
// mixed load capture (bin/mixed-load-*.pcap), where many clients take turns, 16 slots find the
// connection of 99.4% of the events (75.7% in the slot of the event before); 8 find 92.6%.
const connSlots = 16

// maxConnText bounds the text a slot keeps; longer text (a long zone or interface name) is
// written afresh each time.
const maxConnText = 512

// connText is the text of one connection's endpoints and network up to their byte counts.
type connText struct {
	// The connection's endpoints and network, with the counts and mark their text leaves out
	// zero.
	srcEnd, dstEnd Endpoint
	net            Network
	used           bool
	src, dst, netw []byte // appendEndpointHead's and Network.appendHead's text
	// The fields of the connection's last event that Event.appendHead writes, and its text
	// (empty until written, or when too long).
	typ, status, method, query, fingerprint string
	truncated                               bool
	kind, category, dataset                 string
	head                                    []byte
	// The whole text appendConn wrote for the connection's last event (empty until written)
	// and what it depends on besides the slot's key: the counts of the source and
	// destination, the client and server, and the network's bytes and mark. A client that
	// pipelines a run of one command gets answers of one size, so the next event most often
	// has the same text.
	whole          []byte
	connKey        connCounts
	client, server Endpoint
}

// connCounts are the fields of an event's source, destination and network that a slot's key
// leaves out.
type connCounts struct {
	srcBytes, srcPackets, dstBytes, dstPackets, netBytes uint64
	mesh                                                 bool
}

// eq is k == *o, field by field: the struct's padding made == a call to memequal, and this
// took the pipelined mix's replay from 9.05G to 8.94G instructions (cachegrind).
func (k *connCounts) eq(o *connCounts) bool {
	return k.srcBytes == o.srcBytes && k.dstBytes == o.dstBytes && k.netBytes == o.netBytes &&
		k.srcPackets == o.srcPackets && k.dstPackets == o.dstPackets && k.mesh == o.mesh
}

// appendTime writes t as the package's appendTime does, copying the date and clock when t is
// in the same second and location as the last time written. The offset of a location at a
// given second never changes, so the second and location are the whole key.
func (e *Encoder) appendTime(b []byte, t time.Time) []byte {
	if e == nil {
		return appendTime(b, t)
	}
	if s := &e.sec; s.loc != nil && t.Unix() == s.unix && t.Location() == s.loc {
		return appendFraction(append(b, s.text[:]...), t, s.offset)
	}
	offset, ok := direct(t)
	if !ok {
		return appendTime(b, t)
	}
	at := len(b)
	b = appendSeconds(b, t, offset)
	e.sec = secondText{unix: t.Unix(), loc: t.Location(), offset: offset}
	copy(e.sec.text[:], b[at:])
	return appendFraction(b, t, offset)
}

// appendHead writes ev.appendHead's text for an event on c's connection, or with no Encoder
// (c nil). The text is copied from the connection's last event when its fields are the
// same strings: a client's pipelined run of one command has the same status, method and query
// strings (the Redis parser reuses them), which took the pipelined mix's replay from 9.31G to
// 9.05G instructions (cachegrind).
func (c *connText) appendHead(b []byte, ev *Event) []byte {
	if c == nil {
		return ev.appendHead(b)
	}
	m := &ev.Event
	if len(c.head) == 0 || !same(ev.Query, c.query) || !same(ev.Method, c.method) || !same(ev.Status, c.status) ||
		ev.QueryTruncated != c.truncated || !same(ev.QueryFingerprint, c.fingerprint) || !same(ev.Type, c.typ) ||
		!same(m.Kind, c.kind) || !same(m.Category, c.category) || !same(m.Dataset, c.dataset) {
		at := len(b)
		b = ev.appendHead(b)
		if len(b)-at > maxHeadText {
			c.head = c.head[:0]
			return b
		}
		c.typ, c.status, c.method, c.query, c.truncated, c.fingerprint = ev.Type, ev.Status, ev.Method, ev.Query, ev.QueryTruncated, ev.QueryFingerprint
		c.kind, c.category, c.dataset = m.Kind, m.Category, m.Dataset
		c.head = append(c.head[:0], b[at:]...)
		return b
	}
	return append(b, c.head...)
}

// maxHeadText bounds the text of the head a slot keeps: a long query is written afresh each
// time.
const maxHeadText = 1024

// appendConn writes the source, destination, client, server and network of an event on c's
// connection, or with no Encoder (c nil).
func (c *connText) appendConn(b []byte, ev *Event) []byte {
	if c == nil {
		return appendConnWith(b, ev, nil, nil, nil)
	}
	// is(ev) held: the source's and destination's addresses and ports and the network's
	// strings are the slot's, so these and the client and server are the rest of the text's
	// input. Copying the last event's text took the pipelined mix's replay from 9.78G to 9.31G
	// instructions (cachegrind).
	k := connCounts{ev.Source.Bytes, ev.Source.Packets, ev.Destination.Bytes, ev.Destination.Packets, ev.Network.Bytes, ev.Network.Mesh}
	if len(c.whole) > 0 && k.eq(&c.connKey) && ev.Client == c.client && ev.Server == c.server {
		return append(b, c.whole...)
	}
	at := len(b)
	b = appendConnWith(b, ev, c.src, c.dst, c.netw)
	c.whole = append(c.whole[:0], b[at:]...)
	c.connKey, c.client, c.server = k, ev.Client, ev.Server
	return b
}

// appendConnWith writes what appendConn does, given the text of the connection's endpoint and
// network heads, or nil.
func appendConnWith(b []byte, ev *Event, srcHead, dstHead, netHead []byte) []byte {
	// The client is most often the source and the server the destination: their text, or
	// at least that of their address and port, is copied instead of formatted again.
	b, src, srcHead := ev.Source.optJSON(b, `,"source":`, &ev.Source, nil, srcHead)
	b, dst, dstHead := ev.Destination.optJSON(b, `,"destination":`, &ev.Destination, nil, dstHead)
	b, _, _ = ev.Client.optJSON(b, `,"client":`, &ev.Source, src, srcHead)
	b, _, _ = ev.Server.optJSON(b, `,"server":`, &ev.Destination, dst, dstHead)
	if n := &ev.Network; n.CommunityID != "" || *n != (Network{}) { // most often without the struct comparison's call
		b = append(b, `,"network":`...)
		b = ev.Network.appendJSON(b, netHead)
	}
	return b
}

// conn returns the slot that holds the text of ev's connection, filled now if none did; nil
// for a nil Encoder or text too long to keep.
func (e *Encoder) conn(ev *Event) *connText {
	if e == nil {
		return nil
	}
	if c := &e.conns[e.last]; c.is(ev) {
		return c
	}
	for i := range e.conns {
		if c := &e.conns[i]; c.is(ev) {
			e.last = i
			return c
		}
	}
	i := e.next
	e.next = (i + 1) % connSlots
	c := &e.conns[i]
	c.srcEnd = Endpoint{IP: ev.Source.IP, Port: ev.Source.Port}
	c.dstEnd = Endpoint{IP: ev.Destination.IP, Port: ev.Destination.Port}
	c.net = ev.Network
	c.net.Bytes, c.net.Mesh = 0, false
	c.src = appendEndpointHead(c.src[:0], c.srcEnd.IP, c.srcEnd.Port)
	c.dst = appendEndpointHead(c.dst[:0], c.dstEnd.IP, c.dstEnd.Port)
	c.netw = c.net.appendHead(c.netw[:0])
	c.head, c.whole = c.head[:0], c.whole[:0]
	if len(c.src)+len(c.dst)+len(c.netw) > maxConnText {
		*c = connText{}
		return nil
	}
	c.used = true
	e.last = i
	return c
}

// is tells whether c holds the text of ev's connection.
func (c *connText) is(ev *Event) bool {
	n := &ev.Network
	return c.used && c.srcEnd.Port == ev.Source.Port && c.dstEnd.Port == ev.Destination.Port &&
		c.srcEnd.IP == ev.Source.IP && c.dstEnd.IP == ev.Destination.IP && same(c.net.CommunityID, n.CommunityID) &&
		same(c.net.Type, n.Type) && same(c.net.Transport, n.Transport) && same(c.net.Protocol, n.Protocol) &&
		same(c.net.Interface, n.Interface)
}

// same is a == b, without a call when both are the same bytes in memory: the strings a slot
// is compared with are most often the very ones it was filled from (a connection's
// community_id, constants).
func same(a, b string) bool {
	return len(a) == len(b) && (unsafe.StringData(a) == unsafe.StringData(b) || a == b)
}

// appendKubernetes writes k, copying the text written for the last pod when k is the same
// pointer (see Encoder).
func (e *Encoder) appendKubernetes(b []byte, k *Kubernetes) []byte {
	if e == nil {
		return k.appendJSON(b)
	}
	if k == e.kube {
		return append(b, e.kubeT...)
	}
	at := len(b)
	b = k.appendJSON(b)
	e.kube, e.kubeT = k, append(e.kubeT[:0], b[at:]...)
	return b
}
