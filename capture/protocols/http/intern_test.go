package http

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/internal/stable"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// TestReusedStrings sends, on one keep-alive connection, requests whose targets, hosts, user
// agents and status phrases repeat, differ only in case or in one byte, and outnumber the
// per-connection caches: every event must carry what its own request said, never a cached
// string of an earlier one.
func TestReusedStrings(t *testing.T) {
	type want struct{ query, path, rawQuery, domain, ua, phrase string }
	var steps []step
	var wants []want
	add := func(target, host, ua, phrase string, w want) {
		steps = append(steps,
			c("GET "+target+" HTTP/1.1\r\nHost: "+host+"\r\nUser-Agent: "+ua+"\r\n\r\n"),
			s("HTTP/1.1 200 "+phrase+"\r\nContent-Length: 0\r\n\r\n"))
		wants = append(wants, w)
	}
	for i := range 3 {
		add("/a.html", "Example.com", "curl/7.88.1", "OK", want{"GET /a.html", "/a.html", "", "example.com", "curl/7.88.1", "OK"})
		add("/A.html", "example.com:81", "curl/7.88.2", "Ok", want{"GET /A.html", "/A.html", "", "example.com", "curl/7.88.2", "Ok"})
		add("/a.htmm?x="+strconv.Itoa(i), "example.con", "curl/7.88.1", "OK", want{"GET /a.htmm?x=" + strconv.Itoa(i), "/a.htmm", "x=" + strconv.Itoa(i), "example.con", "curl/7.88.1", "OK"})
		add("http://Other.example/p?q", "example.com", "curl", "OK", want{"GET http://Other.example/p?q", "/p", "q", "other.example", "curl", "OK"})
	}
	for i := range 20 { // more distinct values than a cache holds, then the first ones again
		n := strconv.Itoa(i)
		add("/"+n, "h"+n, "ua"+n, "P"+n, want{"GET /" + n, "/" + n, "", "h" + n, "ua" + n, "P" + n})
	}
	add("/a.html", "Example.com", "curl/7.88.1", "OK", want{"GET /a.html", "/a.html", "", "example.com", "curl/7.88.1", "OK"})
	add("/a.html", "example.com", "curl/7.88.1", "OK", want{"GET /a.html", "/a.html", "", "example.com", "curl/7.88.1", "OK"})

	var got []want
	conn := testConn
	p := New(&conn, nil, protocols.SinkFunc(func(ev *event.Event) {
		got = append(got, want{ev.Query, ev.URL.Path, ev.URL.Query, ev.URL.Domain, ev.UserAgent.Original, ev.HTTP.Response.StatusPhrase})
		if ev.URL.Original != ev.Query[len("GET "):] {
			t.Errorf("url.original %q, query %q", ev.URL.Original, ev.Query)
		}
	}))
	for _, st := range steps {
		p.Data(st.Dir, []byte(st.Data), time.Unix(1700000000, 0))
	}
	p.Close(time.Unix(1700000000, 0))
	if len(got) != len(wants) {
		t.Fatalf("%d events, want %d", len(got), len(wants))
	}
	for i := range wants {
		if got[i] != wants[i] {
			t.Errorf("request %d: got %s\nwant %s", i, fmt.Sprint(got[i]), fmt.Sprint(wants[i]))
		}
	}
}

// TestPortFromHost checks the port taken from Host when the Host changes from one request
// to the next on the same connection.
func TestPortFromHost(t *testing.T) {
	var ports []uint16
	conn := testConn
	p := New(&conn, nil, protocols.SinkFunc(func(ev *event.Event) { ports = append(ports, ev.URL.Port) }))
	for _, h := range []string{"a:81", "a:82", "a", "a:82", "a:99999"} {
		p.Data(protocols.ToServer, []byte("GET / HTTP/1.1\r\nHost: "+h+"\r\n\r\n"), time.Unix(1700000000, 0))
		p.Data(protocols.ToClient, []byte("HTTP/1.1 204 No Content\r\n\r\n"), time.Unix(1700000000, 0))
	}
	p.Close(time.Unix(1700000000, 0))
	if fmt.Sprint(ports) != "[81 82 80 82 80]" {
		t.Errorf("ports %v, want [81 82 80 82 80]", ports)
	}
}

// TestEventsStable: the parts an event shares with its request, and the strings it shares
// with other events, are not written to once it is emitted.
func TestEventsStable(t *testing.T) {
	opts := &protocols.Options{HTTPHeaders: []string{"User-Agent", "Content-Type"}, HTTPBodyBytes: 8, MaxQueryLength: 12}
	for _, f := range []string{"curl.pcap", "pipelined.pcap"} {
		stable.CheckParser(t, New, func(pf protocols.Factory) { protocoltest.Replay(readSegs(t, f), pf, opts) })
	}
}

// TestRecycledWhileRead: a request reported while its body is still being read (the server
// answered early, or too many requests are queued) is not recycled with its event, since the
// reader goes on counting the body into it; recycled, it would be the next request's.
func TestRecycledWhileRead(t *testing.T) {
	early := []step{
		c("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345"),
		s("HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n"),
		c("67890"),
		c("GET /next HTTP/1.1\r\nHost: a\r\n\r\n"),
		s("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
	}
	var full []step
	for i := range maxPending + 2 {
		full = append(full, c("POST /"+strconv.Itoa(i)+" HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab"), c("cd"))
	}
	full = append(full, c("GET /next HTTP/1.1\r\nHost: a\r\n\r\n"))
	for name, steps := range map[string][]step{"early response": early, "too many": full} {
		var kept stable.Sink
		var rel stable.Releasing
		for _, sink := range []protocols.Sink{&kept, &rel} {
			conn := testConn
			p := New(&conn, nil, sink)
			for _, st := range steps {
				p.Data(st.Dir, []byte(st.Data), time.Unix(1700000000, 0))
			}
			p.Close(time.Unix(1700000001, 0))
		}
		t.Run(name, func(t *testing.T) {
			kept.Check(t)
			rel.Check(t, &kept)
		})
	}
}
