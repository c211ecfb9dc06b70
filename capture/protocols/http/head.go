package http

import (
	"bytes"
	"strconv"

	"github.com/audit-io/wire-audit/capture/protocols/internal/httpfields"
)

// methods are the request methods the parser recognises (RFC 9110, WebDAV, PATCH, PRI is not
// HTTP/1.x).
var methods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
	"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT", "SEARCH", "PURGE"}

// isMethod says whether b is a known method.
func isMethod(b []byte) bool { return method(b) != "" }

// method returns the known method b as a shared string, or "".
func method(b []byte) string {
	for _, m := range methods {
		if string(b) == m {
			return m
		}
	}
	return ""
}

// version parses "HTTP/1.0" or "HTTP/1.1".
func version(b []byte) (string, bool) {
	if len(b) == 8 && string(b[:7]) == "HTTP/1." {
		switch b[7] {
		case '0':
			return "1.0", true
		case '1':
			return "1.1", true
		}
	}
	return "", false
}

// requestLine splits "METHOD SP target SP HTTP/1.x".
func requestLine(line []byte) (method, target []byte, ver string, ok bool) {
	sp := bytes.IndexByte(line, ' ')
	last := bytes.LastIndexByte(line, ' ')
	if sp <= 0 || last <= sp+1 {
		return nil, nil, "", false
	}
	method, target = line[:sp], line[sp+1:last]
	ver, ok = version(line[last+1:])
	if !ok || !isMethod(method) || !token(target) {
		return nil, nil, "", false
	}
	return method, target, ver, true
}

// statusLine splits "HTTP/1.x SP code SP phrase".
func statusLine(line []byte) (ver string, code int, phrase []byte, ok bool) {
	if len(line) < 12 || line[8] != ' ' || len(line) > 12 && line[12] != ' ' {
		return "", 0, nil, false
	}
	ver, ok = version(line[:8])
	if !ok {
		return "", 0, nil, false
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return "", 0, nil, false
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return "", 0, nil, false
	}
	if len(line) > 13 {
		phrase = line[13:]
	}
	return ver, code, phrase, true
}

// token says whether b is a request target: visible ASCII, no blanks.
func token(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return len(b) > 0
}

// fields is what a head says about framing and the event.
type fields struct {
	contentLength int64 // -1 when absent
	chunked       bool
	h2c           bool // Upgrade: h2c
	host, ua      []byte
	// picked holds the configured headers, name and value, in the order seen.
	picked [][2][]byte
}

// parseHeaders reads the header lines of a head (after its start line).
func parseHeaders(lines []byte, want []string, f *fields) bool {
	f.contentLength = -1
	for len(lines) > 0 {
		var line []byte
		if i := bytes.IndexByte(lines, '\n'); i >= 0 {
			line, lines = lines[:i], lines[i+1:]
		} else {
			line, lines = lines, nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // obsolete line folding: ignored
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return false
		}
		name, val := line[:colon], trimBlanks(line[colon+1:])
		if !token(name) {
			return false
		}
		// The length first: one compare of two ints leaves at most one name to fold-compare.
		// Six calls of bytes.EqualFold on every header line (one for a Connection header that
		// nothing read) were 2.6% of a Kafka replay's instructions.
		switch len(name) {
		case len("Content-Length"):
			if !bytes.EqualFold(name, []byte("Content-Length")) {
				break
			}
			n, err := strconv.ParseInt(string(val), 10, 64)
			if err != nil || n < 0 || f.contentLength >= 0 && n != f.contentLength {
				return false
			}
			f.contentLength = n
		case len("Transfer-Encoding"):
			if bytes.EqualFold(name, []byte("Transfer-Encoding")) {
				// chunked must be the last coding (RFC 9112 6.1).
				f.chunked = hasLastToken(val, "chunked")
			}
		case len("User-Agent"):
			if bytes.EqualFold(name, []byte("User-Agent")) {
				f.ua = val
			}
		case len("Host"):
			if bytes.EqualFold(name, []byte("Host")) {
				f.host = val
			}
		case len("Upgrade"):
			if bytes.EqualFold(name, []byte("Upgrade")) {
				f.h2c = f.h2c || hasToken(val, "h2c")
			}
		}
		if httpfields.Wanted(name, want) {
			f.picked = append(f.picked, [2][]byte{name, val})
		}
	}
	return true
}

// trimBlanks is bytes.Trim(b, " \t"), which, building its set of bytes on every call, took
// half of parseHeaders' time.
func trimBlanks(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func hasToken(v []byte, tok string) bool {
	for part := range bytes.SplitSeq(v, []byte(",")) {
		if bytes.EqualFold(bytes.TrimSpace(part), []byte(tok)) {
			return true
		}
	}
	return false
}

func hasLastToken(v []byte, tok string) bool {
	i := bytes.LastIndexByte(v, ',')
	return bytes.EqualFold(bytes.TrimSpace(v[i+1:]), []byte(tok))
}
