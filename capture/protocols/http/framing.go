package http

import (
	"bytes"
	"time"
)

// Bounds of the HTTP reader.
const (
	// maxHead bounds a request or response head (start line and headers); nginx's default
	// large_client_header_buffers allow 4 x 8 KiB, Apache's 8 KiB per line.
	maxHead = 64 << 10
	// maxChunkLine bounds a chunk-size line (with extensions).
	maxChunkLine = 1 << 10
)

// How a reader frames the bytes of its direction.
const (
	stHead      uint8 = iota // reading a head, up to the empty line
	stBody                   // a body of known length: left bytes to go
	stChunkSize              // a chunk-size line
	stChunkData              // left bytes of chunk data, then CRLF
	stChunkCRLF              // the CRLF after chunk data
	stTrailer                // trailer lines up to an empty line
	stUntilEOF               // the body runs until the connection closes
	stOff                    // nothing more is decoded (an upgrade, a tunnel)
	stResync                 // lost: the parser looks for the next message
)

// reader frames one direction into heads and bodies.
type reader struct {
	state uint8
	head  []byte // the head being read, or a chunk-size or trailer line
	left  int64  // body or chunk bytes still to come
	crlf  int    // bytes of the CRLF after chunk data still to come
	// msg is the message being read; its body counters grow as the body arrives.
	msg *message
	// start is when the first byte of the current head arrived.
	start time.Time
}

// message is one request or response as far as it has been read.
type message struct {
	start    time.Time
	wire     uint64 // bytes on the wire so far
	body     uint64 // body bytes after transfer decoding
	content  []byte // the kept beginning of the body
	complete bool
	end      time.Time
}

// errFraming says that the bytes are not HTTP/1.x framing.
type errFraming struct{ what string }

func (e *errFraming) Error() string { return "http: " + e.what }

// events of a reader, implemented by the parser.
type handler interface {
	// message returns the zero message that a head just read starts.
	message(dir int) *message
	// head handles a complete head and returns how the body is framed: stBody with its
	// length, stChunkSize, stUntilEOF, stOff, or stHead for no body.
	head(dir int, h []byte, m *message, ts time.Time) (uint8, int64, error)
	// done ends a message.
	done(dir int, m *message, ts time.Time)
}

// feed frames data; it returns how many bytes it used, and an error when they are not HTTP.
func (r *reader) feed(dir int, h handler, data []byte, ts time.Time, keepBody int) (int, error) {
	off := 0
	for off < len(data) {
		switch r.state {
		case stOff, stResync:
			return off, nil
		case stHead:
			if len(r.head) == 0 {
				if data[off] == '\r' || data[off] == '\n' {
					off++ // stray CRLF between messages, which RFC 9112 tells servers to skip
					continue
				}
				r.start = ts
			}
			end, found := headEnd(r.head, data[off:])
			take := len(data) - off
			if found {
				take = end
			}
			if len(r.head)+take > maxHead {
				return off, &errFraming{"head larger than 64 KiB"}
			}
			r.head = append(r.head, data[off:off+take]...)
			off += take
			if !found {
				return off, nil
			}
			m := h.message(dir)
			m.start, m.wire = r.start, uint64(len(r.head))
			r.msg = m
			st, n, err := h.head(dir, r.head, m, ts)
			r.head = r.head[:0]
			if err != nil {
				return off, err
			}
			r.state, r.left = st, n
			switch {
			case st == stOff:
				r.finish(dir, h, ts) // what follows is another protocol
			case st == stHead || st == stBody && n == 0:
				r.state = stHead
				r.finish(dir, h, ts)
			}
		case stBody, stChunkData, stUntilEOF:
			k := len(data) - off
			if r.state != stUntilEOF {
				k = int(min(int64(k), r.left))
			}
			r.body(data[off:off+k], keepBody)
			off += k
			if r.state == stUntilEOF {
				continue
			}
			r.left -= int64(k)
			if r.left > 0 {
				continue
			}
			if r.state == stBody {
				r.state = stHead
				r.finish(dir, h, ts)
			} else {
				r.state, r.crlf = stChunkCRLF, 2
			}
		case stChunkCRLF:
			want := byte('\n')
			if r.crlf == 2 {
				want = '\r'
			}
			if data[off] != want {
				return off, &errFraming{"chunk not followed by CRLF"}
			}
			off++
			r.msg.wire++
			r.crlf--
			if r.crlf == 0 {
				r.state = stChunkSize
			}
		case stChunkSize, stTrailer:
			i := bytes.IndexByte(data[off:], '\n')
			take := len(data) - off
			if i >= 0 {
				take = i + 1
			}
			if len(r.head)+take > maxChunkLine && r.state == stChunkSize || len(r.head)+take > maxHead {
				return off, &errFraming{"chunk-size or trailer line too long"}
			}
			r.head = append(r.head, data[off:off+take]...)
			off += take
			r.msg.wire += uint64(take)
			if i < 0 {
				return off, nil
			}
			line := bytes.TrimRight(r.head, "\r\n")
			r.head = r.head[:0]
			if r.state == stTrailer {
				if len(line) == 0 {
					r.state = stHead
					r.finish(dir, h, ts)
				}
				continue
			}
			n, ok := chunkSize(line)
			if !ok {
				return off, &errFraming{"bad chunk size"}
			}
			if n == 0 {
				r.state = stTrailer
			} else {
				r.state, r.left = stChunkData, n
			}
		}
	}
	return off, nil
}

// body counts (and keeps the beginning of) body bytes.
func (r *reader) body(b []byte, keep int) {
	m := r.msg
	m.wire += uint64(len(b))
	m.body += uint64(len(b))
	if room := keep - len(m.content); room > 0 {
		m.content = append(m.content, b[:min(room, len(b))]...)
	}
}

func (r *reader) finish(dir int, h handler, ts time.Time) {
	m := r.msg
	r.msg = nil
	m.complete, m.end = true, ts
	h.done(dir, m, ts)
}

// skip accounts for n lost bytes; it returns false when they cannot be skipped in place (they
// are not all inside a body of known size).
func (r *reader) skip(n int) bool {
	switch r.state {
	case stUntilEOF, stOff:
		if r.msg != nil {
			r.msg.wire += uint64(n)
			r.msg.body += uint64(n)
		}
		return true
	case stBody, stChunkData:
		if int64(n) > r.left || r.state == stChunkData && int64(n) == r.left {
			return false
		}
		r.msg.wire += uint64(n)
		r.msg.body += uint64(n)
		r.left -= int64(n)
		return true
	}
	return false
}

func (r *reader) reset(st uint8) {
	r.state, r.head, r.left, r.crlf, r.msg = st, r.head[:0], 0, 0, nil
}

// headEnd finds the end of a head ("\r\n\r\n", or "\n\n" which RFC 9112 allows) in data,
// given the head bytes read before; it returns the offset just after it in data.
func headEnd(prev, data []byte) (int, bool) {
	for i := 0; i < len(data); i++ {
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			break
		}
		i += j
		// The byte before this '\n', and the one before that, across prev and data.
		b1, b2 := at(prev, data, i-1), at(prev, data, i-2)
		if b1 == '\n' || b1 == '\r' && b2 == '\n' {
			return i + 1, true
		}
	}
	return 0, false
}

// at is the byte at index i of prev+data, where negative i counts back into prev; 0 outside.
func at(prev, data []byte, i int) byte {
	if i >= 0 {
		return data[i]
	}
	if j := len(prev) + i; j >= 0 {
		return prev[j]
	}
	return 0
}

// chunkSize parses a chunk-size line: hex digits, optionally followed by extensions.
func chunkSize(line []byte) (int64, bool) {
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimRight(line, " \t")
	if len(line) == 0 || len(line) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range line {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, true
}
