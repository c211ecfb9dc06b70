package http2

import (
	"testing"

	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// BenchmarkParser replays the real captures through the parser alone: per packet cost and
// allocations, with the events (streams) per iteration.
func BenchmarkParser(b *testing.B) {
	for _, file := range []string{"grpc.pcap", "nginx.pcap"} {
		b.Run(file, func(b *testing.B) {
			protocoltest.BenchReplay(b, readSegs(b, file), New, nil)
		})
	}
}
