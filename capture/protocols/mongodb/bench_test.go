package mongodb

import (
	"runtime"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// BenchmarkReplay decodes the captured pymongo connections, a parser per connection, and
// reports the cost per packet (TCP segment with payload); events per op is the command count.
func BenchmarkReplay(b *testing.B) {
	for _, mask := range []bool{false, true} {
		name := "as-sent"
		if mask {
			name = "masked"
		}
		b.Run(name, func(b *testing.B) {
			protocoltest.BenchReplay(b, readSegs(b, "pymongo.pcap"), New, &protocols.Options{MaxQueryLength: 1024, MaskLiterals: mask})
		})
	}
}

// BenchmarkCommands plays one long connection that loops over a find and an insert of one
// document, each answered, as the client of the load capture does, and reports the cost per
// command: what a connection costs once (its parser, its buffers growing) is left out.
func BenchmarkCommands(b *testing.B) {
	lsid := bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}}}
	find := []byte(msgFrame(1, 0, 0, doc(b, bson.D{{Key: "find", Value: "users"},
		{Key: "filter", Value: bson.D{{Key: "age", Value: bson.D{{Key: "$gt", Value: int32(30)}}}, {Key: "name", Value: "ann"}}},
		{Key: "limit", Value: int32(1)}, {Key: "lsid", Value: lsid}, {Key: "$db", Value: "shop"}})))
	found := []byte(msgFrame(100, 1, 0, cursorReply(b, "firstBatch", 0, 1)))
	insert := []byte(msgFrame(2, 0, 0, doc(b, bson.D{{Key: "insert", Value: "users"}, {Key: "ordered", Value: true},
		{Key: "lsid", Value: lsid}, {Key: "$db", Value: "shop"}}),
		seqSection{"documents", [][]byte{doc(b, bson.D{{Key: "_id", Value: bson.NewObjectID()}, {Key: "name", Value: "bob"},
			{Key: "age", Value: int32(41)}, {Key: "score", Value: 3.5}, {Key: "at", Value: bson.DateTime(1700000000000)}})}}))
	inserted := []byte(msgFrame(101, 2, 0, doc(b, bson.D{{Key: "n", Value: int32(1)}, {Key: "ok", Value: 1.0}})))
	for _, mask := range []bool{false, true} {
		name := "as-sent"
		if mask {
			name = "masked"
		}
		b.Run(name, func(b *testing.B) {
			events := 0
			sink := protocols.SinkFunc(func(*event.Event) { events++ })
			p := New(&testConn, &protocols.Options{MaxQueryLength: 1024, MaskLiterals: mask}, sink)
			ts := time.Unix(1700000000, 0)
			p.Data(protocols.ToServer, find, ts) // warm the connection's buffers
			p.Data(protocols.ToClient, found, ts)
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			b.ResetTimer()
			for range b.N {
				p.Data(protocols.ToServer, find, ts)
				p.Data(protocols.ToClient, found, ts)
				p.Data(protocols.ToServer, insert, ts)
				p.Data(protocols.ToClient, inserted, ts)
			}
			b.StopTimer()
			runtime.ReadMemStats(&ms1)
			cmds := float64(2 * b.N)
			if events != 2*b.N+1 {
				b.Fatalf("%d events for %d commands", events, 2*b.N+1)
			}
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/cmds, "allocs/cmd")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/cmds, "ns/cmd")
		})
	}
}
