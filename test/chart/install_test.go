package chart

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/audit-io/wire-audit/capture/config"
	"github.com/audit-io/wire-audit/test/freeport"
	"github.com/audit-io/wire-audit/webhook"
)

// sidecarImage is the chart value TestInstall expects in the injected pod.
const sidecarImage = "registry.example/audit/capture:chart-test"

// install creates the release namespace and every rendered object, as they are, so that the API
// server validates each one (schema, defaulting, admission).
func install(ctx context.Context, t *testing.T, c client.Client, ns string, r *rendered) {
	t.Helper()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for _, o := range r.objs {
		u := o.U.DeepCopy()
		if err := c.Create(ctx, u); err != nil {
			t.Errorf("the API server refuses %s %s/%s: %v", o.GVK.Kind, o.NS, o.Name, err)
		}
	}
}

// TestInstall applies every certificate mode to a real API server, then runs the webhook binary
// of this repository as the builtin install would run it: as the chart's ServiceAccount (so
// only the chart's RBAC applies), with the rendered Deployment's arguments and the rendered
// ConfigMap as --config, serving at a local URL that replaces the Service in the rendered
// webhook configuration. An annotated pod must then get the chart's sidecar and Kafka settings.
func TestInstall(t *testing.T) {
	helmBin(t)
	ctx := context.Background()
	env, c, cs := startAPIServer(t)

	// Built in the background while the API server starts.
	var built sync.WaitGroup
	built.Go(func() { _ = webhookBinary(t) })

	builtin := mustRender(t, "wire-audit", "wire-audit-system",
		"--set", "sidecar.image="+sidecarImage, "--set", "kafka.brokers={kafka-0.kafka.svc:9093,kafka-1.kafka.svc:9093}",
		"--set", "kafka.topic=chart-audit", "--set", "kafka.tls.secretName=kafka-ca", "--set", "kafka.sasl.mechanism=SCRAM-SHA-256",
		"--set", "kafka.sasl.secretName=kafka-user", "--set", "capture.protocols.redis=null",
		// Off by default; on here, so the chart's TokenReview grants and metrics-reader role are run.
		"--set", "metrics.secure=true")
	// certificates.mode=secret with a CA and serving certificate made here, as a user would.
	own := issueOwnCertificate(t, "wa-secret", "own-tls")
	t.Run("apply", func(t *testing.T) {
		install(ctx, t, c, "wire-audit-system", builtin)
		install(ctx, t, c, "wa-cm", mustRender(t, "wa-cm", "wa-cm", "--set", "certificates.mode=cert-manager",
			"--set", "networkPolicy.enabled=true", "--set", "serviceMonitor.enabled=true",
			"--set", "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.team=monitoring"))
		install(ctx, t, c, "wa-secret", own.rendered)
		own.createSecret(ctx, t, c)
	})
	if t.Failed() {
		return
	}

	// The API server calls the webhooks at local URLs instead of their Services, which have no
	// endpoints here; everything else in the configurations stays as rendered. No process
	// serves the cert-manager release.
	builtinPort, secretPort := freeport.Test(t), freeport.Test(t)
	pointAt(ctx, t, c, namesOf("wire-audit", "").config, builtinPort)
	pointAt(ctx, t, c, namesOf("wa-secret-wire-audit", "").config, secretPort)
	if err := c.Delete(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: namesOf("wa-cm-wire-audit", "").config}}); err != nil {
		t.Fatal(err)
	}
	built.Wait()
	t.Run("webhook", func(t *testing.T) { runWebhook(ctx, t, env, c, cs, builtin, builtinPort) })
	t.Run("webhook secret mode", func(t *testing.T) { runFilesMode(ctx, t, env, c, cs, own, secretPort) })

	t.Run("helm install and uninstall", func(t *testing.T) { helmInstallUninstall(ctx, t, env, c) })
}

// runWebhook runs the webhook binary as the builtin install would run it, and admits pods.
func runWebhook(ctx context.Context, t *testing.T, env *envtest.Environment, c client.Client, cs *kubernetes.Clientset, builtin *rendered, port int) {
	n := namesOf("wire-audit", "wire-audit-system")
	kubeconfig, raw := serviceAccountKubeconfig(t, env, n)
	// The control: RBAC is enforced for this user, so passing proves the chart's RBAC.
	restricted, err := clientcmd.RESTConfigFromKubeConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	saClients, err := kubernetes.NewForConfig(restricted)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := saClients.CoreV1().Secrets(n.ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("%s listing every Secret: err = %v, want Forbidden; the test would prove nothing", n.sa, err)
	}
	w := startWebhook(t, builtin, kubeconfig, port, "--cert-extra-sans=127.0.0.1")
	log, metrics := w.log, w.metrics

	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "audited"}}); err != nil {
		t.Fatal(err)
	}
	pod := annotatedPod("audited")
	got, err := cs.CoreV1().Pods("audited").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create an annotated pod: %v\nwebhook log:\n%s", err, log)
	}
	checkInjected(t, got, sidecarImage)

	// The release namespace is excluded by the rendered namespaceSelector.
	own, err := cs.CoreV1().Pods(n.ns).Create(ctx, annotatedPod(n.ns), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sidecar(own) != nil {
		t.Errorf("a pod in the release namespace %s was injected", n.ns)
	}
	// Secure metrics: the webhook checks a scraper's token with the TokenReviews and
	// SubjectAccessReviews the chart grants it; the chart's metrics-reader role lets it in.
	metricsURL := "https://127.0.0.1:" + strconv.Itoa(metrics) + "/metrics"
	// Two service accounts, because the webhook caches a denial for 30 s.
	if code, _ := scrape(t, metricsURL, serviceAccountToken(ctx, t, cs, n.ns, "stranger")); code != http.StatusForbidden {
		t.Errorf("an unbound service account scraped /metrics: status %d, want 403", code)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "scraper-metrics"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: n.fullname + "-metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "scraper", Namespace: n.ns}},
	}
	if err := c.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	scraper := serviceAccountToken(ctx, t, cs, n.ns, "scraper")
	// Scrape only once the API server's authorizer sees the binding: the webhook would
	// cache an early denial for 30 s.
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: "system:serviceaccount:" + n.ns + ":scraper", NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"},
	}}
	for i := 0; ; i++ {
		res, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status.Allowed {
			break
		}
		if i == 50 {
			t.Fatal("the binding to the metrics-reader role does not authorize the scraper")
		}
		time.Sleep(100 * time.Millisecond)
	}
	code, body := scrape(t, metricsURL, scraper)
	if code != http.StatusOK || !strings.Contains(body, "wire_audit_webhook_admissions_total") {
		t.Errorf("scraping with the metrics-reader role: status %d, body %.300s", code, body)
	}

	if strings.Contains(strings.ToLower(log.String()), "forbidden") {
		t.Errorf("the webhook hit a forbidden request with the chart's RBAC:\n%s", log)
	}
}

func annotatedPod(ns string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "app-", Namespace: ns, Annotations: map[string]string{webhook.AnnotationCapture: "true"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
	}
}

func sidecar(p *corev1.Pod) *corev1.Container {
	for _, list := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range list {
			if list[i].Name == webhook.SidecarName {
				return &list[i]
			}
		}
	}
	return nil
}

// checkInjected: the sidecar is the chart's image, and the config it is given carries the
// chart's Kafka values, with the credentials referenced from the named Secrets.
func checkInjected(t *testing.T, p *corev1.Pod, image string) {
	t.Helper()
	s := sidecar(p)
	if s == nil {
		t.Fatalf("no %s container in the admitted pod: init %v, containers %v", webhook.SidecarName, p.Spec.InitContainers, p.Spec.Containers)
	}
	if s.Image != image {
		t.Errorf("sidecar image %q, want the chart's %q", s.Image, image)
	}
	raw := p.Annotations[webhook.AnnotationRenderedConfig]
	cfg, err := config.Parse(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("the rendered config does not parse: %v\n%s", err, raw)
	}
	k := cfg.Kafka
	if strings.Join(k.Brokers, ",") != "kafka-0.kafka.svc:9093,kafka-1.kafka.svc:9093" || k.Topic != "chart-audit" || k.TLS == nil || k.SASL == nil || k.SASL.Mechanism != "SCRAM-SHA-256" {
		t.Errorf("rendered kafka config %+v (TLS %+v, SASL %+v) does not carry the chart's values", k, k.TLS, k.SASL)
	}
	var protocols []string
	for _, pr := range cfg.Protocols {
		protocols = append(protocols, pr.Name)
	}
	slices.Sort(protocols)
	if !slices.Equal(protocols, []string{"dns", "http", "mongodb", "mysql", "pgsql", "tls"}) {
		t.Errorf("protocols %v: the chart removed redis", protocols)
	}
	secrets := map[string]bool{}
	for _, e := range s.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			secrets[e.ValueFrom.SecretKeyRef.Name] = true
		}
	}
	for _, v := range p.Spec.Volumes {
		if v.Secret != nil {
			secrets[v.Secret.SecretName] = true
		}
	}
	if !secrets["kafka-user"] || !secrets["kafka-ca"] {
		t.Errorf("the sidecar does not reference the chart's Kafka Secrets kafka-user and kafka-ca: %v", secrets)
	}
}
