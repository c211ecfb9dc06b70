package mongodb

import (
	"encoding/binary"
	"encoding/hex"
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

// The sets of keys below are switches rather than maps: they are asked for every element
// rendered, and a switch on a few strings costs a fraction of a map lookup.

// secretKey says whether k holds credentials or an authentication exchange wherever it
// appears: createUser and updateUser's pwd, the SASL payload, and the whole speculative
// authentication a hello may carry.
func secretKey(k []byte) bool {
	switch string(k) {
	case "pwd", "payload", "speculativeAuthenticate":
		return true
	}
	return false
}

// authCommands carry authentication exchanges: of their fields only authAllowed are shown.
var authCommands = map[string]bool{
	"saslStart": true, "saslContinue": true, "authenticate": true, "getnonce": true,
	"copydbsaslstart": true, "copydbgetnonce": true, "copydb": true,
}

func authAllowed(k []byte) bool {
	switch string(k) {
	case "mechanism", "conversationId", "$db":
		return true
	}
	return false
}

// sessionKey says whether k changes from one run of the same command to the next without
// changing what it does; the fingerprint leaves such fields out.
func sessionKey(k []byte) bool {
	switch string(k) {
	case "lsid", "$clusterTime", "txnNumber", "$readPreference":
		return true
	}
	return false
}

// kept says whether the top-level field k has a name, not data, for value: it is never
// masked.
func kept(k []byte) bool {
	switch string(k) {
	case "$db", "collection":
		return true
	}
	return false
}

// out receives the rewritten command from rewrite, in document order: bsonOut builds it as
// BSON (what the fingerprint hashes), jsonOut writes it as relaxed Extended JSON (the query).
// Keys are valid only during the call.
type out interface {
	// open starts a document (or an array) under key; the first open is the top level.
	open(key []byte, array bool)
	close()
	// value is the element key: v as sent.
	value(key []byte, v bsoncore.Value)
	// hidden is the element key: "?".
	hidden(key []byte)
}

// rewrite writes to o the command doc, with the document sequences seqs as array fields,
// rewritten for mode, and at the same time to sh the command rewritten for modeShape
// (discard{} for none): the query and the fingerprint come from one walk. auth limits the
// fields to authAllowed.
func rewrite(o, sh out, doc bsoncore.Document, seqs []seq, mode int, auth bool) {
	o.open(nil, false)
	sh.open(nil, false)
	var rem []byte
	if len(doc) >= 5 {
		rem = doc[4 : len(doc)-1]
	}
	first := true
	for len(rem) > 0 {
		key, v, r, ok := readElement(rem)
		if !ok {
			break
		}
		rem = r
		switch {
		case first:
			first = false
			if v.Type == bsoncore.TypeEmbeddedDocument || v.Type == bsoncore.TypeArray {
				rewriteValue(o, sh, key, v, mode, 1)
			} else {
				o.value(key, v)
				sh.value(key, v)
			}
		case auth && !authAllowed(key):
		case sessionKey(key):
			// The shape leaves the session fields out.
			if mode != modeShape {
				rewriteField(o, discard{}, key, v, mode)
			}
		default:
			rewriteField(o, sh, key, v, mode)
		}
	}
	if !auth {
		for _, s := range seqs {
			o.open(s.id, true)
			sh.open(s.id, true)
			i := 0
			for d := s.data; len(d) > 0; i++ {
				sd, r, ok := bsoncore.ReadDocument(d)
				if !ok {
					break
				}
				d = r
				sub := sh
				if i > 0 {
					if mode == modeShape {
						continue
					}
					sub = discard{} // the shape keeps the first document only
				}
				rewriteValue(o, sub, indexKey(i), bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: sd}, mode, 1)
			}
			o.close()
			sh.close()
		}
	}
	o.close()
	sh.close()
}

// rewriteField writes to o and sh the top-level field key: v, other than the first.
func rewriteField(o, sh out, key []byte, v bsoncore.Value, mode int) {
	switch {
	case secretKey(key):
		o.hidden(key)
		sh.hidden(key)
	case kept(key):
		o.value(key, v)
		sh.value(key, v)
	default:
		rewriteValue(o, sh, key, v, mode, 1)
	}
}

// indexDigits are the keys 0 to 999 back to back, which indexKey slices: out's methods
// keep their keys from the stack, so a key made per element would be an allocation.
var indexDigits = func() []byte {
	var b []byte
	for i := range 1000 {
		b = strconv.AppendInt(b, int64(i), 10)
	}
	return b
}()

// indexKey is the key of array element i.
func indexKey(i int) []byte {
	switch {
	case i < 10:
		return indexDigits[i : i+1]
	case i < 100:
		o := 10 + 2*(i-10)
		return indexDigits[o : o+2]
	case i < 1000:
		o := 190 + 3*(i-100)
		return indexDigits[o : o+3]
	}
	return strconv.AppendInt(nil, int64(i), 10)
}

// rewriteValue writes to o the element key: v rewritten for mode, and to sh the same
// element rewritten for modeShape.
func rewriteValue(o, sh out, key []byte, v bsoncore.Value, mode, depth int) {
	isDoc := v.Type == bsoncore.TypeEmbeddedDocument
	if !isDoc && v.Type != bsoncore.TypeArray {
		if mode == modeAsSent {
			o.value(key, v)
		} else {
			o.hidden(key)
		}
		sh.hidden(key)
		return
	}
	if depth >= maxDepth || len(v.Data) < 5 {
		o.hidden(key)
		sh.hidden(key)
		return
	}
	o.open(key, !isDoc)
	sh.open(key, !isDoc)
	rem := v.Data[4 : len(v.Data)-1]
	for i := 0; len(rem) > 0; i++ {
		k, ev, r, ok := readElement(rem)
		if !ok {
			break
		}
		rem = r
		sub := sh
		if !isDoc && i > 0 {
			if mode == modeShape {
				continue
			}
			sub = discard{} // the shape keeps the first element of arrays only
		}
		if isDoc && secretKey(k) {
			o.hidden(k)
			sub.hidden(k)
			continue
		}
		rewriteValue(o, sub, k, ev, mode, depth+1)
	}
	o.close()
	sh.close()
}

// discard is the out of no rendering.
type discard struct{}

func (discard) open([]byte, bool)            {}
func (discard) close()                       {}
func (discard) value([]byte, bsoncore.Value) {}
func (discard) hidden([]byte)                {}

// bsonOut builds the rewritten command as a BSON document in buf.
type bsonOut struct {
	buf []byte
	// starts are where the open documents' lengths go.
	starts []int
}

func (b *bsonOut) reset() {
	b.buf, b.starts = b.buf[:0], b.starts[:0]
}

func (b *bsonOut) header(t bsoncore.Type, key []byte) {
	b.buf = append(b.buf, byte(t))
	b.buf = append(b.buf, key...)
	b.buf = append(b.buf, 0)
}

func (b *bsonOut) open(key []byte, array bool) {
	if len(b.starts) > 0 {
		t := bsoncore.TypeEmbeddedDocument
		if array {
			t = bsoncore.TypeArray
		}
		b.header(t, key)
	}
	b.starts = append(b.starts, len(b.buf))
	b.buf = append(b.buf, 0, 0, 0, 0)
}

func (b *bsonOut) close() {
	start := b.starts[len(b.starts)-1]
	b.starts = b.starts[:len(b.starts)-1]
	b.buf = append(b.buf, 0)
	bsoncore.UpdateLength(b.buf, int32(start), int32(len(b.buf)-start))
}

func (b *bsonOut) value(key []byte, v bsoncore.Value) {
	b.header(v.Type, key)
	b.buf = append(b.buf, v.Data...)
}

func (b *bsonOut) hidden(key []byte) {
	b.header(bsoncore.TypeString, key)
	b.buf = bsoncore.AppendString(b.buf, mask)
}

// extJSON renders doc as relaxed Extended JSON with the driver: the reference jsonOut
// matches, and what renders a command jsonOut passes over.
func extJSON(doc []byte) (string, error) {
	b, err := bson.MarshalExtJSON(bson.Raw(doc), false, false)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// FNV-1a, 64 bits (hash/fnv), without the allocation of a hash.Hash.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// shapeHash is the FNV-1a hash of the command's shape document; query_fingerprint is its
// 16 hex digits.
func shapeHash(shape []byte) uint64 {
	h := uint64(fnvOffset)
	for _, c := range shape {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

// maxMemoText bounds the query texts a connection keeps for reuse.
const maxMemoText = 4096

// shapes are the last command shapes of a connection, each with its fingerprint and its last
// text: a client repeats a few shapes, and masked or repeated commands repeat their text, so
// both strings are reused instead of made per command.
type shapes struct {
	m    [4]shape
	next int
}

type shape struct {
	hash      uint64
	fp, query string
}

// get returns the shape of hash, in place of the oldest when it is not kept.
func (s *shapes) get(hash uint64) *shape {
	for i := range s.m {
		if e := &s.m[i]; e.fp != "" && e.hash == hash {
			return e
		}
	}
	e := &s.m[s.next]
	s.next = (s.next + 1) % len(s.m)
	var sum [8]byte
	binary.BigEndian.PutUint64(sum[:], hash)
	*e = shape{hash: hash, fp: hex.EncodeToString(sum[:])}
	return e
}

// text returns text as a string, the shape's last one when it is the same.
func (e *shape) text(text []byte) string {
	if e.query == string(text) {
		return e.query
	}
	q := string(text)
	if len(q) <= maxMemoText {
		e.query = q
	}
	return q
}
