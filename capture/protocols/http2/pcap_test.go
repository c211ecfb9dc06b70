package http2

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// The server port of each capture in testdata (testdata/capture.sh).
var pcapPorts = map[string]uint16{"nginx.pcap": 18081, "h2c.pcap": 18082, "grpc.pcap": 18083}

func readSegs(t testing.TB, name string) []protocoltest.Segment {
	t.Helper()
	return protocoltest.ReadSegments(t, filepath.Join("testdata", name), pcapPorts[name])
}

// replayFile replays a capture through the HTTP/1.x parser's factory, as the sidecar does:
// it is the one that hands connections over to HTTP/2.
func replayFile(t testing.TB, name string, factory protocols.Factory, opts *protocols.Options) []*event.Event {
	t.Helper()
	return protocoltest.Replay(readSegs(t, name), factory, opts)
}

// TestPcaps checks the events of the real captures against what the clients did
// (testdata/capture.sh); protocols/http compares the same captures with tshark, through the
// hand-over from HTTP/1.x.
func TestPcaps(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"nginx.pcap", []string{
			// nghttp: five interleaved streams on one connection, a 404
			"OK GET /p1.html 200 body=7", "OK GET /p2.html?x=1&y=2 200 body=7", "Error GET /missing 404 body=153",
			"OK GET /big.txt 200 body=28893", "OK GET /p3.html 200 body=7",
			// a POST with a body, padded frames, a 20 kB header in CONTINUATION frames, curl
			"OK POST /form 201 body=8 reqbody=3000", "OK GET /p1.html 200 body=7", "OK GET /p2.html 200 body=7",
			"OK GET /p1.html 200 body=7", "OK GET /p3.html?q=1 200 body=7",
		}},
		{"grpc.pcap", []string{
			"OK POST /audit.test.Echo/Unary 200 body=15 reqbody=9 grpc=audit.test.Echo/Unary code=0 msgs=1/1",
			"OK POST /audit.test.Echo/Count 200 body=39 reqbody=11 grpc=audit.test.Echo/Count code=0 msgs=1/3",
			"OK POST /audit.test.Echo/Sum 200 body=9 reqbody=38 grpc=audit.test.Echo/Sum code=0 msgs=4/1",
			`Error POST /audit.test.Echo/Lookup 200 reqbody=9 grpc=audit.test.Echo/Lookup code=5 msgs=1/0 note="no such key: k1"`,
			`Error POST /audit.test.Echo/Slow reqbody=9 grpc=audit.test.Echo/Slow msgs=1/0 note="stream reset by client: CANCEL"`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			got := summaries(replayFile(t, tc.file, New, nil))
			if !slices.Equal(got, tc.want) {
				t.Errorf("events:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestPcapCuts starts a mid-stream parser at every frame boundary of each real connection.
func TestPcapCuts(t *testing.T) {
	for _, file := range []string{"nginx.pcap", "grpc.pcap"} {
		conns := map[netip.AddrPort][]protocoltest.Step{}
		for _, sg := range readSegs(t, file) {
			if len(sg.Payload) > 0 {
				conns[sg.Client] = append(conns[sg.Client], protocoltest.Step{Dir: sg.Dir, Data: string(sg.Payload)})
			}
		}
		for client, steps := range conns {
			t.Run(file+"/"+client.String(), func(t *testing.T) {
				total, incomplete := checkCuts(t, steps)
				t.Logf("%d events from the cuts, %d with incomplete headers", total, incomplete)
			})
		}
	}
}
