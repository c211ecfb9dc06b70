package source

import (
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/net/bpf"
)

func frame(t *testing.T, v6 bool, udp bool, sport, dport uint16, fragOffset uint16) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	proto := layers.IPProtocolTCP
	if udp {
		proto = layers.IPProtocolUDP
	}
	var l3 gopacket.SerializableLayer
	if v6 {
		eth.EthernetType = layers.EthernetTypeIPv6
		l3 = &layers.IPv6{Version: 6, HopLimit: 1, NextHeader: proto, SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2")}
	} else {
		eth.EthernetType = layers.EthernetTypeIPv4
		l3 = &layers.IPv4{Version: 4, IHL: 5, TTL: 1, Protocol: proto, FragOffset: fragOffset,
			SrcIP: net.IPv4(10, 0, 0, 1), DstIP: net.IPv4(10, 0, 0, 2)}
	}
	var l4 gopacket.SerializableLayer = &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport)}
	if udp {
		l4 = &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, eth, l3, l4, gopacket.Payload("x")); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestFilterProgram(t *testing.T) {
	arp := make([]byte, 42)
	arp[12], arp[13] = 0x08, 0x06
	vlan := frame(t, false, false, 1, 2, 0)
	vlan[12], vlan[13] = 0x81, 0x00
	tests := []struct {
		name   string
		filter Filter
		frame  []byte
		pass   bool
	}{
		{"tcp4 to server port", Filter{TCPPorts: []uint16{3306}}, frame(t, false, false, 40000, 3306, 0), true},
		{"tcp4 from server port", Filter{TCPPorts: []uint16{3306}}, frame(t, false, false, 3306, 40000, 0), true},
		{"tcp4 other port", Filter{TCPPorts: []uint16{3306}}, frame(t, false, false, 40000, 80, 0), false},
		{"tcp6 to second port", Filter{TCPPorts: []uint16{3306, 5432}}, frame(t, true, false, 40000, 5432, 0), true},
		{"tcp6 other port", Filter{TCPPorts: []uint16{3306}}, frame(t, true, false, 40000, 5432, 0), false},
		{"udp4 dns", Filter{UDPPorts: []uint16{53}}, frame(t, false, true, 40000, 53, 0), true},
		{"udp4 port listed only for tcp", Filter{TCPPorts: []uint16{53}}, frame(t, false, true, 40000, 53, 0), false},
		{"udp6 from dns", Filter{UDPPorts: []uint16{53}}, frame(t, true, true, 53, 40000, 0), true},
		{"non-first fragment", Filter{TCPPorts: []uint16{3306}}, frame(t, false, false, 40000, 3306, 10), false},
		{"all tcp", Filter{AllTCP: true}, frame(t, false, false, 1, 2, 0), true},
		{"all tcp, not udp", Filter{AllTCP: true}, frame(t, true, true, 1, 2, 0), false},
		{"arp", Filter{AllTCP: true, AllUDP: true}, arp, false},
		{"vlan-tagged passes to userspace", Filter{TCPPorts: []uint16{3306}}, vlan, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := tc.filter.Program()
			if err != nil {
				t.Fatal(err)
			}
			prog, ok := bpf.Disassemble(raw)
			if !ok {
				t.Fatalf("program does not disassemble")
			}
			vm, err := bpf.NewVM(prog)
			if err != nil {
				t.Fatalf("kernel-style validation: %v", err)
			}
			n, err := vm.Run(tc.frame)
			if err != nil {
				t.Fatal(err)
			}
			if got := n > 0; got != tc.pass {
				t.Errorf("passed = %v, want %v", got, tc.pass)
			}
		})
	}
}

func TestFilterManyPorts(t *testing.T) {
	ports := make([]uint16, maxPorts)
	for i := range ports {
		ports[i] = uint16(1000 + i)
	}
	raw, err := Filter{TCPPorts: ports, UDPPorts: ports}.Program()
	if err != nil {
		t.Fatalf("%d ports: %v", maxPorts, err)
	}
	prog, _ := bpf.Disassemble(raw)
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := vm.Run(frame(t, true, true, 5, ports[len(ports)-1], 0)); n == 0 {
		t.Errorf("last port of %d not passed", maxPorts)
	}
	if _, err := (Filter{TCPPorts: append(ports, 1)}).Program(); err == nil {
		t.Errorf("%d ports compiled; want an error naming the limit", maxPorts+1)
	}
}
