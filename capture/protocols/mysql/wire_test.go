package mysql

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// Builders of wire bytes for the synthetic tests.

// pkt frames payload as packets starting at sequence id seq, split at maxPacket.
func pkt(seq byte, payload []byte) []byte {
	var out []byte
	for {
		n := min(len(payload), maxPacket)
		out = append(out, byte(n), byte(n>>8), byte(n>>16), seq)
		out = append(out, payload[:n]...)
		payload = payload[n:]
		seq++
		if n < maxPacket {
			return out
		}
	}
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func greetingPkt(caps uint32) []byte {
	b := []byte{10}
	b = append(b, "10.11.19-MariaDB\x00"...)
	b = append(b, 1, 0, 0, 0)        // thread id
	b = append(b, "abcdefgh\x00"...) // auth data 1 and filler
	b = binary.LittleEndian.AppendUint16(b, uint16(caps))
	b = append(b, 45, 2, 0) // charset, status
	b = binary.LittleEndian.AppendUint16(b, uint16(caps>>16))
	b = append(b, 21)                  // auth data length
	b = append(b, make([]byte, 10)...) // reserved
	b = append(b, "ijklmnopqrst\x00mysql_native_password\x00"...)
	return pkt(0, b)
}

const testCaps = capProtocol41 | capSecureConnection | capPluginAuthLenenc | capConnectWithDB

func loginPkt(caps uint32, user, db string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, caps)
	b = append(b, 0, 0, 0, 1, 45)
	b = append(b, make([]byte, 23)...)
	if user == "" && caps&capSSL != 0 {
		return pkt(1, b)
	}
	b = append(b, user...)
	b = append(b, 0, 20)
	b = append(b, make([]byte, 20)...)
	if caps&capConnectWithDB != 0 {
		b = append(b, db...)
		b = append(b, 0)
	}
	b = append(b, "mysql_native_password\x00"...)
	return pkt(1, b)
}

func cmdPkt(cmd byte, body string) []byte { return pkt(0, append([]byte{cmd}, body...)) }

func stmtPkt(cmd byte, id uint32, extra ...byte) []byte {
	b := binary.LittleEndian.AppendUint32([]byte{cmd}, id)
	return pkt(0, append(b, extra...))
}

func executePkt(id uint32) []byte { return stmtPkt(comStmtExecute, id, 0, 1, 0, 0, 0) }

func okPkt(seq byte, affected, insertID byte, status uint16) []byte {
	b := []byte{hdrOK, affected, insertID}
	b = binary.LittleEndian.AppendUint16(b, status)
	return pkt(seq, append(b, 0, 0))
}

// okEOFPkt is the OK packet with a 0xfe header that ends rows under CLIENT_DEPRECATE_EOF.
func okEOFPkt(seq byte, status uint16) []byte {
	b := binary.LittleEndian.AppendUint16([]byte{hdrEOF, 0, 0}, status)
	return pkt(seq, append(b, 0, 0))
}

func eofPkt(seq byte, status uint16) []byte {
	return pkt(seq, binary.LittleEndian.AppendUint16([]byte{hdrEOF, 0, 0}, status))
}

func errPkt(seq byte, code uint16, state, msg string) []byte {
	b := binary.LittleEndian.AppendUint16([]byte{hdrERR}, code)
	b = append(b, '#')
	b = append(b, state...)
	return pkt(seq, append(b, msg...))
}

func colDefPkt(seq byte) []byte {
	return pkt(seq, []byte("\x03def\x04shop\x01t\x01t\x01c\x01c\x0c-\x00\x0b\x00\x00\x00\x03\x00\x00\x00\x00\x00"))
}

func rowPkt(seq byte, v string) []byte { return pkt(seq, append([]byte{byte(len(v))}, v...)) }

func prepareOKPkt(seq byte, id uint32, cols, params uint16) []byte {
	b := binary.LittleEndian.AppendUint32([]byte{hdrOK}, id)
	b = binary.LittleEndian.AppendUint16(b, cols)
	b = binary.LittleEndian.AppendUint16(b, params)
	return pkt(seq, append(b, 0, 0, 0))
}

// resultSet is a text result set of one column and the given rows, with EOF packets (or
// without, deprecateEOF), starting at seq; it returns the bytes and the next sequence id.
func resultSet(seq byte, deprecateEOF bool, status uint16, rows ...string) ([]byte, byte) {
	out := cat(pkt(seq, []byte{1}), colDefPkt(seq+1))
	seq += 2
	if !deprecateEOF {
		out = append(out, eofPkt(seq, 0)...)
		seq++
	}
	for _, r := range rows {
		out = append(out, rowPkt(seq, r)...)
		seq++
	}
	if deprecateEOF {
		out = append(out, okEOFPkt(seq, status)...)
	} else {
		out = append(out, eofPkt(seq, status)...)
	}
	return out, seq + 1
}

// step is one call into the parser: bytes of a direction, or a gap when gap > 0.
type step struct {
	dir  protocols.Dir
	data []byte
	gap  int
}

func c2s(b ...[]byte) step { return step{dir: protocols.ToServer, data: cat(b...)} }
func s2c(b ...[]byte) step { return step{dir: protocols.ToClient, data: cat(b...)} }

var testConn = protocols.Conn{
	Client:    netip.MustParseAddrPort("10.0.0.2:40000"),
	Server:    netip.MustParseAddrPort("10.0.0.3:3306"),
	Transport: "tcp",
}

// run feeds steps to a fresh parser, each in chunks of at most chunk bytes (0: whole), then
// closes it. It returns the events and the largest buffer the parser held.
func run(midStream bool, opts *protocols.Options, chunk int, steps ...step) ([]*event.Event, int) {
	conn := testConn
	conn.MidStream = midStream
	var sink protocoltest.Collector
	p := New(&conn, opts, &sink).(*Parser)
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	most := 0
	for _, s := range steps {
		ts = ts.Add(time.Millisecond)
		if s.gap > 0 {
			p.Gap(s.dir, s.gap, ts)
			continue
		}
		for d := s.data; len(d) > 0; {
			n := len(d)
			if chunk > 0 {
				n = min(n, chunk)
			}
			p.Data(s.dir, d[:n], ts)
			d = d[n:]
			most = max(most, p.buffered())
		}
	}
	p.Close(ts.Add(time.Millisecond))
	return sink.Events, most
}
