package decode

import (
	"encoding/binary"
	"net/netip"
)

// fast decodes the frames that make up nearly all traffic: Ethernet without a VLAN tag, IPv4
// without options or IPv6 without extension headers, then TCP or UDP. It reports false for
// every other frame, and for every frame that gopacket would refuse, so that the
// gopacket path decodes those and says why. What it accepts, it decodes exactly as the
// gopacket path does: FuzzFast compares the two on every input.
//
// gopacket's DecodingLayerParser was 13% of a whole replay (the sidecar on a mixed capture,
// JSON output included): it fills every field of every layer and parses the TCP options into
// a slice, where the pipeline needs addresses, ports, flags and the payload.
func (d *Decoder) fast(frame []byte, p *Packet) (bool, error) {
	if !d.ethernet || len(frame) < 14 {
		return false, nil
	}
	ip := frame[14:]
	var src, dst netip.Addr
	var proto byte
	var truncated bool
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case 0x0800:
		if len(ip) < 20 || ip[0]&0x0f != 5 {
			return false, nil // short, or options: gopacket says which
		}
		length := int(binary.BigEndian.Uint16(ip[2:4]))
		if length == 0 { // TCP segmentation offload: the frame is the length
			length = len(ip)
		}
		if length < 20 {
			return false, nil
		}
		if length > len(ip) {
			truncated = true
		} else {
			ip = ip[:length] // Ethernet padding
		}
		if ff := binary.BigEndian.Uint16(ip[6:8]); ff&0x2000 != 0 || ff&0x1fff != 0 {
			*p = Packet{}
			return true, ErrNotTransport // a fragment
		}
		proto = ip[9]
		src, dst = netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		ip = ip[20:]
	case 0x86dd:
		if len(ip) < 40 {
			return false, nil
		}
		length := int(binary.BigEndian.Uint16(ip[4:6]))
		if length == 0 { // a jumbogram, or an error
			return false, nil
		}
		proto = ip[6]
		src, dst = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
		ip = ip[40:]
		if length > len(ip) {
			truncated = true
		} else {
			ip = ip[:length]
		}
	default:
		return false, nil
	}
	switch proto {
	case TCP:
		return fastTCP(ip, p, src, dst, truncated), nil
	case UDP:
		return fastUDP(ip, p, src, dst, truncated), nil
	}
	return false, nil
}

// fastTCP fills p from the TCP segment t, unless gopacket would refuse it: a short header, a
// data offset out of bounds, or malformed options (checked as gopacket checks them).
func fastTCP(t []byte, p *Packet, src, dst netip.Addr, truncated bool) bool {
	if len(t) < 20 {
		return false
	}
	start := int(t[12]>>4) * 4
	if start < 20 || start > len(t) {
		return false
	}
	for opts := t[20:start]; len(opts) > 0; {
		switch opts[0] {
		case 0: // end of options
			opts = nil
		case 1: // no-op
			opts = opts[1:]
		default:
			if len(opts) < 2 || opts[1] < 2 || int(opts[1]) > len(opts) {
				return false
			}
			opts = opts[opts[1]:]
		}
	}
	flags := t[13]
	*p = Packet{
		Src: src, Dst: dst,
		SrcPort: binary.BigEndian.Uint16(t[0:2]), DstPort: binary.BigEndian.Uint16(t[2:4]),
		Transport: TCP,
		Seq:       binary.BigEndian.Uint32(t[4:8]),
		FIN:       flags&0x01 != 0, SYN: flags&0x02 != 0, RST: flags&0x04 != 0, ACK: flags&0x10 != 0,
		Payload:   t[start:],
		Truncated: truncated,
	}
	return true
}

// fastUDP fills p from the UDP datagram u, unless gopacket would refuse it: a short header or
// a length under 8 (other than 0, a jumbogram's, which means the rest of the frame).
func fastUDP(u []byte, p *Packet, src, dst netip.Addr, truncated bool) bool {
	if len(u) < 8 {
		return false
	}
	end := int(binary.BigEndian.Uint16(u[4:6]))
	switch {
	case end == 0:
		end = len(u)
	case end < 8:
		return false
	case end > len(u):
		end = len(u)
	}
	*p = Packet{
		Src: src, Dst: dst,
		SrcPort: binary.BigEndian.Uint16(u[0:2]), DstPort: binary.BigEndian.Uint16(u[2:4]),
		Transport: UDP,
		Payload:   u[8:end],
		Truncated: truncated,
	}
	return true
}
