package anthropic

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/mirroros/mirror/bus"
	"github.com/mirroros/mirror/bus/bustest"
)

// fake is an upstream speaking the Anthropic Messages wire protocol.
type fake struct {
	bustest.Recorder
	srv *httptest.Server
}

var _ bustest.Fake = (*fake)(nil)

func newFake(t *testing.T) *fake {
	f := &fake{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/messages", f.messages)
	mux.HandleFunc("GET /v1/models", f.models)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) URL() string { return f.srv.URL }

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("content-type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]string{"type": typ, "message": msg}})
	w.Write(b)
}

func errorType(status int) string {
	switch {
	case status == 400:
		return "invalid_request_error"
	case status == 401:
		return "authentication_error"
	case status == 403:
		return "permission_error"
	case status == 404:
		return "not_found_error"
	case status == 429:
		return "rate_limit_error"
	case status == 529 || status == 503:
		return "overloaded_error"
	default:
		return "api_error"
	}
}

func (f *fake) messages(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, 400, "invalid_request_error", "unreadable body")
		return
	}
	var body map[string]json.RawMessage
	req, stream, err := decodeRequest(raw, &body)
	if err != nil {
		writeError(w, 400, "invalid_request_error", err.Error())
		return
	}
	s := f.Take(r.Header, raw, req)

	if r.Header.Get("anthropic-version") == "" || r.Header.Get("content-type") != "application/json" {
		writeError(w, 400, "invalid_request_error", "missing anthropic-version or content-type")
		return
	}
	if s.Status != 0 {
		if s.RetryAfter > 0 {
			w.Header().Set("retry-after", strconv.Itoa(int(s.RetryAfter.Seconds())))
		}
		writeError(w, s.Status, errorType(s.Status), s.Message)
		return
	}
	if s.Malformed {
		w.Header().Set("content-type", "application/json")
		w.Write([]byte(`{"id":"msg_x","type":"mess`))
		return
	}
	model := s.Model
	if model == "" {
		model = req.Model
	}
	content := []map[string]any{}
	if s.Text != "" {
		content = append(content, map[string]any{"type": "text", "text": s.Text})
	}
	for _, c := range s.ToolCalls {
		content = append(content, map[string]any{"type": "tool_use", "id": c.ID, "name": c.Name, "input": c.Arguments})
	}
	stop := "end_turn"
	if len(s.ToolCalls) > 0 {
		stop = "tool_use"
	}
	usage := map[string]int{
		"input_tokens":                s.Usage.PromptTokens - s.Usage.CachedTokens,
		"output_tokens":               s.Usage.CompletionTokens,
		"cache_read_input_tokens":     s.Usage.CachedTokens,
		"cache_creation_input_tokens": 0,
	}
	if !stream {
		w.Header().Set("content-type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"id": "msg_01", "type": "message", "role": "assistant", "model": model,
			"content": content, "stop_reason": stop, "stop_sequence": nil, "usage": usage,
		})
		return
	}

	w.Header().Set("content-type", "text/event-stream")
	w.Header().Set("cache-control", "no-cache")
	fl := w.(http.Flusher)
	send := func(name string, v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
	}
	startUsage := map[string]int{
		"input_tokens": usage["input_tokens"], "output_tokens": 1,
		"cache_read_input_tokens": usage["cache_read_input_tokens"], "cache_creation_input_tokens": 0,
	}
	send("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": "msg_01", "type": "message", "role": "assistant", "model": model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil, "usage": startUsage}})
	idx := 0
	if s.Text != "" {
		send("content_block_start", map[string]any{"type": "content_block_start", "index": idx, "content_block": map[string]any{"type": "text", "text": ""}})
		send("ping", map[string]any{"type": "ping"})
		pieces := split(s.Text, 5)
		if s.CutStream {
			send("content_block_delta", map[string]any{"type": "content_block_delta", "index": idx, "delta": map[string]any{"type": "text_delta", "text": pieces[0]}})
			fl.Flush()
			hj, ok := w.(http.Hijacker)
			if !ok {
				panic("fake: cannot hijack")
			}
			conn, _, err := hj.Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		for _, p := range pieces {
			send("content_block_delta", map[string]any{"type": "content_block_delta", "index": idx, "delta": map[string]any{"type": "text_delta", "text": p}})
		}
		send("content_block_stop", map[string]any{"type": "content_block_stop", "index": idx})
		idx++
	}
	for _, c := range s.ToolCalls {
		send("content_block_start", map[string]any{"type": "content_block_start", "index": idx, "content_block": map[string]any{"type": "tool_use", "id": c.ID, "name": c.Name, "input": map[string]any{}}})
		send("content_block_delta", map[string]any{"type": "content_block_delta", "index": idx, "delta": map[string]any{"type": "input_json_delta", "partial_json": ""}})
		for _, p := range split(string(c.Arguments), 3) {
			send("content_block_delta", map[string]any{"type": "content_block_delta", "index": idx, "delta": map[string]any{"type": "input_json_delta", "partial_json": p}})
		}
		send("content_block_stop", map[string]any{"type": "content_block_stop", "index": idx})
		idx++
	}
	send("message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": stop, "stop_sequence": nil}, "usage": map[string]int{"output_tokens": s.Usage.CompletionTokens}})
	send("message_stop", map[string]any{"type": "message_stop"})
	fl.Flush()
}

func (f *fake) models(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("content-type", "application/json")
	w.Write([]byte(`{"data":[{"type":"model","id":"claude-test-1","display_name":"Claude Test","created_at":"2026-01-01T00:00:00Z"},{"type":"model","id":"claude-test-0","display_name":"Claude Test 0","created_at":"2025-01-01T00:00:00Z"}],"has_more":false,"first_id":"claude-test-1","last_id":"claude-test-0"}`))
}

func split(s string, n int) []string {
	var out []string
	rs := []rune(s)
	for len(rs) > n {
		out = append(out, string(rs[:n]))
		rs = rs[n:]
	}
	return append(out, string(rs))
}

// decodeRequest decodes a Messages API body back into normalised form.
func decodeRequest(raw []byte, body *map[string]json.RawMessage) (bus.Request, bool, error) {
	var w struct {
		Model     string          `json:"model"`
		System    json.RawMessage `json:"system"`
		MaxTokens int             `json:"max_tokens"`
		Stream    bool            `json:"stream"`
		Messages  []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
		Tools []struct {
			Type        string          `json:"type"`
			Name        string          `json:"name"`
			Description string          `json:"description"`
			InputSchema json.RawMessage `json:"input_schema"`
		} `json:"tools"`
		Thinking *struct {
			Type string `json:"type"`
		} `json:"thinking"`
		ToolChoice *struct {
			Type string `json:"type"`
			Name string `json:"name"`
		} `json:"tool_choice"`
		Temperature   *float64 `json:"temperature"`
		TopP          *float64 `json:"top_p"`
		StopSequences []string `json:"stop_sequences"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return bus.Request{}, false, err
	}
	if err := json.Unmarshal(raw, body); err != nil {
		return bus.Request{}, false, err
	}
	if w.Model == "" || w.MaxTokens <= 0 || len(w.Messages) == 0 {
		return bus.Request{}, false, fmt.Errorf("model, max_tokens and messages are required")
	}
	req := bus.Request{Model: w.Model, MaxTokens: w.MaxTokens, Temperature: w.Temperature, TopP: w.TopP, Stop: w.StopSequences}
	if len(w.System) > 0 {
		var s string
		if json.Unmarshal(w.System, &s) != nil {
			var blocks []struct{ Text string }
			if err := json.Unmarshal(w.System, &blocks); err != nil {
				return bus.Request{}, false, fmt.Errorf("system: %v", err)
			}
			for _, b := range blocks {
				s += b.Text
			}
		}
		req.System = s
	}
	var rawTools []json.RawMessage
	if err := json.Unmarshal((*body)["tools"], &rawTools); len((*body)["tools"]) > 0 && err != nil {
		return bus.Request{}, false, fmt.Errorf("tools: %v", err)
	}
	var server []json.RawMessage
	for i, t := range w.Tools {
		if t.Type != "" && t.Type != "custom" {
			// A server tool (web_search_20250305, …): Anthropic runs it.
			server = append(server, rawTools[i])
			continue
		}
		if len(t.InputSchema) == 0 {
			return bus.Request{}, false, fmt.Errorf("tool %s: input_schema required", t.Name)
		}
		req.Tools = append(req.Tools, bus.ToolSpec{Name: t.Name, Description: t.Description, Parameters: t.InputSchema})
	}
	if tc := w.ToolChoice; tc != nil {
		switch tc.Type {
		case "any":
			req.ToolChoice = "required"
		case "tool":
			req.ToolChoice = tc.Name
		default:
			req.ToolChoice = tc.Type
		}
	}
	lastAssistant := -1
	for i, m := range w.Messages {
		if m.Role == "assistant" {
			lastAssistant = i
		}
	}
	for i, m := range w.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return bus.Request{}, false, fmt.Errorf("messages.%d: bad role %q", i, m.Role)
		}
		var blocks []inBlock
		var s string
		if json.Unmarshal(m.Content, &s) == nil {
			blocks = []inBlock{{Type: "text", Text: s}}
		} else if err := json.Unmarshal(m.Content, &blocks); err != nil {
			return bus.Request{}, false, fmt.Errorf("messages.%d: %v", i, err)
		}
		var raws []json.RawMessage
		_ = json.Unmarshal(m.Content, &raws)
		// With thinking on, the API refuses a final assistant turn that
		// calls a tool without starting with its thinking block.
		if thinkingOn := w.Thinking != nil && w.Thinking.Type != "disabled"; thinkingOn && m.Role == "assistant" && i == lastAssistant {
			usesTool := false
			for _, b := range blocks {
				usesTool = usesTool || b.Type == "tool_use"
			}
			if usesTool && blocks[0].Type != "thinking" && blocks[0].Type != "redacted_thinking" {
				return bus.Request{}, false, fmt.Errorf("messages.%d.content.0.type: Expected `thinking` or `redacted_thinking`, but found `%s`. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`.", i, blocks[0].Type)
			}
		}
		msg := bus.Message{Role: bus.Role(m.Role)}
		flush := func() {
			if len(msg.Content) > 0 || len(msg.ToolCalls) > 0 {
				req.Messages = append(req.Messages, msg)
			}
			msg = bus.Message{Role: bus.Role(m.Role)}
		}
		for j, b := range blocks {
			switch b.Type {
			case "thinking", "redacted_thinking", "server_tool_use", "web_search_tool_result":
				if m.Role != "assistant" {
					return bus.Request{}, false, fmt.Errorf("messages.%d: %s in a user turn", i, b.Type)
				}
				msg.Content = append(msg.Content, bus.Part{Type: bus.VendorPart, Vendor: bus.VendorAnthropic, Raw: raws[j]})
			case "text":
				if b.Text == "" {
					return bus.Request{}, false, fmt.Errorf("messages.%d: empty text block", i)
				}
				msg.Content = append(msg.Content, bus.Part{Type: bus.TextPart, Text: b.Text})
			case "image":
				p, err := b.part()
				if err != nil {
					return bus.Request{}, false, fmt.Errorf("messages.%d: %v", i, err)
				}
				msg.Content = append(msg.Content, p)
			case "tool_use":
				if m.Role != "assistant" {
					return bus.Request{}, false, fmt.Errorf("messages.%d: tool_use in a user turn", i)
				}
				msg.ToolCalls = append(msg.ToolCalls, bus.ToolCall{ID: b.ID, Name: b.Name, Arguments: b.Input})
			case "tool_result":
				if m.Role != "user" {
					return bus.Request{}, false, fmt.Errorf("messages.%d: tool_result in an assistant turn", i)
				}
				flush()
				tm := bus.Message{Role: bus.Tool, ToolCallID: b.ToolUseID}
				var cs string
				if json.Unmarshal(b.Content, &cs) == nil {
					tm.Content = []bus.Part{{Type: bus.TextPart, Text: cs}}
				} else if len(b.Content) > 0 {
					var inner []inBlock
					if err := json.Unmarshal(b.Content, &inner); err != nil {
						return bus.Request{}, false, fmt.Errorf("messages.%d: tool_result content: %v", i, err)
					}
					for _, ib := range inner {
						if ib.Type == "image" {
							p, err := ib.part()
							if err != nil {
								return bus.Request{}, false, err
							}
							tm.Content = append(tm.Content, p)
						} else {
							tm.Content = append(tm.Content, bus.Part{Type: bus.TextPart, Text: ib.Text})
						}
					}
				}
				req.Messages = append(req.Messages, tm)
			default:
				return bus.Request{}, false, fmt.Errorf("messages.%d: unknown block %q", i, b.Type)
			}
		}
		flush()
	}
	if len(server) > 0 {
		raw, _ := json.Marshal(server)
		req.Extra = map[string]json.RawMessage{"tools": raw}
	}
	for k, v := range *body {
		switch k {
		case "model", "system", "max_tokens", "stream", "messages", "tools", "tool_choice", "temperature", "top_p", "stop_sequences":
		default:
			if req.Extra == nil {
				req.Extra = map[string]json.RawMessage{}
			}
			req.Extra[k] = v
		}
	}
	return req, w.Stream, nil
}

type inBlock struct {
	Type   string `json:"type"`
	Text   string `json:"text"`
	Source *struct {
		Type      string `json:"type"`
		MediaType string `json:"media_type"`
		Data      string `json:"data"`
		URL       string `json:"url"`
	} `json:"source"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
}

func (b inBlock) part() (bus.Part, error) {
	if b.Source == nil {
		return bus.Part{}, fmt.Errorf("image without source")
	}
	switch b.Source.Type {
	case "base64":
		data, err := base64.StdEncoding.DecodeString(b.Source.Data)
		if err != nil {
			return bus.Part{}, err
		}
		return bus.Part{Type: bus.ImagePart, MediaType: b.Source.MediaType, Data: data}, nil
	case "url":
		return bus.Part{Type: bus.ImagePart, URL: b.Source.URL}, nil
	}
	return bus.Part{}, fmt.Errorf("unknown image source %q", b.Source.Type)
}
