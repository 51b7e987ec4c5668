package kernel

import (
	"github.com/mirroros/mirror/bus"
	"github.com/prometheus/client_golang/prometheus"
)

// busCollector exports the router's per-target health: breaker state and
// reliability, labelled by provider/model.
type busCollector struct {
	router  *bus.Router
	breaker *prometheus.Desc
	rel     *prometheus.Desc
}

func newBusCollector(r *bus.Router) *busCollector {
	return &busCollector{
		router: r,
		breaker: prometheus.NewDesc("mirror_bus_breaker_state", "Circuit breaker per model: 0 closed, 1 half-open, 2 open.",
			[]string{"target"}, nil),
		rel: prometheus.NewDesc("mirror_bus_reliability_lower", "Lower credible bound of the model's time-decayed success rate.",
			[]string{"target"}, nil),
	}
}

func (c *busCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.breaker
	ch <- c.rel
}

func (c *busCollector) Collect(ch chan<- prometheus.Metric) {
	for _, h := range c.router.Health() {
		state := 0.0
		switch h.Breaker.State {
		case bus.HalfOpen:
			state = 1
		case bus.Open:
			state = 2
		}
		ch <- prometheus.MustNewConstMetric(c.breaker, prometheus.GaugeValue, state, h.Key())
		ch <- prometheus.MustNewConstMetric(c.rel, prometheus.GaugeValue, h.Reliability.Lower, h.Key())
	}
}
