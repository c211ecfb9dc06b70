package pipeline

import (
	"context"
	"testing"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
	"github.com/audit-io/wire-audit/capture/protocols/tls"
	"github.com/audit-io/wire-audit/capture/source"
)

// replayTLS runs the real capture of nginx (tls/testdata/nginx.pcap: 14 TLS connections to
// port 18443 and one plaintext one, from port 45112) through a pipeline with opts.
func replayTLS(t *testing.T, opts Options) []*event.Event {
	t.Helper()
	var sink protocoltest.Collector
	opts.Sink = &sink
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	src, err := source.OpenFile("../protocols/tls/testdata/nginx.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := Run(context.Background(), src, p, nil); err != nil {
		t.Fatal(err)
	}
	return sink.Events
}

func tlsProto(ports ...uint16) Protocol {
	return Protocol{Name: event.TypeTLS, Ports: ports, Factory: tls.New, Detect: tls.Detect}
}

// TestTLSByContent: TLS found by its handshake on any port gets the full tls event; TLS
// restricted to other ports gets none; and with DetectAll (eth0 of a mesh pod) the TLS on a
// port another protocol owns gets the same full event, while without a TLS protocol it keeps
// the bare encrypted event it had before.
func TestTLSByContent(t *testing.T) {
	echo := Protocol{Name: "echo", Ports: []uint16{18443}, Factory: newEcho}
	for _, tc := range []struct {
		name     string
		opts     Options
		tls, all int // tls events, of which with a JA3
	}{
		{"any port", Options{Protocols: []Protocol{tlsProto()}}, 14, 14},
		{"on its port", Options{Protocols: []Protocol{tlsProto(18443)}}, 14, 14},
		{"restricted elsewhere, mesh", Options{Protocols: []Protocol{tlsProto(443)}, DetectAll: true}, 0, 0},
		{"mesh, another protocol's port", Options{Protocols: []Protocol{echo, tlsProto()}, DetectAll: true}, 14, 14},
		{"mesh without TLS configured", Options{Protocols: []Protocol{echo}, DetectAll: true}, 14, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n, full int
			for _, ev := range replayTLS(t, tc.opts) {
				if ev.Type == "echo" && ev.Client.Port == 45112 {
					continue // the plaintext request, to the port's owner
				}
				if ev.Type != event.TypeTLS {
					t.Errorf("a %s event: %s", ev.Type, event.AppendJSON(nil, ev))
					continue
				}
				n++
				if ev.TLS.Client != nil && ev.TLS.Client.JA3 != "" && ev.TLS.Version != "" && ev.Network.Protocol == event.TypeTLS {
					full++
				}
			}
			if n != tc.tls || full != tc.all {
				t.Errorf("%d tls events, %d with the handshake's fields; want %d and %d", n, full, tc.tls, tc.all)
			}
		})
	}
}
