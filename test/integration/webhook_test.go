package integration

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/audit-io/wire-audit/capture/config"
	"github.com/audit-io/wire-audit/test/cluster"
	"github.com/audit-io/wire-audit/webhook"
)

const tokenPath = "/var/run/secrets/kubernetes.io/serviceaccount"

func appPod(generateName string, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: generateName, Annotations: annotations, Labels: map[string]string{"app": "shop"}},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptrTo(true), RunAsUser: ptrTo[int64](10001)},
			Containers:      []corev1.Container{{Name: "app", Image: "registry.example/shop/api:1.4.2"}},
		},
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestInjectsThroughAPIServer(t *testing.T) {
	e := getEnv(t)
	ctx := context.Background()
	ns := namespace(t, e, "shop", nil)

	before := admissions(t, e, "injected")
	pod, err := e.Clients.CoreV1().Pods(ns).Create(ctx, appPod("api-", map[string]string{
		webhook.AnnotationCapture:   "true",
		webhook.AnnotationProtocols: "mysql,http",
		webhook.AnnotationPorts:     "mysql:13306",
	}), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create annotated pod: %v", err)
	}
	// Read back what etcd stored, not what the create call returned.
	stored, err := e.Clients.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := admissions(t, e, "injected") - before; got != 1 {
		t.Errorf("injected admissions grew by %v, want 1", got)
	}
	if len(stored.Spec.InitContainers) != 1 {
		t.Fatalf("stored pod has %d init containers, want the native sidecar", len(stored.Spec.InitContainers))
	}
	sc := stored.Spec.InitContainers[0]
	if sc.Name != webhook.SidecarName || sc.RestartPolicy == nil || *sc.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("sidecar %q restartPolicy %v, want %q with Always", sc.Name, sc.RestartPolicy, webhook.SidecarName)
	}
	if sc.StartupProbe == nil || sc.StartupProbe.HTTPGet == nil || sc.StartupProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("sidecar startupProbe = %+v, want httpGet /readyz", sc.StartupProbe)
	}
	s := sc.SecurityContext
	if s == nil || s.Privileged == nil || *s.Privileged || s.AllowPrivilegeEscalation == nil || *s.AllowPrivilegeEscalation ||
		s.ReadOnlyRootFilesystem == nil || !*s.ReadOnlyRootFilesystem || s.SeccompProfile == nil ||
		s.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault || s.Capabilities == nil ||
		!slices.Equal(s.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
		!slices.Equal(s.Capabilities.Add, []corev1.Capability{"NET_ADMIN", "NET_RAW"}) {
		t.Errorf("sidecar securityContext = %+v", s)
	}
	// The real ServiceAccount admission plugin mounted a token into the app, not the sidecar.
	if !hasMount(stored.Spec.Containers[0], tokenPath, "kube-api-access-") {
		t.Errorf("app container has no service-account token; the ServiceAccount plugin did not run, so the check below proves nothing")
	}
	if hasMount(sc, tokenPath, "kube-api-access-") {
		t.Errorf("sidecar has the service-account token mounted: %+v", sc.VolumeMounts)
	}
	var status webhook.Status
	if err := json.Unmarshal([]byte(stored.Annotations[webhook.AnnotationStatus]), &status); err != nil {
		t.Fatalf("status annotation: %v", err)
	}
	if status.Container != sc.Name || status.Mode != webhook.ModeNative {
		t.Errorf("status = %+v", status)
	}
	cfg, err := config.Parse(strings.NewReader(stored.Annotations[webhook.AnnotationRenderedConfig]))
	if err != nil {
		t.Fatalf("rendered config does not parse as the sidecar would: %v", err)
	}
	want := []config.Protocol{{Name: "mysql", Ports: []uint16{13306}}, {Name: "http", Ports: []uint16{80, 8080}}}
	if !slices.EqualFunc(cfg.Protocols, want, func(a, b config.Protocol) bool { return a.Name == b.Name && slices.Equal(a.Ports, b.Ports) }) {
		t.Errorf("rendered protocols = %+v, want %+v", cfg.Protocols, want)
	}
	if cfg.Kubernetes.Namespace != ns {
		t.Errorf("rendered namespace = %q, want %q", cfg.Kubernetes.Namespace, ns)
	}
}

func hasMount(c corev1.Container, path, volumePrefix string) bool {
	for _, m := range c.VolumeMounts {
		if m.MountPath == path && strings.HasPrefix(m.Name, volumePrefix) {
			return true
		}
	}
	return false
}

func TestInvalidAnnotationDenied(t *testing.T) {
	e := getEnv(t)
	ns := namespace(t, e, "denied", nil)
	before := admissions(t, e, "denied")
	_, err := e.Clients.CoreV1().Pods(ns).Create(context.Background(), appPod("bad-", map[string]string{
		webhook.AnnotationCapture:   "true",
		webhook.AnnotationPorts:     "mysql:abc",
		webhook.AnnotationFlows:     "sometimes",
		"audit.io/capture-protcols": "mysql",
	}), metav1.CreateOptions{})
	if err == nil {
		t.Fatal("pod with invalid annotations was created")
	}
	for _, want := range []string{`"audit.io/capture-ports"`, `"mysql:abc"`, `"audit.io/capture-flows"`, `"sometimes"`, `"audit.io/capture-protcols"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
	if got := admissions(t, e, "denied") - before; got != 1 {
		t.Errorf("denied admissions grew by %v, want 1", got)
	}
	_, err = e.Clients.CoreV1().Pods(ns).Create(context.Background(), appPod("yes-", map[string]string{webhook.AnnotationCapture: "yes"}), metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), `"audit.io/capture"`) || !strings.Contains(err.Error(), `"true" and "false"`) {
		t.Errorf("capture=yes: error %v, want one naming the key and the accepted values", err)
	}
}

// TestUnannotatedPodsNeverReachWebhook proves the matchConditions: the API server does not call
// the webhook for pods without the annotation or with capture "false".
func TestUnannotatedPodsNeverReachWebhook(t *testing.T) {
	e := getEnv(t)
	ns := namespace(t, e, "plain", nil)
	ctx := context.Background()
	before := admissions(t, e, "")
	for _, ann := range []map[string]string{nil, {"other.io/x": "y"}, {webhook.AnnotationCapture: "false"}} {
		pod, err := e.Clients.CoreV1().Pods(ns).Create(ctx, appPod("plain-", ann), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create %v: %v", ann, err)
		}
		if len(pod.Spec.InitContainers) != 0 || len(pod.Spec.Containers) != 1 {
			t.Errorf("pod %v was mutated: %+v", ann, pod.Spec)
		}
	}
	if got := admissions(t, e, "") - before; got != 0 {
		t.Errorf("webhook saw %v requests for unannotated pods, want 0", got)
	}
	// The positive control: the same counter moves for an annotated pod.
	if _, err := e.Clients.CoreV1().Pods(ns).Create(ctx, appPod("audited-", map[string]string{webhook.AnnotationCapture: "true"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := admissions(t, e, "") - before; got != 1 {
		t.Errorf("webhook saw %v requests after one annotated pod, want 1", got)
	}
}

func TestSkippedPodsGetWarning(t *testing.T) {
	e := getEnv(t)
	ns := namespace(t, e, "nodeagents", nil)
	pod := appPod("agent-", map[string]string{webhook.AnnotationCapture: "true"})
	pod.Spec.HostNetwork = true
	n := e.Warnings.Len()
	before := admissions(t, e, "skipped")
	created, err := e.Clients.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create hostNetwork pod: %v", err)
	}
	if len(created.Spec.InitContainers) != 0 || len(created.Spec.Containers) != 1 {
		t.Errorf("hostNetwork pod was injected")
	}
	warnings := e.Warnings.Since(n)
	if len(warnings) != 1 || !strings.Contains(warnings[0], "hostNetwork") {
		t.Errorf("warnings = %q, want one about hostNetwork", warnings)
	}
	if got := admissions(t, e, "skipped") - before; got != 1 {
		t.Errorf("skipped admissions grew by %v, want 1", got)
	}
}

// TestBaselineNamespaceRejectsSidecar documents a prerequisite: NET_ADMIN and NET_RAW are
// outside the Pod Security "baseline" level, so audited namespaces need "privileged".
func TestBaselineNamespaceRejectsSidecar(t *testing.T) {
	e := getEnv(t)
	ns := namespace(t, e, "baseline", map[string]string{"pod-security.kubernetes.io/enforce": "baseline"})
	_, err := e.Clients.CoreV1().Pods(ns).Create(context.Background(), appPod("api-", map[string]string{webhook.AnnotationCapture: "true"}), metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "NET_RAW") {
		t.Fatalf("create in a baseline namespace: err = %v, want a Pod Security rejection naming NET_RAW", err)
	}
}

func TestReadyz(t *testing.T) {
	e := getEnv(t)
	code, body, err := cluster.Get(e.ReadyzURL + "?verbose=1")
	if err != nil || code != 200 || !strings.Contains(body, "webhook ok") {
		t.Errorf("readyz = %d %q %v", code, body, err)
	}
}

// TestWebhookConfiguration checks the configuration the API server stored from
// config/webhook/manifests.yaml against what the product promises.
func TestWebhookConfiguration(t *testing.T) {
	e := getEnv(t)
	list, err := e.Clients.AdmissionregistrationV1().MutatingWebhookConfigurations().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || len(list.Items[0].Webhooks) != 1 {
		t.Fatalf("want one configuration with one webhook, got %+v", list.Items)
	}
	w := list.Items[0].Webhooks[0]
	if w.SideEffects == nil || *w.SideEffects != admissionregistrationv1.SideEffectClassNone {
		t.Errorf("sideEffects = %v, want None", w.SideEffects)
	}
	if w.TimeoutSeconds == nil || *w.TimeoutSeconds > 5 {
		t.Errorf("timeoutSeconds = %v, want at most 5", w.TimeoutSeconds)
	}
	if w.ReinvocationPolicy == nil || *w.ReinvocationPolicy != admissionregistrationv1.IfNeededReinvocationPolicy {
		t.Errorf("reinvocationPolicy = %v, want IfNeeded", w.ReinvocationPolicy)
	}
	if w.FailurePolicy == nil || *w.FailurePolicy != admissionregistrationv1.Fail {
		t.Errorf("failurePolicy = %v, want Fail", w.FailurePolicy)
	}
	if len(w.Rules) != 1 || !slices.Equal(w.Rules[0].Operations, []admissionregistrationv1.OperationType{admissionregistrationv1.Create}) ||
		!slices.Equal(w.Rules[0].Resources, []string{"pods"}) {
		t.Errorf("rules = %+v, want CREATE pods", w.Rules)
	}
	var excluded []string
	for _, req := range w.NamespaceSelector.MatchExpressions {
		if req.Key == "kubernetes.io/metadata.name" && req.Operator == metav1.LabelSelectorOpNotIn {
			excluded = append(excluded, req.Values...)
		}
	}
	for _, ns := range []string{"kube-system", "wire-audit-system"} {
		if !slices.Contains(excluded, ns) {
			t.Errorf("namespaceSelector does not exclude %s: %+v", ns, w.NamespaceSelector)
		}
	}
	if len(w.MatchConditions) == 0 || !strings.Contains(w.MatchConditions[0].Expression, webhook.AnnotationCapture) {
		t.Errorf("matchConditions = %+v, want a CEL test of %s", w.MatchConditions, webhook.AnnotationCapture)
	}
}

// TestReinvocationNeverInjectsTwice puts a mutating peer after ours. Its change makes the API
// server call our webhook again (reinvocationPolicy IfNeeded), which must leave the pod alone.
func TestReinvocationNeverInjectsTwice(t *testing.T) {
	e := getEnv(t)
	ns := namespace(t, e, "reinvoked", nil)
	peerCalls := startPeerWebhook(t, e, ns, "zz-peer-", webhook.AnnotationCapture, true)
	injected, already := admissions(t, e, "injected"), counted(t, e, "reason", webhook.ReasonAlreadyInjected)
	before := peerCalls.Load()
	pod, err := e.Clients.CoreV1().Pods(ns).Create(context.Background(), appPod("api-", map[string]string{webhook.AnnotationCapture: "true"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Annotations[peerTouched] != "true" || peerCalls.Load() == before {
		t.Fatalf("the peer did not mutate the pod; the test would prove nothing")
	}
	if got := admissions(t, e, "injected") - injected; got != 1 {
		t.Errorf("injected %v times, want 1", got)
	}
	if got := counted(t, e, "reason", webhook.ReasonAlreadyInjected) - already; got != 1 {
		t.Errorf("already-injected skips grew by %v, want 1 (the reinvocation)", got)
	}
	n := 0
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		if strings.HasPrefix(c.Name, webhook.SidecarName) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("pod has %d capture containers, want 1", n)
	}
}
