package bus

import (
	"math"
	"sync"
	"time"
)

// Reliability is a time-decayed Beta estimate of how often a provider+model
// succeeds. Each outcome counts with a weight that halves every HalfLife, so
// old failures fade and a long clean record earns trust. Candidates are
// ranked by a lower credible bound, so a model with a handful of lucky
// calls does not outrank one with thousands of good ones.
type Reliability struct {
	HalfLife time.Duration // default 24h

	mu      sync.Mutex
	success float64 // decayed success weight
	failure float64 // decayed failure weight
	last    time.Time

	// The last lower bound computed for ranking and the weights it was
	// computed from: inverting the incomplete beta function costs
	// microseconds, and ranking happens on every call.
	memoA, memoB, memoLower float64
}

func (r *Reliability) decay(now time.Time) {
	h := r.HalfLife
	if h <= 0 {
		h = 24 * time.Hour
	}
	if !r.last.IsZero() && now.After(r.last) {
		f := math.Exp2(-float64(now.Sub(r.last)) / float64(h))
		r.success *= f
		r.failure *= f
	}
	if now.After(r.last) {
		r.last = now
	}
}

// Record counts one outcome at time now.
func (r *Reliability) Record(ok bool, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.decay(now)
	if ok {
		r.success++
	} else {
		r.failure++
	}
}

// Score is the estimate at time now: the mean and a lower credible bound
// (the 5th percentile of Beta(1+successes, 1+failures)).
type Score struct {
	Mean      float64 `json:"mean"`
	Lower     float64 `json:"lower"`
	Successes float64 `json:"successes"` // decayed
	Failures  float64 `json:"failures"`  // decayed
}

// Score returns the current estimate.
func (r *Reliability) Score(now time.Time) Score {
	r.mu.Lock()
	r.decay(now)
	a, b := 1+r.success, 1+r.failure
	s := Score{Successes: r.success, Failures: r.failure}
	r.mu.Unlock()
	s.Mean = a / (a + b)
	s.Lower = betaQuantile(0.05, a, b)
	return s
}

// lower is Score(now).Lower for ranking, reusing the last result while
// both weights are within 0.5 % of the ones it was computed from (the bound
// moves far less than the margin the router ranks with).
func (r *Reliability) lower(now time.Time) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.decay(now)
	a, b := 1+r.success, 1+r.failure
	if r.memoA > 0 && math.Abs(a-r.memoA) <= 0.005*r.memoA && math.Abs(b-r.memoB) <= 0.005*r.memoB {
		return r.memoLower
	}
	r.memoA, r.memoB, r.memoLower = a, b, betaQuantile(0.05, a, b)
	return r.memoLower
}

// BetaLower is the lower credible bound (the 5th percentile) of
// Beta(a, b): the score the router ranks by, for callers keeping their own
// decayed counts.
func BetaLower(a, b float64) float64 { return betaQuantile(0.05, a, b) }

// betaQuantile inverts the regularised incomplete beta function by
// bisection: plenty fast for ranking a handful of candidates.
func betaQuantile(p, a, b float64) float64 {
	lo, hi := 0.0, 1.0
	for i := 0; i < 60; i++ {
		mid := (lo + hi) / 2
		if regIncBeta(mid, a, b) < p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// regIncBeta is I_x(a, b), by the continued fraction (Lentz's method).
func regIncBeta(x, a, b float64) float64 {
	if x <= 0 {
		return 0
	}
	if x >= 1 {
		return 1
	}
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	front := math.Exp(lab - la - lb + a*math.Log(x) + b*math.Log(1-x))
	if x > (a+1)/(a+b+2) {
		return 1 - regIncBeta(1-x, b, a)
	}
	const tiny = 1e-300
	f, c, d := 1.0, 1.0, 0.0
	for i := 0; i <= 300; i++ {
		m := float64(i / 2)
		var num float64
		switch {
		case i == 0:
			num = 1
		case i%2 == 0:
			num = m * (b - m) * x / ((a + 2*m - 1) * (a + 2*m))
		default:
			num = -(a + m) * (a + b + m) * x / ((a + 2*m) * (a + 2*m + 1))
		}
		d = 1 + num*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		d = 1 / d
		c = 1 + num/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		cd := c * d
		f *= cd
		if math.Abs(1-cd) < 1e-12 {
			break
		}
	}
	return front * (f - 1) / a
}
