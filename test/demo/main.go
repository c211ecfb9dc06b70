// Command demo is the README's main job (`make demo`): the product as users run it, on a real
// single-node cluster (test/node) on this machine. It starts the node, imports our image
// tarballs into its containerd, installs the chart with helm, and runs real MariaDB,
// PostgreSQL, Redis, nginx and dnsmasq servers and a Kafka-protocol broker (kfake) on the
// node's address (test/nodeapp). Then it creates an annotated Deployment and an annotated Job
// whose app makes a round of transactions every second; the kubelet runs their pods with the
// sidecar the webhook injected. The audit events are read back from Kafka and printed as they
// arrive, one compact line each. After -duration the Deployment is scaled to 0 (the kubelet
// stops the sidecar with SIGTERM, so it flushes), the Job completes, and the demo prints a
// summary and stops the node.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	opts := options{Out: os.Stdout, KafkaBrokers: os.Getenv("KAFKA_BROKERS")}
	flag.StringVar(&opts.Repo, "repo", ".", "Repository root.")
	flag.DurationVar(&opts.Duration, "duration", 20*time.Second, "How long the demo traffic runs once the Deployment's pod is ready.")
	flag.StringVar(&opts.Logs, "logs", "", "A directory that receives the node components' logs (kubelet, containerd, ...) when the demo ends.")
	flag.Parse()
	os.Exit(exitCode(opts))
}

// exitCode runs the demo until it ends or is interrupted (the cleanups run either way): 0 when
// events arrived, 2 when something the demo needs is missing, else 1.
func exitCode(opts options) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SIGPIPE is caught, so that with the output piped into `head` a write to the closed pipe
	// fails with EPIPE (and ends the demo through its cleanups) rather than killing the demo
	// and leaving the node behind. It does not end the demo by itself: the servers' clients
	// raise it too when a child closes its end of a pipe.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts.Out = &stopOnEPIPE{w: opts.Out, stop: cancel}
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

// stopOnEPIPE ends the demo when its output is gone.
type stopOnEPIPE struct {
	w    io.Writer
	stop context.CancelFunc
}

func (s *stopOnEPIPE) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if errors.Is(err, syscall.EPIPE) {
		s.stop()
	}
	return n, err
}
