package tls

import (
	"bytes"
	"errors"
	"testing"
)

// TestMalformedMessages: every truncation of real ClientHello, ServerHello and Certificate
// bodies is refused with errMalformed (never a panic, never a half-read message), and so is a
// supported_versions extension whose inner length disagrees with its own.
func TestMalformedMessages(t *testing.T) {
	parsers := map[byte]func([]byte) error{
		typeClientHello: func(b []byte) error { _, err := parseClientHello(b); return err },
		typeServerHello: func(b []byte) error { _, err := parseServerHello(b); return err },
		typeCertificate: func(b []byte) error { _, _, err := parseCertificateMsg(b); return err },
	}
	for typ, parse := range parsers {
		bodies := handshakeBodiesTB(t, typ)
		if len(bodies) == 0 {
			t.Fatalf("no messages of type %d in the captures", typ)
		}
		for _, body := range bodies {
			if err := parse(body); err != nil {
				t.Fatalf("type %d: a real message refused: %v", typ, err)
			}
			for n := range len(body) {
				// A ClientHello or ServerHello may end before its extensions (SSL 3.0 style).
				if err := parse(body[:n]); err == nil && !(typ != typeCertificate && n == extensionsStart(body)) {
					t.Fatalf("type %d cut at %d of %d: accepted", typ, n, len(body))
				} else if err != nil && !errors.Is(err, errMalformed) {
					t.Fatalf("type %d cut at %d: %v", typ, n, err)
				}
			}
		}
	}
	ch := handshakeBodiesTB(t, typeClientHello)[0]
	// supported_versions (0x002b) with list length 8 and versions 0x0304 0x0303 0x0302 0x0301:
	// say 9 instead.
	i := bytes.Index(ch, []byte{0x00, 0x2b, 0x00, 0x09, 0x08, 0x03, 0x04})
	if i < 0 {
		t.Fatal("the first ClientHello has no four-version supported_versions")
	}
	bad := bytes.Clone(ch)
	bad[i+4] = 9
	if _, err := parseClientHello(bad); err == nil {
		t.Error("a supported_versions list longer than its extension accepted")
	}
}

// extensionsStart is where the extensions of a ClientHello or ServerHello body begin.
func extensionsStart(body []byte) int {
	if ch, err := parseClientHello(body); err == nil && ch != nil {
		n := 2 + 32 + 1 + len(ch.sessionID)
		n += 2 + 2*len(ch.ciphers)
		return n + 1 + int(body[n])
	}
	if sh, err := parseServerHello(body); err == nil && sh != nil {
		return 2 + 32 + 1 + len(sh.sessionID) + 2 + 1
	}
	return -1
}
