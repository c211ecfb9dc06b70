// Package integration runs the webhook binary against a real kube-apiserver and etcd (envtest,
// with binaries built from source by `make envtest`). The API server calls the webhook over TLS
// through the MutatingWebhookConfiguration in config/webhook/manifests.yaml.
package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
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
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// repoRoot is relative to this package's directory, where go test runs.
const repoRoot = "../.."

// env is one control plane plus one webhook process, shared by a test binary's tests.
type env struct {
	testEnv   *envtest.Environment
	cfg       *rest.Config
	clients   *kubernetes.Clientset
	warnings  *warningLog
	metrics   string // URL of the webhook's /metrics
	readyz    string // URL of the webhook's /readyz
	webhook   *exec.Cmd
	webhookLg *bytes.Buffer
}

var (
	shared     *env
	sharedErr  error
	sharedOnce sync.Once
)

// TestMain owns the control plane, so that it is stopped even when a test fails.
func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.stop()
	}
	os.Exit(code)
}

// getEnv starts the control plane and the webhook once per test binary.
func getEnv(tb testing.TB) *env {
	tb.Helper()
	sharedOnce.Do(func() { shared, sharedErr = start() })
	if sharedErr != nil {
		tb.Fatalf("start envtest and webhook: %v", sharedErr)
	}
	return shared
}

func start() (*env, error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, fmt.Errorf("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, which builds kube-apiserver and etcd into bin/")
	}
	e := &env{warnings: &warningLog{}}
	e.testEnv = &envtest.Environment{
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			Paths: []string{filepath.Join(repoRoot, "config", "webhook", "manifests.yaml")},
		},
		ControlPlaneStopTimeout: 30 * time.Second,
	}
	// envtest disables the ServiceAccount admission plugin; turn it back on so that the test
	// proves the sidecar receives no API token while the app containers do.
	e.testEnv.ControlPlane.GetAPIServer().Configure().Disable("disable-admission-plugins")
	cfg, err := e.testEnv.Start()
	if err != nil {
		return nil, fmt.Errorf("start control plane: %w", err)
	}
	cfg.QPS, cfg.Burst = 2000, 2000
	cfg.WarningHandler = e.warnings
	e.cfg = cfg
	if e.clients, err = kubernetes.NewForConfig(cfg); err != nil {
		e.stop()
		return nil, err
	}
	if err := e.startWebhook(); err != nil {
		e.stop()
		return nil, err
	}
	return e, nil
}

func (e *env) startWebhook() error {
	dir, err := os.MkdirTemp("", "wire-audit-it-")
	if err != nil {
		return err
	}
	bin := filepath.Join(dir, "webhook")
	build := exec.Command("go", "build", "-o", bin, "./cmd/webhook")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build webhook: %v\n%s", err, out)
	}
	user, err := e.testEnv.AddUser(envtest.User{Name: "wire-audit-webhook", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("add user: %w", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return err
	}
	kcPath := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kcPath, kubeconfig, 0o600); err != nil {
		return err
	}
	metricsAddr, probeAddr := freeAddr(), freeAddr()
	wio := e.testEnv.WebhookInstallOptions
	e.webhook = exec.Command(bin,
		"--kubeconfig="+kcPath,
		"--webhook-cert-path="+wio.LocalServingCertDir,
		"--webhook-port="+strconv.Itoa(wio.LocalServingPort),
		"--metrics-bind-address="+metricsAddr,
		"--metrics-secure=false",
		"--health-probe-bind-address="+probeAddr,
		"--config="+filepath.Join(repoRoot, "config", "manager", "config.yaml"),
		"--namespace=wire-audit-system",
		"--zap-log-level=info",
	)
	e.webhookLg = &bytes.Buffer{}
	e.webhook.Stdout, e.webhook.Stderr = e.webhookLg, e.webhookLg
	if err := e.webhook.Start(); err != nil {
		return fmt.Errorf("start webhook: %w", err)
	}
	e.metrics = "http://" + metricsAddr + "/metrics"
	e.readyz = "http://" + probeAddr + "/readyz"
	deadline := time.Now().Add(60 * time.Second)
	for {
		if code, _ := httpGet(e.readyz); code == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhook not ready after 60s; its log:\n%s", e.webhookLg.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (e *env) stop() {
	if e.webhook != nil && e.webhook.Process != nil {
		_ = e.webhook.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = e.webhook.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = e.webhook.Process.Kill()
		}
	}
	if e.testEnv != nil {
		_ = e.testEnv.Stop()
	}
}

// admissions sums the webhook's admission counter, optionally for one outcome.
func (e *env) admissions(tb testing.TB, outcome string) float64 {
	tb.Helper()
	code, body := httpGet(e.metrics)
	if code != http.StatusOK {
		tb.Fatalf("GET %s: %d", e.metrics, code)
	}
	return sumMetric(body, "wire_audit_webhook_admissions_total", outcome)
}

// sumMetric adds up every sample of a counter in Prometheus text format whose labels contain
// outcome="<outcome>" (all samples when outcome is empty).
func sumMetric(body, name, outcome string) float64 {
	var total float64
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		if outcome != "" && !strings.Contains(line, `outcome="`+outcome+`"`) {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err == nil {
			total += v
		}
	}
	return total
}

// namespace creates a fresh namespace with its default ServiceAccount, which the enabled
// ServiceAccount admission plugin requires (no controller-manager runs to create it).
func (e *env) namespace(tb testing.TB, name string, labels map[string]string) string {
	tb.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := e.clients.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		tb.Fatalf("create namespace %s: %v", name, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: name}}
	if _, err := e.clients.CoreV1().ServiceAccounts(name).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		tb.Fatalf("create service account: %v", err)
	}
	return name
}

// warningLog collects admission warnings the API server returns to the client.
type warningLog struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warningLog) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warningLog) since(n int) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.msgs[n:]...)
}

func (w *warningLog) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.msgs)
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func httpGet(url string) (int, string) {
	c := http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}}}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
