package http

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

const testPort = 18080

// summary is the part of an event the tests assert.
func summary(ev *event.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", ev.Status, ev.Method, ev.URL.Original)
	if ev.HTTP.Response != nil {
		fmt.Fprintf(&b, " %d", ev.HTTP.Response.StatusCode)
		if bd := ev.HTTP.Response.Body; bd != nil {
			fmt.Fprintf(&b, " body=%d", bd.Bytes)
		}
	}
	if bd := ev.HTTP.Request.Body; bd != nil {
		fmt.Fprintf(&b, " reqbody=%d", bd.Bytes)
	}
	if ev.URL.Domain != "" {
		fmt.Fprintf(&b, " host=%s", ev.URL.Domain)
	}
	if ev.Error != nil {
		fmt.Fprintf(&b, " note=%q", ev.Error.Message)
	}
	return b.String()
}

func readSegs(t testing.TB, name string) []protocoltest.Segment {
	t.Helper()
	return protocoltest.ReadSegments(t, filepath.Join("testdata", name), testPort)
}

func replayFile(t testing.TB, name string, opts *protocols.Options) []*event.Event {
	t.Helper()
	return protocoltest.Replay(readSegs(t, name), New, opts)
}

// TestPcaps checks the events of real curl and raw-socket traffic to nginx
// (testdata/capture.sh) against what the clients sent.
func TestPcaps(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"curl.pcap", []string{
			// one keep-alive connection with five URLs
			"OK GET /p1.html 200 body=7 host=127.0.0.1",
			"OK GET /p2.html?x=1&y=2 200 body=7 host=127.0.0.1",
			"Error GET /missing 404 body=153 host=127.0.0.1",
			"OK GET /nocontent 204 host=127.0.0.1",
			"Error GET /fail 503 body=197 host=127.0.0.1",
			"OK HEAD /p3.html 200 host=127.0.0.1",
			// gzip, chunked: 11101 bytes of compressed body after de-chunking
			"OK GET /big.txt 200 body=11101 host=127.0.0.1",
			// Expect: 100-continue: the interim 100 is not the answer
			"OK PUT /upload/blob 201 reqbody=5000 host=127.0.0.1",
			"OK DELETE /upload/blob 204 host=127.0.0.1",
			"OK GET /p1.html 200 body=7 host=127.0.0.1",
		}},
		{"pipelined.pcap", []string{
			"OK GET /p1.html 200 body=7 host=localhost",
			"OK HEAD /p2.html 200 host=localhost",
			"OK GET /big.txt 200 body=11101 host=localhost",
			// the garbage connection: nginx's 400 answers nothing that was a request
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			evs := replayFile(t, tc.file, nil)
			var got []string
			for _, ev := range evs {
				got = append(got, summary(ev))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("events:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestPcapFields checks the fields of one real exchange, with headers configured: the
// credentials curl sent are redacted, the others are kept.
func TestPcapFields(t *testing.T) {
	evs := replayFile(t, "curl.pcap", &protocols.Options{HTTPHeaders: []string{"Authorization", "cookie", "user-agent", "content-type"}, HTTPBodyBytes: 4})
	ev := evs[1]
	if ev.URL.Original != "/p2.html?x=1&y=2" || ev.URL.Path != "/p2.html" || ev.URL.Query != "x=1&y=2" || ev.URL.Domain != "127.0.0.1" || ev.URL.Port != 18080 {
		t.Errorf("url %+v", ev.URL)
	}
	h := ev.HTTP.Request.Headers
	if h["authorization"] != redacted || h["cookie"] != redacted || h["user-agent"] != "capture-test/1" || len(h) != 3 {
		t.Errorf("request headers %v", h)
	}
	if ev.UserAgent == nil || ev.UserAgent.Original != "capture-test/1" {
		t.Errorf("user agent %+v", ev.UserAgent)
	}
	r := ev.HTTP.Response
	if r.Headers["content-type"] != "text/html" || r.Body.Content != "page" || r.Body.Bytes != 7 || ev.HTTP.Version != "1.1" {
		t.Errorf("response %+v body %+v", r, r.Body)
	}
	if ev.HTTP.Request.Bytes != ev.Client.Bytes || r.Bytes != ev.Server.Bytes || ev.Query != "GET /p2.html?x=1&y=2" {
		t.Errorf("bytes %d/%d %d/%d query %q", ev.HTTP.Request.Bytes, ev.Client.Bytes, r.Bytes, ev.Server.Bytes, ev.Query)
	}
	for _, ev := range replayFile(t, "curl.pcap", nil) {
		if ev.HTTP.Request.Headers != nil || ev.HTTP.Response.Headers != nil || ev.HTTP.Response.Body != nil && ev.HTTP.Response.Body.Content != "" {
			t.Errorf("headers or bodies without being configured: %+v", ev.HTTP)
		}
	}
}
