package main

import (
	"math"
	"testing"
)

func TestCommitStatsFromHistogramDeltas(t *testing.T) {
	bounds := []float64{0.001, 0.002, 0.004, math.Inf(1)}
	before := commitHist{bounds: bounds, counts: []uint64{10, 10, 10, 10}}
	// 1,000 new commits: 985 under 1 ms, 10 under 2 ms, 5 under 4 ms.
	after := commitHist{bounds: bounds, counts: []uint64{995, 1005, 1010, 1010}}
	s := after.since(before)
	if s.n != 1000 || s.p99 != 0.002 || s.worst != 0.004 {
		t.Fatalf("%+v", s)
	}
	if got := s.ms(s.worst); got != "≤ 4.0" {
		t.Fatalf("worst renders as %q", got)
	}
	after.counts[3] = 1011 // one slower than every bucket
	if s := after.since(before); !math.IsInf(s.worst, 1) || s.ms(s.worst) != "> 4096" {
		t.Fatalf("%+v", s)
	}
	if s := after.since(commitHist{}); s.n != 0 || s.ms(s.p99) != "—" {
		t.Fatalf("no snapshot before: %+v", s)
	}
}
