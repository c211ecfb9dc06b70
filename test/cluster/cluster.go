// Package cluster starts a real control plane (kube-apiserver and etcd built from source by
// `make envtest`, driven by controller-runtime's envtest) and the webhook binary as its own
// process, wired through config/webhook/manifests.yaml. Integration tests, benchmarks and
// `make run` share it.
package cluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Options configure Start.
type Options struct {
	// RepoRoot is the repository's root directory. Required.
	RepoRoot string
	// ConfigFile is the webhook's --config; default config/manager/config.yaml.
	ConfigFile string
	// Log receives the webhook's output; default a buffer returned by WebhookLog.
	Log io.Writer
}

// Cluster is one control plane plus one webhook process.
type Cluster struct {
	// Clients talk to the API server as an administrator, with admission warnings collected.
	Clients *kubernetes.Clientset
	// Config is the administrator's rest config.
	Config *rest.Config
	// Warnings collects the admission warnings the API server returned.
	Warnings *WarningLog
	// MetricsURL and ReadyzURL are the webhook's endpoints.
	MetricsURL, ReadyzURL string
	// ServingCertDir holds tls.crt and tls.key for 127.0.0.1, signed by CAData; other local
	// webhooks (a benchmark's peer) can serve with them.
	ServingCertDir string
	CAData         []byte

	testEnv *envtest.Environment
	webhook *exec.Cmd
	logBuf  *bytes.Buffer
	tmp     string
}

// Start builds and starts everything, and waits until the webhook reports ready.
func Start(opts Options) (*Cluster, error) {
	if opts.RepoRoot == "" {
		return nil, errors.New("cluster: RepoRoot is required")
	}
	if opts.ConfigFile == "" {
		opts.ConfigFile = filepath.Join(opts.RepoRoot, "config", "manager", "config.yaml")
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: run `make envtest` to build kube-apiserver and etcd into bin/, then export KUBEBUILDER_ASSETS=$PWD/bin (make test and make run do both)")
	}
	c := &Cluster{Warnings: &WarningLog{}, logBuf: &bytes.Buffer{}}
	c.testEnv = &envtest.Environment{
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			Paths: []string{filepath.Join(opts.RepoRoot, "config", "webhook", "manifests.yaml")},
		},
		ControlPlaneStopTimeout: 30 * time.Second,
	}
	// envtest disables the ServiceAccount admission plugin; a real cluster runs it, and it is
	// what would mount an API token into the sidecar, so turn it back on.
	c.testEnv.ControlPlane.GetAPIServer().Configure().Disable("disable-admission-plugins")
	// A throwaway etcd needs no durability, and fsync stalls on a shared disk would swamp the
	// latencies the benchmarks measure.
	c.testEnv.ControlPlane.Etcd = &envtest.Etcd{}
	c.testEnv.ControlPlane.Etcd.Configure().Set("unsafe-no-fsync", "true")
	cfg, err := c.testEnv.Start()
	if err != nil {
		return nil, fmt.Errorf("start control plane: %w", err)
	}
	cfg.QPS, cfg.Burst = 2000, 2000
	cfg.WarningHandler = c.Warnings
	c.Config = cfg
	if c.Clients, err = kubernetes.NewForConfig(cfg); err != nil {
		c.Stop()
		return nil, err
	}
	var log io.Writer = c.logBuf
	if opts.Log != nil {
		log = io.MultiWriter(c.logBuf, opts.Log)
	}
	if err := c.startWebhook(opts, log); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) startWebhook(opts Options, log io.Writer) error {
	var err error
	if c.tmp, err = os.MkdirTemp("", "wire-audit-cluster-"); err != nil {
		return err
	}
	bin := filepath.Join(c.tmp, "webhook")
	build := exec.Command("go", "build", "-o", bin, "./cmd/webhook")
	build.Dir = opts.RepoRoot
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build webhook: %w\n%s", err, out)
	}
	user, err := c.testEnv.AddUser(envtest.User{Name: "wire-audit-webhook", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("add webhook user: %w", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return err
	}
	kcPath := filepath.Join(c.tmp, "kubeconfig")
	if err := os.WriteFile(kcPath, kubeconfig, 0o600); err != nil {
		return err
	}
	metricsAddr, err := freeAddr()
	if err != nil {
		return err
	}
	probeAddr, err := freeAddr()
	if err != nil {
		return err
	}
	wio := c.testEnv.WebhookInstallOptions
	c.ServingCertDir, c.CAData = wio.LocalServingCertDir, wio.LocalServingCAData
	c.webhook = exec.Command(bin,
		"--kubeconfig="+kcPath,
		"--webhook-cert-path="+wio.LocalServingCertDir,
		"--webhook-port="+strconv.Itoa(wio.LocalServingPort),
		"--metrics-bind-address="+metricsAddr,
		"--metrics-secure=false",
		"--health-probe-bind-address="+probeAddr,
		"--config="+opts.ConfigFile,
		"--namespace=wire-audit-system",
	)
	if a := os.Getenv("WEBHOOK_PPROF"); a != "" {
		c.webhook.Args = append(c.webhook.Args, "--pprof-bind-address="+a)
	}
	c.webhook.Stdout, c.webhook.Stderr = log, log
	if err := c.webhook.Start(); err != nil {
		return fmt.Errorf("start webhook: %w", err)
	}
	c.MetricsURL = "http://" + metricsAddr + "/metrics"
	c.ReadyzURL = "http://" + probeAddr + "/readyz"
	deadline := time.Now().Add(60 * time.Second)
	for {
		if code, _, _ := Get(c.ReadyzURL); code == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhook not ready after 60s; its log:\n%s", c.logBuf.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WebhookLog returns what the webhook has printed so far.
func (c *Cluster) WebhookLog() string { return c.logBuf.String() }

// Stop ends the webhook (SIGINT, then SIGKILL after 10 s) and the control plane.
func (c *Cluster) Stop() {
	if c.webhook != nil && c.webhook.Process != nil {
		_ = c.webhook.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = c.webhook.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = c.webhook.Process.Kill()
		}
	}
	if c.testEnv != nil {
		_ = c.testEnv.Stop()
	}
	if c.tmp != "" {
		_ = os.RemoveAll(c.tmp)
	}
}

// Admissions sums the webhook's admission counter over the samples whose label has the given
// value, for example ("outcome", "injected") or ("reason", "already-injected"); all samples when
// value is "".
func (c *Cluster) Admissions(label, value string) (float64, error) {
	code, body, err := Get(c.MetricsURL)
	if err != nil {
		return 0, err
	}
	if code != http.StatusOK {
		return 0, fmt.Errorf("GET %s: status %d", c.MetricsURL, code)
	}
	return SumCounter(body, "wire_audit_webhook_admissions_total", label, value), nil
}

// SumCounter adds up every sample of a counter in Prometheus text format whose label has the
// given value (every sample when value is "").
func SumCounter(body, name, label, value string) float64 {
	var total float64
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		if value != "" && !strings.Contains(line, label+`="`+value+`"`) {
			continue
		}
		fields := strings.Fields(line)
		if v, err := strconv.ParseFloat(fields[len(fields)-1], 64); err == nil {
			total += v
		}
	}
	return total
}

// Namespace creates a namespace and its default ServiceAccount, which the ServiceAccount
// admission plugin requires (no controller-manager runs here to create it).
func (c *Cluster) Namespace(ctx context.Context, name string, labels map[string]string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := c.Clients.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: name}}
	if _, err := c.Clients.CoreV1().ServiceAccounts(name).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create service account in %s: %w", name, err)
	}
	return nil
}

// WarningLog collects the admission warnings the API server returns to the client.
type WarningLog struct {
	mu   sync.Mutex
	msgs []string
}

// HandleWarningHeader implements rest.WarningHandler.
func (w *WarningLog) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

// Since returns the warnings after the first n.
func (w *WarningLog) Since(n int) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.msgs[n:]...)
}

// Len is the number of warnings so far.
func (w *WarningLog) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.msgs)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Get fetches a URL with a short timeout.
func Get(url string) (int, string, error) {
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}
