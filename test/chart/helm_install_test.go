package chart

import (
	"context"
	"os"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// helmInstallUninstall runs helm itself against the API server: install (the kubeVersion check
// meets a real server version), the NOTES with the release's names, an upgrade, and an
// uninstall that leaves nothing behind.
func helmInstallUninstall(ctx context.Context, t *testing.T, env *envtest.Environment, c client.Client) {
	path, _ := userKubeconfig(t, env, envtest.User{Name: "helm-admin", Groups: []string{"system:masters"}})
	// Ignore, because no replica of this release runs here to serve the pods of others.
	install := func(chart string) ([]byte, error) {
		return helm(t, "install", "wa-helm", chart, "--kubeconfig", path, "--namespace", "wa-helm", "--create-namespace",
			"--set", "webhook.failurePolicy=Ignore", "--set", "kafka.sasl.mechanism=PLAIN", "--set", "kafka.sasl.secretName=kafka-user")
	}
	// make envtest stamps kube-apiserver's version as release builds do, so helm checks the
	// chart's kubeVersion against a real server version here.
	out, err := install(chartDir)
	if err != nil {
		if strings.Contains(err.Error(), "kubeVersion") {
			t.Fatalf("helm install refused the chart's kubeVersion: is bin/kube-apiserver unstamped (v0.0.0-master)? rm bin/kube-apiserver && make envtest\n%v", err)
		}
		t.Fatal(err)
	}
	notes := string(out)
	for _, want := range []string{
		"rollout status deployment/wa-helm-wire-audit-webhook", "mutatingwebhookconfiguration wa-helm-wire-audit-mutating-webhook-configuration",
		"audit.io/capture: \"true\"", "pod-security.kubernetes.io/enforce=privileged", "kube-system and wa-helm", "the Secret kafka-user must exist",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("helm install's NOTES do not say %q:\n%s", want, notes)
		}
	}
	checkUpgradeKeepsCertificates(ctx, t, c, path, chartDir)
	if _, err := helm(t, "uninstall", "wa-helm", "--kubeconfig", path, "--namespace", "wa-helm", "--wait"); err != nil {
		t.Fatal(err)
	}
	n := namesOf("wa-helm-wire-audit", "wa-helm")
	for _, o := range []client.Object{
		&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: n.config}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: n.secret, Namespace: n.ns}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: n.sa, Namespace: n.ns}},
	} {
		if err := c.Get(ctx, client.ObjectKeyFromObject(o), o); !apierrors.IsNotFound(err) {
			t.Errorf("after helm uninstall, %T %s: err = %v, want NotFound", o, o.GetName(), err)
		}
	}
}

// checkUpgradeKeepsCertificates writes certificates into the release's Secret and caBundle, as
// the built-in rotator does, and checks that helm upgrade leaves both alone: the chart renders
// neither, and helm's three-way merge only changes what the chart renders.
func checkUpgradeKeepsCertificates(ctx context.Context, t *testing.T, c client.Client, kubeconfig, chart string) {
	t.Helper()
	n := namesOf("wa-helm-wire-audit", "wa-helm")
	ca, err := os.ReadFile(testCA)
	if err != nil {
		t.Fatal(err)
	}
	var secret corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: n.ns, Name: n.secret}, &secret); err != nil {
		t.Fatal(err)
	}
	secret.Data = map[string][]byte{"ca.crt": ca, "tls.crt": []byte("serving"), "tls.key": []byte("key")}
	if err := c.Update(ctx, &secret); err != nil {
		t.Fatal(err)
	}
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := c.Get(ctx, client.ObjectKey{Name: n.config}, &mwc); err != nil {
		t.Fatal(err)
	}
	mwc.Webhooks[0].ClientConfig.CABundle = ca
	if err := c.Update(ctx, &mwc); err != nil {
		t.Fatal(err)
	}
	if _, err := helm(t, "upgrade", "wa-helm", chart, "--kubeconfig", kubeconfig, "--namespace", "wa-helm", "--reuse-values",
		"--set", "webhook.timeoutSeconds=7", "--set", "kafka.topic=upgraded"); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(&secret), &secret); err != nil {
		t.Fatal(err)
	}
	if len(secret.Data) != 3 || string(secret.Data["ca.crt"]) != string(ca) {
		t.Errorf("helm upgrade changed the Secret's certificates: keys %d", len(secret.Data))
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(&mwc), &mwc); err != nil {
		t.Fatal(err)
	}
	if wh := mwc.Webhooks[0]; string(wh.ClientConfig.CABundle) != string(ca) || *wh.TimeoutSeconds != 7 {
		t.Errorf("after helm upgrade: caBundle kept %v, timeoutSeconds %d (want 7: the upgrade must apply)", string(wh.ClientConfig.CABundle) == string(ca), *wh.TimeoutSeconds)
	}
}
