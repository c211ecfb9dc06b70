package main

import (
	"flag"
	"io"
	"log/slog"
	"testing"
)

var benchPcap = flag.String("replay-pcap", "", "Capture BenchmarkReplayStdout replays (e.g. test/capturebench's mixed load capture).")

// BenchmarkReplayStdout runs the whole replay as `capture --pcap FILE --output stdout`
// does, writing to io.Discard, so that -cpuprofile and -memprofile see the entire job in one
// process. BenchmarkProcess in test/capturebench times the real binary.
func BenchmarkReplayStdout(b *testing.B) {
	if *benchPcap == "" {
		b.Skip("-replay-pcap names no capture")
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b.ReportAllocs()
	for b.Loop() {
		if err := run([]string{"--pcap", *benchPcap, "--output", "stdout"}, io.Discard, log); err != nil {
			b.Fatal(err)
		}
	}
}
