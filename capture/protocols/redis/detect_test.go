package redis

import (
	"path/filepath"
	"testing"

	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// TestDetectRealTraffic: Detect recognises both directions of every captured Redis connection
// and neither direction of the MySQL, PostgreSQL and HTTP captures of the other parsers.
func TestDetectRealTraffic(t *testing.T) {
	for _, file := range []string{"cli.pcap", "pipe.pcap", "resp3.pcap", "pubsub.pcap"} {
		for i, fb := range protocoltest.FirstBytes(readSegs(t, file), 64) {
			for d, b := range fb {
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
		{"../http/testdata/curl.pcap", 18080}, {"../http/testdata/pipelined.pcap", 18080},
	}
	for _, o := range others {
		for i, fb := range protocoltest.FirstBytes(protocoltest.ReadSegments(t, filepath.FromSlash(o.file), o.port), 64) {
			for d, b := range fb {
				if b != nil && Detect(b, protocols.Dir(d)) {
					t.Errorf("%s connection %d %v: %q taken for Redis", o.file, i, protocols.Dir(d), b)
				}
			}
		}
	}
}
