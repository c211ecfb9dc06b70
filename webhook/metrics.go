package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts admissions. Register it once with the manager's registry.
type Metrics struct {
	admissions *prometheus.CounterVec
}

// NewMetrics creates the collectors; reg may be nil in tests that do not scrape.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{admissions: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wire_audit_webhook_admissions_total",
		Help: "Pod admissions handled by the capture webhook, by outcome (injected, skipped, denied, errored) and reason.",
	}, []string{"outcome", "reason"})}
	if reg != nil {
		if err := reg.Register(m.admissions); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) observe(r *Result) {
	if m == nil {
		return
	}
	m.admissions.WithLabelValues(string(r.Outcome), r.Reason).Inc()
}
