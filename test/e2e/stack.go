// Package e2e runs the product as users run it, on a real node (test/node): helm installs the
// chart with our images imported into the node's containerd; the kubelet runs the webhook's
// Deployment under the chart's security context, and runs the annotated Deployment's and Job's
// pods with the sidecar the webhook injected; their application container (./app, a small static
// client) talks to real MariaDB, PostgreSQL, Redis, nginx and dnsmasq on the node's address; and
// the events land in kfake, a Kafka-protocol broker on the node's address, where kcat and a
// franz-go consumer read them.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/audit-io/wire-audit/internal/testenv"
	"github.com/audit-io/wire-audit/test/gobuild"
	"github.com/audit-io/wire-audit/test/kafkatest"
	"github.com/audit-io/wire-audit/test/node"
	"github.com/audit-io/wire-audit/test/realnet"
)

// Names of the installation and of the audited workloads.
const (
	Release   = "wa"
	System    = "wire-audit-system"
	Namespace = "shop"
	// AppImage is the application image the test builds from ./app.
	AppImage = "wire-audit.test/app:e2e"
)

// images are the tarballs `make images` writes, as users load them.
var images = []string{"bin/images/webhook.tar", "bin/images/capture.tar"}

// stack is what the tests of this package share: one node with the chart installed, the
// servers and kfake on the node's address, and a consumer of the topic.
type stack struct {
	root    string
	node    *node.Node
	pair    *realnet.Pair
	servers *servers
	broker  string
	records *consumer
	// webhookImage and captureImage are the references in the tarballs; captureEntrypoint is
	// the capture image's ENTRYPOINT, where `capture selfcheck` is exec'd.
	webhookImage, captureImage string
	captureEntrypoint          []string
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
	for _, tool := range []string{"kcat", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(tb, "e2e: %s is not installed (hack/ensure-packages.sh all installs it)", tool)
		}
	}
	for _, f := range append([]string{"bin/helm"}, images...) {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			testenv.Missing(tb, "e2e: %s is missing: run `make images helm` (make test does)", f)
		}
	}
	// A failure while starting ends the first test; the later ones fail at once.
	sharedOnce.Do(func() { shared = startStack(lifetime{tb}, root) })
	if shared == nil {
		tb.Fatal("e2e: the shared node failed to start (see the first test that ran)")
	}
	return shared
}

// startStack starts the node with the images, the servers and kfake on its address, and
// installs the chart.
func startStack(tb testing.TB, root string) *stack {
	s := &stack{root: root}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var tars []string
	for _, img := range images {
		tars = append(tars, filepath.Join(root, img))
	}
	var err error
	if s.webhookImage, _, err = imageInfo(tars[0]); err != nil {
		tb.Fatal(err)
	}
	if s.captureImage, s.captureEntrypoint, err = imageInfo(tars[1]); err != nil {
		tb.Fatal(err)
	}
	appTar, err := buildApp(ctx, root, tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tars = append(tars, appTar)
	logs := os.Getenv("E2E_NODE_LOGS") // a directory that keeps the components' logs
	s.node, err = node.Start(ctx, node.Options{RepoRoot: root, Images: tars, Log: tlog{tb}, KeepLogs: logs})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.node.Stop)
	s.pair = realnet.HostPair(tb, node.NodeIP, node.NodeIP6, node.PodGateway, netip.MustParseAddr("fd00:235::1"))
	s.servers = startServers(tb, s.pair)
	kc := kafkatest.Start(tb, kfake.ListenFn(func(network, _ string) (net.Listener, error) {
		return net.Listen(network, net.JoinHostPort(node.NodeIP.String(), "0"))
	}))
	s.broker = kc.ListenAddrs()[0]
	s.records = startConsumer(tb, s.broker)
	s.helmInstall(ctx, tb)
	if err := s.waitDeploymentReady(ctx, System, Release+"-wire-audit-webhook", 2, 3*time.Minute); err != nil {
		tb.Fatalf("%v\n%s", err, s.describe(ctx, System))
	}
	if _, err := s.node.Clients.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: Namespace, Labels: map[string]string{"pod-security.kubernetes.io/enforce": "privileged"},
	}}, metav1.CreateOptions{}); err != nil {
		tb.Fatal(err)
	}
	return s
}

// helmInstall installs the chart as a user would: the built-in certificates, our images as
// imported (never pulled), Kafka at kfake.
func (s *stack) helmInstall(ctx context.Context, tb testing.TB) {
	repo, tag, _ := strings.Cut(s.webhookImage[strings.LastIndex(s.webhookImage, "/")+1:], ":")
	repo = s.webhookImage[:strings.LastIndex(s.webhookImage, "/")+1] + repo
	args := []string{"install", Release, filepath.Join(s.root, "charts", "wire-audit"),
		"--kubeconfig", s.node.Kubeconfig, "--namespace", System, "--create-namespace",
		"--set", "image.repository=" + repo, "--set", "image.tag=" + tag, "--set", "image.pullPolicy=Never",
		"--set", "sidecar.image=" + s.captureImage, "--set", "sidecar.imagePullPolicy=Never",
		"--set", "kafka.brokers={" + s.broker + "}", "--set", "kafka.topic=" + kafkatest.Topic,
		"--set", "capture.protocols.http={80}",
		"--wait", "--timeout", "3m"}
	cmd := exec.CommandContext(ctx, filepath.Join(s.root, "bin", "helm"), args...)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("helm %s: %v\n%s\n%s", strings.Join(args, " "), err, out, s.describe(ctx, System))
	}
	tb.Logf("helm install: %.1fs", time.Since(start).Seconds())
}

func (s *stack) waitDeploymentReady(ctx context.Context, ns, name string, replicas int32, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		d, err := s.node.Clients.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil && d.Status.ReadyReplicas >= replicas && d.Status.UpdatedReplicas >= replicas &&
			d.Status.ObservedGeneration >= d.Generation {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("deployment %s/%s not %d ready replicas after %s: %v %+v", ns, name, replicas, timeout, err, statusOf(d))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func statusOf(d *appsv1.Deployment) any {
	if d == nil {
		return nil
	}
	return d.Status
}

// describe is what kubectl shows of ns's pods and events, for failure messages.
func (s *stack) describe(ctx context.Context, ns string) string {
	out, _ := s.node.Kubectl(ctx, "-n", ns, "get", "pods,events", "-o", "wide")
	return out
}

// imageInfo reads a tarball's reference and ENTRYPOINT.
func imageInfo(path string) (ref string, entrypoint []string, err error) {
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
	if err != nil || len(m) != 1 || len(m[0].RepoTags) != 1 {
		return "", nil, fmt.Errorf("e2e: %s: want one image with one tag (make images): %v", path, err)
	}
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		return "", nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return "", nil, err
	}
	return m[0].RepoTags[0], cfg.Config.Entrypoint, nil
}

// buildApp builds ./app static and its image.
func buildApp(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "app")
	if err := gobuild.Go(ctx, root, "./test/e2e/app", bin, []string{"CGO_ENABLED=0"}, "-trimpath", "-ldflags=-s -w"); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "app.tar")
	return out, node.BinaryImage(bin, AppImage, out)
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
