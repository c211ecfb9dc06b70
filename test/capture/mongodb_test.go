package capture_test

import (
	"context"
	"encoding/base64"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/test/realnet"
)

const mongodbConfig = `{"version":1,"protocols":[{"name":"mongodb","ports":[27017]}],"flows":true,"kafka":{"topic":"t"},"healthPort":15099,"privacy":{"maxQueryLength":4000}}`

// mongoPassword is the PLAIN password the client sends in clear (inside the SASL payload): no
// output of the sidecar may contain it, in any form it had on the wire.
const mongoPassword = "pw-Zq83!x"

// TestMongoDB drives a real FerretDB (the MongoDB wire protocol on SQLite) from the pod
// namespace with pymongo (legacy OP_QUERY handshake, then OP_MSG: inserts, finds with filters
// and projections, update, delete, aggregate, count, createIndexes, drop, a cursor drained with
// getMore, an unordered bulk write with one duplicate, an invalid operator, a PLAIN login, an
// unacknowledged write) and the Go driver (asking for zstd, snappy and zlib compression, which
// FerretDB does not offer), while the sidecar captures live on the pod's veth and tcpdump writes
// a pcap of the same traffic.
func TestMongoDB(t *testing.T) {
	pair := realnet.NewPair(t)
	srv := realnet.StartFerretDB(t, pair, realnet.FerretDBOptions{})
	pcap := filepath.Join(t.TempDir(), "mongodb.pcap")
	dump := realnet.StartTcpdump(t, pair, pair.PodNS, pair.PodIf, pcap, "tcp port 27017")
	sc := startSidecar(t, pair, mongodbConfig)

	script, err := os.ReadFile("testdata/mongodb_client.py")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := srv.Python(string(script), srv.Addr, mongoPassword); err != nil || strings.TrimSpace(out) != "ok" {
		t.Fatalf("pymongo: %v\n%s", err, out)
	}
	goDriver(t, pair, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sendGarbage(t, ctx, srv.Dial)

	live := sc.stop(t)
	liveOut := sc.stdout.String() + sc.stderr.String()
	stopOracle(t, dump)
	evs := transactions(live, event.TypeMongoDB)
	counts := map[string]int{}
	notCaptured := 0 // endSessions whose reply never reached the wire
	for _, ev := range evs {
		switch {
		case ev.Error != nil && ev.Method == "endSessions" && ev.Error.Message == "response not captured":
			// pymongo closes its sockets right after endSessions without reading the reply, so
			// under load the server's reply can come after the reset and never be on the wire;
			// the decoder must then say so, and tshark sees no reply either (checked below).
			notCaptured++
		case ev.Error != nil:
			t.Errorf("decode note on %s %q: %s", ev.Method, ev.Query, ev.Error.Message)
		}
		counts[ev.Status+" "+ev.Method]++
	}
	t.Logf("%d mongodb events: %v", len(evs), counts)
	for k, n := range map[string]int{
		"OK insert": 2 + 2, "Error insert": 1 + 1, "OK find": 1 + 1 + 1, "Error find": 1 + 1, "OK getMore": 3,
		"OK update": 1, "OK delete": 1, "OK aggregate": 1, "OK count": 1, "OK createIndexes": 1, "OK drop": 2 + 1,
		"OK saslStart": 1, "OK ping": 1,
	} {
		if counts[k] != n {
			t.Errorf("%d %q events, want %d", counts[k], k, n)
		}
	}
	byMethod := func(method string, pred func(ev event.Event) bool) event.Event {
		t.Helper()
		for _, ev := range evs {
			if ev.Method == method && pred(ev) {
				return ev
			}
		}
		t.Fatalf("no %s event as expected", method)
		return event.Event{}
	}
	f := byMethod("find", func(ev event.Event) bool { return strings.Contains(ev.Query, `"$gt":25`) })
	if f.MongoDB.NumDocs != 4 || f.MongoDB.Collection != "users" || f.DB == nil || f.DB.Name != "audit" ||
		!strings.HasPrefix(f.Query, `{"find":"users","filter":{"age":{"$gt":25}},"projection":{"name":1},`) || len(f.QueryFingerprint) != 16 {
		t.Errorf("find with a filter and a projection: %+v %+v %q", f.MongoDB, f.DB, f.Query)
	}
	checkIdentity(t, f, pair, 27017)
	drained := byMethod("find", func(ev event.Event) bool { return strings.Contains(ev.Query, `"batchSize":3`) })
	var batches []uint64
	for _, ev := range evs {
		if ev.Method == "getMore" && ev.MongoDB.CursorID == drained.MongoDB.CursorID {
			batches = append(batches, ev.MongoDB.NumDocs)
		}
	}
	if drained.MongoDB.CursorID == 0 || drained.MongoDB.NumDocs != 3 || len(batches) != 3 || batches[0]+batches[1]+batches[2] != 6 {
		t.Errorf("cursor %d: first batch %d, getMore batches %v, want 3 then 6 more over 3 getMores", drained.MongoDB.CursorID, drained.MongoDB.NumDocs, batches)
	}
	dup := byMethod("insert", func(ev event.Event) bool {
		return ev.Status == event.StatusError && strings.Contains(ev.Query, `"_id":101`)
	})
	if dup.MongoDB.ErrorCode != 11000 || !strings.Contains(dup.MongoDB.ErrorMessage, "duplicate key") {
		t.Errorf("bulk write with a duplicate: %+v", dup.MongoDB)
	}
	bad := byMethod("find", func(ev event.Event) bool { return strings.Contains(ev.Query, `"$bogus"`) })
	if bad.Status != event.StatusError || bad.MongoDB.ErrorCode != 2 || bad.MongoDB.ErrorCodeName != "BadValue" || bad.MongoDB.ErrorMessage == "" {
		t.Errorf("invalid operator: %s %+v", bad.Status, bad.MongoDB)
	}
	sasl := byMethod("saslStart", func(event.Event) bool { return true })
	if sasl.User == nil || sasl.User.Name != "app" || sasl.Query != `{"saslStart":1,"mechanism":"PLAIN","$db":"audit"}` {
		t.Errorf("saslStart: user %+v query %q", sasl.User, sasl.Query)
	}
	if ping := byMethod("ping", func(event.Event) bool { return true }); ping.User == nil || ping.User.Name != "app" {
		t.Errorf("ping after the login: user %+v", ping.User)
	}
	hello := byMethod("ismaster", func(event.Event) bool { return true })
	if hello.DB == nil || hello.DB.Name != "admin" || !strings.HasPrefix(hello.Query, `{"ismaster":1,"client":{"driver":{"name":"PyMongo"`) {
		t.Errorf("legacy OP_QUERY handshake: %+v %q", hello.DB, hello.Query)
	}
	byMethod("insert", func(ev event.Event) bool { return strings.Contains(ev.Query, `"writeConcern":{"w":0}`) })

	replayed, replayOut := replayOutput(t, pcap, mongodbConfig)
	if l, r := summary(evs), summary(transactions(replayed, event.TypeMongoDB)); strings.Join(l, "\n") != strings.Join(r, "\n") {
		t.Errorf("live and replay differ:\nlive   %q\nreplay %q", l, r)
	}

	// The password never reaches an event or a log, live or replayed.
	payload := "\x00app\x00" + mongoPassword
	secrets := []string{mongoPassword, base64.StdEncoding.EncodeToString([]byte(payload))}
	for name, out := range map[string]string{"live": liveOut, "replay": replayOut} {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s output contains the password (%q)", name, s)
			}
		}
	}

	// tshark's mongo dissector: the command name (first element of the body) of every request.
	theirs := map[string]int{}
	for _, l := range tsharkFields(t, pcap, "-d", "tcp.port==27017,mongo", "-Y", "(mongo.opcode == 2013 || mongo.opcode == 2004) && tcp.dstport == 27017",
		"-T", "fields", "-e", "mongo.element.name") {
		name, _, _ := strings.Cut(l, ",")
		theirs[name]++
	}
	ours := map[string]int{}
	for _, ev := range evs {
		ours[ev.Method]++
	}
	if !maps.Equal(ours, theirs) {
		t.Errorf("command names differ from tshark's:\nours   %v\ntshark %v", ours, theirs)
	}
	t.Logf("tshark command names: %v", theirs)
	// And the replies that carry an error message, against our Error events.
	errReplies := 0
	for _, l := range tsharkFields(t, pcap, "-d", "tcp.port==27017,mongo", "-Y", "mongo.opcode == 2013 && tcp.srcport == 27017",
		"-T", "fields", "-e", "mongo.element.name") {
		if strings.Contains(","+l+",", ",errmsg,") {
			errReplies++
		}
	}
	if n := counts["Error insert"] + counts["Error find"] + counts["Error endSessions"] - notCaptured; n != errReplies {
		t.Errorf("%d Error events with a reply (and %d endSessions without one), tshark sees %d replies with errmsg", n, notCaptured, errReplies)
	}
}

// goDriver runs the Go driver from the pod namespace: it asks for every compressor (FerretDB
// offers none, so the connection stays uncompressed), inserts with a document sequence, finds,
// and sends an invalid operator.
func goDriver(t *testing.T, pair *realnet.Pair, srv *realnet.FerretDB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := options.Client().ApplyURI("mongodb://" + srv.Addr + "/?directConnection=true").
		SetDialer(dialerFunc(pair.Dial)).SetCompressors([]string{"zstd", "snappy", "zlib"}).
		SetServerSelectionTimeout(10 * time.Second).SetRetryWrites(false)
	cl, err := mongo.Connect(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cl.Disconnect(context.Background()) }()
	coll := cl.Database("audit").Collection("orders")
	if _, err := coll.InsertMany(ctx, []any{bson.D{{Key: "sku", Value: "a"}, {Key: "qty", Value: 2}}, bson.D{{Key: "sku", Value: "b"}, {Key: "qty", Value: 5}}}); err != nil {
		t.Fatal(err)
	}
	var got []bson.M
	cur, err := coll.Find(ctx, bson.D{{Key: "qty", Value: bson.D{{Key: "$gte", Value: 3}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := cur.All(ctx, &got); err != nil || len(got) != 1 {
		t.Fatalf("go driver find: %v %v", got, err)
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "qty", Value: bson.D{{Key: "$nope", Value: 1}}}}).Err(); err == nil {
		t.Fatal("go driver: invalid operator did not fail")
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err == nil {
		t.Fatal("go driver: duplicate key did not fail")
	}
	if err := coll.Drop(ctx); err != nil {
		t.Fatal(err)
	}
}

type dialerFunc func(ctx context.Context, network, addr string) (net.Conn, error)

func (f dialerFunc) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return f(ctx, network, addr)
}
