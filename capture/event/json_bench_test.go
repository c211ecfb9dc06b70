package event_test

import (
	"encoding/json"
	"flag"
	"net/netip"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	segjson "github.com/segmentio/encoding/json"

	"github.com/audit-io/wire-audit/capture/event"
)

// mysqlEvent is the Kafka exporter's benchmark event (capture/export/kafka/bench_test.go): a
// typical MySQL audit event of about 860 bytes of JSON.
func mysqlEvent() *event.Event {
	ts := time.Date(2026, 11, 28, 6, 13, 38, 123456789, time.UTC)
	return &event.Event{
		Timestamp: ts, Type: event.TypeMySQL, Status: event.StatusOK, Method: "SELECT",
		Query:            "SELECT id, owner, balance FROM accounts WHERE owner = ? AND balance > ? ORDER BY id LIMIT 100",
		QueryFingerprint: "5f1d7a0c9b2e4f61",
		Event:            event.Meta{Kind: "event", Category: "database", Dataset: event.TypeMySQL, Duration: 1234567, Start: ts, End: ts.Add(1234567)},
		Source:           event.Endpoint{IP: netip.MustParseAddr("10.0.0.1"), Port: 40001, Bytes: 120},
		Destination:      event.Endpoint{IP: netip.MustParseAddr("10.0.0.2"), Port: 3306, Bytes: 4096},
		Client:           event.Endpoint{IP: netip.MustParseAddr("10.0.0.1"), Port: 40001, Bytes: 120},
		Server:           event.Endpoint{IP: netip.MustParseAddr("10.0.0.2"), Port: 3306, Bytes: 4096},
		Network:          event.Network{Type: "ipv4", Transport: "tcp", Protocol: event.TypeMySQL, CommunityID: "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", Interface: "eth0"},
		User:             &event.User{Name: "orders"},
		DB:               &event.DB{Name: "shop"},
		MySQL:            &event.MySQL{NumRows: 100, NumFields: 3},
		Kubernetes: &event.Kubernetes{Namespace: "shop", Pod: event.Pod{Name: "orders-7d9f-x2x", UID: "5f0c1e7a-1111-2222-3333-444455556666"},
			Node: event.Node{Name: "node-a"}, Labels: map[string]string{"app": "orders", "team": "payments"}},
	}
}

// BenchmarkAppendJSON encodes realistic events with AppendJSON, encoding/json and
// segmentio/encoding (which the Kafka exporter used before): the MySQL event above, and every
// event replayed from the HTTP, DNS and PostgreSQL test captures with headers, bodies and the
// pod's identity. ns/op is per event.
func BenchmarkAppendJSON(b *testing.B) {
	sets := []struct {
		name string
		evs  []*event.Event
	}{
		{"mysql", []*event.Event{mysqlEvent()}},
		{"replay", append(append(replayPcap(b, "../protocols/http/testdata/curl.pcap", 1),
			replayPcap(b, "../protocols/dns/testdata/udp.pcap", 1)...), replayPcap(b, "../protocols/pgsql/testdata/pgx.pcap", 1)...)},
	}
	for _, set := range sets {
		evs := set.evs
		var size int
		for _, ev := range evs {
			size += len(event.AppendJSON(nil, ev))
		}
		b.Run(set.name+"/append", func(b *testing.B) {
			buf := make([]byte, 0, 64<<10)
			b.SetBytes(int64(size / len(evs)))
			b.ReportAllocs()
			for i := range b.N {
				buf = event.AppendJSON(buf[:0], evs[i%len(evs)])
			}
		})
		b.Run(set.name+"/encoding-json", func(b *testing.B) {
			b.SetBytes(int64(size / len(evs)))
			b.ReportAllocs()
			for i := range b.N {
				if _, err := json.Marshal(evs[i%len(evs)]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(set.name+"/segmentio", func(b *testing.B) {
			buf := make([]byte, 0, 64<<10)
			b.SetBytes(int64(size / len(evs)))
			b.ReportAllocs()
			for i := range b.N {
				var err error
				if buf, err = segjson.Append(buf[:0], evs[i%len(evs)], segjson.SortMapKeys); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestAppendJSONAllocs holds AppendJSON to no allocation per event when dst has room: on
// events of every protocol and flow reports, and on addresses with a zone that needs escaping.
func TestAppendJSONAllocs(t *testing.T) {
	zoned := mysqlEvent()
	zoned.Client.IP = netip.MustParseAddr("fe80::1%a-rather-long-zone-name-with-\"-and-\xff-in-it")
	evs := []*event.Event{mysqlEvent(), zoned}
	for _, pcap := range []string{"http/testdata/curl.pcap", "dns/testdata/udp.pcap", "pgsql/testdata/pgx.pcap", "redis/testdata/resp3.pcap", "mysql/testdata/prepared.pcap"} {
		evs = append(evs, replayPcap(t, "../protocols/"+pcap, 1)...)
	}
	buf := make([]byte, 0, 64<<10)
	for _, ev := range evs {
		if n := testing.AllocsPerRun(100, func() { buf = event.AppendJSON(buf[:0], ev) }); n != 0 {
			t.Fatalf("%s event: %v allocations, want 0", ev.Type, n)
		}
	}
}

var (
	streamPcap   = flag.String("stream-pcap", "", "Capture BenchmarkAppendJSONStream encodes the events of (e.g. ../../bin/mixed-load-5x132000-d02c26f8.pcap); default: the protocol test captures.")
	streamEvents = flag.Int("stream-events", 200000, "How many events of -stream-pcap BenchmarkAppendJSONStream keeps.")
)

// streamEvents returns the events of -stream-pcap in the order the pipeline emits them (at
// most -stream-events of them), or those of every protocol test capture, one capture after
// the other, with the pod's identity.
func streamOf(b *testing.B) []*event.Event {
	if *streamPcap != "" {
		evs := replayPcap(b, *streamPcap, 0)
		return evs[:min(len(evs), *streamEvents)]
	}
	pcaps, err := filepath.Glob("../protocols/*/testdata/*.pcap")
	if err != nil || len(pcaps) == 0 {
		b.Fatalf("captures: %v %v", pcaps, err)
	}
	var evs []*event.Event
	for _, path := range pcaps {
		evs = append(evs, replayPcap(b, path, 1)...)
	}
	return evs
}

// BenchmarkAppendJSONStream encodes a stream of events in the order a capture produced them,
// as an exporter does: -stream-pcap, or the protocol test captures. ns/op is per event;
// cpu-ns/op is the process's CPU time per event, steadier than ns/op on a shared machine.
func BenchmarkAppendJSONStream(b *testing.B) {
	evs := streamOf(b)
	var size int
	for _, ev := range evs {
		size += len(event.AppendJSON(nil, ev))
	}
	run := func(name string, encode func([]byte, *event.Event) []byte) {
		b.Run(name, func(b *testing.B) {
			buf := make([]byte, 0, 64<<10)
			b.SetBytes(int64(size / len(evs)))
			b.ReportAllocs()
			start := cpuTime()
			for i := range b.N {
				buf = encode(buf[:0], evs[i%len(evs)])
			}
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
		})
	}
	run("append", event.AppendJSON)
	var enc event.Encoder
	run("encoder", enc.AppendJSON)
}

// cpuTime is the user and system CPU time of the process so far, in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
