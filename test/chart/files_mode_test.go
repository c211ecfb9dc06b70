package chart

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/audit-io/wire-audit/certs"
)

// ownCertificate is a certificates.mode=secret install: the user's CA and serving certificate,
// and the chart rendered with that CA as caBundle.
type ownCertificate struct {
	n        names
	data     map[string][]byte
	rendered *rendered
}

// issueOwnCertificate makes a CA and a serving certificate for the release's Service and
// 127.0.0.1, and renders the chart in secret mode with them (failurePolicy Ignore, plain metrics).
func issueOwnCertificate(t *testing.T, release, secret string) *ownCertificate {
	t.Helper()
	n := namesOf(release+"-wire-audit", release)
	n.secret = secret
	data, err := certs.Issue(certs.Options{Namespace: n.ns, SecretName: secret, WebhookConfigName: n.config, ServiceName: n.service, ExtraHosts: []string{"127.0.0.1"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, data[certs.KeyCACert], 0o600); err != nil {
		t.Fatal(err)
	}
	r := mustRender(t, release, release, "--set", "certificates.mode=secret", "--set", "certificates.secret.name="+secret,
		"--set-file", "certificates.caBundle="+caFile, "--set", "webhook.failurePolicy=Ignore")
	return &ownCertificate{n: n, data: data, rendered: r}
}

// createSecret creates the user's Secret, which the chart only names.
func (o *ownCertificate) createSecret(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: o.n.secret, Namespace: o.n.ns},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: o.data[certs.KeyServingCert], corev1.TLSPrivateKeyKey: o.data[certs.KeyServingKey]},
	}
	if err := c.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
}

// runFilesMode runs the webhook as the secret-mode install runs it: --cert-mode=files on the
// user's Secret (written where the Deployment mounts it, as the kubelet would), as its
// ServiceAccount, which the chart grants nothing in this mode. The API server must trust it
// through the caBundle the chart rendered.
func runFilesMode(ctx context.Context, t *testing.T, env *envtest.Environment, c client.Client, cs *kubernetes.Clientset, own *ownCertificate, port int) {
	// Only this release's webhook may admit the pod.
	if err := c.Delete(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: namesOf("wire-audit", "").config}}); err != nil {
		t.Fatal(err)
	}
	var secret corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: own.n.ns, Name: own.n.secret}, &secret); err != nil {
		t.Fatal(err)
	}
	// The Deployment mounts the Secret at --webhook-cert-path; here a directory stands in for
	// the mount, and the same flag, given last, points at it.
	_, container := own.rendered.deployment(t)
	if flags(t, container.Args)["webhook-cert-path"] == "" {
		t.Fatal("the secret-mode Deployment passes no --webhook-cert-path")
	}
	local := t.TempDir()
	for key, value := range secret.Data {
		if err := os.WriteFile(filepath.Join(local, key), value, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	kubeconfig, _ := serviceAccountKubeconfig(t, env, own.n)
	w := startWebhook(t, own.rendered, kubeconfig, port, "--webhook-cert-path="+local)

	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "audited-own-cert"}}); err != nil {
		t.Fatal(err)
	}
	got, err := cs.CoreV1().Pods("audited-own-cert").Create(ctx, annotatedPod("audited-own-cert"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// failurePolicy is Ignore in this release, so a TLS failure would show as a pod without the sidecar.
	if sidecar(got) == nil {
		t.Errorf("the secret-mode webhook did not inject the pod; its log:\n%s", w.log)
	}
}
