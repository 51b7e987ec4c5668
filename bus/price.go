package bus

import (
	"fmt"
	"strings"
)

// Price is what a model costs, in micro-USD per million tokens (so that
// sums stay exact integers).
type Price struct {
	InputMicrosPerMTok  int64 `toml:"input"`  // per million prompt tokens not served from cache
	CachedMicrosPerMTok int64 `toml:"cached"` // per million cached prompt tokens
	OutputMicrosPerMTok int64 `toml:"output"` // per million completion tokens
}

// USD builds a Price from dollars per million tokens.
func USD(input, cached, output float64) Price {
	return Price{int64(input * 1e6), int64(cached * 1e6), int64(output * 1e6)}
}

// Cost is what usage costs at this price, in micro-USD, rounded up.
func (p Price) Cost(u Usage) int64 {
	cached := min(u.CachedTokens, u.PromptTokens)
	fresh := int64(u.PromptTokens - cached)
	total := fresh*p.InputMicrosPerMTok + int64(cached)*p.CachedMicrosPerMTok + int64(u.CompletionTokens)*p.OutputMicrosPerMTok
	return (total + 999_999) / 1_000_000
}

// PriceTable maps "provider/model" to prices. A model is matched exactly,
// then by the longest configured prefix ending in "*" ("anthropic/claude-sonnet-*").
// Local providers cost nothing.
type PriceTable struct {
	exact  map[string]Price
	prefix map[string]Price
}

// DefaultPrices are list prices of well-known models (USD per million
// tokens: input, cached input, output) as published by their vendors;
// config overrides them.
func DefaultPrices() *PriceTable {
	t := &PriceTable{exact: map[string]Price{}, prefix: map[string]Price{}}
	for k, v := range map[string]Price{
		"openai/gpt-4o*":                   USD(2.50, 1.25, 10),
		"openai/gpt-4o-mini*":              USD(0.15, 0.075, 0.60),
		"openai/gpt-4.1*":                  USD(2, 0.50, 8),
		"openai/gpt-4.1-mini*":             USD(0.40, 0.10, 1.60),
		"openai/gpt-4.1-nano*":             USD(0.10, 0.025, 0.40),
		"openai/o3*":                       USD(2, 0.50, 8),
		"openai/o4-mini*":                  USD(1.10, 0.275, 4.40),
		"anthropic/claude-opus-4*":         USD(15, 1.50, 75),
		"anthropic/claude-sonnet-4*":       USD(3, 0.30, 15),
		"anthropic/claude-3-5-haiku*":      USD(0.80, 0.08, 4),
		"anthropic/claude-haiku-4*":        USD(1, 0.10, 5),
		"gemini/gemini-2.5-pro*":           USD(1.25, 0.31, 10),
		"gemini/gemini-2.5-flash*":         USD(0.30, 0.075, 2.50),
		"groq/llama-3.3-70b*":              USD(0.59, 0.59, 0.79),
		"mistral/mistral-large*":           USD(2, 2, 6),
		"deepseek/deepseek-chat*":          USD(0.27, 0.07, 1.10),
		"deepseek/deepseek-reasoner*":      USD(0.55, 0.14, 2.19),
		"openrouter/openai/gpt-4o-mini*":   USD(0.15, 0.075, 0.60),
		"openrouter/anthropic/claude-3.5*": USD(3, 0.30, 15),
	} {
		t.Set(k, v)
	}
	return t
}

// Set adds or replaces a price; a key ending in "*" is a prefix.
func (t *PriceTable) Set(key string, p Price) {
	if k, ok := strings.CutSuffix(key, "*"); ok {
		t.prefix[k] = p
		return
	}
	t.exact[key] = p
}

// Lookup finds the price of a target. Local targets are free; an unknown
// cloud model reports ok=false so that the caller can refuse or use a
// configured fallback price rather than pretend it is free.
func (t *PriceTable) Lookup(target Target) (Price, bool) {
	if target.Local {
		return Price{}, true
	}
	key := target.Key()
	if p, ok := t.exact[key]; ok {
		return p, true
	}
	best, found := "", false
	for k := range t.prefix {
		if strings.HasPrefix(key, k) && len(k) > len(best) {
			best, found = k, true
		}
	}
	if found {
		return t.prefix[best], true
	}
	return Price{}, false
}

// Estimate is the reservation for a call before it runs: the prompt's
// estimated tokens plus the output cap. An agent's very large max_tokens
// (Claude Code sends 128,000) is capped at outputCap, so a reservation does
// not lock up a budget; the call is settled on the usage the provider
// reports.
func (t *PriceTable) Estimate(target Target, promptTokens, maxTokens, outputCap int) (int64, error) {
	p, ok := t.Lookup(target)
	if !ok {
		return 0, fmt.Errorf("no price is known for %s; set one under [prices] in config.toml", target.Key())
	}
	out := maxTokens
	if out <= 0 || out > outputCap {
		out = outputCap
	}
	return p.Cost(Usage{PromptTokens: promptTokens, CompletionTokens: out}), nil
}

// EstimateTokens is a cheap prompt-size estimate: about four bytes of text
// per token, rounded up, plus a little per message.
func EstimateTokens(req Request) int {
	n := len(req.System)
	for _, m := range req.Messages {
		n += 16
		for _, p := range m.Content {
			n += len(p.Text)
			if p.Type == ImagePart {
				n += 4 * 1000 // images: about a thousand tokens each
			}
		}
		for _, c := range m.ToolCalls {
			n += len(c.Name) + len(c.Arguments)
		}
	}
	for _, tl := range req.Tools {
		n += len(tl.Name) + len(tl.Description) + len(tl.Parameters)
	}
	return (n + 3) / 4
}
