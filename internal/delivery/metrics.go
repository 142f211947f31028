package delivery

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of one delivery attempt, as counted by spendsense_deliveries_total.
const (
	OutcomeDelivered = "delivered"
	OutcomeRetry     = "retry"
	OutcomeFailed    = "failed"
)

type metrics struct {
	outcomes *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "spendsense_deliveries_total",
		Help: "Delivery attempts by outcome: delivered, retry (failed, will be retried), failed (given up).",
	}, []string{"outcome"})}
	for _, o := range []string{OutcomeDelivered, OutcomeRetry, OutcomeFailed} {
		m.outcomes.WithLabelValues(o)
	}
	if reg != nil {
		if err := reg.Register(m.outcomes); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
			m.outcomes = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	return m, nil
}

func (m *metrics) count(outcome string) { m.outcomes.WithLabelValues(outcome).Inc() }
