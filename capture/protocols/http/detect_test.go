package http

import (
	"path/filepath"
	"testing"

	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// TestDetectRealTraffic: Detect recognises both directions of every captured HTTP connection
// and neither direction of the MySQL, PostgreSQL and Redis captures of the other parsers.
func TestDetectRealTraffic(t *testing.T) {
	for _, file := range []string{"curl.pcap", "pipelined.pcap"} {
		for i, fb := range protocoltest.FirstBytes(readSegs(t, file), 64) {
			for d, b := range fb {
				if file == "pipelined.pcap" && i == 1 && d == int(protocols.ToServer) {
					// The garbage the capture script sends: not HTTP, although nginx answers it.
					if Detect(b, protocols.ToServer) {
						t.Errorf("garbage %q taken for HTTP", b)
					}
					continue
				}
				if b != nil && !Detect(b, protocols.Dir(d)) {
					t.Errorf("%s connection %d %v: %q not detected", file, i, protocols.Dir(d), b)
				}
			}
		}
	}
	others := []struct {
		file string
		port uint16
	}{
		{"../mysql/testdata/cli.pcap", 13306}, {"../pgsql/testdata/simple.pcap", 15432}, {"../pgsql/testdata/ssl.pcap", 15432},
		{"../redis/testdata/cli.pcap", 16379}, {"../redis/testdata/resp3.pcap", 16379}, {"../redis/testdata/pipe.pcap", 16379},
	}
	for _, o := range others {
		for i, fb := range protocoltest.FirstBytes(protocoltest.ReadSegments(t, filepath.FromSlash(o.file), o.port), 64) {
			for d, b := range fb {
				if b != nil && Detect(b, protocols.Dir(d)) {
					t.Errorf("%s connection %d %v: %q taken for HTTP", o.file, i, protocols.Dir(d), b)
				}
			}
		}
	}
}
