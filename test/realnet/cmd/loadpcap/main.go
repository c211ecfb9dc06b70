// Command loadpcap writes pcap files of sustained real load for the replay benchmarks:
// pgsql-load.pcap (pgbench), mysql-load.pcap (mariadb-slap), redis-load.pcap (redis-benchmark
// -P 16), redis-rr-load.pcap (redis-benchmark, one command per round trip), http-load.pcap
// (curl keep-alive to nginx), dns-load.pcap (lookups against dnsmasq), grpc-load.pcap (grpc-go
// unary calls, test/h2peer) and mongodb-load.pcap (the Go driver against FerretDB), captured
// on the pod side of a veth pair. It needs root and the Debian packages listed in package
// realnet.
//
//	go run ./test/realnet/cmd/loadpcap -out bin -packets 600000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/audit-io/wire-audit/test/gobuild"
	"github.com/audit-io/wire-audit/test/realnet"
)

func main() {
	os.Exit(run())
}

// run returns the exit code: 0, 1 on failure, 2 when skipped (not root, or a binary missing).
func run() int {
	var (
		out       = flag.String("out", "bin", "directory for the pcap files")
		packets   = flag.Int("packets", 600000, "least number of packets per file")
		protocols = flag.String("protocols", "pgsql,mysql", "comma-separated protocols to capture: pgsql, mysql, redis, redis-rr, http, dns, grpc, mongodb")
		clients   = flag.Int("clients", 4, "concurrent client connections")
		noOffload = flag.Bool("disable-offloads", false, "capture MTU-sized packets instead of GSO super-packets")
		timeout   = flag.Duration("timeout", 15*time.Minute, "give up after this long")
	)
	flag.Parse()
	opts := realnet.LoadOptions{
		Dir: *out, Packets: *packets, Protocols: strings.Split(*protocols, ","),
		Clients: *clients, DisableOffloads: *noOffload,
	}
	if slices.Contains(opts.Protocols, "grpc") {
		// The gRPC peer is a module of its own (test/h2peer), built once here.
		dir, err := os.MkdirTemp("", "loadpcap-")
		if err != nil {
			log.Printf("loadpcap: %v", err)
			return 1
		}
		defer os.RemoveAll(dir)
		opts.H2Peer = filepath.Join(dir, "h2peer")
		if err := gobuild.Go(context.Background(), "test/h2peer", ".", opts.H2Peer, nil); err != nil {
			log.Printf("loadpcap: %v (run from the repository root)", err)
			return 1
		}
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		log.Printf("loadpcap: %v", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	start := time.Now()
	err := realnet.Run(ctx, log.Printf, func(t realnet.TB) {
		for _, c := range realnet.CaptureLoad(t, opts) {
			fmt.Printf("%s: %d packets, %d bytes, largest %d, %d kernel drops, %d rounds, %.1fs\n",
				c.File, c.Stats.Packets, c.Stats.Bytes, c.Stats.MaxLen, c.KernelDropped, c.Rounds, c.Duration.Seconds())
		}
	})
	switch {
	case errors.Is(err, realnet.ErrSkipped):
		log.Printf("loadpcap: %v", err)
		return 2
	case err != nil:
		log.Printf("loadpcap: %v", err)
		return 1
	}
	fmt.Printf("total %.1fs\n", time.Since(start).Seconds())
	return 0
}
