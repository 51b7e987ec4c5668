package agents_test

// Fake upstreams for the gateway tests (gateway_test.go): here the agents
// talk to the MirrorOS kernel, and the kernel talks to these. Unlike the
// scripted fakes of anthropic_test.go and openai_test.go they answer every
// turn with one plain text, and they record every request whole (method,
// path, query, headers, body), so that a test can prove what did and did
// not leave the kernel.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// upstreamRequest is one request as the upstream received it.
type upstreamRequest struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
}

func (r upstreamRequest) String() string { return r.Method + " " + r.Path }

// recorder keeps every request an upstream received.
type recorder struct {
	mu   sync.Mutex
	reqs []upstreamRequest
}

// record reads the body and keeps the whole request; it returns the body.
func (rc *recorder) record(r *http.Request) []byte {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.reqs = append(rc.reqs, upstreamRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	return body
}

func (rc *recorder) requests() []upstreamRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]upstreamRequest(nil), rc.reqs...)
}

// where lists every place s appears in any recorded request: a header (by
// name), the query string or the body.
func (rc *recorder) where(s string) []string {
	var out []string
	for i, r := range rc.requests() {
		for name, vs := range r.Header {
			for _, v := range vs {
				if strings.Contains(v, s) {
					out = append(out, fmt.Sprintf("request %d (%s): header %s", i, r, name))
				}
			}
		}
		if strings.Contains(r.Query, s) || strings.Contains(r.Path, s) {
			out = append(out, fmt.Sprintf("request %d (%s): URL", i, r))
		}
		if strings.Contains(string(r.Body), s) {
			out = append(out, fmt.Sprintf("request %d (%s): body", i, r))
		}
	}
	return out
}

// newServerOn starts h on host (an IP address; "" is 127.0.0.1).
func newServerOn(t *testing.T, host string, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	if host != "" {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatalf("listen on %s: %v", host, err)
		}
		srv.Listener.Close()
		srv.Listener = l
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// nonLoopbackIP is an IPv4 address of this machine that is not loopback, on
// which a test can listen: a server there is reachable without leaving the
// machine, yet MirrorOS does not count it as local. "" when there is none.
func nonLoopbackIP() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.IsLoopback() || n.IP.To4() == nil || n.IP.IsLinkLocalUnicast() {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(n.IP.String(), "0"))
		if err != nil {
			continue
		}
		l.Close()
		return n.IP.String()
	}
	return ""
}

// ---------------------------------------------------------------------------
// Anthropic Messages API

// gatewayAnthropic answers every /v1/messages call with one text. With
// toolCommand set it plays a thinking model instead, as the Messages API
// does with thinking enabled: its answers start with a signed thinking
// block (empty text, as with display "omitted"), the first one asks for
// Bash, and a continuation whose last assistant turn does not start with
// that thinking block, signature intact, is refused with the API's 400.
type gatewayAnthropic struct {
	recorder
	t           *testing.T
	key         string // the upstream API key it requires
	answer      string
	srv         *httptest.Server
	toolCommand string
	signature   string

	mu        sync.Mutex
	refusals  []string // 400s sent for a dropped or altered thinking block
	toolInput string   // the tool_result content Claude Code sent back
}

const gatewayToolID = "toolu_01MirrorGatewayThinking01"

// thinkingTurn decides a thinking model's answer: the refusal the API
// would send, or the content and stop reason.
func (f *gatewayAnthropic) thinkingTurn(body []byte) (refusal string, content []map[string]any, stop string) {
	var req struct {
		Thinking *struct {
			Type string `json:"type"`
		} `json:"thinking"`
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
	}
	if json.Unmarshal(body, &req) != nil {
		return "bad JSON", nil, ""
	}
	hasBash := false
	for _, tl := range req.Tools {
		hasBash = hasBash || tl.Name == "Bash"
	}
	if !hasBash || req.Thinking == nil || req.Thinking.Type == "disabled" {
		return "", []map[string]any{{"type": "text", "text": "OK"}}, "end_turn"
	}
	type block struct {
		Type      string          `json:"type"`
		Signature string          `json:"signature"`
		ToolUseID string          `json:"tool_use_id"`
		Content   json.RawMessage `json:"content"`
	}
	last := -1
	for i, m := range req.Messages {
		if m.Role == "assistant" {
			last = i
		}
	}
	result := ""
	for i, m := range req.Messages {
		var blocks []block
		if json.Unmarshal(m.Content, &blocks) != nil || len(blocks) == 0 {
			continue
		}
		if m.Role == "user" {
			for _, b := range blocks {
				if b.Type == "tool_result" && b.ToolUseID == gatewayToolID {
					result = toolResultText(b.Content)
				}
			}
			continue
		}
		if i != last {
			continue
		}
		switch first := blocks[0]; {
		case first.Type != "thinking" && first.Type != "redacted_thinking":
			return fmt.Sprintf("messages.%d.content.0.type: Expected `thinking` or `redacted_thinking`, but found `%s`. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`.", i, first.Type), nil, ""
		case first.Type == "thinking" && first.Signature != f.signature:
			return fmt.Sprintf("messages.%d.content.0: Invalid `signature` in `thinking` block", i), nil, ""
		}
	}
	thinking := map[string]any{"type": "thinking", "thinking": "", "signature": f.signature}
	if result != "" {
		f.mu.Lock()
		f.toolInput = result
		f.mu.Unlock()
		return "", []map[string]any{thinking, {"type": "text", "text": f.answer}}, "end_turn"
	}
	return "", []map[string]any{thinking, {"type": "tool_use", "id": gatewayToolID, "name": "Bash",
		"input": map[string]any{"command": f.toolCommand, "description": "Run the requested command"}}}, "tool_use"
}

func newGatewayAnthropic(t *testing.T, host, key, answer string) *gatewayAnthropic {
	f := &gatewayAnthropic{t: t, key: key, answer: answer}
	f.srv = newServerOn(t, host, http.HandlerFunc(f.serve))
	return f
}

func (f *gatewayAnthropic) URL() string { return f.srv.URL }

// messages is the recorded POST /v1/messages requests.
func (f *gatewayAnthropic) messages() []upstreamRequest {
	var out []upstreamRequest
	for _, r := range f.requests() {
		if r.Method == http.MethodPost && r.Path == "/v1/messages" {
			out = append(out, r)
		}
	}
	return out
}

func (f *gatewayAnthropic) serve(w http.ResponseWriter, r *http.Request) {
	body := f.record(r)
	if r.Header.Get("x-api-key") != f.key {
		f.t.Logf("gateway anthropic: %s %s without the upstream key", r.Method, r.URL.Path)
		anthropicError(w, http.StatusUnauthorized, "authentication_error", "invalid x-api-key")
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages":
		var req struct {
			Model  string `json:"model"`
			Stream bool   `json:"stream"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			anthropicError(w, http.StatusBadRequest, "invalid_request_error", "bad JSON: "+err.Error())
			return
		}
		content, stop := []map[string]any{{"type": "text", "text": f.answer}}, "end_turn"
		if f.toolCommand != "" {
			var refusal string
			if refusal, content, stop = f.thinkingTurn(body); refusal != "" {
				f.mu.Lock()
				f.refusals = append(f.refusals, refusal)
				f.mu.Unlock()
				anthropicError(w, http.StatusBadRequest, "invalid_request_error", refusal)
				return
			}
		}
		msg := map[string]any{
			"id": "msg_01MirrorGateway", "type": "message", "role": "assistant",
			"model": req.Model, "content": content, "stop_reason": stop, "stop_sequence": nil,
			"usage": map[string]any{"input_tokens": 100, "output_tokens": 20, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
		}
		w.Header().Set("request-id", "req_01MirrorGateway")
		if !req.Stream {
			writeJSON(w, http.StatusOK, msg)
			return
		}
		streamMessage(newSSE(w), msg, content, stop)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages/count_tokens":
		writeJSON(w, http.StatusOK, map[string]any{"input_tokens": max(1, len(body)/4)})
	case r.Method == http.MethodGet && r.URL.Path == "/v1/models":
		writeJSON(w, http.StatusOK, map[string]any{
			"data":     []any{anthropicModel("claude-sonnet-4-5")},
			"has_more": false, "first_id": "claude-sonnet-4-5", "last_id": "claude-sonnet-4-5",
		})
	default:
		f.t.Logf("gateway anthropic: unexpected %s %s", r.Method, r.URL.String())
		anthropicError(w, http.StatusNotFound, "not_found_error", "Not found: "+r.URL.Path)
	}
}

// ---------------------------------------------------------------------------
// OpenAI chat completions

// gatewayChat is an OpenAI chat-completions upstream answering every call
// with one text: streamed as chat.completion.chunk objects (role, content
// pieces, the finish chunk, a usage chunk with no choices when
// stream_options.include_usage asks for it, then [DONE]), or whole.
type gatewayChat struct {
	recorder
	t      *testing.T
	key    string
	answer string
	srv    *httptest.Server
}

func newGatewayChat(t *testing.T, key, answer string) *gatewayChat {
	f := &gatewayChat{t: t, key: key, answer: answer}
	f.srv = newServerOn(t, "", http.HandlerFunc(f.serve))
	return f
}

// BaseURL is the provider's base_url, as OpenAI's is ".../v1".
func (f *gatewayChat) BaseURL() string { return f.srv.URL + "/v1" }

func (f *gatewayChat) completions() []upstreamRequest {
	var out []upstreamRequest
	for _, r := range f.requests() {
		if r.Method == http.MethodPost && r.Path == "/v1/chat/completions" {
			out = append(out, r)
		}
	}
	return out
}

func (f *gatewayChat) serve(w http.ResponseWriter, r *http.Request) {
	body := f.record(r)
	if r.Header.Get("Authorization") != "Bearer "+f.key {
		f.t.Logf("gateway openai: %s %s without the upstream key", r.Method, r.URL.Path)
		openaiError(w, http.StatusUnauthorized, "invalid_api_key", "Incorrect API key provided.")
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/chat/completions":
		f.chat(w, body)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/models":
		writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []any{
			map[string]any{"id": codexModel, "object": "model", "created": 1700000000, "owned_by": "openai"},
		}})
	default:
		f.t.Logf("gateway openai: unexpected %s %s", r.Method, r.URL.String())
		openaiError(w, http.StatusNotFound, "not_found", "Unknown path "+r.URL.Path)
	}
}

func (f *gatewayChat) chat(w http.ResponseWriter, body []byte) {
	var req struct {
		Model         string `json:"model"`
		Stream        bool   `json:"stream"`
		StreamOptions *struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		openaiError(w, http.StatusBadRequest, "invalid_json", "bad JSON: "+err.Error())
		return
	}
	const id = "chatcmpl-MirrorGateway0001"
	created := time.Now().Unix()
	usage := map[string]any{
		"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
		"prompt_tokens_details":     map[string]any{"cached_tokens": 0, "audio_tokens": 0},
		"completion_tokens_details": map[string]any{"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
	}
	if !req.Stream {
		writeJSON(w, http.StatusOK, map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": req.Model,
			"system_fingerprint": "fp_mirrore2e",
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "logprobs": nil,
				"message": map[string]any{"role": "assistant", "content": f.answer, "refusal": nil}}},
			"usage": usage,
		})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	send := func(v any) {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		fmt.Fprintf(w, "data: %s\n\n", b)
		if fl != nil {
			fl.Flush()
		}
	}
	chunk := func(choices []any, usage any) map[string]any {
		return map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": req.Model,
			"system_fingerprint": "fp_mirrore2e", "choices": choices, "usage": usage}
	}
	choice := func(delta map[string]any, finish any) []any {
		return []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}}
	}
	send(chunk(choice(map[string]any{"role": "assistant", "content": "", "refusal": nil}, nil), nil))
	for _, c := range chunks(f.answer, 8) {
		send(chunk(choice(map[string]any{"content": c}, nil), nil))
	}
	send(chunk(choice(map[string]any{}, "stop"), nil))
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		send(chunk([]any{}, usage))
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	if fl != nil {
		fl.Flush()
	}
}
