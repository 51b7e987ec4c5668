package agents_test

// A fake Anthropic upstream for Claude Code: the Messages API
// (POST /v1/messages, streaming as server-sent events or not), plus
// count_tokens and the models list. It plays a scripted model: the first
// answer asks for the Bash tool with one command, the answer to the
// tool_result is a final text.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

const anthropicKey = "sk-ant-api03-mirror-e2e-fake-key"

// fakeAnthropic is the scripted upstream of one test.
type fakeAnthropic struct {
	t       *testing.T
	command string // the Bash command the model asks for
	toolID  string
	srv     *httptest.Server

	mu         sync.Mutex
	calls      []string // "METHOD path" of every request
	streamed   int      // /v1/messages requests answered as a stream
	toolUses   int      // tool_use answers sent
	toolResult *anthropicToolResult
}

// anthropicToolResult is what Claude Code sent back for the tool call.
type anthropicToolResult struct {
	Content string
	IsError bool
}

func newFakeAnthropic(t *testing.T, command string) *fakeAnthropic {
	f := &fakeAnthropic{t: t, command: command, toolID: "toolu_01MirrorE2eBashCall0001"}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAnthropic) URL() string { return f.srv.URL }

func (f *fakeAnthropic) result() (res *anthropicToolResult, toolUses, streamed int, calls []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.toolResult, f.toolUses, f.streamed, append([]string(nil), f.calls...)
}

func (f *fakeAnthropic) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls = append(f.calls, r.Method+" "+r.URL.Path)
	f.mu.Unlock()
	if r.Header.Get("x-api-key") != anthropicKey && r.Header.Get("Authorization") != "Bearer "+anthropicKey {
		f.t.Logf("fake anthropic: %s %s without the API key", r.Method, r.URL.Path)
		anthropicError(w, http.StatusUnauthorized, "authentication_error", "invalid x-api-key")
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages":
		f.messages(w, r)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages/count_tokens":
		body, _ := io.ReadAll(r.Body)
		writeJSON(w, http.StatusOK, map[string]any{"input_tokens": max(1, len(body)/4)})
	case r.Method == http.MethodGet && r.URL.Path == "/v1/models":
		writeJSON(w, http.StatusOK, map[string]any{
			"data":     []any{anthropicModel("claude-sonnet-4-5")},
			"has_more": false, "first_id": "claude-sonnet-4-5", "last_id": "claude-sonnet-4-5",
		})
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/models/"):
		writeJSON(w, http.StatusOK, anthropicModel(strings.TrimPrefix(r.URL.Path, "/v1/models/")))
	default:
		f.t.Logf("fake anthropic: unexpected %s %s", r.Method, r.URL.String())
		anthropicError(w, http.StatusNotFound, "not_found_error", "Not found: "+r.URL.Path)
	}
}

func anthropicModel(id string) map[string]any {
	return map[string]any{"type": "model", "id": id, "display_name": id, "created_at": "2025-09-29T00:00:00Z"}
}

func anthropicError(w http.ResponseWriter, code int, typ, msg string) {
	writeJSON(w, code, map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": msg}})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// messagesRequest is the part of a Messages API request the script reads;
// everything else the agent sends (system, thinking, metadata, …) is accepted
// and ignored.
type messagesRequest struct {
	Model    string `json:"model"`
	Stream   bool   `json:"stream"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"` // a string or a list of blocks
	} `json:"messages"`
	Tools []struct {
		Name string `json:"name"`
	} `json:"tools"`
}

type contentBlock struct {
	Type      string          `json:"type"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
}

func (f *fakeAnthropic) messages(w http.ResponseWriter, r *http.Request) {
	var req messagesRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		anthropicError(w, http.StatusBadRequest, "invalid_request_error", "bad JSON: "+err.Error())
		return
	}
	if req.Model == "" {
		req.Model = "claude-sonnet-4-5"
	}
	var res *anthropicToolResult
	for _, m := range req.Messages {
		var blocks []contentBlock
		if m.Role != "user" || json.Unmarshal(m.Content, &blocks) != nil {
			continue // a plain string content
		}
		for _, b := range blocks {
			if b.Type == "tool_result" && b.ToolUseID == f.toolID {
				res = &anthropicToolResult{Content: toolResultText(b.Content), IsError: b.IsError}
			}
		}
	}
	hasBash := false
	for _, tl := range req.Tools {
		hasBash = hasBash || tl.Name == "Bash"
	}

	var content []map[string]any
	stop := "end_turn"
	switch {
	case res != nil:
		f.mu.Lock()
		f.toolResult = res
		f.mu.Unlock()
		content = []map[string]any{{"type": "text", "text": "Done: the command was handled."}}
	case hasBash:
		f.mu.Lock()
		f.toolUses++
		f.mu.Unlock()
		stop = "tool_use"
		content = []map[string]any{
			{"type": "text", "text": "I will run the command."},
			{"type": "tool_use", "id": f.toolID, "name": "Bash", "input": map[string]any{
				"command": f.command, "description": "Run the requested command",
			}},
		}
	default:
		// A side request (a title, a summary…): just text.
		content = []map[string]any{{"type": "text", "text": "OK"}}
	}
	msg := map[string]any{
		"id": "msg_01MirrorE2e" + fmt.Sprint(len(req.Messages)), "type": "message", "role": "assistant",
		"model": req.Model, "content": content, "stop_reason": stop, "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": 100, "output_tokens": 20, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
	}
	w.Header().Set("request-id", "req_01MirrorE2e")
	if !req.Stream {
		writeJSON(w, http.StatusOK, msg)
		return
	}
	f.mu.Lock()
	f.streamed++
	f.mu.Unlock()
	streamMessage(newSSE(w), msg, content, stop)
}

// streamMessage writes msg as the Messages API streams it: message_start
// (with empty content), for each block content_block_start, deltas
// (text_delta, input_json_delta, or thinking_delta and signature_delta)
// and content_block_stop, then message_delta
// with the stop reason and usage, and message_stop.
func streamMessage(s sseWriter, msg map[string]any, content []map[string]any, stop string) {
	start := map[string]any{}
	for k, v := range msg {
		start[k] = v
	}
	start["content"] = []any{}
	start["stop_reason"] = nil
	start["usage"] = map[string]any{"input_tokens": 100, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
	s.event("message_start", map[string]any{"type": "message_start", "message": start})
	s.event("ping", map[string]any{"type": "ping"})
	for i, b := range content {
		switch b["type"] {
		case "text":
			s.event("content_block_start", map[string]any{"type": "content_block_start", "index": i,
				"content_block": map[string]any{"type": "text", "text": ""}})
			for _, c := range chunks(b["text"].(string), 8) {
				s.event("content_block_delta", map[string]any{"type": "content_block_delta", "index": i,
					"delta": map[string]any{"type": "text_delta", "text": c}})
			}
		case "thinking":
			s.event("content_block_start", map[string]any{"type": "content_block_start", "index": i,
				"content_block": map[string]any{"type": "thinking", "thinking": "", "signature": ""}})
			if t, _ := b["thinking"].(string); t != "" {
				s.event("content_block_delta", map[string]any{"type": "content_block_delta", "index": i,
					"delta": map[string]any{"type": "thinking_delta", "thinking": t}})
			}
			s.event("content_block_delta", map[string]any{"type": "content_block_delta", "index": i,
				"delta": map[string]any{"type": "signature_delta", "signature": b["signature"]}})
		case "tool_use":
			s.event("content_block_start", map[string]any{"type": "content_block_start", "index": i,
				"content_block": map[string]any{"type": "tool_use", "id": b["id"], "name": b["name"], "input": map[string]any{}}})
			in, _ := json.Marshal(b["input"])
			s.event("content_block_delta", map[string]any{"type": "content_block_delta", "index": i,
				"delta": map[string]any{"type": "input_json_delta", "partial_json": ""}})
			for _, c := range chunks(string(in), 16) {
				s.event("content_block_delta", map[string]any{"type": "content_block_delta", "index": i,
					"delta": map[string]any{"type": "input_json_delta", "partial_json": c}})
			}
		}
		s.event("content_block_stop", map[string]any{"type": "content_block_stop", "index": i})
	}
	s.event("message_delta", map[string]any{"type": "message_delta",
		"delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": 20}})
	s.event("message_stop", map[string]any{"type": "message_stop"})
}

// toolResultText flattens a tool_result's content (a string or a list of
// text blocks).
func toolResultText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var blocks []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &blocks) == nil {
		var parts []string
		for _, b := range blocks {
			parts = append(parts, b.Text)
		}
		return strings.Join(parts, "\n")
	}
	return string(raw)
}
