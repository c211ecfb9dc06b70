package http

import (
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/http2"
)

// HTTP/2 on an HTTP connection is handed to protocols/http2, which then gets every call:
//   - prior knowledge: the client's first bytes are the preface, or the server speaks first
//     with a SETTINGS frame (an HTTP/2 server sends it as soon as it accepts);
//   - mid-stream: the first segment of a direction is a run of HTTP/2 frames, which no
//     HTTP/1.x text can be (a frame starts with its length, whose first byte is 0);
//   - "Upgrade: h2c" answered by "101 Switching Protocols": the request becomes stream 1.

// isPreface says whether first starts the HTTP/2 client preface, when there are enough
// bytes to tell it from an HTTP/1.x method ("PRI *" and as much of the rest as arrived).
func isPreface(first []byte) bool {
	n := min(len(first), len(http2.Preface))
	return n >= 5 && string(first[:n]) == http2.Preface[:n]
}

// toHTTP2 decides, on the first bytes of direction dir, whether the connection is HTTP/2, and
// if so makes p.h2.
func (p *parser) toHTTP2(dir protocols.Dir, data []byte) bool {
	d := dir & 1
	if p.started[d] || len(data) == 0 {
		return false
	}
	p.started[d] = true
	h2 := false
	switch {
	case p.conn.MidStream:
		h2 = http2.Frames(data)
	case dir == protocols.ToServer:
		h2 = isPreface(data)
	default:
		// The server first, before any request: HTTP/1.x servers never speak first.
		h2 = !p.started[toServer] && http2.Frames(data) && data[3] == 0x4 && data[4] == 0
	}
	if h2 {
		p.h2 = http2.New(p.conn, p.opts, p.sink)
	}
	return h2
}

// upgradeH2C hands the connection to HTTP/2 after the 101 answering the request at the
// front of the queue, m being the 101's head.
func (p *parser) upgradeH2C(m *message) {
	q := p.queue.Pop()
	up := &http2.Upgrade{Start: q.msg.start, Method: q.method, Target: q.target, UserAgent: q.ua, Headers: q.headers,
		ReqBytes: q.msg.wire, RespBytes: q.interim + m.wire, Body: q.msg.body, Content: q.msg.content}
	up.Host = q.host
	p.h2 = http2.NewUpgraded(p.conn, p.opts, p.sink, up)
}
