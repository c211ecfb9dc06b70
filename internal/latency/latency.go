// Package latency collects per-operation durations in benchmarks and reports percentiles, since
// ns/op alone hides the tail that admission targets are written against.
package latency

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// Recorder is safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	samples []time.Duration
}

// NewRecorder preallocates room for n samples so that recording does not allocate.
func NewRecorder(n int) *Recorder { return &Recorder{samples: make([]time.Duration, 0, n)} }

// Add records one duration.
func (r *Recorder) Add(d time.Duration) {
	r.mu.Lock()
	r.samples = append(r.samples, d)
	r.mu.Unlock()
}

// Percentile returns the p-th percentile (0 < p <= 100) by the nearest-rank method, or 0 when
// nothing was recorded.
func (r *Recorder) Percentile(p float64) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.samples) == 0 {
		return 0
	}
	s := slices.Clone(r.samples)
	slices.Sort(s)
	rank := int(p/100*float64(len(s))+0.999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

// Len is the number of samples.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.samples)
}

// Report adds p50 and p99 in the given unit to the benchmark's output, prefixed by name.
func (r *Recorder) Report(b *testing.B, name string, unit time.Duration, unitName string) {
	b.ReportMetric(float64(r.Percentile(50))/float64(unit), name+"p50-"+unitName)
	b.ReportMetric(float64(r.Percentile(99))/float64(unit), name+"p99-"+unitName)
}
