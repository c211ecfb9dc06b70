package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"github.com/audit-io/wire-audit/test/node"
	"github.com/audit-io/wire-audit/test/nodeapp"
	"github.com/audit-io/wire-audit/test/realnet"
)

// options configure run.
type options struct {
	// Repo is the repository root.
	Repo string
	// Duration is how long the demo traffic runs once the Deployment's pod is ready.
	Duration time.Duration
	// KafkaBrokers is $KAFKA_BROKERS, which the demo refuses: see kafka.go.
	KafkaBrokers string
	// Logs, when set, is a directory that receives the node components' logs at the end.
	Logs string
	// Out receives the steps, the events and the summary.
	Out io.Writer
}

// demo is one run's state, shared by the steps.
type demo struct {
	opts  options
	out   *lockedWriter
	t     realnet.TB
	start time.Time
	stack *nodeapp.Stack
}

// run is the whole demo; it returns what arrived in Kafka, and an error when any step failed or
// no event arrived.
func run(ctx context.Context, opts options) (*tally, error) {
	if opts.Duration <= 0 {
		return nil, fmt.Errorf("-duration (DEMO_DURATION) %s: must be positive", opts.Duration)
	}
	if err := checkBrokers(opts.KafkaBrokers); err != nil {
		return nil, err
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	repo, err := filepath.Abs(opts.Repo)
	if err != nil {
		return nil, err
	}
	opts.Repo = repo
	d := &demo{opts: opts, out: &lockedWriter{w: opts.Out}, start: time.Now()}

	d.step("checking what the demo needs: root, the node's binaries and helm in bin/, the image tarballs in bin/images/, the Debian packages")
	if err := preflight(ctx, opts.Repo); err != nil {
		return nil, err
	}
	var result *tally
	err = realnet.Run(ctx, func(format string, args ...any) { d.printf("    "+format+"\n", args...) }, func(t realnet.TB) {
		d.t = t
		result = d.body()
	})
	if errors.Is(err, realnet.ErrSkipped) {
		// realnet skips when it is not root or a program is missing; preflight should have
		// caught both, so say how to fix it.
		return nil, &missingError{msg: err.Error() + "\n  run `hack/ensure-packages.sh demo` as root (make demo does)"}
	}
	if err != nil {
		return nil, err
	}
	if result == nil || result.transactions() == 0 {
		return result, fmt.Errorf("no audit event arrived in Kafka; to keep the kubelet's, containerd's and the other components' logs, run the demo with -logs DIR: go run ./test/demo -logs /tmp/demo-logs")
	}
	return result, nil
}

// body runs inside realnet.Run: d.t.Fatalf ends it, and the cleanups stop everything it started.
func (d *demo) body() *tally {
	t := d.t
	d.step("starting a real node (test/node: etcd, kube-apiserver, controller-manager, scheduler, kube-proxy, kubelet, containerd, runc, CNI) at %s, importing our images, the servers and Kafka on its address, and helm install of the chart", node.NodeIP)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	d.stack = nodeapp.Start(ctx, t, nodeapp.Options{Root: d.opts.Repo, Topic: topic, KafkaPort: kfakePort,
		Log: &lineWriter{fn: func(line []byte) { d.printf("    %s\n", line) }}, KeepLogs: d.opts.Logs})
	cancel()
	d.printf("    webhook Deployment %s/%s: 2 replicas ready %s after the demo started\n", nodeapp.System, nodeapp.Webhook, time.Since(d.start).Round(time.Second))

	d.otherPods()
	w := d.createWorkloads()
	events := d.consume(w.created)
	w.waitRunning(d)

	d.step("demo traffic for %s: the app in each pod makes a round every %s (MySQL, PostgreSQL, Redis, HTTP, DNS against the servers on %s); the events, read back from Kafka, as they arrive:", d.opts.Duration, appInterval, node.NodeIP)
	interrupted := false
	select {
	case <-t.Context().Done():
		d.printf("    interrupted: stopping the workloads early\n")
		interrupted = true
	case <-time.After(d.opts.Duration):
	}
	w.stop(d, interrupted)
	result := events.drain(w.emitted)
	d.summary(result, w)
	d.step("done; stopping the node (every process, mount, link, cgroup and iptables chain it made), the servers and Kafka")
	return result
}

func (d *demo) step(format string, args ...any) {
	d.printf("\n==> "+format+"\n", args...)
}

func (d *demo) printf(format string, args ...any) {
	fmt.Fprintf(d.out, format, args...)
}

// lockedWriter serializes the steps and the events, which come from different goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// lineWriter calls fn with each complete line written to it, without the newline.
type lineWriter struct {
	mu      sync.Mutex
	fn      func(line []byte)
	partial []byte
}

func (l *lineWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		l.fn(l.partial[:i])
		l.partial = l.partial[i+1:]
	}
}
