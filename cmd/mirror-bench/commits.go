package main

import (
	"fmt"
	"math"

	"github.com/prometheus/client_golang/prometheus"
)

// commitHist is a snapshot of the kernel's ledger commit-latency
// histogram (mirror_ledger_commit_seconds: write and fsync of one group
// commit), so that a governed run's tail can be set beside what the disk
// did during it.
type commitHist struct {
	bounds []float64 // upper bounds, seconds; the last is +Inf
	counts []uint64  // cumulative
}

func snapshotCommits(reg prometheus.Gatherer) commitHist {
	var h commitHist
	fams, err := reg.Gather()
	if err != nil {
		return h
	}
	for _, f := range fams {
		if f.GetName() != "mirror_ledger_commit_seconds" || len(f.GetMetric()) == 0 {
			continue
		}
		hist := f.GetMetric()[0].GetHistogram()
		for _, b := range hist.GetBucket() {
			h.bounds = append(h.bounds, b.GetUpperBound())
			h.counts = append(h.counts, b.GetCumulativeCount())
		}
		h.bounds = append(h.bounds, math.Inf(1))
		h.counts = append(h.counts, hist.GetSampleCount())
	}
	return h
}

// commitStats is what the disk did during one run: group commits, and the
// bucket bounds holding their 99th percentile and their slowest.
type commitStats struct {
	n          uint64
	p99, worst float64 // seconds (bucket upper bounds); +Inf past the last bucket
}

func (after commitHist) since(before commitHist) commitStats {
	var s commitStats
	if len(after.counts) == 0 || len(before.counts) != len(after.counts) {
		return s
	}
	delta := make([]uint64, len(after.counts))
	for i := range delta {
		delta[i] = after.counts[i] - before.counts[i]
	}
	s.n = delta[len(delta)-1]
	if s.n == 0 {
		return s
	}
	for i, c := range delta {
		if s.p99 == 0 && float64(c) >= 0.99*float64(s.n) {
			s.p99 = after.bounds[i]
		}
		if c == s.n {
			s.worst = after.bounds[i]
			break
		}
	}
	return s
}

// ms renders a bucket bound: "≤ 2.0" ms, or "> 4096" past the last bucket.
func (s commitStats) ms(v float64) string {
	if s.n == 0 {
		return "—"
	}
	if math.IsInf(v, 1) {
		return "> 4096"
	}
	return fmt.Sprintf("≤ %.1f", v*1000)
}
