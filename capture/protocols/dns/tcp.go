package dns

import (
	"encoding/binary"
	"time"

	"github.com/audit-io/wire-audit/capture/protocols"
)

// maxTCPPending bounds the queries one TCP connection waits on (clients pipeline a few at most).
const maxTCPPending = 64

// TCP decodes DNS over one TCP connection: each message has a 2-byte length prefix
// (RFC 1035 4.2.2). Queries and responses are matched on the message id, as responses may
// come out of order (RFC 7766).
type TCP struct {
	c       *protocols.Conn
	sink    protocols.Sink
	b       builder
	half    [2]tcpHalf
	pending map[uint16]*tcpQuery
}

type tcpHalf struct {
	buf    []byte // a message cut across Data calls, length prefix included
	synced bool   // false after a gap until a message start is recognised
}

type tcpQuery struct {
	ts    time.Time
	msg   []byte
	bytes int // on the wire, length prefix included
}

// NewTCP is the protocols.Factory of DNS over TCP.
func NewTCP(c *protocols.Conn, opts *protocols.Options, sink protocols.Sink) protocols.StreamParser {
	t := &TCP{c: c, sink: sink, b: builder{opts: opts}, pending: map[uint16]*tcpQuery{}}
	t.half[0].synced, t.half[1].synced = !c.MidStream, !c.MidStream
	return t
}

// Data implements protocols.StreamParser.
func (t *TCP) Data(dir protocols.Dir, data []byte, ts time.Time) {
	h := &t.half[dir]
	if !h.synced {
		if !frameStart(data) {
			return
		}
		h.synced = true
	}
	if len(h.buf) > 0 {
		need := 2 - len(h.buf)
		if len(h.buf) >= 2 {
			need = 2 + int(binary.BigEndian.Uint16(h.buf)) - len(h.buf)
		}
		n := min(need, len(data))
		h.buf = append(h.buf, data[:n]...)
		data = data[n:]
		if len(h.buf) == 2 {
			need = int(binary.BigEndian.Uint16(h.buf))
			n = min(need, len(data))
			h.buf = append(h.buf, data[:n]...)
			data = data[n:]
		}
		if len(h.buf) < 2 || len(h.buf) < 2+int(binary.BigEndian.Uint16(h.buf)) {
			return
		}
		t.message(h.buf[2:], ts)
		h.buf = h.buf[:0]
	}
	for len(data) >= 2 {
		n := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+n {
			break
		}
		t.message(data[2:2+n], ts)
		data = data[2+n:]
	}
	h.buf = append(h.buf, data...)
}

// frameStart says whether data starts with a length prefix and a whole, valid DNS message, or
// with the beginning of one: a place to frame the stream again.
func frameStart(data []byte) bool {
	if len(data) < 2+headerLen {
		return false
	}
	n := int(binary.BigEndian.Uint16(data))
	if n < headerLen || len(data) < 2+n {
		return false
	}
	h, _ := readHeader(data[2:])
	var q question
	return checkMessage(data[2:2+n], &h, &q) == nil
}

func (t *TCP) message(msg []byte, ts time.Time) {
	h, err := readHeader(msg)
	if err == nil {
		err = checkMessage(msg, &h, &t.b.q)
	}
	if err != nil {
		// A message we cannot read: the length prefix still frames the next one.
		return
	}
	if !h.response() {
		if _, dup := t.pending[h.id]; dup || len(t.pending) >= maxTCPPending {
			return
		}
		kept := append([]byte(nil), msg[:t.b.q.end]...)
		clear(kept[6:headerLen])
		t.pending[h.id] = &tcpQuery{ts: ts, msg: kept, bytes: len(msg) + 2}
		return
	}
	q := t.pending[h.id]
	if q == nil {
		t.sink.Emit(t.b.event(t.c, nil, time.Time{}, 0, msg, ts, len(msg)+2, msgNoQuery))
		return
	}
	delete(t.pending, h.id)
	t.sink.Emit(t.b.event(t.c, q.msg, q.ts, q.bytes, msg, ts, len(msg)+2, ""))
}

// Gap implements protocols.StreamParser: the framing is lost until a message start is seen.
func (t *TCP) Gap(dir protocols.Dir, _ int, _ time.Time) {
	t.half[dir].buf = t.half[dir].buf[:0]
	t.half[dir].synced = false
}

// Close implements protocols.StreamParser: queries without a response end as errors.
func (t *TCP) Close(time.Time) {
	for id, q := range t.pending {
		t.sink.Emit(t.b.event(t.c, q.msg, q.ts, q.bytes, nil, time.Time{}, 0, msgNoResponse))
		delete(t.pending, id)
	}
}
