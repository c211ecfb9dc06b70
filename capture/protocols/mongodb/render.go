package mongodb

import (
	"encoding/hex"
	"hash/fnv"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// How a command document is rewritten before it is rendered.
const (
	// modeAsSent keeps every value but the secrets.
	modeAsSent = iota
	// modeMask replaces every literal value with "?" (Options.MaskLiterals).
	modeMask
	// modeShape masks like modeMask, keeps only the first element of arrays and leaves out
	// the session fields: what query_fingerprint hashes.
	modeShape
)

// maxDepth bounds the nesting rendered; deeper documents are shown as "?".
const maxDepth = 64

// mask is what a hidden value becomes.
const mask = "?"

// secretKeys hold credentials or authentication exchanges wherever they appear: createUser
// and updateUser's pwd, the SASL payload, and the whole speculative authentication a hello
// may carry.
var secretKeys = map[string]bool{"pwd": true, "payload": true, "speculativeAuthenticate": true}

// authCommands carry authentication exchanges: of their fields only authAllowed are shown.
var authCommands = map[string]bool{
	"saslStart": true, "saslContinue": true, "authenticate": true, "getnonce": true,
	"copydbsaslstart": true, "copydbgetnonce": true, "copydb": true,
}

var authAllowed = map[string]bool{"mechanism": true, "conversationId": true, "$db": true}

// sessionKeys change from one run of the same command to the next without changing what it
// does; the fingerprint leaves them out.
var sessionKeys = map[string]bool{"lsid": true, "$clusterTime": true, "txnNumber": true, "$readPreference": true}

// kept are the top-level fields whose values are names, not data: they are never masked.
var kept = map[string]bool{"$db": true, "collection": true}

// rewrite appends to dst the command doc, with the document sequences seqs as array fields,
// rewritten for mode, and returns dst. auth limits the fields to authAllowed.
func rewrite(dst []byte, doc bsoncore.Document, seqs []seq, mode int, auth bool) []byte {
	idx, dst := bsoncore.AppendDocumentStart(dst)
	var rem []byte
	if len(doc) >= 5 {
		rem = doc[4 : len(doc)-1]
	}
	first := true
	for len(rem) > 0 {
		el, r, ok := bsoncore.ReadElement(rem)
		if !ok {
			break
		}
		rem = r
		key := el.Key()
		v := el.Value()
		switch {
		case first:
			first = false
			if v.Type == bsoncore.TypeEmbeddedDocument || v.Type == bsoncore.TypeArray {
				dst = appendValue(dst, key, v, mode, 1)
			} else {
				dst = bsoncore.AppendValueElement(dst, key, v)
			}
		case auth && !authAllowed[key]:
		case mode == modeShape && sessionKeys[key]:
		case secretKeys[key]:
			dst = bsoncore.AppendStringElement(dst, key, mask)
		case kept[key]:
			dst = bsoncore.AppendValueElement(dst, key, v)
		default:
			dst = appendValue(dst, key, v, mode, 1)
		}
	}
	if !auth {
		for _, s := range seqs {
			var aidx int32
			aidx, dst = bsoncore.AppendArrayElementStart(dst, s.id)
			i := 0
			for d := s.data; len(d) > 0; i++ {
				sd, r, ok := bsoncore.ReadDocument(d)
				if !ok {
					break
				}
				d = r
				if mode == modeShape && i > 0 {
					continue
				}
				dst = appendValue(dst, strconv.Itoa(i), bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: sd}, mode, 1)
			}
			dst, _ = bsoncore.AppendArrayEnd(dst, aidx)
		}
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// appendValue appends the element key: v rewritten for mode.
func appendValue(dst []byte, key string, v bsoncore.Value, mode, depth int) []byte {
	isDoc := v.Type == bsoncore.TypeEmbeddedDocument
	if !isDoc && v.Type != bsoncore.TypeArray {
		if mode == modeAsSent {
			return bsoncore.AppendValueElement(dst, key, v)
		}
		return bsoncore.AppendStringElement(dst, key, mask)
	}
	if depth >= maxDepth || len(v.Data) < 5 {
		return bsoncore.AppendStringElement(dst, key, mask)
	}
	var idx int32
	if isDoc {
		idx, dst = bsoncore.AppendDocumentElementStart(dst, key)
	} else {
		idx, dst = bsoncore.AppendArrayElementStart(dst, key)
	}
	rem := v.Data[4 : len(v.Data)-1]
	for i := 0; len(rem) > 0; i++ {
		el, r, ok := bsoncore.ReadElement(rem)
		if !ok {
			break
		}
		rem = r
		if !isDoc && mode == modeShape && i > 0 {
			continue
		}
		k := el.Key()
		if isDoc && secretKeys[k] {
			dst = bsoncore.AppendStringElement(dst, k, mask)
			continue
		}
		dst = appendValue(dst, k, el.Value(), mode, depth+1)
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// extJSON renders doc as relaxed Extended JSON.
func extJSON(doc []byte) (string, error) {
	b, err := bson.MarshalExtJSON(bson.Raw(doc), false, false)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// fingerprint is the 16-hex-digit FNV-1a hash of the command's shape document.
func fingerprint(shape []byte) string {
	h := fnv.New64a()
	_, _ = h.Write(shape)
	var sum [8]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}
