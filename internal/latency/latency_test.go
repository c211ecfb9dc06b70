package latency

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	cases := []struct {
		name    string
		samples []time.Duration
		p       float64
		want    time.Duration
	}{
		{"empty", nil, 99, 0},
		{"one", []time.Duration{7}, 50, 7},
		{"median of 1..100", seq(100), 50, 50},
		{"p99 of 1..100", seq(100), 99, 99},
		{"p99 of 1..1000", seq(1000), 99, 990},
		{"max", seq(10), 100, 10},
		{"unsorted", []time.Duration{5, 1, 4, 2, 3}, 50, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRecorder(len(tc.samples))
			for _, s := range tc.samples {
				r.Add(s)
			}
			if got := r.Percentile(tc.p); got != tc.want {
				t.Errorf("Percentile(%v) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}

func seq(n int) []time.Duration {
	s := make([]time.Duration, n)
	for i := range s {
		s[i] = time.Duration(i + 1)
	}
	return s
}
