package mysql

import (
	"time"
	"unicode/utf8"

	"github.com/audit-io/wire-audit/capture/protocols"
)

// Detect says whether first, the first bytes seen in direction dir of a connection, look like
// MySQL: toward the client a server greeting (protocol 10 with a version string), toward the
// server a HandshakeResponse41 or a plausible command packet. It is strict, because a false
// positive sends a connection of another protocol to this parser.
func Detect(first []byte, dir protocols.Dir) bool {
	if dir == protocols.ToClient {
		if len(first) < 5 || first[3] != 0 {
			return false
		}
		n := le24(first)
		// protocol, version, thread id, 8 bytes of auth data, filler, capabilities
		if n < 1+2+4+8+1+2 || n > 1024 {
			return false
		}
		_, ok := parseGreeting(first[4:min(len(first), 4+n)])
		return ok
	}
	if len(first) >= 5 && first[3] == 1 {
		n := le24(first)
		if n >= sslRequestLen && n <= 4096 && len(first) >= 4+sslRequestLen {
			_, ok := parseLogin(first[4 : 4+min(n, len(first)-4)])
			return ok
		}
	}
	return plausibleCommand(first, 2)
}

// resyncClient says whether data, the start of a Data call toward the server, is a point to
// frame that direction again: it must start with a plausible command packet. Clients write a
// command at a time, so a segment that follows a gap or starts a mid-stream capture usually
// begins with one; a command cut across Data calls is missed, never guessed at.
func (p *Parser) resyncClient(data []byte) bool {
	if !plausibleCommand(data, 2) {
		return false
	}
	h := &p.half[protocols.ToServer]
	h.reset()
	h.synced = true
	return true
}

// probeServer collects the first bytes the server sends after a command while that direction
// is out of sync, and resynchronises there if they open a plausible answer to the command with
// the expected sequence id. The answer to a command is the only server message whose start
// is known, and it is tried once, whatever the chunking.
func (p *Parser) probeServer(data []byte, ts time.Time) {
	h := &p.half[protocols.ToClient]
	t := &p.t
	if !t.active || t.soft || t.probed || t.respBytes != 0 || t.state != rsFirst {
		h.probeN = 0
		return
	}
	n := copy(h.probe[h.probeN:], data)
	h.probeN += n
	if h.probeN < len(h.probe) {
		return
	}
	h.probeN = 0
	t.probed = true
	if !plausibleAnswer(h.probe[:], t) {
		return
	}
	h.reset()
	h.synced = true
	probe := h.probe
	p.Data(protocols.ToClient, probe[:], ts)
	p.Data(protocols.ToClient, data[n:], ts)
}

// plausibleAnswer says whether b, a packet header and the first payload byte, can open the
// response to t.
func plausibleAnswer(b []byte, t *txn) bool {
	if b[3] != t.nextSeq {
		return false
	}
	n := le24(b)
	switch c := b[4]; {
	case c == hdrOK:
		return n >= 7
	case c == hdrERR:
		return n >= 3
	case c == hdrEOF:
		return n == 5
	case c == hdrInfile:
		return t.cmd == comQuery && n >= 2
	case c < 0xfb:
		return c > 0 && n <= 2 // column count, and MariaDB's metadata flag
	case c == 0xfc:
		return n == 3 || n == 4
	}
	return false
}

// validCommand says whether a message from the client with sequence id 0 is a command: a
// command byte a client sends, and a length that fits it.
func validCommand(b []byte, total int) bool {
	if len(b) == 0 {
		return false
	}
	switch b[0] {
	case comQuit, comPing, comStatistics, comProcessInfo, comResetConnection, 0x0d /* debug */ :
		return total == 1
	case comStmtClose, comStmtReset:
		return total == 5
	case comStmtFetch:
		return total == 9
	case comStmtExecute:
		return total >= 10
	case comStmtSendLongData:
		return total >= 7
	case comStmtBulkExecute:
		return total >= 7
	case comQuery, comStmtPrepare, comInitDB, comFieldList, 0x05, 0x06 /* create, drop db */ :
		return total >= 2
	case comChangeUser, comBinlogDump, 0x1e /* binlog dump gtid */, 0x15 /* register slave */ :
		return total >= 2
	case comSetOption:
		return total == 3
	case 0x07 /* refresh */, 0x08 /* shutdown */ :
		return total <= 2
	case 0x0c /* process kill */ :
		return total == 5
	}
	return false
}

// plausibleCommand says whether data starts with a command packet that a client would send:
// sequence id 0, a command byte with a length that fits it, and for statement text, text. A
// packet that ends inside data must be followed by the end of data or by another plausible
// command (depth bounds that look-ahead: past it, the commands seen are evidence enough).
func plausibleCommand(data []byte, depth int) bool {
	if len(data) < 5 || data[3] != 0 {
		return false
	}
	n := le24(data)
	if n == 0 || !validCommand(data[4:5], n) {
		return false
	}
	cmd := data[4]
	end := 4 + n
	if n >= maxPacket && cmd != comQuery && cmd != comStmtPrepare {
		return false
	}
	body := data[5:min(len(data), end)]
	switch cmd {
	case comQuery, comStmtPrepare:
		if !plausibleText(body) || !startsStatement(body) {
			return false
		}
	case comInitDB:
		if n > 1+256 || !plausibleText(body) {
			return false
		}
	case comStmtExecute:
		// flags (cursor type and MariaDB's bits) and an iteration count of 1
		if len(body) >= 9 && (body[4] > 0x8f || le32(body[5:]) != 1) {
			return false
		}
	case comQuit, comPing, comStmtClose, comStmtReset, comStmtFetch:
	default:
		return false // valid, but too weak a signal to resynchronise on
	}
	if len(data) < end {
		return cmd == comQuery || cmd == comStmtPrepare || cmd == comStmtExecute
	}
	if len(data) == end {
		return true
	}
	return depth == 0 || plausibleCommand(data[end:], depth-1)
}

// plausibleText is UTF-8 without control characters other than white space; the tail may be
// a character cut by the end of the captured bytes.
func plausibleText(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return !utf8.FullRune(b[i:])
		}
		i += size
	}
	return true
}

// startsStatement says whether statement text starts like SQL: a keyword, a parenthesis or a
// comment, after white space.
func startsStatement(b []byte) bool {
	for _, c := range b {
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			continue
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '(', c == '/', c == '#', c == '-':
			return true
		default:
			return false
		}
	}
	return false
}
