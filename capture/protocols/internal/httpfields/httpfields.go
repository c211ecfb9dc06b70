// Package httpfields holds what HTTP/1.x (protocols/http) and HTTP/2 (protocols/http2) share
// when they turn a request into event fields: the request target and Host (or :authority)
// split into url.*, the credential headers that are always redacted, and statement cutting.
package httpfields

import (
	"bytes"
	"strings"
)

// Redacted replaces the values of credential headers.
const Redacted = "[redacted]"

// AddHeader adds a configured header to out (made when nil), by lower-case name: the values
// of Authorization, Proxy-Authorization, Cookie and Set-Cookie are replaced by Redacted, and
// several values of one header are joined with ", ".
func AddHeader(out map[string]string, name, val string) map[string]string {
	if out == nil {
		out = make(map[string]string, 4)
	}
	name = strings.ToLower(name)
	switch name {
	case "authorization", "proxy-authorization", "cookie", "set-cookie":
		val = Redacted
	}
	if old, ok := out[name]; ok && val != Redacted {
		val = old + ", " + val
	}
	out[name] = val
	return out
}

// Wanted says whether name is one of the configured headers (any case).
func Wanted(name []byte, want []string) bool {
	for _, w := range want {
		if len(name) == len(w) && bytes.EqualFold(name, []byte(w)) {
			return true
		}
	}
	return false
}

// SplitHost splits a Host header or :authority value into lower-case domain and port (0 when
// it names none).
func SplitHost(h []byte) (string, uint16) {
	if len(h) == 0 {
		return "", 0
	}
	host, port := h, []byte(nil)
	if h[0] == '[' {
		if i := bytes.IndexByte(h, ']'); i > 0 {
			host = h[1:i]
			if len(h) > i+1 && h[i+1] == ':' {
				port = h[i+2:]
			}
		}
	} else if i := bytes.LastIndexByte(h, ':'); i >= 0 {
		host, port = h[:i], h[i+1:]
	}
	return lower(host), portNumber(port)
}

// portNumber is port as a decimal number of at most 65535, or 0, as strconv.ParseUint(port,
// 10, 16) would say; without the error that ParseUint allocates for the usual Host with no
// port, on every request.
func portNumber(port []byte) uint16 {
	if len(port) == 0 {
		return 0
	}
	n := 0
	for _, c := range port {
		if c < '0' || c > '9' {
			return 0
		}
		if n = n*10 + int(c-'0'); n > 0xffff {
			return 0
		}
	}
	return uint16(n)
}

// lower is string(bytes.ToLower(b)), with one allocation fewer when b is ASCII without
// upper-case letters, as Host values nearly always are; anything else goes through
// bytes.ToLower, whose Unicode mapping (and replacement of invalid UTF-8) it keeps.
func lower(b []byte) string {
	for _, c := range b {
		if c >= 0x80 || 'A' <= c && c <= 'Z' {
			return string(bytes.ToLower(b))
		}
	}
	return string(b)
}

// SplitTarget returns the path and query of a request target; an absolute-form target
// ("http://host/p?q") also gives its host.
func SplitTarget(t []byte) (path, query, host []byte) {
	if i := bytes.Index(t, []byte("://")); i > 0 && t[0] != '/' {
		rest := t[i+3:]
		j := bytes.IndexAny(rest, "/?#")
		if j < 0 {
			j = len(rest)
		}
		host, t = rest[:j], rest[j:]
		if len(t) == 0 || t[0] != '/' {
			t = append([]byte("/"), t...)
		}
	}
	if i := bytes.IndexByte(t, '#'); i >= 0 {
		t = t[:i]
	}
	if i := bytes.IndexByte(t, '?'); i >= 0 {
		return t[:i], t[i+1:], host
	}
	return t, nil, host
}

// Truncate cuts s to at most n bytes on a UTF-8 boundary.
func Truncate(s string, n int) string {
	for n > 0 && n < len(s) && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}

// Query is the query field of an HTTP event, "METHOD target", cut at maxLen (0: no limit);
// cut says whether it was.
func Query(method, target string, maxLen int) (q string, cut bool) {
	q = method + " " + target
	if maxLen > 0 && len(q) > maxLen {
		return Truncate(q, maxLen), true
	}
	return q, false
}
