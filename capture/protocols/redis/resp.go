package redis

import (
	"bytes"
	"strconv"
	"time"
)

// Bounds of the RESP reader.
const (
	// maxLine bounds a header line, a simple string or error, and an inline command. Redis
	// itself refuses inline commands over 64 KiB.
	maxLine = 64 << 10
	// maxBulk is Redis' proto-max-bulk-len default; a larger length is not RESP.
	maxBulk = 512 << 20
	// maxCount bounds the element count of one aggregate header.
	maxCount = 1 << 30
	// maxDepth bounds the nesting of aggregates.
	maxDepth = 32
	// maxWords bounds the words of an inline command the reader keeps room for.
	maxWords = 64
	// maxValue is how many bytes of one value (an argument, a reply element) are kept; longer
	// values are shown cut, followed by "…".
	maxValue = 128
)

// frame is an aggregate whose elements are still arriving.
type frame struct {
	typ  byte
	left int // elements still to come (maps and attributes count keys and values)
	done int // elements seen
}

// value is what the reader knows of the top-level value it is reading.
type value struct {
	typ   byte
	count int // elements of a top-level aggregate
	start time.Time
	wire  int // bytes on the wire
}

// reader frames the RESP values of one direction without keeping more than one line and the
// first maxValue bytes of one bulk string.
type reader struct {
	client bool
	line   []byte // header line being read, without CRLF
	// bulk: payload bytes still to come, then crlf bytes of the trailing CRLF.
	bulk    int
	bulkLen int
	crlf    int
	keep    []byte   // the kept beginning of the current bulk string
	words   [][]byte // the words of an inline command, reused
	leafTyp byte
	stack   []frame
	val     value
	inVal   bool
}

// errProto is a framing error: the bytes are not RESP.
type errProto struct{ what string }

func (e *errProto) Error() string { return "redis: " + e.what }

// handler receives what the reader decodes.
type handler interface {
	// leaf is one scalar at depth (0: the top-level value; 1: an element of the top-level
	// aggregate; deeper: nested). full is its length on the wire, data its kept beginning; data
	// may point into the segment being fed and must not be kept after the call.
	leaf(r *reader, typ byte, data []byte, full int, null bool, depth int)
	// open and close bracket an aggregate at depth (0: the top-level value).
	open(r *reader, typ byte, count int, depth int)
	close(r *reader, typ byte, depth int)
	// done ends a top-level value.
	done(r *reader, ts time.Time)
}

// reset forgets the value being read.
func (r *reader) reset() {
	r.line, r.bulk, r.crlf, r.keep = r.line[:0], 0, 0, r.keep[:0]
	r.stack = r.stack[:0]
	r.inVal = false
	r.val = value{}
}

// feed decodes data and returns how many bytes it used and an error when the bytes are not
// RESP; the reader must then be reset before it is used again.
func (r *reader) feed(h handler, data []byte, ts time.Time) (int, error) {
	off := 0
	for off < len(data) {
		if !r.inVal {
			r.inVal = true
			r.val = value{start: ts}
		}
		switch {
		case r.bulk > 0:
			k := min(r.bulk, len(data)-off)
			if room := maxValue - len(r.keep); room > 0 {
				r.keep = append(r.keep, data[off:off+min(k, room)]...)
			}
			r.bulk -= k
			off += k
			r.val.wire += k
			if r.bulk == 0 {
				r.crlf = 2
			}
		case r.crlf > 0:
			want := byte('\n')
			if r.crlf == 2 {
				want = '\r'
			}
			if data[off] != want {
				return off, &errProto{"bulk string not followed by CRLF"}
			}
			off++
			r.val.wire++
			r.crlf--
			if r.crlf == 0 {
				r.element(h, r.leafTyp, r.keep, r.bulkLen, false, ts)
			}
		default:
			if len(r.line) == 0 {
				if len(r.stack) == 0 && r.val.wire == 0 && data[off] == '*' {
					if k := r.array(h, data[off:], ts); k > 0 {
						off += k
						continue
					}
				}
				k, err := r.lengthLine(h, data[off:], ts)
				off += k
				if err != nil {
					return off, err
				}
				if k > 0 {
					if r.bulk > 0 || r.crlf > 0 {
						off = r.bulkInPlace(h, data, off, ts)
					}
					continue
				}
			}
			i := bytes.IndexByte(data[off:], '\n')
			end := len(data)
			if i >= 0 {
				end = off + i
			}
			if len(r.line)+end-off > maxLine {
				return off, &errProto{"line longer than 64 KiB"}
			}
			line := data[off:end]
			if len(r.line) > 0 || i < 0 {
				// The line began in an earlier segment or ends in a later one: gather it.
				r.line = append(r.line, line...)
				line = r.line
			}
			r.val.wire += end - off
			off = end
			if i < 0 {
				return off, nil
			}
			off++
			r.val.wire++
			inline := r.client && len(r.stack) == 0
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			} else if !inline || n > 0 && line[0] == '*' {
				return off, &errProto{"line not ended by CRLF"}
			}
			err := r.header(h, line, ts)
			r.line = r.line[:0]
			if err != nil {
				return off, err
			}
			if r.bulk > 0 || r.crlf > 0 {
				off = r.bulkInPlace(h, data, off, ts)
			}
		}
	}
	return off, nil
}

// bulkInPlace delivers the bulk string whose header was just read when its payload and CRLF
// are all in data[off:], without copying the payload; it returns the offset after them, or
// off when they are not all there (or not followed by CRLF), for feed to read byte-wise.
func (r *reader) bulkInPlace(h handler, data []byte, off int, ts time.Time) int {
	n := r.bulkLen
	if n > len(data)-off-2 || data[off+n] != '\r' || data[off+n+1] != '\n' {
		return off
	}
	r.bulk, r.crlf = 0, 0
	r.val.wire += n + 2
	r.element(h, r.leafTyp, data[off:off+min(n, maxValue)], n, false, ts)
	return off + n + 2
}

// header handles one complete line.
func (r *reader) header(h handler, line []byte, ts time.Time) error {
	if len(line) == 0 {
		if r.client && len(r.stack) == 0 {
			r.inVal = false // an empty inline command: Redis ignores it
			return nil
		}
		return &errProto{"empty line"}
	}
	typ, rest := line[0], line[1:]
	if r.client && len(r.stack) == 0 && typ != '*' {
		return r.inline(h, line, ts)
	}
	if r.client && len(r.stack) > 0 && typ != '$' {
		return &errProto{"command element is not a bulk string"}
	}
	switch typ {
	case '+', '-':
		r.element(h, typ, rest, len(rest), false, ts)
	case ':', '(':
		if !integer(rest, typ == '(') {
			return &errProto{"bad integer"}
		}
		r.element(h, typ, rest, len(rest), false, ts)
	case ',':
		if _, err := strconv.ParseFloat(string(rest), 64); err != nil && !bytes.Equal(rest, []byte("nan")) {
			return &errProto{"bad double"}
		}
		r.element(h, typ, rest, len(rest), false, ts)
	case '#':
		if len(rest) != 1 || rest[0] != 't' && rest[0] != 'f' {
			return &errProto{"bad boolean"}
		}
		r.element(h, typ, rest, 1, false, ts)
	case '_':
		if len(rest) != 0 {
			return &errProto{"bad null"}
		}
		r.element(h, typ, nil, 0, true, ts)
	case '$', '=', '!':
		n, ok := length(rest, maxBulk)
		if !ok {
			return &errProto{"bad bulk length"}
		}
		if n < 0 {
			if typ != '$' {
				return &errProto{"negative length"}
			}
			r.element(h, typ, nil, 0, true, ts)
			return nil
		}
		r.bulkHeader(typ, n)
	case '*', '%', '~', '>', '|':
		n, ok := length(rest, maxCount)
		if !ok {
			return &errProto{"bad aggregate count"}
		}
		if n < 0 {
			if typ != '*' {
				return &errProto{"negative count"}
			}
			r.element(h, typ, nil, 0, true, ts)
			return nil
		}
		return r.aggregate(h, typ, n, ts)
	default:
		return &errProto{"unknown type byte " + strconv.QuoteRune(rune(typ))}
	}
	return nil
}

// bulkHeader starts a bulk string of n >= 0 bytes.
func (r *reader) bulkHeader(typ byte, n int) {
	r.leafTyp, r.bulkLen, r.keep = typ, n, r.keep[:0]
	if n == 0 {
		r.crlf = 2
	} else {
		r.bulk = n
	}
}

// aggregate opens an aggregate of n >= 0 elements.
func (r *reader) aggregate(h handler, typ byte, n int, ts time.Time) error {
	if r.client && n == 0 {
		r.inVal = false // "*0": Redis ignores it
		return nil
	}
	if len(r.stack) >= maxDepth {
		return &errProto{"aggregates nested too deep"}
	}
	if len(r.stack) == 0 {
		r.val.typ, r.val.count = typ, n
	}
	h.open(r, typ, n, len(r.stack))
	if typ == '%' || typ == '|' {
		n *= 2
	}
	r.stack = append(r.stack, frame{typ: typ, left: n})
	if n == 0 {
		r.closeFrames(h, ts)
	}
	return nil
}

// lengthLine reads the commonest lines, "$<n>\r\n" and "*<n>\r\n", when they are whole at
// the start of b, parsing the digits as it finds the line's end; it returns the line's length,
// or 0 for any other line (or one that header would refuse), which feed reads the usual way.
func (r *reader) lengthLine(h handler, b []byte, ts time.Time) (int, error) {
	typ := b[0]
	if typ != '$' && typ != '*' || r.client && (len(r.stack) == 0) != (typ == '*') {
		return 0, nil
	}
	n, k, ok := lengthAt(b, 0, typ)
	if !ok {
		return 0, nil
	}
	r.val.wire += k
	if typ == '$' {
		r.bulkHeader(typ, n)
		return k, nil
	}
	return k, r.aggregate(h, typ, n, ts)
}

// lengthAt parses the line "<typ><digits>\r\n" at b[at:] and returns its number and the
// offset after it; ok is false for any other line and for a number over the type's bound.
func lengthAt(b []byte, at int, typ byte) (n, next int, ok bool) {
	if at >= len(b) || b[at] != typ {
		return 0, 0, false
	}
	i, end := at+1, min(len(b), at+11) // at most 10 digits
	for ; i < end; i++ {
		d := b[i] - '0'
		if d > 9 {
			break
		}
		n = n*10 + int(d)
	}
	limit := maxCount
	if typ == '$' {
		limit = maxBulk
	}
	if i == at+1 || i+1 >= len(b) || b[i] != '\r' || b[i+1] != '\n' || n > limit {
		return 0, 0, false
	}
	return n, i + 2, true
}

// array reads a top-level array of bulk strings, the shape of every command and of many
// replies, when it is whole at the start of b. It checks the whole array before it delivers
// any of it, so it reads either all of it, returning its length, or nothing (0), and then feed
// reads it the usual way; what it delivers is what the usual way delivers.
func (r *reader) array(h handler, b []byte, ts time.Time) int {
	n, first, ok := lengthAt(b, 0, '*')
	if !ok || n == 0 {
		return 0
	}
	end := first
	for range n {
		m, at, ok := lengthAt(b, end, '$')
		if !ok || m > len(b)-at-2 || b[at+m] != '\r' || b[at+m+1] != '\n' {
			return 0
		}
		end = at + m + 2
	}
	r.val.typ, r.val.count = '*', n
	h.open(r, '*', n, 0)
	r.stack = append(r.stack, frame{typ: '*', left: n})
	for p := first; p < end; {
		// The header was checked above: its digits end at the CR.
		m, at := 0, p+1
		for ; b[at] != '\r'; at++ {
			m = m*10 + int(b[at]-'0')
		}
		at += 2
		p = at + m + 2
		r.val.wire = p
		h.leaf(r, '$', b[at:at+min(m, maxValue)], m, false, 1)
		r.stack[0].left--
		r.stack[0].done++
	}
	r.stack = r.stack[:0]
	h.close(r, '*', 0)
	h.done(r, ts)
	r.inVal = false
	return end
}

// inline handles an inline command: words separated by blanks.
func (r *reader) inline(h handler, line []byte, ts time.Time) error {
	for _, c := range line {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return &errProto{"inline command with control bytes"}
		}
	}
	words := splitArgs(r.words, line)
	if len(words) > 0 {
		r.val.typ, r.val.count = 'i', len(words)
		for _, w := range words {
			h.leaf(r, '$', w[:min(len(w), maxValue)], len(w), false, 1)
		}
		h.done(r, ts)
	}
	r.inVal = false
	// The words are kept for the next inline command, pointing nowhere, unless a huge one
	// made them big.
	clear(words)
	if cap(words) <= maxWords {
		r.words = words[:0]
	}
	return nil
}

// element delivers a scalar and closes the aggregates it completes.
func (r *reader) element(h handler, typ byte, data []byte, full int, null bool, ts time.Time) {
	if len(r.stack) == 0 {
		r.val.typ = typ
	}
	h.leaf(r, typ, data, full, null, len(r.stack))
	if len(r.stack) == 0 {
		h.done(r, ts)
		r.inVal = false
		return
	}
	r.stack[len(r.stack)-1].left--
	r.stack[len(r.stack)-1].done++
	r.closeFrames(h, ts)
}

// closeFrames pops the aggregates that are complete.
func (r *reader) closeFrames(h handler, ts time.Time) {
	for len(r.stack) > 0 && r.stack[len(r.stack)-1].left == 0 {
		f := r.stack[len(r.stack)-1]
		r.stack = r.stack[:len(r.stack)-1]
		h.close(r, f.typ, len(r.stack))
		if len(r.stack) == 0 {
			h.done(r, ts)
			r.inVal = false
			return
		}
		r.stack[len(r.stack)-1].left--
		r.stack[len(r.stack)-1].done++
	}
}

func integer(b []byte, big bool) bool {
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		b = b[1:]
	}
	if len(b) == 0 || !big && len(b) > 19 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// length parses a length or count: -1, or 0..limit.
func length(b []byte, limit int) (int, bool) {
	if len(b) == 2 && b[0] == '-' && b[1] == '1' {
		return -1, true
	}
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= limit
}

// splitArgs splits an inline command as Redis does (sdssplitargs): words separated by blanks,
// "double quotes" with \n \r \t \b \a \\ \" and \xHH escapes, 'single quotes' with \'. Unbalanced
// quotes (which Redis refuses) fall back to plain words. The words reuse dst's storage.
func splitArgs(dst [][]byte, line []byte) [][]byte {
	words := dst[:0]
	i := 0
	for {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i == len(line) {
			return words
		}
		var w []byte
		switch q := line[i]; q {
		case '"', '\'':
			i++
			closed := false
			for i < len(line) {
				c := line[i]
				if c == '\\' && i+1 < len(line) {
					e := line[i+1]
					switch {
					case q == '"' && e == 'x' && i+3 < len(line) && hex(line[i+2]) >= 0 && hex(line[i+3]) >= 0:
						w = append(w, byte(hex(line[i+2])<<4|hex(line[i+3])))
						i += 4
						continue
					case q == '"':
						w = append(w, unescape(e))
						i += 2
						continue
					case e == '\'':
						w = append(w, e)
						i += 2
						continue
					}
				}
				if c == q {
					closed = true
					i++
					break
				}
				w = append(w, c)
				i++
			}
			if !closed || i < len(line) && line[i] != ' ' && line[i] != '\t' {
				return append(dst[:0], bytes.Fields(line)...)
			}
		default:
			start := i
			for i < len(line) && line[i] != ' ' && line[i] != '\t' {
				i++
			}
			w = line[start:i]
		}
		words = append(words, w)
	}
}

func hex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func unescape(e byte) byte {
	switch e {
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'b':
		return '\b'
	case 'a':
		return '\a'
	}
	return e
}
