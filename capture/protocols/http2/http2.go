// Package http2 decodes cleartext HTTP/2 (h2c) on one TCP connection into audit events, one
// per stream, with the fields of HTTP/1.x events (http.version "2"), and for gRPC calls
// (content-type application/grpc) rpc.* as well: service and method from :path, grpc-status
// and grpc-message from the trailers (or the headers of a trailers-only response), and the
// number of messages each side sent, so that a streaming call is one event.
//
// The HTTP/1.x parser (protocols/http) hands a connection over: with New when the client
// opens with the preface (prior knowledge) or the server with SETTINGS, and with NewUpgraded
// after "101 Switching Protocols" to h2c, the upgraded request becoming stream 1.
//
// Frames are read from the reassembled bytes by a minimal frame reader; DATA is streamed and
// never buffered. Header blocks (HEADERS or PUSH_PROMISE and their CONTINUATIONs) are
// decoded with golang.org/x/net/http2/hpack, one decoder per direction, whose table size
// follows the other side's SETTINGS_HEADER_TABLE_SIZE. Padding and PRIORITY are skipped;
// RST_STREAM ends a stream with status Error (unless the response was already complete and
// the code is NO_ERROR); GOAWAY ends the streams above its last stream id as refused.
//
// A capture that begins mid-connection, or loses bytes inside a header block, does not know
// the HPACK dynamic table of that direction: header blocks then give only the static-table
// and literal fields, and the entries added since, and the event says headers_incomplete.
// A method or a path that is not known is left out, never guessed. A stream is reported only
// when its request headers were seen. After a gap outside DATA the framing of that direction
// is lost: the open streams are reported as not captured, and the reader waits for a
// segment that starts with a run of plausible frames.
//
// Memory per connection: one frame payload of at most 256 KiB per direction (DATA is not
// buffered), two HPACK tables of at most 64 KiB, and at most 1024 open streams, each with
// its fields and kept body prefixes.
package http2

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strconv"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
)

// maxStreams bounds the streams tracked at once on one connection.
const maxStreams = 1024

// Messages of error.message.
const (
	noteNoResponse = "response not captured"
	notePartial    = "connection closed before the response was complete"
	noteTooMany    = "stream not tracked: too many streams in flight"
	noteGap        = "stream not captured to its end: bytes were lost"
)

// Upgrade is the HTTP/1.1 request that asked for h2c and was answered with 101: it becomes
// stream 1, whose response comes in HTTP/2.
type Upgrade struct {
	Start                           time.Time
	Method, Target, Host, UserAgent string
	ContentType                     string
	// Headers are the configured headers of the request, already redacted.
	Headers map[string]string
	// ReqBytes is the request on the wire, RespBytes the 101 response; Body and Content are
	// the request body's size and kept beginning.
	ReqBytes, RespBytes, Body uint64
	Content                   []byte
}

// New returns the parser of a connection that speaks HTTP/2 from its first byte; it is a
// protocols.Factory. Unless the connection is mid-stream, the client direction must start
// with the preface.
func New(c *protocols.Conn, opts *protocols.Options, sink protocols.Sink) protocols.StreamParser {
	return newParser(c, opts, sink, !c.MidStream)
}

// NewUpgraded returns the parser of a connection that switched to h2c after up; the next
// client byte is the preface, the next server byte a frame.
func NewUpgraded(c *protocols.Conn, opts *protocols.Options, sink protocols.Sink, up *Upgrade) protocols.StreamParser {
	p := newParser(c, opts, sink, true)
	s := &stream{id: 1, start: up.Start, last: up.Start, method: up.Method, path: up.Target, ua: up.UserAgent,
		reqHeaders: up.Headers}
	s.authority = up.Host
	s.bytes = [2]uint64{up.ReqBytes, up.RespBytes}
	s.body[toServer], s.content[toServer] = up.Body, up.Content
	s.ended[toServer] = true
	p.streams[1] = s
	p.maxClient = 1
	return p
}

const (
	toServer = int(protocols.ToServer)
	toClient = int(protocols.ToClient)
)

func newParser(c *protocols.Conn, opts *protocols.Options, sink protocols.Sink, fromStart bool) *parser {
	if opts == nil {
		opts = &protocols.Options{}
	}
	p := &parser{conn: c, opts: opts, sink: sink, streams: map[uint32]*stream{}, keep: max(opts.HTTPBodyBytes, 0)}
	for d := range p.rd {
		p.dec[d] = newHeaderDecoder(fromStart)
		p.rd[d].state = rdSync
		if fromStart {
			p.rd[d].state = rdHeader
		}
	}
	if fromStart {
		p.rd[toServer].state, p.rd[toServer].need = rdPreface, len(Preface)
	}
	return p
}

type parser struct {
	conn *protocols.Conn
	opts *protocols.Options
	sink protocols.Sink
	keep int

	rd  [2]reader
	dec [2]*headerDecoder
	// block is the header block being assembled per direction, for blockStream; blockEnd
	// is the END_STREAM flag of its HEADERS frame; blockPush marks a PUSH_PROMISE block,
	// blockLost one that was cut (a gap, or too large) and is only read to stay in frame.
	block       [2][]byte
	blockStream [2]uint32
	blockEnd    [2]bool
	blockOpen   [2]bool
	blockPush   [2]bool
	blockLost   [2]bool

	streams   map[uint32]*stream
	maxClient uint32 // the highest client stream id seen
}

func (p *parser) Data(dir protocols.Dir, data []byte, ts time.Time) {
	d := int(dir & 1)
	r := &p.rd[d]
	if r.state == rdSync {
		if !Frames(data) {
			return
		}
		r.state, r.nh = rdHeader, 0
	}
	for len(data) > 0 {
		switch r.state {
		case rdOff, rdSync:
			return
		case rdPreface:
			at := len(Preface) - r.need
			n := min(r.need, len(data))
			if !bytes.Equal(data[:n], []byte(Preface[at:at+n])) {
				p.off()
				return
			}
			r.need -= n
			data = data[n:]
			if r.need == 0 {
				r.state = rdHeader
			}
		case rdHeader:
			n := copy(r.hdr[r.nh:], data)
			r.nh += n
			data = data[n:]
			if r.nh < frameHeaderLen {
				return
			}
			r.nh = 0
			r.ts = ts
			if !p.frameStart(d, parseFrameHeader(r.hdr[:]), ts) {
				p.lost(d, ts)
				return
			}
		case rdPadLen:
			pad := uint32(data[0])
			data = data[1:]
			r.left--
			if pad > r.left {
				p.lost(d, ts)
				return
			}
			r.dataLeft = r.left - pad
			r.state = rdData
			p.next(d, ts)
		case rdData:
			n := min(int(r.dataLeft), len(data))
			if s := p.streams[r.fh.stream]; s != nil {
				s.data(d, data[:n], p.keep)
			}
			data = data[n:]
			r.dataLeft -= uint32(n)
			r.left -= uint32(n)
			p.next(d, ts)
		case rdSkip:
			n := min(int(r.left), len(data))
			data = data[n:]
			r.left -= uint32(n)
			p.next(d, ts)
		case rdPayload:
			n := min(int(r.left), len(data))
			r.buf = append(r.buf, data[:n]...)
			data = data[n:]
			r.left -= uint32(n)
			p.next(d, ts)
		}
	}
}

// next moves the reader of d on once the part it reads is done.
func (p *parser) next(d int, ts time.Time) {
	r := &p.rd[d]
	switch {
	case r.state == rdData && r.dataLeft > 0, r.state != rdData && r.left > 0:
		return
	case r.state == rdData && r.left > 0:
		r.state = rdSkip // the padding
		return
	}
	st := r.state
	r.state = rdHeader
	switch st {
	case rdPayload:
		p.frame(d, r.fh, r.buf, ts)
		r.buf = r.buf[:0]
	case rdSkip:
		if p.blockLost[d] && !p.blockOpen[d] && r.fh.typ != frameData {
			p.headerBlock(d, ts) // a block that was not read ends here
		}
	}
	if r.fh.typ == frameData && r.fh.flags&flagEndStream != 0 {
		p.endStream(d, r.fh.stream, ts)
	}
}

// frameStart handles a frame header: it counts the frame to its stream and sets how its
// payload is read. It returns false when the header breaks the framing.
func (p *parser) frameStart(d int, h frameHeader, ts time.Time) bool {
	if !h.plausible(maxFrame) {
		return false
	}
	r := &p.rd[d]
	r.fh, r.left, r.buf = h, h.length, r.buf[:0]
	if p.blockOpen[d] && (h.typ != frameContinuation || h.stream != p.blockStream[d]) {
		return false // a header block must go on in CONTINUATION frames of its stream
	}
	if !p.blockOpen[d] && h.typ == frameContinuation {
		return false
	}
	switch h.typ {
	case frameHeaders:
		if d == toServer && h.stream > p.maxClient && h.stream&1 == 1 {
			p.open(h.stream, ts)
		}
		fallthrough
	case frameData, frameContinuation:
		if s := p.streams[h.stream]; s != nil {
			s.bytes[d] += frameHeaderLen + uint64(h.length)
			s.last = ts
		}
	}
	switch {
	case h.typ == frameData && h.flags&flagPadded != 0:
		if h.length == 0 {
			return false
		}
		r.state = rdPadLen
	case h.typ == frameData:
		r.state, r.dataLeft = rdData, h.length
	case h.length > maxBlock:
		if h.typ == frameHeaders || h.typ == framePushPromise || h.typ == frameContinuation {
			p.lostBlock(d, h) // not decoded
		}
		r.state = rdSkip
	default:
		r.state = rdPayload
	}
	if r.left == 0 {
		p.next(d, ts)
	}
	return true
}

// open starts tracking client stream id, whose HEADERS frame begins.
func (p *parser) open(id uint32, ts time.Time) {
	p.maxClient = id
	s := &stream{id: id, start: ts, last: ts, pending: true}
	if len(p.streams) >= maxStreams {
		s.untracked = true
	}
	p.streams[id] = s
}

// frame handles a complete buffered frame.
func (p *parser) frame(d int, h frameHeader, b []byte, ts time.Time) {
	switch h.typ {
	case frameHeaders, framePushPromise:
		frag, ok := headersFragment(h, b)
		if !ok {
			p.lost(d, ts)
			return
		}
		p.block[d] = append(p.block[d][:0], frag...)
		p.blockStream[d], p.blockEnd[d], p.blockPush[d], p.blockLost[d] = h.stream, h.flags&flagEndStream != 0 && h.typ == frameHeaders, h.typ == framePushPromise, false
		p.blockOpen[d] = h.flags&flagEndHeaders == 0
		if !p.blockOpen[d] {
			p.headerBlock(d, ts)
		}
	case frameContinuation:
		if !p.blockLost[d] && len(p.block[d])+len(b) <= maxBlock {
			p.block[d] = append(p.block[d], b...)
		} else if !p.blockLost[d] {
			p.lostBlock(d, h)
		}
		p.blockOpen[d] = h.flags&flagEndHeaders == 0
		if !p.blockOpen[d] {
			p.headerBlock(d, ts)
		}
	case frameRSTStream:
		if s := p.streams[h.stream]; s != nil {
			s.last = ts
			code := binary.BigEndian.Uint32(b)
			if code == 0 && s.ended[toClient] {
				p.finish(s, ts, "") // the response was complete; the client need not finish
				return
			}
			who := "client"
			if d == toClient {
				who = "server"
			}
			p.finish(s, ts, "stream reset by "+who+": "+errCode(code))
		}
	case frameSettings:
		if h.flags&flagAck != 0 {
			return
		}
		for i := 0; i+6 <= len(b); i += 6 {
			if binary.BigEndian.Uint16(b[i:]) == 1 { // SETTINGS_HEADER_TABLE_SIZE
				// It bounds the table of the headers this side receives.
				p.dec[d^1].setAllowed(binary.BigEndian.Uint32(b[i+2:]))
			}
		}
	case frameGoAway:
		last := binary.BigEndian.Uint32(b) & 0x7fffffff
		code := binary.BigEndian.Uint32(b[4:])
		for _, s := range p.sorted() {
			if s.id > last && (d == toClient) == (s.id&1 == 1) {
				p.finish(s, ts, "stream refused by GOAWAY: "+errCode(code))
			}
		}
	}
}

// headersFragment returns the header block fragment of a HEADERS or PUSH_PROMISE payload,
// without padding, priority and promised stream id.
func headersFragment(h frameHeader, b []byte) ([]byte, bool) {
	pad := 0
	if h.flags&flagPadded != 0 {
		if len(b) < 1 {
			return nil, false
		}
		pad = int(b[0])
		b = b[1:]
	}
	skip := 0
	if h.typ == frameHeaders && h.flags&flagPriority != 0 {
		skip = 5
	}
	if h.typ == framePushPromise {
		skip = 4
	}
	if len(b) < skip+pad {
		return nil, false
	}
	return b[skip : len(b)-pad], true
}

// headerBlock decodes the complete block of direction d and applies it to its stream.
func (p *parser) headerBlock(d int, ts time.Time) {
	id, end := p.blockStream[d], p.blockEnd[d]
	s := p.streams[id]
	if p.blockLost[d] {
		p.blockLost[d] = false
		if s != nil && s.pending {
			delete(p.streams, id) // its request is not known
			s = nil
		}
		if s != nil {
			s.incomplete = true
		}
	} else {
		dec := p.dec[d]
		dec.decode(p.block[d])
		if s != nil && !p.blockPush[d] {
			s.headers(d, dec.fields, dec.incomplete, p.opts.HTTPHeaders)
			if s.pending {
				s.pending = false
				if !s.request {
					// Not a request: the trailers of a stream that began before the capture.
					delete(p.streams, id)
					s = nil
				} else if s.untracked {
					delete(p.streams, id)
					p.emit(s, ts, noteTooMany)
					s = nil
				}
			}
		}
	}
	p.block[d] = p.block[d][:0]
	if end {
		p.endStream(d, id, ts)
	}
}

// endStream records END_STREAM of direction d on stream id; a stream closed both ways is
// reported.
func (p *parser) endStream(d int, id uint32, ts time.Time) {
	s := p.streams[id]
	if s == nil || s.pending {
		return
	}
	s.ended[d] = true
	s.last = ts
	if s.ended[toServer] && s.ended[toClient] {
		p.finish(s, ts, "")
	}
}

func (p *parser) finish(s *stream, ts time.Time, note string) {
	delete(p.streams, s.id)
	p.emit(s, ts, note)
}

func (p *parser) Gap(dir protocols.Dir, n int, ts time.Time) {
	d := int(dir & 1)
	r := &p.rd[d]
	if n <= 0 || r.state == rdSync || r.state == rdOff {
		return
	}
	k := uint32(min(n, maxFrame+1))
	switch r.state {
	case rdData:
		if k <= r.left {
			// Inside a DATA frame: skipped in place; what fell in the data is body.
			if s := p.streams[r.fh.stream]; s != nil {
				s.gap(d, min(k, r.dataLeft))
			}
			r.dataLeft -= min(k, r.dataLeft)
			r.left -= k
			p.next(d, ts)
			return
		}
	case rdPadLen, rdSkip, rdPayload:
		if k <= r.left {
			if t := r.fh.typ; r.state == rdPayload && (t == frameHeaders || t == framePushPromise || t == frameContinuation) {
				// A header block with a hole: the table changes it made are lost with it.
				p.lostBlock(d, r.fh)
			}
			r.state = rdSkip
			r.left -= k
			p.next(d, ts)
			return
		}
	}
	p.lost(d, ts)
}

// lostBlock marks the header block that frame h belongs to as not decodable.
func (p *parser) lostBlock(d int, h frameHeader) {
	p.dec[d].lose()
	p.blockLost[d] = true
	p.blockStream[d] = h.stream
	p.blockOpen[d] = h.flags&flagEndHeaders == 0
	if h.typ != frameContinuation {
		p.blockEnd[d] = h.typ == frameHeaders && h.flags&flagEndStream != 0
		p.blockPush[d] = h.typ == framePushPromise
	}
	if s := p.streams[h.stream]; s != nil && !s.pending {
		s.incomplete = true
	}
}

// lost gives up the framing of direction d: the open streams are reported, and the reader
// waits for a segment that starts with frames; the header table of d is unknown from now on.
func (p *parser) lost(d int, ts time.Time) {
	r := &p.rd[d]
	if r.state == rdPreface {
		p.off() // not HTTP/2 after all
		return
	}
	for _, s := range p.sorted() {
		if s.pending {
			delete(p.streams, s.id)
			continue
		}
		p.finish(s, ts, noteGap)
	}
	r.state, r.nh, r.buf = rdSync, 0, r.buf[:0]
	p.dec[d].lose()
	p.blockOpen[d], p.blockLost[d], p.block[d] = false, false, p.block[d][:0]
}

// off stops decoding: the connection is not HTTP/2.
func (p *parser) off() {
	p.rd[0].state, p.rd[1].state = rdOff, rdOff
	clear(p.streams)
}

func (p *parser) Close(ts time.Time) {
	for _, s := range p.sorted() {
		if s.pending {
			continue
		}
		note := noteNoResponse
		switch {
		case s.ended[toClient]:
			note = "" // the response was complete; the client had not ended its side
		case s.status != 0:
			note = notePartial
		}
		p.emit(s, ts, note)
	}
	clear(p.streams)
	p.off()
}

// sorted returns the open streams by id.
func (p *parser) sorted() []*stream {
	out := make([]*stream, 0, len(p.streams))
	for _, s := range p.streams {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *stream) int { return int(a.id) - int(b.id) })
	return out
}

// errCode names an HTTP/2 error code (RFC 9113 7).
func errCode(c uint32) string {
	names := [...]string{"NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
		"STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR",
		"ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"}
	if int(c) < len(names) {
		return names[c]
	}
	return "0x" + strconv.FormatUint(uint64(c), 16)
}

// emit reports stream s.
func (p *parser) emit(s *stream, end time.Time, note string) {
	ev := protocols.NewEvent(p.conn, event.TypeHTTP, s.start)
	s.fill(ev, p.conn, p.opts, note)
	if s.last.After(end) {
		end = s.last
	}
	if end.Before(s.start) {
		end = s.start
	}
	protocols.Finish(ev, end, s.bytes[toServer], s.bytes[toClient])
	p.sink.Emit(ev)
}
