package integration

import (
	"context"
	"flag"
	"fmt"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/audit-io/wire-audit/internal/latency"
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
	startPeerWebhook(b, e, ns, "bench-noop-", noopAnnotation, false)
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
