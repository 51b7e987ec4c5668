package kernel

import (
	"net"
	"net/url"
	"sort"
	"strings"

	"github.com/mirroros/mirror/config"
)

// envProvider is a vendor found through its conventional environment
// variables.
type envProvider struct {
	name, kind, keyVar, baseVar, defaultBase string
}

var envProviders = []envProvider{
	{"openai", "openai", "OPENAI_API_KEY", "OPENAI_BASE_URL", "https://api.openai.com/v1"},
	{"anthropic", "anthropic", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "https://api.anthropic.com"},
	{"gemini", "gemini", "GEMINI_API_KEY", "", "https://generativelanguage.googleapis.com/v1beta"},
	{"groq", "openai", "GROQ_API_KEY", "", "https://api.groq.com/openai/v1"},
	{"mistral", "openai", "MISTRAL_API_KEY", "", "https://api.mistral.ai/v1"},
	{"deepseek", "openai", "DEEPSEEK_API_KEY", "", "https://api.deepseek.com/v1"},
	{"openrouter", "openai", "OPENROUTER_API_KEY", "", "https://openrouter.ai/api/v1"},
}

// DiscoverProviders is the providers the bus uses: Ollama (from OLLAMA_HOST,
// or its default port on this machine), every vendor whose key is in the
// environment, then the configured ones, which replace discovered ones of
// the same name. A provider whose base URL is on this machine is local.
func DiscoverProviders(cfg config.Config, getenv func(string) string) []config.Provider {
	found := map[string]config.Provider{}
	ollama := "http://127.0.0.1:11434"
	if h := strings.TrimSpace(getenv("OLLAMA_HOST")); h != "" {
		if !strings.Contains(h, "://") {
			h = "http://" + h
		}
		ollama = h
	}
	found["ollama"] = config.Provider{Name: "ollama", Kind: "ollama", BaseURL: ollama}
	for _, e := range envProviders {
		key := strings.TrimSpace(getenv(e.keyVar))
		if key == "" && e.name == "gemini" {
			key = strings.TrimSpace(getenv("GOOGLE_API_KEY"))
		}
		if key == "" {
			continue
		}
		base := e.defaultBase
		if e.baseVar != "" {
			if b := strings.TrimSpace(getenv(e.baseVar)); b != "" {
				base = b
			}
		}
		found[e.name] = config.Provider{Name: e.name, Kind: e.kind, BaseURL: base, APIKey: key, Tier: 1}
	}
	for _, p := range cfg.Providers {
		found[p.Name] = p
	}
	out := make([]config.Provider, 0, len(found))
	for _, p := range found {
		if isLoopbackURL(p.BaseURL) {
			p.Local = true
		}
		if p.Local {
			p.Tier = 0
		} else if p.Tier == 0 {
			p.Tier = 1
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Tier != out[j].Tier {
			return out[i].Tier < out[j].Tier
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func isLoopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
