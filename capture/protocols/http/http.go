// Package http decodes HTTP/1.0 and HTTP/1.1 on one TCP connection into audit events: one
// per request, paired in order with its final response. New is the protocols.Factory; Detect
// recognises the protocol from the first bytes of a direction.
//
// Framing follows RFC 9112: bodies by Content-Length or chunked transfer coding (trailers
// skipped), no body for HEAD requests and for 1xx, 204 and 304 responses, and a response body
// without either runs until the connection closes. Interim 1xx responses (as after
// "Expect: 100-continue") are counted into the request's response bytes but do not end it;
// 101 Switching Protocols and a successful CONNECT end decoding of the connection.
//
// Fields: http.request.method, http.version, url.original (the request target as sent),
// url.path, url.query, url.domain and url.port (from Host, or an absolute target; the
// server's port when they name none),
// http.response.status_code and status_phrase, http.request.bytes and http.response.bytes
// (heads and bodies on the wire), body.bytes (after transfer decoding), user_agent.original,
// and the headers named in Options.HTTPHeaders. Authorization, Proxy-Authorization, Cookie and
// Set-Cookie values are always replaced by "[redacted]". Bodies (their first
// Options.HTTPBodyBytes bytes, as sent: not decompressed) only when that option is set.
// query is "METHOD target", cut at Options.MaxQueryLength. status is Error for a status code
// of 400 or more, as in Packetbeat, and for a request with no (complete) response.
//
// Loss. A gap inside a body of known size is skipped in place. Any other gap, or bytes that
// are not HTTP, lose the pairing: queued requests are reported with "response not captured",
// the client direction resynchronises on the next request line, and server bytes are dropped
// until a request arrives with nothing queued and a server segment then starts with a status
// line. What is not covered: a server still answering requests pipelined before the loss at
// that moment has the old response paired with the new request.
//
// Memory. Per connection: one head of at most 64 KiB per direction, the kept body prefixes,
// and at most 1024 queued requests: a request beyond them is reported at once as not
// tracked, and its response is skipped when it comes.
package http

import (
	"bytes"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/internal/httpfields"
	"github.com/audit-io/wire-audit/capture/protocols/internal/intern"
	"github.com/audit-io/wire-audit/capture/protocols/internal/slab"
)

const (
	toServer = int(protocols.ToServer)
	toClient = int(protocols.ToClient)
	// maxPending bounds the requests waiting for a response.
	maxPending = 1024
	// redacted replaces the values of credential headers.
	redacted = httpfields.Redacted
)

// Messages of error.message.
const (
	noteNoResponse = "response not captured"
	notePartial    = "connection closed before the response was complete"
	noteTooMany    = "response not tracked: too many requests in flight"
)

// New returns the parser of one HTTP connection; it is a protocols.Factory.
func New(c *protocols.Conn, opts *protocols.Options, sink protocols.Sink) protocols.StreamParser {
	if opts == nil {
		opts = &protocols.Options{}
	}
	p := &parser{conn: c, opts: opts, sink: sink}
	p.keep = max(opts.HTTPBodyBytes, 0)
	if c.MidStream {
		p.lostClient(time.Time{})
	}
	return p
}

type parser struct {
	conn *protocols.Conn
	opts *protocols.Options
	sink protocols.Sink
	keep int

	rd    [2]reader
	queue protocols.Queue[*request]
	// resync looks for a request line in the client direction.
	resync resyncer
	// srvWait: the pairing is lost; server bytes are dropped until armed (a request arrived
	// with nothing queued) and a segment starts with a status line.
	srvWait, armed bool
	// h2 decodes the connection once it turned out to be HTTP/2 (h2.go); started says
	// which directions have had bytes.
	h2      protocols.StreamParser
	started [2]bool
	// drop counts responses still to come for requests that were not tracked.
	drop int
	// scratch for header parsing, reused.
	f fields
	// next is the request whose head is being read; message made it.
	next *request
	// Strings of earlier requests that later ones repeat on a keep-alive connection: request
	// lines ("METHOD target"), user agents and status phrases, and the last Host as sent with
	// what SplitHost made of it. Each is made once instead of per request.
	lines, strs     intern.Ring
	hostRaw, domain string
	hostPort        uint16
}

// requests hands out the requests of all connections, several per allocation.
var requests slab.Pool[request]

// request is one request waiting for its final response.
type request struct {
	method, target, version string
	path, query             string
	domain, host            string
	port                    uint16
	ua                      string
	headers                 map[string]string
	msg                     *message
	// resp is the final response, interim the bytes of 1xx responses before it.
	resp     *message
	interim  uint64
	code     int
	phrase   string
	respHdrs map[string]string
	noBody   bool // a HEAD request: the response has no body
	connect  bool
	h2c      bool // asked to upgrade to h2c
	// after counts the responses that follow this one's and answer requests not tracked.
	after int
	// line is "METHOD target", of which target is a part.
	line string

	// Allocated with the request so that a request and its event cost one allocation instead
	// of eight: its messages, and the parts of its event, which point into the request. The
	// event owns the request (event.Part) once the readers are done with it, and recycles it.
	reqMsg, respMsg message
	evHTTP          event.HTTP
	evResp          event.HTTPResponse
	evURL           event.URL
	evUA            event.UserAgent
	evBody          [2]event.HTTPBody
}

func (p *parser) Data(dir protocols.Dir, data []byte, ts time.Time) {
	if p.h2 != nil || p.toHTTP2(dir, data) {
		p.h2.Data(dir, data, ts)
		return
	}
	if dir == protocols.ToServer {
		p.client(data, ts)
		return
	}
	r := &p.rd[toClient]
	if p.srvWait {
		if !p.armed || !bytes.HasPrefix(data, []byte("HTTP/1.")) {
			return
		}
		p.srvWait, p.armed = false, false
		r.reset(stHead)
	}
	n, err := r.feed(toClient, p, data, ts, p.keep)
	if err != nil {
		p.lostPairing(ts)
	} else if p.h2 != nil && n < len(data) {
		p.h2.Data(protocols.ToClient, data[n:], ts) // the first HTTP/2 bytes after the 101
	}
}

func (p *parser) client(data []byte, ts time.Time) {
	r := &p.rd[toServer]
	for len(data) > 0 {
		if r.state == stResync {
			n, ok := p.resync.scan(data)
			if !ok {
				return
			}
			r.reset(stHead)
			if _, err := r.feed(toServer, p, p.resync.w, ts, p.keep); err != nil {
				p.lostClient(ts)
			}
			data = data[n:]
			continue
		}
		n, err := r.feed(toServer, p, data, ts, p.keep)
		if err == nil {
			if p.h2 != nil && n < len(data) {
				p.h2.Data(protocols.ToServer, data[n:], ts)
			}
			return
		}
		p.lostClient(ts)
		data = data[n:]
	}
}

func (p *parser) Gap(dir protocols.Dir, n int, ts time.Time) {
	if p.h2 != nil {
		p.h2.Gap(dir, n, ts)
		return
	}
	p.started[dir&1] = true
	if n <= 0 || p.rd[dir&1].skip(n) {
		return
	}
	if dir == protocols.ToServer {
		p.lostClient(ts)
	} else {
		p.lostPairing(ts)
	}
}

func (p *parser) Close(ts time.Time) {
	if p.h2 != nil {
		p.h2.Close(ts)
		return
	}
	if r := &p.rd[toClient]; r.state == stUntilEOF && r.msg != nil {
		r.finish(toClient, p, ts) // the close ends the body
	}
	for _, q := range p.queue.Items() {
		note := noteNoResponse
		if q.resp != nil || q.interim > 0 {
			note = notePartial
		}
		p.emit(q, ts, note)
	}
	p.queue.Release()
	p.rd[0].state, p.rd[1].state = stOff, stOff
}

// lostPairing reports what is queued as unanswered and drops server bytes until the next
// request finds the queue empty.
func (p *parser) lostPairing(ts time.Time) {
	for _, q := range p.queue.Items() {
		p.emit(q, ts, noteNoResponse)
	}
	p.queue.Reset()
	p.rd[toClient].reset(stResync)
	p.srvWait, p.armed = true, false
	p.drop = 0
}

// lostClient resynchronises the client direction; the pairing is lost as well.
func (p *parser) lostClient(ts time.Time) {
	p.lostPairing(ts)
	p.rd[toServer].reset(stResync)
	p.resync.start()
}

// message is called by the readers when a head is complete, for the message it starts.
func (p *parser) message(dir int) *message {
	if dir == toServer {
		p.next = requests.New()
		return &p.next.reqMsg
	}
	// The response of the request at the front, unless requestHead will not pair it.
	if p.drop == 0 && p.queue.Len() > 0 {
		if q := p.queue.Front(); q.resp == nil {
			q.respMsg = message{} // an interim response's is done with
			return &q.respMsg
		}
	}
	return &message{}
}

// head is called by the readers with each complete head.
func (p *parser) head(dir int, h []byte, m *message, ts time.Time) (uint8, int64, error) {
	nl := bytes.IndexByte(h, '\n')
	line := bytes.TrimSuffix(h[:nl], []byte("\r"))
	f := &p.f
	*f = fields{picked: f.picked[:0]}
	if !parseHeaders(h[nl+1:], p.opts.HTTPHeaders, f) {
		return 0, 0, &errFraming{"malformed header"}
	}
	if dir == toServer {
		return p.requestHead(line, m)
	}
	return p.responseHead(line, m, ts)
}

func (p *parser) requestHead(line []byte, m *message) (uint8, int64, error) {
	meth, target, ver, ok := requestLine(line)
	if !ok {
		return 0, 0, &errFraming{"malformed request line"}
	}
	f := &p.f
	q := p.next
	if q == nil || m != &q.reqMsg {
		q = &request{}
	}
	p.next = nil
	q.method, q.version, q.msg = method(meth), ver, m
	// The request line holds "METHOD SP target" in one piece: one string for both the query
	// field and the target, of which the path and query are parts as well.
	q.line = p.lines.Bytes(line[:len(meth)+1+len(target)])
	q.target = q.line[len(meth)+1:]
	if len(f.ua) > 0 {
		q.ua = p.strs.Bytes(f.ua)
	}
	path, query, host := httpfields.SplitTarget(target)
	q.path, q.query = within(q.target, target, path), within(q.target, target, query)
	if q.method == "CONNECT" {
		q.path, host = "", target // authority-form: host:port
	}
	if len(host) == 0 {
		host = f.host
	}
	if f.h2c {
		q.host = string(host) // only an upgrade to HTTP/2 needs the authority as sent
	}
	if string(host) != p.hostRaw {
		p.hostRaw = string(host)
		p.domain, p.hostPort = httpfields.SplitHost(host)
	}
	q.domain, q.port = p.domain, p.hostPort
	if q.port == 0 && q.domain != "" {
		q.port = p.conn.Server.Port() // no port in Host: the one the request went to
	}
	q.headers = picked(f.picked)
	q.noBody = q.method == "HEAD"
	q.connect = q.method == "CONNECT"
	q.h2c = f.h2c
	if p.queue.Len() >= maxPending {
		// Reported now; its response, which comes after the last queued one's, is skipped.
		p.emit(q, q.msg.start, noteTooMany)
		p.queue.Back().after++
		return p.requestBody()
	}
	if p.srvWait && p.queue.Len() == 0 {
		p.armed = true
	}
	p.queue.Push(q)
	return p.requestBody()
}

// requestBody says how the body of the request whose head was just read is framed.
func (p *parser) requestBody() (uint8, int64, error) {
	switch {
	case p.f.chunked:
		return stChunkSize, 0, nil
	case p.f.contentLength > 0:
		return stBody, p.f.contentLength, nil
	}
	return stHead, 0, nil
}

func (p *parser) responseHead(line []byte, m *message, ts time.Time) (uint8, int64, error) {
	_, code, phrase, ok := statusLine(line)
	if !ok {
		return 0, 0, &errFraming{"malformed status line"}
	}
	if p.drop > 0 || p.queue.Len() == 0 {
		// A request that was not tracked, or not seen: frame the response to stay in sync.
		if p.drop > 0 && (code >= 200 || code == 101) {
			p.drop--
		}
		return p.responseBody(code, false, false), p.f.contentLength, nil
	}
	q := p.queue.Front()
	if code < 200 && code != 101 {
		q.interim += m.wire
		m.wire = 0
		return stHead, 0, nil
	}
	if code == 101 && q.h2c && p.f.h2c {
		p.upgradeH2C(m)
		p.rd[toServer].reset(stOff)
		return stOff, 0, nil
	}
	q.resp, q.code, q.phrase = m, code, p.strs.Bytes(phrase)
	q.respHdrs = picked(p.f.picked)
	st := p.responseBody(code, q.noBody, q.connect)
	if st == stOff {
		p.rd[toServer].reset(stOff)
	}
	return st, p.f.contentLength, nil
}

// responseBody says how the body of a response with code is framed (RFC 9112 6.3).
func (p *parser) responseBody(code int, head, connect bool) uint8 {
	f := &p.f
	switch {
	case code == 101, connect && code/100 == 2:
		return stOff
	case head || code/100 == 1 || code == 204 || code == 304:
		return stHead
	case f.chunked:
		return stChunkSize
	case f.contentLength >= 0:
		return stBody
	}
	return stUntilEOF
}

// done is called by the readers with each complete message.
func (p *parser) done(dir int, m *message, ts time.Time) {
	if dir == toServer {
		return
	}
	if p.queue.Len() == 0 || p.queue.Front().resp != m {
		return
	}
	q := p.queue.Pop()
	p.drop += q.after
	p.emit(q, ts, "")
}

// emit turns q into an event.
func (p *parser) emit(q *request, end time.Time, note string) {
	ev := protocols.NewEvent(p.conn, event.TypeHTTP, q.msg.start)
	ev.Method = q.method
	ev.Query = q.line
	if max := p.opts.MaxQueryLength; max > 0 && len(q.line) > max {
		ev.Query, ev.QueryTruncated = httpfields.Truncate(q.line, max), true
	}
	h := &q.evHTTP
	*h = event.HTTP{Version: q.version, Request: event.HTTPRequest{Method: q.method, Bytes: q.msg.wire, Headers: q.headers}}
	h.Request.Body = body(q.msg, &q.evBody[0])
	var respBytes uint64
	if q.resp != nil {
		respBytes = q.interim + q.resp.wire
		q.evResp = event.HTTPResponse{StatusCode: q.code, StatusPhrase: q.phrase, Bytes: respBytes, Headers: q.respHdrs, Body: body(q.resp, &q.evBody[1])}
		h.Response = &q.evResp
		if q.resp.complete {
			end = q.resp.end
		}
	} else {
		respBytes = q.interim
	}
	ev.HTTP = h
	q.evURL = event.URL{Original: q.target, Path: q.path, Query: q.query, Domain: q.domain, Port: q.port}
	ev.URL = &q.evURL
	if q.ua != "" {
		q.evUA = event.UserAgent{Original: q.ua}
		ev.UserAgent = &q.evUA
	}
	ev.Status = event.StatusOK
	if q.code >= 400 || note != "" {
		ev.Status = event.StatusError
	}
	if note != "" {
		ev.Error = &event.Error{Message: note}
	}
	if end.Before(q.msg.start) {
		end = q.msg.start
	}
	protocols.Finish(ev, end, q.msg.wire, respBytes)
	if p.rd[toServer].msg != &q.reqMsg && p.rd[toClient].msg != &q.respMsg {
		ev.Own(q) // else a reader still counts a body into it (reported early, or pairing lost)
	}
	p.sink.Emit(ev)
}

// Recycle gives q back for requests.New (event.Part).
func (q *request) Recycle() { requests.Free(q) }

// body fills dst with the body of m and returns it, or nil when m has none.
func body(m *message, dst *event.HTTPBody) *event.HTTPBody {
	if m == nil || m.body == 0 {
		return nil
	}
	*dst = event.HTTPBody{Bytes: m.body, Content: string(m.content)}
	return dst
}

// within returns part, a slice of whole, as the same bytes of s, the string made of whole, so
// that it costs no allocation; or a new string when part lies elsewhere (an absolute-form
// target's path gets a "/" put in front).
func within(s string, whole, part []byte) string {
	if len(part) == 0 {
		return ""
	}
	if off := cap(whole) - cap(part); off >= 0 && off+len(part) <= len(whole) && &whole[off] == &part[0] {
		return s[off : off+len(part)]
	}
	return string(part)
}

// picked turns the configured headers seen into the event's map, redacting credentials.
func picked(hs [][2][]byte) map[string]string {
	var out map[string]string
	for _, h := range hs {
		out = httpfields.AddHeader(out, string(h[0]), string(h[1]))
	}
	return out
}
