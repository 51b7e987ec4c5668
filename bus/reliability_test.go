package bus

import (
	"math"
	"testing"
	"time"
)

func TestRegIncBetaMatchesKnownValues(t *testing.T) {
	for _, c := range []struct{ x, a, b, want float64 }{
		{0.5, 1, 1, 0.5},       // uniform
		{0.3, 1, 1, 0.3},       // uniform
		{0.5, 2, 2, 0.5},       // symmetric
		{0.2, 2, 1, 0.04},      // x^2
		{0.2, 1, 2, 0.36},      // 1-(1-x)^2
		{0.9, 10, 1, 0.348678}, // x^10
	} {
		if got := regIncBeta(c.x, c.a, c.b); math.Abs(got-c.want) > 1e-5 {
			t.Errorf("I_%v(%v,%v) = %v, want %v", c.x, c.a, c.b, got, c.want)
		}
	}
}

func TestALongCleanRecordOutranksAFewLuckyCalls(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var veteran, newcomer Reliability
	for i := 0; i < 1000; i++ {
		veteran.Record(i%100 != 0, now) // 99% over 1000 calls
	}
	for i := 0; i < 3; i++ {
		newcomer.Record(true, now) // 3 of 3
	}
	v, n := veteran.Score(now), newcomer.Score(now)
	if n.Mean < v.Mean-0.25 || v.Lower <= n.Lower {
		t.Fatalf("veteran %+v, newcomer %+v: the lower bound should favour the long record", v, n)
	}
}

func TestOldFailuresFadeWithTheHalfLife(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := Reliability{HalfLife: time.Hour}
	for i := 0; i < 8; i++ {
		r.Record(false, now)
	}
	later := now.Add(3 * time.Hour)
	if s := r.Score(later); math.Abs(s.Failures-1) > 1e-9 {
		t.Fatalf("after three half-lives 8 failures should weigh 1, got %v", s.Failures)
	}
	for i := 0; i < 20; i++ {
		r.Record(true, later)
	}
	if s := r.Score(later); s.Mean < 0.9 {
		t.Fatalf("a recovered model still scores %v", s.Mean)
	}
}

func TestLowerBoundMemoTracksScore(t *testing.T) {
	var r Reliability
	now := time.Unix(1_700_000_000, 0)
	for i := range 500 {
		r.Record(i%10 != 0, now)
		now = now.Add(time.Minute)
		got, want := r.lower(now), r.Score(now).Lower
		if math.Abs(got-want) > 0.01 {
			t.Fatalf("after %d outcomes: memoised lower bound %.4f, exact %.4f", i+1, got, want)
		}
	}
}
