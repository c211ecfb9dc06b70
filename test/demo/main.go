// Command demo is the README's main job (`make demo`): the whole path on one machine. It starts a
// real kube-apiserver and etcd, runs the webhook binary against them with its built-in
// certificates, and runs a Kafka-protocol broker (kfake, in-process) or uses a real Kafka. It
// creates an annotated Deployment-style pod, takes the sidecar the webhook injected exactly as the
// API server stored it, and runs it (test/podrun) in a network namespace that plays the pod,
// while real clients there talk to real MariaDB, PostgreSQL, Redis, nginx and dnsmasq servers.
// The audit events are read back from Kafka and printed as they arrive, one compact line each.
// After -duration it stops the sidecar with SIGTERM, prints a summary and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	opts := options{Out: os.Stdout}
	var brokers string
	flag.StringVar(&opts.Repo, "repo", ".", "Repository root.")
	flag.DurationVar(&opts.Duration, "duration", 20*time.Second, "How long the demo traffic runs once the sidecar is ready.")
	flag.StringVar(&opts.CaptureBinary, "capture-binary", "", "The capture sidecar binary (make capture builds bin/capture); empty: build it.")
	flag.StringVar(&brokers, "kafka-brokers", os.Getenv("KAFKA_BROKERS"), "Comma-separated brokers of a real Kafka (default $KAFKA_BROKERS); empty: an embedded kfake broker.")
	flag.StringVar(&opts.KafkaTopic, "kafka-topic", os.Getenv("KAFKA_TOPIC"), "Topic for the events (default $KAFKA_TOPIC, else "+defaultTopic+").")
	flag.BoolVar(&opts.Verbose, "v", false, "Show the webhook's, the servers' and the sidecar's logs.")
	flag.Parse()
	if brokers != "" {
		opts.KafkaBrokers = strings.Split(brokers, ",")
	}
	os.Exit(exitCode(opts))
}

// exitCode runs the demo until it ends or is interrupted (the cleanups run either way): 0 when
// events arrived, 2 when something the demo needs is missing, else 1.
func exitCode(opts options) int {
	// SIGPIPE too: with the output piped into `head`, a closed pipe would otherwise kill the
	// demo on its next write and leave the servers, the control plane and the namespaces behind.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGPIPE)
	defer stop()
	if _, err := run(ctx, opts); err != nil {
		fmt.Fprintln(os.Stderr, "\ndemo failed:", err)
		var m *missingError
		if errors.As(err, &m) {
			return 2
		}
		return 1
	}
	return 0
}
