package pipeline

import (
	"fmt"
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
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// echoParser records the bytes and gaps it is given, and emits one event per connection on
// Close whose query is that record: enough to see what the pipeline delivered.
type echoParser struct {
	c    *protocols.Conn
	sink protocols.Sink
	log  [2]strings.Builder
}

func (e *echoParser) Data(dir protocols.Dir, data []byte, _ time.Time) { e.log[dir].Write(data) }
func (e *echoParser) Gap(dir protocols.Dir, n int, _ time.Time) {
	fmt.Fprintf(&e.log[dir], "<gap%d>", n)
}
func (e *echoParser) Close(ts time.Time) {
	ev := protocols.NewEvent(e.c, "echo", ts)
	ev.Query = e.log[protocols.ToServer].String() + "|" + e.log[protocols.ToClient].String()
	if e.c.MidStream {
		ev.Method = "MIDSTREAM"
	}
	e.sink.Emit(ev)
}

func newEcho(c *protocols.Conn, _ *protocols.Options, sink protocols.Sink) protocols.StreamParser {
	return &echoParser{c: c, sink: sink}
}

type pkt struct {
	src, dst string // ip:port
	seq      uint32
	flags    string // S, A, F, R
	data     string
	at       time.Duration
}

var t0 = time.Unix(1_700_000_000, 0)

func serialize(t testing.TB, p pkt) []byte {
	t.Helper()
	src, dst := netip.MustParseAddrPort(p.src), netip.MustParseAddrPort(p.dst)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: p.seq, Window: 65535,
		SYN: strings.Contains(p.flags, "S"), ACK: strings.Contains(p.flags, "A"),
		FIN: strings.Contains(p.flags, "F"), RST: strings.Contains(p.flags, "R")}
	var ip gopacket.SerializableLayer
	if src.Addr().Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		_ = tcp.SetNetworkLayerForChecksum(ip4)
		ip = ip4
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		_ = tcp.SetNetworkLayerForChecksum(ip6)
		ip = ip6
	}
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, tcp, gopacket.Payload(p.data))
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func run(t *testing.T, opts Options, pkts []pkt, tickAt ...time.Duration) ([]*event.Event, *Pipeline) {
	t.Helper()
	var sink protocoltest.Collector
	opts.Sink = &sink
	if opts.Protocols == nil {
		opts.Protocols = []Protocol{{Name: "echo", Ports: []uint16{3306}, Factory: newEcho}}
	}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	d, err := decode.New(layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	var dp decode.Packet
	var last time.Time
	for _, pk := range pkts {
		last = t0.Add(pk.at)
		p.Frame(d, serialize(t, pk), last, &dp)
	}
	for _, at := range tickAt {
		p.Tick(t0.Add(at))
	}
	p.Close(last)
	return sink.Events, p
}

func queries(evs []*event.Event, typ string) []string {
	var out []string
	for _, ev := range evs {
		if ev.Type == typ {
			out = append(out, ev.Method+":"+ev.Query)
		}
	}
	return out
}

const (
	cli = "10.0.0.1:40000"
	srv = "10.0.0.2:3306"
)

func handshake(cisn, sisn uint32) []pkt {
	return []pkt{
		{src: cli, dst: srv, seq: cisn, flags: "S"},
		{src: srv, dst: cli, seq: sisn, flags: "SA"},
		{src: cli, dst: srv, seq: cisn + 1, flags: "A"},
	}
}

func TestPipelineDelivery(t *testing.T) {
	big := strings.Repeat("g", 64000) // a GSO super-packet as captured on a veth
	tests := []struct {
		name string
		pkts []pkt
		want []string
	}{
		{
			name: "handshake, request, response, FIN",
			pkts: append(handshake(100, 900),
				pkt{src: cli, dst: srv, seq: 101, flags: "A", data: "req1"},
				pkt{src: srv, dst: cli, seq: 901, flags: "A", data: "resp1"},
				pkt{src: cli, dst: srv, seq: 105, flags: "FA"},
				pkt{src: srv, dst: cli, seq: 906, flags: "FA"}),
			want: []string{":req1|resp1"},
		},
		{
			name: "out of order and retransmitted",
			pkts: append(handshake(100, 900),
				pkt{src: cli, dst: srv, seq: 104, flags: "A", data: "DEF"},
				pkt{src: cli, dst: srv, seq: 101, flags: "A", data: "ABC"},
				pkt{src: cli, dst: srv, seq: 101, flags: "A", data: "ABC"},
				pkt{src: srv, dst: cli, seq: 901, flags: "A", data: "ok"}),
			want: []string{":ABCDEF|ok"},
		},
		{
			name: "GSO super-packet",
			pkts: append(handshake(100, 900),
				pkt{src: cli, dst: srv, seq: 101, flags: "A", data: "q"},
				pkt{src: srv, dst: cli, seq: 901, flags: "A", data: big}),
			want: []string{":q|" + big},
		},
		{
			name: "mid-stream, server found by its port",
			pkts: []pkt{
				{src: srv, dst: cli, seq: 5000, flags: "A", data: "tail"},
				{src: cli, dst: srv, seq: 7000, flags: "A", data: "next"},
			},
			want: []string{"MIDSTREAM:next|tail"},
		},
		{
			name: "lost segment becomes a gap at close",
			pkts: append(handshake(100, 900),
				pkt{src: cli, dst: srv, seq: 101, flags: "A", data: "AB"},
				pkt{src: cli, dst: srv, seq: 110, flags: "A", data: "XY"}),
			want: []string{":AB<gap7>XY|"},
		},
		{
			name: "IPv6",
			pkts: []pkt{
				{src: "[fd00::1]:40000", dst: "[fd00::2]:3306", seq: 1, flags: "S"},
				{src: "[fd00::1]:40000", dst: "[fd00::2]:3306", seq: 2, flags: "A", data: "v6"},
			},
			want: []string{":v6|"},
		},
		{
			name: "other ports are ignored",
			pkts: []pkt{{src: "10.0.0.1:40000", dst: "10.0.0.2:8080", seq: 1, flags: "A", data: "GET /"}},
		},
		{
			name: "RST ends the connection; a new SYN on the same tuple is a new connection",
			pkts: append(append(handshake(100, 900),
				pkt{src: cli, dst: srv, seq: 101, flags: "A", data: "one"},
				pkt{src: srv, dst: cli, seq: 901, flags: "R"}),
				pkt{src: cli, dst: srv, seq: 5000, flags: "S"},
				pkt{src: cli, dst: srv, seq: 5001, flags: "A", data: "two"}),
			want: []string{":one|", ":two|"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, _ := run(t, Options{}, tc.pkts)
			got := queries(evs, "echo")
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("parser saw\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestFlowRecords(t *testing.T) {
	pkts := append(handshake(100, 900),
		pkt{src: cli, dst: srv, seq: 101, flags: "A", data: "abcd"},
		pkt{src: srv, dst: cli, seq: 901, flags: "A", data: "xy", at: 2 * time.Second},
		pkt{src: cli, dst: srv, seq: 101, flags: "A", data: "abcd", at: 3 * time.Second}, // retransmission
		pkt{src: srv, dst: cli, seq: 903, flags: "A", data: "z", at: 12 * time.Second},
	)
	evs, _ := run(t, Options{Flows: true, FlowPeriod: 5 * time.Second}, pkts)
	var flows []*event.Event
	for _, ev := range evs {
		if ev.Type == event.TypeFlow {
			flows = append(flows, ev)
		}
	}
	// One periodic record at the first tick after 5 s (at 12 s), then the final one.
	if len(flows) != 2 {
		t.Fatalf("got %d flow records, want 2 (periodic and final)", len(flows))
	}
	f := flows[1]
	if !f.Flow.Final || flows[0].Flow.Final {
		t.Errorf("final flags: %v then %v, want false then true", flows[0].Flow.Final, f.Flow.Final)
	}
	if f.Source.Bytes != 8 || f.Destination.Bytes != 3 {
		t.Errorf("bytes: source %d destination %d, want 8 and 3", f.Source.Bytes, f.Destination.Bytes)
	}
	if f.Source.Packets != 4 || f.Destination.Packets != 3 {
		t.Errorf("packets: source %d destination %d, want 4 and 3", f.Source.Packets, f.Destination.Packets)
	}
	if f.Flow.Retransmissions.Source != 1 {
		t.Errorf("retransmissions: %+v, want 1 from the source", f.Flow.Retransmissions)
	}
	if f.Event.Duration != int64(12*time.Second) {
		t.Errorf("duration %v, want 12s", time.Duration(f.Event.Duration))
	}
	if f.Source.IP.String() != "10.0.0.1" || f.Destination.Port != 3306 || f.Flow.ID == "" || f.Network.CommunityID != f.Flow.ID {
		t.Errorf("endpoints or id wrong: %+v %+v id=%q", f.Source, f.Destination, f.Flow.ID)
	}
}

func TestLimits(t *testing.T) {
	t.Run("connection table is bounded and refusals are counted", func(t *testing.T) {
		var pkts []pkt
		for i := range 5 {
			pkts = append(pkts, pkt{src: fmt.Sprintf("10.0.0.1:%d", 40000+i), dst: srv, seq: 1, flags: "S"})
		}
		evs, p := run(t, Options{MaxConnections: 3}, pkts)
		if got := len(queries(evs, "echo")); got != 3 {
			t.Errorf("%d connections decoded, want 3", got)
		}
		if got := p.Stats().ConnsRefused.Load(); got != 2 {
			t.Errorf("ConnsRefused = %d, want 2", got)
		}
	})
	t.Run("idle connections close on the timer", func(t *testing.T) {
		pkts := append(handshake(100, 900), pkt{src: cli, dst: srv, seq: 101, flags: "A", data: "q"})
		var sink protocoltest.Collector
		p, err := New(Options{Sink: &sink, IdleTimeout: time.Minute,
			Protocols: []Protocol{{Name: "echo", Ports: []uint16{3306}, Factory: newEcho}}})
		if err != nil {
			t.Fatal(err)
		}
		d, _ := decode.New(layers.LinkTypeEthernet)
		var dp decode.Packet
		for _, pk := range pkts {
			p.Frame(d, serialize(t, pk), t0, &dp)
		}
		p.Tick(t0.Add(30 * time.Second))
		if len(sink.Events) != 0 {
			t.Fatalf("closed after 30 s, before the idle timeout")
		}
		p.Tick(t0.Add(61 * time.Second))
		if len(sink.Events) != 1 || p.Stats().ActiveConns.Load() != 0 {
			t.Fatalf("events %d, active %d after the idle timeout; want 1 and 0", len(sink.Events), p.Stats().ActiveConns.Load())
		}
	})
	t.Run("a missing segment is given up after the pending timeout", func(t *testing.T) {
		pkts := append(handshake(100, 900),
			pkt{src: cli, dst: srv, seq: 101, flags: "A", data: "a"},
			pkt{src: cli, dst: srv, seq: 105, flags: "A", data: "e"})
		_, p := run(t, Options{PendingTimeout: time.Second}, pkts, 3*time.Second)
		if p.Stats().Gaps.Load() != 1 || p.Stats().GapBytes.Load() != 3 {
			t.Errorf("gaps %d (%d bytes), want 1 (3 bytes)", p.Stats().Gaps.Load(), p.Stats().GapBytes.Load())
		}
	})
	t.Run("a port claimed twice is an error", func(t *testing.T) {
		_, err := New(Options{Sink: &protocoltest.Collector{}, Protocols: []Protocol{
			{Name: "a", Ports: []uint16{1}, Factory: newEcho}, {Name: "b", Ports: []uint16{1}, Factory: newEcho}}})
		if err == nil || !strings.Contains(err.Error(), "port 1") {
			t.Errorf("err = %v, want the port named", err)
		}
	})
}

func TestMalformedFramesAreCounted(t *testing.T) {
	var sink protocoltest.Collector
	p, err := New(Options{Sink: &sink, Protocols: []Protocol{{Name: "echo", Ports: []uint16{3306}, Factory: newEcho}}})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := decode.New(layers.LinkTypeEthernet)
	var dp decode.Packet
	good := serialize(t, pkt{src: cli, dst: srv, seq: 1, flags: "A", data: "hello"})
	for i := 0; i < len(good); i++ {
		p.Frame(d, good[:i], t0, &dp) // every truncation
	}
	p.Frame(d, []byte{0xff, 0xff, 0xff}, t0, &dp)
	p.Close(t0)
	st := p.Stats()
	if st.Packets.Load() != uint64(len(good)+1) {
		t.Errorf("packets %d, want %d", st.Packets.Load(), len(good)+1)
	}
	if st.DecodeErrors.Load()+st.NotTCPUDP.Load() == 0 {
		t.Errorf("no decode errors counted for truncated frames")
	}
}

// TestCloseInFirstSeenOrder: the connections still open at the end of a capture end in the
// order they were first seen, whatever the map's order, so a replay writes the same bytes every
// time; idle connections closed by Tick too.
func TestCloseInFirstSeenOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		tick []time.Duration
	}{{"close", nil}, {"idle", []time.Duration{time.Hour}}} {
		t.Run(tc.name, func(t *testing.T) {
			var pkts []pkt
			var want []string
			for i := range 40 {
				port := 40000 + (i*7919)%1000 // first-seen order is not port order
				c := fmt.Sprintf("10.0.0.1:%d", port)
				pkts = append(pkts, pkt{src: c, dst: srv, seq: 100, flags: "S", at: time.Duration(i) * time.Millisecond})
				want = append(want, fmt.Sprint(port))
			}
			for range 5 {
				evs, _ := run(t, Options{Flows: true}, pkts, tc.tick...)
				var got []string
				for _, ev := range evs {
					if ev.Type == event.TypeFlow {
						got = append(got, fmt.Sprint(ev.Source.Port))
					}
				}
				if strings.Join(got, " ") != strings.Join(want, " ") {
					t.Fatalf("flow records of ports\n%v\nwant first-seen order\n%v", got, want)
				}
			}
		})
	}
}
