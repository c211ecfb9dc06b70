package pgsql

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// Builders of protocol messages for the synthetic tests.

func cstr(s string) []byte { return append([]byte(s), 0) }

func i16(n int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(n)) }

func i32(n int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// msgOf frames body as a typed message.
func msgOf(typ byte, body ...[]byte) []byte {
	b := cat(body...)
	return cat([]byte{typ}, i32(len(b)+4), b)
}

func startupMsg(user, db string) []byte {
	b := cat(i32(codeProtocol3), cstr("user"), cstr(user), cstr("database"), cstr(db), []byte{0})
	return cat(i32(len(b)+4), b)
}

func query(q string) []byte { return msgOf('Q', cstr(q)) }

func parseMsg(name, q string) []byte { return msgOf('P', cstr(name), cstr(q), i16(0)) }

func bindMsg(portal, stmt string) []byte {
	return msgOf('B', cstr(portal), cstr(stmt), i16(0), i16(0), i16(0))
}

func executeMsg(portal string) []byte { return msgOf('E', cstr(portal), i32(0)) }

func syncMsg() []byte { return msgOf('S') }

func rowDesc(names ...string) []byte {
	b := i16(len(names))
	for _, n := range names {
		b = cat(b, cstr(n), make([]byte, 18))
	}
	return msgOf('T', b)
}

func dataRow(vals ...string) []byte {
	b := i16(len(vals))
	for _, v := range vals {
		b = cat(b, i32(len(v)), []byte(v))
	}
	return msgOf('D', b)
}

func complete(tag string) []byte { return msgOf('C', cstr(tag)) }

func ready() []byte { return msgOf('Z', []byte{'I'}) }

func errorMsg(code, text string) []byte {
	return msgOf('E', []byte{'S'}, cstr("ERROR"), []byte{'V'}, cstr("ERROR"), []byte{'C'}, cstr(code), []byte{'M'}, cstr(text), []byte{0})
}

func authOK() []byte { return msgOf('R', i32(0)) }

// selectAnswer is the server's answer to a one-column SELECT of n rows, ReadyForQuery included.
func selectAnswer(n int) []byte {
	b := rowDesc("v")
	for i := 0; i < n; i++ {
		b = cat(b, dataRow("x"))
	}
	return cat(b, complete("SELECT "+strconv.Itoa(n)), ready())
}

// step is one call to the parser: Data of dir, or Gap when gap > 0.
type step struct {
	dir  protocols.Dir
	data []byte
	gap  int
}

func c(b ...[]byte) step                { return step{dir: protocols.ToServer, data: cat(b...)} }
func s(b ...[]byte) step                { return step{dir: protocols.ToClient, data: cat(b...)} }
func gapOf(d protocols.Dir, n int) step { return step{dir: d, gap: n} }

var testConn = protocols.Conn{
	Client:    netip.MustParseAddrPort("10.0.0.1:40000"),
	Server:    netip.MustParseAddrPort("10.0.0.2:5432"),
	Transport: "tcp",
}

// run feeds steps to a new parser, each Data split into chunks of chunk bytes (0: whole),
// one millisecond apart, closes it and returns the events and the parser.
func run(steps []step, mid bool, opts *protocols.Options, chunk int) ([]*event.Event, *parser) {
	conn := testConn
	conn.MidStream = mid
	var sink protocoltest.Collector
	p := New(&conn, opts, &sink).(*parser)
	ts := time.Unix(1700000000, 0)
	for _, st := range steps {
		ts = ts.Add(time.Millisecond)
		if st.gap > 0 {
			p.Gap(st.dir, st.gap, ts)
			continue
		}
		data := st.data
		for len(data) > 0 {
			n := len(data)
			if chunk > 0 {
				n = min(n, chunk)
			}
			p.Data(st.dir, data[:n], ts)
			data = data[n:]
		}
	}
	p.Close(ts.Add(time.Millisecond))
	return sink.Events, p
}

func summaries(evs []*event.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, summary(ev))
	}
	return out
}
