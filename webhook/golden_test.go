package webhook

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite testdata/*.injected.yaml from the current output")

// testNamespace plays the webhook's own namespace in these tests.
const testNamespace = "wire-audit-system"

// goldenResult is what a golden file records for one input pod.
type goldenResult struct {
	Outcome  Outcome         `json:"outcome"`
	Reason   string          `json:"reason,omitempty"`
	Warnings []string        `json:"warnings,omitempty"`
	Error    []string        `json:"error,omitempty"`
	Config   json.RawMessage `json:"renderedConfig,omitempty"`
	Pod      *corev1.Pod     `json:"pod,omitempty"`
}

// TestGolden runs each testdata/<case>.yaml through the injector and compares the result with
// testdata/<case>.injected.yaml. The outcome and the annotation keys named by a denial are
// asserted from this table too, so -update cannot quietly accept a wrong decision.
func TestGolden(t *testing.T) {
	cases := []struct {
		name    string
		outcome Outcome
		reason  string
		keys    []string // annotation keys a denial must name, in order
	}{
		{name: "plain", outcome: OutcomeInjected},
		{name: "multi-container", outcome: OutcomeInjected},
		{name: "existing-init-containers", outcome: OutcomeInjected},
		{name: "existing-native-sidecar", outcome: OutcomeInjected},
		{name: "run-as-non-root", outcome: OutcomeInjected},
		{name: "name-clash", outcome: OutcomeInjected},
		{name: "multus", outcome: OutcomeInjected},
		{name: "multus-all-interfaces", outcome: OutcomeInjected},
		{name: "generate-name", outcome: OutcomeInjected},
		{name: "overrides", outcome: OutcomeInjected},
		{name: "stale-status", outcome: OutcomeInjected},
		{name: "forged-status", outcome: OutcomeInjected},
		{name: "container-mode", outcome: OutcomeInjected},
		{name: "kafka-secrets", outcome: OutcomeInjected},
		{name: "mesh-linkerd", outcome: OutcomeInjected},
		{name: "mesh-interfaces-annotation", outcome: OutcomeInjected},
		{name: "ports-auto", outcome: OutcomeInjected},
		{name: "tls-ports", outcome: OutcomeInjected},
		{name: "tls-off", outcome: OutcomeInjected},
		{name: "tls-cluster-ports", outcome: OutcomeInjected},
		{name: "mongodb", outcome: OutcomeInjected},
		{name: "mongodb-auto", outcome: OutcomeInjected},
		{name: "host-network", outcome: OutcomeSkipped, reason: ReasonHostNetwork},
		{name: "mirror-pod", outcome: OutcomeSkipped, reason: ReasonMirrorPod},
		{name: "already-injected", outcome: OutcomeSkipped, reason: ReasonAlreadyInjected},
		{name: "capture-false", outcome: OutcomeSkipped, reason: ReasonCaptureFalse},
		{name: "own-namespace", outcome: OutcomeSkipped, reason: ReasonOwnNamespace},
		{name: "windows", outcome: OutcomeSkipped, reason: ReasonWindowsPod},
		{name: "invalid-capture", outcome: OutcomeDenied, keys: []string{AnnotationCapture}},
		{name: "invalid-protocols", outcome: OutcomeDenied, keys: []string{AnnotationProtocols}},
		{name: "invalid-ports", outcome: OutcomeDenied, keys: []string{AnnotationPorts}},
		{name: "invalid-ports-not-enabled", outcome: OutcomeDenied, keys: []string{AnnotationPorts}},
		{name: "invalid-ports-auto", outcome: OutcomeDenied, keys: []string{AnnotationPorts}},
		{name: "invalid-interfaces", outcome: OutcomeDenied, keys: []string{AnnotationInterfaces}},
		{name: "invalid-flows", outcome: OutcomeDenied, keys: []string{AnnotationFlows}},
		{name: "invalid-topic", outcome: OutcomeDenied, keys: []string{AnnotationKafkaTopic}},
		{name: "invalid-quantity", outcome: OutcomeDenied, keys: []string{AnnotationCPURequest}},
		{name: "invalid-request-over-limit", outcome: OutcomeDenied, keys: []string{AnnotationMemoryRequest}},
		{name: "invalid-unknown-key", outcome: OutcomeDenied, keys: []string{"audit.io/capture-protocol"}},
		{name: "invalid-many", outcome: OutcomeDenied,
			keys: []string{AnnotationProtocols, AnnotationInterfaces, AnnotationFlows, AnnotationKafkaTopic, AnnotationMemoryLimit}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := filepath.Join("testdata", tc.name+".yaml")
			pod := readPod(t, in)
			defaults := DefaultDefaults()
			if data, err := os.ReadFile(filepath.Join("testdata", tc.name+".defaults.yaml")); err == nil {
				if defaults, err = ParseDefaults(data); err != nil {
					t.Fatalf("defaults: %v", err)
				}
			}
			mode, err := ResolveMode(defaults.Sidecar.Mode, "1", "37")
			if err != nil {
				t.Fatal(err)
			}
			injector, err := NewInjector(InjectorOptions{Defaults: defaults, Mode: mode, Namespace: testNamespace})
			if err != nil {
				t.Fatal(err)
			}
			original := pod.DeepCopy()
			res := injector.Mutate(pod, pod.Namespace)

			wantReason := tc.reason
			if tc.outcome == OutcomeDenied {
				wantReason = ReasonInvalidAnnotation
			}
			if res.Outcome != tc.outcome || res.Reason != wantReason {
				t.Fatalf("outcome = %s/%s (err %v), want %s/%s", res.Outcome, res.Reason, res.Err, tc.outcome, wantReason)
			}
			if got := deniedKeys(res.Err); !slices.Equal(got, tc.keys) {
				t.Errorf("denial names keys %q, want %q", got, tc.keys)
			}
			if res.Outcome == OutcomeSkipped && res.Reason != ReasonAlreadyInjected && res.Reason != ReasonCaptureFalse && len(res.Warnings) == 0 {
				t.Errorf("skip %s carries no warning for the user", res.Reason)
			}
			if !equalJSON(t, pod, original) {
				t.Errorf("Mutate modified its input pod")
			}
			checkGolden(t, filepath.Join("testdata", tc.name+".injected.yaml"), toGolden(t, res))
		})
	}
}

func readPod(t testing.TB, path string) *corev1.Pod {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{}
	if err := yaml.UnmarshalStrict(data, pod); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pod
}

func deniedKeys(err error) []string {
	var keys []string
	var walk func(error)
	walk = func(err error) {
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range joined.Unwrap() {
				walk(e)
			}
			return
		}
		var ae *AnnotationError
		if errors.As(err, &ae) {
			keys = append(keys, ae.Key)
		}
	}
	if err != nil {
		walk(err)
	}
	return keys
}

func toGolden(t *testing.T, res Result) []byte {
	t.Helper()
	g := goldenResult{Outcome: res.Outcome, Reason: res.Reason, Warnings: res.Warnings, Pod: res.Pod}
	if res.Err != nil {
		g.Error = strings.Split(res.Err.Error(), "\n")
	}
	if res.Pod != nil {
		g.Config = json.RawMessage(res.Pod.Annotations[AnnotationRenderedConfig])
	}
	out, err := yaml.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./webhook -run TestGolden -update to create it)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs from the output; rerun with -update and review the diff.\n--- got ---\n%s", path, got)
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ja) == string(jb)
}

// plainPodWith returns testdata/plain.yaml with its annotations replaced.
func plainPodWith(t testing.TB, annotations map[string]string) *corev1.Pod {
	t.Helper()
	pod := readPod(t, filepath.Join("testdata", "plain.yaml"))
	pod.Annotations = annotations
	return pod
}
