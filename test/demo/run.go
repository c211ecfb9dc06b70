package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/audit-io/wire-audit/test/cluster"
	"github.com/audit-io/wire-audit/test/gobuild"
	"github.com/audit-io/wire-audit/test/realnet"
)

// options configure run.
type options struct {
	// Repo is the repository root.
	Repo string
	// Duration is how long the demo traffic runs once the sidecar is ready.
	Duration time.Duration
	// CaptureBinary is the sidecar binary; empty builds cmd/capture into a temporary directory.
	CaptureBinary string
	// KafkaBrokers are a real Kafka's brokers; empty starts kfake in the peer namespace.
	KafkaBrokers []string
	// KafkaTopic is the events' topic; default defaultTopic.
	KafkaTopic string
	// Verbose shows the webhook's, the servers' and the sidecar's logs.
	Verbose bool
	// Out receives the steps, the events and the summary.
	Out io.Writer

	// hostBroker, for tests, starts a broker in the host's namespace at hostIP once the pod
	// namespace has its route there, and returns its address, which replaces KafkaBrokers.
	hostBroker func(t realnet.TB, hostIP, topic string) string
}

// demo is one run's state, shared by the steps.
type demo struct {
	opts  options
	out   *lockedWriter
	t     realnet.TB
	start time.Time
	pair  *realnet.Pair
	kafka *kafkaSetup
	c     *cluster.Cluster
	srv   *servers
	image string // the sidecar image of the webhook's defaults
	// podHostIP is the pod namespace's address on the veth to the host, with KAFKA_BROKERS.
	podHostIP string
}

// run is the whole demo; it returns what arrived in Kafka, and an error when any step failed or
// no event arrived.
func run(ctx context.Context, opts options) (*tally, error) {
	if opts.Duration <= 0 {
		return nil, fmt.Errorf("duration %s: must be positive", opts.Duration)
	}
	if err := brokerAddrs(opts.KafkaBrokers); err != nil {
		return nil, err
	}
	if opts.KafkaTopic == "" {
		opts.KafkaTopic = defaultTopic
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

	d.step("checking what the demo needs: root, the envtest binaries in bin/, the Debian packages")
	if err := preflight(ctx, opts.Repo); err != nil {
		return nil, err
	}
	if d.opts.CaptureBinary != "" {
		// podrun runs it from the container's working directory, so the path must be absolute.
		if d.opts.CaptureBinary, err = filepath.Abs(d.opts.CaptureBinary); err != nil {
			return nil, err
		}
		if _, err := os.Stat(d.opts.CaptureBinary); err != nil {
			return nil, &missingError{msg: fmt.Sprintf("the capture binary: %v; run `make capture` to build it, or leave -capture-binary empty to build it here", err)}
		}
	} else {
		d.step("building the capture sidecar (cmd/capture)")
		dir, err := os.MkdirTemp("", "wire-audit-demo-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		if d.opts.CaptureBinary, err = gobuild.Capture(ctx, opts.Repo, dir); err != nil {
			return nil, err
		}
	}

	var result *tally
	logf := func(format string, args ...any) {
		if opts.Verbose {
			d.printf("    [log] "+format+"\n", args...)
		}
	}
	err = realnet.Run(ctx, logf, func(t realnet.TB) {
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
		return result, errors.New("no audit event arrived in Kafka; to see the webhook's, the servers' and the sidecar's logs, run the demo with -v: KUBEBUILDER_ASSETS=$PWD/bin go run ./test/demo -v")
	}
	return result, nil
}

// body runs inside realnet.Run: d.t.Fatalf ends it, and the cleanups stop everything it started.
func (d *demo) body() *tally {
	t := d.t
	d.step("creating two network namespaces joined by a veth pair: %q plays the pod, %q holds the servers", "pod", "peer")
	d.pair = realnet.NewPair(t)
	d.printf("    pod %s (%s), peer %s\n", d.pair.PodIP, d.pair.PodIf, d.pair.PeerIP)

	d.kafka = d.startKafka()

	// The control plane takes seconds to start, the servers too: start them side by side.
	d.step("starting kube-apiserver and etcd (bin/), the webhook binary with built-in certificates, and, in the peer namespace, MariaDB, PostgreSQL, Redis, nginx and dnsmasq")
	type started struct {
		c   *cluster.Cluster
		err error
		at  time.Duration
	}
	cc := make(chan started, 1)
	go func() {
		begin := time.Now()
		c, err := d.startCluster()
		cc <- started{c, err, time.Since(begin)}
	}()
	// Registered now, so that a server that fails to start does not leave the control plane
	// running once it is up.
	var s started
	received := false
	t.Cleanup(func() {
		if !received {
			s = <-cc
		}
		if s.c != nil {
			s.c.Stop()
		}
	})
	begin := time.Now()
	d.srv = startServers(t, d.pair)
	serversIn := time.Since(begin)
	s, received = <-cc, true
	if s.err != nil {
		t.Fatalf("%v", s.err)
	}
	d.c = s.c
	d.printf("    servers ready in %s, control plane and webhook in %s\n", serversIn.Round(time.Millisecond), s.at.Round(time.Millisecond))

	d.otherPods()
	pod, created := d.createAuditedPod()

	events := d.consume(string(pod.UID), created)
	sc, emitted := d.startSidecar(pod)
	ready := time.Now()
	d.printf("    sidecar ready %s after the pod was created\n", ready.Sub(created).Round(time.Millisecond))

	d.step("demo traffic from the pod namespace for %s; the events, read back from Kafka, as they arrive:", d.opts.Duration)
	d.srv.describe(d)
	rounds := d.srv.drive(t.Context(), d, d.opts.Duration)

	d.step("rounds done: %d; stopping the sidecar with SIGTERM (it flushes what it holds to Kafka)", rounds)
	stopped := time.Now()
	if err := sc.Stop(gracePeriod(pod)); err != nil {
		t.Fatalf("sidecar: %v", err)
	}
	d.printf("    sidecar exited in %s\n", time.Since(stopped).Round(time.Millisecond))
	result := events.drain(emitted)
	d.summary(result, ready)
	d.step("done; stopping the servers, Kafka, the webhook and the control plane, and deleting the namespaces")
	return result
}

// gracePeriod is how long the kubelet would wait after SIGTERM: the pod's
// terminationGracePeriodSeconds (the API server defaults it to 30).
func gracePeriod(pod *corev1.Pod) time.Duration {
	if s := pod.Spec.TerminationGracePeriodSeconds; s != nil && *s > 0 {
		return time.Duration(*s) * time.Second
	}
	return 30 * time.Second
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

// logWriter is where a child's log goes: the demo's output with -v, else nowhere.
func (d *demo) logWriter(prefix string) io.Writer {
	if !d.opts.Verbose {
		return io.Discard
	}
	return &lineWriter{fn: d.logLine(prefix)}
}

// logLine prints a child's log line with -v.
func (d *demo) logLine(prefix string) func(line []byte) {
	return func(line []byte) {
		if d.opts.Verbose {
			d.printf("    [%s] %s\n", prefix, line)
		}
	}
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
