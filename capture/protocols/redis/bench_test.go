package redis

import (
	"testing"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// BenchmarkReplay decodes the captured connections, a parser per connection, and reports the
// cost per packet (TCP segment with payload) next to the usual per-op figures.
func BenchmarkReplay(b *testing.B) {
	for _, file := range []string{"pipe.pcap", "cli.pcap"} {
		b.Run(file, func(b *testing.B) {
			protocoltest.BenchReplay(b, readSegs(b, file), New, &protocols.Options{MaxQueryLength: 1024})
		})
	}
}

// BenchmarkReplayReleased is BenchmarkReplay with each event released once the sink has it,
// as the exporters do: events are recycled, not allocated, so what is measured is the
// parser's own cost.
func BenchmarkReplayReleased(b *testing.B) {
	releasing := func(c *protocols.Conn, opts *protocols.Options, sink protocols.Sink) protocols.StreamParser {
		return New(c, opts, protocols.SinkFunc(func(ev *event.Event) {
			sink.Emit(ev)
			event.Release(ev)
		}))
	}
	for _, file := range []string{"pipe.pcap", "cli.pcap"} {
		b.Run(file, func(b *testing.B) {
			protocoltest.BenchReplay(b, readSegs(b, file), releasing, &protocols.Options{MaxQueryLength: 1024})
		})
	}
}
