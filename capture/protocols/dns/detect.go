package dns

import (
	"encoding/binary"

	"github.com/audit-io/wire-audit/capture/protocols"
)

// Detect says whether first, the first bytes of direction dir of a TCP connection, are DNS:
// a length prefix and a message that reads whole (header, one question, every record, nothing
// after), a query toward the server and a response toward the client. A message cut by the
// end of first is not enough: DNS messages are small and sent in one write.
func Detect(first []byte, dir protocols.Dir) bool {
	if !frameStart(first) {
		return false
	}
	h, _ := readHeader(first[2:])
	return h.response() == (dir == protocols.ToClient)
}

// IsMessage says whether payload, a whole UDP datagram, is a well-formed DNS message: the
// test that recognises DNS on UDP ports not configured for it.
func IsMessage(payload []byte) bool {
	h, err := readHeader(payload)
	if err != nil {
		return false
	}
	var q question
	return checkMessage(payload, &h, &q) == nil && int(binary.BigEndian.Uint16(payload[4:])) == 1
}
