package mysql

import "unicode/utf8"

// maxPacket is the payload length of a packet that is continued by the next one: a message of
// 16 MiB - 1 bytes or more is split into packets of this length and a shorter last one.
const maxPacket = 0xffffff

// Command bytes (the first payload byte of a client command, sequence id 0).
const (
	comSleep            = 0x00
	comQuit             = 0x01
	comInitDB           = 0x02
	comQuery            = 0x03
	comFieldList        = 0x04
	comStatistics       = 0x09
	comProcessInfo      = 0x0a
	comPing             = 0x0e
	comChangeUser       = 0x11
	comBinlogDump       = 0x12
	comStmtPrepare      = 0x16
	comStmtExecute      = 0x17
	comStmtSendLongData = 0x18
	comStmtClose        = 0x19
	comStmtReset        = 0x1a
	comSetOption        = 0x1b
	comStmtFetch        = 0x1c
	comResetConnection  = 0x1f
	comStmtBulkExecute  = 0xfa // MariaDB

	// cmdLogin is not on the wire: it marks the handshake exchange as a transaction, so that a
	// failed login is reported like any other error.
	cmdLogin = 0xff
)

// commandNames are the method of events of commands that carry no statement text.
var commandNames = [...]string{
	comSleep: "SLEEP", comQuit: "QUIT", comInitDB: "INIT_DB", comQuery: "QUERY",
	comFieldList: "FIELD_LIST", 0x05: "CREATE_DB", 0x06: "DROP_DB", 0x07: "REFRESH",
	0x08: "SHUTDOWN", comStatistics: "STATISTICS", comProcessInfo: "PROCESS_INFO",
	0x0b: "CONNECT", 0x0c: "PROCESS_KILL", 0x0d: "DEBUG", comPing: "PING", 0x0f: "TIME",
	0x10: "DELAYED_INSERT", comChangeUser: "CHANGE_USER", comBinlogDump: "BINLOG_DUMP",
	0x13: "TABLE_DUMP", 0x14: "CONNECT_OUT", 0x15: "REGISTER_SLAVE",
	comStmtPrepare: "PREPARE", comStmtExecute: "EXECUTE", comStmtSendLongData: "STMT_SEND_LONG_DATA",
	comStmtClose: "STMT_CLOSE", comStmtReset: "STMT_RESET", comSetOption: "SET_OPTION",
	comStmtFetch: "STMT_FETCH", 0x1d: "DAEMON", 0x1e: "BINLOG_DUMP_GTID",
	comResetConnection: "RESET_CONNECTION",
}

func commandName(cmd byte) string {
	switch {
	case int(cmd) < len(commandNames):
		return commandNames[cmd]
	case cmd == comStmtBulkExecute:
		return "STMT_BULK_EXECUTE"
	case cmd == cmdLogin:
		return "LOGIN"
	}
	return ""
}

// Capability flags of the handshake.
const (
	capProtocol41       = 0x00000200
	capConnectWithDB    = 0x00000008
	capCompress         = 0x00000020
	capSSL              = 0x00000800
	capSecureConnection = 0x00008000
	capPluginAuthLenenc = 0x00200000
	capDeprecateEOF     = 0x01000000
)

// Server status flags of OK and EOF packets.
const (
	statusMoreResults  = 0x0008
	statusCursorExists = 0x0040
)

// Response headers.
const (
	hdrOK     = 0x00
	hdrInfile = 0xfb
	hdrEOF    = 0xfe
	hdrERR    = 0xff
)

// errProgress is the error code of a MariaDB progress report, which travels as an ERR packet
// but does not end the response.
const errProgress = 0xffff

// maxErrMessage bounds the error text kept on an event; servers send at most 512 bytes.
const maxErrMessage = 512

func le16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }
func le24(b []byte) int    { return int(b[0]) | int(b[1])<<8 | int(b[2])<<16 }
func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// lenenc reads a length-encoded integer; ok is false when b is too short or does not start
// with an integer (0xfb is NULL, 0xff is not an integer).
func lenenc(b []byte) (v uint64, n int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	switch c := b[0]; {
	case c < 0xfb:
		return uint64(c), 1, true
	case c == 0xfc && len(b) >= 3:
		return uint64(le16(b[1:])), 3, true
	case c == 0xfd && len(b) >= 4:
		return uint64(le24(b[1:])), 4, true
	case c == 0xfe && len(b) >= 9:
		return uint64(le32(b[1:])) | uint64(le32(b[5:]))<<32, 9, true
	}
	return 0, 0, false
}

// cstring splits a NUL-terminated string off b; ok is false when there is no NUL.
func cstring(b []byte) (s, rest []byte, ok bool) {
	for i, c := range b {
		if c == 0 {
			return b[:i], b[i+1:], true
		}
	}
	return nil, nil, false
}

// okPacket is what an OK packet (or an OK-form terminator) says.
type okPacket struct {
	affected, insertID uint64
	status             uint16
}

// parseOK reads an OK packet, header byte included; fields past a short packet stay zero.
func parseOK(b []byte) (ok okPacket) {
	b = b[1:]
	v, n, good := lenenc(b)
	if !good {
		return ok
	}
	ok.affected, b = v, b[n:]
	if v, n, good = lenenc(b); !good {
		return ok
	}
	ok.insertID, b = v, b[n:]
	if len(b) >= 2 {
		ok.status = le16(b)
	}
	return ok
}

// terminatorStatus is the status flags of the packet that ends a result set: an EOF packet
// (5 bytes) or, with CLIENT_DEPRECATE_EOF, an OK packet with a 0xfe header.
func terminatorStatus(b []byte, total int) uint16 {
	if total < 7 {
		if len(b) >= 5 {
			return le16(b[3:])
		}
		return 0
	}
	return parseOK(b).status
}

// errPacket is what an ERR packet says.
type errPacket struct {
	code     uint16
	sqlState string
	message  string
}

func parseERR(b []byte) (e errPacket) {
	if len(b) < 3 {
		return e
	}
	e.code = le16(b[1:])
	b = b[3:]
	if len(b) >= 6 && b[0] == '#' {
		e.sqlState = string(b[1:6])
		b = b[6:]
	}
	if len(b) > maxErrMessage {
		b = trimRune(b[:maxErrMessage])
	}
	e.message = string(b)
	return e
}

// trimRune drops an incomplete UTF-8 character from the end of b, left by a cut.
func trimRune(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			return b
		}
	}
	return b
}

// greeting is what the server's initial handshake packet (protocol 10) says.
type greeting struct {
	version string
	caps    uint32
}

// parseGreeting reads HandshakeV10; ok is false if b is not one.
func parseGreeting(b []byte) (g greeting, ok bool) {
	if len(b) < 1 || b[0] != 10 {
		return g, false
	}
	v, rest, found := cstring(b[1:])
	if !found || !plausibleVersion(v) {
		return g, false
	}
	g.version = string(v)
	// thread id (4), auth data part 1 (8), filler (1), capabilities low (2), charset (1),
	// status (2), capabilities high (2)
	if len(rest) >= 15 {
		g.caps = uint32(le16(rest[13:]))
		if len(rest) >= 20 {
			g.caps |= uint32(le16(rest[18:])) << 16
		}
	}
	return g, true
}

func plausibleVersion(v []byte) bool {
	if len(v) == 0 || len(v) > 128 || v[0] < '0' || v[0] > '9' {
		return false
	}
	for _, c := range v {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// login is what a HandshakeResponse41 says.
type login struct {
	caps     uint32
	user, db string
	// sslRequest is the short form that only asks for TLS: everything after it is encrypted.
	sslRequest bool
}

// sslRequestLen is the payload length of an SSL request: the fixed head of a HandshakeResponse41.
const sslRequestLen = 32

func parseLogin(b []byte) (l login, ok bool) {
	if len(b) < sslRequestLen {
		return l, false
	}
	l.caps = le32(b)
	if l.caps&capProtocol41 == 0 || !zeros(b[9:28]) {
		return l, false
	}
	if len(b) == sslRequestLen {
		l.sslRequest = l.caps&capSSL != 0
		return l, l.sslRequest
	}
	user, rest, found := cstring(b[sslRequestLen:])
	if !found {
		return l, false
	}
	l.user = string(user)
	switch {
	case l.caps&capPluginAuthLenenc != 0:
		n, k, good := lenenc(rest)
		if !good || uint64(len(rest)-k) < n {
			return l, true
		}
		rest = rest[k+int(n):]
	case l.caps&capSecureConnection != 0:
		if len(rest) < 1 || len(rest)-1 < int(rest[0]) {
			return l, true
		}
		rest = rest[1+int(rest[0]):]
	default:
		if _, rest, found = cstring(rest); !found {
			return l, true
		}
	}
	if l.caps&capConnectWithDB != 0 {
		if db, _, found := cstring(rest); found {
			l.db = string(db)
		}
	}
	return l, true
}

func zeros(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
