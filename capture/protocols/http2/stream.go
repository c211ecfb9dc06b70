package http2

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2/hpack"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/internal/httpfields"
)

// stream is one request and its response.
type stream struct {
	id          uint32
	start, last time.Time
	// pending: its first HEADERS frame has begun but the block is not decoded yet.
	pending, untracked bool
	// request: the first block had request pseudo-headers.
	request bool

	method, path, authority, scheme string
	ua, contentType                 string
	reqHeaders, respHeaders         map[string]string

	status     int // final :status
	grpcStatus int
	hasGRPC    bool
	grpcMsg    string
	// blocks counts the header blocks of the response side (to tell trailers apart).
	finalSeen  bool
	incomplete bool

	bytes   [2]uint64
	body    [2]uint64
	content [2][]byte
	ended   [2]bool
	msgs    [2]grpcCounter
}

// headers applies a decoded header block of direction d.
func (s *stream) headers(d int, fields []hpack.HeaderField, incomplete bool, want []string) {
	if incomplete {
		s.incomplete = true
	}
	trailers := d == toClient && s.finalSeen || d == toServer && !s.pending
	for _, f := range fields {
		switch {
		case d == toServer && !trailers:
			s.requestField(f, want)
		case d == toClient && !trailers:
			s.responseField(f, want)
		case d == toClient:
			s.trailerField(f, want)
		}
	}
	if d == toClient && s.status >= 200 {
		s.finalSeen = true
	}
}

func (s *stream) requestField(f hpack.HeaderField, want []string) {
	switch f.Name {
	case ":method":
		s.method, s.request = f.Value, true
	case ":path":
		s.path, s.request = f.Value, true
	case ":authority":
		s.authority, s.request = f.Value, true
	case ":scheme":
		s.scheme, s.request = f.Value, true
	case "host":
		if s.authority == "" {
			s.authority = f.Value
		}
	case "user-agent":
		s.ua = f.Value
	case "content-type":
		s.contentType = f.Value
	}
	if !f.IsPseudo() && httpfields.Wanted([]byte(f.Name), want) {
		s.reqHeaders = httpfields.AddHeader(s.reqHeaders, f.Name, f.Value)
	}
}

func (s *stream) responseField(f hpack.HeaderField, want []string) {
	switch f.Name {
	case ":status":
		if code, err := strconv.Atoi(f.Value); err == nil && code >= 100 && code <= 999 {
			s.status = code
		}
		return
	case "grpc-status", "grpc-message":
		s.trailerField(f, nil) // a trailers-only response
	}
	if !f.IsPseudo() && httpfields.Wanted([]byte(f.Name), want) {
		s.respHeaders = httpfields.AddHeader(s.respHeaders, f.Name, f.Value)
	}
}

func (s *stream) trailerField(f hpack.HeaderField, want []string) {
	switch f.Name {
	case "grpc-status":
		if code, err := strconv.Atoi(f.Value); err == nil && code >= 0 {
			s.grpcStatus, s.hasGRPC = code, true
		}
	case "grpc-message":
		s.grpcMsg = f.Value
	}
	if httpfields.Wanted([]byte(f.Name), want) {
		s.respHeaders = httpfields.AddHeader(s.respHeaders, f.Name, f.Value)
	}
}

// data counts DATA bytes of direction d and keeps the beginning of the body.
func (s *stream) data(d int, b []byte, keep int) {
	s.body[d] += uint64(len(b))
	if room := keep - len(s.content[d]); room > 0 {
		s.content[d] = append(s.content[d], b[:min(room, len(b))]...)
	}
	if s.grpc() {
		s.msgs[d].feed(b)
	}
}

// gap counts n lost DATA bytes of direction d: gRPC message boundaries are lost with them.
func (s *stream) gap(d int, n uint32) {
	s.body[d] += uint64(n)
	if n > 0 {
		s.msgs[d].lost = true
	}
}

func (s *stream) grpc() bool { return strings.HasPrefix(s.contentType, "application/grpc") }

// fill sets the fields of ev from s; note, when not empty, says how the stream ended early.
func (s *stream) fill(ev *event.Event, c *protocols.Conn, opts *protocols.Options, note string) {
	ev.Method = s.method
	target := s.path
	if s.method == "CONNECT" && target == "" {
		target = s.authority
	}
	if s.method != "" && target != "" {
		ev.Query, ev.QueryTruncated = httpfields.Query(s.method, target, opts.MaxQueryLength)
	}
	h := &event.HTTP{Version: "2", Request: event.HTTPRequest{Method: s.method, Bytes: s.bytes[toServer], Headers: s.reqHeaders},
		HeadersIncomplete: s.incomplete}
	h.Request.Body = body(s.body[toServer], s.content[toServer])
	if s.status != 0 {
		h.Response = &event.HTTPResponse{StatusCode: s.status, Bytes: s.bytes[toClient], Headers: s.respHeaders,
			Body: body(s.body[toClient], s.content[toClient])}
	}
	ev.HTTP = h
	if target != "" || s.authority != "" {
		u := &event.URL{Original: target}
		if s.method != "CONNECT" {
			path, query, _ := httpfields.SplitTarget([]byte(s.path))
			u.Path, u.Query = string(path), string(query)
		}
		u.Domain, u.Port = httpfields.SplitHost([]byte(s.authority))
		if u.Port == 0 && u.Domain != "" {
			u.Port = c.Server.Port()
		}
		ev.URL = u
	}
	if s.ua != "" {
		ev.UserAgent = &event.UserAgent{Original: s.ua}
	}
	ev.Status = event.StatusOK
	if s.status >= 400 || note != "" {
		ev.Status = event.StatusError
	}
	if s.grpc() {
		ev.RPC = s.rpc()
		if !s.hasGRPC || s.grpcStatus != 0 {
			ev.Status = event.StatusError
		}
		if s.hasGRPC && s.grpcStatus != 0 && note == "" {
			note = grpcMessage(s.grpcMsg)
			if note == "" {
				note = "grpc-status " + strconv.Itoa(s.grpcStatus)
			}
		}
	}
	if note != "" {
		ev.Error = &event.Error{Message: note}
	}
}

func (s *stream) rpc() *event.RPC {
	r := &event.RPC{System: "grpc", GRPC: &event.GRPC{RequestMessages: s.msgs[toServer].n, ResponseMessages: s.msgs[toClient].n}}
	// :path is "/<package>.<service>/<method>"
	if svc, meth, ok := strings.Cut(strings.TrimPrefix(s.path, "/"), "/"); ok && strings.HasPrefix(s.path, "/") {
		r.Service, r.Method = svc, meth
	}
	if s.hasGRPC {
		code := s.grpcStatus
		r.GRPC.StatusCode = &code
	}
	return r
}

// grpcMessage decodes grpc-message, which is percent-encoded; a value that does not decode
// is kept as sent.
func grpcMessage(v string) string {
	if m, err := url.PathUnescape(v); err == nil {
		return m
	}
	return v
}

func body(n uint64, content []byte) *event.HTTPBody {
	if n == 0 {
		return nil
	}
	return &event.HTTPBody{Bytes: n, Content: string(content)}
}

// grpcCounter counts the length-prefixed messages (1 byte flag, 4 bytes length) in the DATA
// of one direction of a gRPC stream.
type grpcCounter struct {
	n    uint64
	hdr  int    // prefix bytes read of the current message
	len  uint32 // length of the current message, from its prefix
	left uint32 // message bytes still to come
	lost bool   // a gap hid a boundary: counting stopped
}

func (g *grpcCounter) feed(b []byte) {
	for len(b) > 0 && !g.lost {
		if g.left > 0 {
			k := min(g.left, uint32(len(b)))
			g.left -= k
			b = b[k:]
			continue
		}
		if g.hdr == 0 {
			g.n++
			g.len = 0
		}
		if g.hdr >= 1 {
			g.len = g.len<<8 | uint32(b[0])
		}
		g.hdr++
		b = b[1:]
		if g.hdr == 5 {
			g.hdr, g.left = 0, g.len
		}
	}
}
