package chart

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/audit-io/wire-audit/webhook"
)

// names are what a release's objects are called.
type names struct {
	fullname, ns, secret, config, service, sa string
}

func namesOf(fullname, ns string) names {
	return names{
		fullname: fullname, ns: ns,
		secret:  fullname + "-webhook-server-cert",
		config:  fullname + "-mutating-webhook-configuration",
		service: fullname + "-webhook-service",
		sa:      fullname + "-webhook",
	}
}

// rule is a comparable form of a PolicyRule.
func rule(r rbacv1.PolicyRule) string {
	return strings.Join([]string{
		"groups=" + strings.Join(r.APIGroups, ","), "resources=" + strings.Join(r.Resources, ","),
		"names=" + strings.Join(r.ResourceNames, ","), "urls=" + strings.Join(r.NonResourceURLs, ","),
		"verbs=" + strings.Join(r.Verbs, ","),
	}, " ")
}

// grantedRules returns the rules of every Role and ClusterRole bound to the ServiceAccount,
// prefixed with the scope they apply in. A binding to a role the chart does not render fails.
func grantedRules(t *testing.T, r *rendered, n names) []string {
	t.Helper()
	roles := map[string][]rbacv1.PolicyRule{}
	for _, o := range r.all("Role") {
		roles["Role/"+o.Name] = o.Typed.(*rbacv1.Role).Rules
	}
	for _, o := range r.all("ClusterRole") {
		roles["ClusterRole/"+o.Name] = o.Typed.(*rbacv1.ClusterRole).Rules
	}
	var got []string
	bound := func(scope string, ref rbacv1.RoleRef, subjects []rbacv1.Subject) {
		for _, s := range subjects {
			if s.Kind != rbacv1.ServiceAccountKind || s.Name != n.sa || s.Namespace != n.ns {
				t.Errorf("%s binds %s %s/%s, not the chart's ServiceAccount %s/%s", scope, s.Kind, s.Namespace, s.Name, n.ns, n.sa)
			}
		}
		rules, ok := roles[ref.Kind+"/"+ref.Name]
		if !ok {
			t.Errorf("%s refers to %s %s, which the chart does not render", scope, ref.Kind, ref.Name)
		}
		for _, rl := range rules {
			got = append(got, scope+": "+rule(rl))
		}
	}
	for _, o := range r.all("RoleBinding") {
		b := o.Typed.(*rbacv1.RoleBinding)
		if b.Namespace != n.ns {
			t.Errorf("RoleBinding %s is in %q, not the release namespace", b.Name, b.Namespace)
		}
		bound("namespace", b.RoleRef, b.Subjects)
	}
	for _, o := range r.all("ClusterRoleBinding") {
		b := o.Typed.(*rbacv1.ClusterRoleBinding)
		bound("cluster", b.RoleRef, b.Subjects)
	}
	sort.Strings(got)
	return got
}

var metricsAuthRules = []string{
	"cluster: groups=authentication.k8s.io resources=tokenreviews names= urls= verbs=create",
	"cluster: groups=authorization.k8s.io resources=subjectaccessreviews names= urls= verbs=create",
}

func rotatorRules(n names) []string {
	return []string{
		"cluster: groups=admissionregistration.k8s.io resources=mutatingwebhookconfigurations names=" + n.config + " urls= verbs=get,list,watch,update",
		"namespace: groups= resources=secrets names=" + n.secret + " urls= verbs=get,list,watch,update",
	}
}

func webhookConfig(t *testing.T, r *rendered) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.MutatingWebhook) {
	t.Helper()
	c := r.get(t, "MutatingWebhookConfiguration", "").Typed.(*admissionregistrationv1.MutatingWebhookConfiguration)
	if len(c.Webhooks) != 1 {
		t.Fatalf("%d webhooks, want 1", len(c.Webhooks))
	}
	return c, &c.Webhooks[0]
}

// defaultsOf parses the rendered ConfigMap's config.yaml the way the webhook does (--config).
func defaultsOf(t *testing.T, r *rendered) webhook.Defaults {
	t.Helper()
	cm := r.get(t, "ConfigMap", "").Typed.(*corev1.ConfigMap)
	d, err := webhook.ParseDefaults([]byte(cm.Data["config.yaml"]))
	if err != nil {
		t.Fatalf("the webhook rejects the rendered config.yaml: %v\n%s", err, cm.Data["config.yaml"])
	}
	return d
}

// TestTemplateModes checks what each certificate mode renders, against each other: RBAC is
// exactly the least-privilege set, naming the objects the webhook's arguments name.
func TestTemplateModes(t *testing.T) {
	ca, err := os.ReadFile(testCA)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode, release, ns string
		flags             []string
		fullname          string
	}{
		{mode: "builtin", release: "wire-audit", ns: "wire-audit-system", fullname: "wire-audit"},
		{mode: "cert-manager", release: "audit", ns: "tools", fullname: "audit-wire-audit", flags: []string{
			"--set", "certificates.mode=cert-manager", "--set", "certificates.certManager.duration=12h", "--set", "certificates.certManager.renewBefore=4h",
		}},
		{mode: "secret", release: "wa", ns: "sec", fullname: "wa-wire-audit", flags: secretMode("my-tls")},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			r := mustRender(t, tc.release, tc.ns, tc.flags...)
			n := namesOf(tc.fullname, tc.ns)
			if tc.mode == "secret" {
				n.secret = "my-tls"
			}
			d, c := r.deployment(t)
			args := flags(t, c.Args)
			known := webhookFlags(t)
			for name := range args {
				if _, ok := known[name]; !ok {
					t.Errorf("the chart passes --%s, which the webhook binary does not have", name)
				}
			}
			mwc, wh := webhookConfig(t, r)

			// The names the webhook is told are the names the chart creates and grants.
			if args["namespace"] != tc.ns {
				t.Errorf("--namespace=%q, want the release namespace %q", args["namespace"], tc.ns)
			}
			if mwc.Name != n.config {
				t.Errorf("MutatingWebhookConfiguration %q, want %q", mwc.Name, n.config)
			}
			svc := r.get(t, "Service", n.service).Typed.(*corev1.Service)
			if wh.ClientConfig.Service == nil || wh.ClientConfig.Service.Name != svc.Name || wh.ClientConfig.Service.Namespace != tc.ns ||
				wh.ClientConfig.Service.Path == nil || *wh.ClientConfig.Service.Path != webhook.Path {
				t.Errorf("clientConfig.service = %+v, want %s/%s %s", wh.ClientConfig.Service, tc.ns, svc.Name, webhook.Path)
			}
			if d.Spec.Template.Spec.ServiceAccountName != n.sa {
				t.Errorf("serviceAccountName %q, want %q", d.Spec.Template.Spec.ServiceAccountName, n.sa)
			}
			r.get(t, "ServiceAccount", n.sa)

			want := slices.Clone(metricsAuthRules)
			certManagerObjs := len(r.all("Certificate")) + len(r.all("Issuer"))
			switch tc.mode {
			case "builtin":
				want = append(want, rotatorRules(n)...)
				if args["cert-mode"] != "builtin" || args["cert-secret-name"] != n.secret || args["webhook-config-name"] != n.config || args["webhook-service-name"] != n.service {
					t.Errorf("builtin arguments %v do not name Secret %s, configuration %s, Service %s", c.Args, n.secret, n.config, n.service)
				}
				s := r.get(t, "Secret", n.secret).Typed.(*corev1.Secret)
				if len(s.Data)+len(s.StringData) != 0 {
					t.Errorf("the shipped Secret carries data %v: an upgrade would overwrite the rotator's certificates", s.Data)
				}
				if len(d.Spec.Template.Spec.Volumes) != 1 {
					t.Errorf("builtin mode mounts %d volumes, want only the config", len(d.Spec.Template.Spec.Volumes))
				}
				if certManagerObjs != 0 {
					t.Errorf("builtin mode renders %d cert-manager objects", certManagerObjs)
				}
			case "cert-manager", "secret":
				if args["cert-mode"] != "files" {
					t.Errorf("--cert-mode=%q, want files", args["cert-mode"])
				}
				for _, f := range []string{"cert-secret-name", "webhook-config-name", "webhook-service-name"} {
					if _, ok := args[f]; ok {
						t.Errorf("--%s is set in files mode, where the webhook ignores it", f)
					}
				}
				checkCertVolume(t, d.Spec.Template.Spec, c, args["webhook-cert-path"], n.secret)
				if len(r.all("Secret")) != 0 {
					t.Errorf("mode %s renders a Secret; the certificates come from elsewhere", tc.mode)
				}
			}
			switch tc.mode {
			case "cert-manager":
				checkCertManager(t, r, n, mwc)
			case "secret":
				if certManagerObjs != 0 {
					t.Errorf("secret mode renders %d cert-manager objects", certManagerObjs)
				}
			}
			if tc.mode == "secret" {
				if !bytes.Equal(wh.ClientConfig.CABundle, ca) {
					t.Errorf("caBundle is %q, want the PEM of %s", wh.ClientConfig.CABundle, testCA)
				}
			} else if len(wh.ClientConfig.CABundle) != 0 {
				t.Errorf("mode %s renders a caBundle; it is injected", tc.mode)
			}
			sort.Strings(want)
			if got := grantedRules(t, r, n); !slices.Equal(got, want) {
				t.Errorf("RBAC granted to the webhook:\n%s\nwant exactly:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			checkDeployment(t, r, d.Spec.Template.Spec, c, args)
			checkWebhook(t, wh, tc.ns, admissionregistrationv1.Fail)
			defaultsOf(t, r)
		})
	}
}

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

// TestTemplateMatrix renders non-default values and checks that each reaches its object.
func TestTemplateMatrix(t *testing.T) {
	dir := t.TempDir()
	valuesFile := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	n := namesOf("m-wire-audit", "mx")
	for _, tc := range []struct {
		name  string
		flags []string
		check func(t *testing.T, r *rendered)
	}{
		{name: "replicas", flags: []string{"--set", "replicaCount=3", "--set", "podDisruptionBudget.minAvailable=2"}, check: func(t *testing.T, r *rendered) {
			d, _ := r.deployment(t)
			pdb := r.get(t, "PodDisruptionBudget", "").Typed.(*policyv1.PodDisruptionBudget)
			if *d.Spec.Replicas != 3 || pdb.Spec.MinAvailable.IntValue() != 2 {
				t.Errorf("replicas %d, minAvailable %v", *d.Spec.Replicas, pdb.Spec.MinAvailable)
			}
		}},
		{name: "no PodDisruptionBudget", flags: []string{"--set", "replicaCount=1", "--set", "podDisruptionBudget.enabled=false"}, check: func(t *testing.T, r *rendered) {
			if pdbs := r.all("PodDisruptionBudget"); len(pdbs) != 0 {
				t.Errorf("%d PodDisruptionBudgets", len(pdbs))
			}
		}},
		{name: "failurePolicy Ignore and more excluded namespaces", flags: []string{"--set", "webhook.failurePolicy=Ignore", "--set", "webhook.excludeNamespaces={monitoring,mx}"}, check: func(t *testing.T, r *rendered) {
			_, wh := webhookConfig(t, r)
			checkWebhook(t, wh, n.ns, admissionregistrationv1.Ignore)
			if got := excludedNamespaces(t, wh); !slices.Equal(got, []string{"kube-system", "mx", "monitoring"}) {
				t.Errorf("excluded namespaces %v, want kube-system, mx, monitoring (each once)", got)
			}
		}},
		{name: "networkPolicy and serviceMonitor", flags: []string{"--set", "networkPolicy.enabled=true", "--set", "serviceMonitor.enabled=true",
			"--set", "serviceMonitor.labels.release=prom", "--set", "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.team=monitoring"},
			check: func(t *testing.T, r *rendered) { checkNetworkPolicy(t, r, "https") }},
		{name: "insecure metrics", flags: []string{"--set", "metrics.secure=false", "--set", "serviceMonitor.enabled=true", "--set", "networkPolicy.enabled=true"}, check: func(t *testing.T, r *rendered) {
			_, c := r.deployment(t)
			if flags(t, c.Args)["metrics-secure"] != "false" {
				t.Errorf("args %v", c.Args)
			}
			if got, want := grantedRules(t, r, n), rotatorRules(n); !slices.Equal(got, want) {
				t.Errorf("without secure metrics the webhook needs no TokenReviews; granted:\n%s", strings.Join(got, "\n"))
			}
			if len(r.all("ClusterRole")) != 1 {
				t.Errorf("ClusterRoles: %s", r.kinds())
			}
			checkNetworkPolicy(t, r, "http")
		}},
		{name: "kafka TLS and SASL", flags: []string{"--set", "kafka.brokers={k1.kafka:9093,k2.kafka:9093}", "--set", "kafka.topic=audit.db",
			"--set", "kafka.tls.secretName=kafka-ca", "--set", "kafka.tls.clientCertificate=true", "--set", "kafka.sasl.mechanism=SCRAM-SHA-512", "--set", "kafka.sasl.secretName=kafka-user"},
			check: func(t *testing.T, r *rendered) {
				k := defaultsOf(t, r).Kafka
				if !slices.Equal(k.Brokers, []string{"k1.kafka:9093", "k2.kafka:9093"}) || k.Topic != "audit.db" || k.TLS.SecretName != "kafka-ca" || !k.TLS.ClientCertificate ||
					k.SASL.Mechanism != "SCRAM-SHA-512" || k.SASL.SecretName != "kafka-user" {
					t.Errorf("kafka defaults %+v", k)
				}
			}},
		{name: "custom protocols, ports and interfaces", flags: []string{"--values", valuesFile("protocols.yaml", `
capture:
  protocols:
    mysql: [3306, 13306]
    redis: []
    pgsql: null
    http: null
    dns: null
  interfaces: [eth0, net1]
  flows: false
  privacy: {maxQueryLength: 4096, maskLiterals: true, httpHeaders: [User-Agent], httpBodyBytes: 512}
`)}, check: func(t *testing.T, r *rendered) {
			c := defaultsOf(t, r).Capture
			if len(c.Protocols) != 2 || !slices.Equal(c.Protocols["mysql"], []uint16{3306, 13306}) || c.Protocols["redis"] == nil || len(c.Protocols["redis"]) != 0 {
				t.Errorf("protocols %v, want mysql [3306 13306] and redis by content only", c.Protocols)
			}
			if !slices.Equal(c.Interfaces, []string{"eth0", "net1"}) || *c.Flows || c.Privacy.MaxQueryLength != 4096 || !c.Privacy.MaskLiterals ||
				!slices.Equal(c.Privacy.HTTPHeaders, []string{"User-Agent"}) || c.Privacy.HTTPBodyBytes != 512 {
				t.Errorf("capture defaults %+v", c)
			}
		}},
		{name: "sidecar mode container", flags: []string{"--set", "sidecar.mode=container", "--set", "sidecar.image=registry.example/capture:1.2",
			"--set", "sidecar.imagePullPolicy=Always", "--set", "sidecar.healthPort=16000", "--set", "sidecar.resources.limits.cpu=1"},
			check: func(t *testing.T, r *rendered) {
				s := defaultsOf(t, r).Sidecar
				if s.Mode != webhook.ModeContainer || s.Image != "registry.example/capture:1.2" || s.ImagePullPolicy != corev1.PullAlways || s.HealthPort != 16000 ||
					s.Resources.Limits.Cpu().String() != "1" || s.Resources.Limits.Memory().String() != "256Mi" {
					t.Errorf("sidecar defaults %+v", s)
				}
			}},
		{name: "webhook image and ports", flags: []string{"--set", "image.repository=registry.example/webhook", "--set", "image.tag=dev",
			"--set", "webhook.port=10250", "--set", "health.port=9000", "--set", "metrics.port=9001", "--set", "logLevel=debug"},
			check: func(t *testing.T, r *rendered) {
				_, c := r.deployment(t)
				args := flags(t, c.Args)
				if c.Image != "registry.example/webhook:dev" || args["webhook-port"] != "10250" || args["zap-log-level"] != "debug" {
					t.Errorf("image %s, args %v", c.Image, c.Args)
				}
				d, _ := r.deployment(t)
				checkDeployment(t, r, d.Spec.Template.Spec, c, args)
			}},
		{name: "builtin certificate lifetimes", flags: []string{"--set", "certificates.builtin.servingValidity=48h", "--set", "certificates.builtin.caOverlap=2m30s"},
			check: func(t *testing.T, r *rendered) {
				_, c := r.deployment(t)
				if args := flags(t, c.Args); args["serving-validity"] != "48h" || args["ca-overlap"] != "2m30s" {
					t.Errorf("args %v", c.Args)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, mustRender(t, "m", "mx", tc.flags...))
		})
	}
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

// TestDeterministic: the same values render the same bytes. A chart that made its CA with
// genCA would differ on every render (and every Argo CD sync).
func TestDeterministic(t *testing.T) {
	for _, fl := range [][]string{nil, {"--set", "certificates.mode=cert-manager"}, secretMode("t")} {
		a, err := template(t, "wire-audit", "wire-audit-system", fl...)
		if err != nil {
			t.Fatal(err)
		}
		b, err := template(t, "wire-audit", "wire-audit-system", fl...)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("two renders with %v differ", fl)
		}
		if bytes.Contains(a, []byte("BEGIN RSA PRIVATE KEY")) || bytes.Contains(a, []byte("PRIVATE KEY")) {
			t.Errorf("a render with %v carries a private key", fl)
		}
	}
	tpl, err := os.ReadFile(filepath.Join(chartDir, "templates", "secret.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.ReadDir(filepath.Join(chartDir, "templates"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range dir {
		src, err := os.ReadFile(filepath.Join(chartDir, "templates", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, fn := range []string{"genCA", "genSignedCert", "genSelfSignedCert", "lookup"} {
			// The secret template's comment names genCA to say why it is absent.
			if bytes.Contains(src, []byte(fn+" ")) && !bytes.Equal(src, tpl) {
				t.Errorf("%s calls %s", e.Name(), fn)
			}
		}
	}
}

// TestTwoReleases: two releases, in the same namespace or in two, share no object name.
func TestTwoReleases(t *testing.T) {
	for _, fl := range [][]string{nil, {"--set", "certificates.mode=cert-manager", "--set", "serviceMonitor.enabled=true", "--set", "networkPolicy.enabled=true"}} {
		for _, nss := range [][2]string{{"shared", "shared"}, {"team-a", "team-b"}} {
			a := mustRender(t, "alpha", nss[0], fl...)
			b := mustRender(t, "beta", nss[1], fl...)
			seen := map[string]bool{}
			for _, o := range a.objs {
				seen[o.GVK.Kind+"/"+o.NS+"/"+o.Name] = true
			}
			for _, o := range b.objs {
				if key := o.GVK.Kind + "/" + o.NS + "/" + o.Name; seen[key] {
					t.Errorf("releases alpha (%s) and beta (%s) both render %s", nss[0], nss[1], key)
				}
			}
			_, wa := webhookConfig(t, a)
			_, wb := webhookConfig(t, b)
			if nss[0] == nss[1] && wa.ClientConfig.Service.Name == wb.ClientConfig.Service.Name {
				t.Errorf("both releases call Service %s", wa.ClientConfig.Service.Name)
			}
		}
	}
}

// TestCABundleEncoding: the PEM given with --set-file reaches caBundle once base64-encoded by
// the chart, as the API expects, not twice.
func TestCABundleEncoding(t *testing.T) {
	out, err := template(t, "wa", "sec", secretMode("my-tls")...)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(testCA)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte("caBundle: "+base64.StdEncoding.EncodeToString(ca))) {
		t.Errorf("the rendered caBundle is not base64 of the PEM file")
	}
}
