package tls

import "testing"

// BenchmarkHandshake runs whole real connections through the parser: a TLS 1.3 curl
// connection (hellos, fingerprints, no certificate), a TLS 1.2 one (the server's chain parsed
// with crypto/x509) and an mTLS one (two chains). One op is one connection, event included.
func BenchmarkHandshake(b *testing.B) {
	for _, c := range []struct {
		name     string
		file     string
		srv, cli uint16
	}{{"tls13", "nginx.pcap", nginxPort, 45002}, {"tls12", "nginx.pcap", nginxPort, 45024}, {"mtls12", "mtls.pcap", mtlsPort, 36310}} {
		b.Run(c.name, func(b *testing.B) {
			chunks := connChunks(b, c.file, c.srv, c.cli)
			b.ReportAllocs()
			for range b.N {
				if evs := run(testConn, chunks, 0); len(evs) != 1 {
					b.Fatal(len(evs))
				}
			}
		})
	}
}

// BenchmarkClientHello parses a real ClientHello and computes JA3 and JA4.
func BenchmarkClientHello(b *testing.B) {
	bodies := handshakeBodiesTB(b, typeClientHello)
	b.ReportAllocs()
	for range b.N {
		ch, err := parseClientHello(bodies[0])
		if err != nil {
			b.Fatal(err)
		}
		_, _ = ch.ja3(), ch.ja4()
	}
}
