// Package pgsql decodes the PostgreSQL frontend/backend protocol (version 3) of one TCP
// connection into audit events: one per simple Query, one per extended-protocol Execute (with
// the statement text resolved through Bind and Parse), one for an SSLRequest or GSSENCRequest
// the server accepts (after which the connection is not decoded), one per CancelRequest, and
// one for a start-up the server refuses. New is the protocols.Factory; Detect recognises the
// protocol from the first bytes of a direction.
//
// Pairing. Every client message that the server answers is queued with what it expects
// back; server messages complete the entry at the head of the queue. After an ErrorResponse
// in an extended-protocol batch the server skips to Sync, and so does the queue: the first
// Execute of the batch carries the error, the others are reported as not executed. A message
// that does not fit the head, a gap in the server's direction or a server stream that has
// to be resynchronised means pairing is lost: server messages are dropped up to the next
// ReadyForQuery, and every request still queued then is reported as not answered. Client
// bytes lost inside a batch leave a placeholder that absorbs the batch's answer up to its
// ReadyForQuery. What is not covered: a client that pipelines several simple Query messages
// and loses one of them in a gap may have the next one paired with the lost one's answer.
//
// Mid-stream. A connection joined mid-stream (Conn.MidStream) or after a gap resynchronises
// each direction on a message it can prove: a known type, a sane length, and a whole body
// that parses strictly (SQL text that starts with a keyword, exact field layouts). Once the
// server's direction has been resynchronised, nothing is paired until it sends a
// ReadyForQuery, unless on a mid-stream connection the server sent nothing before the first
// request.
//
// Multiple results. A Query string holding several statements is one message and one event:
// num_rows is the sum of the row counts of its CommandComplete tags, num_fields the field
// count of its last RowDescription, and the first ErrorResponse sets the error fields.
//
// Close. Requests still open when the connection closes are emitted with what is known of
// their response, status Error and error.message saying the response was not (fully) seen.
//
// Memory. Per connection: each direction keeps at most Options.MessageLimit bytes of one
// message (rows and COPY data are counted, never kept) and, while resynchronising, a window of
// at most 16 KiB; at most 256 statements holding at most MessageLimit bytes of text, 256
// portals, 1024 queued messages, and 8 recent statement texts of at most 1 KiB.
package pgsql

import (
	"encoding/binary"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/internal/slab"
)

// Per-connection bounds.
const (
	// maxPending bounds the client messages that wait for an answer.
	maxPending = 1024
	// maxNames bounds the prepared statements and the portals remembered, each.
	maxNames = 256
)

// Kinds of queue entries besides the message types of the client messages they stand for.
const (
	kindStartup = 0x01 // StartupMessage: authentication up to the first ReadyForQuery
	kindLost    = 0x02 // client bytes were lost: absorbs server messages up to a ReadyForQuery
)

// Messages of error.message.
const (
	noteNoResponse   = "response not captured"
	notePartial      = "connection closed before the response was complete"
	noteSkipped      = "not executed: the server skipped it after an earlier error in the same batch"
	noteNoStatement  = "statement text unknown: not prepared in the captured part of the connection"
	noteTooManyQueue = "response not tracked: too many requests in flight"
)

// New returns the parser of one PostgreSQL connection; it is a protocols.Factory.
func New(c *protocols.Conn, opts *protocols.Options, sink protocols.Sink) protocols.StreamParser {
	p := &parser{conn: c, opts: opts, sink: sink, limit: max(opts.MessageLimit(), 64)}
	if c.MidStream {
		p.rd[toServer].mode = modeResync
		p.rd[toClient].mode = modeResync
		p.needZ = true
	} else {
		p.rd[toServer].mode = modeStartup
	}
	return p
}

type parser struct {
	conn  *protocols.Conn
	opts  *protocols.Options
	sink  protocols.Sink
	limit int
	rd    [2]reader

	user *event.User
	db   *event.DB

	queue []entry // waiting for the server, oldest first: a window of qbuf
	qbuf  []entry
	// needZ: pairing is lost; server messages are dropped up to the next ReadyForQuery.
	needZ bool
	// skipToSync: the server reported an error in an extended-protocol batch whose Sync has
	// not been seen yet; it skips every client message up to that Sync.
	skipToSync bool
	// The Parse/Bind/Describe messages since the last Execute belong to the next Execute.
	batchStart time.Time
	batchBytes uint64
	// carry counts server bytes answering messages that have no event (ParseComplete...),
	// given to the next event that gets an answer.
	carry uint64
	// copyIn is the transaction whose COPY FROM STDIN data the client is sending.
	copyIn *tx

	stmts   map[string]*stmt
	portals map[string]*portal
	// stored is the statement text held in stmts, bounded by the message limit.
	stored int
	// sslStart is when the client asked for TLS or GSS encryption; gss says which.
	sslStart time.Time
	gss      bool
	// recent are the last texts seen, reused when a Query or Parse repeats one.
	recent     [recentTexts]*sqlText
	recentNext int
	// tls decodes the rest of a connection that switched to TLS (opts.Upgrade).
	tls protocols.StreamParser
}

type stmt struct {
	name   string
	sql    *sqlText
	fields uint64
}

// sqlText is statement text as events show it. Texts repeat (prepared statements, and clients
// that parse the same unnamed statement for every run), so the parser keeps the last few and
// works out their query fields once.
type sqlText struct {
	text string
	cut  bool // the message was larger than the limit: text is its beginning
	// q is what protocols.SetQuery makes of text, worked out at the first event (haveQ).
	q     queryInfo
	haveQ bool
}

// queryInfo is the part of an event that protocols.SetQuery fills.
type queryInfo struct {
	method, query, fingerprint string
	truncated                  bool
}

// recentTexts is how many texts the parser remembers, each of at most recentTextLen bytes.
const (
	recentTexts   = 8
	recentTextLen = 1 << 10
)

type portal struct {
	// stmtName is the statement the portal was bound to; st is nil when its Parse was not seen.
	stmtName string
	st       *stmt
	fields   uint64
	hasFld   bool
}

// entry is a client message waiting for its answer.
type entry struct {
	kind byte
	tx   *tx
	st   *stmt   // Parse: the statement (for a failed Parse with no Execute); Describe 'S'
	pt   *portal // Describe 'P'
}

// txs hands out the transactions of all connections, several per allocation, and takes them
// back when their event is released (event.Part). Statements and their texts are not made
// so: a connection keeps them (stmts, recent) for as long as it lives, and each would keep
// its whole chunk alive.
var txs slab.Pool[tx]

// tx is one transaction on its way to becoming an event.
type tx struct {
	method    string
	sql       *sqlText
	statement string
	portal    string
	start     time.Time
	reqBytes  uint64
	respBytes uint64
	answered  bool
	rows      uint64 // sum of completed results
	curRows   uint64 // DataRows of the current result
	fields    uint64
	failed    bool
	errCode   string
	errMsg    string
	errSev    string
	note      string
	tls       bool
	// pt is the portal an Execute ran: a Describe answered after the Execute was queued
	// gives its field count.
	pt *portal
	// pg is the event's pgsql.*, allocated with the transaction; pgUsed says an event has it.
	pg     event.PgSQL
	pgUsed bool
}

// newTx returns a transaction of the kind a request message starts.
func (p *parser) newTx(start time.Time, reqBytes uint64) *tx {
	t := txs.New()
	t.start, t.reqBytes = start, reqBytes
	return t
}

func (p *parser) Data(dir protocols.Dir, data []byte, ts time.Time) {
	if p.tls != nil {
		p.tls.Data(dir, data, ts)
		return
	}
	d := int(dir) & 1
	r := &p.rd[d]
	if d == toClient && r.seen == 0 && p.conn.MidStream && len(p.queue) > 0 {
		// The server said nothing since capture began and a request is already waiting:
		// its next byte starts the answer to that request.
		p.needZ = false
		r.mode = modeTyped
	}
	r.seen += uint64(len(data))
	p.feed(d, data, ts)
}

func (p *parser) Gap(dir protocols.Dir, n int, ts time.Time) {
	if p.tls != nil {
		p.tls.Gap(dir, n, ts)
		return
	}
	d := int(dir) & 1
	r := &p.rd[d]
	r.seen += uint64(n)
	if r.mode == modeOff || n <= 0 {
		return
	}
	r.scan, r.scanPos = r.scan[:0], 0
	p.desync(d)
}

func (p *parser) Close(ts time.Time) {
	if p.tls != nil {
		p.tls.Close(ts)
	}
	for _, e := range p.queue {
		if !reported(e) {
			continue
		}
		if e.tx.answered {
			e.tx.note = notePartial
		} else {
			e.tx.note = noteNoResponse
		}
		p.emit(e.tx, e.tx.start)
	}
	p.queue = p.queue[:0]
	p.rd[0].mode, p.rd[1].mode = modeOff, modeOff
}

// desync puts the reader of dir into resynchronisation. Lost server bytes lose the pairing;
// lost client bytes leave answers the queue does not expect.
func (p *parser) desync(dir int) {
	p.rd[dir].loseSync()
	if dir == toClient {
		p.needZ = true
		return
	}
	p.clientLost()
}

// clientLost records that client messages were lost or could not be read: the server will
// answer messages that are not in the queue.
func (p *parser) clientLost() {
	p.batchStart, p.batchBytes = time.Time{}, 0
	open := p.skipToSync
	p.skipToSync = false
	if n := len(p.queue); n > 0 && p.copyIn == nil {
		switch p.queue[n-1].kind {
		case 'Q', 'S', 'F', kindStartup, kindLost:
		default:
			open = true // a batch without its Sync yet
		}
	}
	if open {
		p.push(entry{kind: kindLost}, time.Time{})
	}
}

// message handles one complete message of direction dir; ts is when its last byte arrived.
func (p *parser) message(dir int, m *msg, ts time.Time) {
	if dir == toServer {
		if m.typ == 0 {
			p.startup(m, ts)
		} else {
			p.request(m, ts)
		}
		return
	}
	p.response(m, ts)
}

// startup handles the client's untyped start-up messages.
func (p *parser) startup(m *msg, ts time.Time) {
	r := &p.rd[toServer]
	if len(m.body) < 4 {
		p.desync(toServer)
		return
	}
	code := binary.BigEndian.Uint32(m.body)
	switch {
	case (code == codeSSL || code == codeGSSENC) && m.size == 4:
		p.sslStart, p.gss = m.start, code == codeGSSENC
		p.rd[toClient].mode = modeAnswer
	case code == codeCancel && m.size == 12:
		p.emit(&tx{method: "CancelRequest", start: m.start, reqBytes: uint64(m.wire)}, ts)
		r.mode = modeOff
	case code>>16 == 3 && code&0xffff <= 2:
		p.startupParams(m.body[4:])
		r.mode = modeTyped
		p.push(entry{kind: kindStartup, tx: &tx{method: "StartupMessage", start: m.start, reqBytes: uint64(m.wire)}}, ts)
	default:
		p.desync(toServer)
	}
}

func (p *parser) startupParams(b []byte) {
	d := decoder{b: b}
	var user, db string
	for {
		k, ok := d.cstring()
		if !ok || len(k) == 0 {
			break
		}
		v, ok := d.cstring()
		if !ok {
			break
		}
		switch string(k) {
		case "user":
			user = string(v)
		case "database":
			db = string(v)
		}
	}
	if db == "" {
		db = user // the server's default
	}
	if user != "" {
		p.user = &event.User{Name: user}
	}
	if db != "" {
		p.db = &event.DB{Name: db}
	}
}

// answer handles the server's one-byte answer to SSLRequest or GSSENCRequest.
func (p *parser) answer(b byte, ts time.Time) {
	srv := &p.rd[toClient]
	switch {
	case b == 'S' && !p.gss, b == 'G' && p.gss:
		t := &tx{method: "SSLRequest", start: p.sslStart, reqBytes: 8, respBytes: 1, answered: true, tls: !p.gss}
		if p.gss {
			t.method = "GSSENCRequest"
		}
		p.emit(t, ts)
		// Everything after this is encrypted.
		srv.mode, p.rd[toServer].mode = modeOff, modeOff
		if !p.gss && p.opts != nil && p.opts.Upgrade != nil {
			p.tls = p.opts.Upgrade(p.conn, p.opts, p.sink)
		}
	case b == 'N':
		srv.mode = modeTyped
	default:
		// Not an answer (an old server's ErrorResponse, or garbage): frame it as a message.
		srv.mode = modeTyped
		srv.hdr[0], srv.nhdr, srv.start = b, 1, ts
	}
}

// push queues e, bounding the queue.
func (p *parser) push(e entry, ts time.Time) {
	if len(p.queue) >= maxPending {
		for _, q := range p.queue {
			if reported(q) {
				q.tx.note = noteTooManyQueue
				p.emit(q.tx, q.tx.start)
			}
		}
		p.queue = p.queue[:0]
		p.needZ = true
	}
	if len(p.queue) == cap(p.queue) && len(p.queue) < cap(p.qbuf) {
		// pop moves the start forward: move the live entries back to the front.
		n := copy(p.qbuf[:cap(p.qbuf)], p.queue)
		clear(p.qbuf[n:cap(p.qbuf)])
		p.queue = p.qbuf[:n]
	}
	p.queue = append(p.queue, e)
	if cap(p.queue) > cap(p.qbuf) {
		p.qbuf = p.queue[:0]
	}
}

// reported says whether e is reported when it ends without its answer. A start-up is reported
// only when the server refuses it: clients such as psql routinely drop the connection at the
// password request and come back with a password.
func reported(e entry) bool { return e.tx != nil && e.kind != kindStartup }

// pop removes the head of the queue.
func (p *parser) pop() {
	p.queue[0] = entry{}
	p.queue = p.queue[1:]
}

// emit turns t into an event and hands it to the sink.
func (p *parser) emit(t *tx, end time.Time) {
	ev := protocols.NewEvent(p.conn, event.TypePgSQL, t.start)
	ev.Method = t.method
	if q := t.sql; q != nil {
		if !q.haveQ {
			protocols.SetQuery(ev, q.text, p.opts)
			q.q, q.haveQ = queryInfo{ev.Method, ev.Query, ev.QueryFingerprint, ev.QueryTruncated || q.cut}, true
		}
		ev.Method, ev.Query, ev.QueryFingerprint, ev.QueryTruncated = q.q.method, q.q.query, q.q.fingerprint, q.q.truncated
	}
	ev.User, ev.DB = p.user, p.db
	if t.fields == 0 && t.pt != nil {
		if t.pt.hasFld {
			t.fields = t.pt.fields
		} else if t.pt.st != nil {
			t.fields = t.pt.st.fields
		}
	}
	ev.PgSQL = &t.pg
	if t.pgUsed {
		ev.PgSQL = &event.PgSQL{} // an event points to the first one: never reuse it
	}
	t.pgUsed = true
	*ev.PgSQL = event.PgSQL{
		NumRows:       t.rows + t.curRows,
		NumFields:     t.fields,
		ErrorCode:     t.errCode,
		ErrorMessage:  t.errMsg,
		ErrorSeverity: t.errSev,
		Statement:     t.statement,
		Portal:        t.portal,
	}
	ev.Status = event.StatusOK
	if t.failed || t.note != "" && t.note != noteNoStatement {
		ev.Status = event.StatusError
	}
	if t.note != "" {
		ev.Error = &event.Error{Message: t.note}
	}
	if t.tls {
		ev.TLS = &event.TLS{Requested: true}
	}
	protocols.Finish(ev, end, t.reqBytes, t.respBytes)
	// Every caller has taken t off the queue, or never queued it: nothing reads it after
	// this but the event, which owns it. A COPY's later data no longer counts into it.
	if p.copyIn == t {
		p.copyIn = nil
	}
	ev.Own(t)
	p.sink.Emit(ev)
}

// Recycle gives t back for txs.New (event.Part).
func (t *tx) Recycle() { txs.Free(t) }

// intern returns the text of b, reusing a recent one with the same bytes.
func (p *parser) intern(b []byte, cut bool) *sqlText {
	for _, t := range p.recent {
		if t != nil && t.cut == cut && t.text == string(b) {
			return t
		}
	}
	t := &sqlText{text: string(b), cut: cut}
	if len(b) <= recentTextLen {
		p.recent[p.recentNext] = t
		p.recentNext = (p.recentNext + 1) % recentTexts
	}
	return t
}
