package kernel

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/mirroros/mirror/bus"
	"github.com/mirroros/mirror/bus/anthropic"
	"github.com/mirroros/mirror/bus/gemini"
	"github.com/mirroros/mirror/bus/ollama"
	"github.com/mirroros/mirror/bus/openai"
	"github.com/mirroros/mirror/config"
)

// newUpstreamTransport is the transport every adapter of one kernel shares.
// Go's default transport keeps two idle connections per host, so under
// concurrency nearly every call opened a new connection to the provider;
// keep enough for the load the kernel takes. The client has no timeout:
// calls are bounded by their contexts, and streams may run long.
func newUpstreamTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 5 * time.Minute,
		ExpectContinueTimeout: time.Second,
	}
}

// newProvider builds the adapter for a provider's wire protocol.
func newProvider(p config.Provider, c *http.Client) (bus.Provider, error) {
	switch p.Kind {
	case "ollama":
		return ollama.New(ollama.Config{Name: p.Name, BaseURL: p.BaseURL, HTTPClient: c}), nil
	case "openai":
		return openai.New(openai.Config{Name: p.Name, BaseURL: p.BaseURL, APIKey: p.APIKey, Local: p.Local, HTTPClient: c}), nil
	case "anthropic":
		return anthropic.New(anthropic.Config{Name: p.Name, BaseURL: p.BaseURL, APIKey: p.APIKey, HTTPClient: c}), nil
	case "gemini":
		return gemini.New(gemini.Config{Name: p.Name, BaseURL: p.BaseURL, APIKey: p.APIKey, HTTPClient: c}), nil
	}
	return nil, fmt.Errorf("provider %s: unknown kind %q", p.Name, p.Kind)
}

// ModelInfo is a model the bus can route to, for `mirror models` and
// GET /v1/models.
type ModelInfo struct {
	ID       string        `json:"id"` // provider/model
	Provider string        `json:"provider"`
	Model    string        `json:"model"`
	Local    bool          `json:"local"`
	Tier     int           `json:"tier"`
	Context  int           `json:"context,omitempty"`
	Price    *config.Price `json:"price_usd_per_mtok,omitempty"` // nil: unknown (a cloud call to it is refused until priced)
	Health   *bus.Health   `json:"health,omitempty"`
	Aliases  []string      `json:"aliases,omitempty"`
}

// catalog lists the providers' models, refreshed in the background.
type catalog struct {
	sys *System

	mu      sync.RWMutex
	models  map[string][]bus.Model // provider → models
	errs    map[string]string      // provider → why listing failed
	updated time.Time

	once  sync.Once
	first chan struct{} // closed after the first listing
}

// startBus builds the providers, the router and the model catalog.
func (s *System) startBus(ctx context.Context) error {
	s.Providers = DiscoverProviders(s.Config, os.Getenv)
	s.Router = bus.NewRouter(bus.BreakerConfig{}, nil)
	s.Prices = bus.DefaultPrices()
	for model, p := range s.Config.Prices {
		s.Prices.Set(model, bus.USD(p.Input, p.Cached, p.Output))
	}
	s.upstream = newUpstreamTransport()
	hc := &http.Client{Transport: s.upstream}
	for _, p := range s.Providers {
		prov, err := newProvider(p, hc)
		if err != nil {
			return err
		}
		s.Router.AddProvider(prov, p.Local, p.Tier)
		if p.RPM > 0 || p.TPM > 0 {
			s.Router.SetLimits(p.Name, p.RPM, p.TPM)
		}
	}
	for alias, targets := range s.Config.Aliases {
		if err := s.Router.SetAlias(alias, targets); err != nil {
			return fmt.Errorf("config: aliases.%s: %w", alias, err)
		}
	}
	s.catalog = &catalog{sys: s, models: map[string][]bus.Model{}, errs: map[string]string{}, first: make(chan struct{})}
	s.Metrics.MustRegister(newBusCollector(s.Router))
	// The first listing runs at start, in the background (a provider that
	// is down must not delay the kernel); later ones every modelsEvery.
	s.pending.Add(1)
	go func() {
		defer s.pending.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.catalog.refresh(ctx)
	}()
	return nil
}

// modelsEvery is how often the providers' model lists are fetched again.
const modelsEvery = 5 * time.Minute

// refresh lists every provider's models, each with a short timeout.
func (c *catalog) refresh(ctx context.Context) {
	type result struct {
		name   string
		models []bus.Model
		err    error
	}
	results := make(chan result, len(c.sys.Providers))
	for _, p := range c.sys.Providers {
		go func(p config.Provider) {
			prov := c.sys.Router.Provider(p.Name)
			if prov == nil {
				results <- result{name: p.Name, err: fmt.Errorf("provider %s is not registered", p.Name)}
				return
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			ms, err := prov.Models(cctx)
			results <- result{name: p.Name, models: ms, err: err}
		}(p)
	}
	models, errs := map[string][]bus.Model{}, map[string]string{}
	for range c.sys.Providers {
		r := <-results
		if r.err != nil {
			errs[r.name] = r.err.Error()
			continue
		}
		models[r.name] = r.models
	}
	c.mu.Lock()
	c.models, c.errs, c.updated = models, errs, time.Now()
	c.mu.Unlock()
	c.sys.setImplicitAliases()
	c.once.Do(func() { close(c.first) })
}

// Models lists the routable models and the providers that could not be
// listed, with why.
func (s *System) Models(ctx context.Context, refresh bool) ([]ModelInfo, map[string]string) {
	if s.catalog == nil {
		return nil, nil
	}
	s.catalog.mu.RLock()
	stale := s.catalog.updated.IsZero() || time.Since(s.catalog.updated) > 2*modelsEvery
	s.catalog.mu.RUnlock()
	if refresh || stale {
		s.catalog.refresh(ctx)
	}
	health := map[string]bus.Health{}
	for _, h := range s.Router.Health() {
		health[h.Key()] = h
	}
	aliases := map[string][]string{}
	for alias, targets := range s.Config.Aliases {
		for _, t := range targets {
			aliases[t] = append(aliases[t], alias)
		}
	}
	s.catalog.mu.RLock()
	defer s.catalog.mu.RUnlock()
	var out []ModelInfo
	for _, p := range s.Providers {
		for _, m := range s.catalog.models[p.Name] {
			t := bus.Target{Provider: p.Name, Model: m.ID, Local: p.Local || m.Local, Tier: p.Tier}
			mi := ModelInfo{ID: t.Key(), Provider: p.Name, Model: m.ID, Local: t.Local, Tier: t.Tier, Context: m.Context, Aliases: aliases[t.Key()]}
			if price, ok := s.Prices.Lookup(t); ok {
				mi.Price = &config.Price{Input: float64(price.InputMicrosPerMTok) / 1e6, Cached: float64(price.CachedMicrosPerMTok) / 1e6, Output: float64(price.OutputMicrosPerMTok) / 1e6}
			}
			if h, ok := health[t.Key()]; ok {
				mi.Health = &h
			}
			out = append(out, mi)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Tier != out[j].Tier {
			return out[i].Tier < out[j].Tier
		}
		return out[i].ID < out[j].ID
	})
	errs := make(map[string]string, len(s.catalog.errs))
	for k, v := range s.catalog.errs {
		errs[k] = v
	}
	return out, errs
}

// vendorDefault is the model the implicit "default" alias uses on a cloud
// vendor when no local model is available: a fast, inexpensive general one.
var vendorDefault = map[string]string{
	"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.5-flash",
	"groq": "llama-3.3-70b-versatile", "mistral": "mistral-small-latest", "deepseek": "deepseek-chat",
	"openrouter": "openai/gpt-4o-mini",
}

// setImplicitAliases gives "local" and "default" a meaning when the config
// does not: "local" is the first model of the first local provider that
// lists one; "default" is that, then each cloud vendor's default model, in
// tier order. It runs after every model listing.
func (s *System) setImplicitAliases() {
	s.catalog.mu.RLock()
	var local, cloud []string
	for _, p := range s.Providers {
		ms := s.catalog.models[p.Name]
		if p.Local && len(ms) > 0 {
			ids := make([]string, 0, len(ms))
			for _, m := range ms {
				ids = append(ids, m.ID)
			}
			sort.Strings(ids)
			local = append(local, p.Name+"/"+ids[0])
		}
		if !p.Local {
			if m, ok := vendorDefault[p.Name]; ok {
				cloud = append(cloud, p.Name+"/"+m)
			}
		}
	}
	s.catalog.mu.RUnlock()
	set := func(alias string, targets []string) {
		if _, configured := s.Config.Aliases[alias]; configured || len(targets) == 0 {
			return
		}
		if err := s.Router.SetAlias(alias, targets); err != nil {
			s.Log.Warn("implicit alias not set", "alias", alias, "err", err.Error())
			return
		}
		s.implicitMu.Lock()
		if s.implicit == nil {
			s.implicit = map[string]bool{}
		}
		s.implicit[alias] = true
		s.implicitMu.Unlock()
	}
	if len(local) > 0 {
		set("local", local[:1])
	}
	set("default", append(local[:min(len(local), 1):min(len(local), 1)], cloud...))
}

// hasImplicit reports whether an implicit alias is set.
func (s *System) hasImplicit(alias string) bool {
	s.implicitMu.Lock()
	defer s.implicitMu.Unlock()
	return s.implicit[alias]
}
