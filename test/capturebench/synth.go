// Package capturebench measures the capture sidecar: replay speed against tshark on captures
// of real load, memory with many concurrent connections, and kernel drops under live load.
package capturebench

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Frame is a synthetic frame and its capture time.
type Frame struct {
	Data []byte
	TS   time.Time
}

// mysqlQuery is a COM_QUERY packet carrying q.
func mysqlQuery(q string) []byte {
	b := make([]byte, 5, 5+len(q))
	binary.LittleEndian.PutUint32(b, uint32(len(q)+1)) // 3-byte length; byte 3 (seq 0) is overwritten next
	b[3], b[4] = 0, 0x03
	return append(b, q...)
}

// mysqlOK is an OK packet (sequence 1) for one affected row.
func mysqlOK() []byte {
	return []byte{7, 0, 0, 1, 0x00, 1, 0, 2, 0, 0, 0}
}

// MySQLConversations builds frames for conns MySQL connections from client addresses in
// 10.231.0.0/16 to server 10.231.255.254:3306. All connections open first, then each sends
// rounds queries (each answered by an OK), interleaved across connections, then all close: at
// the peak every connection is open at once.
func MySQLConversations(conns, rounds int, start time.Time) ([]Frame, error) {
	server := netip.MustParseAddrPort("10.231.255.254:3306")
	var frames []Frame
	ts := start
	add := func(src, dst netip.AddrPort, seq, ack uint32, flags string, payload []byte) error {
		f, err := tcpFrame(src, dst, seq, ack, flags, payload)
		if err != nil {
			return err
		}
		ts = ts.Add(time.Microsecond)
		frames = append(frames, Frame{Data: f, TS: ts})
		return nil
	}
	client := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 231, byte(i >> 8 & 0xff), byte(i & 0xff)}), uint16(20000+i%40000))
	}
	const cisn, sisn = 1000, 5000
	cseq := make([]uint32, conns)
	sseq := make([]uint32, conns)
	for i := range conns {
		c := client(i)
		if err := add(c, server, cisn, 0, "S", nil); err != nil {
			return nil, err
		}
		if err := add(server, c, sisn, cisn+1, "SA", nil); err != nil {
			return nil, err
		}
		if err := add(c, server, cisn+1, sisn+1, "A", nil); err != nil {
			return nil, err
		}
		cseq[i], sseq[i] = cisn+1, sisn+1
	}
	ok := mysqlOK()
	for r := range rounds {
		for i := range conns {
			c := client(i)
			q := mysqlQuery(fmt.Sprintf("SELECT * FROM accounts WHERE id = %d AND round = %d", i, r))
			if err := add(c, server, cseq[i], sseq[i], "PA", q); err != nil {
				return nil, err
			}
			cseq[i] += uint32(len(q))
			if err := add(server, c, sseq[i], cseq[i], "PA", ok); err != nil {
				return nil, err
			}
			sseq[i] += uint32(len(ok))
		}
	}
	for i := range conns {
		c := client(i)
		if err := add(c, server, cseq[i], sseq[i], "FA", nil); err != nil {
			return nil, err
		}
		if err := add(server, c, sseq[i], cseq[i]+1, "FA", nil); err != nil {
			return nil, err
		}
	}
	return frames, nil
}

func tcpFrame(src, dst netip.AddrPort, seq, ack uint32, flags string, payload []byte) ([]byte, error) {
	has := func(c byte) bool {
		for i := range len(flags) {
			if flags[i] == c {
				return true
			}
		}
		return false
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: seq, Ack: ack, Window: 65535,
		SYN: has('S'), ACK: has('A') || ack != 0, FIN: has('F'), PSH: has('P'), RST: has('R')}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		return nil, err
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WritePcap writes frames to path as an Ethernet pcap.
func WritePcap(path string, frames []Frame) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		_ = f.Close()
		return err
	}
	for _, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: fr.TS, CaptureLength: len(fr.Data), Length: len(fr.Data)}
		if err := w.WritePacket(ci, fr.Data); err != nil {
			_ = f.Close()
			return err
		}
	}
	return f.Close()
}
