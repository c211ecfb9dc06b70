package chart

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"

	"github.com/audit-io/wire-audit/webhook"
)

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

			var want []string // metrics.secure is off by default: no TokenReviews
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
			check: func(t *testing.T, r *rendered) { checkNetworkPolicy(t, r, "http") }},
		{name: "secure metrics", flags: []string{"--set", "metrics.secure=true", "--set", "serviceMonitor.enabled=true", "--set", "networkPolicy.enabled=true"}, check: func(t *testing.T, r *rendered) {
			_, c := r.deployment(t)
			if flags(t, c.Args)["metrics-secure"] != "true" {
				t.Errorf("args %v", c.Args)
			}
			want := append(slices.Clone(metricsAuthRules), rotatorRules(n)...)
			slices.Sort(want)
			if got := grantedRules(t, r, n); !slices.Equal(got, want) {
				t.Errorf("secure metrics need TokenReviews and SubjectAccessReviews beside the rotator's rules; granted:\n%s", strings.Join(got, "\n"))
			}
			if len(r.all("ClusterRole")) != 3 {
				t.Errorf("ClusterRoles (rotator, metrics auth, metrics reader): %s", r.kinds())
			}
			checkNetworkPolicy(t, r, "https")
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
    tls: null
    mongodb: null
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
