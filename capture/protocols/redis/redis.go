// Package redis decodes the Redis protocol (RESP2 and RESP3) of one TCP connection into audit
// events: one per command, paired with its reply in order, and one per pub/sub message the
// server delivers. New is the protocols.Factory; Detect recognises the protocol from the first
// bytes of a direction.
//
// Commands are arrays of bulk strings or inline commands. method is the upper-cased verb;
// query is the command line, each argument cut at 128 bytes (then "…"), arguments that are
// not plain words quoted, and the whole line cut at Options.MaxQueryLength. With
// Options.MaskLiterals every argument after the verb is shown as "?", and bulk strings in
// replies too.
//
// Pairing. Commands wait in a queue; each reply completes the oldest. Pushes that are not
// replies are kept out of the queue: RESP3 push messages ('>'), and in RESP2 the "message",
// "pmessage" and "smessage" arrays of a subscribed connection. (P|S)SUBSCRIBE and
// (P|S)UNSUBSCRIBE get one confirmation per channel; their event ends with the last one.
//
// Loss. A gap, a framing error or a start mid-stream loses the pairing: queued commands are
// reported with status Error and "response not captured", the client direction is
// resynchronised on the next "*<n>\r\n$" at a line start, and server bytes are dropped until the
// client sends a new command with nothing left in the queue; the server's next segment then
// starts its reply, unless it holds more replies than there are commands waiting (then the
// waiting commands are reported unanswered too). What is not covered: a server still
// answering commands pipelined before the loss, in a segment that holds no more replies than
// there are new commands, has its old replies paired with the new commands.
//
// Memory. Per connection: one line of at most 64 KiB per direction while it is read, the
// first 128 bytes of one value, room for the words of one inline command (kept when there were
// at most 64), the query text (at most MaxQueryLength, or MessageLimit), a 512-byte reply
// summary, and at most 1024 queued commands: a command beyond them is reported at once as not
// tracked, and its reply is skipped when it comes.
package redis

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/internal/intern"
)

// Bounds.
const (
	maxPending = 1024
	maxSummary = 512
	maxVerb    = 64
)

const (
	toServer = int(protocols.ToServer)
	toClient = int(protocols.ToClient)
)

// Messages of error.message.
const (
	noteNoResponse = "response not captured"
	notePartial    = "connection closed before the response was complete"
	noteTooMany    = "response not tracked: too many commands in flight"
)

// New returns the parser of one Redis connection; it is a protocols.Factory.
func New(c *protocols.Conn, opts *protocols.Options, sink protocols.Sink) protocols.StreamParser {
	if opts == nil {
		opts = &protocols.Options{}
	}
	p := &parser{conn: c, opts: opts, sink: sink}
	p.rd[toServer].client = true
	p.cmd.p, p.rep.p = p, p
	p.cmd.mask = opts.MaskLiterals
	p.qmax = opts.MessageLimit()
	if opts.MaxQueryLength > 0 {
		p.qmax = min(p.qmax, opts.MaxQueryLength)
	}
	if c.MidStream {
		p.lostClient(time.Time{})
	}
	return p
}

type parser struct {
	conn *protocols.Conn
	opts *protocols.Options
	sink protocols.Sink
	qmax int

	rd  [2]reader
	cmd cmdBuilder
	rep replyBuilder

	queue protocols.Queue[*command]
	// resync looks for the start of a command array in the client direction.
	resync resyncer
	// srvWait: pairing is lost; server bytes are dropped until armed, which is set when the
	// client sends a command with nothing queued: the server's next segment starts its reply.
	srvWait, armed bool
	// subscribed is the subscription count the server last confirmed.
	subscribed int
	// drop counts replies still to come for commands that were not tracked.
	drop int
	// free holds commands that were reported, for reuse: at most as many as were ever
	// outstanding at once (maxPending+1).
	free []*command
}

// command is one request waiting for its reply.
type command struct {
	method, query string
	cut           bool
	start         time.Time
	reqBytes      uint64
	respBytes     uint64
	// sub is the confirmation kind that (un)subscribe commands wait for ("subscribe", ...),
	// want how many (0: until the count reaches zero or something else arrives), got how many
	// came.
	sub       string
	want, got int
	ret, err  string
	// after counts the replies that follow this one's and answer commands not tracked.
	after int
	isErr bool
}

func (p *parser) Data(dir protocols.Dir, data []byte, ts time.Time) {
	if dir == protocols.ToServer {
		p.client(data, ts)
		return
	}
	if p.srvWait {
		if !p.armed {
			return
		}
		p.armed = false
		if !p.trial(data) {
			// More replies than commands: some answer commands that were not seen.
			p.lostPairing(ts)
			return
		}
		p.srvWait = false
		p.rd[toClient].reset()
	}
	if _, err := p.rd[toClient].feed(&p.rep, data, ts); err != nil {
		p.lostPairing(ts)
	}
}

// trial says whether data, the first server segment after the pairing was lost, frames as
// RESP with no more complete replies than commands are waiting.
func (p *parser) trial(data []byte) bool {
	var cnt counter
	r := &p.rd[toClient]
	r.reset()
	_, err := r.feed(&cnt, data, time.Time{})
	r.reset()
	return err == nil && cnt.n <= p.queue.Len()
}

// counter counts top-level values other than pushes and attributes.
type counter struct{ n int }

func (c *counter) leaf(*reader, byte, []byte, int, bool, int) {}
func (c *counter) open(*reader, byte, int, int)               {}
func (c *counter) close(*reader, byte, int)                   {}
func (c *counter) done(r *reader, _ time.Time) {
	if r.val.typ != '>' && r.val.typ != '|' {
		c.n++
	}
}

func (p *parser) client(data []byte, ts time.Time) {
	for len(data) > 0 {
		if p.resync.on {
			n, ok := p.resync.scan(data)
			if !ok {
				return
			}
			p.rd[toServer].reset()
			if _, err := p.rd[toServer].feed(&p.cmd, p.resync.w, ts); err != nil {
				p.lostClient(ts) // cannot happen: the window is a valid array header
			}
			data = data[n:]
			continue
		}
		n, err := p.rd[toServer].feed(&p.cmd, data, ts)
		if err == nil {
			return
		}
		p.lostClient(ts)
		data = data[n:]
	}
}

func (p *parser) Gap(dir protocols.Dir, n int, ts time.Time) {
	if n <= 0 {
		return
	}
	if dir == protocols.ToServer {
		p.lostClient(ts)
	} else {
		p.lostPairing(ts)
	}
}

func (p *parser) Close(ts time.Time) {
	for _, c := range p.queue.Items() {
		if c.respBytes > 0 {
			p.emit(c, ts, notePartial)
		} else {
			p.emit(c, c.start, noteNoResponse)
		}
	}
	p.queue.Release()
}

// lostPairing gives up the pairing after lost or unreadable server bytes: what is queued is
// reported unanswered and server bytes are dropped until the next command finds the queue
// empty.
func (p *parser) lostPairing(ts time.Time) {
	for _, c := range p.queue.Items() {
		p.emit(c, ts, noteNoResponse)
	}
	p.queue.Reset()
	p.rd[toClient].reset()
	p.srvWait, p.armed = true, false
	p.subscribed, p.drop = 0, 0
}

// lostClient resynchronises the client direction after lost or unreadable bytes; the server
// answers commands that were not seen, so the pairing is lost too.
func (p *parser) lostClient(ts time.Time) {
	p.lostPairing(ts)
	p.rd[toServer].reset()
	p.cmd.reset()
	p.resync.start()
}

// newCommand returns a zero command, a reported one when there is one.
func (p *parser) newCommand() *command {
	if n := len(p.free); n > 0 {
		c := p.free[n-1]
		p.free = p.free[:n-1]
		return c
	}
	return &command{}
}

// push queues a complete command.
func (p *parser) push(c *command) {
	if p.queue.Len() >= maxPending {
		// Reported now; its reply, which comes after the last queued one's, is dropped.
		p.emit(c, c.start, noteTooMany)
		p.queue.Back().after++
		return
	}
	if p.srvWait && p.queue.Len() == 0 {
		p.armed = true
	}
	p.queue.Push(c)
}

// reply hands a complete server value to the command it answers.
func (p *parser) reply(rb *replyBuilder, ts time.Time) {
	r := &p.rd[toClient]
	kind := rb.kind()
	switch {
	case r.val.typ == '|':
		return // an attribute: the reply follows
	case kind == "message" || kind == "pmessage" || kind == "smessage":
		if r.val.typ == '>' || p.subscribed > 0 {
			p.message(rb, kind, ts)
			return
		}
	}
	if p.drop > 0 && r.val.typ != '>' {
		p.drop-- // the reply of a command that was not tracked
		return
	}
	for {
		if p.queue.Len() == 0 {
			return // nothing asked for it: a push we do not report, or lost pairing
		}
		c := p.queue.Front()
		if c.sub != "" {
			if isConfirmation(kind, c.sub) {
				c.got++
				c.respBytes += uint64(r.val.wire)
				c.ret = rb.summary()
				if n, ok := rb.count(); ok {
					p.subscribed = n
				}
				if c.want > 0 && c.got >= c.want || c.want == 0 && p.subscribed == 0 {
					p.pop(ts)
				}
				return
			}
			if c.got > 0 {
				p.pop(ts) // an unsubscribe-all ended before the count reached zero
				continue
			}
		}
		if r.val.typ == '>' {
			return // a RESP3 push that answers nothing (invalidate, ...)
		}
		c.respBytes += uint64(r.val.wire)
		c.ret = rb.summary()
		if r.val.typ == '-' || r.val.typ == '!' {
			c.isErr, c.err = true, rb.errText()
			c.ret = ""
		}
		p.pop(ts)
		return
	}
}

func (p *parser) pop(ts time.Time) {
	c := p.queue.Pop()
	p.drop += c.after
	p.emit(c, ts, "")
}

func isConfirmation(kind, sub string) bool {
	switch sub {
	case "subscribe", "psubscribe", "ssubscribe":
		return kind == sub
	case "unsubscribe", "punsubscribe", "sunsubscribe":
		return kind == sub
	}
	return false
}

// message reports a pub/sub message the server delivered.
func (p *parser) message(rb *replyBuilder, kind string, ts time.Time) {
	r := &p.rd[toClient]
	ev := protocols.NewEvent(p.conn, event.TypeRedis, r.val.start)
	ev.Method = upper(kind)
	ev.Query = ev.Method + " " + rb.channel()
	ev.Status = event.StatusOK
	ev.Redis = &event.Redis{ReturnValue: rb.payload(p.opts.MaskLiterals)}
	protocols.Finish(ev, ts, 0, uint64(r.val.wire))
	p.sink.Emit(ev)
}

func (p *parser) emit(c *command, end time.Time, note string) {
	ev := protocols.NewEvent(p.conn, event.TypeRedis, c.start)
	ev.Method, ev.Query, ev.QueryTruncated = c.method, c.query, c.cut
	red := ev.NewRedis()
	red.ReturnValue, red.Error = c.ret, c.err
	ev.Status = event.StatusOK
	if c.isErr || note != "" {
		ev.Status = event.StatusError
	}
	if note != "" {
		ev.Error = &event.Error{Message: note}
	}
	if end.Before(c.start) {
		end = c.start
	}
	protocols.Finish(ev, end, c.reqBytes, c.respBytes)
	p.sink.Emit(ev)
	// Every command ends here, once: reuse it for a later one.
	*c = command{}
	p.free = append(p.free, c)
}

// cmdBuilder turns the client's values into commands.
type cmdBuilder struct {
	p         *parser
	mask      bool   // Options.MaskLiterals, kept here: read for every argument
	last      string // the previous verb
	lastQuery string // the previous query text
	method    []byte
	q         []byte
	cut       bool
	n         int
}

func (b *cmdBuilder) open(*reader, byte, int, int) {}
func (b *cmdBuilder) close(*reader, byte, int)     {}
func (b *cmdBuilder) leaf(r *reader, _ byte, data []byte, full int, _ bool, depth int) {
	if depth != 1 {
		return
	}
	if b.n == 0 {
		b.method = appendUpper(b.method[:0], data[:min(len(data), maxVerb)])
		if len(data) == 0 {
			// An empty command name ('' inline, or an empty bulk string) is written as the
			// query writes an empty argument, and as Redis names it in its answer ("unknown
			// command ''"): an event's method is never empty.
			b.method = append(b.method, "''"...)
		}
		b.q = append(b.q[:0], b.method...)
		b.cut = full > len(data) || len(data) > maxVerb
	} else if len(b.q) < b.p.qmax {
		b.q = append(b.q, ' ')
		if b.mask {
			b.q = append(b.q, '?')
		} else {
			b.q = appendValue(b.q, data, full > len(data))
			b.cut = b.cut || full > len(data)
		}
	}
	b.n++
}

func (b *cmdBuilder) reset() { b.n, b.cut, b.q = 0, false, b.q[:0] }

func (b *cmdBuilder) done(r *reader, _ time.Time) {
	defer b.reset()
	if b.n == 0 {
		return
	}
	q, cut := b.q, b.cut
	if len(q) > b.p.qmax {
		q, cut = truncate(q, b.p.qmax), true
	}
	// Commands repeat (a client pipelines runs of the same one): the verb and the query
	// strings are made once per run.
	if string(b.method) != b.last {
		b.last = string(b.method)
	}
	if string(q) != b.lastQuery {
		b.lastQuery = string(q)
	}
	c := b.p.newCommand()
	c.method, c.query, c.cut, c.start, c.reqBytes = b.last, b.lastQuery, cut, r.val.start, uint64(r.val.wire)
	switch c.method {
	case "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE":
		c.sub = string(bytes.ToLower(b.method))
		c.want = b.n - 1
	}
	b.p.push(c)
}

// replyBuilder summarises the server's values.
type replyBuilder struct {
	p     *parser
	sum   []byte
	cut   bool
	items [3][]byte // the first elements of a top-level aggregate
	nitem int
	third int64
	hasN  bool
	last  string // the previous summary
}

// replyStrs makes the summaries that differ from the previous one (a counter's replies),
// several per allocation.
var replyStrs intern.ArenaPool

func (b *replyBuilder) sep(r *reader, depth int) {
	if depth == 0 {
		return
	}
	f := r.stack[depth-1]
	if f.done == 0 {
		return
	}
	if (f.typ == '%' || f.typ == '|') && f.done%2 == 1 {
		b.write(": ")
	} else {
		b.write(", ")
	}
}

func (b *replyBuilder) write(s string) {
	if b.cut {
		return
	}
	if len(b.sum)+len(s) > maxSummary {
		b.cut = true
		b.sum = append(b.sum, "…"...)
		return
	}
	b.sum = append(b.sum, s...)
}

func (b *replyBuilder) writeBytes(v []byte) {
	if b.cut {
		return
	}
	room := maxSummary - len(b.sum)
	if len(v) > room {
		b.sum = append(truncate(append(b.sum, v[:room]...), maxSummary), "…"...)
		b.cut = true
		return
	}
	b.sum = append(b.sum, v...)
}

func (b *replyBuilder) open(r *reader, typ byte, _ int, depth int) {
	if depth == 0 {
		b.reset()
	}
	b.sep(r, depth)
	if typ == '%' || typ == '|' {
		b.write("{")
	} else {
		b.write("[")
	}
}

func (b *replyBuilder) close(_ *reader, typ byte, _ int) {
	if typ == '%' || typ == '|' {
		b.write("}")
	} else {
		b.write("]")
	}
}

func (b *replyBuilder) leaf(r *reader, typ byte, data []byte, full int, null bool, depth int) {
	if depth == 0 {
		b.reset()
	}
	b.sep(r, depth)
	if depth == 1 {
		if b.nitem < len(b.items) {
			b.items[b.nitem] = append(b.items[b.nitem][:0], data...)
			if b.nitem == 2 && typ == ':' {
				n, err := strconv.ParseInt(string(data), 10, 64)
				b.third, b.hasN = n, err == nil
			}
		}
		b.nitem++
	}
	switch {
	case null:
		b.write("(nil)")
	case (typ == '$' || typ == '=') && b.p.opts.MaskLiterals:
		b.write("?")
	case typ == '=' && len(data) >= 4 && data[3] == ':':
		b.writeBytes(data[4:])
	default:
		b.writeBytes(data)
	}
	if full > len(data) {
		b.write("…")
	}
}

func (b *replyBuilder) reset() {
	b.sum, b.cut, b.nitem, b.hasN = b.sum[:0], false, 0, false
}

func (b *replyBuilder) done(r *reader, ts time.Time) {
	b.p.reply(b, ts)
}

// kind is the lower-cased first element of a top-level array or push, when it is short.
func (b *replyBuilder) kind() string {
	r := &b.p.rd[toClient]
	if r.val.typ != '*' && r.val.typ != '>' || b.nitem < 2 || len(b.items[0]) > 16 {
		return ""
	}
	return string(bytes.ToLower(b.items[0]))
}

func (b *replyBuilder) count() (int, bool) { return int(b.third), b.hasN && b.nitem == 3 }

// summary is the reply's summary; replies repeat too ("OK"), so the previous string is
// reused when it is the same.
func (b *replyBuilder) summary() string {
	if string(b.sum) != b.last {
		b.last = replyStrs.String(b.sum)
	}
	return b.last
}

func (b *replyBuilder) errText() string { return replyStrs.String(b.sum) }

// channel is the channel (or pattern and channel) of a pub/sub message.
func (b *replyBuilder) channel() string {
	if b.nitem >= 4 { // pmessage pattern channel payload
		return string(appendValue(append(appendValue(nil, b.items[1], false), ' '), b.items[2], false))
	}
	return string(appendValue(nil, b.items[1], false))
}

// payload is the message of a pub/sub message, cut at maxValue.
func (b *replyBuilder) payload(mask bool) string {
	if mask {
		return "?"
	}
	i := b.nitem - 1
	if i < len(b.items) {
		return string(b.items[i])
	}
	// A pmessage: the payload is the fourth element, not kept; the summary ends with it.
	if k := bytes.LastIndex(b.sum, []byte(", ")); k >= 0 {
		return string(bytes.TrimSuffix(b.sum[k+2:], []byte("]")))
	}
	return ""
}

// appendValue appends v as a word, quoted when it is empty or not plain printable ASCII
// without blanks and quotes; cut adds "…".
func appendValue(dst, v []byte, cut bool) []byte {
	plain := len(v) > 0
	// Eight bytes at a time, then the last eight (overlapping) or the few of a short value:
	// the byte loop was 1.7% of the pipelined mix's replay, and this took it from 8.89G to
	// 8.82G instructions (cachegrind).
	i := 0
	for i+8 <= len(v) && plain8(binary.LittleEndian.Uint64(v[i:])) {
		i += 8
	}
	if i+8 > len(v) && i < len(v) && len(v) >= 8 && plain8(binary.LittleEndian.Uint64(v[len(v)-8:])) {
		i = len(v)
	}
	for ; i < len(v); i++ {
		if !plainByte[v[i]] {
			plain = false
			break
		}
	}
	if plain {
		dst = append(dst, v...)
	} else {
		dst = strconv.AppendQuote(dst, string(v))
	}
	if cut {
		dst = append(dst, "…"...)
	}
	return dst
}

// plainByte tells the bytes a value may hold and still be shown unquoted: one load per
// byte instead of five comparisons, on every argument of every command.
var plainByte = func() (t [256]bool) {
	for c := '!'; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\'' && c != '\\'
	}
	return t
}()

// plain8 tells whether all eight bytes of w are plainByte ones: none below '!', from DEL up,
// or a quote or backslash. Each test is the "has a byte less than n" / "has a zero byte" trick
// of Bit Twiddling Hacks: a borrow can mark bytes above the first match, never a word without
// one.
func plain8(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q, a, bs := w^(ones*'"'), w^(ones*'\''), w^(ones*'\\')
	m := (w - ones*'!') &^ w // a byte below '!'
	m |= (q - ones) &^ q     // a '"'
	m |= (a - ones) &^ a     // a '\''
	m |= (bs - ones) &^ bs   // a backslash
	m |= (w + ones) | w      // DEL or above
	return m&highs == 0
}

func appendUpper(dst, v []byte) []byte {
	for _, c := range v {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

func upper(s string) string { return string(appendUpper(nil, []byte(s))) }

// truncate cuts b to at most n bytes on a UTF-8 boundary.
func truncate(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	for n > 0 && b[n]&0xc0 == 0x80 {
		n--
	}
	return b[:n]
}
