package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/audit-io/wire-audit/test/node"
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

// BenchmarkSidecarUnderDemoLoad runs one audited pod whose app makes the demo's load (a round of
// MySQL, PostgreSQL, Redis, HTTP and DNS transactions every second) for 20 s per iteration, and
// reads the sidecar container's CPU and memory from the kubelet's cgroup statistics (the
// Summary API, through the API server's node proxy): CPU as the growth of its cumulative usage
// over the window, memory as the largest RSS and working set sampled every 2 s.
func BenchmarkSidecarUnderDemoLoad(b *testing.B) {
	s := getStack(b)
	ctx := b.Context()
	const window = 20 * time.Second
	var cpu, rss, ws []float64
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("demo-load-%d", i)
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace, Annotations: annotations, Labels: map[string]string{"app": "bench"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{nodeapp.AppContainer(nodeapp.AppOptions{Rounds: 0, Interval: time.Second})}},
		}
		from := s.records.len()
		if _, err := s.Node.Clients.CoreV1().Pods(Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		if _, ok := s.records.waitFor(from, forPod(name), 60*time.Second); !ok {
			b.Fatalf("pod %s: no event within 60 s\n%s", name, s.Describe(ctx, Namespace))
		}
		// cAdvisor has the new container's first statistics after its next housekeeping.
		var first containerStats
		var err error
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(time.Second) {
			if first, err = sidecarStats(ctx, s, name); err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			b.Fatal(err)
		}
		maxRSS, maxWS := first.rss, first.ws
		var last containerStats
		for end := time.Now().Add(window); time.Now().Before(end); {
			time.Sleep(2 * time.Second)
			if last, err = sidecarStats(ctx, s, name); err != nil {
				b.Fatal(err)
			}
			maxRSS, maxWS = max(maxRSS, last.rss), max(maxWS, last.ws)
		}
		if !last.at.After(first.at) {
			b.Fatalf("the kubelet's statistics did not advance: %v then %v", first.at, last.at)
		}
		cpu = append(cpu, float64(last.cpuNanos-first.cpuNanos)/float64(last.at.Sub(first.at))*1000)
		rss = append(rss, float64(maxRSS)/(1<<20))
		ws = append(ws, float64(maxWS)/(1<<20))
		_ = s.Node.Clients.CoreV1().Pods(Namespace).Delete(ctx, name, metav1.DeleteOptions{})
	}
	b.ReportMetric(median(cpu), "sidecar-millicores")
	b.ReportMetric(median(rss), "sidecar-rss-MiB")
	b.ReportMetric(median(ws), "sidecar-workingset-MiB")
}

type containerStats struct {
	at       time.Time
	cpuNanos uint64
	rss, ws  uint64
}

// sidecarStats reads the capture sidecar's entry of pod from the kubelet's Summary API.
func sidecarStats(ctx context.Context, s *stack, pod string) (containerStats, error) {
	raw, err := s.Node.Clients.CoreV1().RESTClient().Get().
		AbsPath("/api/v1/nodes", node.Name, "proxy", "stats", "summary").DoRaw(ctx)
	if err != nil {
		return containerStats{}, err
	}
	var sum struct {
		Pods []struct {
			PodRef     struct{ Name, Namespace string } `json:"podRef"`
			Containers []struct {
				Name string `json:"name"`
				CPU  struct {
					Time                 time.Time `json:"time"`
					UsageCoreNanoSeconds uint64    `json:"usageCoreNanoSeconds"`
				} `json:"cpu"`
				Memory struct {
					RSSBytes        uint64 `json:"rssBytes"`
					WorkingSetBytes uint64 `json:"workingSetBytes"`
				} `json:"memory"`
			} `json:"containers"`
		} `json:"pods"`
	}
	if err := json.Unmarshal(raw, &sum); err != nil {
		return containerStats{}, err
	}
	for _, p := range sum.Pods {
		if p.PodRef.Name != pod || p.PodRef.Namespace != Namespace {
			continue
		}
		for _, c := range p.Containers {
			if strings.HasPrefix(c.Name, "audit-capture") {
				return containerStats{c.CPU.Time, c.CPU.UsageCoreNanoSeconds, c.Memory.RSSBytes, c.Memory.WorkingSetBytes}, nil
			}
		}
	}
	return containerStats{}, fmt.Errorf("no statistics for the sidecar of %s yet", pod)
}
