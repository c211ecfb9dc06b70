package http2

import (
	"strconv"
	"testing"

	xhttp2 "golang.org/x/net/http2"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// checkBounds fails t when p holds more than its documented bounds.
func checkBounds(t *testing.T, p *parser) {
	if len(p.streams) > maxStreams {
		t.Fatalf("%d streams", len(p.streams))
	}
	for d := range 2 {
		if len(p.rd[d].buf) > maxBlock || len(p.block[d]) > maxBlock || len(p.dec[d].known) > maxKnown || p.dec[d].allowed > maxTableSize {
			t.Fatalf("direction %d: payload %d block %d known %d table %d", d, len(p.rd[d].buf), len(p.block[d]), len(p.dec[d].known), p.dec[d].allowed)
		}
	}
}

// checkEvent fails t on an event that is not a well-formed HTTP/2 event.
func checkEvent(t *testing.T, ev *event.Event) {
	if ev.Type != event.TypeHTTP || ev.HTTP == nil || ev.HTTP.Version != "2" || ev.Event.Duration < 0 {
		t.Fatalf("bad event %+v", ev)
	}
	if c := ev.HTTP.Request.Headers["cookie"]; c != "" && c != "[redacted]" {
		t.Fatalf("cookie not redacted: %q", c)
	}
	if ev.RPC != nil && ev.RPC.System != "grpc" {
		t.Fatalf("rpc %+v", ev.RPC)
	}
}

// FuzzFrames feeds arbitrary bytes to both directions of the frame reader, in chunks whose
// sizes come from the input, with gaps now and then, from the start or mid-stream: no panic,
// bounds kept, every event well formed.
func FuzzFrames(f *testing.F) {
	for _, tc := range convCases {
		c := newConv(f)
		tc.build(c)
		cli, srv := protocoltest.StepHalves(c.steps)
		f.Add(cli, srv, []byte{9, 200, 17, 1}, false)
		f.Add(cli[len(Preface):], srv, []byte{64, 3}, true)
	}
	f.Fuzz(func(t *testing.T, cli, srv, cuts []byte, mid bool) {
		conn := testConn
		conn.MidStream = mid
		opts := &protocols.Options{HTTPHeaders: []string{"cookie", "x-a"}, HTTPBodyBytes: 8}
		p := New(&conn, opts, protocols.SinkFunc(func(ev *event.Event) { checkEvent(t, ev) })).(*parser)
		protocoltest.Feed(p, cli, srv, cuts, func() { checkBounds(t, p) })
	})
}

// FuzzStreams drives the stream state machine with well-framed conversations built from the
// input by x/net/http2's Framer: requests, responses, DATA, trailers, RST_STREAM, GOAWAY,
// PRIORITY, SETTINGS and CONTINUATION in any order on a few streams. Every event must be for
// a stream whose request was sent, at most one per stream.
func FuzzStreams(f *testing.F) {
	f.Add([]byte{0, 1, 1, 1, 2, 1, 3, 1}, uint8(0))
	f.Add([]byte{0, 1, 0, 3, 1, 3, 4, 1, 6, 3, 2, 1, 8, 5, 9, 7, 5, 1, 7, 0}, uint8(5))
	f.Add([]byte{9, 1, 1, 1, 3, 1, 2, 1, 0, 3, 0, 5, 7, 2}, uint8(1))
	f.Fuzz(func(t *testing.T, ops []byte, chunk uint8) {
		c := newConv(t)
		sent := map[string]bool{}
		for i := 0; i+1 < len(ops) && i < 200; i += 2 {
			id := uint32(ops[i+1]%8)*2 + 1
			path := "/s" + strconv.Itoa(int(id))
			switch ops[i] % 10 {
			case 0:
				c.headers(cli, id, ops[i+1]&0x80 != 0, ":method", "GET", ":scheme", "http", ":authority", "h", ":path", path, "cookie", "c=1")
				sent[path] = true
			case 1:
				c.headers(srv, id, ops[i+1]&0x40 != 0, ":status", strconv.Itoa(100+int(ops[i+1])))
			case 2:
				c.data(Dir(ops[i+1]&0x80), id, ops[i+1]&0x40 != 0, "payload")
			case 3:
				c.headers(srv, id, true, "grpc-status", "3")
			case 4:
				c.do(Dir(ops[i+1]&0x80), func(f *xhttp2.Framer) error { return f.WriteRSTStream(id, xhttp2.ErrCode(ops[i+1]%14)) })
			case 5:
				c.do(srv, func(f *xhttp2.Framer) error { return f.WriteGoAway(id, xhttp2.ErrCodeNo, nil) })
			case 6:
				c.do(cli, func(f *xhttp2.Framer) error {
					return f.WritePriority(id, xhttp2.PriorityParam{StreamDep: id + 2, Weight: 3})
				})
			case 7:
				c.do(srv, func(f *xhttp2.Framer) error {
					return f.WriteSettings(xhttp2.Setting{ID: xhttp2.SettingHeaderTableSize, Val: uint32(ops[i+1]) * 64})
				})
			case 8:
				b := c.block(cli, ":method", "POST", ":scheme", "http", ":authority", "h", ":path", path, "content-type", "application/grpc")
				sent[path] = true
				c.do(cli, func(f *xhttp2.Framer) error {
					if err := f.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: id, BlockFragment: b[:len(b)/2]}); err != nil {
						return err
					}
					return f.WriteContinuation(id, true, b[len(b)/2:])
				})
			case 9:
				c.data(cli, id, false, grpcMsg("m"))
			}
		}
		seen := map[string]bool{}
		var sink protocoltest.Collector
		p := New(&testConn, nil, &sink).(*parser)
		protocoltest.Drive(p, c.steps, int(chunk))
		checkBounds(t, p)
		for _, ev := range sink.Events {
			checkEvent(t, ev)
			if ev.URL == nil || !sent[ev.URL.Path] || seen[ev.URL.Path] && ev.Error == nil {
				t.Fatalf("event for a request not sent, or twice: %s", summary(ev))
			}
			seen[ev.URL.Path] = true
		}
	})
}

// Dir maps a fuzz byte to a direction.
func Dir(b byte) protocols.Dir {
	if b != 0 {
		return srv
	}
	return cli
}
