// Package e2e runs the product as users run it, on a real node (test/node): helm installs the
// chart with our images imported into the node's containerd; the kubelet runs the webhook's
// Deployment under the chart's security context, and runs the annotated Deployment's and Job's
// pods with the sidecar the webhook injected; their application container (test/nodeapp/app, a
// small static client) talks to real MariaDB, PostgreSQL, Redis, nginx and dnsmasq on the node's
// address; and the events land in kfake, a Kafka-protocol broker on the node's address, where
// kcat and a franz-go consumer read them. test/nodeapp, shared with `make demo`, sets this up.
package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/audit-io/wire-audit/internal/testenv"
	"github.com/audit-io/wire-audit/test/kafkatest"
	"github.com/audit-io/wire-audit/test/node"
	"github.com/audit-io/wire-audit/test/nodeapp"
)

// Names of the installation and of the audited workloads.
const (
	Release   = nodeapp.Release
	System    = nodeapp.System
	Namespace = "shop"
)

// caOverlap is the chart's certificates.builtin.caOverlap for the tests.
const caOverlap = 5 * time.Second

// stack is what the tests of this package share: one node with the chart installed, the
// servers and kfake on the node's address (test/nodeapp), and a consumer of the topic.
type stack struct {
	*nodeapp.Stack
	records *consumer
}

// shared is started by the first test that needs it and stopped by TestMain.
var (
	sharedOnce sync.Once
	shared     *stack
	sharedStop []func()
)

// lifetime is a testing.TB-like owner of what the shared stack starts: its cleanups run at the
// end of TestMain, not at the end of the first test.
type lifetime struct {
	testing.TB
}

func (l lifetime) Cleanup(f func()) { sharedStop = append(sharedStop, f) }

func repoRoot(tb testing.TB) string {
	tb.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		tb.Fatal(err)
	}
	return root
}

// getStack returns the shared stack, starting it on first use.
func getStack(tb testing.TB) *stack {
	tb.Helper()
	root := repoRoot(tb)
	node.Require(tb, root)
	if _, err := exec.LookPath("kcat"); err != nil {
		testenv.Missing(tb, "e2e: kcat is not installed (hack/ensure-packages.sh all installs it)")
	}
	if missing := nodeapp.Missing(root); len(missing) > 0 {
		testenv.Missing(tb, "e2e: %s (make test builds helm)", strings.Join(missing, "; "))
	}
	// A failure while starting ends the first test; the later ones fail at once.
	sharedOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		lt := lifetime{tb}
		s := &stack{Stack: nodeapp.Start(ctx, lt, nodeapp.Options{Root: root, Topic: kafkatest.Topic, Log: tlog{tb},
			KeepLogs: os.Getenv("E2E_NODE_LOGS"), // a directory that keeps the components' logs
			// A CA rotation stages the new CA, switches to it and drops the old one, one overlap
			// apart: short, so that TestWebhookAvailability sees all of it under load.
			HelmSet: []string{"certificates.builtin.caOverlap=" + caOverlap.String()}})}
		s.records = startConsumer(lt, s.Broker)
		if err := s.Namespace(ctx, Namespace); err != nil {
			tb.Fatal(err)
		}
		shared = s
	})
	if shared == nil {
		tb.Fatal("e2e: the shared node failed to start (see the first test that ran)")
	}
	return shared
}

type tlog struct{ testing.TB }

func (l tlog) Write(p []byte) (int, error) {
	l.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// observed is a record and when the consumer saw it.
type observed struct {
	at  time.Time
	rec *kgo.Record
}

// consumer reads the topic from the start for as long as the stack runs, and notes when each
// record arrived.
type consumer struct {
	mu   sync.Mutex
	recs []observed
	more chan struct{} // closed and replaced on every arrival
}

func startConsumer(tb testing.TB, broker string) *consumer {
	tb.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(kafkatest.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		tb.Fatalf("kafka consumer: %v", err)
	}
	c := &consumer{more: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			now := time.Now()
			var got []observed
			fs.EachRecord(func(r *kgo.Record) { got = append(got, observed{now, r}) })
			if len(got) > 0 {
				c.mu.Lock()
				c.recs = append(c.recs, got...)
				close(c.more)
				c.more = make(chan struct{})
				c.mu.Unlock()
			}
		}
	}()
	tb.Cleanup(func() { cancel(); <-done; cl.Close() })
	return c
}

// waitFor returns the first record (from index from on) for which match is true, waiting up to
// timeout.
func (c *consumer) waitFor(from int, match func(*kgo.Record) bool, timeout time.Duration) (observed, bool) {
	deadline := time.After(timeout)
	for i := from; ; {
		c.mu.Lock()
		recs, more := c.recs, c.more
		c.mu.Unlock()
		for ; i < len(recs); i++ {
			if match(recs[i].rec) {
				return recs[i], true
			}
		}
		select {
		case <-more:
		case <-deadline:
			return observed{}, false
		}
	}
}

// len is how many records have arrived so far.
func (c *consumer) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.recs)
}

// forPod matches the records of the pod named name.
func forPod(name string) func(*kgo.Record) bool {
	return func(r *kgo.Record) bool {
		var ev struct {
			Kubernetes struct {
				Pod struct{ Name string } `json:"pod"`
			} `json:"kubernetes"`
		}
		return json.Unmarshal(r.Value, &ev) == nil && ev.Kubernetes.Pod.Name == name
	}
}
