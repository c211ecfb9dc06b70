package mongodb

import (
	"flag"
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

var update = flag.Bool("update", false, "rewrite the golden event files in testdata")

func readSegs(tb testing.TB, name string) []protocoltest.Segment {
	tb.Helper()
	return protocoltest.ReadSegments(tb, filepath.Join("testdata", name), 27017)
}

// TestPcap checks the events of real pymongo traffic against FerretDB (testdata/capture.sh)
// against what the client did, and pins their whole JSON in testdata/pymongo.events.json
// (refresh with -update after checking the diff).
func TestPcap(t *testing.T) {
	evs := protocoltest.Replay(readSegs(t, "pymongo.pcap"), New, nil)
	counts := map[string]int{}
	for _, ev := range evs {
		if ev.Error != nil {
			t.Errorf("decode note: %s", summary(ev))
		}
		counts[ev.Status+" "+ev.Method]++
	}
	want := map[string]int{
		"OK ismaster": 6, "OK drop": 2, "OK insert": 2, "Error insert": 1, "OK find": 2, "Error find": 1,
		"OK update": 1, "OK delete": 1, "OK aggregate": 1, "OK count": 1, "OK createIndexes": 1,
		"OK getMore": 3, "OK saslStart": 1, "OK ping": 1, "Error endSessions": 3,
	}
	if !maps.Equal(counts, want) {
		t.Errorf("events %v\nwant   %v", counts, want)
	}
	for _, ev := range evs {
		if j := string(event.AppendJSON(nil, ev)); strings.Contains(j, "pw-Zq83") || strings.Contains(j, "AGFwcABwdy1acTgzIXg=") {
			t.Fatalf("password in %s", j)
		}
	}
	protocoltest.Golden(t, filepath.Join("testdata", "pymongo.events.json"), evs, *update)
}

// TestPcapMasked: with maskLiterals no value of the client's documents is left, only names.
func TestPcapMasked(t *testing.T) {
	for _, ev := range protocoltest.Replay(readSegs(t, "pymongo.pcap"), New, &protocols.Options{MaskLiterals: true}) {
		for _, leak := range []string{"user3", `"age":{"$gt":25}`, "PyMongo", "$binary"} {
			if strings.Contains(ev.Query, leak) {
				t.Errorf("%s: %q left in %s", ev.Method, leak, ev.Query)
			}
		}
	}
}
