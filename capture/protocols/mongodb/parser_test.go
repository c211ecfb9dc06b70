package mongodb

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

var testConn = protocols.Conn{
	Client:      netip.MustParseAddrPort("10.0.0.1:40000"),
	Server:      netip.MustParseAddrPort("10.0.0.2:27017"),
	Transport:   "tcp",
	CommunityID: "1:test",
}

type step = protocoltest.Step

func c(s string) step { return step{Dir: protocols.ToServer, Data: s} }
func s(v string) step { return step{Dir: protocols.ToClient, Data: v} }

// summary is the part of an event the tests assert.
func summary(ev *event.Event) string {
	var b strings.Builder
	m := ev.MongoDB
	fmt.Fprintf(&b, "%s %s", ev.Status, ev.Method)
	if ev.DB != nil {
		fmt.Fprintf(&b, " db=%s", ev.DB.Name)
	}
	if m.Collection != "" {
		fmt.Fprintf(&b, " coll=%s", m.Collection)
	}
	fmt.Fprintf(&b, " docs=%d", m.NumDocs)
	if m.CursorID != 0 {
		fmt.Fprintf(&b, " cursor=%d", m.CursorID)
	}
	if m.ErrorCode != 0 || m.ErrorMessage != "" {
		fmt.Fprintf(&b, " err=%d/%s/%q", m.ErrorCode, m.ErrorCodeName, m.ErrorMessage)
	}
	if ev.User != nil {
		fmt.Fprintf(&b, " user=%s", ev.User.Name)
	}
	if ev.Error != nil {
		fmt.Fprintf(&b, " note=%q", ev.Error.Message)
	}
	if ev.Query != "" {
		fmt.Fprintf(&b, " q=%s", ev.Query)
	}
	if ev.QueryTruncated {
		b.WriteString(" (cut)")
	}
	return b.String()
}

// run plays steps, whole or in chunks, and returns the events.
func run(t testing.TB, steps []step, mid bool, opts *protocols.Options, chunk int) []*event.Event {
	t.Helper()
	conn := testConn
	conn.MidStream = mid
	var out []*event.Event
	p := New(&conn, opts, protocols.SinkFunc(func(ev *event.Event) {
		if ev.Type != event.TypeMongoDB || ev.MongoDB == nil || ev.Event.Duration < 0 || ev.Event.Category != "database" {
			t.Fatalf("bad event %+v", ev)
		}
		out = append(out, ev)
	}))
	protocoltest.Drive(p, steps, chunk)
	return out
}

func summaries(evs []*event.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, summary(ev))
	}
	return out
}

// Documents used by several cases.
func findCmd(t testing.TB) []byte {
	return doc(t, bson.D{{Key: "find", Value: "users"}, {Key: "filter", Value: bson.D{{Key: "age", Value: bson.D{{Key: "$gt", Value: 30}}}, {Key: "name", Value: "ann"}}}, {Key: "projection", Value: bson.D{{Key: "name", Value: 1}}}, {Key: "batchSize", Value: 2}, {Key: "$db", Value: "shop"}})
}

func cursorReply(t testing.TB, batch string, id int64, n int) []byte {
	var docs bson.A
	for i := range n {
		docs = append(docs, bson.D{{Key: "_id", Value: i}, {Key: "name", Value: "x"}})
	}
	return doc(t, bson.D{{Key: "cursor", Value: bson.D{{Key: "firstBatch", Value: docs}, {Key: "id", Value: id}, {Key: "ns", Value: "shop.users"}}}, {Key: "ok", Value: 1.0}})
}

type convCase struct {
	name  string
	steps func(t testing.TB) []step
	mid   bool
	opts  *protocols.Options
	want  []string
}

var convCases = []convCase{
	{
		name: "find and getMore",
		steps: func(t testing.TB) []step {
			nb := doc(t, bson.D{{Key: "cursor", Value: bson.D{{Key: "nextBatch", Value: bson.A{bson.D{{Key: "a", Value: 1}}}}, {Key: "id", Value: int64(0)}, {Key: "ns", Value: "shop.users"}}}, {Key: "ok", Value: 1.0}})
			return []step{
				c(msgFrame(1, 0, 0, findCmd(t))),
				s(msgFrame(100, 1, 0, cursorReply(t, "firstBatch", 77, 2))),
				c(msgFrame(2, 0, 0, doc(t, bson.D{{Key: "getMore", Value: int64(77)}, {Key: "collection", Value: "users"}, {Key: "$db", Value: "shop"}}))),
				s(msgFrame(101, 2, 0, nb)),
			}
		},
		want: []string{
			`OK find db=shop coll=users docs=2 cursor=77 q={"find":"users","filter":{"age":{"$gt":30},"name":"ann"},"projection":{"name":1},"batchSize":2,"$db":"shop"}`,
			`OK getMore db=shop coll=users docs=1 cursor=77 q={"getMore":77,"collection":"users","$db":"shop"}`,
		},
	},
	{
		name: "masked",
		opts: &protocols.Options{MaskLiterals: true},
		steps: func(t testing.TB) []step {
			return []step{c(msgFrame(1, 0, 0, findCmd(t))), s(msgFrame(100, 1, 0, cursorReply(t, "firstBatch", 0, 0)))}
		},
		want: []string{`OK find db=shop coll=users docs=0 q={"find":"users","filter":{"age":{"$gt":"?"},"name":"?"},"projection":{"name":"?"},"batchSize":"?","$db":"shop"}`},
	},
	{
		name: "cut",
		opts: &protocols.Options{MaxQueryLength: 20},
		steps: func(t testing.TB) []step {
			return []step{c(msgFrame(1, 0, 0, findCmd(t))), s(msgFrame(100, 1, 0, cursorReply(t, "firstBatch", 0, 0)))}
		},
		want: []string{`OK find db=shop coll=users docs=0 q={"find":"users","fil (cut)`},
	},
	{
		name: "insert with a document sequence, checksum, one write error",
		steps: func(t testing.TB) []step {
			cmd := doc(t, bson.D{{Key: "insert", Value: "users"}, {Key: "ordered", Value: false}, {Key: "$db", Value: "shop"}})
			seq := seqSection{"documents", [][]byte{doc(t, bson.D{{Key: "_id", Value: 1}}), doc(t, bson.D{{Key: "_id", Value: 1}})}}
			rep := doc(t, bson.D{{Key: "n", Value: 1}, {Key: "writeErrors", Value: bson.A{bson.D{{Key: "index", Value: 1}, {Key: "code", Value: 11000}, {Key: "errmsg", Value: "E11000 duplicate key"}}}}, {Key: "ok", Value: 1.0}})
			return []step{c(msgFrame(5, 0, flagChecksum, cmd, seq)), s(msgFrame(6, 5, flagChecksum, rep))}
		},
		want: []string{`Error insert db=shop coll=users docs=0 err=11000//"E11000 duplicate key" q={"insert":"users","ordered":false,"$db":"shop","documents":[{"_id":1},{"_id":1}]}`},
	},
	{
		name: "write concern error, the first of a repeated field counts",
		steps: func(t testing.TB) []step {
			cmd := doc(t, bson.D{{Key: "delete", Value: "users"}, {Key: "deletes", Value: bson.A{bson.D{{Key: "q", Value: bson.D{}}, {Key: "limit", Value: 0}}}}, {Key: "$db", Value: "shop"}})
			wce := bson.D{{Key: "code", Value: 64}, {Key: "codeName", Value: "WriteConcernFailed"}, {Key: "errmsg", Value: "waiting for replication timed out"}}
			rep := doc(t, bson.D{{Key: "n", Value: 3}, {Key: "ok", Value: 1.0}, {Key: "writeConcernError", Value: wce}, {Key: "ok", Value: 0.0}})
			return []step{c(msgFrame(1, 0, 0, cmd)), s(msgFrame(2, 1, 0, rep))}
		},
		want: []string{`Error delete db=shop coll=users docs=0 err=64/WriteConcernFailed/"waiting for replication timed out" q={"delete":"users","deletes":[{"q":{},"limit":0}],"$db":"shop"}`},
	},
	{
		name: "command error",
		steps: func(t testing.TB) []step {
			cmd := doc(t, bson.D{{Key: "find", Value: "users"}, {Key: "filter", Value: bson.D{{Key: "a", Value: bson.D{{Key: "$bogus", Value: 1}}}}}, {Key: "$db", Value: "shop"}})
			rep := doc(t, bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: "unknown operator: $bogus"}, {Key: "code", Value: 2}, {Key: "codeName", Value: "BadValue"}})
			return []step{c(msgFrame(1, 0, 0, cmd)), s(msgFrame(2, 1, 0, rep))}
		},
		want: []string{`Error find db=shop coll=users docs=0 err=2/BadValue/"unknown operator: $bogus" q={"find":"users","filter":{"a":{"$bogus":1}},"$db":"shop"}`},
	},
	{
		name: "legacy isMaster over OP_QUERY",
		steps: func(t testing.TB) []step {
			return []step{
				c(opQueryMsg(1, "admin.$cmd", doc(t, bson.D{{Key: "isMaster", Value: 1}, {Key: "client", Value: bson.D{{Key: "driver", Value: bson.D{{Key: "name", Value: "pymongo"}}}}}}))),
				s(opReplyMsg(9, 1, 8, 0, doc(t, bson.D{{Key: "ismaster", Value: true}, {Key: "maxWireVersion", Value: 17}, {Key: "ok", Value: 1.0}}))),
			}
		},
		want: []string{`OK isMaster db=admin docs=0 q={"isMaster":1,"client":{"driver":{"name":"pymongo"}}}`},
	},
	{
		name: "legacy query with $query and failure",
		steps: func(t testing.TB) []step {
			return []step{
				c(opQueryMsg(1, "shop.users", doc(t, bson.D{{Key: "$query", Value: bson.D{{Key: "a", Value: 1}}}, {Key: "$orderby", Value: bson.D{{Key: "a", Value: 1}}}}))),
				s(opReplyMsg(9, 1, 0, 5, doc(t, bson.D{{Key: "a", Value: 1}}), doc(t, bson.D{{Key: "a", Value: 1}}))),
				c(opQueryMsg(2, "shop.users", doc(t, bson.D{{Key: "a", Value: 2}}))),
				s(opReplyMsg(10, 2, 2, 0, doc(t, bson.D{{Key: "$err", Value: "bad"}, {Key: "code", Value: 13}}))),
			}
		},
		want: []string{
			`OK query db=shop coll=users docs=2 cursor=5 q={"a":1}`,
			`Error query db=shop coll=users docs=1 err=13//"bad" q={"a":2}`,
		},
	},
	{
		name: "moreToCome request and exhaust replies",
		steps: func(t testing.TB) []step {
			w0 := doc(t, bson.D{{Key: "insert", Value: "log"}, {Key: "writeConcern", Value: bson.D{{Key: "w", Value: 0}}}, {Key: "$db", Value: "shop"}})
			gm := doc(t, bson.D{{Key: "getMore", Value: int64(9)}, {Key: "collection", Value: "log"}, {Key: "$db", Value: "shop"}})
			b1 := doc(t, bson.D{{Key: "cursor", Value: bson.D{{Key: "nextBatch", Value: bson.A{1, 2}}, {Key: "id", Value: int64(9)}}}, {Key: "ok", Value: 1}})
			b2 := doc(t, bson.D{{Key: "cursor", Value: bson.D{{Key: "nextBatch", Value: bson.A{3}}, {Key: "id", Value: int64(0)}}}, {Key: "ok", Value: 1}})
			return []step{
				c(msgFrame(1, 0, flagMoreToCome, w0)),
				c(msgFrame(2, 0, flagExhaustAllow, gm)),
				s(msgFrame(50, 2, flagMoreToCome, b1)),
				s(msgFrame(51, 50, 0, b2)),
			}
		},
		want: []string{
			`OK insert db=shop coll=log docs=0 q={"insert":"log","writeConcern":{"w":0},"$db":"shop"}`,
			`OK getMore db=shop coll=log docs=2 cursor=9 q={"getMore":9,"collection":"log","$db":"shop"}`,
			`OK getMore db=shop coll=log docs=1 cursor=9 q={"getMore":9,"collection":"log","$db":"shop"}`,
		},
	},
	{
		name: "PLAIN authentication: user shown, password never",
		steps: func(t testing.TB) []step {
			start := doc(t, bson.D{{Key: "saslStart", Value: 1}, {Key: "mechanism", Value: "PLAIN"}, {Key: "payload", Value: bson.Binary{Data: []byte("\x00alice\x00s3cr3t-pw")}}, {Key: "autoAuthorize", Value: 1}, {Key: "$db", Value: "admin"}})
			return []step{
				c(msgFrame(1, 0, 0, start)),
				s(msgFrame(2, 1, 0, doc(t, bson.D{{Key: "conversationId", Value: 1}, {Key: "done", Value: true}, {Key: "payload", Value: bson.Binary{Data: []byte("")}}, {Key: "ok", Value: 1}}))),
				c(msgFrame(3, 0, 0, doc(t, bson.D{{Key: "createUser", Value: "bob"}, {Key: "pwd", Value: "s3cr3t-pw"}, {Key: "roles", Value: bson.A{}}, {Key: "$db", Value: "admin"}}))),
				s(msgFrame(4, 3, 0, doc(t, bson.D{{Key: "ok", Value: 1}}))),
			}
		},
		want: []string{
			`OK saslStart db=admin docs=0 user=alice q={"saslStart":1,"mechanism":"PLAIN","$db":"admin"}`,
			`OK createUser db=admin docs=0 user=alice q={"createUser":"bob","pwd":"?","roles":[],"$db":"admin"}`,
		},
	},
	{
		name: "SCRAM in a hello's speculative authentication",
		steps: func(t testing.TB) []step {
			spec := bson.D{{Key: "saslStart", Value: 1}, {Key: "mechanism", Value: "SCRAM-SHA-256"}, {Key: "payload", Value: bson.Binary{Data: []byte("n,,n=car=3Dl=2Co,r=nonce")}}, {Key: "db", Value: "admin"}}
			return []step{
				c(msgFrame(1, 0, 0, doc(t, bson.D{{Key: "hello", Value: 1}, {Key: "speculativeAuthenticate", Value: spec}, {Key: "$db", Value: "admin"}}))),
				s(msgFrame(2, 1, 0, doc(t, bson.D{{Key: "isWritablePrimary", Value: true}, {Key: "speculativeAuthenticate", Value: bson.D{{Key: "payload", Value: bson.Binary{Data: []byte("r=nonce,s=salt,i=4096")}}}}, {Key: "ok", Value: 1}}))),
			}
		},
		want: []string{`OK hello db=admin docs=0 user=car=l,o q={"hello":1,"speculativeAuthenticate":"?","$db":"admin"}`},
	},
	{
		name: "mid-stream: the tail of a message, then whole ones",
		mid:  true,
		steps: func(t testing.TB) []step {
			f := msgFrame(1, 0, 0, findCmd(t))
			return []step{
				c(f[30:]),
				s(msgFrame(100, 1, 0, cursorReply(t, "firstBatch", 0, 1))[7:]),
				c(msgFrame(3, 0, 0, doc(t, bson.D{{Key: "count", Value: "users"}, {Key: "$db", Value: "shop"}}))),
				s(msgFrame(101, 3, 0, doc(t, bson.D{{Key: "n", Value: 4}, {Key: "ok", Value: 1}}))),
			}
		},
		want: []string{`OK count db=shop coll=users docs=0 q={"count":"users","$db":"shop"}`},
	},
	{
		name: "garbage gives nothing",
		steps: func(t testing.TB) []step {
			return []step{c("GET / HTTP/1.1\r\nHost: x\r\n\r\n" + strings.Repeat("\x00\xff\x10", 200)), s("HTTP/1.1 200 OK\r\n\r\n")}
		},
	},
	{
		name: "gap drops what waits",
		steps: func(t testing.TB) []step {
			return []step{
				c(msgFrame(1, 0, 0, findCmd(t))),
				{Dir: protocols.ToClient, Gap: 10},
				s(msgFrame(100, 1, 0, cursorReply(t, "firstBatch", 0, 1))),
				c(msgFrame(2, 0, 0, doc(t, bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}}))),
				s(msgFrame(101, 2, 0, doc(t, bson.D{{Key: "ok", Value: 1}}))),
			}
		},
		want: []string{
			`Error find db=shop coll=users docs=0 note="response not captured" q={"find":"users","filter":{"age":{"$gt":30},"name":"ann"},"projection":{"name":1},"batchSize":2,"$db":"shop"}`,
			`OK ping db=admin docs=0 q={"ping":1,"$db":"admin"}`,
		},
	},
	{
		name: "close with a request open",
		steps: func(t testing.TB) []step {
			return []step{c(msgFrame(1, 0, 0, doc(t, bson.D{{Key: "drop", Value: "users"}, {Key: "$db", Value: "shop"}})))}
		},
		want: []string{`Error drop db=shop coll=users docs=0 note="response not captured" q={"drop":"users","$db":"shop"}`},
	},
}

// compressedCases are the first find case with each message compressed.
func compressedCases() []convCase {
	var out []convCase
	for _, id := range []byte{compNoop, compSnappy, compZlib, compZstd} {
		out = append(out, convCase{
			name: fmt.Sprintf("compressor %d", id),
			steps: func(t testing.TB) []step {
				return []step{
					c(compress(t, msgFrame(1, 0, 0, findCmd(t)), id)),
					s(compress(t, msgFrame(100, 1, 0, cursorReply(t, "firstBatch", 77, 2)), id)),
				}
			},
			want: []string{`OK find db=shop coll=users docs=2 cursor=77 q={"find":"users","filter":{"age":{"$gt":30},"name":"ann"},"projection":{"name":1},"batchSize":2,"$db":"shop"}`},
		})
	}
	return out
}

func TestConversations(t *testing.T) {
	for _, tc := range append(slices.Clone(convCases), compressedCases()...) {
		t.Run(tc.name, func(t *testing.T) {
			steps := tc.steps(t)
			want := strings.Join(tc.want, "\n")
			for _, chunk := range []int{0, 1, 7} {
				got := strings.Join(summaries(run(t, steps, tc.mid, tc.opts, chunk)), "\n")
				if got != want {
					t.Fatalf("chunk %d:\n got: %s\nwant: %s", chunk, got, want)
				}
			}
		})
	}
}

// TestSecretsNeverWritten encodes every event of the authentication cases and looks for the
// password in any form it had on the wire.
func TestSecretsNeverWritten(t *testing.T) {
	const pw = "s3cr3t-pw"
	forms := []string{pw, base64.StdEncoding.EncodeToString([]byte("\x00alice\x00" + pw))}
	for _, tc := range convCases {
		for _, mask := range []bool{false, true} {
			for _, ev := range run(t, tc.steps(t), tc.mid, &protocols.Options{MaskLiterals: mask}, 0) {
				j := string(event.AppendJSON(nil, ev))
				for _, f := range forms {
					if strings.Contains(j, f) {
						t.Fatalf("%s: secret %q in %s", tc.name, f, j)
					}
				}
			}
		}
	}
}

// TestFingerprint: the same command shape with other values, batch sizes or sessions has the
// same fingerprint; another shape has another.
func TestFingerprint(t *testing.T) {
	fp := func(d bson.D, docs int) string {
		var ds [][]byte
		for i := range docs {
			ds = append(ds, doc(t, bson.D{{Key: "_id", Value: i}, {Key: "v", Value: "x"}}))
		}
		evs := run(t, []step{c(msgFrame(1, 0, 0, doc(t, d), seqSection{"documents", ds})), s(msgFrame(2, 1, 0, doc(t, bson.D{{Key: "ok", Value: 1}})))}, false, nil, 0)
		return evs[0].QueryFingerprint
	}
	a := fp(bson.D{{Key: "insert", Value: "c"}, {Key: "$db", Value: "x"}, {Key: "lsid", Value: bson.D{{Key: "id", Value: 1}}}}, 3)
	b := fp(bson.D{{Key: "insert", Value: "c"}, {Key: "$db", Value: "x"}}, 1)
	other := fp(bson.D{{Key: "insert", Value: "d"}, {Key: "$db", Value: "x"}}, 1)
	if a != b || a == other || len(a) != 16 {
		t.Fatalf("fingerprints %q %q %q", a, b, other)
	}
}

// TestOversized: a message over the limit is passed over without being kept, and reported.
func TestOversized(t *testing.T) {
	big := doc(t, bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{{Key: "blob", Value: strings.Repeat("x", 5000)}}}}, {Key: "$db", Value: "x"}})
	steps := []step{
		c(msgFrame(1, 0, 0, big)),
		c(msgFrame(2, 0, 0, findCmd(t))),
		s(msgFrame(100, 2, 0, cursorReply(t, "firstBatch", 0, 200))),
		c(msgFrame(3, 0, 0, doc(t, bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}}))),
		s(msgFrame(101, 3, 0, doc(t, bson.D{{Key: "ok", Value: 1}}))),
		c(compress(t, msgFrame(4, 0, 0, big), compSnappy)),
	}
	opts := &protocols.Options{MaxMessageBytes: 1024}
	conn := testConn
	var got []string
	p := New(&conn, opts, protocols.SinkFunc(func(ev *event.Event) { got = append(got, summary(ev)) })).(*parser)
	protocoltest.Drive(p, steps, 100)
	if c := cap(p.rd[0].buf) + cap(p.rd[1].buf); c > 1024 {
		t.Errorf("buffered %d bytes", c)
	}
	want := []string{
		`Error  docs=0 note="request larger than the message limit: not decoded"`,
		`Error find db=shop coll=users docs=0 note="reply larger than the message limit: not decoded" q={"find":"users","filter":{"age":{"$gt":30},"name":"ann"},"projection":{"name":1},"batchSize":2,"$db":"shop"}`,
		`OK ping db=admin docs=0 q={"ping":1,"$db":"admin"}`,
		`Error  docs=0 note="request larger than the message limit: not decoded"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDetect(t *testing.T) {
	find := msgFrame(1, 0, 0, findCmd(t))
	rep := msgFrame(2, 1, 0, cursorReply(t, "firstBatch", 0, 0))
	cases := []struct {
		name string
		b    string
		dir  protocols.Dir
		want bool
	}{
		{"OP_MSG request", find, protocols.ToServer, true},
		{"OP_MSG reply", rep, protocols.ToClient, true},
		{"reply sent by a client", rep, protocols.ToServer, false},
		{"request sent by a server", find, protocols.ToClient, false},
		{"OP_QUERY hello", opQueryMsg(1, "admin.$cmd", doc(t, bson.D{{Key: "hello", Value: 1}})), protocols.ToServer, true},
		{"OP_COMPRESSED", compress(t, find, compZstd), protocols.ToServer, true},
		{"cut short", find[:20], protocols.ToServer, false},
		{"HTTP", "GET / HTTP/1.1\r\nHost: example\r\n\r\n", protocols.ToServer, false},
		{"TLS", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + strings.Repeat("a", 40), protocols.ToServer, false},
		{"zeros", strings.Repeat("\x00", 64), protocols.ToServer, false},
	}
	for _, tc := range cases {
		if got := Detect([]byte(tc.b), tc.dir); got != tc.want {
			t.Errorf("%s: Detect = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestMalformed: bodies that frame but do not decode lose sync and give no event, and the
// stream recovers on the next message.
func TestMalformed(t *testing.T) {
	good := doc(t, bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}})
	bad := append([]byte(nil), good...)
	bad[4] = 0x42 // unknown element type
	cases := map[string]string{
		"bad BSON":        msgFrame(1, 0, 0, bad),
		"unknown section": withHeader(1, 0, opMsg, append([]byte{0, 0, 0, 0, 7}, good...)),
		"no body":         withHeader(1, 0, opMsg, []byte{0, 0, 0, 0, 0, 0, 0, 0}),
		"short document":  withHeader(1, 0, opMsg, append([]byte{0, 0, 0, 0, 0}, good[:10]...)),
		"bad compressor":  withHeader(1, 0, opCompressed, []byte{0xdd, 7, 0, 0, 10, 0, 0, 0, 9, 1, 2, 3}),
		"bad snappy":      withHeader(1, 0, opCompressed, []byte{0xdd, 7, 0, 0, 10, 0, 0, 0, 1, 0xff, 0xff, 0xff}),
		"bad zlib":        withHeader(1, 0, opCompressed, []byte{0xdd, 7, 0, 0, 10, 0, 0, 0, 2, 0xff, 0xff, 0xff}),
		"bad zstd":        withHeader(1, 0, opCompressed, []byte{0xdd, 7, 0, 0, 10, 0, 0, 0, 3, 0xff, 0xff, 0xff}),
		"bad length":      withHeader(1, 0, opMsg, nil)[:4] + "\x00\x00\x00\x00\x00\x00\x00\x00\xdd\x07\x00\x00",
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			evs := run(t, []step{c(b), c(msgFrame(2, 0, 0, good)), s(msgFrame(3, 2, 0, doc(t, bson.D{{Key: "ok", Value: 1}})))}, false, nil, 0)
			got := strings.Join(summaries(evs), "\n")
			if want := `OK ping db=admin docs=0 q={"ping":1,"$db":"admin"}`; got != want {
				t.Fatalf("got %s", got)
			}
		})
	}
}

// TestShapeReuse: commands of one shape on one connection keep their own texts while their
// fingerprint and, when it repeats, their text are reused.
func TestShapeReuse(t *testing.T) {
	var steps []step
	names := []string{"ann", "bob", "ann", "bob", "cy", "dee", "eve", "ann"}
	for i, n := range names {
		d := doc(t, bson.D{{Key: "find", Value: "users"}, {Key: "filter", Value: bson.D{{Key: "name", Value: n}}}, {Key: "$db", Value: "shop"}})
		steps = append(steps, c(msgFrame(int32(i+1), 0, 0, d)), s(msgFrame(int32(100+i), int32(i+1), 0, cursorReply(t, "firstBatch", 0, 0))))
	}
	evs := run(t, steps, false, nil, 0)
	if len(evs) != len(names) {
		t.Fatalf("%d events", len(evs))
	}
	for i, ev := range evs {
		want := `{"find":"users","filter":{"name":"` + names[i] + `"},"$db":"shop"}`
		if ev.Query != want || ev.QueryFingerprint != evs[0].QueryFingerprint {
			t.Errorf("event %d: %s %s, want %s %s", i, ev.Query, ev.QueryFingerprint, want, evs[0].QueryFingerprint)
		}
	}
}

// TestFingerprintValue: query_fingerprint is the FNV-1a (hash/fnv) of the shape document,
// the first time and when the connection reuses it, for a short shape and one over 4 KiB.
func TestFingerprintValue(t *testing.T) {
	wide := bson.D{}
	for i := range 400 {
		wide = append(wide, bson.E{Key: fmt.Sprintf("field%03d", i), Value: i})
	}
	small := doc(t, bson.D{{Key: "find", Value: "users"}, {Key: "filter", Value: bson.D{{Key: "a", Value: 1}}}, {Key: "$db", Value: "shop"}})
	big := doc(t, bson.D{{Key: "find", Value: "users"}, {Key: "filter", Value: wide}, {Key: "$db", Value: "shop"}})
	var steps []step
	cmds := [][]byte{small, big, small, big}
	for i, d := range cmds {
		steps = append(steps, c(msgFrame(int32(i+1), 0, 0, d)), s(msgFrame(int32(100+i), int32(i+1), 0, cursorReply(t, "firstBatch", 0, 0))))
	}
	evs := run(t, steps, false, &protocols.Options{MaxMessageBytes: 1 << 20}, 0)
	if len(evs) != len(cmds) {
		t.Fatalf("%d events", len(evs))
	}
	for i, d := range cmds {
		var b bsonOut
		rewrite(&b, discard{}, d, nil, modeShape, false)
		h := fnv.New64a()
		h.Write(b.buf)
		if want := hex.EncodeToString(h.Sum(nil)); evs[i].QueryFingerprint != want {
			t.Errorf("command %d (shape of %d bytes): fingerprint %s, want %s", i, len(b.buf), evs[i].QueryFingerprint, want)
		}
	}
}
