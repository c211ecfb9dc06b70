package mongodb

import (
	"encoding/binary"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// maxName bounds the names a connection keeps for reuse; a longer one is copied each time.
const maxName = 128

// names are the last command names, databases and collections a connection used, kept so
// that the same name is one string for all its commands: a client sends the same few again and
// again, and each would otherwise be a copy per command.
type names struct {
	s    [8]string
	next int
}

// get returns b as a string, the kept one when b is among them.
func (n *names) get(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	for _, s := range n.s {
		if s == string(b) {
			return s
		}
	}
	s := string(b)
	if len(b) <= maxName {
		n.s[n.next] = s
		n.next = (n.next + 1) % len(n.s)
	}
	return s
}

// stringValue is the text of the string v (nil for another type), read as
// bsoncore.Value.StringValueOK reads it but without the copy.
func stringValue(v bsoncore.Value) []byte {
	d := v.Data
	if v.Type != bsoncore.TypeString || len(d) < 4 {
		return nil
	}
	n := int32(binary.LittleEndian.Uint32(d))
	if n <= 0 || len(d)-4 < int(n) {
		return nil
	}
	return d[4 : 4+n-1]
}
