package redis

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/internal/stable"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

const testPort = 16379

// summary is the part of an event the pcap tests assert.
func summary(ev *event.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %q", ev.Status, ev.Method, ev.Query)
	if ev.Redis.Error != "" {
		fmt.Fprintf(&b, " err=%q", ev.Redis.Error)
	}
	if ev.Redis.ReturnValue != "" {
		fmt.Fprintf(&b, " ret=%q", trimTo(ev.Redis.ReturnValue, 40))
	}
	if ev.Error != nil {
		fmt.Fprintf(&b, " note=%q", ev.Error.Message)
	}
	return b.String()
}

func trimTo(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func readSegs(t testing.TB, name string) []protocoltest.Segment {
	t.Helper()
	return protocoltest.ReadSegments(t, filepath.Join("testdata", name), testPort)
}

func replayFile(t testing.TB, name string, opts *protocols.Options) []*event.Event {
	t.Helper()
	return protocoltest.Replay(readSegs(t, name), New, opts)
}

// TestPcaps checks the events of real redis-cli, redis-cli --pipe and redis-benchmark
// traffic (testdata/capture.sh) against what the clients sent.
func TestPcaps(t *testing.T) {
	tests := []struct {
		file string
		// counts of "status method" over all events but COMMAND (redis-cli asks for the command
		// docs on every start).
		counts map[string]int
		// in is a subsequence of the events' summaries.
		in []string
	}{
		{"cli.pcap", map[string]int{"OK SET": 4, "OK GET": 2, "Error INCR": 1, "OK INCR": 2, "Error NOSUCHCOMMAND": 1, "OK MULTI": 2, "OK EXEC": 1, "OK DISCARD": 1}, []string{
			`OK GET "GET greeting" ret="hello world"`,
			`OK LRANGE "LRANGE list 0 -1" ret="[c, b, a]"`,
			`OK GET "GET nosuchkey" ret="(nil)"`,
			`Error INCR "INCR greeting" err="ERR value is not an integer or out of range"`,
			`OK MULTI "MULTI" ret="OK"`,
			`OK SET "SET a 1" ret="QUEUED"`,
			`OK INCR "INCR a" ret="QUEUED"`,
			`OK LPUSH "LPUSH a x" ret="QUEUED"`,
			`OK EXEC "EXEC" ret="[OK, 2, WRONGTYPE Operation against a ke..."`,
		}},
		// 40 SETs through --pipe, then redis-benchmark -n 64 -P 16 for set, get and lpush.
		{"pipe.pcap", map[string]int{"OK SET": 40 + 64, "OK GET": 64, "OK LPUSH": 64, "OK ECHO": 1, "OK CONFIG": 2}, []string{
			`OK SET "SET k1 v1" ret="OK"`, `OK SET "SET k40 v40" ret="OK"`, `OK GET "GET key:__rand_int__" ret="VXK"`,
		}},
		{"resp3.pcap", map[string]int{"OK HELLO": 3, "Error INCR": 1, "OK MESSAGE": 2, "OK SUBSCRIBE": 1, "OK UNSUBSCRIBE": 1}, []string{
			`OK HGETALL "HGETALL h" ret="{f1: v1, f2: v2}"`,
			`OK SMEMBERS "SMEMBERS nosuch" ret="[]"`,
			`OK SUBSCRIBE "SUBSCRIBE news" ret="[subscribe, news, 1]"`,
			`OK MESSAGE "MESSAGE news" ret="first"`,
			`OK MESSAGE "MESSAGE news" ret="second"`,
			`OK PING "PING" ret="PONG"`,
			`OK UNSUBSCRIBE "UNSUBSCRIBE" ret="[unsubscribe, news, 0]"`,
			`OK GET "GET x" ret="1"`,
		}},
		{"pubsub.pcap", map[string]int{"OK PUBLISH": 3, "OK MESSAGE": 2, "OK PMESSAGE": 2, "OK SUBSCRIBE": 1, "OK PSUBSCRIBE": 1}, []string{
			`OK PMESSAGE "PMESSAGE ch* ch1" ret="one"`,
			`OK MESSAGE "MESSAGE ch2" ret="two"`,
			`OK PING "PING" ret="PONG"`,
			`OK SET "SET inline \"two words\"" ret="OK"`,
			`OK GET "GET inline" ret="two words"`,
			`OK QUIT "QUIT" ret="OK"`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			counts := map[string]int{}
			var got []string
			for _, ev := range replayFile(t, tc.file, nil) {
				if ev.Method == "COMMAND" {
					continue
				}
				if ev.Error != nil {
					t.Errorf("decode note: %s", summary(ev))
				}
				counts[ev.Status+" "+ev.Method]++
				got = append(got, summary(ev))
			}
			for k, n := range tc.counts {
				if counts[k] != n {
					t.Errorf("%d %q events, want %d", counts[k], k, n)
				}
			}
			i := 0
			for _, g := range got {
				if i < len(tc.in) && g == tc.in[i] {
					i++
				}
			}
			if i < len(tc.in) {
				t.Errorf("missing (in order) %q in\n%s", tc.in[i], strings.Join(got, "\n"))
			}
		})
	}
}

// TestEventsStable: replies and errors made in the parser's arena keep their text once the
// event is emitted, while later replies are read.
func TestEventsStable(t *testing.T) {
	for _, f := range []string{"cli.pcap", "pipe.pcap", "pubsub.pcap", "resp3.pcap"} {
		stable.CheckParser(t, New, func(pf protocols.Factory) { protocoltest.Replay(readSegs(t, f), pf, nil) })
	}
}
