package mongodb

import (
	"bytes"
	"encoding/binary"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

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
	t, data := bsoncore.Type(src[0]), src[i+2:]
	n, ok := valueLen(data, t)
	if !ok || n > len(data) {
		return nil, v, src, false
	}
	if n < 4 && (t == bsoncore.TypeEmbeddedDocument || t == bsoncore.TypeArray || t == bsoncore.TypeCodeWithScope) {
		// A length field that counts fewer bytes than itself: ReadElement takes the element,
		// and its Element.Value, which cannot read the value back, is the zero Value.
		return src[1 : i+1], v, data[n:], true
	}
	return src[1 : i+1], bsoncore.Value{Type: t, Data: data[:n]}, data[n:], true
}

// valueLen is the length of the value of type t at the start of src, as bsoncore measures it
// (its valueLength): ok is false for an unknown type, a length field that is cut or negative,
// or a regular expression without its two ends.
func valueLen(src []byte, t bsoncore.Type) (int, bool) {
	prefixed := func(extra int) (int, bool) {
		if len(src) < 4 {
			return 0, false
		}
		n := int32(binary.LittleEndian.Uint32(src))
		return int(n) + extra, n >= 0
	}
	switch t {
	case bsoncore.TypeEmbeddedDocument, bsoncore.TypeArray, bsoncore.TypeCodeWithScope:
		return prefixed(0)
	case bsoncore.TypeBinary:
		return prefixed(4 + 1)
	case bsoncore.TypeDBPointer:
		return prefixed(4 + 12)
	case bsoncore.TypeString, bsoncore.TypeJavaScript, bsoncore.TypeSymbol:
		return prefixed(4)
	case bsoncore.TypeBoolean:
		return 1, true
	case bsoncore.TypeDateTime, bsoncore.TypeDouble, bsoncore.TypeInt64, bsoncore.TypeTimestamp:
		return 8, true
	case bsoncore.TypeDecimal128:
		return 16, true
	case bsoncore.TypeInt32:
		return 4, true
	case bsoncore.TypeMaxKey, bsoncore.TypeMinKey, bsoncore.TypeNull, bsoncore.TypeUndefined:
		return 0, true
	case bsoncore.TypeObjectID:
		return 12, true
	case bsoncore.TypeRegex:
		p := bytes.IndexByte(src, 0)
		if p < 0 {
			return 0, false
		}
		o := bytes.IndexByte(src[p+1:], 0)
		if o < 0 {
			return 0, false
		}
		return p + 1 + o + 1, true
	}
	return 0, false
}

// validDoc says whether doc.Validate would pass: its length, its final NUL, and elements that
// each read whole (readElement, with a value that is not the zero Value) up to it.
func validDoc(doc []byte) bool {
	length, rem, ok := bsoncore.ReadLength(doc)
	if !ok || int(length) > len(doc) || length < 5 || doc[length-1] != 0 {
		return false
	}
	for length -= 4; length > 1; {
		_, v, r, ok := readElement(rem)
		if !ok || v.Type == 0 {
			return false
		}
		length -= int32(len(rem) - len(r))
		rem = r
	}
	return len(rem) >= 1 && rem[0] == 0
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
