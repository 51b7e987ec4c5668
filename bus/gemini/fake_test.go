package gemini

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mirroros/mirror/bus"
	"github.com/mirroros/mirror/bus/bustest"
)

// fake is a Gemini upstream speaking the v1beta wire protocol.
type fake struct {
	bustest.Recorder
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	lastURL string
}

var _ bustest.Fake = (*fake)(nil)

func newFake(t *testing.T) *fake {
	f := &fake{t: t}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) URL() string { return f.srv.URL + "/v1beta" }

func (f *fake) body() []byte { return f.LastBody() }

func writeError(w http.ResponseWriter, status int, msg string) {
	names := map[int]string{400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": status, "message": msg, "status": names[status]}})
	w.Write(b)
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/v1beta")
	if strings.Contains(r.URL.RawQuery, "key=") {
		writeError(w, 400, "API key must not be in the URL")
		return
	}
	if r.Method == http.MethodGet && path == "/models" {
		f.Saw(r.Header)
		f.serveModels(w, r)
		return
	}
	rest, ok := strings.CutPrefix(path, "/models/")
	if r.Method != http.MethodPost || !ok {
		writeError(w, 404, "no such method")
		return
	}
	var model string
	stream := false
	switch {
	case strings.HasSuffix(rest, ":generateContent"):
		model = strings.TrimSuffix(rest, ":generateContent")
	case strings.HasSuffix(rest, ":streamGenerateContent"):
		model = strings.TrimSuffix(rest, ":streamGenerateContent")
		stream = true
		if r.URL.Query().Get("alt") != "sse" {
			writeError(w, 400, "fake speaks only alt=sse")
			return
		}
	default:
		writeError(w, 404, "no such method")
		return
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var wire generateRequest
	if err := json.Unmarshal(raw, &wire); err != nil {
		writeError(w, 400, "invalid JSON payload: "+err.Error())
		return
	}
	f.mu.Lock()
	f.lastURL = r.URL.String()
	f.mu.Unlock()
	s := f.Take(r.Header, raw, decodeRequest(model, &wire))

	if s.Status != 0 {
		if s.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(s.RetryAfter.Seconds())))
		}
		writeError(w, s.Status, s.Message)
		return
	}
	if s.Model == "" {
		s.Model = model
	}
	if s.Malformed {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"candidates": [{"content": {"parts": [{"text": "unterminated`)
		return
	}
	if !stream {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(answer(s, s.Text, s.ToolCalls, true))
		return
	}
	f.serveStream(w, s)
}

// answer is one GenerateContentResponse; last chunks carry finishReason and usage.
func answer(s bustest.Script, text string, calls []bus.ToolCall, last bool) map[string]any {
	parts := []map[string]any{}
	if text != "" {
		parts = append(parts, map[string]any{"text": text})
	}
	for _, c := range calls {
		// Like older API versions, no id: the adapter synthesises one.
		parts = append(parts, map[string]any{"functionCall": map[string]any{"name": c.Name, "args": c.Arguments}})
	}
	cand := map[string]any{"content": map[string]any{"role": "model", "parts": parts}, "index": 0}
	if last {
		cand["finishReason"] = "STOP"
	}
	out := map[string]any{"candidates": []any{cand}, "modelVersion": s.Model}
	// Every chunk reports usage so far, as Gemini does; the last one is complete.
	u := map[string]any{"promptTokenCount": s.Usage.PromptTokens, "totalTokenCount": s.Usage.PromptTokens + s.Usage.CompletionTokens}
	if last {
		u["candidatesTokenCount"] = s.Usage.CompletionTokens
	}
	if s.Usage.CachedTokens > 0 {
		u["cachedContentTokenCount"] = s.Usage.CachedTokens
	}
	out["usageMetadata"] = u
	return out
}

// splitText cuts text into about three pieces on word boundaries.
func splitText(text string) []string {
	words := strings.SplitAfter(text, " ")
	if len(words) < 2 {
		return []string{text}
	}
	var out []string
	per := (len(words) + 2) / 3
	for i := 0; i < len(words); i += per {
		out = append(out, strings.Join(words[i:min(i+per, len(words))], ""))
	}
	return out
}

func (f *fake) serveStream(w http.ResponseWriter, s bustest.Script) {
	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	pieces := []string{}
	if s.Text != "" {
		pieces = splitText(s.Text)
	}
	n := max(len(pieces), 1)
	for i := 0; i < n; i++ {
		text := ""
		if i < len(pieces) {
			text = pieces[i]
		}
		last := i == n-1
		var calls []bus.ToolCall
		if last {
			calls = s.ToolCalls
		}
		b, _ := json.Marshal(answer(s, text, calls, last && !s.CutStream))
		fmt.Fprintf(w, "data: %s\r\n\r\n", b)
		fl.Flush()
		if s.CutStream {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				f.t.Errorf("hijack: %v", err)
				return
			}
			conn.Close()
			return
		}
	}
}

func (f *fake) serveModels(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Query().Get("pageToken") == "" {
		json.NewEncoder(w).Encode(map[string]any{
			"models": []any{
				map[string]any{"name": "models/embedding-001", "supportedGenerationMethods": []string{"embedContent"}},
				map[string]any{"name": "models/gemini-2.5-flash", "inputTokenLimit": 1048576, "supportedGenerationMethods": []string{"generateContent", "countTokens"}},
			},
			"nextPageToken": "page2",
		})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"models": []any{
		map[string]any{"name": "models/gemini-2.5-pro", "inputTokenLimit": 1048576, "supportedGenerationMethods": []string{"generateContent"}},
	}})
}

// decodeRequest turns the wire request back into normalised form.
func decodeRequest(model string, w *generateRequest) bus.Request {
	req := bus.Request{Model: model}
	if w.SystemInstruction != nil {
		for _, p := range w.SystemInstruction.Parts {
			req.System += p.Text
		}
	}
	calls := 0
	for _, c := range w.Contents {
		role := bus.User
		if c.Role == "model" {
			role = bus.Assistant
		}
		m := bus.Message{Role: role}
		for _, p := range c.Parts {
			switch {
			case p.Text != "":
				m.Content = append(m.Content, bus.Part{Type: bus.TextPart, Text: p.Text})
			case p.InlineData != nil:
				m.Content = append(m.Content, bus.Part{Type: bus.ImagePart, MediaType: p.InlineData.MimeType, Data: p.InlineData.Data})
			case p.FileData != nil:
				m.Content = append(m.Content, bus.Part{Type: bus.ImagePart, MediaType: p.FileData.MimeType, URL: p.FileData.FileURI})
			case p.FunctionCall != nil:
				m.ToolCalls = append(m.ToolCalls, bus.ToolCall{ID: fmt.Sprintf("call_%d", calls), Name: p.FunctionCall.Name, Arguments: p.FunctionCall.Args})
				calls++
			case p.FunctionResponse != nil:
				text := string(p.FunctionResponse.Response)
				var wrapped map[string]json.RawMessage
				if json.Unmarshal(p.FunctionResponse.Response, &wrapped) == nil && len(wrapped) == 1 {
					var s string
					if json.Unmarshal(wrapped["content"], &s) == nil {
						text = s
					}
				}
				req.Messages = append(req.Messages, bus.Message{Role: bus.Tool, Name: p.FunctionResponse.Name, ToolCallID: p.FunctionResponse.ID, Content: []bus.Part{{Type: bus.TextPart, Text: text}}})
			}
		}
		if len(m.Content) > 0 || len(m.ToolCalls) > 0 {
			req.Messages = append(req.Messages, m)
		}
	}
	for _, t := range w.Tools {
		for _, d := range t.FunctionDeclarations {
			req.Tools = append(req.Tools, bus.ToolSpec{Name: d.Name, Description: d.Description, Parameters: d.Parameters})
		}
	}
	if w.ToolConfig != nil {
		switch fc := w.ToolConfig.FunctionCallingConfig; {
		case fc.Mode == "AUTO":
			req.ToolChoice = "auto"
		case fc.Mode == "NONE":
			req.ToolChoice = "none"
		case fc.Mode == "ANY" && len(fc.AllowedFunctionNames) == 1:
			req.ToolChoice = fc.AllowedFunctionNames[0]
		case fc.Mode == "ANY":
			req.ToolChoice = "required"
		}
	}
	if raw, ok := w.GenerationConfig["maxOutputTokens"]; ok {
		json.Unmarshal(raw, &req.MaxTokens)
	}
	if raw, ok := w.GenerationConfig["stopSequences"]; ok {
		json.Unmarshal(raw, &req.Stop)
	}
	return req
}
