package dns

import (
	"testing"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// FuzzParser sends data as one datagram each way through the UDP parser, and split at cut
// through the TCP parser. Nothing may panic or loop; an event must hold a question and, when
// it is a matched transaction, the response's id.
func FuzzParser(f *testing.F) {
	dgs := readDatagrams(f, "testdata/udp.pcap")
	for i := 0; i+1 < len(dgs); i += 2 {
		f.Add(dgs[i].payload, dgs[i+1].payload, uint16(3))
	}
	for _, s := range protocoltest.ReadSegments(f, "testdata/tcp.pcap", testPort) {
		if len(s.Payload) > 0 {
			f.Add(s.Payload, s.Payload, uint16(len(s.Payload)/2))
		}
	}
	f.Fuzz(func(t *testing.T, query, resp []byte, cut uint16) {
		var evs []*event.Event
		sink := protocols.SinkFunc(func(ev *event.Event) { evs = append(evs, ev) })
		u := NewUDP("eth0", nil, sink)
		u.Datagram(client, server, query, t0)
		u.Datagram(server, client, resp, t0.Add(time.Millisecond))
		u.Tick(t0.Add(time.Minute))
		p := NewTCP(&protocols.Conn{Client: client, Server: server, Transport: "tcp"}, nil, sink)
		c := min(int(cut), len(query))
		p.Data(protocols.ToServer, query[:c], t0)
		p.Data(protocols.ToServer, query[c:], t0)
		p.Data(protocols.ToClient, resp, t0)
		p.Close(t0)
		for _, ev := range evs {
			if ev.DNS == nil || ev.DNS.Question.Type == "" || ev.Status == "" {
				t.Fatalf("incomplete event %+v", ev)
			}
			if ev.DNS.ResponseCode != "" && len(ev.DNS.Answers) != ev.DNS.AnswersCount {
				t.Fatalf("%d answers rendered of %d", len(ev.DNS.Answers), ev.DNS.AnswersCount)
			}
		}
		// Whatever arrived, the UDP parser holds nothing after the timeout.
		if n := len(u.(*UDP).pending); n != 0 {
			t.Fatalf("%d queries still pending", n)
		}
	})
}
