// Package nodeapp installs the product on a real node (test/node) as users run it, for the
// end-to-end tests and `make demo`: our image tarballs imported into the node's containerd,
// `helm install` of charts/wire-audit with its built-in certificates, real MariaDB, PostgreSQL,
// Redis, nginx and dnsmasq on the node's address, kfake (a Kafka-protocol broker) there too, and
// the application image (./app, a small static client) that annotated workloads run.
package nodeapp

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/twmb/franz-go/pkg/kfake"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/audit-io/wire-audit/test/gobuild"
	"github.com/audit-io/wire-audit/test/node"
	"github.com/audit-io/wire-audit/test/realnet"
)

// Names of the installation.
const (
	Release = "wa"
	System  = "wire-audit-system"
	// Webhook is the webhook's Deployment.
	Webhook = Release + "-wire-audit-webhook"
	// AppImage is the application image built from ./app.
	AppImage = "wire-audit.test/app:e2e"
	// Partitions is the partition count of the topic kfake is seeded with.
	Partitions = 4
)

// Images are the tarballs `make images` writes, relative to the repository root, as users load
// them: the webhook's, then the sidecar's.
var Images = []string{"bin/images/webhook.tar", "bin/images/capture.tar"}

// Options configure Start.
type Options struct {
	// Root is the repository's root. Required.
	Root string
	// Topic is the Kafka topic the chart renders and kfake is seeded with. Required.
	Topic string
	// KafkaPort is kfake's port on the node's address; 0 picks a free one.
	KafkaPort int
	// Log receives the node's steps and this package's. Default: discarded.
	Log io.Writer
	// KeepLogs, when set, is a directory that receives the node components' logs at Stop.
	KeepLogs string
	// HelmSet are extra `--set` values for helm install, e.g. "certificates.builtin.caOverlap=5s".
	HelmSet []string
}

// Stack is a node with the chart installed, the servers and kfake on its address.
type Stack struct {
	Root    string
	Node    *node.Node
	Pair    *realnet.Pair
	Servers *Servers
	// Broker is kfake's address on the node, as the chart renders it.
	Broker string
	// WebhookImage and CaptureImage are the references in the tarballs; CaptureEntrypoint is
	// the capture image's ENTRYPOINT, where `capture selfcheck` is exec'd.
	WebhookImage, CaptureImage string
	CaptureEntrypoint          []string
	log                        io.Writer
	helmSet                    []string
}

// Missing names what the machine lacks for Start beyond what node.Preflight checks (helm, the
// image tarballs, ip), with how to get it; nil when nothing is missing.
func Missing(root string) []string {
	var problems []string
	if _, err := exec.LookPath("ip"); err != nil {
		problems = append(problems, "ip is not installed: install the Debian package iproute2 (hack/ensure-packages.sh demo does)")
	}
	if _, err := os.Stat(filepath.Join(root, "bin", "helm")); err != nil {
		problems = append(problems, "bin/helm is missing: run `make helm`")
	}
	for _, f := range Images {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			problems = append(problems, f+" is missing: run `make images`")
		}
	}
	return problems
}

// Start starts the node with our images and the app's, the servers and kfake on the node's
// address, installs the chart and waits for the webhook's 2 replicas. Everything it starts is
// stopped by tb's cleanups; a failure ends tb.
func Start(ctx context.Context, tb realnet.TB, opts Options) *Stack {
	tb.Helper()
	if opts.Root == "" || opts.Topic == "" {
		tb.Fatalf("nodeapp: Options.Root and Options.Topic are required")
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	s := &Stack{Root: opts.Root, log: opts.Log, helmSet: opts.HelmSet}
	var tars []string
	for _, img := range Images {
		tars = append(tars, filepath.Join(opts.Root, img))
	}
	var err error
	if s.WebhookImage, _, err = imageInfo(tars[0]); err != nil {
		tb.Fatalf("%v", err)
	}
	if s.CaptureImage, s.CaptureEntrypoint, err = imageInfo(tars[1]); err != nil {
		tb.Fatalf("%v", err)
	}
	begin := time.Now()
	fmt.Fprintf(s.log, "building the app image %s from test/nodeapp/app (with a cold Go build cache, a minute or two)\n", AppImage)
	stop := stillBuilding(s.log, "the app image", begin)
	appTar, err := buildApp(ctx, opts.Root, tb.TempDir())
	stop()
	if err != nil {
		tb.Fatalf("%v", err)
	}
	fmt.Fprintf(s.log, "app image built (%.1fs)\n", time.Since(begin).Seconds())
	tars = append(tars, appTar)
	s.Node, err = node.Start(ctx, node.Options{RepoRoot: opts.Root, Images: tars, Log: opts.Log, KeepLogs: opts.KeepLogs})
	if err != nil {
		tb.Fatalf("%v", err)
	}
	tb.Cleanup(s.Node.Stop)
	begin = time.Now()
	s.Pair = realnet.HostPair(tb, node.NodeIP, node.NodeIP6, node.PodGateway, netip.MustParseAddr("fd00:235::1"))
	s.Servers = StartServers(tb, s.Pair)
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(Partitions, opts.Topic),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, net.JoinHostPort(node.NodeIP.String(), strconv.Itoa(opts.KafkaPort)))
		}))
	if err != nil {
		tb.Fatalf("kfake: %v", err)
	}
	tb.Cleanup(kc.Close)
	s.Broker = kc.ListenAddrs()[0]
	fmt.Fprintf(s.log, "MariaDB, PostgreSQL, Redis, nginx, dnsmasq and kfake (%s, topic %s) on the node's address (%.1fs)\n",
		s.Broker, opts.Topic, time.Since(begin).Seconds())
	s.helmInstall(ctx, tb, opts.Topic)
	if err := s.WaitDeploymentReady(ctx, System, Webhook, 2, 3*time.Minute); err != nil {
		tb.Fatalf("%v\n%s", err, s.Describe(ctx, System))
	}
	return s
}

// helmInstall installs the chart as a user would: the built-in certificates, our images as
// imported (never pulled), Kafka at kfake.
func (s *Stack) helmInstall(ctx context.Context, tb realnet.TB, topic string) {
	i := strings.LastIndex(s.WebhookImage, "/")
	repo, tag, _ := strings.Cut(s.WebhookImage[i+1:], ":")
	repo = s.WebhookImage[:i+1] + repo
	args := []string{"install", Release, filepath.Join(s.Root, "charts", "wire-audit"),
		"--kubeconfig", s.Node.Kubeconfig, "--namespace", System, "--create-namespace",
		"--set", "image.repository=" + repo, "--set", "image.tag=" + tag, "--set", "image.pullPolicy=Never",
		"--set", "sidecar.image=" + s.CaptureImage, "--set", "sidecar.imagePullPolicy=Never",
		"--set", "kafka.brokers={" + s.Broker + "}", "--set", "kafka.topic=" + topic,
		"--set", "capture.protocols.http={80}",
		"--wait", "--timeout", "3m"}
	for _, v := range s.helmSet {
		args = append(args, "--set", v)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(s.Root, "bin", "helm"), args...)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("helm %s: %v\n%s\n%s", strings.Join(args, " "), err, out, s.Describe(ctx, System))
	}
	fmt.Fprintf(s.log, "helm install %s charts/wire-audit -n %s: webhook %s, sidecar %s (%.1fs)\n",
		Release, System, s.WebhookImage, s.CaptureImage, time.Since(start).Seconds())
}

// WaitDeploymentReady waits until the Deployment ns/name has replicas ready and updated.
func (s *Stack) WaitDeploymentReady(ctx context.Context, ns, name string, replicas int32, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		d, err := s.Node.Clients.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil && d.Status.ReadyReplicas >= replicas && d.Status.UpdatedReplicas >= replicas &&
			d.Status.ObservedGeneration >= d.Generation {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("deployment %s/%s not %d ready replicas after %s: %w %+v", ns, name, replicas, timeout, err, statusOf(d))
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

// Describe is what kubectl shows of ns's pods and events, for failure messages.
func (s *Stack) Describe(ctx context.Context, ns string) string {
	out, _ := s.Node.Kubectl(ctx, "-n", ns, "get", "pods,events", "-o", "wide")
	return out
}

// Namespace creates ns at Pod Security level privileged: the sidecar adds NET_RAW and
// NET_ADMIN, which baseline forbids.
func (s *Stack) Namespace(ctx context.Context, ns string) error {
	_, err := s.Node.Clients.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns, Labels: map[string]string{"pod-security.kubernetes.io/enforce": "privileged"},
	}}, metav1.CreateOptions{})
	return err
}

// imageInfo reads a tarball's reference and ENTRYPOINT.
func imageInfo(path string) (ref string, entrypoint []string, err error) {
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
	if err != nil || len(m) != 1 || len(m[0].RepoTags) != 1 {
		return "", nil, fmt.Errorf("nodeapp: %s: want one image with one tag (make images): %w", path, err)
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

// stillBuilding says every 30 s that what began at begin is still building, until the
// function it returns is called, so that a slow build is not taken for a hang.
func stillBuilding(log io.Writer, what string, begin time.Time) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(30 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				fmt.Fprintf(log, "still building %s (%s)\n", what, time.Since(begin).Round(time.Second))
			}
		}
	}()
	return func() { close(done); <-finished }
}

// buildApp builds ./app static and its image.
func buildApp(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "app")
	if err := gobuild.Go(ctx, root, "./test/nodeapp/app", bin, []string{"CGO_ENABLED=0"}, "-trimpath", "-ldflags=-s -w"); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "app.tar")
	return out, node.BinaryImage(bin, AppImage, out)
}

// Servers are the real peers, listening on the node's address.
type Servers struct {
	MariaDB  *realnet.MariaDB
	Postgres *realnet.Postgres
	Redis    *realnet.Redis
	Nginx    *realnet.Nginx
	Dnsmasq  *realnet.Dnsmasq
}

// StartServers starts the five servers side by side, with the file the app fetches.
func StartServers(tb realnet.TB, pair *realnet.Pair) *Servers {
	tb.Helper()
	s := &Servers{}
	var wg sync.WaitGroup
	// A Fatalf in one of these ends only its goroutine; the check below ends tb.
	wg.Go(func() { s.MariaDB = realnet.StartMariaDB(tb, pair, realnet.MariaDBOptions{}) })
	wg.Go(func() { s.Postgres = realnet.StartPostgres(tb, pair, realnet.PostgresOptions{}) })
	wg.Go(func() { s.Redis = realnet.StartRedis(tb, pair, realnet.RedisOptions{}) })
	wg.Go(func() {
		s.Nginx = realnet.StartNginx(tb, pair, realnet.NginxOptions{Files: map[string]string{"/hello.txt": "hello\n"}})
	})
	wg.Go(func() { s.Dnsmasq = realnet.StartDnsmasq(tb, pair, realnet.DnsmasqOptions{}) })
	wg.Wait()
	if s.MariaDB == nil || s.Postgres == nil || s.Redis == nil || s.Nginx == nil || s.Dnsmasq == nil {
		tb.Fatalf("nodeapp: a server did not start")
	}
	return s
}

// AppOptions say how the app container runs.
type AppOptions struct {
	// Rounds of transactions; 0 keeps making them until SIGTERM.
	Rounds int
	// Interval between the starts of two rounds; 0 is the app's default (1s).
	Interval time.Duration
	// Exit after the rounds; false keeps running until SIGTERM, as a server would.
	Exit bool
}

// AppContainer runs ./app against the node's servers, tagged with its pod's name.
func AppContainer(o AppOptions) corev1.Container {
	cmd := []string{"/app", "-server", node.NodeIP.String(), "-dns-name", realnet.DNSHostName,
		"-dns-zone", realnet.DNSZone, "-rounds", strconv.Itoa(o.Rounds), fmt.Sprintf("-exit=%v", o.Exit)}
	if o.Interval > 0 {
		cmd = append(cmd, "-interval", o.Interval.String())
	}
	return corev1.Container{
		Name: "app", Image: AppImage, ImagePullPolicy: corev1.PullNever, Command: cmd,
		Env: []corev1.EnvVar{{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
	}
}
