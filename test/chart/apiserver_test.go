package chart

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/audit-io/wire-audit/internal/testenv"
	"github.com/audit-io/wire-audit/test/cluster"
	"github.com/audit-io/wire-audit/test/freeport"
	"github.com/audit-io/wire-audit/webhook"
)

// startAPIServer starts kube-apiserver and etcd (envtest) with minimal CRDs for the kinds of
// cert-manager and the Prometheus Operator that the chart renders (testdata/crds).
func startAPIServer(t *testing.T) (*envtest.Environment, client.Client, *kubernetes.Clientset) {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); assets == "" || err != nil {
		testenv.Missing(t, "no kube-apiserver in KUBEBUILDER_ASSETS=%q (make envtest builds it into bin/)", assets)
	}
	env := &envtest.Environment{
		CRDInstallOptions:       envtest.CRDInstallOptions{Paths: []string{"testdata/crds"}, ErrorIfPathMissing: true},
		ControlPlaneStopTimeout: 30 * time.Second,
	}
	env.ControlPlane.Etcd = &envtest.Etcd{}
	env.ControlPlane.Etcd.Configure().Set("unsafe-no-fsync", "true")
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return env, c, cs
}

// serviceAccountToken creates a ServiceAccount and returns a token for it (TokenRequest).
func serviceAccountToken(ctx context.Context, t *testing.T, cs *kubernetes.Clientset, ns, name string) string {
	t.Helper()
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// scrape GETs the webhook's HTTPS metrics (a certificate the webhook made for itself) with a
// bearer token.
func scrape(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the metrics certificate is self-made, as in the ServiceMonitor
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func waitReady(t *testing.T, url string, exited <-chan struct{}, log fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := http.Get(url); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("the webhook exited before it was ready; its log:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the webhook is not ready after 60s; its log:\n%s", log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logFile is where the webhook writes; String reads what it wrote so far.
type logFile string

func (l logFile) String() string {
	b, err := os.ReadFile(string(l))
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// pointAt makes the API server call a webhook configuration's webhook at 127.0.0.1:port.
func pointAt(ctx context.Context, t *testing.T, c client.Client, name string, port int) {
	t.Helper()
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := c.Get(ctx, client.ObjectKey{Name: name}, &mwc); err != nil {
		t.Fatal(err)
	}
	url := "https://127.0.0.1:" + strconv.Itoa(port) + webhook.Path
	mwc.Webhooks[0].ClientConfig.Service, mwc.Webhooks[0].ClientConfig.URL = nil, &url
	if err := c.Update(ctx, &mwc); err != nil {
		t.Fatal(err)
	}
}

// serviceAccountKubeconfig writes a kubeconfig that authenticates as the release's
// ServiceAccount, so that only the RBAC bound to it applies.
func serviceAccountKubeconfig(t *testing.T, env *envtest.Environment, n names) (string, []byte) {
	t.Helper()
	return userKubeconfig(t, env, envtest.User{
		Name:   "system:serviceaccount:" + n.ns + ":" + n.sa,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + n.ns, "system:authenticated"},
	})
}

// userKubeconfig adds a user (a client certificate) to the API server and writes its kubeconfig.
func userKubeconfig(t *testing.T, env *envtest.Environment, u envtest.User) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	raw, err := cluster.WriteUserKubeconfig(env, u, path)
	if err != nil {
		t.Fatal(err)
	}
	return path, raw
}

// runningWebhook is a webhook process started by startWebhook.
type runningWebhook struct {
	metrics int
	log     logFile
}

// startWebhook runs the webhook binary with the rendered Deployment's arguments, the rendered
// ConfigMap as --config, then local replacements (the flag package keeps the last): kubeconfig,
// ports, and extra. It returns once /readyz answers 200 and stops the process at cleanup.
func startWebhook(t *testing.T, r *rendered, kubeconfig string, port int, extra ...string) *runningWebhook {
	t.Helper()
	dir := t.TempDir()
	configPath := filepath.Join(dir, "config.yaml")
	cm := r.get(t, "ConfigMap", "").Typed.(*corev1.ConfigMap)
	if err := os.WriteFile(configPath, []byte(cm.Data["config.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	_, container := r.deployment(t)
	w := &runningWebhook{metrics: freeport.Test(t), log: logFile(filepath.Join(dir, "webhook.log"))}
	probe := freeport.Test(t)
	args := append(append([]string{}, container.Args...),
		"--kubeconfig="+kubeconfig, "--config="+configPath, "--webhook-port="+strconv.Itoa(port),
		"--health-probe-bind-address=127.0.0.1:"+strconv.Itoa(probe), "--metrics-bind-address=127.0.0.1:"+strconv.Itoa(w.metrics))
	out, err := os.Create(string(w.log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = out.Close() })
	cmd := exec.Command(webhookBinary(t), append(args, extra...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	waitReady(t, "http://127.0.0.1:"+strconv.Itoa(probe)+"/readyz", done, w.log)
	return w
}
