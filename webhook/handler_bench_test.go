package webhook

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/audit-io/wire-audit/internal/latency"
)

// BenchmarkHandle measures one admission of a realistic Deployment pod (generateName, owner,
// three containers, annotations) from decode to JSON patch. Target: p99 under 1 ms.
func BenchmarkHandle(b *testing.B) {
	for _, mode := range []Mode{ModeNative, ModeContainer} {
		b.Run(string(mode), func(b *testing.B) {
			h, req := benchHandler(b, mode, "overrides")
			rec := latency.NewRecorder(b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				resp := h.Handle(context.Background(), req)
				rec.Add(time.Since(start))
				if !resp.Allowed || len(resp.Patches) == 0 {
					b.Fatalf("not injected: %+v", resp.Result)
				}
			}
			rec.Report(b, "", time.Microsecond, "µs")
		})
	}
}

func benchHandler(b *testing.B, mode Mode, testCase string) (*Handler, admission.Request) {
	b.Helper()
	injector, err := NewInjector(InjectorOptions{Defaults: DefaultDefaults(), Mode: mode, Namespace: testNamespace})
	if err != nil {
		b.Fatal(err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		b.Fatal(err)
	}
	m, err := NewMetrics(nil)
	if err != nil {
		b.Fatal(err)
	}
	h, err := NewHandler(admission.NewDecoder(scheme), injector, m)
	if err != nil {
		b.Fatal(err)
	}
	pod := readPod(b, "testdata/"+testCase+".yaml")
	raw, err := json.Marshal(pod)
	if err != nil {
		b.Fatal(err)
	}
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       "4b8c4f0e-1111-2222-3333-444455556666",
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Namespace: pod.Namespace,
		Operation: admissionv1.Create,
		Object:    runtime.RawExtension{Raw: raw},
	}}
	return h, req
}
