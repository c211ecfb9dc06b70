package dns

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

var (
	client = netip.MustParseAddrPort("10.0.0.1:40000")
	server = netip.MustParseAddrPort("10.0.0.2:53")
	t0     = time.Unix(1700000000, 0)
)

// msg builds a message: header fields, then the raw bytes of the rest.
func msg(id, flags, qd, an, ns, ar uint16, rest ...[]byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	for _, v := range []uint16{flags, qd, an, ns, ar} {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	for _, r := range rest {
		b = append(b, r...)
	}
	return b
}

// qname is example.com in wire format, followed by type A, class IN.
var qname = []byte("\x07example\x03com\x00\x00\x01\x00\x01")

func TestTimeout(t *testing.T) {
	var sink protocoltest.Collector
	u := NewUDP("eth0", &protocols.Options{TransactionTimeout: 2 * time.Second}, &sink)
	u.Datagram(client, server, msg(7, 0x0100, 1, 0, 0, 0, qname), t0)
	u.Tick(t0.Add(time.Second))
	if len(sink.Events) != 0 {
		t.Fatalf("timed out early: %d events", len(sink.Events))
	}
	u.Tick(t0.Add(3 * time.Second))
	if len(sink.Events) != 1 {
		t.Fatalf("%d events after the timeout, want 1", len(sink.Events))
	}
	ev := sink.Events[0]
	if ev.Status != event.StatusError || ev.Error == nil || ev.Error.Message != msgNoResponse ||
		ev.DNS.Question.Name != "example.com" || ev.DNS.ID != 7 || ev.DNS.ResponseCode != "" ||
		ev.Client.IP != client.Addr() || ev.Server.Port != 53 || ev.Network.Transport != "udp" || ev.Network.CommunityID == "" {
		t.Errorf("timeout event: %+v %+v", ev, ev.DNS)
	}
	// The late response is now an orphan, reported as such.
	u.Datagram(server, client, msg(7, 0x8180, 1, 0, 0, 0, qname), t0.Add(4*time.Second))
	if len(sink.Events) != 2 || sink.Events[1].Error == nil || sink.Events[1].Error.Message != msgNoQuery {
		t.Errorf("late response: %d events", len(sink.Events))
	}
	if u.(*UDP).Stats.TimedOut != 1 || u.(*UDP).Stats.Orphans != 1 || len(u.(*UDP).pending) != 0 {
		t.Errorf("stats %+v", u.(*UDP).Stats)
	}
}

// TestUnansweredInCaptureOrder: queries that time out, or are still open at the end, are
// reported in the order they were sent, not in the pending table's (map) order.
func TestUnansweredInCaptureOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(u protocols.DatagramParser)
	}{
		{"tick", func(u protocols.DatagramParser) { u.Tick(t0.Add(time.Minute)) }},
		{"close", func(u protocols.DatagramParser) { u.Close(t0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sink protocoltest.Collector
			u := NewUDP("eth0", nil, &sink)
			var want []uint16
			for i := range uint16(50) {
				id := i * 7919 // sent order is not id order
				u.Datagram(client, server, msg(id, 0x0100, 1, 0, 0, 0, qname), t0)
				want = append(want, id)
			}
			tc.end(u)
			var got []uint16
			for _, ev := range sink.Events {
				got = append(got, ev.DNS.ID)
			}
			if !slices.Equal(got, want) {
				t.Errorf("ids reported\n%v\nwant the order sent\n%v", got, want)
			}
		})
	}
}

func TestMatching(t *testing.T) {
	var sink protocoltest.Collector
	u := NewUDP("eth0", nil, &sink).(*UDP)
	other := netip.MustParseAddrPort("10.0.0.1:40001")
	u.Datagram(client, server, msg(1, 0x0100, 1, 0, 0, 0, qname), t0)
	u.Datagram(other, server, msg(1, 0x0100, 1, 0, 0, 0, qname), t0)
	u.Datagram(client, server, msg(1, 0x0100, 1, 0, 0, 0, qname), t0) // a retry while pending
	// Answers of the second client first: the id alone would pair them wrongly.
	a := []byte("\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x01\x02\x03\x04")
	u.Datagram(server, other, msg(1, 0x8180, 1, 1, 0, 0, qname, a), t0.Add(time.Millisecond))
	u.Datagram(server, client, msg(1, 0x8183, 1, 0, 0, 0, qname), t0.Add(2*time.Millisecond))
	if len(sink.Events) != 2 {
		t.Fatalf("%d events", len(sink.Events))
	}
	if e := sink.Events[0]; e.Client.IP != other.Addr() || e.Client.Port != other.Port() || e.Status != event.StatusOK ||
		len(e.DNS.Answers) != 1 || e.DNS.Answers[0].Data != "1.2.3.4" || e.DNS.Answers[0].TTL != 60 || e.DNS.Answers[0].Name != "example.com" {
		t.Errorf("first: %+v %+v", e.Client, e.DNS)
	}
	if e := sink.Events[1]; e.Client.Port != client.Port() || e.DNS.ResponseCode != "NXDOMAIN" || e.Status != event.StatusError {
		t.Errorf("second: %+v %+v", e.Client, e.DNS)
	}
	if u.Stats.Duplicates != 1 {
		t.Errorf("stats %+v", u.Stats)
	}
}

func TestBounded(t *testing.T) {
	var sink protocoltest.Collector
	u := NewUDP("eth0", nil, &sink).(*UDP)
	u.max = 3
	for i := range 5 {
		u.Datagram(client, server, msg(uint16(i), 0x0100, 1, 0, 0, 0, qname), t0)
	}
	if len(u.pending) != 3 || u.Stats.Refused != 2 {
		t.Fatalf("pending %d, stats %+v", len(u.pending), u.Stats)
	}
	u.Close(t0)
	if len(sink.Events) != 3 || len(u.pending) != 0 {
		t.Fatalf("%d events at close", len(sink.Events))
	}
}

// TestCompressionPointers: loops and forward pointers are rejected without looping; a
// backward chain is followed.
func TestCompressionPointers(t *testing.T) {
	for _, tc := range []struct {
		name string
		q    []byte
		ok   bool
		want string
	}{
		{"self", []byte("\xc0\x0c\x00\x01\x00\x01"), false, ""},
		{"forward", []byte("\xc0\x0e\x00\x01\x00\x01"), false, ""},
		{"loop through a label", []byte("\x01a\xc0\x0c\x00\x01\x00\x01"), false, ""},
		{"into the header", []byte("\xc0\x02\x00\x01\x00\x01"), false, ""}, // parses, but no name lives there
		{"reserved label type", []byte("\x41a\x00\x00\x01\x00\x01"), false, ""},
		{"too long", append(append([]byte{}, repeatLabel(130)...), 0, 0, 1, 0, 1), false, ""},
		{"escapes", []byte("\x03a.\\\x02\x01 \x00\x00\x01\x00\x01"), true, `a\.\\.\001\032`},
		{"root", []byte("\x00\x00\x02\x00\x01"), true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := msg(0, 0x0100, 1, 0, 0, 0, tc.q)
			h, _ := readHeader(m)
			var q question
			err := checkMessage(m, &h, &q)
			if (err == nil) != tc.ok {
				t.Fatalf("checkMessage: %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && q.name.String() != tc.want {
				t.Errorf("name %q, want %q", q.name.String(), tc.want)
			}
		})
	}
	// A backward chain in an answer: the owner points at the question's name.
	a := []byte("\x03www\xc0\x0c\x00\x05\x00\x01\x00\x00\x00\x01\x00\x02\xc0\x0c")
	m := msg(9, 0x8180, 1, 1, 0, 0, qname, a)
	var sink protocoltest.Collector
	u := NewUDP("eth0", nil, &sink)
	u.Datagram(server, client, m, t0)
	if len(sink.Events) != 1 || sink.Events[0].DNS.Answers[0].Name != "www.example.com" || sink.Events[0].DNS.Answers[0].Data != "example.com" {
		t.Fatalf("chain: %+v", sink.Events)
	}
}

func repeatLabel(n int) []byte {
	var b []byte
	for range n {
		b = append(b, 1, 'x')
	}
	return b
}

// TestTruncated: every prefix of every real message is rejected, and no event comes of it.
func TestTruncated(t *testing.T) {
	dgs := readDatagrams(t, "testdata/udp.pcap")
	var sink protocoltest.Collector
	u := NewUDP("lo", nil, &sink)
	for _, d := range dgs {
		for n := range len(d.payload) {
			u.Datagram(d.src, d.dst, d.payload[:n], d.ts)
		}
	}
	u.Close(t0)
	if len(sink.Events) != 0 {
		t.Fatalf("%d events from truncated messages", len(sink.Events))
	}
	if got, want := u.(*UDP).Stats.Invalid, uint64(0); got == want {
		t.Fatal("nothing counted invalid")
	}
}

// TestGarbage: random datagrams and TCP bytes make no event and no panic.
func TestGarbage(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var sink protocoltest.Collector
	u := NewUDP("eth0", nil, &sink)
	c := &protocols.Conn{Client: client, Server: server, Transport: "tcp"}
	p := NewTCP(c, nil, &sink)
	buf := make([]byte, 600)
	for i := range 20000 {
		n := r.IntN(len(buf))
		for j := range n {
			buf[j] = byte(r.Uint32())
		}
		u.Datagram(client, server, buf[:n], t0)
		u.Datagram(server, client, buf[:n], t0)
		p.Data(protocols.Dir(i&1), buf[:n], t0)
	}
	u.Close(t0)
	p.Close(t0)
	if len(sink.Events) != 0 {
		t.Fatalf("%d events from garbage: %+v", len(sink.Events), sink.Events[0].DNS)
	}
}

// TestTCPFraming: a message cut at every byte across Data calls, and two in one call.
func TestTCPFraming(t *testing.T) {
	q := msg(5, 0x0100, 1, 0, 0, 0, qname)
	a := msg(5, 0x8180, 1, 0, 0, 0, qname)
	frame := func(m []byte) []byte { return append(binary.BigEndian.AppendUint16(nil, uint16(len(m))), m...) }
	for cut := 1; cut < len(frame(a)); cut++ {
		var sink protocoltest.Collector
		c := &protocols.Conn{Client: client, Server: server, Transport: "tcp"}
		p := NewTCP(c, nil, &sink)
		p.Data(protocols.ToServer, frame(q), t0)
		fa := frame(a)
		p.Data(protocols.ToClient, fa[:cut], t0)
		p.Data(protocols.ToClient, fa[cut:], t0)
		p.Close(t0)
		if len(sink.Events) != 1 || sink.Events[0].Error != nil || sink.Events[0].Server.Bytes != uint64(len(fa)) {
			t.Fatalf("cut at %d: %d events", cut, len(sink.Events))
		}
	}
	// After a gap, the stream is framed again at the next whole message.
	var sink protocoltest.Collector
	p := NewTCP(&protocols.Conn{Client: client, Server: server, Transport: "tcp"}, nil, &sink)
	p.Gap(protocols.ToServer, 100, t0)
	p.Data(protocols.ToServer, []byte("\x01\x02\x03"), t0)
	q2 := msg(6, 0x0100, 1, 0, 0, 0, qname)
	p.Data(protocols.ToServer, append(frame(q), frame(q2)...), t0)
	p.Data(protocols.ToClient, frame(msg(6, 0x8180, 1, 0, 0, 0, qname)), t0)
	p.Close(t0)
	if len(sink.Events) != 2 || sink.Events[0].DNS.ID != 6 || sink.Events[1].Error == nil {
		t.Fatalf("after a gap: %d events", len(sink.Events))
	}
}

func TestDetect(t *testing.T) {
	segs := protocoltest.ReadSegments(t, "testdata/tcp.pcap", testPort)
	var sawQ, sawA bool
	for _, s := range segs {
		if len(s.Payload) == 0 {
			continue
		}
		ok := Detect(s.Payload, s.Dir)
		if !ok {
			t.Errorf("%s: not detected: %x", s.Dir, s.Payload)
		}
		if Detect(s.Payload, 1-s.Dir) {
			t.Errorf("%s: detected in the wrong direction", s.Dir)
		}
		sawQ, sawA = sawQ || s.Dir == protocols.ToServer, sawA || s.Dir == protocols.ToClient
	}
	if !sawQ || !sawA {
		t.Fatal("the capture has no query or no answer")
	}
	for _, b := range [][]byte{nil, []byte("GET / HTTP/1.1\r\n\r\n"), []byte("\x00\x0c\x00\x01"), {0x16, 3, 1, 0, 0x50, 1}} {
		if Detect(b, protocols.ToServer) || Detect(b, protocols.ToClient) {
			t.Errorf("detected %q", b)
		}
	}
	for _, d := range readDatagrams(t, "testdata/udp.pcap") {
		var q question
		h, _ := readHeader(d.payload)
		if checkMessage(d.payload, &h, &q) != nil || checkMessage(d.payload[:len(d.payload)-1], &h, &q) == nil {
			t.Errorf("checkMessage on %x", d.payload)
		}
	}
}
