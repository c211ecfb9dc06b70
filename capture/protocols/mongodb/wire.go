package mongodb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"
)

// Errors of message decoding; a message that fails to decode loses the direction's sync.
var (
	errShort      = errors.New("message body shorter than its fields")
	errSection    = errors.New("bad OP_MSG section")
	errNoBody     = errors.New("OP_MSG without a kind 0 section")
	errDocument   = errors.New("malformed BSON document")
	errCompressor = errors.New("unknown compressor")
	errTooLarge   = errors.New("uncompressed size over the message limit")
	errInflate    = errors.New("decompressed size differs from the header's")
)

// Compressor ids of OP_COMPRESSED.
const (
	compNoop   = 0
	compSnappy = 1
	compZlib   = 2
	compZstd   = 3
)

// seq is an OP_MSG kind 1 section: a document sequence that stands for an array field of the
// command (insert's documents, update's updates, ...).
type seq struct {
	id   []byte
	data []byte // the documents, back to back
}

// msg is one decoded message. Its slices point into the message bytes (or the parser's
// decompression buffer) and are valid only while the message is handled.
type msg struct {
	h       header
	opcode  int32 // after decompression
	flags   uint32
	doc     bsoncore.Document // the command or reply document
	seqs    []seq
	ns      []byte // OP_QUERY's full collection name
	numRet  int32  // OP_REPLY's numberReturned
	cursor  int64  // OP_REPLY's cursorID
	wire    int    // bytes on the wire, header included
	comp    bool   // it came in an OP_COMPRESSED
	decoded bool   // opcode is one the parser reads (OP_MSG, OP_QUERY, OP_REPLY)
}

// decode reads body, the bytes after header h, into m. seqs is reused.
func (p *parser) decode(h header, body []byte, m *msg) error {
	m.h, m.opcode, m.wire, m.seqs = h, h.opcode, h.length, m.seqs[:0]
	if h.opcode == opCompressed {
		var err error
		if m.opcode, body, err = p.decompress(body); err != nil {
			return err
		}
		m.comp = true
	}
	switch m.opcode {
	case opMsg:
		return decodeMsg(body, m)
	case opQuery:
		return decodeQuery(body, m)
	case opReply:
		return decodeReply(body, m)
	}
	return nil
}

func decodeMsg(body []byte, m *msg) error {
	flags, rem, ok := wiremessage.ReadMsgFlags(body)
	if !ok {
		return errShort
	}
	m.flags = uint32(flags)
	if m.flags&^msgFlagsKnown != 0 {
		return fmt.Errorf("%w: unknown flag bits %#x", errSection, m.flags)
	}
	if m.flags&flagChecksum != 0 {
		if len(rem) < 4 {
			return errShort
		}
		rem = rem[:len(rem)-4] // the CRC-32C is not checked: TCP already was
	}
	for len(rem) > 0 {
		kind := rem[0]
		rem = rem[1:]
		switch kind {
		case 0:
			if m.doc != nil {
				return fmt.Errorf("%w: two kind 0 sections", errSection)
			}
			doc, r, ok := bsoncore.ReadDocument(rem)
			if !ok || !validDoc(doc) {
				return errDocument
			}
			m.doc, rem = doc, r
		case 1:
			id, data, r, ok := readSeq(rem)
			if !ok {
				return errSection
			}
			for d := data; len(d) > 0; {
				doc, r, ok := bsoncore.ReadDocument(d)
				if !ok || !validDoc(doc) {
					return errDocument
				}
				d = r
			}
			if len(m.seqs) == maxSeqs {
				return fmt.Errorf("%w: more than %d document sequences", errSection, maxSeqs)
			}
			m.seqs = append(m.seqs, seq{id: id, data: data})
			rem = r
		default:
			return fmt.Errorf("%w: kind %d", errSection, kind)
		}
	}
	if m.doc == nil {
		return errNoBody
	}
	m.decoded = true
	return nil
}

// readSeq reads a kind 1 section after its kind byte: its identifier (the field name) and
// documents point into src, where wiremessage.ReadMsgSectionRawDocumentSequence copies the
// identifier into a string for every message.
func readSeq(src []byte) (id, data, rem []byte, ok bool) {
	if len(src) < 4 {
		return nil, nil, src, false
	}
	n := int(int32(binary.LittleEndian.Uint32(src)))
	if n > len(src) || n < 4 {
		return nil, nil, src, false
	}
	body, rem := src[4:n], src[n:]
	i := bytes.IndexByte(body, 0)
	if i < 0 {
		return nil, nil, src, false
	}
	return body[:i], body[i+1:], rem, true
}

// maxSeqs bounds the kind 1 sections of one message (commands use one).
const maxSeqs = 8

func decodeQuery(body []byte, m *msg) error {
	//nolint:staticcheck // OP_QUERY is deprecated for sending, but old clients still send it and the sidecar must read it.
	_, rem, ok := wiremessage.ReadQueryFlags(body)
	if !ok {
		return errShort
	}
	i := bytes.IndexByte(rem, 0)
	if i < 0 {
		return errShort
	}
	m.ns = rem[:i]
	rem = rem[i+1:]
	if len(rem) < 8 {
		return errShort
	}
	doc, _, ok := bsoncore.ReadDocument(rem[8:])
	if !ok || !validDoc(doc) {
		return errDocument
	}
	// A query with modifiers wraps the command: {$query: {...}, $readPreference: ...}.
	if v, ok := lookup(doc, "$query"); ok {
		if d, ok := v.DocumentOK(); ok {
			doc = d
		}
	}
	m.doc = doc
	m.decoded = true
	return nil
}

func decodeReply(body []byte, m *msg) error {
	if len(body) < 20 {
		return errShort
	}
	m.flags = binary.LittleEndian.Uint32(body)
	m.cursor = int64(binary.LittleEndian.Uint64(body[4:]))
	m.numRet = int32(binary.LittleEndian.Uint32(body[16:]))
	rem := body[20:]
	if len(rem) > 0 {
		doc, _, ok := bsoncore.ReadDocument(rem)
		if !ok || !validDoc(doc) {
			return errDocument
		}
		m.doc = doc
	}
	m.decoded = true
	return nil
}

// decompress inflates an OP_COMPRESSED body into the parser's buffer and returns the original
// opcode and body. The declared size is checked against the message limit before anything is
// inflated, and the inflated size against the declared one.
func (p *parser) decompress(body []byte) (int32, []byte, error) {
	if len(body) < 9 {
		return 0, nil, errShort
	}
	orig := int32(binary.LittleEndian.Uint32(body))
	size := int(int32(binary.LittleEndian.Uint32(body[4:])))
	id := body[8]
	src := body[9:]
	if size < 0 || size > p.limit {
		return 0, nil, errTooLarge
	}
	if cap(p.inflate) < size+1 {
		p.inflate = make([]byte, 0, size+1)
	}
	dst := p.inflate[:0]
	var err error
	switch id {
	case compNoop:
		dst = append(dst, src...)
	case compSnappy:
		var n int
		if n, err = snappy.DecodedLen(src); err == nil {
			if n != size {
				return 0, nil, errInflate
			}
			dst, err = snappy.Decode(dst[:size], src)
		}
	case compZlib:
		dst, err = p.inflateZlib(dst, src, size)
	case compZstd:
		var d *zstd.Decoder
		if d, err = zstdDecoder(); err == nil {
			dst, err = d.DecodeAll(src, dst)
		}
	default:
		return 0, nil, fmt.Errorf("%w %d", errCompressor, id)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("decompress: %w", err)
	}
	if len(dst) != size {
		return 0, nil, errInflate
	}
	if cap(dst) <= p.limit {
		p.inflate = dst[:0]
	}
	return orig, dst, nil
}

// inflateZlib reads at most size+1 bytes of the zlib stream src into dst.
func (p *parser) inflateZlib(dst, src []byte, size int) ([]byte, error) {
	p.zsrc.Reset(src)
	if p.zlib == nil {
		zr, err := zlib.NewReader(&p.zsrc)
		if err != nil {
			return nil, err
		}
		p.zlib = zr
	} else if err := p.zlib.(zlib.Resetter).Reset(&p.zsrc, nil); err != nil {
		return nil, err
	}
	dst = dst[:size]
	n, err := io.ReadFull(p.zlib, dst[:size])
	if err != nil {
		return nil, err
	}
	var one [1]byte
	if m, _ := p.zlib.Read(one[:]); m > 0 {
		return nil, errInflate
	}
	return dst[:n], nil
}

var (
	zstdOnce sync.Once
	zstdDec  *zstd.Decoder
	zstdErr  error
)

// zstdDecoder is one decoder for every connection: DecodeAll is safe for concurrent use, and
// a decoder's tables are too large to keep per connection. Its memory is bounded by the
// largest message a server accepts.
func zstdDecoder() (*zstd.Decoder, error) {
	zstdOnce.Do(func() {
		zstdDec, zstdErr = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxWireBytes))
	})
	return zstdDec, zstdErr
}

// splitNS splits a full collection name "db.coll" at its first dot.
func splitNS(ns []byte) (db, coll []byte) {
	db, coll, _ = bytes.Cut(ns, []byte("."))
	return db, coll
}
