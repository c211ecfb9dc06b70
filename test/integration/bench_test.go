package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/audit-io/wire-audit/internal/latency"
	"github.com/audit-io/wire-audit/webhook"
)

// createRate is the paced pod-creation rate, audited and unaudited together.
const createRate = 250

// BenchmarkPodCreate creates pods through the real API server at createRate per second,
// alternating an annotated pod (which the API server sends to the webhook) with the same pod
// unannotated (which matchConditions keep away from it), so both see the same load in the same
// run. It reports p50 and p99 of each and the p99 the webhook adds. Target: under 5 ms at p99.
func BenchmarkPodCreate(b *testing.B) {
	e := getEnv(b)
	ns := namespace(b, e, fmt.Sprintf("bench-%d", time.Now().UnixNano()), nil)
	with, without := latency.NewRecorder(b.N), latency.NewRecorder(b.N)
	ctx := context.Background()
	create := func(annotated bool, rec *latency.Recorder) error {
		ann := map[string]string{"team": "payments"}
		if annotated {
			ann[webhook.AnnotationCapture] = "true"
		}
		start := time.Now()
		pod, err := e.Clients.CoreV1().Pods(ns).Create(ctx, appPod("bench-", ann), metav1.CreateOptions{})
		rec.Add(time.Since(start))
		if err != nil {
			return err
		}
		if injected := len(pod.Spec.InitContainers) == 1; injected != annotated {
			return fmt.Errorf("pod %s: injected=%v, annotated=%v", pod.Name, injected, annotated)
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*b.N)
	sem := make(chan struct{}, 64)
	tick := time.NewTicker(time.Second / createRate)
	defer tick.Stop()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < 2*b.N; i++ {
		<-tick.C
		sem <- struct{}{}
		wg.Add(1)
		go func(annotated bool) {
			defer wg.Done()
			defer func() { <-sem }()
			rec := without
			if annotated {
				rec = with
			}
			if err := create(annotated, rec); err != nil {
				errs <- err
			}
		}(i%2 == 0)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	with.Report(b, "webhook-", time.Millisecond, "ms")
	without.Report(b, "plain-", time.Millisecond, "ms")
	b.ReportMetric(float64(with.Percentile(99)-without.Percentile(99))/float64(time.Millisecond), "added-p99-ms")
	b.ReportMetric(float64(2*b.N)/elapsed.Seconds(), "creates/s")
	// The whole loop is paced, so ns/op says nothing about the API server.
	b.ReportMetric(0, "ns/op")
}
