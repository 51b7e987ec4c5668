package bus

import (
	"fmt"
	"sync"
	"time"
)

// BreakerState is where a circuit breaker is.
type BreakerState string

// Breaker states.
const (
	Closed   BreakerState = "closed"    // calls flow
	Open     BreakerState = "open"      // calls are refused until the cooldown ends
	HalfOpen BreakerState = "half-open" // one probe call at a time decides
)

// BreakerConfig tunes a Breaker. Zero values take the defaults.
type BreakerConfig struct {
	ConsecutiveFailures int           // open after this many failures in a row (default 5)
	Window              time.Duration // error-rate window (default 1m)
	MinCalls            int           // calls in the window before the rate counts (default 20)
	FailureRate         float64       // open at this failure share of the window (default 0.5)
	Cooldown            time.Duration // first open period (default 15s); doubles each reopen
	MaxCooldown         time.Duration // default 5m
}

func (c *BreakerConfig) defaults() {
	if c.ConsecutiveFailures <= 0 {
		c.ConsecutiveFailures = 5
	}
	if c.Window <= 0 {
		c.Window = time.Minute
	}
	if c.MinCalls <= 0 {
		c.MinCalls = 20
	}
	if c.FailureRate <= 0 {
		c.FailureRate = 0.5
	}
	if c.Cooldown <= 0 {
		c.Cooldown = 15 * time.Second
	}
	if c.MaxCooldown <= 0 {
		c.MaxCooldown = 5 * time.Minute
	}
}

// Breaker is a circuit breaker for one provider+model that says why it is
// open. Only failures the router can route around count (rate limits,
// unavailability, malformed answers); a caller's bad request does not.
type Breaker struct {
	cfg BreakerConfig
	now func() time.Time

	mu          sync.Mutex
	state       BreakerState
	reason      string
	since       time.Time
	until       time.Time // open: when a probe may go
	cooldown    time.Duration
	consecutive int
	probing     bool
	window      []outcome
}

type outcome struct {
	at time.Time
	ok bool
}

// NewBreaker returns a closed breaker. now may be nil (time.Now).
func NewBreaker(cfg BreakerConfig, now func() time.Time) *Breaker {
	cfg.defaults()
	if now == nil {
		now = time.Now
	}
	return &Breaker{cfg: cfg, now: now, state: Closed, since: now(), cooldown: cfg.Cooldown}
}

// Allow reports whether a call may go now. In half-open state it admits
// one probe at a time; the caller must then call Record.
func (b *Breaker) Allow() (bool, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	switch b.state {
	case Open:
		if now.Before(b.until) {
			return false, fmt.Sprintf("circuit open for %s more: %s", b.until.Sub(now).Round(time.Second), b.reason)
		}
		b.state, b.since, b.probing = HalfOpen, now, true
		return true, ""
	case HalfOpen:
		if b.probing {
			return false, "circuit half-open: a probe call is in flight"
		}
		b.probing = true
		return true, ""
	}
	return true, ""
}

// Record reports the outcome of an allowed call. err is nil on success;
// errors that are not the provider's fault are ignored.
func (b *Breaker) Record(err error) {
	if err != nil {
		if e, ok := AsError(err); ok && !e.Retryable() && e.Kind != Malformed {
			return
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.window = append(b.window, outcome{at: now, ok: err == nil})
	cut := 0
	for cut < len(b.window) && now.Sub(b.window[cut].at) > b.cfg.Window {
		cut++
	}
	b.window = b.window[cut:]
	if err == nil {
		b.consecutive = 0
		if b.state == HalfOpen {
			b.state, b.reason, b.since, b.probing, b.cooldown = Closed, "", now, false, b.cfg.Cooldown
		}
		return
	}
	b.consecutive++
	switch {
	case b.state == HalfOpen:
		b.cooldown = min(2*b.cooldown, b.cfg.MaxCooldown)
		b.trip(now, "the probe call failed: "+err.Error())
	case b.consecutive >= b.cfg.ConsecutiveFailures:
		b.trip(now, fmt.Sprintf("%d consecutive failures, the last: %v", b.consecutive, err))
	default:
		failed := 0
		for _, o := range b.window {
			if !o.ok {
				failed++
			}
		}
		if len(b.window) >= b.cfg.MinCalls && float64(failed)/float64(len(b.window)) >= b.cfg.FailureRate {
			b.trip(now, fmt.Sprintf("%d of the last %d calls failed within %s, the last: %v", failed, len(b.window), b.cfg.Window, err))
		}
	}
}

func (b *Breaker) trip(now time.Time, reason string) {
	b.state, b.reason, b.since, b.until, b.probing = Open, reason, now, now.Add(b.cooldown), false
	b.window = b.window[:0]
}

// BreakerStatus is a breaker's state for status pages and metrics.
type BreakerStatus struct {
	State  BreakerState `json:"state"`
	Reason string       `json:"reason,omitempty"`
	Since  time.Time    `json:"since"`
	Until  time.Time    `json:"until,omitempty"` // open: when a probe may go
}

// Status reports the breaker's state and why.
func (b *Breaker) Status() BreakerStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := BreakerStatus{State: b.state, Reason: b.reason, Since: b.since}
	if b.state == Open {
		s.Until = b.until
	}
	return s
}
