package chart

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/audit-io/wire-audit/internal/testenv"
)

// chartOnlyFlags are the arguments the chart gives and the kustomize manifests leave to the
// webhook's defaults (which webhook -h prints).
var chartOnlyFlags = []string{
	"webhook-port", "namespace", "cert-secret-name", "webhook-config-name",
	"webhook-service-name", "ca-validity", "serving-validity", "cert-lookahead", "ca-overlap",
}

// TestKustomizeMatchesChart: config/ (kustomize) and the chart install the same thing. With the
// release name wire-audit in wire-audit-system, the chart's names are kustomize's, so RBAC,
// the webhook configuration, the Deployment's container and the cluster defaults must agree
// in every field but labels and the ConfigMap's hash suffix.
func TestKustomizeMatchesChart(t *testing.T) {
	kustomize := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kustomize")
	if _, err := os.Stat(kustomize); err != nil {
		testenv.Missing(t, "no kustomize in KUBEBUILDER_ASSETS (make kustomize installs it): %v", err)
	}
	for _, tc := range []struct {
		dir   string
		flags []string
	}{
		{dir: "config/default"},
		{dir: "config/overlays/certmanager", flags: []string{"--set", "certificates.mode=cert-manager"}},
		{dir: "config/overlays/secret", flags: secretMode("wire-audit-webhook-server-cert")},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			out, err := exec.Command(kustomize, "build", filepath.Join("../..", tc.dir)).Output()
			if err != nil {
				t.Fatalf("kustomize build %s: %v", tc.dir, err)
			}
			k, err := parse(out)
			if err != nil {
				t.Fatal(err)
			}
			h := mustRender(t, "wire-audit", "wire-audit-system", tc.flags...)
			n := namesOf("wire-audit", "wire-audit-system")
			compareKustomize(t, k, h, n)
		})
	}
}

func compareKustomize(t *testing.T, k, h *rendered, n names) {
	t.Helper()
	// The same objects, but for the Namespace (helm install --create-namespace makes it) and
	// the ConfigMap, whose name kustomize suffixes with a hash of its content.
	objects := func(r *rendered) []string {
		var s []string
		for _, o := range r.objs {
			switch o.GVK.Kind {
			case "Namespace", "ConfigMap":
				continue
			}
			s = append(s, o.GVK.Kind+"/"+o.NS+"/"+o.Name)
		}
		slices.Sort(s)
		return s
	}
	if ko, ho := objects(k), objects(h); !slices.Equal(ko, ho) {
		t.Errorf("objects differ:\nkustomize %v\nchart     %v", ko, ho)
	}
	if kr, hr := grantedRules(t, k, n), grantedRules(t, h, n); !slices.Equal(kr, hr) {
		t.Errorf("RBAC differs:\nkustomize:\n%s\nchart:\n%s", strings.Join(kr, "\n"), strings.Join(hr, "\n"))
	}

	kc, kw := webhookConfig(t, k)
	hc, hw := webhookConfig(t, h)
	kw, hw = kw.DeepCopy(), hw.DeepCopy()
	// In secret mode kustomize leaves caBundle to the user, the chart takes it as a value.
	hw.ClientConfig.CABundle = kw.ClientConfig.CABundle
	if !equality.Semantic.DeepEqual(kw, hw) {
		t.Errorf("webhooks differ:\nkustomize %+v\nchart     %+v", kw, hw)
	}
	const inject = "cert-manager.io/inject-ca-from"
	if kc.Annotations[inject] != hc.Annotations[inject] {
		t.Errorf("%s: kustomize %q, chart %q", inject, kc.Annotations[inject], hc.Annotations[inject])
	}
	for _, kind := range []string{"Certificate", "Issuer"} {
		for _, ko := range k.all(kind) {
			ho := h.get(t, kind, ko.Name)
			if !reflect.DeepEqual(ko.U.Object["spec"], ho.U.Object["spec"]) {
				t.Errorf("%s %s spec differs:\nkustomize %v\nchart     %v", kind, ko.Name, ko.U.Object["spec"], ho.U.Object["spec"])
			}
		}
	}
	for _, ko := range k.all("Service") {
		ks, hs := ko.Typed.(*corev1.Service), h.get(t, "Service", ko.Name).Typed.(*corev1.Service)
		if !equality.Semantic.DeepEqual(ks.Spec.Ports, hs.Spec.Ports) {
			t.Errorf("Service %s ports: kustomize %+v, chart %+v", ko.Name, ks.Spec.Ports, hs.Spec.Ports)
		}
	}

	kd, kcont := k.deployment(t)
	hd, hcont := h.deployment(t)
	if *kd.Spec.Replicas != *hd.Spec.Replicas {
		t.Errorf("replicas: kustomize %d, chart %d", *kd.Spec.Replicas, *hd.Spec.Replicas)
	}
	kp, hp := kd.Spec.Template.Spec, hd.Spec.Template.Spec
	if !equality.Semantic.DeepEqual(kp.SecurityContext, hp.SecurityContext) || kp.ServiceAccountName != hp.ServiceAccountName ||
		!equality.Semantic.DeepEqual(kp.TerminationGracePeriodSeconds, hp.TerminationGracePeriodSeconds) {
		t.Errorf("pod specs differ: kustomize %+v %s, chart %+v %s", kp.SecurityContext, kp.ServiceAccountName, hp.SecurityContext, hp.ServiceAccountName)
	}
	compareArgs(t, kcont.Args, hcont.Args, kcont.Env)
	// Fields compared whole; volumes and mounts by what they hold.
	kk, hh := kcont.DeepCopy(), hcont.DeepCopy()
	kk.Args, hh.Args = nil, nil
	kk.VolumeMounts, hh.VolumeMounts, kk.Env, hh.Env = nil, nil, nil, nil
	if !equality.Semantic.DeepEqual(kk, hh) {
		t.Errorf("manager containers differ apart from args:\nkustomize %+v\nchart     %+v", kk, hh)
	}
	if mountsOf(kp, kcont) != mountsOf(hp, hcont) {
		t.Errorf("mounts differ:\nkustomize %s\nchart     %s", mountsOf(kp, kcont), mountsOf(hp, hcont))
	}
	kdef, hdef := defaultsOfConfigMap(t, k), defaultsOf(t, h)
	if !equality.Semantic.DeepEqual(kdef, hdef) {
		t.Errorf("cluster defaults differ:\nkustomize %+v\nchart     %+v", kdef, hdef)
	}
	for _, s := range k.all("Secret") {
		if hs := h.get(t, "Secret", s.Name).Typed.(*corev1.Secret); len(hs.Data) != 0 || hs.Type != s.Typed.(*corev1.Secret).Type {
			t.Errorf("Secret %s: chart type %s data %v", s.Name, hs.Type, hs.Data)
		}
	}
	if kpdb, hpdb := k.all("PodDisruptionBudget"), h.all("PodDisruptionBudget"); len(kpdb) == 1 && len(hpdb) == 1 &&
		kpdb[0].U.Object["spec"].(map[string]any)["minAvailable"] != hpdb[0].U.Object["spec"].(map[string]any)["minAvailable"] {
		t.Error("PodDisruptionBudget minAvailable differs")
	}
}

func defaultsOfConfigMap(t *testing.T, k *rendered) any {
	t.Helper()
	// The kustomize ConfigMap is named with a hash; there is only one.
	return defaultsOf(t, &rendered{objs: k.all("ConfigMap")})
}

// mountsOf describes each mount as path <- Secret or ConfigMap key.
func mountsOf(pod corev1.PodSpec, c *corev1.Container) string {
	var s []string
	for _, m := range c.VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name != m.Name {
				continue
			}
			switch {
			case v.Secret != nil:
				s = append(s, m.MountPath+"<-secret/"+v.Secret.SecretName)
			case v.ConfigMap != nil:
				s = append(s, m.MountPath+"<-configmap/"+strings.Join([]string{v.ConfigMap.Items[0].Key}, ","))
			}
		}
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}

// compareArgs: every flag kustomize sets, the chart sets alike; every other flag of the chart
// holds the webhook's default, which is what kustomize runs with.
func compareArgs(t *testing.T, kargs, hargs []string, kenv []corev1.EnvVar) {
	t.Helper()
	kf, hf := flags(t, kargs), flags(t, hargs)
	for name, kv := range kf {
		if hv, ok := hf[name]; !ok || hv != kv {
			t.Errorf("--%s: kustomize %q, chart %q (set %v)", name, kv, hv, ok)
		}
	}
	defaults := webhookFlags(t)
	for name, hv := range hf {
		if _, ok := kf[name]; ok {
			continue
		}
		if !slices.Contains(chartOnlyFlags, name) {
			t.Errorf("the chart sets --%s=%s, which kustomize does not", name, hv)
			continue
		}
		if name == "namespace" {
			// Its default is $POD_NAMESPACE, which kustomize sets from the pod's namespace.
			if !slices.ContainsFunc(kenv, func(e corev1.EnvVar) bool {
				return e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace"
			}) || hv != "wire-audit-system" {
				t.Errorf("--namespace=%s in the chart; kustomize's container env %v", hv, kenv)
			}
			continue
		}
		def := defaults[name]
		if hd, err := time.ParseDuration(hv); err == nil {
			if dd, err := time.ParseDuration(def); err == nil && hd == dd {
				continue
			}
		}
		if hv != def {
			t.Errorf("the chart sets --%s=%s, kustomize runs with the webhook's default %q", name, hv, def)
		}
	}
}
