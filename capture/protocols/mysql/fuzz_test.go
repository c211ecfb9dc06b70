package mysql

import (
	"testing"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// fuzzLimit is a small message limit, so that inputs of fuzzing size reach it.
const fuzzLimit = 512

// script encodes steps for FuzzParser: data is the bytes of all steps in order, and each ctl
// byte is one step: bit 0 the direction, bits 2-7 the length - 1 (so at most 64 bytes), and
// bit 1 with a length of 1 a gap instead of bytes.
func script(steps []step) (data, ctl []byte) {
	for _, s := range steps {
		if s.gap > 0 {
			ctl = append(ctl, byte(s.dir)|2)
			continue
		}
		for d := s.data; len(d) > 0; {
			n := min(len(d), 64)
			ctl = append(ctl, byte(s.dir)|byte(n-1)<<2)
			data = append(data, d[:n]...)
			d = d[n:]
		}
	}
	return data, ctl
}

func FuzzParser(f *testing.F) {
	for _, file := range []string{"cli.pcap", "prepared.pcap", "admin.pcap", "ssl.pcap"} {
		var steps []step
		for _, s := range protocoltest.ReadSegments(f, "testdata/"+file, testPort) {
			if len(s.Payload) > 0 && len(steps) < 60 {
				steps = append(steps, step{dir: s.Dir, data: s.Payload[:min(len(s.Payload), 300)]})
			}
		}
		data, ctl := script(steps)
		f.Add(data, ctl, false)
		f.Add(data, ctl, true)
	}
	rs, _ := resultSet(1, true, 0, "a", "b")
	data, ctl := script(append(handshake(testCaps|capDeprecateEOF),
		c2s(cmdPkt(comQuery, "SELECT c FROM t")), s2c(rs),
		c2s(cmdPkt(comStmtPrepare, "SELECT ?")), s2c(prepareOKPkt(1, 1, 1, 1), colDefPkt(2), colDefPkt(3)),
		c2s(executePkt(1)), step{dir: protocols.ToClient, gap: 10}, c2s(cmdPkt(comQuery, "LOAD DATA LOCAL INFILE 'f' INTO TABLE t")),
		s2c(pkt(1, []byte("\xfbf"))), c2s(pkt(2, []byte("1\n")), pkt(3, nil)), s2c(okPkt(4, 1, 0, 0))))
	f.Add(data, ctl, false)

	f.Fuzz(func(t *testing.T, data, ctl []byte, midStream bool) {
		conn := testConn
		conn.MidStream = midStream
		var events []*event.Event
		sink := protocols.SinkFunc(func(ev *event.Event) { events = append(events, ev) })
		p := New(&conn, &protocols.Options{MaxMessageBytes: fuzzLimit, MaxQueryLength: 100}, sink).(*Parser)
		ts := time.Unix(1700000000, 0)
		for i := 0; len(data) > 0; i++ {
			c := byte(i & 1) // once ctl runs out, alternate 16-byte pieces
			if i < len(ctl) {
				c = ctl[i]
			} else {
				c |= 15 << 2
			}
			dir := protocols.Dir(c & 1)
			n := int(c>>2) + 1
			ts = ts.Add(time.Millisecond)
			if c&2 != 0 && n == 1 {
				p.Gap(dir, 7, ts)
				continue
			}
			n = min(n, len(data))
			p.Data(dir, data[:n], ts)
			data = data[n:]
			if b := p.buffered(); b > fuzzLimit+serverKeep {
				t.Fatalf("buffered %d bytes, more than %d", b, fuzzLimit+serverKeep)
			}
			if len(p.stmts.m) > maxStmts || p.stmts.bytes > maxStmtBytes {
				t.Fatalf("statement cache %d entries, %d bytes", len(p.stmts.m), p.stmts.bytes)
			}
		}
		p.Close(ts)
		for _, ev := range events {
			if ev.Type != event.TypeMySQL || ev.Method == "" ||
				(ev.Status != event.StatusOK && ev.Status != event.StatusError) || len(ev.Query) > 100 {
				t.Fatalf("malformed event: %+v", ev)
			}
		}
	})
}
