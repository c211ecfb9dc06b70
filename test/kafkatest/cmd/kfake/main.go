// Command kfake runs a one-broker kfake cluster on a fixed loopback port, persisting its log in
// a directory, so tests can kill it (SIGKILL) and start it again with the data intact.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 0, "Port to listen on (127.0.0.1).")
	data := flag.String("data", "", "Directory for the log; empty keeps it in memory.")
	topic := flag.String("topic", "wire-audit-test", "Topic to create.")
	partitions := flag.Int("partitions", 4, "Partitions of the topic.")
	flag.Parse()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(*port), kfake.SeedTopics(int32(*partitions), *topic)}
	if *data != "" {
		opts = append(opts, kfake.DataDir(*data), kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake:", err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	c.Close()
}
