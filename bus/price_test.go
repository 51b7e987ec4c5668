package bus

import "testing"

func TestCostIsExactAndRoundsUp(t *testing.T) {
	p := USD(3, 0.30, 15) // per million tokens
	if got := p.Cost(Usage{PromptTokens: 1_000_000, CompletionTokens: 1_000_000}); got != 18_000_000 {
		t.Fatalf("cost %d micro-USD, want 18,000,000", got)
	}
	// 1,000 prompt tokens of which 800 cached, 10 output tokens.
	if got := p.Cost(Usage{PromptTokens: 1000, CachedTokens: 800, CompletionTokens: 10}); got != 600+240+150 {
		t.Fatalf("cost %d", got)
	}
	if got := p.Cost(Usage{PromptTokens: 1}); got != 3 {
		t.Fatalf("a single token costs %d micro-USD, want 3 (rounded up)", got)
	}
}

func TestLookupMatchesExactThenLongestPrefixAndLocalIsFree(t *testing.T) {
	tb := DefaultPrices()
	if p, ok := tb.Lookup(Target{Provider: "openai", Model: "gpt-4o-mini-2024-07-18"}); !ok || p != USD(0.15, 0.075, 0.60) {
		t.Fatalf("gpt-4o-mini should match its own prefix, not gpt-4o's: %+v %v", p, ok)
	}
	if p, ok := tb.Lookup(Target{Provider: "ollama", Model: "llama3.2", Local: true}); !ok || p != (Price{}) {
		t.Fatalf("local: %+v %v", p, ok)
	}
	if _, ok := tb.Lookup(Target{Provider: "openai", Model: "mystery"}); ok {
		t.Fatal("an unknown cloud model was priced")
	}
	tb.Set("openai/mystery", USD(1, 1, 1))
	if _, ok := tb.Lookup(Target{Provider: "openai", Model: "mystery"}); !ok {
		t.Fatal("a configured price was not found")
	}
}

func TestEstimateCapsAnAgentsHugeMaxTokens(t *testing.T) {
	tb := DefaultPrices()
	target := Target{Provider: "anthropic", Model: "claude-opus-4-1"}
	capped, err := tb.Estimate(target, 10_000, 128_000, 8_000)
	if err != nil {
		t.Fatal(err)
	}
	full := USD(15, 1.5, 75).Cost(Usage{PromptTokens: 10_000, CompletionTokens: 128_000})
	if capped >= full || capped != USD(15, 1.5, 75).Cost(Usage{PromptTokens: 10_000, CompletionTokens: 8_000}) {
		t.Fatalf("estimate %d (uncapped would be %d)", capped, full)
	}
	if _, err := tb.Estimate(Target{Provider: "x", Model: "y"}, 1, 1, 1); err == nil {
		t.Fatal("an unknown model was estimated")
	}
}

func TestEstimateTokensGrowsWithContent(t *testing.T) {
	small := EstimateTokens(Request{Messages: []Message{{Role: User, Content: []Part{{Type: TextPart, Text: "hi"}}}}})
	big := EstimateTokens(Request{System: string(make([]byte, 4000)), Messages: []Message{{Role: User, Content: []Part{{Type: TextPart, Text: "hi"}}}}})
	if small <= 0 || big < small+900 {
		t.Fatalf("small %d big %d", small, big)
	}
}
