package chart

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func checkCertVolume(t *testing.T, pod corev1.PodSpec, c *corev1.Container, certPath, secret string) {
	t.Helper()
	var volume string
	for _, v := range pod.Volumes {
		if v.Secret != nil && v.Secret.SecretName == secret {
			volume = v.Name
		}
	}
	if volume == "" {
		t.Fatalf("no volume of Secret %s in %+v", secret, pod.Volumes)
	}
	for _, m := range c.VolumeMounts {
		if m.Name == volume {
			if m.MountPath != certPath || !m.ReadOnly {
				t.Errorf("Secret %s mounted at %s (read-only %v), --webhook-cert-path=%s", secret, m.MountPath, m.ReadOnly, certPath)
			}
			return
		}
	}
	t.Errorf("the Secret volume %s is not mounted", volume)
}

func checkCertManager(t *testing.T, r *rendered, n names, mwc *admissionregistrationv1.MutatingWebhookConfiguration) {
	t.Helper()
	str := func(o *unstructured.Unstructured, path ...string) string {
		s, _, _ := unstructured.NestedString(o.Object, path...)
		return s
	}
	issuers := map[string]*unstructured.Unstructured{}
	for _, o := range r.all("Issuer") {
		issuers[o.Name] = o.U
	}
	serving := r.get(t, "Certificate", n.fullname+"-serving-cert").U
	ca := r.get(t, "Certificate", n.fullname+"-webhook-ca").U
	if got := mwc.Annotations["cert-manager.io/inject-ca-from"]; got != n.ns+"/"+serving.GetName() {
		t.Errorf("inject-ca-from %q, want %s/%s", got, n.ns, serving.GetName())
	}
	if str(serving, "spec", "secretName") != n.secret || str(serving, "spec", "duration") != "12h" || str(serving, "spec", "renewBefore") != "4h" {
		t.Errorf("serving Certificate spec %v: want secretName %s, duration 12h, renewBefore 4h", serving.Object["spec"], n.secret)
	}
	dns, _, _ := unstructured.NestedStringSlice(serving.Object, "spec", "dnsNames")
	if want := []string{n.service + "." + n.ns + ".svc", n.service + "." + n.ns + ".svc.cluster.local"}; !slices.Equal(dns, want) {
		t.Errorf("dnsNames %v, want %v", dns, want)
	}
	// The chain: self-signed Issuer -> CA Certificate -> CA Issuer -> serving Certificate.
	caIssuer := issuers[str(serving, "spec", "issuerRef", "name")]
	if caIssuer == nil || str(caIssuer, "spec", "ca", "secretName") != str(ca, "spec", "secretName") {
		t.Errorf("the serving Certificate's Issuer %v does not sign with the CA Certificate's Secret %q", caIssuer, str(ca, "spec", "secretName"))
	}
	if isCA, _, _ := unstructured.NestedBool(ca.Object, "spec", "isCA"); !isCA {
		t.Error("the CA Certificate is not isCA")
	}
	root := issuers[str(ca, "spec", "issuerRef", "name")]
	if root == nil {
		t.Fatalf("the CA Certificate's Issuer %q is not rendered", str(ca, "spec", "issuerRef", "name"))
	}
	if _, ok, _ := unstructured.NestedMap(root.Object, "spec", "selfSigned"); !ok {
		t.Errorf("the CA's Issuer is not selfSigned: %v", root.Object["spec"])
	}
}

// checkDeployment: HA, restricted security context, probes on the health port.
func checkDeployment(t *testing.T, r *rendered, pod corev1.PodSpec, c *corev1.Container, args map[string]string) {
	t.Helper()
	d, _ := r.deployment(t)
	if *d.Spec.Replicas < 2 {
		t.Errorf("replicas %d", *d.Spec.Replicas)
	}
	pdb := r.get(t, "PodDisruptionBudget", "").Typed.(*policyv1.PodDisruptionBudget)
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget minAvailable %v, want 1", pdb.Spec.MinAvailable)
	}
	podLabels := labels.Set(d.Spec.Template.Labels)
	if !labels.SelectorFromSet(pdb.Spec.Selector.MatchLabels).Matches(podLabels) {
		t.Errorf("the PodDisruptionBudget selector %v misses the pods %v", pdb.Spec.Selector.MatchLabels, podLabels)
	}
	for _, o := range r.all("Service") {
		if s := o.Typed.(*corev1.Service); !labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) {
			t.Errorf("Service %s selects %v, not the webhook pods", s.Name, s.Spec.Selector)
		}
	}
	aff := pod.Affinity
	if aff == nil || aff.PodAntiAffinity == nil || len(aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 ||
		aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.TopologyKey != corev1.LabelHostname {
		t.Errorf("no preferred pod anti-affinity on %s: %+v", corev1.LabelHostname, aff)
	}
	sc := c.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
		len(sc.Capabilities.Add) != 0 || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault || sc.Privileged != nil {
		t.Errorf("container securityContext is not restricted: %+v", sc)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want a CPU request and a memory limit", c.Resources)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for flag, port := range map[string]string{"health-probe-bind-address": "health", "metrics-bind-address": "metrics"} {
		if want := ":" + strconv.Itoa(int(ports[port])); args[flag] != want {
			t.Errorf("--%s=%s, but container port %s is %d", flag, args[flag], port, ports[port])
		}
	}
	if args["webhook-port"] != strconv.Itoa(int(ports["webhook-server"])) {
		t.Errorf("--webhook-port=%s, but container port webhook-server is %d", args["webhook-port"], ports["webhook-server"])
	}
	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Port != intstr.FromString("health") {
			t.Errorf("%s probe %+v is not an HTTP probe on the health port", name, p)
		}
	}
	if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe != nil && c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Error("readiness must probe /readyz and liveness /healthz")
	}
}

func checkWebhook(t *testing.T, wh *admissionregistrationv1.MutatingWebhook, ns string, policy admissionregistrationv1.FailurePolicyType) {
	t.Helper()
	if wh.FailurePolicy == nil || *wh.FailurePolicy != policy {
		t.Errorf("failurePolicy %v, want %s", wh.FailurePolicy, policy)
	}
	if wh.ReinvocationPolicy == nil || *wh.ReinvocationPolicy != admissionregistrationv1.IfNeededReinvocationPolicy ||
		wh.TimeoutSeconds == nil || *wh.TimeoutSeconds != 5 || wh.SideEffects == nil || *wh.SideEffects != admissionregistrationv1.SideEffectClassNone {
		t.Errorf("reinvocationPolicy %v, timeoutSeconds %v, sideEffects %v", wh.ReinvocationPolicy, wh.TimeoutSeconds, wh.SideEffects)
	}
	if len(wh.MatchConditions) != 1 || !strings.Contains(wh.MatchConditions[0].Expression, "'audit.io/capture'") {
		t.Errorf("matchConditions %+v", wh.MatchConditions)
	}
	excluded := excludedNamespaces(t, wh)
	for _, want := range []string{"kube-system", ns} {
		if !slices.Contains(excluded, want) {
			t.Errorf("namespaceSelector does not exclude %s: %v", want, excluded)
		}
	}
}

func excludedNamespaces(t *testing.T, wh *admissionregistrationv1.MutatingWebhook) []string {
	t.Helper()
	sel := wh.NamespaceSelector
	if sel == nil || len(sel.MatchExpressions) != 1 || sel.MatchExpressions[0].Key != corev1.LabelMetadataName || sel.MatchExpressions[0].Operator != "NotIn" {
		t.Fatalf("namespaceSelector %+v, want one NotIn on %s", sel, corev1.LabelMetadataName)
	}
	return sel.MatchExpressions[0].Values
}

// checkNetworkPolicy: the webhook port open to all, metrics only from the configured peers, and
// the ServiceMonitor selecting the metrics Service alone.
func checkNetworkPolicy(t *testing.T, r *rendered, scheme string) {
	t.Helper()
	np := r.get(t, "NetworkPolicy", "").Typed.(*networkingv1.NetworkPolicy)
	d, _ := r.deployment(t)
	if !labels.SelectorFromSet(np.Spec.PodSelector.MatchLabels).Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("the NetworkPolicy selects %v, not the webhook pods", np.Spec.PodSelector.MatchLabels)
	}
	var webhookOpen, metricsRestricted, metricsRules int
	for _, in := range np.Spec.Ingress {
		for _, p := range in.Ports {
			switch p.Port.String() {
			case "webhook-server":
				if len(in.From) == 0 {
					webhookOpen++
				}
			case "metrics":
				metricsRules++
				if len(in.From) > 0 {
					metricsRestricted++
				}
			}
		}
	}
	if webhookOpen != 1 {
		t.Errorf("the webhook port is not open to every source: %+v", np.Spec.Ingress)
	}
	if metricsRules != metricsRestricted {
		t.Errorf("the metrics port is open to every source: %+v", np.Spec.Ingress)
	}
	sm := r.get(t, "ServiceMonitor", "").U
	sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	var selected []string
	for _, o := range r.all("Service") {
		if labels.SelectorFromSet(sel).Matches(labels.Set(o.U.GetLabels())) {
			selected = append(selected, o.Name)
		}
	}
	metrics := r.get(t, "Service", "m-wire-audit-webhook-metrics-service").Typed.(*corev1.Service)
	if !slices.Equal(selected, []string{metrics.Name}) {
		t.Errorf("the ServiceMonitor selects %v, want only %s", selected, metrics.Name)
	}
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("ServiceMonitor endpoints %v", endpoints)
	}
	ep := endpoints[0].(map[string]any)
	if ep["port"] != metrics.Spec.Ports[0].Name || ep["scheme"] != scheme {
		t.Errorf("ServiceMonitor endpoint %v, want port %s scheme %s", ep, metrics.Spec.Ports[0].Name, scheme)
	}
}
