package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	evanjsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	jsonpatch "gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

func TestHandlerResponses(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	h := newTestHandler(t, ModeNative, m)
	base := podRequest(t, readPod(t, "testdata/plain.yaml"))
	withPod := func(mutate func(*corev1.Pod)) admission.Request {
		pod := readPod(t, "testdata/plain.yaml")
		mutate(pod)
		return podRequest(t, pod)
	}
	cases := []struct {
		name    string
		req     admission.Request
		allowed bool
		code    int32
		msg     string
		warning string
		patched bool
		outcome Outcome
		reason  string
	}{
		{name: "injects", req: withPod(func(*corev1.Pod) {}), allowed: true, patched: true, outcome: OutcomeInjected},
		{name: "update is not ours", req: func() admission.Request { r := base; r.Operation = admissionv1.Update; return r }(),
			allowed: true, outcome: OutcomeSkipped, reason: ReasonNotPodCreate},
		{name: "subresource is not ours", req: func() admission.Request { r := base; r.SubResource = "ephemeralcontainers"; return r }(),
			allowed: true, outcome: OutcomeSkipped, reason: ReasonNotPodCreate},
		{name: "malformed object", req: func() admission.Request {
			r := base
			r.Object = runtime.RawExtension{Raw: []byte(`{"spec":`)}
			return r
		}(),
			allowed: false, code: http.StatusBadRequest, outcome: OutcomeErrored, reason: ReasonDecode},
		{name: "wrong type in object", req: func() admission.Request {
			r := base
			r.Object = runtime.RawExtension{Raw: []byte(`{"apiVersion":"v1","kind":"Pod","spec":{"containers":"app"}}`)}
			return r
		}(), allowed: false, code: http.StatusBadRequest, outcome: OutcomeErrored, reason: ReasonDecode},
		{name: "denied", req: withPod(func(p *corev1.Pod) { p.Annotations[AnnotationPorts] = "mysql:abc" }),
			allowed: false, code: http.StatusForbidden, msg: `annotation "audit.io/capture-ports": invalid value "mysql:abc"`, outcome: OutcomeDenied, reason: ReasonInvalidAnnotation},
		{name: "skipped with warning", req: withPod(func(p *corev1.Pod) { p.Spec.HostNetwork = true }),
			allowed: true, warning: "hostNetwork", outcome: OutcomeSkipped, reason: ReasonHostNetwork},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := testutil.ToFloat64(m.admissions.WithLabelValues(string(tc.outcome), tc.reason))
			resp := h.Handle(context.Background(), tc.req)
			if resp.Allowed != tc.allowed {
				t.Fatalf("allowed = %v, want %v (%+v)", resp.Allowed, tc.allowed, resp.Result)
			}
			if tc.code != 0 && resp.Result.Code != tc.code {
				t.Errorf("code = %d, want %d", resp.Result.Code, tc.code)
			}
			if tc.msg != "" && !strings.Contains(resp.Result.Message, tc.msg) {
				t.Errorf("message %q does not contain %q", resp.Result.Message, tc.msg)
			}
			if tc.warning != "" && (len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], tc.warning)) {
				t.Errorf("warnings = %q, want one about %q", resp.Warnings, tc.warning)
			}
			if (len(resp.Patches) > 0) != tc.patched {
				t.Errorf("patches = %d, want patched=%v", len(resp.Patches), tc.patched)
			}
			if tc.patched {
				checkPatch(t, tc.req.Object.Raw, resp.Patches)
			}
			if got := testutil.ToFloat64(m.admissions.WithLabelValues(string(tc.outcome), tc.reason)) - before; got != 1 {
				t.Errorf("metric %s/%s grew by %v, want 1", tc.outcome, tc.reason, got)
			}
		})
	}
}

// checkPatch applies the patch the API server would apply and checks the result is our pod.
func checkPatch(t *testing.T, original []byte, ops []jsonpatch.JsonPatchOperation) {
	t.Helper()
	raw, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := evanjsonpatch.DecodePatch(raw)
	if err != nil {
		t.Fatal(err)
	}
	patched, err := patch.Apply(original)
	if err != nil {
		t.Fatalf("patch does not apply: %v", err)
	}
	var pod corev1.Pod
	if err := json.Unmarshal(patched, &pod); err != nil {
		t.Fatal(err)
	}
	if len(pod.Spec.InitContainers) != 1 || pod.Spec.InitContainers[0].Name != SidecarName || pod.Annotations[AnnotationStatus] == "" {
		t.Errorf("patched pod lacks the sidecar or status: %+v", pod.Spec.InitContainers)
	}
}
