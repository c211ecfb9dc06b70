package mongodb

import (
	"encoding/binary"
	"math"
	"strconv"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
)

// The tests here hold jsonOut to the driver: for every command, mode and authentication
// setting, its text must be the driver's rendering of the document bsonOut builds, byte for
// byte, unless it passed the command to the driver; and the shape written in the same walk
// must be the shape written alone.

// sameAsDriver checks the text of doc and seqs in every rendering mode against the driver's
// and says whether jsonOut wrote all of them itself.
func sameAsDriver(t *testing.T, doc bsoncore.Document, seqs []seq) bool {
	t.Helper()
	native := true
	for _, auth := range []bool{false, true} {
		var shape bsonOut
		rewrite(&shape, discard{}, doc, seqs, modeShape, auth)
		for _, mode := range []int{modeAsSent, modeMask} {
			var b bsonOut
			rewrite(&b, discard{}, doc, seqs, mode, auth)
			want, err := extJSON(b.buf)
			var j jsonOut
			var sh bsonOut
			rewrite(&j, &sh, doc, seqs, mode, auth)
			if string(sh.buf) != string(shape.buf) {
				t.Fatalf("mode %d auth %v: the shape written beside the text differs from the shape alone:\n%x\n%x", mode, auth, sh.buf, shape.buf)
			}
			if j.passed {
				native = false
				continue
			}
			if err != nil {
				t.Fatalf("mode %d auth %v: the driver fails (%v) where jsonOut wrote %s", mode, auth, err, j.buf)
			}
			if got := string(j.buf); got != want {
				t.Fatalf("mode %d auth %v:\n got: %s\nwant: %s\ndoc %x", mode, auth, got, want, []byte(doc))
			}
		}
	}
	return native
}

// TestExtJSONTypes: every BSON type, and the edges of the driver's number, date and string
// formats, as the driver writes them; the types jsonOut leaves to the driver are listed.
func TestExtJSONTypes(t *testing.T) {
	oid, _ := bson.ObjectIDFromHex("5f1d7e3a9b1c2d3e4f506172")
	dec, _ := bson.ParseDecimal128("1.5E+3")
	passed := map[string]bool{"decimal128": true, "regex": true, "dbpointer": true, "javascript": true,
		"symbol": true, "codewithscope": true, "binary old": true}
	cases := []struct {
		name string
		v    any
	}{
		{"double", bson.A{1.0, 1.5, math.Copysign(0, -1), 0.0, 1e21, 1e20, 1e-7, 1e-6, 123456789012345678.0, 0.1, -2.5e-300,
			math.MaxFloat64, math.SmallestNonzeroFloat64, 1 << 53, float64(math.MaxInt64)}},
		{"double non-finite", bson.A{math.NaN(), math.Inf(1), math.Inf(-1)}},
		{"string", bson.A{"", "plain", "q\"b\\s/", "\n\r\t\b\f\x00\x01\x1f\x7f", "<>&'", "é€😀", "\u2028\u2029", "\xff\xfeok\xc3", "\xed\xa0\x80"}},
		{"document", bson.D{{Key: "a", Value: bson.D{}}, {Key: "k\"\n\xff", Value: bson.D{{Key: "", Value: 1}}}}},
		{"array", bson.A{bson.A{}, bson.A{bson.A{1}}, bson.D{}}},
		{"binary", bson.A{bson.Binary{}, bson.Binary{Subtype: 0, Data: []byte("hello")}, bson.Binary{Subtype: 1, Data: []byte{0xff}},
			bson.Binary{Subtype: 3, Data: make([]byte, 16)}, bson.Binary{Subtype: 4, Data: make([]byte, 16)},
			bson.Binary{Subtype: 5, Data: []byte{1, 2, 3}}, bson.Binary{Subtype: 6, Data: []byte{9}},
			bson.Binary{Subtype: 7, Data: []byte{1}}, bson.Binary{Subtype: 8, Data: []byte{1}},
			bson.Binary{Subtype: 9, Data: []byte{1}}, bson.Binary{Subtype: 0x80, Data: []byte{1}}, bson.Binary{Subtype: 0xff}}},
		{"binary old", bson.Binary{Subtype: 2, Data: []byte("old")}},
		{"undefined", bson.Undefined{}},
		{"objectid", oid},
		{"boolean", bson.A{true, false}},
		{"datetime", bson.A{bson.DateTime(0), bson.DateTime(1700000000123), bson.DateTime(1700000000100), bson.DateTime(1700000000000),
			bson.DateTime(-1), bson.DateTime(-62135596800000), bson.DateTime(253402300799999), bson.DateTime(253402300800000),
			bson.DateTime(math.MaxInt64), bson.DateTime(math.MinInt64)}},
		{"null", nil},
		{"regex", bson.Regex{Pattern: "^a\"", Options: "mi"}},
		{"dbpointer", bson.DBPointer{DB: "d.c", Pointer: oid}},
		{"javascript", bson.JavaScript("function(){}")},
		{"symbol", bson.Symbol("sym")},
		{"codewithscope", bson.CodeWithScope{Code: "x", Scope: bson.D{{Key: "x", Value: 1}}}},
		{"int32", bson.A{int32(0), int32(-1), int32(math.MaxInt32), int32(math.MinInt32)}},
		{"timestamp", bson.A{bson.Timestamp{T: 1700000000, I: 7}, bson.Timestamp{T: math.MaxUint32, I: math.MaxUint32}}},
		{"int64", bson.A{int64(0), int64(math.MaxInt64), int64(math.MinInt64)}},
		{"decimal128", dec},
		{"minkey", bson.MinKey{}},
		{"maxkey", bson.MaxKey{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := doc(t, bson.D{{Key: "find", Value: "c"}, {Key: "filter", Value: bson.D{{Key: "v", Value: tc.v}}}, {Key: "first", Value: tc.v}})
			if native := sameAsDriver(t, d, nil); native == passed[tc.name] {
				t.Fatalf("written by jsonOut: %v, want %v", native, !passed[tc.name])
			}
			// As the first element, or under a kept name, its value is shown as sent in every
			// mode (a document there is left to the driver).
			d = doc(t, bson.D{{Key: "v", Value: tc.v}, {Key: "$db", Value: "x"}})
			sameAsDriver(t, d, nil)
			d = doc(t, bson.D{{Key: "find", Value: "c"}, {Key: "$db", Value: tc.v}, {Key: "collection", Value: tc.v}})
			sameAsDriver(t, d, nil)
		})
	}
}

// TestExtJSONMalformed: values that pass Document.Validate (which checks lengths only) but
// that the driver refuses are left to it, so that the text stays what it gave.
func TestExtJSONMalformed(t *testing.T) {
	elem := func(tp bsoncore.Type, data ...byte) []byte {
		inner := bsoncore.BuildDocument(nil, append([]byte{byte(tp), 'v', 0}, data...))
		return bsoncore.BuildDocument(nil, bsoncore.AppendDocumentElement(bsoncore.AppendStringElement(nil, "find", "c"), "filter", inner))
	}
	for name, d := range map[string][]byte{
		"boolean 2":           elem(bsoncore.TypeBoolean, 2),
		"string without NUL":  elem(bsoncore.TypeString, 2, 0, 0, 0, 'a', 'b'),
		"old binary too long": elem(bsoncore.TypeBinary, 8, 0, 0, 0, 2, 100, 0, 0, 0, 1, 2, 3, 4),
		"empty string":        elem(bsoncore.TypeString, 0, 0, 0, 0),
	} {
		t.Run(name, func(t *testing.T) {
			if err := bsoncore.Document(d).Validate(); err != nil {
				t.Skipf("not valid: %v", err)
			}
			if sameAsDriver(t, d, nil) {
				t.Fatal("written by jsonOut, want left to the driver")
			}
		})
	}
}

// TestExtJSONPcap: every command of the captured pymongo connections renders as the driver
// renders it.
func TestExtJSONPcap(t *testing.T) {
	p := New(&testConn, &protocols.Options{}, protocols.SinkFunc(func(*event.Event) {})).(*parser)
	streams := map[string][]byte{}
	for _, s := range readSegs(t, "pymongo.pcap") {
		if s.Dir == protocols.ToServer {
			streams[s.Client.String()] = append(streams[s.Client.String()], s.Payload...)
		}
	}
	n := 0
	for _, b := range streams {
		for len(b) >= headerLen {
			h := readHeader(b)
			if h.length < headerLen || h.length > len(b) {
				t.Fatalf("stream does not frame at %x", b[:headerLen])
			}
			var m msg
			if err := p.decode(h, b[headerLen:h.length], &m); err != nil {
				t.Fatal(err)
			}
			b = b[h.length:]
			if m.decoded {
				sameAsDriver(t, m.doc, m.seqs)
				n++
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d commands", n)
	}
}

// FuzzExtJSON compares jsonOut with the driver on arbitrary valid documents: raw bytes that
// Document.Validate accepts, or (build set) a document buildDoc makes from the bytes, which
// reaches every type and nesting far more often.
func FuzzExtJSON(f *testing.F) {
	for _, d := range fuzzDocs(f) {
		f.Add(d, false)
	}
	f.Add([]byte("\x01\x00abc\x02\x03k\x01\x0512345\x1e\x01ab\x08\x01z\x01"), true)
	f.Add([]byte{0x09, 1, 'd', 0x80, 0x1c, 0x4e, 0x70, 0x8b, 0x01, 0, 0, 0x04, 0, 0x01, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0x1f}, true)
	f.Fuzz(func(t *testing.T, raw []byte, build bool) {
		checkReaders(t, raw)
		if build {
			raw = buildDoc(raw)
		}
		doc := bsoncore.Document(raw)
		if doc.Validate() != nil || len(doc) < 5 {
			return
		}
		sameAsDriver(t, doc, []seq{{id: []byte("documents"), data: raw}})
	})
}

// buildTypes are what buildDoc's opcodes make, in order; 0 closes the innermost document.
var buildTypes = []bsoncore.Type{0, bsoncore.TypeDouble, bsoncore.TypeString, bsoncore.TypeEmbeddedDocument,
	bsoncore.TypeArray, bsoncore.TypeBinary, bsoncore.TypeUndefined, bsoncore.TypeObjectID, bsoncore.TypeBoolean,
	bsoncore.TypeDateTime, bsoncore.TypeNull, bsoncore.TypeRegex, bsoncore.TypeDBPointer, bsoncore.TypeJavaScript,
	bsoncore.TypeSymbol, bsoncore.TypeCodeWithScope, bsoncore.TypeInt32, bsoncore.TypeTimestamp, bsoncore.TypeInt64,
	bsoncore.TypeDecimal128, bsoncore.TypeMinKey, bsoncore.TypeMaxKey}

// buildDoc makes a well-formed BSON document from b, read as a program: an opcode byte
// (a type of buildTypes, or close), a key of up to 7 bytes, then the value's bytes.
func buildDoc(b []byte) []byte {
	take := func(n int) []byte {
		out := make([]byte, n)
		copy(out, b)
		b = b[min(n, len(b)):]
		return out
	}
	noNUL := func(s []byte) []byte {
		for i, c := range s {
			if c == 0 {
				s[i] = '0'
			}
		}
		return s
	}
	dst := []byte{0, 0, 0, 0}
	starts := []int{0}
	for len(b) > 0 && len(dst) < 1<<14 {
		op := b[0]
		b = b[1:]
		tp := buildTypes[int(op&0x1f)%len(buildTypes)]
		if tp == 0 {
			if len(starts) > 1 {
				dst = closeDoc(dst, &starts)
			}
			continue
		}
		dst = append(dst, byte(tp))
		dst = append(dst, noNUL(take(int(op>>5)))...)
		dst = append(dst, 0)
		switch tp {
		case bsoncore.TypeEmbeddedDocument, bsoncore.TypeArray:
			if len(starts) < 80 {
				starts = append(starts, len(dst))
				dst = append(dst, 0, 0, 0, 0)
				continue
			}
			dst = bsoncore.AppendDocument(dst, bsoncore.BuildDocument(nil, nil))
		case bsoncore.TypeDouble, bsoncore.TypeInt64, bsoncore.TypeTimestamp:
			dst = append(dst, take(8)...)
		case bsoncore.TypeDateTime:
			v := int64(binary.LittleEndian.Uint64(take(8)))
			if v&1 == 0 { // mostly inside the years the relaxed form writes as a string
				v = v >> 1 % 253402300800000
			}
			dst = bsoncore.AppendDateTime(dst, v)
		case bsoncore.TypeString, bsoncore.TypeJavaScript, bsoncore.TypeSymbol:
			dst = bsoncore.AppendString(dst, string(take(int(take(1)[0]%24))))
		case bsoncore.TypeBinary:
			h := take(2)
			dst = bsoncore.AppendBinary(dst, h[0]%10|h[0]&0x80, take(int(h[1]%20)))
		case bsoncore.TypeObjectID:
			dst = append(dst, take(12)...)
		case bsoncore.TypeBoolean:
			dst = append(dst, take(1)[0]%3)
		case bsoncore.TypeRegex:
			dst = bsoncore.AppendRegex(dst, string(noNUL(take(3))), string(noNUL(take(2))))
		case bsoncore.TypeDBPointer:
			dst = bsoncore.AppendDBPointer(dst, string(take(3)), bson.ObjectID(take(12)))
		case bsoncore.TypeCodeWithScope:
			dst = bsoncore.AppendCodeWithScope(dst, string(take(2)), bsoncore.BuildDocument(nil, bsoncore.AppendInt32Element(nil, "x", 1)))
		case bsoncore.TypeInt32:
			dst = append(dst, take(4)...)
		case bsoncore.TypeDecimal128:
			dst = append(dst, take(16)...)
		}
	}
	for len(starts) > 0 {
		dst = closeDoc(dst, &starts)
	}
	return dst
}

// closeDoc ends the innermost open document of buildDoc.
func closeDoc(dst []byte, starts *[]int) []byte {
	s := (*starts)[len(*starts)-1]
	*starts = (*starts)[:len(*starts)-1]
	dst = append(dst, 0)
	return bsoncore.UpdateLength(dst, int32(s), int32(len(dst)-s))
}

func TestIndexKey(t *testing.T) {
	for _, i := range []int{0, 9, 10, 11, 99, 100, 101, 999, 1000, 123456} {
		if got := string(indexKey(i)); got != strconv.Itoa(i) {
			t.Errorf("indexKey(%d) = %q", i, got)
		}
	}
}

// checkReaders holds readElement, lookup and validDoc to bsoncore.ReadElement,
// Document.LookupErr and Document.Validate on raw, valid or not.
func checkReaders(t *testing.T, raw []byte) {
	t.Helper()
	for rem := raw; len(rem) > 0; rem = rem[1:] {
		el, wantRest, wantOK := bsoncore.ReadElement(rem)
		k, v, rest, ok := readElement(rem)
		if ok != wantOK || ok && (string(k) != string(el.KeyBytes()) || v.Type != el.Value().Type ||
			string(v.Data) != string(el.Value().Data) || len(rest) != len(wantRest)) {
			t.Fatalf("readElement(%x) = %q %v %x %d, ReadElement %x %d %v", rem, k, v.Type, v.Data, len(rest), []byte(el), len(wantRest), wantOK)
		}
	}
	if got, want := validDoc(raw), bsoncore.Document(raw).Validate(); got != (want == nil) {
		t.Fatalf("validDoc(%x) = %v, Validate: %v", raw, got, want)
	}
	for _, key := range []string{"$db", "a", "", "find", "documents"} {
		want, err := bsoncore.Document(raw).LookupErr(key)
		got, ok := lookup(raw, key)
		if ok != (err == nil) || got.Type != want.Type || string(got.Data) != string(want.Data) {
			t.Fatalf("lookup(%x, %q) = %v %x %v, LookupErr %v %x %v", raw, key, got.Type, got.Data, ok, want.Type, want.Data, err)
		}
	}
}

func TestReaders(t *testing.T) {
	for _, d := range append(fuzzDocs(&testing.F{}), []byte{4, 0, 0, 0}, []byte{5, 0, 0, 0, 1}, []byte{12, 0, 0, 0, 16, 'a', 0, 1, 0, 0, 0, 7},
		[]byte{9, 0, 0, 0, 8, 'a', 0, 1, 0}, []byte{10, 0, 0, 0, 3, 'a', 0, 2, 0, 0, 0, 0},
		[]byte{13, 0, 0, 0, 2, 'a', 0, 0xfc, 0xff, 0xff, 0xff, 0, 0}, []byte{11, 0, 0, 0, 11, 0, 'x', 0, 'y', 0, 0}, doc(t, bson.D{{Key: "a", Value: 1}, {Key: "a", Value: 2}})) {
		checkReaders(t, d)
	}
}
