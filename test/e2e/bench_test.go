package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/test/realnet"
)

// BenchmarkCreateToFirstEvent measures, per pod, the time from the start of the Create call to
// the first event of that pod seen by a Kafka consumer: admission by the webhook, reading the
// stored pod back, starting its sidecar as rendered and waiting for its startup probe (what the
// kubelet would do, minus pulling the image), one HTTP request by curl in the pod, capture,
// decoding and export. Reported: the median and the worst over b.N pods, the median by the
// record's own timestamp (set by the producer), and the median SIGTERM-to-exit time; and two of
// the parts: the Create call (admission) and the sidecar's start until its startup probe passes.
func BenchmarkCreateToFirstEvent(b *testing.B) {
	s := newStack(b)
	web := realnet.StartNginx(b, s.pair, realnet.NginxOptions{Files: map[string]string{"/hello.txt": "hello\n"}})
	ctx := b.Context()
	var toEvent, toRecord, toExit, create, ready []float64
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("bench-%d", i)
		from := s.records.len()
		start := time.Now()
		if _, err := s.createPlainPod(ctx, name, "node-bench"); err != nil {
			b.Fatal(err)
		}
		create = append(create, ms(time.Since(start)))
		_, sc := s.resolve(ctx, b, name)
		started := time.Now()
		proc, output := runSidecar(b, s, sc)
		ready = append(ready, ms(time.Since(started)))
		if out, err := web.Curl(web.URL("/hello.txt?pod=" + name)); err != nil || strings.TrimSpace(out) != "hello" {
			b.Fatalf("curl: %q %v", out, err)
		}
		first, ok := s.records.waitFor(from, forPod(name), 30*time.Second)
		if !ok {
			b.Fatalf("pod %s: no event in Kafka within 30 s\n%s", name, output())
		}
		toEvent = append(toEvent, ms(first.at.Sub(start)))
		toRecord = append(toRecord, ms(first.rec.Timestamp.Sub(start)))
		stop := time.Now()
		if err := proc.Stop(30 * time.Second); err != nil {
			b.Fatalf("%v\n%s", err, output())
		}
		toExit = append(toExit, ms(time.Since(stop)))
	}
	b.ReportMetric(median(toEvent), "ms-create-to-event-p50")
	b.ReportMetric(slices.Max(toEvent), "ms-create-to-event-max")
	b.ReportMetric(median(toRecord), "ms-create-to-record-ts-p50")
	b.ReportMetric(median(toExit), "ms-sigterm-to-exit-p50")
	b.ReportMetric(median(create), "ms-create-call-p50")
	b.ReportMetric(median(ready), "ms-start-to-ready-p50")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	return s[len(s)/2]
}
