package tls

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/cryptobyte"
)

// Extension and handshake numbers (IANA TLS registries).
const (
	extServerName          = 0
	extSupportedGroups     = 10
	extECPointFormats      = 11
	extSignatureAlgorithms = 13
	extALPN                = 16
	extPreSharedKey        = 41
	extSupportedVersions   = 43

	versionTLS13 = 0x0304
)

// errMalformed is returned for a hello or certificate message that does not parse.
var errMalformed = errors.New("tls: malformed handshake message")

// clientHello is what a ClientHello (the body after the 4-byte handshake header) says.
type clientHello struct {
	version      uint16 // legacy_version
	sessionID    []byte
	ciphers      []uint16
	extensions   []uint16 // in the order sent
	groups       []uint16
	pointFormats []uint8
	sigAlgs      []uint16
	versions     []uint16 // supported_versions
	alpn         []string
	serverName   string
	hasSNI       bool
}

// parseClientHello reads a ClientHello body with cryptobyte; it never panics on any input.
func parseClientHello(body []byte) (*clientHello, error) {
	s := cryptobyte.String(body)
	ch := &clientHello{}
	var random, sid, suites cryptobyte.String
	var comp []byte
	if !s.ReadUint16(&ch.version) || !s.ReadBytes((*[]byte)(&random), 32) ||
		!s.ReadUint8LengthPrefixed(&sid) || len(sid) > 32 ||
		!s.ReadUint16LengthPrefixed(&suites) || len(suites)%2 != 0 ||
		!s.ReadUint8LengthPrefixed((*cryptobyte.String)(&comp)) {
		return nil, errMalformed
	}
	ch.sessionID = bytes.Clone(sid)
	for !suites.Empty() {
		var c uint16
		suites.ReadUint16(&c)
		ch.ciphers = append(ch.ciphers, c)
	}
	if s.Empty() {
		return ch, nil // no extensions (SSL 3.0 style)
	}
	ok := eachExtension(s, func(typ uint16, data cryptobyte.String) bool {
		ch.extensions = append(ch.extensions, typ)
		var ok bool
		switch typ {
		case extServerName:
			ch.hasSNI = true
			ok = ch.readServerName(data)
		case extSupportedGroups:
			ch.groups, ok = readUint16List(data, true)
		case extECPointFormats:
			var l cryptobyte.String
			ok = data.ReadUint8LengthPrefixed(&l) && data.Empty()
			ch.pointFormats = bytes.Clone(l) // l points into the parser's reused buffer
		case extSignatureAlgorithms:
			ch.sigAlgs, ok = readUint16List(data, true)
		case extALPN:
			ch.alpn, ok = readALPN(data)
		case extSupportedVersions:
			var l cryptobyte.String
			if ok = data.ReadUint8LengthPrefixed(&l) && data.Empty(); ok {
				ch.versions, ok = readUint16List(l, false)
			}
		default:
			ok = true
		}
		return ok
	})
	if !ok {
		return nil, errMalformed
	}
	return ch, nil
}

// eachExtension calls f on each extension of the length-prefixed list that ends s, and says
// whether the list and every f call were well formed.
func eachExtension(s cryptobyte.String, f func(typ uint16, data cryptobyte.String) bool) bool {
	var exts cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&exts) || !s.Empty() {
		return false
	}
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) || !f(typ, data) {
			return false
		}
	}
	return true
}

func (ch *clientHello) readServerName(data cryptobyte.String) bool {
	var list cryptobyte.String
	if !data.ReadUint16LengthPrefixed(&list) || !data.Empty() {
		return false
	}
	for !list.Empty() {
		var typ uint8
		var name cryptobyte.String
		if !list.ReadUint8(&typ) || !list.ReadUint16LengthPrefixed(&name) {
			return false
		}
		if typ == 0 && ch.serverName == "" {
			ch.serverName = string(name)
		}
	}
	return true
}

// readUint16List reads a list of 16-bit values, length-prefixed when prefixed is set.
func readUint16List(data cryptobyte.String, prefixed bool) ([]uint16, bool) {
	if prefixed {
		var l cryptobyte.String
		if !data.ReadUint16LengthPrefixed(&l) || !data.Empty() {
			return nil, false
		}
		data = l
	}
	if len(data)%2 != 0 {
		return nil, false
	}
	out := make([]uint16, 0, len(data)/2)
	for !data.Empty() {
		var v uint16
		data.ReadUint16(&v)
		out = append(out, v)
	}
	return out, true
}

func readALPN(data cryptobyte.String) ([]string, bool) {
	var list cryptobyte.String
	if !data.ReadUint16LengthPrefixed(&list) || !data.Empty() {
		return nil, false
	}
	var out []string
	for !list.Empty() {
		var p cryptobyte.String
		if !list.ReadUint8LengthPrefixed(&p) {
			return nil, false
		}
		out = append(out, string(p))
	}
	return out, true
}

// serverHello is what a ServerHello body says.
type serverHello struct {
	version    uint16 // legacy_version
	random     []byte
	sessionID  []byte
	cipher     uint16
	extensions []uint16
	selected   uint16 // supported_versions, 0 when absent
	alpn       string
	psk        bool
}

// helloRetryRandom is the ServerHello.random of a HelloRetryRequest (RFC 8446 4.1.3).
var helloRetryRandom = []byte{
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
}

func parseServerHello(body []byte) (*serverHello, error) {
	s := cryptobyte.String(body)
	sh := &serverHello{}
	var sid cryptobyte.String
	var comp uint8
	if !s.ReadUint16(&sh.version) || !s.ReadBytes(&sh.random, 32) ||
		!s.ReadUint8LengthPrefixed(&sid) || len(sid) > 32 ||
		!s.ReadUint16(&sh.cipher) || !s.ReadUint8(&comp) {
		return nil, errMalformed
	}
	sh.random, sh.sessionID = bytes.Clone(sh.random), bytes.Clone(sid)
	if s.Empty() {
		return sh, nil
	}
	ok := eachExtension(s, func(typ uint16, data cryptobyte.String) bool {
		sh.extensions = append(sh.extensions, typ)
		ok := true
		switch typ {
		case extSupportedVersions:
			ok = data.ReadUint16(&sh.selected) && data.Empty()
		case extALPN:
			var names []string
			names, ok = readALPN(data)
			if ok && len(names) == 1 {
				sh.alpn = names[0]
			}
		case extPreSharedKey:
			sh.psk = true
		}
		return ok
	})
	if !ok {
		return nil, errMalformed
	}
	return sh, nil
}

func (sh *serverHello) retry() bool { return string(sh.random) == string(helloRetryRandom) }

// negotiated is the version the server chose.
func (sh *serverHello) negotiated() uint16 {
	if sh.selected != 0 {
		return sh.selected
	}
	return sh.version
}

// isGREASE says whether v is one of the reserved GREASE values (RFC 8701): 0x?A?A with both
// bytes equal.
func isGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

// ja3 is the JA3 fingerprint of ch: the MD5 of version, ciphers, extensions, groups and point
// formats in decimal, GREASE left out, as Salesforce's reference, Zeek and tshark compute it.
func (ch *clientHello) ja3() string {
	b := make([]byte, 0, 512)
	b = strconv.AppendUint(b, uint64(ch.version), 10)
	b = append(b, ',')
	b = joinDecimal(b, ch.ciphers)
	b = append(b, ',')
	b = joinDecimal(b, ch.extensions)
	b = append(b, ',')
	b = joinDecimal(b, ch.groups)
	b = append(b, ',')
	for i, f := range ch.pointFormats {
		if i > 0 {
			b = append(b, '-')
		}
		b = strconv.AppendUint(b, uint64(f), 10)
	}
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// ja3s is the JA3S fingerprint of sh: the MD5 of version, cipher and extensions.
func (sh *serverHello) ja3s() string {
	b := make([]byte, 0, 128)
	b = strconv.AppendUint(b, uint64(sh.version), 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(sh.cipher), 10)
	b = append(b, ',')
	b = joinDecimal(b, sh.extensions)
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// joinDecimal appends the values of vs but GREASE, in decimal, joined by '-'.
func joinDecimal(b []byte, vs []uint16) []byte {
	first := true
	for _, v := range vs {
		if isGREASE(v) {
			continue
		}
		if !first {
			b = append(b, '-')
		}
		first = false
		b = strconv.AppendUint(b, uint64(v), 10)
	}
	return b
}

// ja4 is the JA4 fingerprint of ch over TCP, as FoxIO's technical_details/JA4.md defines it
// (BSD-3-Clause; JA4+ beyond JA4 is under another licence and not computed here).
func (ch *clientHello) ja4() string {
	ciphers := withoutGREASE(ch.ciphers)
	exts := withoutGREASE(ch.extensions)
	var b strings.Builder
	b.Grow(36)
	b.WriteByte('t')
	b.WriteString(ja4Version(ch))
	if ch.hasSNI {
		b.WriteByte('d')
	} else {
		b.WriteByte('i')
	}
	for _, n := range []int{min(len(ciphers), 99), min(len(exts), 99)} {
		b.WriteByte(byte('0' + n/10))
		b.WriteByte(byte('0' + n%10))
	}
	b.WriteString(ja4ALPN(ch.alpn))
	b.WriteByte('_')
	slices.Sort(ciphers)
	b.WriteString(ja4Hash(hexList(ciphers)))
	b.WriteByte('_')
	exts = slices.DeleteFunc(exts, func(e uint16) bool { return e == extServerName || e == extALPN })
	slices.Sort(exts)
	if len(exts) == 0 {
		b.WriteString("000000000000")
	} else {
		in := hexList(exts)
		if sigs := withoutGREASE(ch.sigAlgs); len(sigs) > 0 {
			in += "_" + hexList(sigs)
		}
		b.WriteString(ja4Hash(in))
	}
	return b.String()
}

func ja4Version(ch *clientHello) string {
	v := ch.version
	if ch.versions != nil {
		v = 0
		for _, sv := range ch.versions {
			if !isGREASE(sv) {
				v = max(v, sv)
			}
		}
	}
	switch v {
	case 0x0304:
		return "13"
	case 0x0303:
		return "12"
	case 0x0302:
		return "11"
	case 0x0301:
		return "10"
	case 0x0300:
		return "s3"
	case 0x0002:
		return "s2"
	}
	return "00"
}

func ja4ALPN(alpn []string) string {
	if len(alpn) == 0 || alpn[0] == "" {
		return "00"
	}
	f, l := alpn[0][0], alpn[0][len(alpn[0])-1]
	if !alnum(f) || !alnum(l) {
		const digits = "0123456789abcdef"
		return string([]byte{digits[f>>4], digits[l&0xf]})
	}
	return string([]byte{f, l})
}

func alnum(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' }

func ja4Hash(s string) string {
	if s == "" {
		return "000000000000"
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}

func hexList(vs []uint16) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 0, 5*len(vs))
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, digits[v>>12], digits[v>>8&0xf], digits[v>>4&0xf], digits[v&0xf])
	}
	return string(b)
}

func withoutGREASE(vs []uint16) []uint16 {
	out := make([]uint16, 0, len(vs))
	for _, v := range vs {
		if !isGREASE(v) {
			out = append(out, v)
		}
	}
	return out
}

// cipherName is the IANA name of suite c, or 0x and its four hex digits.
func cipherName(c uint16) string {
	if n, ok := cipherNames[c]; ok {
		return n
	}
	return fmt.Sprintf("0x%04X", c)
}

// versionName gives tls.version and tls.version_protocol of a protocol version; ok is false
// for a value that names no version.
func versionName(v uint16) (version, protocol string, ok bool) {
	switch v {
	case 0x0002:
		return "2.0", "ssl", true
	case 0x0300:
		return "3.0", "ssl", true
	case 0x0301:
		return "1.0", "tls", true
	case 0x0302:
		return "1.1", "tls", true
	case 0x0303:
		return "1.2", "tls", true
	case 0x0304:
		return "1.3", "tls", true
	}
	return "", "", false
}
