package mongodb

import (
	"testing"

	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// BenchmarkReplay decodes the captured pymongo connections, a parser per connection, and
// reports the cost per packet (TCP segment with payload); events per op is the command count.
func BenchmarkReplay(b *testing.B) {
	for _, mask := range []bool{false, true} {
		name := "as-sent"
		if mask {
			name = "masked"
		}
		b.Run(name, func(b *testing.B) {
			protocoltest.BenchReplay(b, readSegs(b, "pymongo.pcap"), New, &protocols.Options{MaxQueryLength: 1024, MaskLiterals: mask})
		})
	}
}
