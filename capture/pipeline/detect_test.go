package pipeline

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/audit-io/wire-audit/capture/decode"
	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/dns"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// detectHello recognises a client that opens with HELLO, once its first 5 bytes are in.
func detectHello(first []byte, dir protocols.Dir) bool {
	return dir == protocols.ToServer && strings.HasPrefix(string(first), "HELLO")
}

func detectAnything(first []byte, _ protocols.Dir) bool { return len(first) > 0 }

// conversation on server port port: the server speaks first (GREET), and the client's first
// segment holds only part of its detection prefix.
func conversation(port string, clientFirst ...string) []pkt {
	return talk(port, "GREET", clientFirst...)
}

// talk is a conversation where the server speaks greet first.
func talk(port, greet string, clientFirst ...string) []pkt {
	c, s := "10.0.0.1:40000", "10.0.0.2:"+port
	out := []pkt{{src: c, dst: s, seq: 100, flags: "S"}, {src: s, dst: c, seq: 500, flags: "SA"}}
	seq := uint32(501)
	if greet != "" {
		out = append(out, pkt{src: s, dst: c, seq: seq, flags: "A", data: greet})
		seq += uint32(len(greet))
	}
	cseq := uint32(101)
	for _, d := range clientFirst {
		out = append(out, pkt{src: c, dst: s, seq: cseq, flags: "A", data: d})
		cseq += uint32(len(d))
	}
	out = append(out, pkt{src: s, dst: c, seq: seq, flags: "A", data: "OK"},
		pkt{src: c, dst: s, seq: cseq, flags: "FA"}, pkt{src: s, dst: c, seq: seq + 2, flags: "FA"})
	return out
}

func TestDetectByContent(t *testing.T) {
	opts := Options{Protocols: []Protocol{{Name: "echo", Factory: newEcho, Detect: detectHello}}}
	evs, p := run(t, opts, conversation("13306", "HEL", "LO world"))
	got := queries(evs, "echo")
	if len(got) != 1 || got[0] != ":HELLO world|GREETOK" {
		t.Fatalf("events %q", got)
	}
	if evs[0].Server.Port != 13306 || p.Stats().Detected.Load() != 1 {
		t.Errorf("server %v, detected %d", evs[0].Server, p.Stats().Detected.Load())
	}

	evs, p = run(t, opts, conversation("13306", "NOPE", "more", "and more", "x", "y", "z", "w"))
	if len(evs) != 0 || p.Stats().Undetected.Load() != 1 || p.Stats().ActiveConns.Load() != 0 {
		t.Fatalf("undetected: %d events, stats undetected %d active %d", len(evs), p.Stats().Undetected.Load(), p.Stats().ActiveConns.Load())
	}
}

// TestExplicitPortsWin: a protocol's ports are never taken by another one's detector.
func TestExplicitPortsWin(t *testing.T) {
	opts := Options{Protocols: []Protocol{
		{Name: "greedy", Factory: newEcho, Detect: detectAnything},
		{Name: "echo", Ports: []uint16{3306}, Factory: newEcho, Detect: detectHello},
	}, Flows: true}
	evs, _ := run(t, opts, conversation("3306", "HELLO"))
	var protos []string
	for _, ev := range evs {
		protos = append(protos, ev.Type+"/"+ev.Network.Protocol)
	}
	if strings.Join(protos, ",") != "echo/echo,flow/echo" {
		t.Fatalf("events %v", protos)
	}
	// An ignored port (the sidecar's health port) is never detected on.
	evs, _ = run(t, Options{Protocols: []Protocol{{Name: "greedy", Factory: newEcho, Detect: detectAnything}}, IgnorePorts: []uint16{15099}},
		conversation("15099", "GET /readyz HTTP/1.1\r\n\r\n"))
	if len(evs) != 0 {
		t.Fatalf("ignored port: %+v", evs)
	}
	// With DetectAll (lo of a mesh pod), a port no protocol claims is detected even for a
	// protocol that has ports.
	opts = Options{Protocols: []Protocol{{Name: "echo", Ports: []uint16{3306}, Factory: newEcho, Detect: detectHello}}, DetectAll: true, Mesh: true}
	evs, _ = run(t, opts, conversation("15001", "HELLO"))
	if len(evs) != 1 || !evs[0].Network.Mesh || evs[0].Server.Port != 15001 {
		t.Fatalf("DetectAll: %+v", evs)
	}
}

func TestTLSIsReportedOnce(t *testing.T) {
	opts := Options{Protocols: []Protocol{{Name: "echo", Factory: newEcho, Detect: detectAnything}}, Flows: true}
	hello := "\x16\x03\x01\x00\x50\x01\x00\x00\x4c\x03\x03" + strings.Repeat("r", 20)
	pk := talk("8443", "", hello, "\x17\x03\x03\x00\x10encrypted-bytes!")
	evs, p := run(t, opts, pk)
	if len(evs) != 1 || evs[0].Type != event.TypeTLS || evs[0].TLS == nil || !evs[0].TLS.Encrypted || evs[0].Server.Port != 8443 {
		t.Fatalf("events %+v", evs)
	}
	if p.Stats().Encrypted.Load() != 1 || p.Stats().Detected.Load() != 0 {
		t.Errorf("stats encrypted %d detected %d", p.Stats().Encrypted.Load(), p.Stats().Detected.Load())
	}
	// With DetectAll (a mesh pod), TLS on a protocol's own port is reported as encrypted
	// rather than fed to its parser, and plaintext on that port still goes to the parser.
	opts = Options{Protocols: []Protocol{{Name: "echo", Ports: []uint16{3306}, Factory: newEcho}}, DetectAll: true}
	evs, _ = run(t, opts, talk("3306", "", hello, "\x17\x03\x03\x00\x10encrypted-bytes!"))
	if len(evs) != 1 || evs[0].Type != event.TypeTLS {
		t.Fatalf("TLS on an owned port: %+v", evs)
	}
	evs, _ = run(t, opts, conversation("3306", "plain"))
	if got := queries(evs, "echo"); len(got) != 1 || got[0] != ":plain|GREETOK" {
		t.Fatalf("plaintext on an owned port: %q", got)
	}
}

// TestClaims: the same connection captured on two interfaces is decoded by the first only.
func TestClaims(t *testing.T) {
	claims := NewClaims()
	var sink protocoltest.Collector
	mk := func(iface string) *Pipeline {
		p, err := New(Options{Sink: &sink, Interface: iface, Claims: claims,
			Protocols: []Protocol{{Name: "echo", Ports: []uint16{3306}, Factory: newEcho}}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b := mk("eth0"), mk("lo")
	d, _ := decode.New(layers.LinkTypeEthernet)
	var dp decode.Packet
	for _, pk := range conversation("3306", "HELLO") {
		frame := serialize(t, pk)
		a.Frame(d, frame, t0.Add(pk.at), &dp)
		b.Frame(d, frame, t0.Add(pk.at), &dp)
	}
	a.Close(t0)
	b.Close(t0)
	if len(sink.Events) != 1 || sink.Events[0].Network.Interface != "eth0" || b.Stats().Duplicates.Load() != 1 {
		t.Fatalf("%d events, duplicates %d", len(sink.Events), b.Stats().Duplicates.Load())
	}
	// The owner closed the connection; the claim still refuses the other interface (which may
	// lag behind) for a while, and then the tuple is anyone's again.
	var key connKey
	for k := range claims.owner {
		key = k
	}
	if len(claims.owner) != 1 || claims.claim(key, "lo", t0.Add(time.Second)) {
		t.Errorf("claim taken over at once: %v", claims.owner)
	}
	if !claims.claim(key, "lo", t0.Add(time.Minute)) {
		t.Error("claim still held a minute after the connection ended")
	}
}

// TestClaimsUDP: a DNS query and response seen on two interfaces make one event; the claim
// ends when the flow has been idle.
func TestClaimsUDP(t *testing.T) {
	claims := NewClaims()
	var sink protocoltest.Collector
	mk := func(iface string) *Pipeline {
		p, err := New(Options{Sink: &sink, Interface: iface, Claims: claims,
			Protocols: []Protocol{{Name: "dns", Ports: []uint16{53}, Datagram: dns.NewUDP}}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b := mk("br0"), mk("eth0")
	query := []byte("\x00\x07\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01")
	answer := append([]byte{0, 7, 0x81, 0x80}, query[4:]...)
	d, _ := decode.New(layers.LinkTypeEthernet)
	var dp decode.Packet
	for i, fr := range [][]byte{serializeUDP(t, "10.0.0.1:40000", "10.0.0.2:53", query), serializeUDP(t, "10.0.0.2:53", "10.0.0.1:40000", answer)} {
		ts := t0.Add(time.Duration(i) * time.Millisecond)
		a.Frame(d, fr, ts, &dp)
		b.Frame(d, fr, ts, &dp)
	}
	if len(sink.Events) != 1 || sink.Events[0].Network.Interface != "br0" || b.Stats().Duplicates.Load() != 1 {
		t.Fatalf("%d events, duplicates %d", len(sink.Events), b.Stats().Duplicates.Load())
	}
	for _, p := range []*Pipeline{a, b} {
		p.Tick(t0.Add(time.Second))
		p.Tick(t0.Add(time.Minute))
	}
	if len(a.udpFlows) != 0 || len(b.udpFlows) != 0 {
		t.Errorf("after idle: flows %d/%d", len(a.udpFlows), len(b.udpFlows))
	}
	for k, cl := range claims.owner {
		if cl.released.IsZero() || !claims.claim(k, "eth0", t0.Add(2*time.Minute)) {
			t.Errorf("claim of an idle flow: %+v", cl)
		}
	}
}

func serializeUDP(t testing.TB, src, dst string, payload []byte) []byte {
	t.Helper()
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: s.Addr().AsSlice(), DstIP: d.Addr().AsSlice()}
	udp := &layers.UDP{SrcPort: layers.UDPPort(s.Port()), DstPort: layers.UDPPort(d.Port())}
	_ = udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestDatagrams: DNS on its port, on any port when configured without ports, and a query
// with no answer expired by Tick.
func TestDatagrams(t *testing.T) {
	query := []byte("\x00\x07\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01")
	answer := append([]byte{0, 7, 0x81, 0x80}, query[4:]...)
	for _, tc := range []struct {
		name   string
		ports  []uint16
		server string
		want   int
	}{
		{"configured port", []uint16{53}, "10.0.0.2:53", 2},
		{"other port, ports configured", []uint16{53}, "10.0.0.2:5353", 0},
		{"any port, no ports configured", nil, "10.0.0.2:5353", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sink protocoltest.Collector
			p, err := New(Options{Sink: &sink, Protocols: []Protocol{{Name: "dns", Ports: tc.ports, Datagram: dns.NewUDP}}})
			if err != nil {
				t.Fatal(err)
			}
			d, _ := decode.New(layers.LinkTypeEthernet)
			var dp decode.Packet
			c := "10.0.0.1:40000"
			p.Frame(d, serializeUDP(t, c, tc.server, query), t0, &dp)
			p.Frame(d, serializeUDP(t, tc.server, c, answer), t0.Add(time.Millisecond), &dp)
			p.Frame(d, serializeUDP(t, "10.0.0.1:40001", tc.server, query), t0.Add(time.Second), &dp)
			p.Frame(d, serializeUDP(t, c, tc.server, []byte("garbage, not dns")), t0.Add(time.Second), &dp)
			p.Tick(t0.Add(2 * time.Second))
			p.Tick(t0.Add(30 * time.Second))
			if len(sink.Events) != tc.want {
				t.Fatalf("%d events, want %d", len(sink.Events), tc.want)
			}
			if tc.want == 0 {
				return
			}
			ok, timeout := sink.Events[0], sink.Events[1]
			if ok.Status != event.StatusOK || ok.DNS.ResponseCode != "NOERROR" || ok.Network.Transport != "udp" ||
				timeout.Status != event.StatusError || timeout.Client.Port != 40001 {
				t.Errorf("events %+v %+v", ok, timeout)
			}
		})
	}
}
