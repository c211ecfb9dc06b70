package http

import (
	"path/filepath"
	"testing"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// FuzzParser feeds arbitrary bytes to both directions, in chunks whose sizes come from the
// input, with gaps now and then: the parser must not panic, must stay within its bounds, and
// every event must be a well-formed http event.
func FuzzParser(f *testing.F) {
	for _, file := range []string{"curl.pcap", "pipelined.pcap"} {
		cli, srv := protocoltest.Halves(readSegs(f, file))
		f.Add(cli[:min(len(cli), 4096)], srv[:min(len(srv), 4096)], []byte{5, 200, 17, 1}, false)
	}
	for _, pc := range h2Pcaps {
		segs := protocoltest.ReadSegments(f, filepath.Join("..", "http2", "testdata", pc.file), pc.port)
		cli, srv := protocoltest.Halves(segs)
		f.Add(cli[:min(len(cli), 4096)], srv[:min(len(srv), 4096)], []byte{9, 100, 24, 1}, false)
	}
	for _, tc := range convCases {
		cli, srv := protocoltest.StepHalves(tc.steps)
		f.Add(cli, srv, []byte{1, 3, 64}, tc.mid)
	}
	f.Fuzz(func(t *testing.T, cli, srv, cuts []byte, mid bool) {
		conn := testConn
		conn.MidStream = mid
		opts := &protocols.Options{MaxQueryLength: 100, HTTPHeaders: []string{"cookie", "x-a"}, HTTPBodyBytes: 16}
		sink := protocols.SinkFunc(func(ev *event.Event) {
			h2 := ev.HTTP != nil && ev.HTTP.Version == "2" // handed over: fields may be missing, never invented
			if ev.Type != event.TypeHTTP || ev.HTTP == nil || (ev.URL == nil || ev.Method == "") && !h2 || ev.Event.Duration < 0 {
				t.Fatalf("bad event %+v", ev)
			}
			if len(ev.Query) > 100 || ev.HTTP.Request.Headers["cookie"] != "" && ev.HTTP.Request.Headers["cookie"] != redacted {
				t.Fatalf("query %q, headers %v", ev.Query, ev.HTTP.Request.Headers)
			}
			if b := ev.HTTP.Response; b != nil && b.Body != nil && len(b.Body.Content) > 16 {
				t.Fatalf("body content %d bytes", len(b.Body.Content))
			}
		})
		p := New(&conn, opts, sink).(*parser)
		protocoltest.Feed(p, cli, srv, cuts, func() {
			if p.queue.Len() > maxPending || len(p.rd[0].head) > maxHead || len(p.rd[1].head) > maxHead {
				t.Fatalf("bounds: queue %d heads %d/%d", p.queue.Len(), len(p.rd[0].head), len(p.rd[1].head))
			}
		})
	})
}
