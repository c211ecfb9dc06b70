package http2

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

var update = flag.Bool("update", false, "rewrite the golden event files in testdata")

// TestGolden pins the whole JSON of the events of the captures, one event per line, in
// testdata/<capture>.events.json; refresh with -update after checking the diff.
func TestGolden(t *testing.T) {
	opts := &protocols.Options{HTTPHeaders: []string{"authorization", "cookie", "content-type", "grpc-message"}}
	for _, file := range []string{"nginx.pcap", "grpc.pcap"} {
		t.Run(file, func(t *testing.T) {
			golden := filepath.Join("testdata", strings.TrimSuffix(file, ".pcap")+".events.json")
			protocoltest.Golden(t, golden, replayFile(t, file, New, opts), *update)
		})
	}
}
