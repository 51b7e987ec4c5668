package kernel

import (
	"testing"

	"github.com/mirroros/mirror/config"
)

func TestProvidersAreDiscoveredFromTheEnvironmentAndConfig(t *testing.T) {
	env := map[string]string{
		"OPENAI_API_KEY":    "sk-test",
		"ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9999",
		"GROQ_API_KEY": "gsk_test",
		"OLLAMA_HOST":  "10.0.0.5:11434",
	}
	cfg := config.Default()
	cfg.Providers = []config.Provider{{Name: "groq", Kind: "openai", BaseURL: "https://proxy.example/groq/v1", APIKey: "$GROQ_API_KEY", Tier: 2}}
	ps := DiscoverProviders(cfg, func(k string) string { return env[k] })
	byName := map[string]config.Provider{}
	for _, p := range ps {
		byName[p.Name] = p
	}
	if len(ps) != 4 {
		t.Fatalf("providers %+v", ps)
	}
	if o := byName["ollama"]; o.BaseURL != "http://10.0.0.5:11434" || o.Local {
		t.Fatalf("ollama on another host is not local: %+v", o)
	}
	if a := byName["anthropic"]; !a.Local || a.Tier != 0 || a.APIKey != "sk-ant-test" {
		t.Fatalf("a loopback base URL makes a provider local: %+v", a)
	}
	if o := byName["openai"]; o.Local || o.Tier != 1 || o.BaseURL != "https://api.openai.com/v1" {
		t.Fatalf("openai %+v", o)
	}
	if g := byName["groq"]; g.BaseURL != "https://proxy.example/groq/v1" || g.Tier != 2 {
		t.Fatalf("configured providers replace discovered ones: %+v", g)
	}
	if ps[0].Tier != 0 {
		t.Fatalf("local providers come first: %+v", ps)
	}
	none := DiscoverProviders(config.Default(), func(string) string { return "" })
	if len(none) != 1 || none[0].Name != "ollama" || !none[0].Local {
		t.Fatalf("with nothing set, only the local Ollama: %+v", none)
	}
}
