package mongodb

import (
	"github.com/audit-io/wire-audit/capture/protocols"
)

// Detect says whether first, the first bytes of direction dir of a connection, start a
// MongoDB conversation: a whole plausible message header and the start of its body (see
// plausible), which for a client is a request (responseTo 0) and for a server a reply.
func Detect(first []byte, dir protocols.Dir) bool {
	if len(first) < probeLen {
		return false
	}
	d := int(dir)
	if !plausible(first, d) {
		return false
	}
	h := readHeader(first)
	if d == toServer {
		return h.responseTo == 0 && (h.opcode == opMsg || h.opcode == opQuery || h.opcode == opCompressed)
	}
	return h.responseTo != 0 && (h.opcode == opMsg || h.opcode == opReply || h.opcode == opCompressed)
}
