package dns

import (
	"encoding/binary"
	"errors"
)

// Wire format limits (RFC 1035).
const (
	headerLen   = 12
	maxWireName = 255
	// maxNameText bounds a name in presentation format: every byte may become \DDD.
	maxNameText = 4 * maxWireName
)

// Errors of the wire parser. They name what was wrong; the parsers count and drop such
// messages and never emit an event for them.
var (
	errShort       = errors.New("dns: message is truncated")
	errPointer     = errors.New("dns: compression pointer does not point backward")
	errLabelType   = errors.New("dns: reserved label type")
	errNameLength  = errors.New("dns: name longer than 255 bytes")
	errTrailing    = errors.New("dns: bytes after the last record")
	errNotQuestion = errors.New("dns: not exactly one question")
	errOpcode      = errors.New("dns: unknown opcode")
	errCounts      = errors.New("dns: record counts do not fit the message")
	errRDATA       = errors.New("dns: record data does not match its type")
)

// header is the fixed 12-byte DNS header.
type header struct {
	id, flags      uint16
	qd, an, ns, ar uint16
}

func (h *header) response() bool { return h.flags&0x8000 != 0 }
func (h *header) opcode() uint8  { return uint8(h.flags>>11) & 0xf }
func (h *header) rcode() uint8   { return uint8(h.flags & 0xf) }

func readHeader(msg []byte) (header, error) {
	if len(msg) < headerLen {
		return header{}, errShort
	}
	return header{
		id:    binary.BigEndian.Uint16(msg),
		flags: binary.BigEndian.Uint16(msg[2:]),
		qd:    binary.BigEndian.Uint16(msg[4:]),
		an:    binary.BigEndian.Uint16(msg[6:]),
		ns:    binary.BigEndian.Uint16(msg[8:]),
		ar:    binary.BigEndian.Uint16(msg[10:]),
	}, nil
}

// nameBuf holds a name in presentation format; it lives in a parser, so decoding a name does
// not allocate.
type nameBuf struct {
	b [maxNameText]byte
	n int
}

func (nb *nameBuf) String() string { return string(nb.b[:nb.n]) }

// bytes is the name, valid until the buffer is written again.
func (nb *nameBuf) bytes() []byte { return nb.b[:nb.n] }

func (nb *nameBuf) appendLabel(label []byte) {
	if nb.n > 0 {
		nb.b[nb.n] = '.'
		nb.n++
	}
	for _, c := range label {
		switch {
		case c == '.' || c == '\\':
			nb.b[nb.n], nb.b[nb.n+1] = '\\', c
			nb.n += 2
		case c > 0x20 && c < 0x7f:
			nb.b[nb.n] = c
			nb.n++
		default:
			nb.b[nb.n] = '\\'
			nb.b[nb.n+1] = '0' + c/100
			nb.b[nb.n+2] = '0' + c/10%10
			nb.b[nb.n+3] = '0' + c%10
			nb.n += 4
		}
	}
}

// readName decodes the name at off into dst (nil only checks it) and returns the offset after
// it. A compression pointer must point before the start of the labels that hold it (and past
// the header), so every jump goes strictly backward and a loop is impossible; the name is at
// most 255 bytes long.
func readName(msg []byte, off int, dst *nameBuf) (int, error) {
	if dst != nil {
		dst.n = 0
	}
	next, bound, wire := -1, off, 1
	for {
		if off >= len(msg) {
			return 0, errShort
		}
		l := int(msg[off])
		switch l & 0xc0 {
		case 0:
			if l == 0 {
				if next < 0 {
					next = off + 1
				}
				return next, nil
			}
			if off+1+l > len(msg) {
				return 0, errShort
			}
			if wire += l + 1; wire > maxWireName {
				return 0, errNameLength
			}
			if dst != nil {
				dst.appendLabel(msg[off+1 : off+1+l])
			}
			off += 1 + l
		case 0xc0:
			if off+2 > len(msg) {
				return 0, errShort
			}
			ptr := int(binary.BigEndian.Uint16(msg[off:]) & 0x3fff)
			if next < 0 {
				next = off + 2
			}
			if ptr >= bound || ptr < headerLen {
				return 0, errPointer
			}
			bound, off = ptr, ptr
		default:
			return 0, errLabelType
		}
	}
}

// question is the one question of a message.
type question struct {
	name        nameBuf
	typ, class  uint16
	end         int // offset after the question
	nameWireEnd int
}

// readQuestion checks the header of a message that should be a standard query or response
// and reads its question.
func readQuestion(msg []byte, h *header, q *question) error {
	if h.qd != 1 {
		return errNotQuestion
	}
	switch h.opcode() {
	case 0, 1, 2, 4, 5, 6: // QUERY, IQUERY, STATUS, NOTIFY, UPDATE, DSO
	default:
		return errOpcode
	}
	// Every record takes at least 11 bytes: a message cannot claim more than fit.
	if int(h.an)+int(h.ns)+int(h.ar) > (len(msg)-headerLen)/11 {
		return errCounts
	}
	end, err := readName(msg, headerLen, &q.name)
	if err != nil {
		return err
	}
	if end+4 > len(msg) {
		return errShort
	}
	q.nameWireEnd = end
	q.typ = binary.BigEndian.Uint16(msg[end:])
	q.class = binary.BigEndian.Uint16(msg[end+2:])
	q.end = end + 4
	return nil
}

// rr is one resource record; rdata is msg[rdOff:rdEnd].
type rr struct {
	typ, class   uint16
	ttl          uint32
	rdOff, rdEnd int
}

// readRR reads the record at off, its owner name into name (nil skips it).
func readRR(msg []byte, off int, name *nameBuf, r *rr) (int, error) {
	off, err := readName(msg, off, name)
	if err != nil {
		return 0, err
	}
	if off+10 > len(msg) {
		return 0, errShort
	}
	r.typ = binary.BigEndian.Uint16(msg[off:])
	r.class = binary.BigEndian.Uint16(msg[off+2:])
	r.ttl = binary.BigEndian.Uint32(msg[off+4:])
	n := int(binary.BigEndian.Uint16(msg[off+8:]))
	r.rdOff, r.rdEnd = off+10, off+10+n
	if r.rdEnd > len(msg) {
		return 0, errShort
	}
	if err := checkRDATA(msg, r); err != nil {
		return 0, err
	}
	return r.rdEnd, nil
}

// checkRDATA checks the record data of the types whose layout is fixed or holds names, so that
// rendering them later cannot fail.
func checkRDATA(msg []byte, r *rr) error {
	n := r.rdEnd - r.rdOff
	nameAt := func(off int) error {
		end, err := readName(msg[:r.rdEnd], off, nil)
		if err != nil {
			return err
		}
		if end != r.rdEnd {
			return errRDATA
		}
		return nil
	}
	switch r.typ {
	case typeA:
		if n != 4 {
			return errRDATA
		}
	case typeAAAA:
		if n != 16 {
			return errRDATA
		}
	case typeNS, typeCNAME, typePTR, typeDNAME:
		return nameAt(r.rdOff)
	case typeMX:
		if n < 3 {
			return errRDATA
		}
		return nameAt(r.rdOff + 2)
	case typeSRV:
		if n < 7 {
			return errRDATA
		}
		return nameAt(r.rdOff + 6)
	case typeSOA:
		end, err := readName(msg[:r.rdEnd], r.rdOff, nil)
		if err != nil {
			return err
		}
		if end, err = readName(msg[:r.rdEnd], end, nil); err != nil {
			return err
		}
		if end+20 != r.rdEnd {
			return errRDATA
		}
	case typeTXT:
		for off := r.rdOff; off < r.rdEnd; off += 1 + int(msg[off]) {
			if off+1+int(msg[off]) > r.rdEnd {
				return errRDATA
			}
		}
		if n == 0 {
			return errRDATA
		}
	}
	return nil
}

// checkMessage reads the whole message: the header, the question and every record, which
// must end exactly at the end of msg. It is the strict test that keeps garbage out.
func checkMessage(msg []byte, h *header, q *question) error {
	if err := readQuestion(msg, h, q); err != nil {
		return err
	}
	off := q.end
	var r rr
	for i := 0; i < int(h.an)+int(h.ns)+int(h.ar); i++ {
		var err error
		if off, err = readRR(msg, off, nil, &r); err != nil {
			return err
		}
	}
	if off != len(msg) {
		return errTrailing
	}
	return nil
}
