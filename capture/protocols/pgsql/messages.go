package pgsql

import (
	"bytes"
	"encoding/binary"
	"unicode/utf8"

	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/sqlnorm"
)

// Request codes of the startup-phase messages, which have no type byte.
const (
	codeProtocol3  = 3 << 16
	codeCancel     = 80877102
	codeSSL        = 80877103
	codeGSSENC     = 80877104
	maxStartupLen  = 10000 // the server's own MAX_STARTUP_PACKET_LENGTH
	maxMessageSize = 1 << 30
)

const (
	toServer = int(protocols.ToServer)
	toClient = int(protocols.ToClient)
)

// sizeOK says whether typ is a message of direction dir and size a body length it can have:
// exactly the size of a fixed layout, no more than the server would ever send or accept for
// small messages, and at most 1 GiB (the server's own limit) for statements, values and rows.
// Tight bounds let a reader that lost its place notice it at the next header.
func sizeOK(dir int, typ byte, size int64) bool {
	lo, hi := int64(0), int64(-1)
	if dir == toServer {
		switch typ {
		case 'S', 'H', 'X', 'c':
			hi = 0
		case 'E': // a portal name and a row limit
			lo, hi = 5, 64<<10
		case 'C', 'D': // 'S' or 'P' and a name
			lo, hi = 2, 64<<10
		case 'p', 'f':
			hi = 64 << 10
		case 'Q', 'P', 'B', 'd', 'F':
			hi = maxMessageSize
		}
	} else {
		switch typ {
		case '1', '2', '3', 'n', 'I', 's', 'c':
			hi = 0
		case 'Z':
			lo, hi = 1, 1
		case 'K': // process id and a key of 4 to 256 bytes
			lo, hi = 8, 260
		case 'C': // a command tag
			lo, hi = 1, 1<<10
		case 'R': // the request code, and SASL or GSS data
			lo, hi = 4, 64<<10
		case 'S': // name and value
			lo, hi = 2, 64<<10
		case 'A': // process id, channel and payload
			lo, hi = 6, 64<<10
		case 'v': // minor version, count of options, options
			lo, hi = 8, 64<<10
		case 'G', 'H', 'W': // format and column formats
			lo, hi = 3, 64<<10
		case 't': // at most 65535 parameter types
			lo, hi = 2, 2+4*65535
		case 'T': // at most 1664 columns, names of at most 63 bytes
			lo, hi = 2, 256<<10
		case 'E', 'N':
			lo, hi = 1, 1<<20
		case 'D', 'd', 'V':
			hi = maxMessageSize
		}
	}
	return size >= lo && size <= hi
}

// keepFor is how many body bytes a message needs decoded: rows and COPY data are only
// counted, and a RowDescription is only needed for its field count.
func keepFor(dir int, typ byte) int {
	switch {
	case typ == 'd':
		return 0
	case dir == toClient && typ == 'D':
		return 0
	case dir == toClient && typ == 'T':
		return 2
	}
	return maxMessageSize
}

// candidate says whether typ may start a resynchronisation: only messages whose bodies have
// enough structure to be checked strictly. Short fixed-size messages (Sync, ParseComplete...)
// are too easy to find by chance inside binary data.
func candidate(dir int, typ byte) bool {
	if dir == toServer {
		return typ == 'Q' || typ == 'P' || typ == 'B'
	}
	switch typ {
	case 'T', 'D', 'C', 'Z', 'E', 'N', 'S', 't', 'G', 'H':
		return true
	}
	return false
}

// valid checks the whole body of a resynchronisation candidate.
func valid(dir int, typ byte, b []byte) bool {
	d := decoder{b: b}
	if dir == toServer {
		switch typ {
		case 'Q':
			return d.statement() && d.done()
		case 'P':
			if !d.name() || !d.statement() {
				return false
			}
			n := d.int16()
			return n >= 0 && d.skip(4*n) && d.done()
		case 'B':
			return d.names(2) && d.formats() && d.values() && d.formats() && d.done()
		}
		return false
	}
	switch typ {
	case 'T':
		n := d.int16()
		for i := 0; i < n; i++ {
			if !d.name() || !d.skip(18) {
				return false
			}
		}
		return n >= 0 && d.done()
	case 'D':
		return d.values() && d.done()
	case 'C':
		return validTag(b)
	case 'Z':
		return len(b) == 1 && (b[0] == 'I' || b[0] == 'T' || b[0] == 'E')
	case 'E', 'N':
		return validNotice(b)
	case 'S':
		return d.names(2) && d.done()
	case 't':
		n := d.int16()
		return n >= 0 && d.skip(4*n) && d.done()
	case 'G', 'H':
		f := d.byte()
		return (f == 0 || f == 1) && d.formats() && d.done()
	}
	return false
}

// validTag accepts a CommandComplete tag: upper-case words and numbers, NUL-terminated.
func validTag(b []byte) bool {
	if len(b) < 2 || b[len(b)-1] != 0 || b[0] < 'A' || b[0] > 'Z' {
		return false
	}
	for _, c := range b[:len(b)-1] {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ' ') {
			return false
		}
	}
	return true
}

// validNotice accepts an ErrorResponse or NoticeResponse with known field codes, a known
// severity and a five-character SQLSTATE.
func validNotice(b []byte) bool {
	var sev, code []byte
	ok := fields(b, func(f byte, v []byte) bool {
		switch f {
		case 'S', 'V':
			sev = v
		case 'C':
			code = v
		case 'M', 'D', 'H', 'P', 'p', 'q', 'W', 's', 't', 'c', 'd', 'n', 'F', 'L', 'R':
		default:
			return false
		}
		return printable(v)
	})
	if !ok || len(code) != 5 {
		return false
	}
	switch string(sev) {
	case "ERROR", "FATAL", "PANIC", "WARNING", "NOTICE", "DEBUG", "INFO", "LOG":
		return true
	}
	return false
}

// fields walks the (code, NUL-terminated value) pairs of an ErrorResponse or NoticeResponse
// body; false if the body is not well-formed or fn says stop.
func fields(b []byte, fn func(code byte, v []byte) bool) bool {
	for len(b) > 0 {
		if b[0] == 0 {
			return len(b) == 1
		}
		i := bytes.IndexByte(b[1:], 0)
		if i < 0 || !fn(b[0], b[1:1+i]) {
			return false
		}
		b = b[2+i:]
	}
	return false
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			return false
		}
	}
	return utf8.Valid(b)
}

// tagRows is the row count of a CommandComplete tag ("SELECT 5", "INSERT 0 1", "COPY 10"...).
func tagRows(tag []byte) (uint64, bool) {
	sp := bytes.IndexByte(tag, ' ')
	if sp < 0 {
		return 0, false
	}
	switch string(tag[:sp]) {
	case "SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "MOVE", "FETCH", "COPY":
	default:
		return 0, false
	}
	num := tag[bytes.LastIndexByte(tag, ' ')+1:]
	if len(num) == 0 || len(num) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range num {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// decoder reads the fields of a message body; every method is safe on short input and
// turns the decoder bad instead.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) done() bool { return !d.bad && len(d.b) == 0 }

// take returns the next n bytes, or nil when fewer are left.
func (d *decoder) take(n int) []byte {
	if n < 0 || len(d.b) < n {
		d.bad = true
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() int {
	if v := d.take(1); v != nil {
		return int(v[0])
	}
	return -1
}

func (d *decoder) int16() int {
	if v := d.take(2); v != nil {
		return int(int16(binary.BigEndian.Uint16(v)))
	}
	return -1
}

func (d *decoder) int32() int64 {
	if v := d.take(4); v != nil {
		return int64(int32(binary.BigEndian.Uint32(v)))
	}
	return -1
}

func (d *decoder) skip(n int) bool { return d.take(n) != nil || n == 0 && !d.bad }

// cstring returns the bytes up to the next NUL and steps over the NUL.
func (d *decoder) cstring() ([]byte, bool) {
	i := bytes.IndexByte(d.b, 0)
	if i < 0 {
		d.bad = true
		return nil, false
	}
	s := d.b[:i]
	d.b = d.b[i+1:]
	return s, true
}

// name reads a statement, portal or parameter name: printable text.
func (d *decoder) name() bool {
	s, ok := d.cstring()
	return ok && printable(s)
}

// names reads n names.
func (d *decoder) names(n int) bool {
	for range n {
		if !d.name() {
			return false
		}
	}
	return true
}

// statement reads SQL text strictly: printable and starting with a keyword.
func (d *decoder) statement() bool {
	s, ok := d.cstring()
	return ok && len(s) > 0 && printable(s) && sqlnorm.Verb(string(s)) != ""
}

// formats reads an int16 count and that many format codes (0 text, 1 binary).
func (d *decoder) formats() bool {
	n := d.int16()
	for i := 0; i < n; i++ {
		if f := d.int16(); f != 0 && f != 1 {
			return false
		}
	}
	return n >= 0 && !d.bad
}

// values reads an int16 count and that many length-prefixed values (-1 is NULL).
func (d *decoder) values() bool {
	n := d.int16()
	for i := 0; i < n; i++ {
		l := d.int32()
		if l < -1 || l > 0 && !d.skip(int(l)) {
			return false
		}
	}
	return n >= 0 && !d.bad
}
