package http2

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	xhttp2 "golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

var testConn = protocols.Conn{
	Client:      netip.MustParseAddrPort("10.0.0.1:40000"),
	Server:      netip.MustParseAddrPort("10.0.0.2:8080"),
	Transport:   "tcp",
	CommunityID: "1:test",
}

// conv scripts an HTTP/2 conversation with golang.org/x/net/http2's Framer and hpack
// Encoder, an implementation independent of the parser's, one encoder per direction.
type conv struct {
	t     testing.TB
	steps []protocoltest.Step
	buf   [2]bytes.Buffer
	fr    [2]*xhttp2.Framer
	enc   [2]*hpack.Encoder
	hb    [2]bytes.Buffer
}

// newConv starts a prior-knowledge conversation: the preface and both SETTINGS.
func newConv(t testing.TB) *conv {
	c := &conv{t: t}
	for d := range 2 {
		c.fr[d] = xhttp2.NewFramer(&c.buf[d], nil)
		c.enc[d] = hpack.NewEncoder(&c.hb[d])
	}
	c.raw(protocols.ToServer, Preface)
	c.do(protocols.ToServer, func(f *xhttp2.Framer) error { return f.WriteSettings() })
	c.do(protocols.ToClient, func(f *xhttp2.Framer) error {
		return f.WriteSettings(xhttp2.Setting{ID: xhttp2.SettingMaxConcurrentStreams, Val: 100})
	})
	return c
}

func (c *conv) raw(d protocols.Dir, s string) {
	c.steps = append(c.steps, protocoltest.Step{Dir: d, Data: s})
}

// do writes frames with f and adds them as one step.
func (c *conv) do(d protocols.Dir, f func(*xhttp2.Framer) error) {
	c.t.Helper()
	if err := f(c.fr[d]); err != nil {
		c.t.Fatal(err)
	}
	c.raw(d, c.buf[d].String())
	c.buf[d].Reset()
}

// block encodes name/value pairs with the direction's encoder.
func (c *conv) block(d protocols.Dir, kv ...string) []byte {
	c.t.Helper()
	c.hb[d].Reset()
	for i := 0; i+1 < len(kv); i += 2 {
		if err := c.enc[d].WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]}); err != nil {
			c.t.Fatal(err)
		}
	}
	return bytes.Clone(c.hb[d].Bytes())
}

func (c *conv) headers(d protocols.Dir, id uint32, end bool, kv ...string) {
	b := c.block(d, kv...)
	c.do(d, func(f *xhttp2.Framer) error {
		return f.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: id, BlockFragment: b, EndStream: end, EndHeaders: true})
	})
}

func (c *conv) data(d protocols.Dir, id uint32, end bool, body string) {
	c.do(d, func(f *xhttp2.Framer) error { return f.WriteData(id, end, []byte(body)) })
}

func (c *conv) get(id uint32, path string, extra ...string) {
	c.headers(protocols.ToServer, id, true, append([]string{":method", "GET", ":scheme", "http", ":authority", "example.com:8080", ":path", path}, extra...)...)
}

func (c *conv) respond(id uint32, status, body string) {
	c.headers(protocols.ToClient, id, body == "", ":status", status, "content-type", "text/plain")
	if body != "" {
		c.data(protocols.ToClient, id, true, body)
	}
}

// run plays the conversation, whole or in chunks, on a parser of conn and returns events.
func (c *conv) run(conn protocols.Conn, opts *protocols.Options, chunk int) []*event.Event {
	var sink protocoltest.Collector
	p := New(&conn, opts, &sink)
	protocoltest.Drive(p, c.steps, chunk)
	return sink.Events
}

// summary is the part of an event the tests compare.
func summary(ev *event.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", ev.Status, ev.Method)
	if ev.URL != nil {
		fmt.Fprintf(&b, " %s", ev.URL.Original)
	}
	if r := ev.HTTP.Response; r != nil {
		fmt.Fprintf(&b, " %d", r.StatusCode)
		if r.Body != nil {
			fmt.Fprintf(&b, " body=%d", r.Body.Bytes)
		}
	}
	if bd := ev.HTTP.Request.Body; bd != nil {
		fmt.Fprintf(&b, " reqbody=%d", bd.Bytes)
	}
	if ev.HTTP.HeadersIncomplete {
		b.WriteString(" incomplete")
	}
	if r := ev.RPC; r != nil {
		fmt.Fprintf(&b, " grpc=%s/%s", r.Service, r.Method)
		if r.GRPC.StatusCode != nil {
			fmt.Fprintf(&b, " code=%d", *r.GRPC.StatusCode)
		}
		fmt.Fprintf(&b, " msgs=%d/%d", r.GRPC.RequestMessages, r.GRPC.ResponseMessages)
	}
	if ev.Error != nil {
		fmt.Fprintf(&b, " note=%q", ev.Error.Message)
	}
	return b.String()
}

func summaries(evs []*event.Event) []string {
	out := make([]string, 0, len(evs))
	for _, ev := range evs {
		out = append(out, summary(ev))
	}
	return out
}

// grpcMsg frames payload as one gRPC length-prefixed message.
func grpcMsg(payload string) string {
	n := len(payload)
	return string([]byte{0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}) + payload
}
