package http2

import (
	"strings"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// frameSteps splits the bytes of steps into one step per frame (the client's preface is one
// step of its own), each at its own time, in the order of the original steps.
func frameSteps(t testing.TB, steps []protocoltest.Step) []protocoltest.Step {
	t.Helper()
	var out []protocoltest.Step
	var rest [2][]byte
	for _, st := range steps {
		d := st.Dir
		rest[d] = append(rest[d], st.Data...)
		if d == protocols.ToServer && len(out) == 0 && strings.HasPrefix(string(rest[d]), Preface) {
			out = append(out, protocoltest.Step{Dir: d, Data: Preface})
			rest[d] = rest[d][len(Preface):]
		}
		for len(rest[d]) >= frameHeaderLen {
			n := frameHeaderLen + int(parseFrameHeader(rest[d]).length)
			if len(rest[d]) < n {
				break
			}
			out = append(out, protocoltest.Step{Dir: d, Data: string(rest[d][:n])})
			rest[d] = rest[d][n:]
		}
	}
	if len(rest[0])+len(rest[1]) > 0 {
		t.Fatalf("%d/%d bytes left that are not whole frames", len(rest[0]), len(rest[1]))
	}
	return out
}

// play feeds steps one Data call each, the i-th at base + i ms, and returns the events.
func play(conn protocols.Conn, steps []protocoltest.Step, opts *protocols.Options) []*event.Event {
	var sink protocoltest.Collector
	p := New(&conn, opts, &sink)
	ts := time.Unix(1700000000, 0)
	for _, st := range steps {
		if st.Gap > 0 {
			p.Gap(st.Dir, st.Gap, ts)
			continue
		}
		p.Data(st.Dir, []byte(st.Data), ts)
		ts = ts.Add(time.Millisecond)
	}
	p.Close(ts)
	return sink.Events
}

// checkCuts starts a mid-stream parser at every frame boundary of steps and checks that every
// event it reports is one the whole capture reports (the stream starting at the same frame),
// with no field that differs: fields may be missing (headers_incomplete), never invented.
// It returns how many events the cuts reported in all, and how many had incomplete headers.
func checkCuts(t *testing.T, steps []protocoltest.Step) (total, incomplete int) {
	t.Helper()
	frames := frameSteps(t, steps)
	full := map[int64]*event.Event{}
	for _, ev := range play(testConn, frames, nil) {
		full[ev.Event.Start.UnixNano()] = ev
	}
	if len(full) == 0 {
		t.Fatal("the whole capture gives no event")
	}
	mid := testConn
	mid.MidStream = true
	for cut := 1; cut < len(frames); cut++ {
		// Each frame keeps the time it has in the whole run.
		var sink protocoltest.Collector
		p := New(&mid, nil, &sink)
		ts := time.Unix(1700000000, 0)
		for i, st := range frames {
			if i >= cut {
				p.Data(st.Dir, []byte(st.Data), ts)
			}
			ts = ts.Add(time.Millisecond)
		}
		p.Close(ts)
		for _, ev := range sink.Events {
			total++
			if ev.HTTP.HeadersIncomplete {
				incomplete++
			}
			want := full[ev.Event.Start.UnixNano()]
			if want == nil {
				t.Errorf("cut at frame %d: an event for no stream of the capture: %s", cut, summary(ev))
				continue
			}
			if msg := invented(ev, want); msg != "" {
				t.Errorf("cut at frame %d: %s\n got %s\nwant %s", cut, msg, summary(ev), summary(want))
			}
		}
	}
	return total, incomplete
}

// invented says which field of got is set but differs from the whole capture's event.
func invented(got, want *event.Event) string {
	switch {
	case got.Method != "" && got.Method != want.Method:
		return "method"
	case got.URL != nil && (want.URL == nil || got.URL.Original != "" && got.URL.Original != want.URL.Original ||
		got.URL.Path != "" && got.URL.Path != want.URL.Path || got.URL.Domain != "" && got.URL.Domain != want.URL.Domain):
		return "url"
	case got.HTTP.Response != nil && (want.HTTP.Response == nil || got.HTTP.Response.StatusCode != want.HTTP.Response.StatusCode):
		return "status code"
	case got.UserAgent != nil && (want.UserAgent == nil || *got.UserAgent != *want.UserAgent):
		return "user agent"
	case got.RPC != nil && (want.RPC == nil || got.RPC.Service != "" && got.RPC.Service != want.RPC.Service ||
		got.RPC.GRPC.StatusCode != nil && (want.RPC.GRPC.StatusCode == nil || *got.RPC.GRPC.StatusCode != *want.RPC.GRPC.StatusCode)):
		return "rpc"
	case !got.HTTP.HeadersIncomplete && got.Method != want.Method:
		return "complete headers without the method"
	}
	return ""
}

// TestMidStreamCuts cuts scripted conversations, which reuse the dynamic table heavily, at
// every frame boundary.
func TestMidStreamCuts(t *testing.T) {
	c := newConv(t)
	for i := range 6 {
		id := uint32(2*i + 1)
		c.get(id, "/same/path", "x-tenant", "acme", "user-agent", "cut-test/1")
		c.respond(id, "200", "body")
	}
	grpcCall(c, 13, "/pkg.Svc/Get", []string{grpcMsg("k")}, nil, "5", "missing")
	grpcCall(c, 15, "/pkg.Svc/Get", []string{grpcMsg("k")}, []string{grpcMsg("v")}, "0", "")
	total, incomplete := checkCuts(t, c.steps)
	t.Logf("%d events from the cuts, %d with incomplete headers", total, incomplete)
	if total == 0 || incomplete == 0 || incomplete == total {
		t.Errorf("cuts gave %d events, %d with incomplete headers: the test does not exercise both kinds", total, incomplete)
	}
}

// TestGaps: a gap inside DATA is skipped in place; one inside a header block makes the
// table unknown (the stream it began is not reported, later ones are incomplete and keep
// only what is certain); one across a frame header loses the framing until a segment starts
// with frames again.
func TestGaps(t *testing.T) {
	gap := func(d protocols.Dir, n int) protocoltest.Step { return protocoltest.Step{Dir: d, Gap: n} }
	c := newConv(t)
	c.get(1, "/same", "x-tenant", "acme")
	c.respond(1, "200", "0123456789")
	base := len(c.steps)
	c.get(3, "/same", "x-tenant", "acme")
	c.get(5, "/same", "x-tenant", "acme")
	c.respond(3, "200", "")
	c.respond(5, "200", "")
	steps := frameSteps(t, c.steps)
	idx := func(from int, dir protocols.Dir, typ uint8) int {
		for i := from; i < len(steps); i++ {
			if steps[i].Dir == dir && len(steps[i].Data) >= 9 && steps[i].Data[3] == typ {
				return i
			}
		}
		t.Fatalf("no frame of type %d after %d", typ, from)
		return 0
	}
	cases := []struct {
		name string
		edit func([]protocoltest.Step) []protocoltest.Step
		want []string
	}{
		{"inside data", func(s []protocoltest.Step) []protocoltest.Step {
			i := idx(0, srv, frameData)
			d := s[i].Data
			return replace(s, i, protocoltest.Step{Dir: srv, Data: d[:12]}, gap(srv, 4), protocoltest.Step{Dir: srv, Data: d[16:]})
		}, []string{"OK GET /same 200 body=10", "OK GET /same 200", "OK GET /same 200"}},
		{"inside a header block", func(s []protocoltest.Step) []protocoltest.Step {
			i := idx(base-1, cli, frameHeaders)
			d := s[i].Data
			return replace(s, i, protocoltest.Step{Dir: cli, Data: d[:11]}, gap(cli, len(d)-12), protocoltest.Step{Dir: cli, Data: d[len(d)-1:]})
		}, []string{"OK GET /same 200 body=10", "OK GET 200 incomplete"}},
		{"across a frame header", func(s []protocoltest.Step) []protocoltest.Step {
			i := idx(base-1, cli, frameHeaders)
			return replace(s, i, gap(cli, 3), protocoltest.Step{Dir: cli, Data: s[i].Data[3:]})
		}, []string{"OK GET /same 200 body=10", "OK GET 200 incomplete"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := summaries(play(testConn, tc.edit(steps), nil))
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("events:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func replace(s []protocoltest.Step, i int, with ...protocoltest.Step) []protocoltest.Step {
	out := append([]protocoltest.Step{}, s[:i]...)
	out = append(out, with...)
	return append(out, s[i+1:]...)
}
