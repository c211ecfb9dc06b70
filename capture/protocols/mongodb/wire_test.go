package mongodb

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Frame builders for tests: real wire messages, with documents encoded by the driver's bson.

func doc(tb testing.TB, d bson.D) []byte {
	tb.Helper()
	b, err := bson.Marshal(d)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func header16(length int, req, resp, op int32) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint32(b, uint32(length))
	binary.LittleEndian.PutUint32(b[4:], uint32(req))
	binary.LittleEndian.PutUint32(b[8:], uint32(resp))
	binary.LittleEndian.PutUint32(b[12:], uint32(op))
	return b
}

func withHeader(req, resp, op int32, body []byte) string {
	return string(append(header16(16+len(body), req, resp, op), body...))
}

// seqSection is a kind 1 section.
type seqSection struct {
	id   string
	docs [][]byte
}

// msgFrame builds an OP_MSG with body document and sequences; flagChecksum appends a (zero)
// checksum.
func msgFrame(req, resp int32, flags uint32, body []byte, seqs ...seqSection) string {
	b := binary.LittleEndian.AppendUint32(nil, flags)
	b = append(b, 0)
	b = append(b, body...)
	for _, s := range seqs {
		b = append(b, 1)
		n := 4 + len(s.id) + 1
		for _, d := range s.docs {
			n += len(d)
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(n))
		b = append(b, s.id...)
		b = append(b, 0)
		for _, d := range s.docs {
			b = append(b, d...)
		}
	}
	if flags&flagChecksum != 0 {
		b = append(b, 0, 0, 0, 0)
	}
	return withHeader(req, resp, opMsg, b)
}

func opQueryMsg(req int32, ns string, q []byte) string {
	b := binary.LittleEndian.AppendUint32(nil, 0)
	b = append(b, ns...)
	b = append(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(0xffffffff))
	b = append(b, q...)
	return withHeader(req, 0, opQuery, b)
}

func opReplyMsg(req, resp int32, flags uint32, cursor int64, docs ...[]byte) string {
	b := binary.LittleEndian.AppendUint32(nil, flags)
	b = binary.LittleEndian.AppendUint64(b, uint64(cursor))
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(docs)))
	for _, d := range docs {
		b = append(b, d...)
	}
	return withHeader(req, resp, opReply, b)
}

// compress wraps the message msg in an OP_COMPRESSED with compressor id.
func compress(tb testing.TB, msg string, id byte) string {
	tb.Helper()
	h := readHeader([]byte(msg))
	body := []byte(msg[16:])
	var out []byte
	switch id {
	case compNoop:
		out = body
	case compSnappy:
		out = snappy.Encode(nil, body)
	case compZlib:
		var buf bytes.Buffer
		w := zlib.NewWriter(&buf)
		_, _ = w.Write(body)
		_ = w.Close()
		out = buf.Bytes()
	case compZstd:
		enc, err := zstd.NewWriter(nil)
		if err != nil {
			tb.Fatal(err)
		}
		out = enc.EncodeAll(body, nil)
	}
	b := binary.LittleEndian.AppendUint32(nil, uint32(h.opcode))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(body)))
	b = append(b, id)
	b = append(b, out...)
	return withHeader(h.requestID, h.responseTo, opCompressed, b)
}
