package dns

import (
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
