package mongodb

import (
	"bytes"
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

// readElement reads the first element of src as bsoncore.ReadElement does, and returns its
// key and value: ReadElement's Element gives them by scanning for the key's end twice more
// and measuring the value again, which a command's every element paid three times over.
func readElement(src []byte) (key []byte, v bsoncore.Value, rest []byte, ok bool) {
	if len(src) < 1 {
		return nil, v, src, false
	}
	i := bytes.IndexByte(src[1:], 0)
	if i < 0 {
		return nil, v, src, false
	}
	v, rest, ok = bsoncore.ReadValue(src[i+2:], bsoncore.Type(src[0]))
	if !ok {
		return nil, v, src, false
	}
	if _, _, whole := bsoncore.ReadValue(v.Data, v.Type); !whole {
		// A length field that counts fewer bytes than itself: ReadElement takes the element,
		// and its Element.Value, which cannot read the value back, is the zero Value.
		v = bsoncore.Value{}
	}
	return src[1 : i+1], v, rest, true
}

// lookup is the value of the first top-level field key of doc, found as doc.LookupErr finds
// it (the same walk, over the length doc declares), with readElement.
func lookup(doc bsoncore.Document, key string) (bsoncore.Value, bool) {
	length, rem, ok := bsoncore.ReadLength(doc)
	if !ok {
		return bsoncore.Value{}, false
	}
	for length -= 4; length > 1; {
		k, v, r, ok := readElement(rem)
		if !ok {
			return bsoncore.Value{}, false
		}
		if string(k) == key {
			return v, v.Type != 0 // LookupErr fails on the zero Value's element
		}
		length -= int32(len(rem) - len(r))
		rem = r
	}
	return bsoncore.Value{}, false
}
