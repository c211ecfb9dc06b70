// Package mongodb decodes the MongoDB wire protocol of one TCP connection into audit events:
// one per command, paired with its reply. New is the protocols.Factory; Detect recognises the
// protocol from the first bytes of a direction.
//
// Messages. OP_MSG (a kind 0 body and kind 1 document sequences, with or without a checksum),
// OP_QUERY and OP_REPLY (the first hello/isMaster of older drivers, and legacy queries), and
// OP_COMPRESSED around any of them (snappy, zlib, zstd, noop). BSON is read in place, with
// the Go driver's bsoncore and readers that follow its rules (elements.go); the legacy CRUD
// opcodes are framed and passed over.
//
// Events. method is the command name as sent (the first key of the command document), db.name
// its $db, mongodb.collection the collection it names, query the command (document sequences
// as array fields) in relaxed Extended JSON with every literal value replaced by "?" under
// Options.MaskLiterals and cut at Options.MaxQueryLength, and query_fingerprint a hash of its
// shape (every value masked, arrays folded to their first element, session fields left out).
// The query is written straight from the command's elements (jsonOut), byte for byte what
// bson.MarshalExtJSON gives for the rewritten command, and by the driver for the few value
// types jsonOut leaves to it.
// A reply with ok: 0, write errors or a write concern error sets status Error and the
// mongodb.error_* fields. mongodb.num_docs counts a cursor's firstBatch or nextBatch (or an
// OP_REPLY's documents), mongodb.cursor_id the cursor left open or named by getMore.
//
// Secrets. saslStart, saslContinue, authenticate (and the other authentication commands) are
// shown as their name, mechanism, conversationId and $db only; pwd, payload and
// speculativeAuthenticate fields are replaced by "?" wherever they appear, masking or not.
// Replies are never rendered. user.name is taken from the first SCRAM message or the PLAIN
// authentication identity of a saslStart (or a hello's speculative saslStart), and from the
// user of an X.509 authenticate.
//
// Pairing. A reply names the request it answers (responseTo = requestID). A request sent with
// moreToCome expects no reply and is reported at once. An exhaust reply (moreToCome set by the
// server) is reported, and the next reply, which answers the previous reply's requestID,
// becomes another event of the same command.
//
// Loss. A connection joined mid-stream (Conn.MidStream), a gap, or a message that does not
// decode makes the direction resynchronise on the next plausible header: a sane length, a
// known opcode, and for OP_MSG known flags and a kind 0 section that starts a BSON document.
// A gap also drops the requests waiting for replies, which are reported with status Error and
// "response not captured". A message longer than Options.MessageLimit (compressed or, for
// OP_COMPRESSED, uncompressed) is passed over without being kept: a request is reported as
// not decoded, a reply ends its request's event with that note.
//
// Memory. Per connection: one message of at most MessageLimit bytes per direction (and one
// decompressed message), fewer than 27 bytes per direction while resynchronising, and at most
// 1024 requests waiting for replies, each holding its query text (at most MaxQueryLength, or
// the rendering of a message of at most MessageLimit bytes), and for reuse the last eight
// names of up to 128 bytes and the last four fingerprints and query texts of up to 4 KiB.
package mongodb

import (
	"bytes"
	"errors"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
)

// maxPending bounds the requests that wait for a reply.
const maxPending = 1024

const (
	toServer = int(protocols.ToServer)
	toClient = int(protocols.ToClient)
)

// Messages of error.message.
const (
	noteNoResponse = "response not captured"
	notePartial    = "connection closed before the response was complete"
	noteTooMany    = "response not tracked: too many requests in flight"
	noteBigRequest = "request larger than the message limit: not decoded"
	noteBigReply   = "reply larger than the message limit: not decoded"
	noteBadReply   = "reply could not be decoded"
)

// New returns the parser of one MongoDB connection; it is a protocols.Factory.
func New(c *protocols.Conn, opts *protocols.Options, sink protocols.Sink) protocols.StreamParser {
	if opts == nil {
		opts = &protocols.Options{}
	}
	p := &parser{conn: c, opts: opts, sink: sink, limit: max(opts.MessageLimit(), probeLen)}
	if c.MidStream {
		p.rd[toServer].loseSync()
		p.rd[toClient].loseSync()
	}
	return p
}

type parser struct {
	conn  *protocols.Conn
	opts  *protocols.Options
	sink  protocols.Sink
	limit int

	rd [2]reader
	m  msg
	// open are the requests waiting for a reply, oldest first; free are reported ones kept
	// for reuse, at most maxFree.
	open, free []*request
	// user is the user name the connection authenticated as, when its mechanism showed it.
	user string
	// names are the command, database and collection names of its last commands.
	names names
	// shapes are its last command shapes, with their fingerprints and texts.
	shapes shapes

	// Scratch: the command's shape and its text, the decompressed message, the zlib reader.
	shape   bsonOut
	text    jsonOut
	inflate []byte
	zsrc    bytes.Reader
	zlib    interface {
		Read([]byte) (int, error)
	}
}

// maxFree bounds the reported requests a connection keeps for its next commands.
const maxFree = 8

// newRequest returns a zero request, a reused one when there is one.
func (p *parser) newRequest() *request {
	if n := len(p.free); n > 0 {
		r := p.free[n-1]
		p.free = p.free[:n-1]
		*r = request{}
		return r
	}
	return new(request)
}

// release keeps the reported request r for reuse; nothing may use r after.
func (p *parser) release(r *request) {
	if len(p.free) < maxFree {
		p.free = append(p.free, r)
	}
}

// request is one command waiting for its reply.
type request struct {
	id                  int32
	method, query, fp   string
	db, coll            string
	cut                 bool
	cursor              int64
	start               time.Time
	reqBytes, respBytes uint64
	auth                bool
}

func (p *parser) Data(dir protocols.Dir, data []byte, ts time.Time) {
	p.feed(int(dir), data, ts)
}

func (p *parser) Gap(dir protocols.Dir, n int, ts time.Time) {
	if n <= 0 {
		return
	}
	p.rd[dir].loseSync()
	p.dropOpen(ts, noteNoResponse)
}

func (p *parser) Close(ts time.Time) {
	for _, r := range p.open {
		if r.respBytes > 0 {
			p.emitNote(r, ts, notePartial)
		} else {
			p.emitNote(r, r.start, noteNoResponse)
		}
	}
	p.open = nil
}

// dropOpen reports every waiting request as unanswered and forgets them.
func (p *parser) dropOpen(ts time.Time, note string) {
	for _, r := range p.open {
		p.emitNote(r, ts, note)
		p.release(r)
	}
	clear(p.open)
	p.open = p.open[:0]
}

// desync makes direction dir look for the next message start.
func (p *parser) desync(dir int, _ time.Time) {
	p.rd[dir].loseSync()
}

// message handles one whole message of direction dir; body is valid only during the call.
func (p *parser) message(dir int, h header, body []byte, start, end time.Time) {
	m := &p.m
	*m = msg{seqs: m.seqs[:0]}
	if err := p.decode(h, body, m); errors.Is(err, errTooLarge) {
		p.oversized(dir, h, start, end) // framing holds: only the inflated size is too large
		return
	} else if err != nil {
		if dir == toClient {
			if r := p.find(h.responseTo); r != nil {
				r.respBytes += uint64(h.length)
				p.finish(r, end, nil, noteBadReply)
			}
		}
		p.desync(dir, end)
		return
	}
	if !m.decoded {
		return
	}
	if dir == toServer {
		p.request(m, start)
	} else {
		p.reply(m, end)
	}
}

// oversized handles a message of direction dir that was passed over for its size.
func (p *parser) oversized(dir int, h header, start, end time.Time) {
	if dir == toServer {
		r := p.newRequest()
		r.start, r.reqBytes = start, uint64(h.length)
		p.emitNote(r, end, noteBigRequest)
		p.release(r)
		return
	}
	if r := p.find(h.responseTo); r != nil {
		r.respBytes += uint64(h.length)
		p.finish(r, end, nil, noteBigReply)
	}
}

// find returns the waiting request id, or nil.
func (p *parser) find(id int32) *request {
	for _, r := range p.open {
		if r.id == id {
			return r
		}
	}
	return nil
}

// remove forgets the waiting request r.
func (p *parser) remove(r *request) {
	for i, o := range p.open {
		if o == r {
			copy(p.open[i:], p.open[i+1:])
			p.open[len(p.open)-1] = nil
			p.open = p.open[:len(p.open)-1]
			return
		}
	}
}

// collCommands name a collection as the value of their first field.
var collCommands = map[string]bool{
	"find": true, "insert": true, "update": true, "delete": true, "aggregate": true, "count": true,
	"distinct": true, "findAndModify": true, "findandmodify": true, "createIndexes": true,
	"dropIndexes": true, "deleteIndexes": true, "listIndexes": true, "drop": true, "create": true,
	"collMod": true, "mapReduce": true, "mapreduce": true, "killCursors": true, "validate": true,
	"collStats": true, "compact": true, "reIndex": true, "shardCollection": true,
}

// request records a decoded client message.
func (p *parser) request(m *msg, start time.Time) {
	doc := m.doc
	el, err := doc.IndexErr(0)
	if err != nil {
		return // an empty document is no command
	}
	r := p.newRequest()
	r.id, r.start, r.reqBytes = m.h.requestID, start, uint64(m.wire)
	method := el.KeyBytes()
	first := el.Value()
	var db, coll []byte
	if v, ok := lookup(doc, "$db"); ok {
		db = stringValue(v)
	}
	if m.opcode == opQuery {
		nsDB, nsColl := splitNS(m.ns)
		if len(db) == 0 {
			db = nsDB
		}
		if string(nsColl) != "$cmd" {
			// A legacy query: the document is the filter.
			method, coll = []byte("query"), nsColl
		}
	}
	if len(coll) == 0 && collCommands[string(method)] {
		coll = stringValue(first)
	}
	switch string(method) {
	case "getMore":
		r.cursor, _ = first.AsInt64OK()
		if v, ok := lookup(doc, "collection"); ok {
			coll = stringValue(v)
		}
	case "hello", "isMaster", "ismaster":
		if v, ok := lookup(doc, "speculativeAuthenticate"); ok {
			if d, ok := v.DocumentOK(); ok {
				p.authUser(d)
			}
		}
	}
	r.method, r.db, r.coll = p.names.get(method), p.names.get(db), p.names.get(coll)
	r.auth = authCommands[r.method]
	if r.auth {
		p.authUser(doc)
	}
	p.render(r, m)
	if m.opcode == opMsg && m.flags&flagMoreToCome != 0 {
		// No reply will come (an unacknowledged write).
		p.emit(r, start, nil, "")
		p.release(r)
		return
	}
	if len(p.open) >= maxPending {
		p.emitNote(r, start, noteTooMany)
		p.release(r)
		return
	}
	if old := p.find(r.id); old != nil {
		// The id was reused before its reply came: the older request's reply was not seen.
		p.remove(old)
		p.emitNote(old, start, noteNoResponse)
		p.release(old)
	}
	p.open = append(p.open, r)
}

// render sets the query text and fingerprint of r from the command of m.
func (p *parser) render(r *request, m *msg) {
	mode := modeAsSent
	if p.opts.MaskLiterals {
		mode = modeMask
	}
	b, j := &p.shape, &p.text
	b.reset()
	j.reset()
	rewrite(j, b, m.doc, m.seqs, mode, r.auth)
	sh := p.shapes.get(shapeHash(b.buf))
	r.fp = sh.fp
	text := j.buf
	if j.passed {
		// A value only the driver renders: render the whole command with it.
		b.reset()
		rewrite(b, discard{}, m.doc, m.seqs, mode, r.auth)
		s, err := extJSON(b.buf)
		text = append(text[:0], s...)
		if err != nil {
			text = text[:0]
		}
	}
	if n := p.opts.MaxQueryLength; n > 0 && len(text) > n {
		// As sqlnorm.Truncate, before the copy into a string.
		for n > 0 && !utf8.RuneStart(text[n]) {
			n--
		}
		text = text[:n]
		r.cut = true
	}
	r.query = sh.text(text)
	j.buf = text[:0]
	if cap(b.buf) > 64<<10 {
		b.buf = nil
	}
	if cap(j.buf) > 64<<10 {
		j.buf = nil
	}
}

// reply pairs a decoded server message with its request.
func (p *parser) reply(m *msg, end time.Time) {
	r := p.find(m.h.responseTo)
	if r == nil {
		return
	}
	r.respBytes += uint64(m.wire)
	var next *request
	if m.opcode == opMsg && m.flags&flagMoreToCome != 0 && len(p.open) <= maxPending {
		// Exhaust: the server sends the next batch unasked, answering this reply's id.
		next = p.newRequest()
		*next = *r
		next.id, next.start, next.reqBytes, next.respBytes = m.h.requestID, end, 0, 0
	}
	p.finish(r, end, m, "")
	if next != nil {
		p.open = append(p.open, next)
	}
}

// finish reports r, answered by m (nil: no decodable reply, with note), and forgets it.
func (p *parser) finish(r *request, end time.Time, m *msg, note string) {
	p.remove(r)
	p.emit(r, end, m, note)
	p.release(r)
}

func (p *parser) emitNote(r *request, end time.Time, note string) { p.emit(r, end, nil, note) }

// emit sends the event of r, with what the reply m says when there is one.
func (p *parser) emit(r *request, end time.Time, m *msg, note string) {
	ev := protocols.NewEvent(p.conn, event.TypeMongoDB, r.start)
	ev.Method, ev.Query, ev.QueryTruncated, ev.QueryFingerprint = r.method, r.query, r.cut, r.fp
	// One allocation for the parts of the event, instead of one each.
	parts := &struct {
		db   event.DB
		user event.User
		mg   event.MongoDB
	}{event.DB{Name: r.db}, event.User{Name: p.user}, event.MongoDB{Collection: r.coll, CursorID: r.cursor}}
	if r.db != "" {
		ev.DB = &parts.db
	}
	if p.user != "" {
		ev.User = &parts.user
	}
	mg := &parts.mg
	ev.MongoDB = mg
	ev.Status = event.StatusOK
	if note != "" {
		ev.Status = event.StatusError
		ev.Error = &event.Error{Message: note}
	}
	if m != nil {
		if readReply(m, mg) {
			ev.Status = event.StatusError
		}
	}
	protocols.Finish(ev, end, r.reqBytes, r.respBytes)
	p.sink.Emit(ev)
}

// readReply fills mg from the reply m and says whether it reports an error.
func readReply(m *msg, mg *event.MongoDB) bool {
	if m.opcode == opReply {
		if m.cursor != 0 {
			mg.CursorID = m.cursor
		}
	}
	doc := m.doc
	if doc == nil {
		return false
	}
	if m.opcode == opReply && !isCommandReply(doc) {
		// A legacy query's documents.
		mg.NumDocs = uint64(max(m.numRet, 0))
		if m.flags&2 != 0 { // QueryFailure: the one document is {$err, code}
			setError(mg, doc, "$err")
			return true
		}
		return false
	}
	// One pass for the fields LookupErr would find one walk each: the first of each key
	// (absent when its value is the zero Value, as LookupErr fails there).
	var f [4]bsoncore.Value
	var seen [4]bool
	for rem := doc[4 : len(doc)-1]; len(rem) > 0; {
		k, v, r, ok := readElement(rem)
		if !ok {
			break
		}
		rem = r
		i := -1
		switch string(k) {
		case "cursor":
			i = 0
		case "ok":
			i = 1
		case "writeErrors":
			i = 2
		case "writeConcernError":
			i = 3
		}
		if i >= 0 && !seen[i] {
			f[i], seen[i] = v, true
		}
	}
	c, okv, we, wc := f[0], f[1], f[2], f[3]
	if c.Type != 0 {
		if cd, ok := c.DocumentOK(); ok {
			if v, ok := lookup(cd, "id"); ok {
				if id, _ := v.AsInt64OK(); id != 0 {
					mg.CursorID = id
				}
			}
			for _, k := range [...]string{"firstBatch", "nextBatch"} {
				if b, ok := lookup(cd, k); ok {
					mg.NumDocs = uint64(count(b))
					break
				}
			}
		}
	}
	if okv.Type != 0 && !truthy(okv) {
		setError(mg, doc, "errmsg")
		return true
	}
	if we.Type != 0 {
		if a, ok := we.ArrayOK(); ok {
			if v, err := a.IndexErr(0); err == nil {
				if d, ok := v.DocumentOK(); ok {
					setError(mg, d, "errmsg")
					return true
				}
			}
		}
	}
	if wc.Type != 0 {
		if d, ok := wc.DocumentOK(); ok {
			setError(mg, d, "errmsg")
			return true
		}
	}
	return false
}

// isCommandReply says whether an OP_REPLY document is a command's reply rather than a found
// document: it has a numeric ok.
func isCommandReply(doc bsoncore.Document) bool {
	v, ok := lookup(doc, "ok")
	return ok && v.IsNumber()
}

// setError copies code, codeName and the message field msgKey of d into mg.
func setError(mg *event.MongoDB, d bsoncore.Document, msgKey string) {
	if v, ok := lookup(d, "code"); ok {
		c, _ := v.AsInt64OK()
		mg.ErrorCode = int32(c)
	}
	if v, ok := lookup(d, "codeName"); ok {
		mg.ErrorCodeName = string(stringValue(v))
	}
	if v, ok := lookup(d, msgKey); ok {
		mg.ErrorMessage = string(stringValue(v))
	}
	if mg.ErrorMessage == "" && mg.ErrorCode == 0 {
		mg.ErrorMessage = "command failed"
	}
}

// truthy reads ok: a number other than 0, or true.
func truthy(v bsoncore.Value) bool {
	if b, ok := v.BooleanOK(); ok {
		return b
	}
	f, ok := v.AsFloat64OK()
	return !ok || f != 0
}

// count is the number of elements of an array value.
func count(v bsoncore.Value) int {
	a, ok := v.ArrayOK()
	if !ok || len(a) < 5 {
		return 0
	}
	n := 0
	for rem := a[4 : len(a)-1]; len(rem) > 0; n++ {
		_, _, r, ok := readElement(rem)
		if !ok {
			break
		}
		rem = r
	}
	return n
}
