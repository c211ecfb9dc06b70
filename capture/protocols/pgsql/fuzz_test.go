package pgsql

import (
	"testing"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// FuzzParser feeds arbitrary bytes to both directions, in chunks whose sizes come from the
// input, with gaps now and then: the parser must not panic, must keep within its bounds, and
// every event it emits must be a well-formed pgsql event.
func FuzzParser(f *testing.F) {
	for _, file := range []string{"simple.pcap", "pgx.pcap", "pgbench_prepared.pcap", "cancel.pcap", "ssl.pcap"} {
		var cli, srv []byte
		for _, st := range pcapSteps(f, file) {
			if st.dir == protocols.ToServer {
				cli = append(cli, st.data...)
			} else {
				srv = append(srv, st.data...)
			}
		}
		f.Add(cli[:min(len(cli), 4096)], srv[:min(len(srv), 4096)], []byte{5, 200, 17, 1}, false)
	}
	for _, tc := range convCases {
		var cli, srv []byte
		for _, st := range tc.steps {
			if st.dir == protocols.ToServer {
				cli = append(cli, st.data...)
			} else {
				srv = append(srv, st.data...)
			}
		}
		f.Add(cli, srv, []byte{1, 3, 64}, tc.mid)
	}
	f.Fuzz(func(t *testing.T, cli, srv, cuts []byte, mid bool) {
		conn := testConn
		conn.MidStream = mid
		var n int
		sink := protocols.SinkFunc(func(ev *event.Event) {
			n++
			if ev.Type != event.TypePgSQL || ev.PgSQL == nil || ev.Event.Duration < 0 {
				t.Fatalf("bad event %+v", ev)
			}
		})
		p := New(&conn, &protocols.Options{MaxMessageBytes: 512, MaxQueryLength: 100, MaskLiterals: true}, sink).(*parser)
		protocoltest.Feed(p, cli, srv, cuts, func() { checkBounds(t, p) })
	})
}
