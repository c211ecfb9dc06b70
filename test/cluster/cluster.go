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

	"github.com/audit-io/wire-audit/test/freeport"
	"github.com/audit-io/wire-audit/test/gobuild"
)

// Options configure Start.
type Options struct {
	// RepoRoot is the repository's root directory. Required.
	RepoRoot string
	// ConfigFile is the webhook's --config; default config/manager/config.yaml.
	ConfigFile string
	// Log receives the webhook's output as well as WebhookLog.
	Log io.Writer
	// CertMode is the webhook's --cert-mode: "builtin" (the default) manages the Secret
	// SecretName and the caBundle of ConfigName; "files" serves envtest's certificates.
	CertMode string
	// ExtraArgs are appended to the webhook's flags.
	ExtraArgs []string
}

// Names the main webhook uses in builtin mode. ConfigName is the configuration envtest installs
// from config/webhook/manifests.yaml, without kustomize's prefix.
const (
	Namespace  = "wire-audit-system"
	SecretName = "wire-audit-webhook-server-cert"
	ConfigName = "mutating-webhook-configuration"
	// CAOverlap is the main webhook's --ca-overlap: short, so that a CA rotation fits a test.
	CAOverlap = 2 * time.Second
)

// Cluster is one control plane plus one webhook process.
type Cluster struct {
	// Clients talk to the API server as an administrator, with admission warnings collected.
	Clients *kubernetes.Clientset
	// Config is the administrator's rest config.
	Config *rest.Config
	// Warnings collects the admission warnings the API server returned.
	Warnings *WarningLog
	// MetricsURL and ReadyzURL are the main webhook's endpoints; WebhookAddr is where it
	// serves TLS.
	MetricsURL, ReadyzURL, WebhookAddr string
	// Binary is the webhook binary the cluster built; Kubeconfig lets it (or `webhook rotate`)
	// reach the API server as an administrator.
	Binary, Kubeconfig string
	// ServingCertDir holds tls.crt and tls.key for 127.0.0.1, signed by CAData; other local
	// webhooks (a benchmark's peer) can serve with them.
	ServingCertDir string
	CAData         []byte

	testEnv *envtest.Environment
	main    *Webhook
	extra   []*Webhook
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
	c := &Cluster{Warnings: &WarningLog{}}
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
	if err := c.startWebhook(opts, opts.Log); err != nil {
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
	// Built without cgo, as make build builds it for the image, so the tests run what ships.
	if c.Binary, err = gobuild.Webhook(context.Background(), opts.RepoRoot, c.tmp); err != nil {
		return err
	}
	user, err := c.testEnv.AddUser(envtest.User{Name: "wire-audit-webhook", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("add webhook user: %w", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return err
	}
	c.Kubeconfig = filepath.Join(c.tmp, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, kubeconfig, 0o600); err != nil {
		return err
	}
	if err := c.Namespace(context.Background(), Namespace, nil); err != nil {
		return err
	}
	wio := c.testEnv.WebhookInstallOptions
	c.ServingCertDir, c.CAData = wio.LocalServingCertDir, wio.LocalServingCAData
	args := []string{"--config=" + opts.ConfigFile}
	switch opts.CertMode {
	case "", "builtin":
		// The API server reaches the webhook by URL at the envtest host, so the certificate
		// must cover that host beside the Service names.
		args = append(args, "--cert-mode=builtin", "--webhook-config-name="+ConfigName, "--cert-secret-name="+SecretName,
			"--cert-extra-sans=localhost,"+wio.LocalServingHost, "--ca-overlap="+CAOverlap.String())
	default:
		args = append(args, "--cert-mode="+opts.CertMode, "--webhook-cert-path="+wio.LocalServingCertDir)
	}
	args = append(args, opts.ExtraArgs...)
	if a := os.Getenv("WEBHOOK_PPROF"); a != "" {
		args = append(args, "--pprof-bind-address="+a)
	}
	c.main, err = c.StartWebhook(wio.LocalServingPort, log, args...)
	if err != nil {
		return err
	}
	c.MetricsURL, c.ReadyzURL, c.WebhookAddr = c.main.MetricsURL, c.main.ReadyzURL, c.main.WebhookAddr
	return c.main.WaitReady(60 * time.Second)
}

// UserKubeconfig writes a kubeconfig for a new user of the API server, with only the
// permissions that RBAC grants it, and returns its path.
func (c *Cluster) UserKubeconfig(name string, groups ...string) (string, error) {
	path := filepath.Join(c.tmp, name+".kubeconfig")
	_, err := WriteUserKubeconfig(c.testEnv, envtest.User{Name: name, Groups: groups}, path)
	return path, err
}

// WriteUserKubeconfig adds user u (a client certificate) to env's API server, writes its
// kubeconfig to path and returns it.
func WriteUserKubeconfig(env *envtest.Environment, u envtest.User, path string) ([]byte, error) {
	user, err := env.AddUser(u, nil)
	if err != nil {
		return nil, fmt.Errorf("add user %s: %w", u.Name, err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return nil, err
	}
	return kubeconfig, os.WriteFile(path, kubeconfig, 0o600)
}

// Webhook is one webhook process.
type Webhook struct {
	// MetricsURL and ReadyzURL are its endpoints; WebhookAddr is where it serves TLS.
	MetricsURL, ReadyzURL, WebhookAddr string

	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
}

// StartWebhook runs another webhook process against this control plane, as one more replica
// would: port is its webhook port (0 picks a free one), args come after the kubeconfig, port,
// endpoint and namespace flags. It does not wait for readiness; see WaitReady.
func (c *Cluster) StartWebhook(port int, log io.Writer, args ...string) (*Webhook, error) {
	if port == 0 {
		p, err := freeport.Loopback()
		if err != nil {
			return nil, err
		}
		port = p
	}
	metricsAddr, err := freeport.LoopbackAddr()
	if err != nil {
		return nil, err
	}
	probeAddr, err := freeport.LoopbackAddr()
	if err != nil {
		return nil, err
	}
	w := &Webhook{
		MetricsURL:  "http://" + metricsAddr + "/metrics",
		ReadyzURL:   "http://" + probeAddr + "/readyz",
		WebhookAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		log:         &syncBuffer{},
		done:        make(chan struct{}),
	}
	w.cmd = exec.Command(c.Binary, append([]string{
		"--kubeconfig=" + c.Kubeconfig,
		"--webhook-port=" + strconv.Itoa(port),
		"--metrics-bind-address=" + metricsAddr,
		"--metrics-secure=false",
		"--health-probe-bind-address=" + probeAddr,
		"--namespace=" + Namespace,
	}, args...)...)
	var out io.Writer = w.log
	if log != nil {
		out = io.MultiWriter(w.log, log)
	}
	w.cmd.Stdout, w.cmd.Stderr = out, out
	if err := w.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start webhook: %w", err)
	}
	go func() { _ = w.cmd.Wait(); close(w.done) }()
	c.extra = append(c.extra, w)
	return w, nil
}

// WaitReady polls /readyz until it answers 200.
func (w *Webhook) WaitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if code, _, _ := Get(w.ReadyzURL); code == http.StatusOK {
			return nil
		}
		if w.exited() {
			return fmt.Errorf("webhook exited before it was ready (%v); its log:\n%s", w.cmd.ProcessState, w.Log())
		}
		if time.Now().After(deadline) {
			_, body, _ := Get(w.ReadyzURL + "?verbose=1")
			return fmt.Errorf("webhook not ready after %s (readyz: %s); its log:\n%s", timeout, body, w.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Log returns what the process has printed so far.
func (w *Webhook) Log() string { return w.log.String() }

// Stop ends the process: SIGINT, then SIGKILL after 10 s.
func (w *Webhook) Stop() {
	if w.exited() {
		return
	}
	_ = w.cmd.Process.Signal(os.Interrupt)
	select {
	case <-w.done:
	case <-time.After(10 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.done
	}
}

func (w *Webhook) exited() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// syncBuffer is a bytes.Buffer that the process's output and the test can share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// WebhookLog returns what the main webhook has printed so far.
func (c *Cluster) WebhookLog() string {
	if c.main == nil {
		return ""
	}
	return c.main.Log()
}

// Stop ends every webhook process and the control plane.
func (c *Cluster) Stop() {
	for _, w := range c.extra {
		w.Stop()
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
