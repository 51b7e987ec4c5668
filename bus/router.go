package bus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Target is one concrete model on one provider.
type Target struct {
	Provider string `json:"provider"`
	Model    string `json:"model"`
	Local    bool   `json:"local"` // runs on this machine: tier 0, secrets may go here
	Tier     int    `json:"tier"`  // 0 local, then cloud tiers in order of preference
}

// Key is "provider/model".
func (t Target) Key() string { return t.Provider + "/" + t.Model }

// Attempt records one try of a routed call, for the audit entry.
type Attempt struct {
	Provider string        `json:"provider"`
	Model    string        `json:"model"`
	Status   int           `json:"status,omitempty"`
	Error    string        `json:"error,omitempty"`
	Skipped  string        `json:"skipped,omitempty"` // why it was not tried (breaker open, rate limited)
	Latency  time.Duration `json:"latency"`
}

// Errors of routing itself.
var (
	ErrNoLocal      = errors.New("no local model is available, and this request may not leave the machine")
	ErrUnknownModel = errors.New("unknown model")
	ErrAllFailed    = errors.New("every candidate model failed")
)

// Router chooses targets for a model name and calls them with fallback.
// It is safe for concurrent use.
type Router struct {
	now       func() time.Time
	mu        sync.RWMutex
	providers map[string]Provider
	local     map[string]bool     // provider name → local
	tier      map[string]int      // provider name → tier
	aliases   map[string][]Target // alias → candidates in preferred order
	health    map[string]*targetHealth
	limits    map[string]*limits // provider → rate limits
	breakCfg  BreakerConfig
}

// limits are a provider's configured request and token rates.
type limits struct {
	rpm *rate.Limiter // requests per minute; nil: none
	tpm *rate.Limiter // tokens per minute (prompt estimate); nil: none
}

type targetHealth struct {
	breaker   *Breaker
	rel       Reliability
	mu        sync.Mutex
	notBefore time.Time // from Retry-After
}

// NewRouter returns an empty router. now may be nil (time.Now).
func NewRouter(cfg BreakerConfig, now func() time.Time) *Router {
	if now == nil {
		now = time.Now
	}
	return &Router{now: now, providers: map[string]Provider{}, local: map[string]bool{}, tier: map[string]int{},
		aliases: map[string][]Target{}, health: map[string]*targetHealth{}, limits: map[string]*limits{}, breakCfg: cfg}
}

// AddProvider registers a provider. Local providers are tier 0.
func (r *Router) AddProvider(p Provider, local bool, tier int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if local {
		tier = 0
	}
	r.providers[p.Name()], r.local[p.Name()], r.tier[p.Name()] = p, local, tier
}

// SetLimits caps a provider's requests and estimated prompt tokens per
// minute (0: no cap). A provider at its limit is skipped like one that
// answered 429, so the next candidate is tried.
func (r *Router) SetLimits(provider string, rpm, tpm int) {
	l := &limits{}
	if rpm > 0 {
		l.rpm = rate.NewLimiter(rate.Limit(float64(rpm)/60), max(1, rpm/10))
	}
	if tpm > 0 {
		l.tpm = rate.NewLimiter(rate.Limit(float64(tpm)/60), max(1, tpm/10))
	}
	r.mu.Lock()
	r.limits[provider] = l
	r.mu.Unlock()
}

// SetAlias names an ordered list of "provider/model" candidates.
func (r *Router) SetAlias(alias string, candidates []string) error {
	var ts []Target
	for _, c := range candidates {
		t, err := r.target(c)
		if err != nil {
			return fmt.Errorf("alias %s: %w", alias, err)
		}
		ts = append(ts, t)
	}
	r.mu.Lock()
	r.aliases[alias] = ts
	r.mu.Unlock()
	return nil
}

func (r *Router) target(name string) (Target, error) {
	prov, model, ok := strings.Cut(name, "/")
	if !ok || model == "" {
		return Target{}, fmt.Errorf("%w: %q is not provider/model", ErrUnknownModel, name)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if _, ok := r.providers[prov]; !ok {
		return Target{}, fmt.Errorf("%w: no provider %q", ErrUnknownModel, prov)
	}
	return Target{Provider: prov, Model: model, Local: r.local[prov], Tier: r.tier[prov]}, nil
}

// Resolve turns a model name — an alias or "provider/model" — into the
// candidates to try, in order. With localOnly, only local targets remain,
// and none is ErrNoLocal: such a request never goes to the cloud.
func (r *Router) Resolve(name string, localOnly bool) ([]Target, error) {
	r.mu.RLock()
	ts, isAlias := r.aliases[name]
	r.mu.RUnlock()
	if !isAlias {
		t, err := r.target(name)
		if err != nil {
			return nil, err
		}
		ts = []Target{t}
	}
	var out []Target
	for _, t := range ts {
		if localOnly && !t.Local {
			continue
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		if localOnly {
			return nil, ErrNoLocal
		}
		return nil, fmt.Errorf("%w: %q has no candidates", ErrUnknownModel, name)
	}
	// Within a tier, prefer the better-proven model; the configured order
	// breaks ties. Tiers themselves stay in order: local first.
	if len(out) == 1 {
		return out, nil
	}
	now := r.now()
	lower := make(map[string]float64, len(out))
	for _, t := range out {
		lower[t.Key()] = r.healthOf(t).rel.lower(now)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Tier != out[j].Tier {
			return out[i].Tier < out[j].Tier
		}
		return lower[out[i].Key()] > lower[out[j].Key()]+0.05
	})
	return out, nil
}

func (r *Router) healthOf(t Target) *targetHealth {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok := r.health[t.Key()]
	if !ok {
		h = &targetHealth{breaker: NewBreaker(r.breakCfg, r.now)}
		r.health[t.Key()] = h
	}
	return h
}

// admit says whether a target may be tried now, and why not.
func (r *Router) admit(t Target, tokens int) (bool, string) {
	r.mu.RLock()
	l := r.limits[t.Provider]
	r.mu.RUnlock()
	if l != nil {
		now := r.now()
		if l.rpm != nil && !l.rpm.AllowN(now, 1) {
			return false, "provider request rate limit (rpm) reached"
		}
		if l.tpm != nil && !l.tpm.AllowN(now, min(tokens, l.tpm.Burst())) {
			return false, "provider token rate limit (tpm) reached"
		}
	}
	h := r.healthOf(t)
	h.mu.Lock()
	nb := h.notBefore
	h.mu.Unlock()
	if now := r.now(); now.Before(nb) {
		return false, fmt.Sprintf("rate limited for %s more (Retry-After)", nb.Sub(now).Round(time.Second))
	}
	return h.breaker.Allow()
}

func (r *Router) record(t Target, err error) {
	h := r.healthOf(t)
	h.breaker.Record(err)
	if e, ok := AsError(err); ok && !e.Retryable() && e.Kind != Malformed {
		return // the caller's mistake says nothing about the model
	}
	h.rel.Record(err == nil, r.now())
	if e, ok := AsError(err); ok && e.Kind == RateLimited && e.RetryAfter > 0 {
		h.mu.Lock()
		h.notBefore = r.now().Add(e.RetryAfter)
		h.mu.Unlock()
	}
}

// Provider returns a registered provider by name, or nil.
func (r *Router) Provider(name string) Provider { return r.provider(name) }

func (r *Router) provider(name string) Provider {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.providers[name]
}

func fallible(err error) bool {
	if e, ok := AsError(err); ok {
		return e.Retryable() || e.Kind == Malformed
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// Chat calls the targets in order until one answers. It falls back on rate
// limits, unavailability and malformed answers; a caller's bad request or a
// cancelled context ends the call at once.
func (r *Router) Chat(ctx context.Context, targets []Target, req Request) (Response, Target, []Attempt, error) {
	var attempts []Attempt
	var last error
	tokens := EstimateTokens(req)
	for _, t := range targets {
		if ok, why := r.admit(t, tokens); !ok {
			attempts = append(attempts, Attempt{Provider: t.Provider, Model: t.Model, Skipped: why})
			continue
		}
		req.Model = t.Model
		start := r.now()
		resp, err := r.provider(t.Provider).Chat(ctx, req)
		r.record(t, err)
		a := Attempt{Provider: t.Provider, Model: t.Model, Latency: r.now().Sub(start)}
		if err == nil {
			attempts = append(attempts, a)
			return resp, t, attempts, nil
		}
		a.Error = err.Error()
		if e, ok := AsError(err); ok {
			a.Status = e.Status
		}
		attempts = append(attempts, a)
		last = err
		if !fallible(err) || ctx.Err() != nil {
			return Response{}, t, attempts, err
		}
	}
	if last == nil {
		last = errors.New("every candidate is unavailable right now")
	}
	return Response{}, Target{}, attempts, fmt.Errorf("%w: %v", ErrAllFailed, last)
}

// ChatStream opens a stream on the first target that yields a first event.
// Failures before the first event fall back like Chat; after it, an error
// reaches the caller through the stream, never as a silent end.
func (r *Router) ChatStream(ctx context.Context, targets []Target, req Request) (Stream, Target, []Attempt, error) {
	var attempts []Attempt
	var last error
	tokens := EstimateTokens(req)
	for _, t := range targets {
		if ok, why := r.admit(t, tokens); !ok {
			attempts = append(attempts, Attempt{Provider: t.Provider, Model: t.Model, Skipped: why})
			continue
		}
		req.Model = t.Model
		start := r.now()
		s, err := r.provider(t.Provider).ChatStream(ctx, req)
		var first Event
		if err == nil {
			first, err = s.Next()
			if errors.Is(err, io.EOF) {
				err = &Error{Provider: t.Provider, Kind: Malformed, Message: "the stream ended before any event"}
			}
			if err != nil {
				s.Close()
			}
		}
		a := Attempt{Provider: t.Provider, Model: t.Model, Latency: r.now().Sub(start)}
		if err == nil {
			attempts = append(attempts, a)
			return &routedStream{r: r, t: t, inner: s, first: &first}, t, attempts, nil
		}
		r.record(t, err)
		a.Error = err.Error()
		if e, ok := AsError(err); ok {
			a.Status = e.Status
		}
		attempts = append(attempts, a)
		last = err
		if !fallible(err) || ctx.Err() != nil {
			return nil, t, attempts, err
		}
	}
	if last == nil {
		last = errors.New("every candidate is unavailable right now")
	}
	return nil, Target{}, attempts, fmt.Errorf("%w: %v", ErrAllFailed, last)
}

// routedStream replays the first event and records the stream's outcome
// for the breaker and the reliability score when it ends.
type routedStream struct {
	r        *Router
	t        Target
	inner    Stream
	first    *Event
	recorded bool
}

func (s *routedStream) Next() (Event, error) {
	if s.first != nil {
		ev := *s.first
		s.first = nil
		if ev.Type == Done {
			s.done(nil)
		}
		return ev, nil
	}
	ev, err := s.inner.Next()
	switch {
	case err == nil && ev.Type == Done:
		s.done(nil)
	case err != nil && !errors.Is(err, io.EOF):
		s.done(err)
	}
	return ev, err
}

func (s *routedStream) done(err error) {
	if !s.recorded {
		s.recorded = true
		s.r.record(s.t, err)
	}
}

func (s *routedStream) Close() error { return s.inner.Close() }

// Health is a target's breaker and reliability, for status pages.
type Health struct {
	Target
	Breaker     BreakerStatus `json:"breaker"`
	Reliability Score         `json:"reliability"`
}

// Health reports every target that has been used.
func (r *Router) Health() []Health {
	r.mu.RLock()
	keys := make([]string, 0, len(r.health))
	for k := range r.health {
		keys = append(keys, k)
	}
	r.mu.RUnlock()
	sort.Strings(keys)
	now := r.now()
	out := make([]Health, 0, len(keys))
	for _, k := range keys {
		t, err := r.target(k)
		if err != nil {
			continue
		}
		h := r.healthOf(t)
		out = append(out, Health{Target: t, Breaker: h.breaker.Status(), Reliability: h.rel.Score(now)})
	}
	return out
}
