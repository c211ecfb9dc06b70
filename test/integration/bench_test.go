package integration

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/audit-io/wire-audit/internal/latency"
	"github.com/audit-io/wire-audit/test/cluster"
	"github.com/audit-io/wire-audit/webhook"
)

// createRate is the paced pod-creation rate, all classes together.
var createRate = flag.Int("create-rate", 240, "pods per second that BenchmarkPodCreate creates, all classes together")

// noopAnnotation sends a pod to the peer webhook instead of ours.
const noopAnnotation = "bench.audit.io/noop"

// BenchmarkPodCreate creates pods through the real API server at createRate per second, in
// rotation: a plain pod that no webhook sees, a pod that a no-op peer webhook admits unchanged
// (the floor cost of any webhook call in this API server), and an audited pod that our webhook
// injects. All three see the same load in the same run. It reports p50 and p99 of each, and the
// p99 our webhook adds over the plain pod. Target: under 5 ms at p99.
func BenchmarkPodCreate(b *testing.B) {
	e := getEnv(b)
	ns := namespace(b, e, fmt.Sprintf("bench-%d", time.Now().UnixNano()), nil)
	startNoopWebhook(b, e, ns)
	classes := []struct {
		name        string
		annotations map[string]string
		injected    bool
		rec         *latency.Recorder
	}{
		{"plain", map[string]string{"team": "payments"}, false, latency.NewRecorder(b.N)},
		{"noop-webhook", map[string]string{noopAnnotation: "true"}, false, latency.NewRecorder(b.N)},
		{"audit-webhook", map[string]string{webhook.AnnotationCapture: "true"}, true, latency.NewRecorder(b.N)},
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	total := len(classes) * b.N
	errs := make(chan error, total)
	sem := make(chan struct{}, 64)
	tick := time.NewTicker(time.Second / time.Duration(*createRate))
	defer tick.Stop()
	b.ResetTimer()
	start := time.Now()
	for i := range total {
		<-tick.C
		sem <- struct{}{}
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			defer func() { <-sem }()
			cl := classes[c]
			t0 := time.Now()
			pod, err := e.Clients.CoreV1().Pods(ns).Create(ctx, appPod("bench-", cl.annotations), metav1.CreateOptions{})
			cl.rec.Add(time.Since(t0))
			if err != nil {
				errs <- err
				return
			}
			if injected := len(pod.Spec.InitContainers) == 1; injected != cl.injected {
				errs <- fmt.Errorf("%s pod %s: injected=%v", cl.name, pod.Name, injected)
			}
		}(i % len(classes))
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	for _, cl := range classes {
		cl.rec.Report(b, cl.name+"-", time.Millisecond, "ms")
	}
	plain, audit := classes[0].rec, classes[2].rec
	b.ReportMetric(float64(audit.Percentile(99)-plain.Percentile(99))/float64(time.Millisecond), "added-p99-ms")
	b.ReportMetric(float64(total)/elapsed.Seconds(), "creates/s")
	// The loop is paced, so ns/op says nothing about the API server.
	b.ReportMetric(0, "ns/op")
}

// startNoopWebhook serves a webhook that allows every pod unchanged, with the serving
// certificate envtest made for ours, and registers it for pods annotated noopAnnotation.
func startNoopWebhook(b *testing.B, e *cluster.Cluster, ns string) {
	b.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(e.ServingCertDir, "tls.crt"), filepath.Join(e.ServingCertDir, "tls.key"))
	if err != nil {
		b.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12})
	if err != nil {
		b.Fatal(err)
	}
	var calls atomic.Int64
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
			http.Error(w, "bad review", http.StatusBadRequest)
			return
		}
		review.Response = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		review.Request = nil
		_ = json.NewEncoder(w).Encode(&review)
	})}
	go func() { _ = srv.Serve(l) }()
	b.Cleanup(func() { _ = srv.Close() })

	url := "https://" + l.Addr().(*net.TCPAddr).String() + "/noop"
	none, fail, timeout := admissionregistrationv1.SideEffectClassNone, admissionregistrationv1.Fail, int32(5)
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-noop-"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "noop.bench.audit.io",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: e.CAData},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			SideEffects:             &none,
			FailurePolicy:           &fail,
			TimeoutSeconds:          &timeout,
			AdmissionReviewVersions: []string{"v1"},
			MatchConditions:         []admissionregistrationv1.MatchCondition{{Name: "noop", Expression: "has(object.metadata.annotations) && '" + noopAnnotation + "' in object.metadata.annotations"}},
		}},
	}
	created, err := e.Clients.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(context.Background(), cfg, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = e.Clients.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), created.Name, metav1.DeleteOptions{})
	})
	// The API server picks configurations up asynchronously: dry-run pods until the peer is called.
	for deadline := time.Now().Add(30 * time.Second); calls.Load() == 0; {
		if time.Now().After(deadline) {
			b.Fatal("the API server never called the no-op webhook")
		}
		_, _ = e.Clients.CoreV1().Pods(ns).Create(context.Background(), appPod("probe-", map[string]string{noopAnnotation: "true"}),
			metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		time.Sleep(100 * time.Millisecond)
	}
}
