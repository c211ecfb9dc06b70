package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/audit-io/wire-audit/test/nodeapp"
)

// BenchmarkCreateToFirstEvent measures, per pod on the real node, the time from the start of the
// Create call to: the kubelet reporting the injected sidecar started (its startup probe passed),
// and the first event of that pod seen by a Kafka consumer. The pod's app makes one round of
// transactions as soon as it starts. Reported: p50 and p99 (the worst of 20) of both, and of the
// Create call alone (admission through the webhook's Service).
func BenchmarkCreateToFirstEvent(b *testing.B) {
	s := getStack(b)
	ctx := b.Context()
	var toEvent, toReady, create []float64
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("first-event-%d", i)
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace, Annotations: annotations, Labels: map[string]string{"app": "bench"}},
			Spec:       corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{nodeapp.AppContainer(nodeapp.AppOptions{Rounds: 1, Exit: true})}},
		}
		from := s.records.len()
		start := time.Now()
		if _, err := s.Node.Clients.CoreV1().Pods(Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		create = append(create, ms(time.Since(start)))
		// The kubelet reports the sidecar Started once its startup probe passed; polled every
		// 20 ms (the API's timestamps have a resolution of one second).
		var ready time.Duration
		for ready == 0 && time.Since(start) < 60*time.Second {
			got, err := s.Node.Clients.CoreV1().Pods(Namespace).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if st := got.Status.InitContainerStatuses; len(st) > 0 && st[0].Started != nil && *st[0].Started {
				ready = time.Since(start)
			}
			time.Sleep(20 * time.Millisecond)
		}
		first, ok := s.records.waitFor(from, forPod(name), 60*time.Second)
		if !ok {
			b.Fatalf("pod %s: no event in Kafka within 60 s\n%s", name, s.Describe(ctx, Namespace))
		}
		toEvent = append(toEvent, ms(first.at.Sub(start)))
		toReady = append(toReady, ms(ready))
		_ = s.Node.Clients.CoreV1().Pods(Namespace).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))})
	}
	b.ReportMetric(median(toEvent), "ms-create-to-event-p50")
	b.ReportMetric(slices.Max(toEvent), "ms-create-to-event-max")
	b.ReportMetric(median(toReady), "ms-create-to-sidecar-ready-p50")
	b.ReportMetric(slices.Max(toReady), "ms-create-to-sidecar-ready-max")
	b.ReportMetric(median(create), "ms-create-call-p50")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	return s[len(s)/2]
}
