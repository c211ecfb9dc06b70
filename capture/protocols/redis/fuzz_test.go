package redis

import (
	"testing"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// FuzzParser feeds arbitrary bytes to both directions, in chunks whose sizes come from the
// input, with gaps now and then: the parser must not panic, must stay within its bounds, and
// every event must be a well-formed redis event.
func FuzzParser(f *testing.F) {
	for _, file := range []string{"cli.pcap", "pipe.pcap", "resp3.pcap", "pubsub.pcap"} {
		cli, srv := protocoltest.Halves(readSegs(f, file))
		f.Add(cli[:min(len(cli), 4096)], srv[:min(len(srv), 4096)], []byte{5, 200, 17, 1}, false)
	}
	for _, tc := range convCases {
		cli, srv := protocoltest.StepHalves(tc.steps)
		f.Add(cli, srv, []byte{1, 3, 64}, tc.mid)
	}
	f.Fuzz(func(t *testing.T, cli, srv, cuts []byte, mid bool) {
		conn := testConn
		conn.MidStream = mid
		sink := protocols.SinkFunc(func(ev *event.Event) {
			if ev.Type != event.TypeRedis || ev.Redis == nil || ev.Event.Duration < 0 || ev.Method == "" {
				t.Fatalf("bad event %+v", ev)
			}
			if len(ev.Query) > 100 || len(ev.Redis.ReturnValue) > maxSummary+len("…") {
				t.Fatalf("unbounded text: query %d, return value %d bytes", len(ev.Query), len(ev.Redis.ReturnValue))
			}
		})
		p := New(&conn, &protocols.Options{MaxMessageBytes: 512, MaxQueryLength: 100}, sink).(*parser)
		protocoltest.Feed(p, cli, srv, cuts, func() {
			if p.queue.Len() > maxPending || len(p.rd[0].line) > maxLine || len(p.rd[1].line) > maxLine ||
				len(p.rd[0].stack) > maxDepth || len(p.rd[1].stack) > maxDepth || len(p.rep.sum) > maxSummary+len("…") {
				t.Fatalf("bounds: queue %d lines %d/%d", p.queue.Len(), len(p.rd[0].line), len(p.rd[1].line))
			}
		})
	})
}
