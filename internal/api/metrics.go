package api

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the request metrics of the API and the plain HTTP routes.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewMetrics registers the request metrics on reg. Labels: procedure is the
// Connect procedure ("/flagops.v1.FactService/SetFacts") or the route ("GET
// /readyz"); code is the Connect code ("ok", "invalid_argument") for RPCs and
// the HTTP status for plain routes. A Watch's latency is its stream's life.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flagops_requests_total",
			Help: "Requests handled, by procedure and code.",
		}, []string{"procedure", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flagops_request_duration_seconds",
			Help:    "Time to handle a request, by procedure.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"procedure"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

func (m *Metrics) observe(procedure, code string, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(procedure, code).Inc()
	m.latency.WithLabelValues(procedure).Observe(d.Seconds())
}
