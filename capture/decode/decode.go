// Package decode turns captured frames into the few fields reassembly needs, with gopacket's
// DecodingLayerParser and preallocated layers: no allocation per packet.
package decode

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Transport protocol numbers.
const (
	TCP uint8 = 6
	UDP uint8 = 17
)

// Packet is one decoded TCP or UDP packet. Payload aliases the frame passed to Decode and is
// valid only as long as that frame is.
type Packet struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Transport        uint8
	// TCP only.
	Seq                uint32
	SYN, ACK, FIN, RST bool
	Payload            []byte
	// Truncated is true when the capture kept fewer bytes than the IP header announced
	// (snap length): the missing tail is lost, not invented.
	Truncated bool
}

// Decoder decodes frames of one link type. It is not safe for concurrent use: each capture
// goroutine owns one.
type Decoder struct {
	parser  *gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
	eth     layers.Ethernet
	sll     layers.LinuxSLL
	loop    layers.Loopback
	dot1q   layers.Dot1Q
	ip4     layers.IPv4
	ip6     layers.IPv6
	tcp     layers.TCP
	udp     layers.UDP
	payload gopacket.Payload
	// parser6 decodes the IPv6 packets of a raw-IP capture.
	parser6 *gopacket.DecodingLayerParser
	// ethernet: frames start with an Ethernet header, which the fast path decodes.
	ethernet bool
}

// ErrNotTransport reports a frame that holds no TCP or UDP packet (ARP, ICMP, a non-first
// fragment, an IPv6 extension header chain, ...). Callers count it and move on.
var ErrNotTransport = errors.New("no TCP or UDP packet in frame")

// New returns a decoder for frames of the given link type: Ethernet (which is also what
// AF_PACKET gives on lo and veth), Linux cooked capture, BSD loopback, or raw IP.
func New(link layers.LinkType) (*Decoder, error) {
	d := &Decoder{decoded: make([]gopacket.LayerType, 0, 8), ethernet: link == layers.LinkTypeEthernet}
	var first gopacket.LayerType
	switch link {
	case layers.LinkTypeEthernet:
		first = layers.LayerTypeEthernet
	case layers.LinkTypeLinuxSLL:
		first = layers.LayerTypeLinuxSLL
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		first = layers.LayerTypeLoopback
	case layers.LinkTypeRaw, layers.LinkTypeIPv4:
		first = layers.LayerTypeIPv4
	case layers.LinkTypeIPv6:
		first = layers.LayerTypeIPv6
	default:
		return nil, fmt.Errorf("link type %s is not supported", link)
	}
	d.parser = gopacket.NewDecodingLayerParser(first,
		&d.eth, &d.sll, &d.loop, &d.dot1q, &d.ip4, &d.ip6, &d.tcp, &d.udp, &d.payload)
	d.parser.IgnoreUnsupported = true
	// Raw-IP captures may hold IPv6 too; the first nibble tells.
	if link == layers.LinkTypeRaw {
		d.parser6 = gopacket.NewDecodingLayerParser(layers.LayerTypeIPv6, &d.ip6, &d.tcp, &d.udp, &d.payload)
		d.parser6.IgnoreUnsupported = true
	}
	return d, nil
}

// Decode fills p from frame. It returns ErrNotTransport for frames without TCP or UDP, and an
// error for malformed headers; p is valid only when the error is nil.
func (d *Decoder) Decode(frame []byte, p *Packet) error {
	if ok, err := d.fast(frame, p); ok {
		return err
	}
	return d.layers(frame, p)
}

// layers decodes frame with gopacket's DecodingLayerParser: the frames fast leaves to it, and
// every frame in the tests that compare the two.
func (d *Decoder) layers(frame []byte, p *Packet) error {
	parser := d.parser
	if d.parser6 != nil && len(frame) > 0 && frame[0]>>4 == 6 {
		parser = d.parser6
	}
	if err := parser.DecodeLayers(frame, &d.decoded); err != nil {
		return err
	}
	*p = Packet{}
	var haveIP bool
	for _, t := range d.decoded {
		switch t {
		case layers.LayerTypeIPv4:
			if d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0 {
				return ErrNotTransport
			}
			p.Src, _ = netip.AddrFromSlice(d.ip4.SrcIP)
			p.Dst, _ = netip.AddrFromSlice(d.ip4.DstIP)
			p.Truncated = int(d.ip4.Length) > len(d.ip4.Contents)+len(d.ip4.Payload)
			haveIP = true
		case layers.LayerTypeIPv6:
			p.Src, _ = netip.AddrFromSlice(d.ip6.SrcIP)
			p.Dst, _ = netip.AddrFromSlice(d.ip6.DstIP)
			p.Truncated = d.ip6.Length != 0 && int(d.ip6.Length) > len(d.ip6.Payload)
			haveIP = true
		case layers.LayerTypeTCP:
			if !haveIP {
				return ErrNotTransport
			}
			p.Transport = TCP
			p.SrcPort, p.DstPort = uint16(d.tcp.SrcPort), uint16(d.tcp.DstPort)
			p.Seq = d.tcp.Seq
			p.SYN, p.ACK, p.FIN, p.RST = d.tcp.SYN, d.tcp.ACK, d.tcp.FIN, d.tcp.RST
			p.Payload = d.tcp.Payload
			return nil
		case layers.LayerTypeUDP:
			if !haveIP {
				return ErrNotTransport
			}
			p.Transport = UDP
			p.SrcPort, p.DstPort = uint16(d.udp.SrcPort), uint16(d.udp.DstPort)
			p.Payload = d.udp.Payload
			return nil
		}
	}
	return ErrNotTransport
}
