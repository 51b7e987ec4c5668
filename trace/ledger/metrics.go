package ledger

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	appends       prometheus.Counter
	failures      prometheus.Counter
	batchSize     prometheus.Histogram
	commitSeconds prometheus.Histogram
	size          prometheus.Gauge
}

func newMetrics(l *Ledger, reg prometheus.Registerer) *metrics {
	m := &metrics{
		appends: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mirror_ledger_appends_total", Help: "Entries durably appended to the ledger.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mirror_ledger_append_failures_total", Help: "Append requests refused because the ledger could not record them.",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "mirror_ledger_batch_entries", Help: "Entries per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "mirror_ledger_commit_seconds", Help: "Time to write and fsync one group commit.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		size: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mirror_ledger_size", Help: "Acknowledged entries in the ledger.",
		}),
	}
	if reg == nil {
		return m
	}
	reg.MustRegister(m.appends, m.failures, m.batchSize, m.commitSeconds, m.size,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mirror_ledger_checkpoint_size", Help: "Entries covered by the latest signed checkpoint.",
		}, func() float64 { return float64(l.Health().CheckpointSize) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mirror_ledger_checkpoint_age_seconds", Help: "Seconds since the latest checkpoint was signed (0 before the first of this run).",
		}, func() float64 {
			t := l.Health().CheckpointTime
			if t.IsZero() {
				return 0
			}
			return time.Since(t).Seconds()
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mirror_ledger_healthy", Help: "1 when the ledger can record, 0 when it refuses appends.",
		}, func() float64 {
			if l.Health().OK {
				return 1
			}
			return 0
		}),
	)
	return m
}
