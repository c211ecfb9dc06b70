package mongodb

import (
	"encoding/binary"
	"time"
)

// Opcodes of the wire protocol. OP_MSG and OP_COMPRESSED carry every command of MongoDB 3.6
// and later; OP_QUERY and OP_REPLY remain for the first hello/isMaster of older drivers. The
// legacy CRUD opcodes (removed in MongoDB 6.0) are framed but not decoded.
const (
	opReply       = 1
	opUpdate      = 2001
	opInsert      = 2002
	opQuery       = 2004
	opGetMore     = 2005
	opDelete      = 2006
	opKillCursors = 2007
	opCompressed  = 2012
	opMsg         = 2013
)

const (
	headerLen = 16
	// maxWireBytes is the largest message a server accepts (maxMessageSizeBytes, 48 MB); a
	// longer length field is not a header.
	maxWireBytes = 48_000_000
	// probeLen is how many bytes of a candidate message resynchronisation checks: the
	// header, then the first bytes of the body (OP_MSG flags, section kind, document length
	// and first element type).
	probeLen = headerLen + 4 + 1 + 4 + 1
)

// OP_MSG flag bits.
const (
	flagChecksum     = 1 << 0
	flagMoreToCome   = 1 << 1
	flagExhaustAllow = 1 << 16
	msgFlagsKnown    = flagChecksum | flagMoreToCome | flagExhaustAllow
)

// header is the standard message header.
type header struct {
	length     int
	requestID  int32
	responseTo int32
	opcode     int32
}

func readHeader(b []byte) header {
	return header{
		length:     int(int32(binary.LittleEndian.Uint32(b))),
		requestID:  int32(binary.LittleEndian.Uint32(b[4:])),
		responseTo: int32(binary.LittleEndian.Uint32(b[8:])),
		opcode:     int32(binary.LittleEndian.Uint32(b[12:])),
	}
}

// sane says whether h can be the header of a message sent in direction dir.
func (h header) sane(dir int) bool {
	if h.length < headerLen+4 || h.length > maxWireBytes {
		return false
	}
	switch h.opcode {
	case opMsg, opCompressed:
		return true
	case opReply:
		return dir == toClient && h.responseTo != 0
	case opQuery, opUpdate, opInsert, opGetMore, opDelete, opKillCursors:
		return dir == toServer && h.responseTo == 0
	}
	return false
}

// plausible says whether b, at least probeLen bytes, starts a message of direction dir
// strongly enough to resynchronise on it: a sane header and, for OP_MSG, known flag bits, a
// first section of kind 0 whose document fits in the message and starts with a valid element
// type; for OP_COMPRESSED a known original opcode and compressor; for OP_QUERY a namespace
// that starts with a printable byte; for OP_REPLY a response flag word with only known bits.
func plausible(b []byte, dir int) bool {
	h := readHeader(b)
	if !h.sane(dir) {
		return false
	}
	if (h.responseTo == 0) != (dir == toServer) {
		return false
	}
	body := b[headerLen:]
	switch h.opcode {
	case opMsg:
		flags := binary.LittleEndian.Uint32(body)
		if flags&^msgFlagsKnown != 0 || body[4] != 0 {
			return false
		}
		n := int(int32(binary.LittleEndian.Uint32(body[5:])))
		return n >= 5 && n <= h.length-headerLen-5 && validType(body[9])
	case opCompressed:
		orig := int32(binary.LittleEndian.Uint32(body))
		size := int32(binary.LittleEndian.Uint32(body[4:]))
		return (orig == opMsg || orig == opQuery || orig == opReply) && size > 0 && size <= maxWireBytes && body[8] <= 3
	case opQuery:
		return binary.LittleEndian.Uint32(body)&^0xfe == 0 && body[4] > ' ' && body[4] < 0x7f
	case opReply:
		return binary.LittleEndian.Uint32(body)&^0xf == 0
	}
	return false
}

// validType says whether t is a BSON element type (or 0, the end of an empty document).
func validType(t byte) bool {
	return t <= 0x13 || t == 0x7f || t == 0xff
}

// How a reader frames the bytes of its direction.
const (
	modeFrame uint8 = iota
	modeResync
)

// reader frames one direction into messages. It keeps at most one message (bounded by the
// message limit) and, while resynchronising, fewer than probeLen bytes.
type reader struct {
	mode uint8
	hdr  [headerLen]byte
	nhdr int
	h    header
	// got counts the body bytes of the current message seen so far; skip is set when the
	// message is over the limit and its body is passed over, not kept.
	got  int
	skip bool
	buf  []byte
	// start is the capture time of the message's first byte.
	start time.Time
	// scan holds the last bytes of the stream while resynchronising, when they are too few to
	// rule out a message start; win is scratch for looking across scan and new data.
	scan, win []byte
}

// loseSync switches the reader to resynchronisation.
func (r *reader) loseSync() {
	r.mode = modeResync
	r.nhdr, r.got, r.skip = 0, 0, false
	r.buf = r.buf[:0]
	r.scan = r.scan[:0]
}

// feed runs the bytes of one Data call through the reader of dir.
func (p *parser) feed(dir int, data []byte, ts time.Time) {
	r := &p.rd[dir]
	for len(data) > 0 {
		if r.mode == modeResync {
			data = data[p.resync(dir, data, ts):]
			continue
		}
		data = data[p.frame(dir, data, ts):]
	}
}

// resync looks for a plausible message start in the kept bytes and data. It returns how many
// bytes of data it used up; when it finds a start the reader is framing again and the rest of
// data belongs to that message.
func (p *parser) resync(dir int, data []byte, ts time.Time) int {
	r := &p.rd[dir]
	if len(r.scan) > 0 {
		r.win = append(r.win[:0], r.scan...)
		r.win = append(r.win, data[:min(len(data), probeLen)]...)
		w := r.win
		for i := range len(r.scan) {
			if len(w)-i < probeLen {
				r.scan = append(r.scan[:0], w[i:]...)
				return len(data)
			}
			if plausible(w[i:], dir) {
				pre := w[i:len(r.scan)]
				r.scan = r.scan[:0]
				r.mode = modeFrame
				if n := p.frame(dir, pre, ts); n < len(pre) {
					// Cannot happen: a plausible header frames, and pre is shorter than any body.
					r.loseSync()
				}
				return 0
			}
		}
		r.scan = r.scan[:0]
	}
	for i := range len(data) {
		if len(data)-i < probeLen {
			r.scan = append(r.scan[:0], data[i:]...)
			return len(data)
		}
		if plausible(data[i:], dir) {
			r.mode = modeFrame
			return i
		}
	}
	return len(data)
}

// frame reads messages from data and returns how many bytes it used; it stops early when the
// reader loses sync.
func (p *parser) frame(dir int, data []byte, ts time.Time) int {
	r := &p.rd[dir]
	off := 0
	for off < len(data) && r.mode == modeFrame {
		if r.nhdr < headerLen {
			if r.nhdr == 0 {
				r.start = ts
			}
			n := copy(r.hdr[r.nhdr:], data[off:])
			r.nhdr += n
			off += n
			if r.nhdr < headerLen {
				return off
			}
			r.h = readHeader(r.hdr[:])
			if !r.h.sane(dir) {
				p.desync(dir, ts)
				return off
			}
			r.got = 0
			r.skip = r.h.length-headerLen > p.limit
		}
		size := r.h.length - headerLen
		need := size - r.got
		if r.skip {
			n := min(need, len(data)-off)
			r.got += n
			off += n
			if r.got == size {
				r.nhdr = 0
				p.oversized(dir, r.h, r.start, ts)
			}
			continue
		}
		if r.got == 0 && len(data)-off >= need {
			// The whole body is here: decode it in place.
			body := data[off : off+need]
			off += need
			r.nhdr = 0
			p.message(dir, r.h, body, r.start, ts)
			continue
		}
		n := min(need, len(data)-off)
		r.buf = append(r.buf, data[off:off+n]...)
		r.got += n
		off += n
		if r.got == size {
			r.nhdr = 0
			p.message(dir, r.h, r.buf, r.start, ts)
			r.buf = r.buf[:0]
		}
	}
	return off
}
