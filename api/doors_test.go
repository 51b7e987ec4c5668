package api_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mirroros/mirror/api"
	"github.com/mirroros/mirror/config"
	"github.com/mirroros/mirror/kernel"
	"github.com/mirroros/mirror/trust/lease"
)

type doorEnv struct {
	url, token string
	upstream   *atomic.Int64
	sys        *kernel.System
}

// newDoorEnv runs a kernel whose only model is a fake local Ollama that
// answers "Hello from the bus." in two pieces.
func newDoorEnv(t *testing.T, tweak ...func(*config.Config)) *doorEnv {
	calls := &atomic.Int64{}
	ol := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/tags":
			w.Write([]byte(`{"models":[{"name":"llama3.2","model":"llama3.2"}]}`))
		case "/api/embed":
			var req struct {
				Model string   `json:"model"`
				Input []string `json:"input"`
			}
			json.NewDecoder(r.Body).Decode(&req)
			vecs := make([]string, len(req.Input))
			for i := range vecs {
				vecs[i] = "[0.25,-0.5,1]"
			}
			fmt.Fprintf(w, `{"model":%q,"embeddings":[%s],"prompt_eval_count":%d}`, req.Model, strings.Join(vecs, ","), 3*len(req.Input))
		case "/api/chat":
			calls.Add(1)
			var req struct {
				Model  string `json:"model"`
				Stream *bool  `json:"stream"`
			}
			json.NewDecoder(r.Body).Decode(&req)
			line := func(content string, done bool) string {
				if done {
					return fmt.Sprintf(`{"model":%q,"created_at":"2026-01-01T00:00:00Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":7,"eval_count":5}`, req.Model)
				}
				return fmt.Sprintf(`{"model":%q,"created_at":"2026-01-01T00:00:00Z","message":{"role":"assistant","content":%q},"done":false}`, req.Model, content)
			}
			if req.Stream != nil && *req.Stream {
				fmt.Fprintln(w, line("Hello from ", false))
				fmt.Fprintln(w, line("the bus.", false))
				fmt.Fprintln(w, line("", true))
				return
			}
			fmt.Fprintf(w, `{"model":%q,"created_at":"2026-01-01T00:00:00Z","message":{"role":"assistant","content":"Hello from the bus."},"done":true,"done_reason":"stop","prompt_eval_count":7,"eval_count":5}`, req.Model)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(ol.Close)
	t.Setenv("OLLAMA_HOST", ol.URL)
	for _, k := range []string{"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GROQ_API_KEY", "MISTRAL_API_KEY", "DEEPSEEK_API_KEY", "OPENROUTER_API_KEY"} {
		t.Setenv(k, "")
	}
	cfg := config.Default()
	cfg.Aliases = map[string][]string{"default": {"ollama/llama3.2"}}
	for _, f := range tweak {
		f(&cfg)
	}
	dir := t.TempDir()
	sys, err := kernel.Open(context.Background(), dir, cfg, kernel.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(sys))
	t.Cleanup(func() { srv.Close(); sys.Close(context.Background()) })
	raw, _ := os.ReadFile(filepath.Join(dir, kernel.OwnerTokenFile))
	return &doorEnv{url: srv.URL, token: strings.TrimSpace(string(raw)), upstream: calls, sys: sys}
}

func (d *doorEnv) post(t *testing.T, path, body string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", d.url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func sseData(body string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

func TestFrontDoorsAnswerInTheirOwnProtocols(t *testing.T) {
	d := newDoorEnv(t)
	bearer := map[string]string{"Authorization": "Bearer " + d.token}
	userMsg := `[{"role":"user","content":"Say hello."}]`

	t.Run("OpenAI chat completions, whole", func(t *testing.T) {
		resp, b := d.post(t, "/v1/chat/completions", `{"model":"default","messages":`+userMsg+`}`, bearer)
		var out struct {
			Object  string `json:"object"`
			Model   string `json:"model"`
			Choices []struct {
				Message      struct{ Content string } `json:"message"`
				FinishReason string                   `json:"finish_reason"`
			} `json:"choices"`
			Usage struct{ PromptTokens, CompletionTokens int } `json:"usage"`
		}
		if resp.StatusCode != 200 || json.Unmarshal([]byte(b), &out) != nil || out.Object != "chat.completion" ||
			out.Choices[0].Message.Content != "Hello from the bus." || out.Choices[0].FinishReason != "stop" || out.Model != "default" {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
	})
	t.Run("OpenAI chat completions, streamed", func(t *testing.T) {
		resp, b := d.post(t, "/v1/chat/completions", `{"model":"ollama/llama3.2","stream":true,"messages":`+userMsg+`}`, bearer)
		data := sseData(b)
		if resp.StatusCode != 200 || len(data) < 3 || data[len(data)-1] != "[DONE]" || !strings.Contains(b, `"content":"the bus."`) {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
	})
	t.Run("Anthropic messages with x-api-key, streamed", func(t *testing.T) {
		resp, b := d.post(t, "/v1/messages", `{"model":"ollama/llama3.2","max_tokens":128000,"stream":true,"system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],"thinking":{"type":"adaptive"},"messages":`+userMsg+`}`,
			map[string]string{"x-api-key": d.token, "anthropic-version": "2023-06-01"})
		for _, ev := range []string{"event: message_start", "event: content_block_delta", "event: message_stop"} {
			if !strings.Contains(b, ev) {
				t.Fatalf("%d: no %q in\n%s", resp.StatusCode, ev, b)
			}
		}
	})
	t.Run("Responses API, streamed", func(t *testing.T) {
		resp, b := d.post(t, "/v1/responses", `{"model":"ollama/llama3.2","stream":true,"store":false,"input":[{"type":"message","role":"developer","content":"Be brief."},{"type":"message","role":"user","content":[{"type":"input_text","text":"Say hello."}]}]}`, bearer)
		if resp.StatusCode != 200 || !strings.Contains(b, "event: response.completed") || !strings.Contains(b, `"delta":"Hello from "`) {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
	})
	t.Run("Ollama chat streams NDJSON by default", func(t *testing.T) {
		resp, b := d.post(t, "/api/chat", `{"model":"ollama/llama3.2","messages":`+userMsg+`}`, bearer)
		lines := strings.Split(strings.TrimSpace(b), "\n")
		if resp.StatusCode != 200 || len(lines) < 2 || !strings.Contains(lines[len(lines)-1], `"done":true`) {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
	})
	t.Run("a bad key is refused in each door's own error shape", func(t *testing.T) {
		resp, b := d.post(t, "/v1/chat/completions", `{"model":"default","messages":`+userMsg+`}`, map[string]string{"Authorization": "Bearer nope"})
		if resp.StatusCode != 401 || !strings.Contains(b, `"type":"authentication_error"`) {
			t.Fatalf("openai: %d %s", resp.StatusCode, b)
		}
		resp, b = d.post(t, "/v1/messages", `{"model":"default","max_tokens":10,"messages":`+userMsg+`}`, map[string]string{"x-api-key": "nope"})
		if resp.StatusCode != 401 || !strings.Contains(b, `"type":"error"`) {
			t.Fatalf("anthropic: %d %s", resp.StatusCode, b)
		}
		resp, b = d.post(t, "/api/chat", `{"model":"default","messages":`+userMsg+`}`, nil)
		if resp.StatusCode != 401 || !strings.Contains(b, `"error"`) {
			t.Fatalf("ollama: %d %s", resp.StatusCode, b)
		}
	})
	t.Run("an unknown model is a 404 the client understands", func(t *testing.T) {
		resp, b := d.post(t, "/v1/chat/completions", `{"model":"nope/never","messages":`+userMsg+`}`, bearer)
		if resp.StatusCode != 404 || !strings.Contains(b, "model_not_found") {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
	})
	t.Run("embeddings go through the same door and policy", func(t *testing.T) {
		resp, b := d.post(t, "/v1/embeddings", `{"model":"ollama/llama3.2","input":["hello","world"]}`, bearer)
		var out struct {
			Object string `json:"object"`
			Data   []struct {
				Index     int       `json:"index"`
				Embedding []float64 `json:"embedding"`
			} `json:"data"`
		}
		if resp.StatusCode != 200 || json.Unmarshal([]byte(b), &out) != nil || len(out.Data) != 2 || len(out.Data[1].Embedding) != 3 || out.Data[1].Index != 1 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
	})
	if d.upstream.Load() != 5 {
		t.Fatalf("upstream calls %d, want 5 (refused requests never reach a provider)", d.upstream.Load())
	}
}

func TestStoredBodiesAreReadBackByTheirHashes(t *testing.T) {
	for _, stream := range []bool{false, true} {
		d := newDoorEnv(t, func(c *config.Config) { c.Audit.StoreBodies = true })
		body := fmt.Sprintf(`{"model":"ollama/llama3.2","stream":%v,"messages":[{"role":"user","content":"keep me"}]}`, stream)
		resp, _ := d.post(t, "/v1/chat/completions", body, map[string]string{"Authorization": "Bearer " + d.token})
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		var call struct {
			Body struct {
				Req    string `json:"request_sha256"`
				Resp   string `json:"response_sha256"`
				Stored bool   `json:"bodies_stored"`
			} `json:"body"`
		}
		ctx := context.Background()
		for deadline := time.Now().Add(10 * time.Second); call.Body.Req == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			d.sys.Ledger.Entries(ctx, 0, 1000, func(_ uint64, e []byte) error {
				if strings.Contains(string(e), `"kind":"model.call"`) {
					json.Unmarshal(e, &call)
				}
				return nil
			})
		}
		if !call.Body.Stored {
			t.Fatalf("stream=%v: the model.call entry does not say its bodies were stored: %+v", stream, call)
		}
		get := func(h string) (int, string) {
			req, _ := http.NewRequest("GET", d.url+"/v1/audit/bodies/"+h, nil)
			req.Header.Set("Authorization", "Bearer "+d.token)
			r, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Body.Close()
			b, _ := io.ReadAll(r.Body)
			return r.StatusCode, string(b)
		}
		if code, got := get(call.Body.Req); code != 200 || got != body {
			t.Fatalf("stream=%v: request body %d %q", stream, code, got)
		}
		code, got := get(call.Body.Resp)
		if code != 200 || !strings.Contains(got, "Hello from the bus.") {
			t.Fatalf("stream=%v: response body %d %q", stream, code, got)
		}
		if sum := sha256.Sum256([]byte(got)); hex.EncodeToString(sum[:]) != call.Body.Resp {
			t.Fatalf("the stored response does not hash to response_sha256")
		}
		if code, _ := get(strings.Repeat("ab", 32)); code != 404 {
			t.Fatalf("a missing body: %d", code)
		}
		if code, _ := get("nothex"); code != 400 {
			t.Fatalf("a malformed hash: %d", code)
		}
	}
}

// TestAnthropicDoorRefusalsAreNotLoginFailures: Claude Code treats any 403
// as "Please run /login", so a policy refusal on the Anthropic door is a
// 400 invalid_request_error whose message says what MirrorOS refused and
// why; the OpenAI door keeps its 403.
func TestAnthropicDoorRefusalsAreNotLoginFailures(t *testing.T) {
	d := newDoorEnv(t)
	ctx := context.Background()
	owner, err := d.sys.Authenticate(ctx, d.token)
	if err != nil {
		t.Fatal(err)
	}
	_, tok, err := d.sys.Leases.Grant(ctx, owner.Lease, lease.GrantRequest{Name: "tools-only", Scopes: []string{"tool:*"}, BudgetMicros: -1, BudgetTokens: -1})
	if err != nil {
		t.Fatal(err)
	}
	resp, body := d.post(t, "/v1/messages", `{"model":"ollama/llama3.2","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`,
		map[string]string{"x-api-key": tok, "anthropic-version": "2023-06-01"})
	if resp.StatusCode != 400 || !strings.Contains(body, `"type":"invalid_request_error"`) || !strings.Contains(body, "policy_block") || !strings.Contains(body, "no scope covering") {
		t.Fatalf("anthropic door: %d %s", resp.StatusCode, body)
	}
	resp, body = d.post(t, "/v1/chat/completions", `{"model":"ollama/llama3.2","messages":[{"role":"user","content":"hi"}]}`,
		map[string]string{"Authorization": "Bearer " + tok})
	if resp.StatusCode != 403 {
		t.Fatalf("openai door: %d %s", resp.StatusCode, body)
	}
	if d.upstream.Load() != 0 {
		t.Fatal("a refused call reached the upstream")
	}
}
