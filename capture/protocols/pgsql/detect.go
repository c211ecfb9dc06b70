package pgsql

import (
	"encoding/binary"

	"github.com/audit-io/wire-audit/capture/protocols"
)

// Detect says whether first, the first bytes of direction dir of a connection, look like the
// start of a PostgreSQL conversation. It is strict, to keep false positives out of protocol
// detection: from the client a StartupMessage (protocol 3.0 to 3.2, with well-formed key/value
// pairs), SSLRequest, GSSENCRequest or CancelRequest; from the server an authentication
// request, a one-byte answer to SSLRequest, or a start-up ErrorResponse.
func Detect(first []byte, dir protocols.Dir) bool {
	if dir == protocols.ToServer {
		return detectClient(first)
	}
	return detectServer(first)
}

func detectClient(b []byte) bool {
	if len(b) < 8 {
		return false
	}
	n := binary.BigEndian.Uint32(b)
	code := binary.BigEndian.Uint32(b[4:])
	switch code {
	case codeSSL, codeGSSENC:
		return n == 8 && len(b) == 8 || n == 8 && len(b) > 8 && b[8] == 0x16 // TLS follows at once
	case codeCancel:
		return n == 16 && len(b) == 16
	}
	if code>>16 != 3 || code&0xffff > 2 || n < 9 || n > maxStartupLen {
		return false
	}
	// key\0value\0 ... \0, all printable; "user" is required by the server.
	body := b[8:min(len(b), int(n))]
	complete := len(b) >= int(n)
	d := decoder{b: body}
	pairs, user := 0, false
	for len(d.b) > 0 {
		if complete && len(d.b) == 1 && d.b[0] == 0 {
			return pairs > 0 && user && len(b) == int(n)
		}
		k, ok := d.cstring()
		if !ok {
			return !complete && pairs > 0 && printable(d.b) // cut inside a key
		}
		if len(k) == 0 || !printable(k) {
			return false
		}
		v, ok := d.cstring()
		if !ok {
			return !complete && printable(d.b)
		}
		if !printable(v) {
			return false
		}
		pairs++
		user = user || string(k) == "user"
	}
	return !complete && pairs > 0
}

func detectServer(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	switch b[0] {
	case 'S', 'N':
		if len(b) == 1 {
			return true
		}
		// The answer, then TLS (after 'S') or the authentication request (after 'N').
		return b[0] == 'S' && b[1] == 0x16 || b[0] == 'N' && detectServer(b[1:]) && b[1] == 'R'
	case 'R':
		if len(b) < 9 {
			return false
		}
		n := int(binary.BigEndian.Uint32(b[1:]))
		switch binary.BigEndian.Uint32(b[5:]) {
		case 0, 2, 3, 6, 7, 9: // Ok, KerberosV5, CleartextPassword, SCMCredential, GSS, SSPI
			return n == 8
		case 5: // MD5Password: 4-byte salt
			return n == 12
		case 8, 10: // GSSContinue, SASL (mechanism names)
			return n > 8 && n < maxStartupLen
		}
	case 'E':
		if len(b) < 5 {
			return false
		}
		n := int(binary.BigEndian.Uint32(b[1:]))
		return n > 4 && n < maxStartupLen && len(b) >= n+1 && validNotice(b[5:n+1])
	}
	return false
}
