package redis

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

var update = flag.Bool("update", false, "rewrite the golden event files in testdata")

// TestGolden pins the whole JSON of the events of some captures, one event per line, in
// testdata/<capture>.events.json; refresh with -update after checking the diff.
func TestGolden(t *testing.T) {
	for _, file := range []string{"resp3.pcap", "pubsub.pcap"} {
		t.Run(file, func(t *testing.T) {
			golden := filepath.Join("testdata", strings.TrimSuffix(file, ".pcap")+".events.json")
			protocoltest.Golden(t, golden, replayFile(t, file, nil), *update)
		})
	}
}
