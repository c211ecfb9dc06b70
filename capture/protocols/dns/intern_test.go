package dns

import (
	"fmt"
	"net/netip"
	"strconv"
	"testing"

	"github.com/audit-io/wire-audit/capture/decode"
	"github.com/audit-io/wire-audit/capture/flowid"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/internal/intern"
	"github.com/audit-io/wire-audit/capture/protocols/internal/stable"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// wireName is name in wire format.
func wireName(name string) []byte {
	var b []byte
	for i := 0; i < len(name); {
		j := i
		for j < len(name) && name[j] != '.' {
			j++
		}
		b = append(append(b, byte(j-i)), name[i:j]...)
		i = j + 1
	}
	return append(b, 0)
}

// TestReusedStrings sends lookups whose names, addresses, texts and client ports repeat, differ
// only in case or in one byte, and outnumber the caches (made small here): every event must
// carry what its own datagrams said, never a string cached for an earlier one.
func TestReusedStrings(t *testing.T) {
	type lookup struct {
		port       uint16
		name, data string
		txt        bool
	}
	var lookups []lookup
	for i := range 3 {
		lookups = append(lookups,
			lookup{40000, "example.com", "1.2.3.4", false},
			lookup{40001, "Example.com", "1.2.3.5", false},
			lookup{40000, "example.con", "v=1 " + strconv.Itoa(i), true},
			lookup{40002, "example.com", "v=1 " + strconv.Itoa(i), true})
	}
	for i := range 10 {
		lookups = append(lookups, lookup{uint16(41000 + i), "h" + strconv.Itoa(i) + ".example", "10.0.0." + strconv.Itoa(i), false})
	}
	lookups = append(lookups, lookups[:4]...)

	var sink protocoltest.Collector
	u := NewUDP("eth0", nil, &sink).(*UDP)
	u.b.strs, u.maxIDs = intern.NewTable(3), 2
	for i, l := range lookups {
		c := netip.AddrPortFrom(client.Addr(), l.port)
		typ := "\x00\x10"
		rdata := append(append([]byte("\x03v=1"), byte(len(l.data)-4)), l.data[min(4, len(l.data)):]...)
		if !l.txt {
			typ, rdata = "\x00\x01", netip.MustParseAddr(l.data).AsSlice()
		}
		q := append(wireName(l.name), typ+"\x00\x01"...)
		rr := append([]byte("\xc0\x0c"+typ+"\x00\x01\x00\x00\x00\x3c\x00"), byte(len(rdata)))
		u.Datagram(c, server, msg(uint16(i), 0x0100, 1, 0, 0, 0, q), t0)
		u.Datagram(server, c, msg(uint16(i), 0x8180, 1, 1, 0, 0, q, rr, rdata), t0)
	}
	if len(sink.Events) != len(lookups) {
		t.Fatalf("%d events, want %d", len(sink.Events), len(lookups))
	}
	for i, l := range lookups {
		ev := sink.Events[i]
		typ := "A"
		if l.txt {
			typ = "TXT"
		}
		c := netip.AddrPortFrom(client.Addr(), l.port)
		want := fmt.Sprintf("class IN, type %s, %s | %s %s | %s", typ, l.name, l.name, l.data, flowid.CommunityID(c, server, decode.UDP))
		got := ev.Query + " | " + ev.DNS.Question.Name
		if len(ev.DNS.Answers) == 1 {
			got += " " + ev.DNS.Answers[0].Data
		}
		if got += " | " + ev.Network.CommunityID; got != want {
			t.Errorf("lookup %d: got %q\nwant %q", i, got, want)
		}
		if !l.txt && (len(ev.DNS.ResolvedIP) != 1 || ev.DNS.ResolvedIP[0].String() != l.data) {
			t.Errorf("lookup %d: resolved_ip %v, want %s", i, ev.DNS.ResolvedIP, l.data)
		}
	}
	if u.b.strs.Len() > 3 || len(u.ids) > 2 {
		t.Errorf("caches hold %d strings and %d ids, bounds 3 and 2", u.b.strs.Len(), len(u.ids))
	}
}

// TestEventsStable: the parts and strings events share are not written to once emitted.
func TestEventsStable(t *testing.T) {
	var s stable.Sink
	var r stable.Releasing
	for _, sink := range []protocols.Sink{&s, &r} {
		u := NewUDP("lo", nil, sink)
		for _, d := range readDatagrams(t, "testdata/udp.pcap") {
			u.Datagram(d.src, d.dst, d.payload, d.ts)
		}
		u.Close(t0)
	}
	s.Check(t)
	r.Check(t, &s)
	stable.CheckParser(t, NewTCP, func(pf protocols.Factory) {
		protocoltest.Replay(protocoltest.ReadSegments(t, "testdata/tcp.pcap", testPort), pf, nil)
	})
}
