package tls

import "testing"

// TestJA4SpecExamples checks the hashing of JA4_b and JA4_c on the examples FoxIO's
// technical_details/JA4.md publishes (its Chrome example, t13d1516h2_8daaf6152771_e5627efa2ab1),
// by building a ClientHello with those ciphers, extensions and signature algorithms.
func TestJA4SpecExamples(t *testing.T) {
	ch := &clientHello{
		version: 0x0303,
		// GREASE values are left out of every list and count.
		ciphers:    []uint16{0x0a0a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035},
		extensions: []uint16{0x1a1a, 0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015},
		sigAlgs:    []uint16{0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601},
		versions:   []uint16{0x2a2a, 0x0304, 0x0303},
		alpn:       []string{"h2", "http/1.1"},
		hasSNI:     true,
	}
	if got, want := ch.ja4(), "t13d1516h2_8daaf6152771_e5627efa2ab1"; got != want {
		t.Errorf("spec example: %s, want %s", got, want)
	}
	// ALPN rules of the spec: none, a single character, non-alphanumeric first or last byte.
	for alpn, want := range map[string]string{"": "00", "x": "xx", "h2": "h2", "http/1.1": "h1", "\xab\x01x\x99": "a9"} {
		var in []string
		if alpn != "" {
			in = []string{alpn}
		}
		if got := ja4ALPN(in); got != want {
			t.Errorf("ALPN %q: %s, want %s", alpn, got, want)
		}
	}
	// No ciphers, no extensions: zeros instead of hashes; no supported_versions: the legacy version.
	empty := &clientHello{version: 0x0301}
	if got, want := empty.ja4(), "t10i000000_000000000000_000000000000"; got != want {
		t.Errorf("empty hello: %s, want %s", got, want)
	}
}
