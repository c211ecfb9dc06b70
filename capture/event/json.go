package event

import (
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// AppendJSON appends ev as one JSON document (no trailing newline) to dst and returns the
// extended slice. The bytes are exactly those of encoding/json's Encoder with
// SetEscapeHTML(false), without the newline: fields in struct order, the same omitempty and
// omitzero rules, sorted map keys, invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped. It
// uses no reflection and allocates nothing when dst has room (a map of more than 32 keys
// costs one allocation for sorting). json_test.go compares it with encoding/json on every
// field, on replayed captures and under fuzzing; a field added to Event must be added here.
//
// The one difference: a time whose year is outside [0,9999] or whose zone offset is 24 hours
// or more, which encoding/json refuses with an error, is written as time.RFC3339Nano formats
// it. Capture timestamps never are.
func AppendJSON(dst []byte, ev *Event) []byte {
	return (*Encoder)(nil).AppendJSON(dst, ev)
}

// AppendJSON appends ev as the package's AppendJSON does, byte for byte. A nil Encoder keeps
// nothing; it is how AppendJSON shares this code.
func (e *Encoder) AppendJSON(dst []byte, ev *Event) []byte {
	if ev == nil {
		return append(dst, "null"...)
	}
	c := e.conn(ev)
	b := dst
	b = append(b, `{"@timestamp":`...)
	at := len(b)
	b = e.appendTime(b, ev.Timestamp)
	ts := b[at:] // event.start is most often the same time
	b = c.appendHead(b, ev)
	b = ev.Event.appendTail(b, ev.Timestamp, ts, e)
	b = c.appendConn(b, ev)
	if ev.User != nil {
		b = append(b, `,"user":{"name":`...)
		b = appendString(b, ev.User.Name)
		b = append(b, '}')
	}
	if ev.DB != nil {
		b = append(b, `,"db":{"name":`...)
		b = appendString(b, ev.DB.Name)
		b = append(b, '}')
	}
	if ev.TLS != nil {
		b = append(b, `,"tls":`...)
		b = ev.TLS.appendJSON(b)
	}
	if ev.Error != nil {
		b = append(b, `,"error":{"message":`...)
		b = appendString(b, ev.Error.Message)
		b = append(b, '}')
	}
	b = ev.appendParts(b)
	if ev.Kubernetes != nil {
		b = append(b, `,"kubernetes":`...)
		b = e.appendKubernetes(b, ev.Kubernetes)
	}
	return append(b, '}')
}

// appendHead writes the fields that follow the timestamp, up to event.duration's value.
func (ev *Event) appendHead(b []byte) []byte {
	b = append(b, `,"type":`...)
	b = appendString(b, ev.Type)
	b = optString(b, `,"status":`, ev.Status)
	b = optString(b, `,"method":`, ev.Method)
	b = optString(b, `,"query":`, ev.Query)
	if ev.QueryTruncated {
		b = append(b, `,"query_truncated":true`...)
	}
	b = optString(b, `,"query_fingerprint":`, ev.QueryFingerprint)
	b = append(b, `,"event":`...)
	return ev.Event.appendHead(b)
}

// appendParts appends the protocol and report parts that follow the common fields, up to the
// pod's identity.
func (ev *Event) appendParts(b []byte) []byte {
	if ev.MongoDB != nil {
		b = append(b, `,"mongodb":`...)
		b = ev.MongoDB.appendJSON(b)
	}
	if ev.MySQL != nil {
		b = append(b, `,"mysql":`...)
		b = ev.MySQL.appendJSON(b)
	}
	if ev.PgSQL != nil {
		b = append(b, `,"pgsql":`...)
		b = ev.PgSQL.appendJSON(b)
	}
	if ev.Redis != nil {
		b = append(b, `,"redis":`...)
		b = ev.Redis.appendJSON(b)
	}
	if ev.HTTP != nil {
		b = append(b, `,"http":`...)
		b = ev.HTTP.appendJSON(b)
	}
	if ev.URL != nil {
		b = append(b, `,"url":`...)
		b = ev.URL.appendJSON(b)
	}
	if ev.UserAgent != nil {
		b = append(b, `,"user_agent":{"original":`...)
		b = appendString(b, ev.UserAgent.Original)
		b = append(b, '}')
	}
	if ev.RPC != nil {
		b = append(b, `,"rpc":`...)
		b = ev.RPC.appendJSON(b)
	}
	if ev.Flow != nil {
		b = append(b, `,"flow":`...)
		b = ev.Flow.appendJSON(b)
	}
	if ev.DNS != nil {
		b = append(b, `,"dns":`...)
		b = ev.DNS.appendJSON(b)
	}
	if ev.Loss != nil {
		b = append(b, `,"loss":`...)
		b = ev.Loss.appendJSON(b)
	}
	if ev.ExportTruncated != nil {
		b = append(b, `,"export_truncated":`...)
		b = ev.ExportTruncated.appendJSON(b)
	}
	return b
}

// comma appends the separator before a field of an object whose first fields may be omitted:
// none while the object opened at open is still empty.
func comma(b []byte, open int) []byte {
	if len(b) > open {
		b = append(b, ',')
	}
	return b
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// appendUint writes v in decimal, as strconv.AppendUint does. The numbers of an event (byte
// counts, ports, durations of most transactions in nanoseconds) mostly have fewer than ten
// digits: those are written in place, two digits at a time, without strconv's calls.
func appendUint(b []byte, v uint64) []byte {
	if v >= 1e9 {
		return strconv.AppendUint(b, v, 10)
	}
	// The digit count from the bit length (log10 2 is about 1233/4096), then one compare:
	// the loop of divisions it replaced took the pipelined mix's replay from 8.82G to 8.75G
	// instructions (cachegrind).
	t := bits.Len64(v|1) * 1233 >> 12
	n := t
	if v|1 >= pow10[t] {
		n++
	}
	if cap(b)-len(b) < n {
		b = slices.Grow(b, n)
	}
	b = b[:len(b)+n]
	i := len(b)
	for v >= 100 {
		q := v / 100
		r := (v - q*100) * 2
		i -= 2
		b[i], b[i+1] = pairs[r], pairs[r+1]
		v = q
	}
	if v >= 10 {
		b[i-2], b[i-1] = pairs[v*2], pairs[v*2+1]
	} else {
		b[i-1] = byte('0' + v)
	}
	return b
}

// pow10 holds the powers of ten appendUint compares with.
var pow10 = [...]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10}

// pairs holds the two digits of each number from 00 to 99.
const pairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

func appendInt(b []byte, v int64) []byte {
	if v < 0 {
		return strconv.AppendInt(b, v, 10)
	}
	return appendUint(b, uint64(v))
}

// appendAddr writes ip as its MarshalText does (the zero Addr as ""). Only a zone can hold
// characters that need escaping; netip writes it last, after a '%'.
func appendAddr(b []byte, ip netip.Addr) []byte {
	b = append(b, '"')
	zone := ip.Zone()
	if zone == "" {
		b = ip.AppendTo(b)
		return append(b, '"')
	}
	b = ip.WithZone("").AppendTo(b)
	b = append(b, '%')
	return appendEscaped(b, zone, 0)
}

// safe marks the bytes encoding/json copies unchanged with SetEscapeHTML(false): the
// printable ASCII ones but '"' and '\\' (DEL included, as encoding/json's safeSet has it).
// Bytes from 0x80 up are not safe: they need UTF-8 decoding.
var safe = func() (t [256]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hex = "0123456789abcdef"

// text is what appendString quotes: a string, or bytes in place (a decoder's buffer).
type text interface{ string | []byte }

// AppendString writes s as a JSON string exactly as encoding/json's appendString does with
// escapeHTML false, which is also how the MongoDB driver quotes strings in Extended JSON.
// For a decoder that writes JSON text of its own, such as the MongoDB query.
func AppendString[S text](b []byte, s S) []byte { return appendString(b, s) }

// appendString writes s as a JSON string exactly as encoding/json's appendString does with
// escapeHTML false.
func appendString[S text](b []byte, s S) []byte {
	i := 0
	for i+8 <= len(s) && plain8(load8(s[i:])) {
		i += 8
	}
	for i < len(s) && safe[s[i]] {
		i++
	}
	b = append(b, '"')
	if i < len(s) {
		return appendEscaped(b, s, i)
	}
	b = append(b, s...)
	return append(b, '"')
}

// appendEscaped writes the rest of the JSON string s whose bytes before i need no escaping.
func appendEscaped[S text](b []byte, s S, i int) []byte {
	start := 0
	for i < len(s) {
		// Skip eight bytes at a time while none needs a look.
		for i+8 <= len(s) && plain8(load8(s[i:])) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if safe[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := decodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// plain8 tells whether none of the eight bytes of w is below 0x20, '"', '\\' or from 0x7f
// up, so that none needs escaping or UTF-8 decoding (DEL goes to the byte loop, which copies
// it). Each test is the "has a byte less than n" / "has a zero byte" trick of Bit Twiddling
// Hacks: a borrow can mark bytes above the first match, never a word without one.
func plain8(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q, bs := w^(ones*'"'), w^(ones*'\\')
	m := (w - ones*0x20) &^ w // a byte below 0x20
	m |= (q - ones) &^ q      // a '"'
	m |= (bs - ones) &^ bs    // a backslash
	m |= (w + ones) | w       // 0x7f or above
	return m&highs == 0
}

// decodeRune is utf8.DecodeRune for either kind of text, without a copy.
func decodeRune[S text](s S) (rune, int) {
	if b, ok := any(s).([]byte); ok {
		return utf8.DecodeRune(b)
	}
	return utf8.DecodeRuneInString(string(s))
}

// load8 reads the first eight bytes of s as a little-endian word (one load once compiled).
func load8[S text](s S) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// entry is a key and value of a map, for sorting.
type entry[V any] struct {
	k string
	v V
}

// sortedEntries returns the entries of m in encoding/json's order (byte-wise by key), in buf
// when it has room.
func sortedEntries[V any](m map[string]V, buf []entry[V]) []entry[V] {
	es := buf[:0]
	for k, v := range m {
		es = append(es, entry[V]{k, v})
	}
	slices.SortFunc(es, func(a, b entry[V]) int { return strings.Compare(a.k, b.k) })
	return es
}

// appendStringMap writes m as an object with sorted keys (every map[string]string of Event is
// omitempty: a nil one is never written).
func appendStringMap(b []byte, m map[string]string) []byte {
	var buf [32]entry[string]
	b = append(b, '{')
	for i, e := range sortedEntries(m, buf[:]) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, e.k)
		b = append(b, ':')
		b = appendString(b, e.v)
	}
	return append(b, '}')
}

// optString writes key (with its separator and colon) and s, unless s is empty (omitempty).
func optString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	b = append(b, key...)
	return appendString(b, s)
}

// optUint writes key and v, unless v is zero (omitempty).
func optUint(b []byte, key string, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = append(b, key...)
	return appendUint(b, v)
}

// optList writes key (ending in '[') and the elements of xs as an array, unless xs is empty
// (omitempty).
func optList[T any](b []byte, key string, xs []T, elem func([]byte, *T) []byte) []byte {
	if len(xs) == 0 {
		return b
	}
	b = append(b, key...)
	for i := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = elem(b, &xs[i])
	}
	return append(b, ']')
}
