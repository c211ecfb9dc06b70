package tls

import "github.com/audit-io/wire-audit/capture/protocols"

// Detect says whether first, the first bytes of direction dir of a connection, open a TLS
// handshake: from the client a handshake record holding a ClientHello (or an SSLv2-compatible
// CLIENT-HELLO, RFC 5246 E.2), from the server one holding a ServerHello.
func Detect(first []byte, dir protocols.Dir) bool {
	if dir == protocols.ToServer && isSSLv2Hello(first) {
		return true
	}
	want := byte(typeClientHello)
	if dir == protocols.ToClient {
		want = typeServerHello
	}
	return len(first) >= 6 && first[0] == recordHandshake && validHeader(first) && first[5] == want
}

// validHeader says whether b starts with a plausible TLS record header: a known content type,
// a version 3.x and a length a record may have (RFC 8446 5.2: at most 2^14+256 for
// TLSCiphertext; RFC 5246 allows 2^14+2048).
func validHeader(b []byte) bool {
	if len(b) < 5 {
		return false
	}
	n := int(b[3])<<8 | int(b[4])
	return b[0] >= recordChangeCipherSpec && b[0] <= recordHeartbeat && b[1] == 3 && b[2] <= 4 &&
		n > 0 && n <= maxRecord
}

// isSSLv2Hello recognises the two-byte-header CLIENT-HELLO that old clients sent to offer
// SSL 3.0 or TLS (RFC 5246 E.2): msg_type 1 and a version 0x0002 or 3.x.
func isSSLv2Hello(b []byte) bool {
	if len(b) < 5 || b[0]&0x80 == 0 {
		return false
	}
	n := int(b[0]&0x7f)<<8 | int(b[1])
	return n >= 9 && b[2] == 1 && (b[3] == 3 && b[4] <= 4 || b[3] == 0 && b[4] == 2)
}
