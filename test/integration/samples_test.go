package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/audit-io/wire-audit/capture/config"
	"github.com/audit-io/wire-audit/internal/testenv"
	"github.com/audit-io/wire-audit/webhook"
)

// TestSamples admits a pod made from each workload in config/samples, which the user guide
// points at, so that an example whose annotations the webhook would deny cannot ship. envtest
// runs no controllers, so the test makes the pod from the template as the controller would.
func TestSamples(t *testing.T) {
	e := getEnv(t)
	ctx := context.Background()
	ns := namespace(t, e, "samples", map[string]string{"pod-security.kubernetes.io/enforce": "privileged"})
	kustomize := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kustomize")
	if _, err := os.Stat(kustomize); err != nil {
		testenv.Missing(t, "no kustomize in KUBEBUILDER_ASSETS (make kustomize installs it): %v", err)
	}
	out, err := exec.Command(kustomize, "build", "../../config/samples").Output()
	if err != nil {
		t.Fatalf("kustomize build config/samples: %v", err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	seen := map[string]bool{}
	for {
		var obj struct {
			metav1.TypeMeta `json:",inline"`
			Metadata        metav1.ObjectMeta `json:"metadata"`
			Spec            json.RawMessage   `json:"spec"`
		}
		if err := dec.Decode(&obj); err != nil {
			break
		}
		var tmpl corev1.PodTemplateSpec
		switch obj.Kind {
		case "Deployment":
			var s appsv1.DeploymentSpec
			mustUnmarshal(t, string(obj.Spec), &s)
			tmpl = s.Template
		case "StatefulSet":
			var s appsv1.StatefulSetSpec
			mustUnmarshal(t, string(obj.Spec), &s)
			tmpl = s.Template
		case "Job":
			var s batchv1.JobSpec
			mustUnmarshal(t, string(obj.Spec), &s)
			tmpl = s.Template
		default:
			t.Fatalf("sample %s %s: add its kind to this test", obj.Kind, obj.Metadata.Name)
		}
		seen[obj.Kind] = true
		t.Run(obj.Kind+"/"+obj.Metadata.Name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: tmpl.ObjectMeta, Spec: tmpl.Spec}
			pod.GenerateName = obj.Metadata.Name + "-"
			created, err := e.Clients.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("the API server refused a pod from the sample's template: %v", err)
			}
			if created.Annotations[webhook.AnnotationStatus] == "" {
				t.Fatalf("pod from sample %s was stored without the sidecar", obj.Metadata.Name)
			}
			cfg, err := config.Parse(strings.NewReader(created.Annotations[webhook.AnnotationRenderedConfig]))
			if err != nil {
				t.Fatalf("rendered config: %v", err)
			}
			var names []string
			for _, p := range cfg.Protocols {
				names = append(names, p.Name)
			}
			if want := tmpl.Annotations[webhook.AnnotationProtocols]; want != "" && strings.Join(names, ",") != want {
				t.Errorf("rendered protocols %v, the sample asks for %s", names, want)
			}
			if want := tmpl.Annotations[webhook.AnnotationInterfaces]; want != "" && strings.Join(cfg.Interfaces, ",") != want {
				t.Errorf("rendered interfaces %v, the sample asks for %s", cfg.Interfaces, want)
			}
		})
	}
	for _, kind := range []string{"Deployment", "StatefulSet", "Job"} {
		if !seen[kind] {
			t.Errorf("config/samples has no %s; the user guide shows one", kind)
		}
	}
}
