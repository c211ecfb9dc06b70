package main

import (
	"flag"
	"io"
	"log/slog"
	"testing"
)

var (
	benchPcap    = flag.String("replay-pcap", "", "Capture BenchmarkReplayStdout and BenchmarkReplayKafka replay (e.g. test/capturebench's mixed load capture).")
	benchBrokers = flag.String("replay-brokers", "", "Kafka brokers BenchmarkReplayKafka exports to (a kfake process: go run ./test/kafkatest/cmd/kfake).")
	benchTopic   = flag.String("replay-topic", "wire-audit-test", "Topic BenchmarkReplayKafka exports to.")
)

// BenchmarkReplayStdout runs the whole replay as `capture --pcap FILE --output stdout`
// does, writing to io.Discard, so that -cpuprofile and -memprofile see the entire job in one
// process. BenchmarkProcess in test/capturebench times the real binary.
func BenchmarkReplayStdout(b *testing.B) {
	benchReplay(b, "--output", "stdout")
}

// BenchmarkReplayKafka is BenchmarkReplayStdout with --output kafka to -replay-brokers.
func BenchmarkReplayKafka(b *testing.B) {
	if *benchBrokers == "" {
		b.Skip("-replay-brokers names no broker")
	}
	benchReplay(b, "--output", "kafka", "--kafka-brokers", *benchBrokers, "--kafka-topic", *benchTopic)
}

func benchReplay(b *testing.B, output ...string) {
	if *benchPcap == "" {
		b.Skip("-replay-pcap names no capture")
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b.ReportAllocs()
	for b.Loop() {
		if err := run(append([]string{"--pcap", *benchPcap}, output...), io.Discard, log); err != nil {
			b.Fatal(err)
		}
	}
}
