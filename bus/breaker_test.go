package bus

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

type testClock struct{ ns atomic.Int64 }

func newClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *testClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *testClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

var unavailable = &Error{Provider: "p", Status: 503, Kind: Unavailable, Message: "overloaded"}

func TestBreakerOpensOnConsecutiveFailuresAndSaysWhy(t *testing.T) {
	c := newClock()
	b := NewBreaker(BreakerConfig{ConsecutiveFailures: 3, Cooldown: 10 * time.Second}, c.now)
	for i := 0; i < 3; i++ {
		if ok, _ := b.Allow(); !ok {
			t.Fatalf("refused call %d while closed", i)
		}
		b.Record(unavailable)
	}
	ok, why := b.Allow()
	if ok || !strings.Contains(why, "3 consecutive failures") || !strings.Contains(why, "overloaded") {
		t.Fatalf("allow = %v, %q", ok, why)
	}
	if s := b.Status(); s.State != Open || s.Until.Sub(s.Since) != 10*time.Second {
		t.Fatalf("status %+v", s)
	}
}

func TestBreakerProbesAfterCooldownAndBacksOff(t *testing.T) {
	c := newClock()
	b := NewBreaker(BreakerConfig{ConsecutiveFailures: 1, Cooldown: 10 * time.Second, MaxCooldown: 30 * time.Second}, c.now)
	b.Allow()
	b.Record(unavailable)
	c.advance(10 * time.Second)
	if ok, _ := b.Allow(); !ok {
		t.Fatal("no probe after the cooldown")
	}
	if ok, why := b.Allow(); ok || !strings.Contains(why, "probe") {
		t.Fatalf("a second call went while the probe was in flight: %q", why)
	}
	b.Record(unavailable) // the probe failed: reopen for twice as long
	if s := b.Status(); s.State != Open || s.Until.Sub(s.Since) != 20*time.Second {
		t.Fatalf("after a failed probe: %+v", s)
	}
	c.advance(20 * time.Second)
	b.Allow()
	b.Record(nil)
	if s := b.Status(); s.State != Closed || s.Reason != "" {
		t.Fatalf("after a good probe: %+v", s)
	}
}

func TestBreakerOpensOnFailureRate(t *testing.T) {
	c := newClock()
	b := NewBreaker(BreakerConfig{ConsecutiveFailures: 100, MinCalls: 10, FailureRate: 0.5}, c.now)
	for i := 0; i < 10; i++ {
		b.Allow()
		if i%2 == 1 {
			b.Record(unavailable)
		} else {
			b.Record(nil)
		}
		c.advance(time.Second)
	}
	if s := b.Status(); s.State != Open || !strings.Contains(s.Reason, "5 of the last 10") {
		t.Fatalf("status %+v", s)
	}
}

func TestBreakerIgnoresTheCallersOwnMistakes(t *testing.T) {
	b := NewBreaker(BreakerConfig{ConsecutiveFailures: 1}, nil)
	b.Allow()
	b.Record(&Error{Provider: "p", Status: 400, Kind: BadRequest})
	b.Record(&Error{Provider: "p", Status: 401, Kind: AuthFailed})
	if s := b.Status(); s.State != Closed {
		t.Fatalf("a bad request opened the breaker: %+v", s)
	}
	b.Record(errors.New("dial tcp: connection refused"))
	if s := b.Status(); s.State != Open {
		t.Fatalf("a transport error did not count: %+v", s)
	}
}
