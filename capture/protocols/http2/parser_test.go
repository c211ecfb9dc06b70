package http2

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	xhttp2 "golang.org/x/net/http2"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
)

const (
	cli = protocols.ToServer
	srv = protocols.ToClient
)

var convCases = []struct {
	name  string
	build func(c *conv)
	want  []string
}{
	{"get post 404 on one connection", func(c *conv) {
		c.get(1, "/a?x=1")
		c.respond(1, "200", "hello")
		c.headers(cli, 3, false, ":method", "POST", ":scheme", "http", ":authority", "example.com", ":path", "/form")
		c.data(cli, 3, true, "k=v&w=z")
		c.respond(3, "201", "")
		c.get(5, "/missing")
		c.respond(5, "404", "not found")
	}, []string{"OK GET /a?x=1 200 body=5", "OK POST /form 201 reqbody=7", "Error GET /missing 404 body=9"}},

	{"continuation", func(c *conv) {
		b := c.block(cli, ":method", "GET", ":scheme", "http", ":authority", "example.com", ":path", "/split",
			"x-long", strings.Repeat("v", 300), "user-agent", "cont/1")
		c.do(cli, func(f *xhttp2.Framer) error {
			if err := f.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:10], EndStream: true}); err != nil {
				return err
			}
			if err := f.WriteContinuation(1, false, b[10:100]); err != nil {
				return err
			}
			return f.WriteContinuation(1, true, b[100:])
		})
		c.respond(1, "200", "ok")
	}, []string{"OK GET /split 200 body=2"}},

	{"padding", func(c *conv) {
		b := c.block(cli, ":method", "POST", ":scheme", "http", ":authority", "example.com", ":path", "/pad")
		c.do(cli, func(f *xhttp2.Framer) error {
			if err := f.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: b, EndHeaders: true, PadLength: 17}); err != nil {
				return err
			}
			return f.WriteDataPadded(1, true, []byte("twelve bytes"), make([]byte, 40))
		})
		r := c.block(srv, ":status", "200")
		c.do(srv, func(f *xhttp2.Framer) error {
			if err := f.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: r, EndHeaders: true, PadLength: 255}); err != nil {
				return err
			}
			if err := f.WriteDataPadded(1, false, []byte("abc"), make([]byte, 3)); err != nil {
				return err
			}
			return f.WriteDataPadded(1, true, nil, make([]byte, 9)) // all padding
		})
	}, []string{"OK POST /pad 200 body=3 reqbody=12"}},

	{"priority", func(c *conv) {
		b := c.block(cli, ":method", "GET", ":scheme", "http", ":authority", "example.com", ":path", "/prio")
		c.do(cli, func(f *xhttp2.Framer) error {
			if err := f.WritePriority(3, xhttp2.PriorityParam{StreamDep: 0, Weight: 200}); err != nil {
				return err
			}
			return f.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: b, EndStream: true, EndHeaders: true,
				Priority: xhttp2.PriorityParam{StreamDep: 3, Exclusive: true, Weight: 15}})
		})
		c.do(srv, func(f *xhttp2.Framer) error { return f.WritePriority(1, xhttp2.PriorityParam{StreamDep: 0, Weight: 1}) })
		c.respond(1, "200", "p")
	}, []string{"OK GET /prio 200 body=1"}},

	{"rst_stream", func(c *conv) {
		c.get(1, "/slow")
		c.headers(srv, 1, false, ":status", "200")
		c.data(srv, 1, false, "part")
		c.do(cli, func(f *xhttp2.Framer) error { return f.WriteRSTStream(1, xhttp2.ErrCodeCancel) })
		c.get(3, "/refused")
		c.do(srv, func(f *xhttp2.Framer) error { return f.WriteRSTStream(3, xhttp2.ErrCodeRefusedStream) })
		// a complete response, then RST_STREAM(NO_ERROR) to stop the client's upload
		c.headers(cli, 5, false, ":method", "PUT", ":scheme", "http", ":authority", "example.com", ":path", "/up")
		c.data(cli, 5, false, "some")
		c.respond(5, "413", "")
		c.do(srv, func(f *xhttp2.Framer) error { return f.WriteRSTStream(5, xhttp2.ErrCodeNo) })
	}, []string{
		`Error GET /slow 200 body=4 note="stream reset by client: CANCEL"`,
		`Error GET /refused note="stream reset by server: REFUSED_STREAM"`,
		"Error PUT /up 413 reqbody=4",
	}},

	{"goaway", func(c *conv) {
		c.get(1, "/one")
		c.get(3, "/two")
		c.get(5, "/three")
		c.do(srv, func(f *xhttp2.Framer) error { return f.WriteGoAway(3, xhttp2.ErrCodeEnhanceYourCalm, []byte("calm")) })
		c.respond(1, "200", "1")
		c.respond(3, "200", "3")
	}, []string{`Error GET /three note="stream refused by GOAWAY: ENHANCE_YOUR_CALM"`, "OK GET /one 200 body=1", "OK GET /two 200 body=1"}},

	{"settings header table size", func(c *conv) {
		// The server allows the client a 16 KiB table; the client's encoder takes it, and its
		// header blocks start with a table size update above the default 4096.
		c.do(srv, func(f *xhttp2.Framer) error {
			return f.WriteSettings(xhttp2.Setting{ID: xhttp2.SettingHeaderTableSize, Val: 16384})
		})
		c.do(cli, func(f *xhttp2.Framer) error { return f.WriteSettingsAck() })
		c.enc[cli].SetMaxDynamicTableSizeLimit(16384)
		c.enc[cli].SetMaxDynamicTableSize(16384)
		big := strings.Repeat("b", 3000)
		c.get(1, "/t1", "x-big", big)
		c.respond(1, "200", "")
		c.get(3, "/t2", "x-big", big) // indexed from the dynamic table
		c.respond(3, "200", "")
		// The client shrinks the server's table to 0: the server's encoder must say so.
		c.do(cli, func(f *xhttp2.Framer) error {
			return f.WriteSettings(xhttp2.Setting{ID: xhttp2.SettingHeaderTableSize, Val: 0})
		})
		c.enc[srv].SetMaxDynamicTableSize(0)
		c.get(5, "/t3", "x-big", big)
		c.respond(5, "204", "")
	}, []string{"OK GET /t1 200", "OK GET /t2 200", "OK GET /t3 204"}},

	{"trailers", func(c *conv) {
		c.headers(cli, 1, false, ":method", "POST", ":scheme", "http", ":authority", "example.com", ":path", "/upload", "te", "trailers")
		c.data(cli, 1, true, "data")
		c.headers(srv, 1, false, ":status", "200", "content-type", "text/plain")
		c.data(srv, 1, false, "result")
		c.headers(srv, 1, true, "x-checksum", "abc", "x-status", "done")
	}, []string{"OK POST /upload 200 body=6 reqbody=4"}},

	{"informational 100 then final", func(c *conv) {
		c.headers(cli, 1, false, ":method", "PUT", ":scheme", "http", ":authority", "example.com", ":path", "/c", "expect", "100-continue")
		c.headers(srv, 1, false, ":status", "100")
		c.data(cli, 1, true, "xyz")
		c.respond(1, "201", "")
	}, []string{"OK PUT /c 201 reqbody=3"}},

	{"grpc unary ok", func(c *conv) {
		grpcCall(c, 1, "/helloworld.Greeter/SayHello", []string{grpcMsg("req")}, []string{grpcMsg("reply")}, "0", "")
	}, []string{"OK POST /helloworld.Greeter/SayHello 200 body=10 reqbody=8 grpc=helloworld.Greeter/SayHello code=0 msgs=1/1"}},

	{"grpc streaming counts and not found", func(c *conv) {
		grpcCall(c, 1, "/pkg.Svc/Stream", []string{grpcMsg("a") + grpcMsg("bb"), grpcMsg("")},
			[]string{grpcMsg("1"), grpcMsg("22") + grpcMsg("333"), grpcMsg("4")}, "0", "")
		grpcCall(c, 3, "/pkg.Svc/Get", []string{grpcMsg("key")}, nil, "5", "no%20such%20key%3A%20%E2%9C%93")
	}, []string{
		"OK POST /pkg.Svc/Stream 200 body=27 reqbody=18 grpc=pkg.Svc/Stream code=0 msgs=3/4",
		`Error POST /pkg.Svc/Get 200 reqbody=8 grpc=pkg.Svc/Get code=5 msgs=1/0 note="no such key: ✓"`,
	}},

	{"grpc trailers-only", func(c *conv) {
		c.headers(cli, 1, false, ":method", "POST", ":scheme", "http", ":authority", "svc:50051", ":path", "/pkg.Svc/Missing",
			"content-type", "application/grpc", "te", "trailers")
		c.data(cli, 1, true, grpcMsg("x"))
		c.headers(srv, 1, true, ":status", "200", "content-type", "application/grpc", "grpc-status", "12", "grpc-message", "unknown method")
	}, []string{`Error POST /pkg.Svc/Missing 200 reqbody=6 grpc=pkg.Svc/Missing code=12 msgs=1/0 note="unknown method"`}},

	{"grpc reset without status", func(c *conv) {
		c.headers(cli, 1, false, ":method", "POST", ":scheme", "http", ":authority", "svc", ":path", "/pkg.Svc/Slow",
			"content-type", "application/grpc", "grpc-timeout", "100m")
		c.data(cli, 1, true, grpcMsg("x"))
		c.do(cli, func(f *xhttp2.Framer) error { return f.WriteRSTStream(1, xhttp2.ErrCodeCancel) })
	}, []string{`Error POST /pkg.Svc/Slow reqbody=6 grpc=pkg.Svc/Slow msgs=1/0 note="stream reset by client: CANCEL"`}},

	{"unanswered at close", func(c *conv) {
		c.get(1, "/never")
		c.get(3, "/cut")
		c.headers(srv, 3, false, ":status", "200")
		c.data(srv, 3, false, "par")
		// the server answered in full before the client ended its upload
		c.headers(cli, 5, false, ":method", "POST", ":scheme", "http", ":authority", "example.com", ":path", "/early")
		c.respond(5, "403", "no")
	}, []string{
		`Error GET /never note="response not captured"`, `Error GET /cut 200 body=3 note="connection closed before the response was complete"`,
		"Error POST /early 403 body=2",
	}},

	{"ping window_update and unknown frame types are skipped", func(c *conv) {
		c.do(cli, func(f *xhttp2.Framer) error { return f.WritePing(false, [8]byte{1, 2, 3}) })
		c.do(srv, func(f *xhttp2.Framer) error { return f.WritePing(true, [8]byte{1, 2, 3}) })
		c.do(cli, func(f *xhttp2.Framer) error { return f.WriteWindowUpdate(0, 1<<20) })
		c.get(1, "/x")
		c.do(srv, func(f *xhttp2.Framer) error { return f.WriteWindowUpdate(1, 100) })
		c.respond(1, "200", "x")
	}, []string{"OK GET /x 200 body=1"}},
}

// grpcCall plays one gRPC call on stream id: the request messages (one DATA frame each), the
// response headers, the response messages, and trailers with status and message.
func grpcCall(c *conv, id uint32, path string, req, resp []string, status, msg string) {
	c.headers(cli, id, false, ":method", "POST", ":scheme", "http", ":authority", "svc:50051", ":path", path,
		"content-type", "application/grpc", "te", "trailers", "user-agent", "grpc-go/1.83.2")
	for i, m := range req {
		c.data(cli, id, i == len(req)-1, m)
	}
	c.headers(srv, id, false, ":status", "200", "content-type", "application/grpc")
	for _, m := range resp {
		c.data(srv, id, false, m)
	}
	kv := []string{"grpc-status", status}
	if msg != "" {
		kv = append(kv, "grpc-message", msg)
	}
	c.headers(srv, id, true, kv...)
}

func TestConversations(t *testing.T) {
	for _, tc := range convCases {
		t.Run(tc.name, func(t *testing.T) {
			c := newConv(t)
			tc.build(c)
			for _, chunk := range []int{0, 1, 7} {
				got := summaries(c.run(testConn, nil, chunk))
				if !slices.Equal(got, tc.want) {
					t.Errorf("chunk %d:\n%s\nwant\n%s", chunk, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
				}
			}
		})
	}
}

// TestInterleaved runs 200 concurrent streams whose frames are interleaved: every request is
// sent before any answer, responses come in a shuffled order in several DATA frames each.
func TestInterleaved(t *testing.T) {
	c := newConv(t)
	const n = 200
	for i := range n {
		c.get(uint32(2*i+1), "/item/"+itoa(i), "x-req", itoa(i))
	}
	for i := range n {
		id := uint32(2*((i*7919)%n) + 1)
		c.headers(srv, id, false, ":status", "200", "x-item", itoa(i))
	}
	for round := range 3 {
		for i := range n {
			id := uint32(2*((i*104729)%n) + 1)
			c.data(srv, id, round == 2, strings.Repeat("z", int(id%13)+round))
		}
	}
	evs := c.run(testConn, &protocols.Options{HTTPHeaders: []string{"x-req"}}, 0)
	if len(evs) != n {
		t.Fatalf("%d events, want %d", len(evs), n)
	}
	seen := map[string]bool{}
	for _, ev := range evs {
		num := strings.TrimPrefix(ev.URL.Path, "/item/")
		id := 2*atoi(num) + 1
		wantBody := uint64(3*(id%13) + 3)
		if ev.Status != event.StatusOK || ev.HTTP.Request.Headers["x-req"] != num || ev.HTTP.Response.Body.Bytes != wantBody || seen[num] {
			t.Errorf("stream %d: %s headers %v", id, summary(ev), ev.HTTP.Request.Headers)
		}
		seen[num] = true
	}
}

// TestFields checks one event's fields: url.* from :path and :authority, user agent, bytes,
// headers only as configured, credentials always redacted.
func TestFields(t *testing.T) {
	c := newConv(t)
	c.get(1, "/p?q=1#frag", "user-agent", "nghttp2/1.52.0", "authorization", "Bearer s3cret", "cookie", "a=b", "x-keep", "yes")
	c.headers(srv, 1, false, ":status", "200", "set-cookie", "sid=1", "content-type", "text/plain")
	c.data(srv, 1, true, "body!")
	ev := c.run(testConn, &protocols.Options{HTTPHeaders: []string{"Authorization", "cookie", "set-cookie", "x-keep", "content-type"}, HTTPBodyBytes: 3}, 0)[0]
	if ev.Type != event.TypeHTTP || ev.HTTP.Version != "2" || ev.Method != "GET" || ev.Query != "GET /p?q=1#frag" {
		t.Errorf("type %q version %q method %q query %q", ev.Type, ev.HTTP.Version, ev.Method, ev.Query)
	}
	if u := ev.URL; u.Original != "/p?q=1#frag" || u.Path != "/p" || u.Query != "q=1" || u.Domain != "example.com" || u.Port != 8080 {
		t.Errorf("url %+v", u)
	}
	if ev.UserAgent == nil || ev.UserAgent.Original != "nghttp2/1.52.0" {
		t.Errorf("user agent %+v", ev.UserAgent)
	}
	h := ev.HTTP.Request.Headers
	if h["authorization"] != "[redacted]" || h["cookie"] != "[redacted]" || h["x-keep"] != "yes" || len(h) != 3 {
		t.Errorf("request headers %v", h)
	}
	r := ev.HTTP.Response
	if r.Headers["set-cookie"] != "[redacted]" || r.Headers["content-type"] != "text/plain" || r.Body.Content != "bod" || r.Body.Bytes != 5 {
		t.Errorf("response %+v body %+v", r, r.Body)
	}
	if ev.Client.Bytes != ev.HTTP.Request.Bytes || ev.Server.Bytes != r.Bytes || r.Bytes == 0 || ev.Event.Duration < 0 {
		t.Errorf("bytes client %d/%d server %d/%d", ev.Client.Bytes, ev.HTTP.Request.Bytes, ev.Server.Bytes, r.Bytes)
	}
	// Without configuration: no headers and no body content.
	ev = c.run(testConn, nil, 0)[0]
	if ev.HTTP.Request.Headers != nil || ev.HTTP.Response.Headers != nil || ev.HTTP.Response.Body.Content != "" {
		t.Errorf("headers or body without configuration: %+v", ev.HTTP)
	}
}

// TestNotHTTP2: a client that does not send the preface is not decoded.
func TestNotHTTP2(t *testing.T) {
	c := &conv{t: t}
	c.raw(cli, "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
	c.raw(srv, "\x00\x00\x00\x04\x00\x00\x00\x00\x00")
	if evs := c.run(testConn, nil, 0); len(evs) != 0 {
		t.Errorf("events from a connection without the preface: %v", summaries(evs))
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }
