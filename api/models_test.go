package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mirroros/mirror/api"
	"github.com/mirroros/mirror/config"
	"github.com/mirroros/mirror/kernel"
)

// TestModelsListsDiscoveredAndConfiguredProviders runs the kernel with a
// fake Ollama (found through OLLAMA_HOST), a configured OpenAI-compatible
// server and a configured provider that is down.
func TestModelsListsDiscoveredAndConfiguredProviders(t *testing.T) {
	ollama := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/tags" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"models":[{"name":"llama3.2:latest","model":"llama3.2:latest","size":2019393189,"digest":"a80c4f17acd5","details":{"family":"llama"}}]}`))
	}))
	defer ollama.Close()
	lm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/models" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1,"owned_by":"system"}]}`))
	}))
	defer lm.Close()
	t.Setenv("OLLAMA_HOST", ollama.URL)
	for _, k := range []string{"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GROQ_API_KEY", "MISTRAL_API_KEY", "DEEPSEEK_API_KEY", "OPENROUTER_API_KEY"} {
		t.Setenv(k, "")
	}
	cfg := config.Default()
	cfg.Providers = []config.Provider{
		{Name: "cloudish", Kind: "openai", BaseURL: strings.Replace(lm.URL, "127.0.0.1", "localhost", 1) + "/v1", APIKey: "sk-secret-test-key", Tier: 2},
		{Name: "down", Kind: "anthropic", BaseURL: "http://127.0.0.1:1", APIKey: "sk-ant-secret"},
	}
	cfg.Aliases = map[string][]string{"default": {"ollama/llama3.2:latest", "cloudish/gpt-4o-mini"}}
	dir := t.TempDir()
	sys, err := kernel.Open(context.Background(), dir, cfg, kernel.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(sys))
	defer func() { srv.Close(); sys.Close(context.Background()) }()
	raw, _ := os.ReadFile(filepath.Join(dir, kernel.OwnerTokenFile))
	req, _ := http.NewRequest("GET", srv.URL+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(raw)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Object string `json:"object"`
		Data   []struct {
			ID      string                           `json:"id"`
			Object  string                           `json:"object"`
			OwnedBy string                           `json:"owned_by"`
			Local   bool                             `json:"local"`
			Tier    int                              `json:"tier"`
			Aliases []string                         `json:"aliases"`
			Price   *struct{ Input, Output float64 } `json:"price_usd_per_mtok"`
		} `json:"data"`
		Unavailable map[string]string `json:"unavailable"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for i, d := range body.Data {
		got[d.ID] = i
	}
	o, ok := got["ollama/llama3.2:latest"]
	if !ok || !body.Data[o].Local || body.Data[o].Tier != 0 || body.Data[o].Price == nil || body.Data[o].Price.Input != 0 || len(body.Data[o].Aliases) != 1 {
		t.Fatalf("ollama model: %+v", body)
	}
	c, ok := got["cloudish/gpt-4o-mini"]
	if !ok || !body.Data[c].Local { // a loopback base URL counts as local
		t.Fatalf("configured provider: %+v", body)
	}
	if _, ok := got["default"]; !ok || body.Object != "list" {
		t.Fatalf("aliases are listed: %+v", body)
	}
	if why := body.Unavailable["down"]; why == "" || strings.Contains(why, "sk-ant-secret") {
		t.Fatalf("the down provider: %q", why)
	}
}
