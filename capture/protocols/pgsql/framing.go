package pgsql

import (
	"encoding/binary"
	"time"

	"github.com/audit-io/wire-audit/capture/protocols"
)

// How a reader frames the bytes of its direction.
const (
	// modeTyped: type byte, then int32 length (which counts itself).
	modeTyped uint8 = iota
	// modeStartup: the client's first messages have no type byte (StartupMessage, SSLRequest,
	// GSSENCRequest, CancelRequest).
	modeStartup
	// modeAnswer: the server answers SSLRequest or GSSENCRequest with a single byte.
	modeAnswer
	// modeResync: the position in the stream is lost; look for a message that can be proven.
	modeResync
	// modeOff: nothing more can be decoded (encrypted, cancelled, or given up).
	modeOff
)

// resyncWindow bounds what a reader keeps while it looks for a plausible message, and so the
// largest message it can resynchronise on: larger ones are passed over and the next one is used.
const resyncWindow = 16 << 10

// msg is one complete protocol message as handed to the protocol layer. body holds the kept
// prefix of the body (all of it unless the message is larger than what its type needs), and is
// valid only during the call.
type msg struct {
	typ   byte // 0 for startup-phase messages
	body  []byte
	size  int // full body length
	wire  int // bytes on the wire, header included
	start time.Time
}

// reader frames one direction into messages. It keeps at most the kept bytes of one message
// (bounded by the message limit) plus, while resynchronising, one window.
type reader struct {
	mode  uint8
	hdr   [5]byte
	nhdr  int
	size  int // body length of the current message
	got   int // body bytes of it seen so far
	keep  int // body bytes of it to keep
	buf   []byte
	start time.Time
	// scan holds the bytes under examination while resynchronising; scanPos is the first
	// offset not yet ruled out as the start of a message.
	scan    []byte
	scanPos int
	// seen counts every byte delivered to this direction.
	seen uint64
}

func (r *reader) headerLen() int {
	if r.mode == modeStartup {
		return 4
	}
	return 5
}

// loseSync switches the reader to resynchronisation.
func (r *reader) loseSync() {
	r.mode = modeResync
	r.nhdr, r.got, r.size, r.keep = 0, 0, 0, 0
	r.buf = r.buf[:0]
}

// feed runs the bytes of one Data call through the reader of dir.
func (p *parser) feed(dir int, data []byte, ts time.Time) {
	r := &p.rd[dir]
	for len(data) > 0 {
		switch r.mode {
		case modeOff:
			if p.tls != nil {
				p.tls.Data(protocols.Dir(dir), data, ts) // TLS began in the same segment
			}
			return
		case modeResync:
			data = data[p.resync(dir, data, ts):]
		default:
			data = data[p.frame(dir, data, ts):]
		}
	}
}

// frame reads messages from data while the reader is in a framing mode and returns how many
// bytes it consumed. It stops early when the mode changes to resync or off.
func (p *parser) frame(dir int, data []byte, ts time.Time) int {
	r := &p.rd[dir]
	off := 0
	for off < len(data) {
		switch r.mode {
		case modeTyped, modeStartup:
		case modeAnswer:
			b := data[off]
			off++
			p.answer(b, ts)
			continue
		default:
			return off
		}
		hl := r.headerLen()
		if r.nhdr < hl {
			whole := r.nhdr == 0
			hdrAt := off
			if whole {
				r.start = ts
			}
			n := copy(r.hdr[r.nhdr:hl], data[off:])
			r.nhdr += n
			off += n
			if r.nhdr < hl {
				return off
			}
			if !p.header(dir, r) {
				// Rescan from the byte after the bad header's first byte; a client that skipped
				// the start-up (or whose start-up was not seen) may send a typed message at once,
				// so a bad start-up header is rescanned from its first byte.
				from := 1
				if r.mode == modeStartup {
					from = 0
				}
				p.desync(dir)
				if whole {
					return hdrAt + from
				}
				r.scan = append(r.scan[:0], r.hdr[from:hl]...)
				r.scanPos = 0
				return off
			}
		}
		need := r.size - r.got
		if r.got == 0 && len(data)-off >= need {
			// The whole body is here: hand it over in place, without copying.
			m := msg{typ: r.msgType(), body: data[off : off+r.keep], size: r.size, wire: hl + r.size, start: r.start}
			off += need
			r.nhdr = 0
			p.message(dir, &m, ts)
			continue
		}
		take := min(need, len(data)-off)
		if r.got < r.keep {
			k := min(take, r.keep-r.got)
			r.buf = append(grow(r.buf, k, r.keep), data[off:off+k]...)
		}
		r.got += take
		off += take
		if r.got < r.size {
			return off
		}
		m := msg{typ: r.msgType(), body: r.buf, size: r.size, wire: hl + r.size, start: r.start}
		r.nhdr = 0
		p.message(dir, &m, ts)
		r.buf = r.buf[:0]
		if cap(r.buf) > 64<<10 {
			// A large statement passed through; do not keep its buffer for the connection's life.
			r.buf = nil
		}
	}
	return off
}

func (r *reader) msgType() byte {
	if r.mode == modeStartup {
		return 0
	}
	return r.hdr[0]
}

// header checks the complete header in r.hdr and prepares the body; false means the bytes are
// not a message of this direction.
func (p *parser) header(dir int, r *reader) bool {
	var n int64
	if r.mode == modeStartup {
		n = int64(binary.BigEndian.Uint32(r.hdr[:4]))
		if n < 8 || n > maxStartupLen {
			return false
		}
	} else {
		n = int64(int32(binary.BigEndian.Uint32(r.hdr[1:5])))
		if !sizeOK(dir, r.hdr[0], n-4) {
			return false
		}
	}
	r.size = int(n - 4)
	r.got = 0
	r.keep = min(r.size, keepFor(dir, r.msgType()), p.limit)
	r.buf = r.buf[:0]
	return true
}

// resync appends what fits of data to the scan window, looks for a message it can prove, and
// returns how many bytes of data it took. Once it finds one, it frames the rest of the window
// and the reader is back in sync.
func (p *parser) resync(dir int, data []byte, ts time.Time) int {
	r := &p.rd[dir]
	window := min(resyncWindow, p.limit)
	n := min(window-len(r.scan), len(data))
	r.scan = append(grow(r.scan, n, window), data[:n]...)
	for r.mode == modeResync {
		at, ok := findMessage(dir, r.scan, r.scanPos, window)
		r.scanPos = at
		if !ok {
			break
		}
		r.mode = modeTyped
		used := at + p.frame(dir, r.scan[at:], ts)
		// frame either used everything or lost sync again at used.
		r.scanPos = used
	}
	if r.mode != modeResync {
		r.scan, r.scanPos = nil, 0 // resynchronising is rare: give the window back
		return n
	}
	// Drop what is ruled out; what stays is at most one message that may still prove itself.
	kept := copy(r.scan, r.scan[r.scanPos:])
	r.scan, r.scanPos = r.scan[:kept], 0
	return n
}

// findMessage looks for the first offset from pos where b holds a whole message that passes the
// strict checks. It returns (offset, true) when found; otherwise (offset, false) where offset is
// the first position that may still turn out to be a message once more bytes arrive.
func findMessage(dir int, b []byte, pos, window int) (int, bool) {
	for ; pos+5 <= len(b); pos++ {
		typ := b[pos]
		if !candidate(dir, typ) {
			continue
		}
		n := int64(int32(binary.BigEndian.Uint32(b[pos+1 : pos+5])))
		if n < 4 || n+1 > int64(window) || !sizeOK(dir, typ, n-4) {
			continue
		}
		end := pos + 1 + int(n)
		if end > len(b) {
			return pos, false
		}
		if valid(dir, typ, b[pos+5:end]) {
			return pos, true
		}
	}
	return pos, false
}

// grow makes room for n more bytes in b without letting its capacity pass limit
// (len(b)+n <= limit must hold), so that what a reader holds is bounded by its cap.
func grow(b []byte, n, limit int) []byte {
	need := len(b) + n
	if need <= cap(b) {
		return b
	}
	nb := make([]byte, len(b), min(max(2*cap(b), need, 512), limit))
	copy(nb, b)
	return nb
}
