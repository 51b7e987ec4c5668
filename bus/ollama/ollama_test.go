package ollama

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/mirroros/mirror/bus"
	"github.com/mirroros/mirror/bus/bustest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestContract(t *testing.T) {
	f := newFake(t)
	bustest.Run(t, func(base string) bus.Provider {
		return New(Config{Name: "ollama", BaseURL: base})
	}, f, bustest.Capabilities{})
}

func ptr[T any](v T) *T { return &v }

func TestGoldenRequest(t *testing.T) {
	f := newFake(t)
	c := New(Config{BaseURL: f.URL()})
	req := bus.Request{
		Model:       "llava:13b",
		System:      "You are a careful assistant.",
		MaxTokens:   256,
		Temperature: ptr(0.2),
		TopP:        ptr(0.9),
		Stop:        []string{"</end>"},
		Tools: []bus.ToolSpec{{Name: "get_weather", Description: "Current weather for a city",
			Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}},
		Extra: map[string]json.RawMessage{"keep_alive": json.RawMessage(`"5m"`), "reasoning_effort": json.RawMessage(`"high"`)},
		Messages: []bus.Message{
			{Role: bus.User, Content: []bus.Part{
				{Type: bus.TextPart, Text: "Where was this photo taken? "},
				{Type: bus.ImagePart, MediaType: "image/png", Data: []byte("\x89PNG\r\n\x1a\nfake")},
				{Type: bus.TextPart, Text: "And what's the weather there?"}}},
			{Role: bus.Assistant, Content: []bus.Part{{Type: bus.TextPart, Text: "That is Pune. Checking."}},
				ToolCalls: []bus.ToolCall{{ID: "call_0", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Pune"}`)}}},
			{Role: bus.Tool, ToolCallID: "call_0", Content: []bus.Part{{Type: bus.TextPart, Text: `{"temp_c":31}`}}},
			{Role: bus.User, Content: []bus.Part{{Type: bus.TextPart, Text: "Thanks!"}}},
		},
	}
	f.Next(bustest.Script{Text: "You're welcome."})
	if _, err := c.Chat(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	raw := f.LastBody()
	var got bytes.Buffer
	if err := json.Indent(&got, raw, "", "  "); err != nil {
		t.Fatal(err)
	}
	got.WriteByte('\n')
	golden := filepath.Join("testdata", "chat_request.golden.json")
	if *update {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("request JSON differs from %s:\n got: %s\nwant: %s", golden, got.Bytes(), want)
	}
	// The tool result was mapped back to its call's name.
	last := f.Last()
	if n := len(last.Messages); n != 4 || last.Messages[2].Name != "get_weather" {
		t.Fatalf("upstream received %+v", last.Messages)
	}
}

func TestEmbed(t *testing.T) {
	f := newFake(t)
	c := New(Config{BaseURL: f.URL()})
	embs, usage, err := c.Embed(context.Background(), "nomic-embed-text", []string{"hello world", "abc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(embs) != 2 || len(embs[0]) != 3 || embs[0][0] != 11 || embs[1][0] != 3 || embs[1][2] != -0.25 {
		t.Fatalf("embeddings = %v", embs)
	}
	if usage.PromptTokens != 3 {
		t.Fatalf("usage = %+v", usage)
	}
	_, _, err = c.Embed(context.Background(), "missing", []string{"x"})
	e, ok := bus.AsError(err)
	if !ok || e.Kind != bus.BadRequest || e.Status != 404 || e.Message != `model "missing" not found, try pulling it first` {
		t.Fatalf("err = %v", err)
	}
}

func TestModelsAreLocal(t *testing.T) {
	f := newFake(t)
	ms, err := New(Config{BaseURL: f.URL()}).Models(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].ID != "llama3.2:latest" || !ms[0].Local || !ms[1].Local {
		t.Fatalf("models = %+v", ms)
	}
}

// serve answers every request with body under status.
func serve(t *testing.T, status int, ctype, body string) *Client {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return New(Config{BaseURL: srv.URL})
}

func drain(s bus.Stream) ([]bus.Event, error) {
	var evs []bus.Event
	for {
		ev, err := s.Next()
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func TestStreamShapes(t *testing.T) {
	ctx := context.Background()
	req := bus.Request{Model: "m", Messages: []bus.Message{{Role: bus.User, Content: []bus.Part{{Type: bus.TextPart, Text: "hi"}}}}}

	t.Run("an error line mid-stream", func(t *testing.T) {
		c := serve(t, 200, "application/x-ndjson", `{"model":"m","message":{"role":"assistant","content":"a"},"done":false}`+"\n"+`{"error":"model runner crashed"}`+"\n")
		s, err := c.ChatStream(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		evs, err := drain(s)
		e, ok := bus.AsError(err)
		if len(evs) != 1 || !ok || e.Message != "model runner crashed" {
			t.Fatalf("events %+v, err %v", evs, err)
		}
	})
	t.Run("a clean end without done", func(t *testing.T) {
		c := serve(t, 200, "application/x-ndjson", `{"model":"m","message":{"role":"assistant","content":"a"},"done":false}`+"\n")
		s, _ := c.ChatStream(ctx, req)
		defer s.Close()
		_, err := drain(s)
		if err == nil || errors.Is(err, io.EOF) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("length and tool calls", func(t *testing.T) {
		c := serve(t, 200, "application/x-ndjson",
			`{"model":"m2","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"a","arguments":{"x":1}}},{"function":{"name":"b","arguments":{}}}]},"done":false}`+"\n\n"+
				`{"model":"m2","message":{"role":"assistant","content":""},"done":true,"done_reason":"length","prompt_eval_count":4,"eval_count":9}`)
		s, _ := c.ChatStream(ctx, req)
		defer s.Close()
		evs, err := drain(s)
		if !errors.Is(err, io.EOF) || len(evs) != 3 {
			t.Fatalf("events %+v, err %v", evs, err)
		}
		if evs[0].ID != "call_0" || evs[0].ArgumentsDelta != `{"x":1}` || evs[1].ID != "call_1" || evs[1].Index != 1 {
			t.Fatalf("tool deltas %+v", evs[:2])
		}
		if d := evs[2]; d.Type != bus.Done || d.Stop != bus.StopToolUse || d.Model != "m2" || d.Usage.PromptTokens != 4 {
			t.Fatalf("done %+v", d)
		}
	})
	t.Run("a long line is refused", func(t *testing.T) {
		c := serve(t, 200, "application/x-ndjson", `{"model":"`+string(bytes.Repeat([]byte("a"), maxLineBytes+10))+`"}`+"\n")
		s, _ := c.ChatStream(ctx, req)
		defer s.Close()
		_, err := drain(s)
		if e, ok := bus.AsError(err); !ok || e.Kind != bus.Malformed {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestChatShapes(t *testing.T) {
	ctx := context.Background()
	req := bus.Request{Model: "m"}
	c := serve(t, 200, "application/json", `{"model":"m","message":{"role":"assistant","content":"cut"},"done":true,"done_reason":"length","eval_count":2}`)
	resp, err := c.Chat(ctx, req)
	if err != nil || resp.Stop != bus.StopMaxTokens || resp.Message.Text() != "cut" {
		t.Fatalf("resp %+v, err %v", resp, err)
	}
	c = serve(t, 404, "application/json", `{"error":"model \"m\" not found, try pulling it first"}`)
	_, err = c.Chat(ctx, req)
	if e, ok := bus.AsError(err); !ok || e.Kind != bus.BadRequest || e.Message != `model "m" not found, try pulling it first` {
		t.Fatalf("err = %v", err)
	}
	c = serve(t, 403, "text/plain", "forbidden")
	if _, err = c.Chat(ctx, req); err == nil {
		t.Fatal("no error")
	} else if e, _ := bus.AsError(err); e == nil || e.Kind != bus.AuthFailed || e.Message != "forbidden" {
		t.Fatalf("err = %v", err)
	}
	c = serve(t, 200, "application/json", `[1,2]`)
	if _, err = c.Chat(ctx, req); err == nil {
		t.Fatal("no error")
	} else if e, _ := bus.AsError(err); e == nil || e.Kind != bus.Malformed {
		t.Fatalf("err = %v", err)
	}
	// Connection refused.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err = New(Config{BaseURL: url}).Chat(ctx, req)
	if e, ok := bus.AsError(err); !ok || e.Kind != bus.Unavailable {
		t.Fatalf("err = %v", err)
	}
	// Image URLs are refused before anything is sent.
	_, err = c.Chat(ctx, bus.Request{Model: "m", Messages: []bus.Message{{Role: bus.User, Content: []bus.Part{{Type: bus.ImagePart, URL: "https://x/y.png"}}}}})
	if e, ok := bus.AsError(err); !ok || e.Kind != bus.BadRequest {
		t.Fatalf("err = %v", err)
	}
}

func FuzzParseLine(f *testing.F) {
	f.Add([]byte(`{"model":"llama3.2","created_at":"2023-08-04T08:52:19.385406455-07:00","message":{"role":"assistant","content":"The"},"done":false}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		ch, err := parseLine(line)
		if err != nil {
			return
		}
		calls, err := toolCalls(ch.Message.ToolCalls, 0)
		if err != nil {
			return
		}
		for _, c := range calls {
			if !json.Valid(c.Arguments) || c.ID == "" || c.Name == "" {
				t.Fatalf("bad call %+v", c)
			}
			var obj map[string]any
			if json.Unmarshal(c.Arguments, &obj) != nil {
				t.Fatalf("arguments not an object: %s", c.Arguments)
			}
		}
		s := &stream{c: New(Config{}), model: "m"}
		if err := s.queue(ch); err != nil {
			t.Fatal(err)
		}
		if ch.Done && (len(s.pending) == 0 || s.pending[len(s.pending)-1].Type != bus.Done) {
			t.Fatalf("done chunk gave %+v", s.pending)
		}
	})
}
