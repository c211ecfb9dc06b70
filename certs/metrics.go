package certs

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names, shared with the tests that scrape them.
const (
	MetricExpirySeconds = "wire_audit_cert_expiry_seconds"
	MetricRotations     = "wire_audit_cert_rotations_total"
)

type metrics struct {
	rotations *prometheus.CounterVec
}

// newMetrics registers the rotation counter and an expiry gauge that is computed at scrape
// time from what this replica serves, so that it never goes stale between rotations.
func newMetrics(reg prometheus.Registerer, r *Rotator) (*metrics, error) {
	m := &metrics{rotations: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricRotations,
		Help: "Certificates this replica issued into the Secret, by cert (serving, ca) and reason (initial, invalid, expiring, forced, ca-switch).",
	}, []string{"cert", "reason"})}
	if reg == nil {
		return m, nil
	}
	collectors := []prometheus.Collector{m.rotations}
	for _, kind := range []string{"serving", "ca"} {
		collectors = append(collectors, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        MetricExpirySeconds,
			Help:        "Seconds until the certificate this replica serves (cert=serving), or the CA that signed it (cert=ca), expires; 0 until the first certificate is loaded.",
			ConstLabels: prometheus.Labels{"cert": kind},
		}, func() float64 {
			s := r.served.Load()
			if s == nil {
				return 0
			}
			notAfter := s.leaf.NotAfter
			if kind == "ca" {
				notAfter = s.caNotAfter
			}
			return time.Until(notAfter).Seconds()
		}))
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) rotated(cert, reason string) {
	m.rotations.WithLabelValues(cert, reason).Inc()
}
