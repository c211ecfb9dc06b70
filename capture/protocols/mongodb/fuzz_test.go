package mongodb

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// FuzzParser feeds arbitrary bytes to both directions, in chunks whose sizes come from the
// input, with gaps now and then: the parser must not panic, must stay within its bounds, and
// every event must be a well-formed mongodb event.
func FuzzParser(f *testing.F) {
	for _, tc := range append(convCases, compressedCases()...) {
		cli, srv := protocoltest.StepHalves(tc.steps(f))
		f.Add(cli, srv, []byte{1, 3, 64, 200}, tc.mid)
	}
	f.Fuzz(func(t *testing.T, cli, srv, cuts []byte, mid bool) {
		conn := testConn
		conn.MidStream = mid
		const limit = 4096
		sink := protocols.SinkFunc(func(ev *event.Event) {
			if ev.Type != event.TypeMongoDB || ev.MongoDB == nil || ev.Event.Duration < 0 {
				t.Fatalf("bad event %+v", ev)
			}
			if len(ev.Query) > 100 {
				t.Fatalf("query of %d bytes over the limit", len(ev.Query))
			}
			event.AppendJSON(nil, ev)
		})
		p := New(&conn, &protocols.Options{MaxMessageBytes: limit, MaxQueryLength: 100}, sink).(*parser)
		protocoltest.Feed(p, cli, srv, cuts, func() {
			for d := range p.rd {
				if r := &p.rd[d]; len(r.buf) > limit || len(r.scan) >= probeLen {
					t.Fatalf("bounds: buf %d scan %d", len(r.buf), len(r.scan))
				}
			}
			if len(p.open) > maxPending || len(p.inflate) > limit {
				t.Fatalf("bounds: %d open, %d inflated", len(p.open), len(p.inflate))
			}
		})
	})
}

// FuzzRender rewrites and renders arbitrary documents in every mode: no panic, and when the
// driver accepts the document the rendering is valid Extended JSON that parses back, and the
// masked one holds no string value of the input but names.
func FuzzRender(f *testing.F) {
	for _, b := range fuzzDocs(f) {
		f.Add(b, true)
	}
	f.Fuzz(func(t *testing.T, raw []byte, auth bool) {
		doc := bsoncore.Document(raw)
		if doc.Validate() != nil || len(doc) < 5 {
			return
		}
		seqs := []seq{{id: []byte("documents"), data: raw}}
		for _, mode := range []int{modeAsSent, modeMask, modeShape} {
			var b bsonOut
			rewrite(&b, discard{}, doc, seqs, mode, auth)
			out := b.buf
			if err := bsoncore.Document(out).Validate(); err != nil {
				t.Fatalf("mode %d: rewrite made an invalid document: %v", mode, err)
			}
			text, err := extJSON(out)
			if err != nil {
				continue // values the driver cannot render (e.g. invalid UTF-8 keys)
			}
			var back bson.D
			if err := bson.UnmarshalExtJSON([]byte(text), false, &back); err != nil {
				t.Fatalf("mode %d: %s does not parse back: %v", mode, text, err)
			}
		}
	})
}

// fuzzDocs are commands to start the render fuzz targets from.
func fuzzDocs(f *testing.F) [][]byte {
	var out [][]byte
	for _, d := range []bson.D{
		{{Key: "find", Value: "c"}, {Key: "filter", Value: bson.D{{Key: "a", Value: bson.D{{Key: "$in", Value: bson.A{1, "two", 3.5, nil, true}}}}}}, {Key: "$db", Value: "x"}},
		{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: bson.NewObjectID()}, {Key: "b", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}}}}}},
		{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$match", Value: bson.D{{Key: "t", Value: bson.DateTime(1700000000000)}}}}, bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$k"}}}}}}},
		{{Key: "update", Value: "c"}, {Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: bson.D{{Key: "r", Value: bson.Regex{Pattern: "^a", Options: "i"}}}}, {Key: "u", Value: bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: int64(1)}}}}}}}}},
	} {
		b, err := bson.Marshal(d)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}
