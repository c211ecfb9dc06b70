package node_test

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/test/node"
)

// BenchmarkNodeStart starts a node from built binaries and an empty state and stops it: the
// time to a Ready node (with the default ServiceAccount), and the resident memory of the whole
// node after 10 s idle, per component and in total.
func BenchmarkNodeStart(b *testing.B) {
	root := repoRoot(b)
	node.Require(b, root)
	var ready, total []float64
	var last map[string]uint64
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		n, err := node.Start(ctx, node.Options{RepoRoot: root})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		ready = append(ready, n.Ready.Seconds())
		time.Sleep(10 * time.Second)
		last = n.RSS()
		var sum uint64
		for _, v := range last {
			sum += v
		}
		total = append(total, float64(sum)/(1<<20))
		n.Stop()
	}
	for _, k := range slices.Sorted(maps.Keys(last)) {
		b.Logf("idle RSS %-24s %6.1f MiB", k, float64(last[k])/(1<<20))
	}
	b.ReportMetric(median(ready), "s-to-ready-p50")
	b.ReportMetric(slices.Max(ready), "s-to-ready-max")
	b.ReportMetric(median(total), "MiB-idle-rss")
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	return s[len(s)/2]
}
