package http2

import (
	"encoding/binary"
	"time"
)

// Frame types (RFC 9113 6).
const (
	frameData         = 0x0
	frameHeaders      = 0x1
	framePriority     = 0x2
	frameRSTStream    = 0x3
	frameSettings     = 0x4
	framePushPromise  = 0x5
	framePing         = 0x6
	frameGoAway       = 0x7
	frameWindowUpdate = 0x8
	frameContinuation = 0x9
)

// Frame flags.
const (
	flagEndStream  = 0x1
	flagAck        = 0x1
	flagEndHeaders = 0x4
	flagPadded     = 0x8
	flagPriority   = 0x20
)

const (
	frameHeaderLen = 9
	// maxFrame is the largest frame length RFC 9113 allows (SETTINGS_MAX_FRAME_SIZE at most
	// 2^24-1); syncFrame is what a frame found while resynchronising may have (the default
	// SETTINGS_MAX_FRAME_SIZE), to keep that search strict.
	maxFrame  = 1<<24 - 1
	syncFrame = 1 << 14
	// maxBlock bounds a header block (HEADERS, PUSH_PROMISE and their CONTINUATIONs) and any
	// other frame payload that is buffered; DATA is never buffered.
	maxBlock = 256 << 10
)

// Preface is what a client sends first on an HTTP/2 connection (RFC 9113 3.4).
const Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// How a frame reader is placed in its direction.
const (
	rdPreface uint8 = iota // the client preface is still to come (need bytes)
	rdHeader               // a frame header (9 bytes)
	rdPadLen               // the pad length of a padded DATA frame
	rdData                 // DATA payload, streamed: dataLeft bytes, then padding
	rdPayload              // another frame's payload, buffered
	rdSkip                 // payload that is not read (padding, an oversized frame)
	rdSync                 // framing lost: waiting for a segment that starts a frame
	rdOff                  // not HTTP/2: nothing more is read
)

// frameHeader is the fixed part of a frame.
type frameHeader struct {
	length uint32
	typ    uint8
	flags  uint8
	stream uint32
}

func parseFrameHeader(b []byte) frameHeader {
	return frameHeader{
		length: uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]),
		typ:    b[3],
		flags:  b[4],
		stream: binary.BigEndian.Uint32(b[5:9]) & 0x7fffffff,
	}
}

// plausible says whether h could be a frame of a real connection: a known type with only
// its defined flags, on stream 0 exactly when the type is connection-level, with the fixed
// lengths of the fixed-size frames, and no longer than limit.
func (h frameHeader) plausible(limit uint32) bool {
	if h.length > limit {
		return false
	}
	var flags uint8
	conn := false
	switch h.typ {
	case frameData:
		flags = flagEndStream | flagPadded
	case frameHeaders:
		flags = flagEndStream | flagEndHeaders | flagPadded | flagPriority
	case framePriority:
		if h.length != 5 {
			return false
		}
	case frameRSTStream:
		if h.length != 4 {
			return false
		}
	case frameSettings:
		flags, conn = flagAck, true
		if h.length%6 != 0 || h.flags&flagAck != 0 && h.length != 0 {
			return false
		}
	case framePushPromise:
		flags = flagEndHeaders | flagPadded
	case framePing:
		flags, conn = flagAck, true
		if h.length != 8 {
			return false
		}
	case frameGoAway:
		conn = true
		if h.length < 8 {
			return false
		}
	case frameWindowUpdate:
		if h.length != 4 {
			return false
		}
		return true // on a stream or on the connection
	case frameContinuation:
		flags = flagEndHeaders
	default:
		return false
	}
	return h.flags&^flags == 0 && (h.stream == 0) == conn
}

// Frames says whether b, the bytes of one segment, are a run of plausible HTTP/2 frames that
// starts at its first byte: every frame header in b is plausible, and b ends with the last
// frame or inside it. At least one whole frame header is needed.
func Frames(b []byte) bool {
	if len(b) < frameHeaderLen {
		return false
	}
	for len(b) >= frameHeaderLen {
		h := parseFrameHeader(b)
		if !h.plausible(syncFrame) {
			return false
		}
		n := frameHeaderLen + int(h.length)
		if n >= len(b) {
			return true
		}
		b = b[n:]
	}
	return true // the last bytes are the start of a header
}

// reader frames the bytes of one direction.
type reader struct {
	state uint8
	need  int // preface bytes still to come
	hdr   [frameHeaderLen]byte
	nh    int
	fh    frameHeader
	// left is the payload still to come of the current frame; dataLeft the DATA bytes of it
	// before its padding.
	left, dataLeft uint32
	buf            []byte
	ts             time.Time // when the current frame's header arrived
}
