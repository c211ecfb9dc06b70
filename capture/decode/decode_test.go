package decode

import (
	"errors"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var (
	macA = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{2, 0, 0, 0, 0, 2}
)

func ip4(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: net.IPv4(10, 0, 0, 1), DstIP: net.IPv4(10, 0, 0, 2)}
}

func TestDecode(t *testing.T) {
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 3306, Seq: 7, SYN: true, ACK: true}
	payload := gopacket.Payload("hello")
	tests := []struct {
		name    string
		link    layers.LinkType
		frame   []byte
		wantErr error
		check   func(*testing.T, *Packet)
	}{
		{
			name:  "ethernet ipv4 tcp",
			link:  layers.LinkTypeEthernet,
			frame: serialize(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}, ip4(layers.IPProtocolTCP), tcp, payload),
			check: func(t *testing.T, p *Packet) {
				if p.Transport != TCP || p.Src.String() != "10.0.0.1" || p.DstPort != 3306 || p.Seq != 7 || !p.SYN || !p.ACK || string(p.Payload) != "hello" {
					t.Errorf("%+v", p)
				}
			},
		},
		{
			name: "vlan-tagged ipv6 udp",
			link: layers.LinkTypeEthernet,
			frame: serialize(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeDot1Q},
				&layers.Dot1Q{VLANIdentifier: 42, Type: layers.EthernetTypeIPv6},
				&layers.IPv6{Version: 6, HopLimit: 1, NextHeader: layers.IPProtocolUDP, SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2")},
				&layers.UDP{SrcPort: 5353, DstPort: 53}, payload),
			check: func(t *testing.T, p *Packet) {
				if p.Transport != UDP || p.Src.String() != "fd00::1" || p.DstPort != 53 || string(p.Payload) != "hello" {
					t.Errorf("%+v", p)
				}
			},
		},
		{
			name: "linux cooked capture",
			link: layers.LinkTypeLinuxSLL,
			// A cooked header: packet type, ARPHRD_ETHER, address length, address (8), EtherType.
			frame: append([]byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00}, serialize(t, ip4(layers.IPProtocolTCP), tcp, payload)...),
			check: func(t *testing.T, p *Packet) {
				if p.Transport != TCP || string(p.Payload) != "hello" {
					t.Errorf("%+v", p)
				}
			},
		},
		{
			name:  "raw ipv6",
			link:  layers.LinkTypeRaw,
			frame: serialize(t, &layers.IPv6{Version: 6, HopLimit: 1, NextHeader: layers.IPProtocolTCP, SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2")}, tcp, payload),
			check: func(t *testing.T, p *Packet) {
				if p.Transport != TCP || p.Dst.String() != "fd00::2" {
					t.Errorf("%+v", p)
				}
			},
		},
		{
			name:    "arp is not transport",
			link:    layers.LinkTypeEthernet,
			frame:   serialize(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeARP}, &layers.ARP{AddrType: 1, Protocol: 0x0800, HwAddressSize: 6, ProtAddressSize: 4, SourceHwAddress: macA, SourceProtAddress: []byte{10, 0, 0, 1}, DstHwAddress: macB, DstProtAddress: []byte{10, 0, 0, 2}}),
			wantErr: ErrNotTransport,
		},
		{
			name: "a later fragment has no ports",
			link: layers.LinkTypeEthernet,
			frame: func() []byte {
				ip := ip4(layers.IPProtocolTCP)
				ip.FragOffset = 100
				return serialize(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}, ip, payload)
			}(),
			wantErr: ErrNotTransport,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(tc.link)
			if err != nil {
				t.Fatal(err)
			}
			var p Packet
			err = d.Decode(tc.frame, &p)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, &p)
		})
	}
	if _, err := New(layers.LinkTypeFDDI); err == nil {
		t.Errorf("FDDI accepted")
	}
}

// Every prefix of a valid frame, and garbage, decodes to an error or a packet, never a panic.
func TestDecodeTruncated(t *testing.T) {
	frame := serialize(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}, ip4(layers.IPProtocolTCP),
		&layers.TCP{SrcPort: 1, DstPort: 2, DataOffset: 5}, gopacket.Payload("payload"))
	d, _ := New(layers.LinkTypeEthernet)
	var p Packet
	for i := range frame {
		_ = d.Decode(frame[:i], &p)
	}
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	frame := serialize(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}, ip4(layers.IPProtocolTCP),
		&layers.TCP{SrcPort: 40000, DstPort: 3306, ACK: true}, gopacket.Payload("SELECT 1"))
	d, _ := New(layers.LinkTypeEthernet)
	var p Packet
	if n := testing.AllocsPerRun(1000, func() { _ = d.Decode(frame, &p) }); n != 0 {
		t.Errorf("%v allocations per packet, want 0", n)
	}
}

func BenchmarkDecode(b *testing.B) {
	frame := serialize(b, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}, ip4(layers.IPProtocolTCP),
		&layers.TCP{SrcPort: 40000, DstPort: 3306, ACK: true}, gopacket.Payload("SELECT 1"))
	d, _ := New(layers.LinkTypeEthernet)
	var p Packet
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		_ = d.Decode(frame, &p)
	}
}
