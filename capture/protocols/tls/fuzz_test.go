package tls

import (
	"testing"

	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// handshakeBodies returns the bodies of the handshake messages of type typ in the captures,
// as fuzzing seeds.
func handshakeBodies(f *testing.F, typ byte) [][]byte { return handshakeBodiesTB(f, typ) }

func handshakeBodiesTB(f testing.TB, typ byte) [][]byte {
	var out [][]byte
	for _, c := range []struct {
		file string
		port uint16
	}{{"nginx.pcap", nginxPort}, {"mtls.pcap", mtlsPort}} {
		cli, srv := protocoltest.Halves(protocoltest.ReadSegments(f, "testdata/"+c.file, c.port))
		for _, b := range [][]byte{cli, srv} {
			for len(b) >= 5 {
				n := int(b[3])<<8 | int(b[4])
				if len(b) < 5+n {
					break
				}
				if rec := b[5 : 5+n]; b[0] == recordHandshake && len(rec) >= 4 && rec[0] == typ {
					l := int(rec[1])<<16 | int(rec[2])<<8 | int(rec[3])
					if 4+l <= len(rec) {
						out = append(out, rec[4:4+l])
					}
				}
				b = b[5+n:]
			}
		}
	}
	return out
}

func FuzzClientHello(f *testing.F) {
	for _, b := range handshakeBodies(f, typeClientHello) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ch, err := parseClientHello(b)
		if err != nil {
			return
		}
		if len(ch.ja3()) != 32 || len(ch.ja4()) != 36 {
			t.Fatalf("fingerprints %q %q", ch.ja3(), ch.ja4())
		}
	})
}

func FuzzServerHello(f *testing.F) {
	for _, b := range handshakeBodies(f, typeServerHello) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sh, err := parseServerHello(b)
		if err != nil {
			return
		}
		if len(sh.ja3s()) != 32 {
			t.Fatalf("ja3s %q", sh.ja3s())
		}
		_ = cipherName(sh.cipher)
	})
}

func FuzzCertificate(f *testing.F) {
	for _, b := range handshakeBodies(f, typeCertificate) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		leaf, n, err := parseCertificateMsg(b)
		if err != nil || n == 0 {
			return
		}
		c, err := certificateFields(leaf)
		if err == nil && c.Hash == nil {
			t.Fatal("a parsed certificate without its hash")
		}
	})
}

// FuzzStream feeds arbitrary client and server bytes, cut at arbitrary points, to the parser:
// it must never panic and emit at most one event.
func FuzzStream(f *testing.F) {
	for _, c := range []struct {
		file string
		port uint16
	}{{"nginx.pcap", nginxPort}, {"mtls.pcap", mtlsPort}} {
		cli, srv := protocoltest.Halves(protocoltest.ReadSegments(f, "testdata/"+c.file, c.port))
		f.Add(cli[:min(len(cli), 2000)], srv[:min(len(srv), 4000)], []byte{5, 200, 3}, false)
	}
	f.Fuzz(func(t *testing.T, cli, srv, cuts []byte, mid bool) {
		var sink protocoltest.Collector
		c := testConn
		c.MidStream = mid
		p := New(&c, nil, &sink)
		protocoltest.Feed(p, cli, srv, cuts, nil)
		if len(sink.Events) > 1 {
			t.Fatalf("%d events for one connection", len(sink.Events))
		}
	})
}
