// Package dns decodes DNS over UDP and TCP into one event per query and response, matched on
// the message id and the endpoints, in Packetbeat's `dns.*` layout. Messages are read by a
// small parser that decodes names into buffers it owns, so a datagram that is not a response
// costs no allocation. Only the event of a finished transaction allocates.
package dns

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/audit-io/wire-audit/capture/decode"
	"github.com/audit-io/wire-audit/capture/flowid"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/internal/intern"
)

// DefaultMaxPending bounds the queries a UDP parser waits on at once.
const DefaultMaxPending = 4096

// Bounds of what a UDP parser keeps to reuse in later events: the strings of names, queries
// and answers, and the Community IDs of client and server pairs (a resolver that keeps its
// socket asks from one port again and again).
const (
	maxStrings = 1024
	maxIDs     = 1024
)

// maxKept is what a pending query keeps of its message: the header and an uncompressed
// question, which is all an event needs from it.
const maxKept = headerLen + maxWireName + 4

type pendingKey struct {
	client, server netip.AddrPort
	id             uint16
}

type pending struct {
	ts    time.Time
	seq   uint64 // the query's place in capture order (UDP.seq)
	bytes int
	n     int
	msg   [maxKept]byte
}

// Stats count what a UDP parser dropped; the pipeline's goroutine writes them.
type Stats struct {
	Invalid    uint64 // datagrams that are not a well-formed DNS message
	Duplicates uint64 // queries repeated with the same id and endpoints while pending
	Refused    uint64 // queries not tracked because MaxPending were open
	TimedOut   uint64 // queries reported without a response
	Orphans    uint64 // responses without a captured query
}

// UDP decodes the DNS datagrams of one pipeline. It implements protocols.DatagramParser.
type UDP struct {
	iface   string
	sink    protocols.Sink
	timeout time.Duration
	max     int
	pending map[pendingKey]int32 // index into slots
	slots   []pending
	free    []int32
	b       builder
	Stats   Stats
	// seq numbers queries as they arrive; expired is Tick's and Close's scratch list, which
	// they sort by it, so that unanswered queries are reported in capture order and not in the
	// map's, which differs from run to run.
	seq     uint64
	expired []expiredQuery
	// ids holds the Community IDs of recent client and server pairs, up to maxIDs.
	ids    map[[2]netip.AddrPort]string
	maxIDs int
}

type expiredQuery struct {
	key pendingKey
	i   int32
}

// NewUDP is the protocols.DatagramFactory of DNS.
func NewUDP(iface string, opts *protocols.Options, sink protocols.Sink) protocols.DatagramParser {
	return &UDP{
		iface: iface, sink: sink, timeout: opts.Timeout(), max: DefaultMaxPending,
		pending: make(map[pendingKey]int32, 64),
		b:       builder{opts: opts, strs: intern.NewTable(maxStrings)},
		ids:     make(map[[2]netip.AddrPort]string), maxIDs: maxIDs,
	}
}

// Datagram implements protocols.DatagramParser.
func (u *UDP) Datagram(src, dst netip.AddrPort, payload []byte, ts time.Time) {
	h, err := readHeader(payload)
	if err == nil {
		err = checkMessage(payload, &h, &u.b.q)
	}
	if err != nil {
		u.Stats.Invalid++
		return
	}
	if !h.response() {
		u.query(pendingKey{src, dst, h.id}, payload, ts)
		return
	}
	key := pendingKey{dst, src, h.id}
	i, ok := u.pending[key]
	if !ok {
		u.Stats.Orphans++
		u.emit(key, nil, time.Time{}, 0, payload, ts, msgNoQuery)
		return
	}
	p := &u.slots[i]
	u.emit(key, p.msg[:p.n], p.ts, p.bytes, payload, ts, "")
	u.release(key, i)
}

func (u *UDP) query(key pendingKey, msg []byte, ts time.Time) {
	if _, ok := u.pending[key]; ok {
		u.Stats.Duplicates++
		return
	}
	if len(u.pending) >= u.max || u.b.q.end > maxKept {
		u.Stats.Refused++
		return
	}
	var i int32
	if n := len(u.free); n > 0 {
		i, u.free = u.free[n-1], u.free[:n-1]
	} else {
		u.slots = append(u.slots, pending{})
		i = int32(len(u.slots) - 1)
	}
	p := &u.slots[i]
	u.seq++
	p.ts, p.seq, p.bytes = ts, u.seq, len(msg)
	p.n = copy(p.msg[:], msg[:u.b.q.end])
	clear(p.msg[6:headerLen]) // the records are not kept, so the copy claims none
	u.pending[key] = i
}

func (u *UDP) release(key pendingKey, i int32) {
	delete(u.pending, key)
	u.free = append(u.free, i)
}

func (u *UDP) emit(key pendingKey, query []byte, qts time.Time, qBytes int, resp []byte, rts time.Time, why string) {
	c := &protocols.Conn{
		Client: key.client, Server: key.server, Transport: "udp", Interface: u.iface,
		CommunityID: u.communityID(key.client, key.server),
	}
	ev := u.b.event(c, query, qts, qBytes, resp, rts, len(resp), why)
	u.sink.Emit(ev)
}

// communityID is the Community ID of the pair, made once while the pair is in u.ids.
func (u *UDP) communityID(client, server netip.AddrPort) string {
	k := [2]netip.AddrPort{client, server}
	if id, ok := u.ids[k]; ok {
		return id
	}
	if len(u.ids) >= u.maxIDs {
		clear(u.ids)
	}
	id := flowid.CommunityID(client, server, decode.UDP)
	u.ids[k] = id
	return id
}

// Tick implements protocols.DatagramParser: queries older than the timeout end as errors.
func (u *UDP) Tick(now time.Time) {
	u.expire(now.Add(-u.timeout), false)
}

// Close implements protocols.DatagramParser: every query still open ends without a response.
func (u *UDP) Close(time.Time) {
	u.expire(time.Time{}, true)
}

// expire reports the pending queries sent before deadline (all of them with all) as
// unanswered, in the order they were captured.
func (u *UDP) expire(deadline time.Time, all bool) {
	list := u.expired[:0]
	for key, i := range u.pending {
		if all || u.slots[i].ts.Before(deadline) {
			list = append(list, expiredQuery{key, i})
		}
	}
	slices.SortFunc(list, func(a, b expiredQuery) int { return cmp.Compare(u.slots[a.i].seq, u.slots[b.i].seq) })
	for _, q := range list {
		p := &u.slots[q.i]
		u.Stats.TimedOut++
		u.emit(q.key, p.msg[:p.n], p.ts, p.bytes, nil, time.Time{}, msgNoResponse)
		u.release(q.key, q.i)
	}
	u.expired = list[:0]
}

var _ protocols.DatagramParser = (*UDP)(nil)
