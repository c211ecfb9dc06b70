package http

import (
	"bytes"

	"github.com/audit-io/wire-audit/capture/protocols"
)

// Detect says whether first, the first bytes of direction dir of a connection, look like the
// start of HTTP/1.x: from the client a known method, a space and a request target (with the
// " HTTP/1.x" version once the line is complete); from the server "HTTP/1.0 " or "HTTP/1.1 "
// and a three-digit status. The HTTP/2 client preface counts too: the parser hands such a
// connection to protocols/http2.
func Detect(first []byte, dir protocols.Dir) bool {
	if dir == protocols.ToClient {
		if len(first) < 12 {
			return false
		}
		line := first
		if i := bytes.IndexByte(first, '\r'); i >= 0 {
			line = first[:i]
		}
		_, _, _, ok := statusLine(line)
		return ok
	}
	if isPreface(first) {
		return true // HTTP/2 with prior knowledge
	}
	sp := bytes.IndexByte(first, ' ')
	if sp <= 0 || !isMethod(first[:sp]) || len(first) < sp+2 || first[sp+1] <= ' ' || first[sp+1] >= 0x7f {
		return false
	}
	i := bytes.IndexByte(first, '\n')
	if i < 0 {
		return !bytes.ContainsAny(first, "\x00\r") // the line goes on in the next segment
	}
	_, _, _, ok := requestLine(bytes.TrimSuffix(first[:i], []byte("\r")))
	return ok
}
