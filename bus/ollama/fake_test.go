package ollama

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mirroros/mirror/bus"
	"github.com/mirroros/mirror/bus/bustest"
)

// fake is an Ollama upstream speaking the native wire protocol, decoded
// independently of the adapter's own wire types.
type fake struct {
	bustest.Recorder
	srv *httptest.Server
}

var _ bustest.Fake = (*fake)(nil)

func newFake(t *testing.T) *fake {
	f := &fake{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/chat", f.chat)
	mux.HandleFunc("GET /api/tags", f.tags)
	mux.HandleFunc("POST /api/embed", f.embed)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) URL() string { return f.srv.URL }

// Ollama's request, as the fake reads it.
type fChatReq struct {
	Model    string `json:"model"`
	Stream   *bool  `json:"stream"`
	Messages []struct {
		Role      string   `json:"role"`
		Content   string   `json:"content"`
		Images    []string `json:"images"`
		ToolName  string   `json:"tool_name"`
		ToolCalls []struct {
			Function struct {
				Name      string          `json:"name"`
				Arguments json.RawMessage `json:"arguments"`
			} `json:"function"`
		} `json:"tool_calls"`
	} `json:"messages"`
	Tools []struct {
		Type     string `json:"type"`
		Function struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
		} `json:"function"`
	} `json:"tools"`
	Options struct {
		NumPredict  int      `json:"num_predict"`
		Temperature *float64 `json:"temperature"`
		TopP        *float64 `json:"top_p"`
		Stop        []string `json:"stop"`
	} `json:"options"`
}

func decodeChat(raw []byte) (fChatReq, bus.Request, error) {
	var w fChatReq
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&w); err != nil {
		return w, bus.Request{}, err
	}
	req := bus.Request{Model: w.Model, MaxTokens: w.Options.NumPredict,
		Temperature: w.Options.Temperature, TopP: w.Options.TopP, Stop: w.Options.Stop}
	for i, m := range w.Messages {
		if i == 0 && m.Role == "system" {
			req.System = m.Content
			continue
		}
		bm := bus.Message{Role: bus.Role(m.Role)}
		if m.Content != "" {
			bm.Content = append(bm.Content, bus.Part{Type: bus.TextPart, Text: m.Content})
		}
		for _, img := range m.Images {
			b, err := base64.StdEncoding.DecodeString(img)
			if err != nil {
				return w, req, fmt.Errorf("image: %v", err)
			}
			bm.Content = append(bm.Content, bus.Part{Type: bus.ImagePart, Data: b})
		}
		for j, tc := range m.ToolCalls {
			a := strings.TrimSpace(string(tc.Function.Arguments))
			if !strings.HasPrefix(a, "{") {
				return w, req, fmt.Errorf("tool call arguments are not an object: %s", a)
			}
			bm.ToolCalls = append(bm.ToolCalls, bus.ToolCall{ID: "call_" + strconv.Itoa(j), Name: tc.Function.Name, Arguments: tc.Function.Arguments})
		}
		if m.Role == "tool" {
			bm.Name = m.ToolName
		}
		req.Messages = append(req.Messages, bm)
	}
	for _, t := range w.Tools {
		if t.Type != "function" {
			return w, req, fmt.Errorf("tool type %q", t.Type)
		}
		req.Tools = append(req.Tools, bus.ToolSpec{Name: t.Function.Name, Description: t.Function.Description, Parameters: t.Function.Parameters})
	}
	return w, req, nil
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

type fMsg struct {
	Role      string  `json:"role"`
	Content   string  `json:"content"`
	ToolCalls []fCall `json:"tool_calls,omitempty"`
}

type fCall struct {
	Function struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"function"`
}

type fChunk struct {
	Model           string `json:"model"`
	CreatedAt       string `json:"created_at"`
	Message         fMsg   `json:"message"`
	Done            bool   `json:"done"`
	DoneReason      string `json:"done_reason,omitempty"`
	TotalDuration   int64  `json:"total_duration,omitempty"`
	PromptEvalCount int    `json:"prompt_eval_count,omitempty"`
	EvalCount       int    `json:"eval_count,omitempty"`
}

func (f *fake) chat(w http.ResponseWriter, r *http.Request) {
	raw := make([]byte, 0, 1024)
	buf := make([]byte, 4096)
	for {
		n, err := r.Body.Read(buf)
		raw = append(raw, buf[:n]...)
		if err != nil {
			break
		}
	}
	wreq, req, err := decodeChat(raw)
	s := f.Take(r.Header, raw, req)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if s.Status != 0 {
		if s.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(s.RetryAfter/time.Second)))
		}
		writeError(w, s.Status, s.Message)
		return
	}
	if s.Malformed {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"model":"x","message":{"role":"assistant","content":`)
		return
	}
	model := s.Model
	if model == "" {
		model = wreq.Model
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	var calls []fCall
	for _, tc := range s.ToolCalls {
		var c fCall
		c.Function.Name, c.Function.Arguments = tc.Name, tc.Arguments
		calls = append(calls, c)
	}
	final := fChunk{Model: model, CreatedAt: now, Done: true, DoneReason: "stop", TotalDuration: 123456,
		PromptEvalCount: s.Usage.PromptTokens, EvalCount: s.Usage.CompletionTokens,
		Message: fMsg{Role: "assistant"}}
	if wreq.Stream != nil && !*wreq.Stream {
		final.Message.Content, final.Message.ToolCalls = s.Text, calls
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(final)
		return
	}
	// NDJSON: text in word pieces, tool calls whole in one chunk, then done.
	w.Header().Set("Content-Type", "application/x-ndjson")
	fl := w.(http.Flusher)
	enc := json.NewEncoder(w)
	var pieces []string
	for rest := s.Text; rest != ""; {
		i := strings.IndexByte(rest, ' ')
		if i < 0 {
			pieces, rest = append(pieces, rest), ""
		} else {
			pieces, rest = append(pieces, rest[:i+1]), rest[i+1:]
		}
	}
	for i, p := range pieces {
		enc.Encode(fChunk{Model: model, CreatedAt: now, Message: fMsg{Role: "assistant", Content: p}})
		fl.Flush()
		if i == 0 && s.CutStream {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
	}
	if len(calls) > 0 {
		enc.Encode(fChunk{Model: model, CreatedAt: now, Message: fMsg{Role: "assistant", ToolCalls: calls}})
		fl.Flush()
	}
	enc.Encode(final)
}

func (f *fake) tags(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"models":[{"name":"llama3.2:latest","model":"llama3.2:latest","modified_at":"2025-01-01T00:00:00Z","size":2019393189,"digest":"a80c4f17acd5","details":{"format":"gguf","family":"llama","parameter_size":"3.2B","quantization_level":"Q4_K_M"}},{"name":"nomic-embed-text:latest","model":"nomic-embed-text:latest","size":274302450,"digest":"0a109f422b47","details":{"family":"nomic-bert"}}]}`)
}

func (f *fake) embed(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model string          `json:"model"`
		Input json.RawMessage `json:"input"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Model == "missing" {
		writeError(w, http.StatusNotFound, `model "missing" not found, try pulling it first`)
		return
	}
	var inputs []string
	if err := json.Unmarshal(req.Input, &inputs); err != nil {
		var one string
		if err := json.Unmarshal(req.Input, &one); err != nil {
			writeError(w, http.StatusBadRequest, "bad input")
			return
		}
		inputs = []string{one}
	}
	embs := make([][]float32, len(inputs))
	tokens := 0
	for i, in := range inputs {
		embs[i] = []float32{float32(len(in)), 0.5, -0.25}
		tokens += len(strings.Fields(in))
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"model": req.Model, "embeddings": embs,
		"total_duration": 14143917, "load_duration": 1019500, "prompt_eval_count": tokens})
}
