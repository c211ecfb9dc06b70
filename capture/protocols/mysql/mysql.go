// Package mysql decodes the MySQL/MariaDB client/server protocol of one TCP connection into
// audit events, one per command and its response (Packetbeat's mysql layout).
//
// The parser frames both directions into messages (3-byte length, sequence id, continuation
// packets for payloads of 16 MiB and more), then runs a small state machine: handshake (user,
// database, capabilities, SSL request), then commands and their responses. It keeps at most
// Options.MessageLimit bytes of a client message and 4 KiB of a server message; the rest of a
// message is counted, not stored. Whole messages inside one Data call are decoded in place
// without copying, so steady state does not allocate; events and their strings do.
//
// Without the handshake (Conn.MidStream) or after a Gap, a direction is out of sync: the
// client side resynchronises at the start of a Data call that begins with a plausible command
// packet, the server side on the first bytes after such a command if they open an answer with
// the expected sequence id. Bytes that do not fit are dropped, never turned into events.
//
// The method of an event is the statement's verb for COM_QUERY and for COM_STMT_EXECUTE (whose
// query is the text of the prepared statement, resolved per connection by statement id), and
// otherwise the command's name: PREPARE, INIT_DB (db.name is the requested database), PING,
// QUIT (emitted at once: no answer comes), CHANGE_USER, STMT_FETCH, STMT_RESET, ... A failed
// login is a LOGIN event with the server's error; a successful one is not an event, but its
// user and database go on every later event. An SSL request gives one SSL event with
// tls.requested, and a compressed connection one COMPRESS event; nothing follows either.
//
// Events of transactions whose response is unknown (connection closed, capture gap, a new
// command before the answer) are still emitted, with status Error and error.message saying
// why, so that the statement is audited.
package mysql

import (
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/internal/slab"
)

// serverKeep bounds what is kept of one server message: greetings, OK, ERR and the heads of
// result sets are short; rows are only counted.
const serverKeep = 4 << 10

// bufRelease is the buffer capacity above which a direction's buffer is dropped after its
// message, so that one large statement does not pin memory for the life of the connection.
const bufRelease = 16 << 10

// Parser decodes one connection. It implements protocols.StreamParser.
type Parser struct {
	conn  *protocols.Conn
	opts  *protocols.Options
	sink  protocols.Sink
	limit int

	half [2]half

	phase phase
	// caps are the capability flags both sides agreed on (zero without the handshake);
	// srvCaps are the server's, from its greeting.
	caps    uint32
	srvCaps uint32
	// eofMode is what the connection showed of CLIENT_DEPRECATE_EOF: from the handshake, or
	// learned from the first EOF or OK-form terminator when the handshake was missed.
	eofMode eofMode

	user *event.User
	db   *event.DB

	// t is the command the server answers next; queue holds the commands sent after it.
	t     txn
	queue []txn
	stmts stmtCache
	// tls decodes the rest of a connection that switched to TLS (opts.Upgrade).
	tls protocols.StreamParser
}

// evParts hands out the events' mysql.* fields to all connections, and takes them back when
// their event is released.
var evParts slab.Pool[evPart]

// evPart is an event's mysql.*, which the event owns (event.Part).
type evPart struct{ event.MySQL }

// Recycle gives pt back for evParts.New.
func (pt *evPart) Recycle() { evParts.Free(pt) }

type phase uint8

const (
	phaseGreeting phase = iota // nothing seen yet: expect the server greeting
	phaseLogin                 // greeting seen: expect the HandshakeResponse
	phaseCommand               // commands (the login exchange runs as a transaction)
	phaseDead                  // TLS, compression or closed: nothing more is decoded
)

type eofMode uint8

const (
	eofUnknown    eofMode = iota
	eofPackets            // EOF packets end column definitions and rows
	eofDeprecated         // CLIENT_DEPRECATE_EOF: no EOF after definitions, OK ends rows
)

// New returns the parser of connection c. It is a protocols.Factory.
func New(c *protocols.Conn, opts *protocols.Options, sink protocols.Sink) protocols.StreamParser {
	if opts == nil {
		opts = &protocols.Options{}
	}
	p := &Parser{conn: c, opts: opts, sink: sink, limit: opts.MessageLimit()}
	p.stmts.init()
	p.half[protocols.ToServer].synced = !c.MidStream
	p.half[protocols.ToClient].synced = !c.MidStream
	if c.MidStream {
		p.phase = phaseCommand
	}
	return p
}

// half frames one direction into messages.
type half struct {
	synced bool
	// probe collects the first bytes of a possible answer while out of sync (server side).
	probe  [5]byte
	probeN int
	hdr    [4]byte
	hdrN   int
	left   int  // payload bytes of the current packet still to come
	cont   bool // the current packet is maxPacket long: the message goes on in the next one

	inMsg   bool
	buf     []byte // kept head of the message payload, at most keep bytes
	keep    int
	total   int // payload bytes of the message so far
	wire    int // bytes on the wire so far, headers included
	first   int // length of the first packet
	seq     byte
	lastSeq byte
	start   time.Time
}

func (h *half) reset() {
	h.hdrN, h.left, h.cont, h.inMsg, h.probeN = 0, 0, false, false, 0
	h.buf = h.buf[:0]
	if cap(h.buf) > bufRelease {
		h.buf = nil
	}
}

// message is one logical message: the payload of one packet, or of a packet and its
// continuations.
type message struct {
	payload    []byte // the kept head of the payload; only valid during onMessage
	total      int    // the full payload length
	first      int    // the first packet's length
	seq        byte   // sequence id of the first packet
	lastSeq    byte   // sequence id of the last packet
	wire       int
	start, end time.Time
}

func (m *message) cut() bool { return len(m.payload) < m.total }

// Data implements protocols.StreamParser.
func (p *Parser) Data(dir protocols.Dir, data []byte, ts time.Time) {
	if p.tls != nil {
		p.tls.Data(dir, data, ts)
		return
	}
	if dir > protocols.ToClient || p.phase == phaseDead {
		return
	}
	h := &p.half[dir]
	if !h.synced {
		if dir == protocols.ToClient {
			p.probeServer(data, ts)
			return
		}
		if !p.resyncClient(data) {
			return
		}
	}
	for len(data) > 0 && h.synced && p.phase != phaseDead {
		if h.hdrN == 0 && !h.inMsg && len(data) >= 4 {
			// Fast path: a whole single-packet message is decoded where it lies.
			n := le24(data)
			if dir == protocols.ToClient && !p.answerLenOK(n) {
				p.lostSync(dir, "implausible server packet")
				return
			}
			if n < maxPacket && len(data) >= 4+n {
				keep := min(n, p.keepFor(dir))
				m := message{payload: data[4 : 4+keep], total: n, first: n, seq: data[3], lastSeq: data[3],
					wire: 4 + n, start: ts, end: ts}
				data = data[4+n:]
				p.onMessage(dir, &m)
				continue
			}
		}
		if h.hdrN < 4 {
			n := copy(h.hdr[h.hdrN:], data)
			h.hdrN += n
			data = data[n:]
			if h.hdrN < 4 {
				return
			}
			if !p.startPacket(dir, h, ts) {
				return
			}
			continue
		}
		n := min(h.left, len(data))
		if room := h.keep - len(h.buf); room > 0 {
			h.buf = appendBounded(h.buf, data[:min(n, room)], h.keep)
		}
		h.total += n
		h.wire += n
		h.left -= n
		data = data[n:]
		if h.left == 0 {
			p.endPacket(dir, h, ts)
		}
	}
	if p.tls != nil && len(data) > 0 {
		p.tls.Data(dir, data, ts) // the handshake began in the same segment as the request
	}
}

// startPacket handles a complete packet header; false if the direction lost sync.
func (p *Parser) startPacket(dir protocols.Dir, h *half, ts time.Time) bool {
	n, seq := le24(h.hdr[:]), h.hdr[3]
	if !h.inMsg && dir == protocols.ToClient && !p.answerLenOK(n) {
		p.lostSync(dir, "implausible server packet")
		return false
	}
	if !h.inMsg {
		h.inMsg = true
		h.buf = h.buf[:0]
		h.keep = p.keepFor(dir)
		h.total, h.wire, h.first, h.seq, h.start = 0, 0, n, seq, ts
	} else if seq != h.lastSeq+1 {
		p.lostSync(dir, "unexpected sequence id in a continued packet")
		return false
	}
	h.lastSeq = seq
	h.left = n
	h.cont = n == maxPacket
	h.wire += 4
	if n == 0 {
		p.endPacket(dir, h, ts)
	}
	return true
}

func (p *Parser) endPacket(dir protocols.Dir, h *half, ts time.Time) {
	h.hdrN = 0
	if h.cont {
		return
	}
	m := message{payload: h.buf, total: h.total, first: h.first, seq: h.seq, lastSeq: h.lastSeq,
		wire: h.wire, start: h.start, end: ts}
	h.inMsg = false
	p.onMessage(dir, &m)
	if cap(h.buf) > bufRelease {
		h.buf = nil
	}
}

// maxHeadLen bounds the server messages that open or describe an answer (OK, ERR, result set
// header, column and parameter definitions, auth exchange): a longer one means the framing
// went wrong, for example on bytes a reassembler delivered twice. Rows may be any length.
const maxHeadLen = 256 << 10

// answerLenOK says whether a server message of length n can start where the pending command's
// answer stands; it lets a misframed direction fail at the header instead of swallowing
// megabytes of later answers.
func (p *Parser) answerLenOK(n int) bool {
	if p.phase != phaseCommand {
		return true
	}
	t := &p.t
	if !t.active {
		return false // nobody asked
	}
	switch t.state {
	case rsFirst, rsColumns, rsPrepDefs, rsAuth, rsInfileDone:
		return n <= maxHeadLen
	}
	return true
}

// appendBounded appends src to dst, growing it to at most limit bytes of capacity.
func appendBounded(dst, src []byte, limit int) []byte {
	if need := len(dst) + len(src); need > cap(dst) {
		c := max(2*cap(dst), need, 256)
		c = min(c, limit)
		nb := make([]byte, len(dst), c)
		copy(nb, dst)
		dst = nb
	}
	return append(dst, src...)
}

// keepFor is how much of the next message of dir to keep, decided when it starts.
func (p *Parser) keepFor(dir protocols.Dir) int {
	if dir == protocols.ToClient {
		return min(p.limit, serverKeep)
	}
	if p.t.active && p.t.state == rsInfile {
		return 0 // file contents: only their size matters
	}
	return p.limit
}

// buffered is the memory held for partial messages, for tests.
func (p *Parser) buffered() int { return cap(p.half[0].buf) + cap(p.half[1].buf) }

// lostSync drops what dir was framing and waits for a point to resynchronise. The pending
// transaction is emitted with reason, since its response can no longer be read.
func (p *Parser) lostSync(dir protocols.Dir, reason string) {
	h := &p.half[dir]
	h.reset()
	h.synced = false
	p.abortAll(reason)
	if p.phase != phaseDead {
		p.phase = phaseCommand
	}
}

// Gap implements protocols.StreamParser.
func (p *Parser) Gap(dir protocols.Dir, n int, ts time.Time) {
	if p.tls != nil {
		p.tls.Gap(dir, n, ts)
		return
	}
	if dir > protocols.ToClient || p.phase == phaseDead {
		return
	}
	p.lostSync(dir, "gap in capture: response unknown")
}

// Close implements protocols.StreamParser.
func (p *Parser) Close(ts time.Time) {
	if p.tls != nil {
		p.tls.Close(ts)
	}
	if p.phase != phaseDead && p.t.active && p.t.respBytes != 0 {
		p.abort("connection closed before the response was complete")
	}
	p.abortAll("no response")
	p.phase = phaseDead
	p.half[0].buf, p.half[1].buf = nil, nil
	p.stmts.init()
}

// onMessage dispatches one complete message.
func (p *Parser) onMessage(dir protocols.Dir, m *message) {
	if dir == protocols.ToServer {
		p.onClient(m)
	} else {
		p.onServer(m)
	}
}
