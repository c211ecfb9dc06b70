package http

import (
	"testing"

	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// BenchmarkReplay decodes the captured connections, a parser per connection, and reports the
// cost per packet (TCP segment with payload) next to the usual per-op figures.
func BenchmarkReplay(b *testing.B) {
	for _, file := range []string{"curl.pcap", "pipelined.pcap"} {
		b.Run(file, func(b *testing.B) {
			protocoltest.BenchReplay(b, readSegs(b, file), New, &protocols.Options{MaxQueryLength: 1024})
		})
	}
}
