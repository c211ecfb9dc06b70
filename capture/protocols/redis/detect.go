package redis

import (
	"bytes"

	"github.com/audit-io/wire-audit/capture/protocols"
)

// Detect says whether first, the first bytes of direction dir of a connection, look like the
// start of a Redis conversation. From the client: a command array ("*<n>\r\n$<len>\r\n" then
// a command name of letters) or an inline command whose first word is a common connection
// opener (PING, AUTH, HELLO, ...) on a line that is not an HTTP request line. From the server: a well-formed first reply line (a simple
// string, an error starting with an upper-case code, an integer, a bulk length, an aggregate
// count). The server side is weak evidence alone: callers should prefer the client side.
func Detect(first []byte, dir protocols.Dir) bool {
	if dir == protocols.ToServer {
		return detectClient(first)
	}
	return detectServer(first)
}

// openers are inline commands clients send first.
var openers = []string{"PING", "AUTH", "HELLO", "SELECT", "INFO", "CLIENT", "COMMAND", "GET", "SET", "QUIT"}

func detectClient(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	if b[0] != '*' {
		end := bytes.IndexAny(b, " \r\n")
		if end < 0 || end+1 > len(b) {
			return false
		}
		w := appendUpper(nil, b[:end])
		for _, o := range openers {
			if string(w) == o {
				nl := bytes.IndexByte(b, '\n')
				// "GET /path HTTP/1.1" is HTTP, not an inline GET.
				return nl > 0 && printableLine(b[:nl]) && !bytes.Contains(b[:nl], []byte(" HTTP/"))
			}
		}
		return false
	}
	line, rest, ok := cutLine(b[1:])
	if n, good := length(line, 1<<20); !ok || !good || n < 1 {
		return false
	}
	if len(rest) == 0 {
		return true // the array header came alone: "*<n>\r\n"
	}
	if rest[0] != '$' {
		return false
	}
	line, rest, ok = cutLine(rest[1:])
	n, good := length(line, 64)
	if !ok || !good || n < 1 {
		return false
	}
	name := rest[:min(n, len(rest))]
	for _, c := range name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '_' || c == '|') {
			return false
		}
	}
	return len(name) > 0
}

func detectServer(b []byte) bool {
	if len(b) < 3 {
		return false
	}
	line, _, ok := cutLine(b[1:])
	if !ok {
		if len(b) < 16 || b[0] != '+' && b[0] != '-' {
			return false
		}
		line = b[1:] // a long simple string or error, cut by the caller
	}
	switch b[0] {
	case '+':
		return printableLine(line)
	case '-':
		return len(line) > 0 && 'A' <= line[0] && line[0] <= 'Z' && printableLine(line)
	case ':':
		return integer(line, false)
	case '$', '*', '%', '~':
		_, good := length(line, maxBulk)
		return good
	}
	return false
}

// cutLine splits b at the first CRLF; ok is false without one.
func cutLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.Index(b, []byte("\r\n"))
	if i < 0 {
		return nil, nil, false
	}
	return b[:i], b[i+2:], true
}

func printableLine(b []byte) bool {
	b = bytes.TrimSuffix(b, []byte("\r"))
	for _, c := range b {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
