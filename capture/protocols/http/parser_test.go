package http

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

var testConn = protocols.Conn{
	Client:      netip.MustParseAddrPort("10.0.0.1:40000"),
	Server:      netip.MustParseAddrPort("10.0.0.2:80"),
	Transport:   "tcp",
	CommunityID: "1:test",
}

// step is one Data (or, with Gap > 0, one Gap) call.
type step = protocoltest.Step

func c(s string) step { return step{Dir: protocols.ToServer, Data: s} }
func s(v string) step { return step{Dir: protocols.ToClient, Data: v} }

func req(line string, hdrs ...string) string {
	return line + "\r\nHost: example.com\r\n" + strings.Join(append(hdrs, ""), "\r\n") + "\r\n"
}

func resp(code string, body string, hdrs ...string) string {
	return "HTTP/1.1 " + code + "\r\n" + strings.Join(append(hdrs, ""), "\r\n") + "\r\n" + body
}

// run feeds steps, whole or in chunks of size chunk, and returns the events' summaries.
func run(t *testing.T, steps []step, mid bool, opts *protocols.Options, chunk int) []string {
	t.Helper()
	conn := testConn
	conn.MidStream = mid
	var out []string
	p := New(&conn, opts, protocols.SinkFunc(func(ev *event.Event) {
		if ev.Type != event.TypeHTTP || ev.HTTP == nil || ev.URL == nil || ev.Event.Duration < 0 {
			t.Fatalf("bad event %+v", ev)
		}
		out = append(out, summary(ev))
	}))
	protocoltest.Drive(p, steps, chunk)
	return out
}

var convCases = []struct {
	name  string
	mid   bool
	steps []step
	want  []string
}{
	{"keep-alive content-length", false, []step{
		c(req("GET /a?q=1 HTTP/1.1")), s(resp("200 OK", "hello", "Content-Length: 5")),
		c(req("POST /b HTTP/1.1", "Content-Length: 3") + "abc"), s(resp("201 Created", "", "Content-Length: 0")),
	}, []string{"OK GET /a?q=1 200 body=5 host=example.com", "OK POST /b 201 reqbody=3 host=example.com"}},
	{"pipelined with HEAD 204 304", false, []step{
		c(req("HEAD /h HTTP/1.1") + req("GET /n HTTP/1.1") + req("GET /c HTTP/1.1", "If-None-Match: x") + req("GET /z HTTP/1.1")),
		s(resp("200 OK", "", "Content-Length: 1000") + resp("204 No Content", "") + resp("304 Not Modified", "", "Content-Length: 12") +
			resp("200 OK", "zz", "Content-Length: 2")),
	}, []string{
		"OK HEAD /h 200 host=example.com", "OK GET /n 204 host=example.com", "OK GET /c 304 host=example.com",
		"OK GET /z 200 body=2 host=example.com",
	}},
	{"chunked with extension and trailer", false, []step{
		c(req("PUT /u HTTP/1.1", "Transfer-Encoding: chunked") + "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 1\r\n\r\n"),
		s(resp("200 OK", "A\r\n0123456789\r\n0\r\n\r\n", "Transfer-Encoding: gzip, chunked")),
	}, []string{"OK PUT /u 200 body=10 reqbody=5 host=example.com"}},
	{"expect 100-continue", false, []step{
		c(req("PUT /up HTTP/1.1", "Expect: 100-continue", "Content-Length: 4")), s("HTTP/1.1 100 Continue\r\n\r\n"),
		c("data"), s(resp("201 Created", "ok", "Content-Length: 2")),
	}, []string{"OK PUT /up 201 body=2 reqbody=4 host=example.com"}},
	{"read until close", false, []step{
		c(req("GET /old HTTP/1.0")), s("HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nall of it"), s(" and more"),
	}, []string{"OK GET /old 200 body=18 host=example.com"}},
	{"client errors and server errors", false, []step{
		c(req("GET /x HTTP/1.1") + req("DELETE /y HTTP/1.1")),
		s(resp("404 Not Found", "", "Content-Length: 0") + resp("500 Internal Server Error", "", "Content-Length: 0")),
	}, []string{"Error GET /x 404 host=example.com", "Error DELETE /y 500 host=example.com"}},
	{"upgrade stops decoding", false, []step{
		c(req("GET /ws HTTP/1.1", "Upgrade: websocket", "Connection: Upgrade")),
		s(resp("101 Switching Protocols", "", "Upgrade: websocket")), c("\x81\x05hello"), s("\x81\x02hi"),
	}, []string{"OK GET /ws 101 host=example.com"}},
	{"absolute target", false, []step{
		c("GET http://Proxy.Example:8080/p?q HTTP/1.1\r\n\r\n"), s(resp("200 OK", "", "Content-Length: 0")),
	}, []string{"OK GET http://Proxy.Example:8080/p?q 200 host=proxy.example"}},
	{"connect tunnel", false, []step{
		c("CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n"), s(resp("200 Connection Established", "")),
		c("\x16\x03\x01 tls bytes"), s("\x16\x03\x03 more tls"),
	}, []string{"OK CONNECT db.internal:5432 200 host=db.internal"}},
	{"no response", false, []step{c(req("GET /slow HTTP/1.1"))},
		[]string{`Error GET /slow host=example.com note="response not captured"`}},
	{"response cut by close", false, []step{c(req("GET /big HTTP/1.1")), s(resp("200 OK", "abc", "Content-Length: 10"))},
		[]string{`Error GET /big 200 body=3 host=example.com note="connection closed before the response was complete"`}},
	{"gap inside a body is skipped", false, []step{
		c(req("GET /g HTTP/1.1") + req("GET /h HTTP/1.1")), s(resp("200 OK", "ab", "Content-Length: 10")),
		{Dir: protocols.ToClient, Gap: 5}, s("xyz" + resp("200 OK", "", "Content-Length: 0")),
	}, []string{"OK GET /g 200 body=10 host=example.com", "OK GET /h 200 host=example.com"}},
	{"gap in a head loses the pairing", false, []step{
		c(req("GET /1 HTTP/1.1") + req("GET /2 HTTP/1.1")), s("HTTP/1.1 200"), {Dir: protocols.ToClient, Gap: 40},
		s("junk\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
		c(req("GET /3 HTTP/1.1")), s(resp("200 OK", "", "Content-Length: 0")),
	}, []string{
		`Error GET /1 host=example.com note="response not captured"`, `Error GET /2 host=example.com note="response not captured"`,
		"OK GET /3 200 host=example.com",
	}},
	{"client gap resynchronises on a request line", false, []step{
		c("POST /a HTTP/1.1\r\nContent-Le"), {Dir: protocols.ToServer, Gap: 30}, c("garbage\r\n" + req("GET /b HTTP/1.1")),
		s(resp("200 OK", "", "Content-Length: 0")),
	}, []string{"OK GET /b 200 host=example.com"}},
	{"mid-stream", true, []step{
		c("ody of an earlier request\r\n" + req("GET /m HTTP/1.1")), s(resp("200 OK", "m", "Content-Length: 1")),
	}, []string{"OK GET /m 200 body=1 host=example.com"}},
	{"garbage", false, []step{c("\x16\x03\x01\x00\x05hello\r\n\r\n"), s(resp("400 Bad Request", "", "Content-Length: 0"))}, nil},
	{"malformed header", false, []step{
		c("GET / HTTP/1.1\r\nno colon here\r\n\r\n"), s(resp("400 Bad Request", "", "Content-Length: 0")),
	}, nil},
	{"conflicting lengths", false, []step{
		c("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"), s(resp("400 Bad Request", "", "Content-Length: 0")),
	}, nil},
	{"bad chunk size", false, []step{
		c(req("GET / HTTP/1.1")), s(resp("200 OK", "zz\r\n", "Transfer-Encoding: chunked")),
	}, []string{`Error GET / 200 host=example.com note="response not captured"`}},
}

func TestConversations(t *testing.T) {
	for _, tc := range convCases {
		t.Run(tc.name, func(t *testing.T) {
			whole := run(t, tc.steps, tc.mid, nil, 0)
			if !slices.Equal(whole, tc.want) {
				t.Errorf("events:\n got  %q\n want %q", whole, tc.want)
			}
			if tc.mid || strings.Contains(tc.name, "gap") {
				return // these rely on where segments start
			}
			if bytewise := run(t, tc.steps, tc.mid, nil, 1); !slices.Equal(bytewise, whole) {
				t.Errorf("byte by byte:\n got  %q\n want %q", bytewise, whole)
			}
		})
	}
}

func TestRedaction(t *testing.T) {
	conn := testConn
	var ev *event.Event
	p := New(&conn, &protocols.Options{HTTPHeaders: []string{"Authorization", "Cookie", "Set-Cookie", "X-Trace", "Proxy-Authorization"}},
		protocols.SinkFunc(func(e *event.Event) { ev = e }))
	ts := time.Unix(1700000000, 0)
	p.Data(protocols.ToServer, []byte(req("GET / HTTP/1.1", "Authorization: Basic dXNlcjpwYXNz", "Cookie: a=1", "Cookie: b=2",
		"Proxy-Authorization: x", "X-Trace: t1", "x-trace: t2")), ts)
	p.Data(protocols.ToClient, []byte(resp("200 OK", "", "Set-Cookie: sid=secret", "Set-Cookie: o=1", "Content-Length: 0")), ts)
	p.Close(ts)
	if ev == nil {
		t.Fatal("no event")
	}
	want := map[string]string{"authorization": redacted, "cookie": redacted, "proxy-authorization": redacted, "x-trace": "t1, t2"}
	if got := ev.HTTP.Request.Headers; len(got) != len(want) || got["authorization"] != redacted || got["cookie"] != redacted ||
		got["proxy-authorization"] != redacted || got["x-trace"] != "t1, t2" {
		t.Errorf("request headers %v, want %v", got, want)
	}
	if got := ev.HTTP.Response.Headers; len(got) != 1 || got["set-cookie"] != redacted {
		t.Errorf("response headers %v", got)
	}
}

// TestTruncatedInput cuts a real exchange at every length: no panic, no event the whole
// exchange does not have.
func TestTruncatedInput(t *testing.T) {
	var cli, srv []byte
	for _, sg := range readSegs(t, "curl.pcap") {
		if sg.Client.Port() != readSegs(t, "curl.pcap")[0].Client.Port() {
			break
		}
		if sg.Dir == protocols.ToServer {
			cli = append(cli, sg.Payload...)
		} else {
			srv = append(srv, sg.Payload...)
		}
	}
	full := run(t, []step{c(string(cli)), s(string(srv))}, false, nil, 0)
	if len(full) != 5 {
		t.Fatalf("%d events for the keep-alive connection, want 5", len(full))
	}
	for n := 0; n <= len(srv); n += 3 {
		got := run(t, []step{c(string(cli)), s(string(srv[:n]))}, false, nil, 0)
		if len(got) != len(full) {
			t.Fatalf("server cut at %d: %d events, want %d", n, len(got), len(full))
		}
		for i := range got {
			if got[i] != full[i] && !strings.Contains(got[i], "note=") {
				t.Fatalf("server cut at %d: event %d %q, whole %q", n, i, got[i], full[i])
			}
		}
	}
	for n := 0; n <= len(cli); n += 3 {
		got := run(t, []step{c(string(cli[:n])), s(string(srv))}, false, nil, 0)
		for i := range got {
			if got[i] != full[i] {
				t.Fatalf("client cut at %d: event %d %q, whole %q", n, i, got[i], full[i])
			}
		}
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name string
		b    string
		dir  protocols.Dir
		want bool
	}{
		{"get", "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n", protocols.ToServer, true},
		{"post cut", "POST /api/v1/ite", protocols.ToServer, true},
		{"options star", "OPTIONS * HTTP/1.1\r\n", protocols.ToServer, true},
		// HTTP/2 with prior knowledge is handed to protocols/http2.
		{"h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", protocols.ToServer, true},
		{"h2 preface cut", "PRI * HT", protocols.ToServer, true},
		{"h2 preface too short to tell", "PRI", protocols.ToServer, false},
		{"h2 preface wrong", "PRI * HTTP/2.1\r\n", protocols.ToServer, false},
		{"http/2 version", "GET / HTTP/2.0\r\n", protocols.ToServer, false},
		{"redis inline", "GET key\r\n", protocols.ToServer, false},
		{"lowercase", "get / HTTP/1.1\r\n", protocols.ToServer, false},
		{"tls", "\x16\x03\x01\x02\x00\x01", protocols.ToServer, false},
		{"response", "HTTP/1.1 200 OK\r\n", protocols.ToClient, true},
		{"response no phrase", "HTTP/1.1 204\r\n", protocols.ToClient, true},
		{"response cut", "HTTP/1.1 2", protocols.ToClient, false},
		{"not http", "+OK\r\n", protocols.ToClient, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Detect([]byte(tc.b), tc.dir); got != tc.want {
				t.Errorf("Detect(%q, %v) = %v", tc.b, tc.dir, got)
			}
		})
	}
}

// TestTooManyInFlight: past 1024 unanswered requests a request is reported at once as not
// tracked, its response is skipped, and the pairing of the others stays right.
func TestTooManyInFlight(t *testing.T) {
	var reqs, resps strings.Builder
	for i := range maxPending + 10 {
		reqs.WriteString(req("GET /" + strconv.Itoa(i) + " HTTP/1.1"))
		// Body lengths 1 to 7 in turn: a response paired with a neighbour's request shows.
		resps.WriteString(resp("200 OK", strings.Repeat("x", i%7+1), "Content-Length: "+strconv.Itoa(i%7+1)))
	}
	got := run(t, []step{c(reqs.String()), s(resps.String()), c(req("GET /last HTTP/1.1")), s(resp("404 Not Found", "", "Content-Length: 0"))}, false, nil, 0)
	var tooMany, paired int
	for _, g := range got {
		switch {
		case strings.Contains(g, noteTooMany):
			tooMany++
		case strings.HasPrefix(g, "OK GET /"):
			var n, code, body int
			if _, err := fmt.Sscanf(g, "OK GET /%d %d body=%d", &n, &code, &body); err == nil && n%7+1 == body {
				paired++
			}
		}
	}
	if tooMany != 10 || paired != maxPending || got[len(got)-1] != "Error GET /last 404 host=example.com" {
		t.Errorf("%d events, %d not tracked (want 10), %d paired (want %d), last %q", len(got), tooMany, paired, maxPending, got[len(got)-1])
	}
}

func TestTrimBlanks(t *testing.T) {
	for _, v := range []string{"", " ", "\t", "a", " a ", "\t a b \t", "a\t\t", "  \t", " \r a\n "} {
		if got, want := string(trimBlanks([]byte(v))), string(bytes.Trim([]byte(v), " \t")); got != want {
			t.Errorf("trimBlanks(%q) = %q, want %q", v, got, want)
		}
	}
}
