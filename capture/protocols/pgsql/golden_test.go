package pgsql

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden event files in testdata")

// TestGolden pins the whole JSON of the events of some captures, one event per line, in
// testdata/<capture>.events.json; refresh with -update after checking the diff.
func TestGolden(t *testing.T) {
	for _, file := range []string{"simple.pcap", "pgx.pcap", "ssl.pcap", "cancel.pcap"} {
		t.Run(file, func(t *testing.T) {
			var buf bytes.Buffer
			for _, ev := range replayFile(t, file, nil) {
				b, err := json.Marshal(ev)
				if err != nil {
					t.Fatal(err)
				}
				buf.Write(b)
				buf.WriteByte('\n')
			}
			golden := filepath.Join("testdata", file[:len(file)-len(".pcap")]+".events.json")
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("events differ from %s (run with -update and review the diff):\n%s", golden, buf.String())
			}
		})
	}
}
