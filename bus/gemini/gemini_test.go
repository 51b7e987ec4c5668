package gemini

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
	"strings"
	"testing"
	"time"

	"github.com/mirroros/mirror/bus"
	"github.com/mirroros/mirror/bus/bustest"
)

var update = flag.Bool("update", false, "rewrite golden files")

const testKey = "AIzaTEST-secret-key-123"

func TestContract(t *testing.T) {
	f := newFake(t)
	bustest.Run(t, func(base string) bus.Provider {
		return New(Config{Name: "gemini", BaseURL: base, APIKey: testKey})
	}, f, bustest.Capabilities{})
	if got := f.LastHeader("x-goog-api-key"); got != testKey {
		t.Fatalf("x-goog-api-key = %q", got)
	}
}

func TestKeyOnlyInHeader(t *testing.T) {
	f := newFake(t)
	c := New(Config{BaseURL: f.URL(), APIKey: testKey})
	f.Next(bustest.Script{Text: "hi"})
	if _, err := c.Chat(context.Background(), simpleRequest()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(f.lastURL, testKey) || strings.Contains(string(f.body()), testKey) {
		t.Fatalf("key leaked into URL %q or body", f.lastURL)
	}
	if f.LastHeader("x-goog-api-key") != testKey {
		t.Fatal("key not sent in x-goog-api-key")
	}
	// An upstream echoing the key in its message does not leak it.
	f.Next(bustest.Script{Status: 400, Message: "API key " + testKey + " not valid"})
	_, err := c.Chat(context.Background(), simpleRequest())
	if err == nil || strings.Contains(err.Error(), testKey) {
		t.Fatalf("err = %v", err)
	}
	// Nor does a transport error.
	dead := New(Config{BaseURL: "http://127.0.0.1:1/v1beta", APIKey: testKey})
	_, err = dead.Chat(context.Background(), simpleRequest())
	if e, ok := bus.AsError(err); !ok || e.Kind != bus.Unavailable || strings.Contains(err.Error(), testKey) {
		t.Fatalf("err = %v", err)
	}
}

func simpleRequest() bus.Request {
	return bus.Request{Model: "gemini-2.5-flash", Messages: []bus.Message{{Role: bus.User, Content: []bus.Part{{Type: bus.TextPart, Text: "hi"}}}}}
}

func goldenRequest() bus.Request {
	temp, topP := 0.2, 0.9
	png := []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}
	return bus.Request{
		Model:  "gemini-2.5-flash",
		System: "You are a weather assistant.",
		Messages: []bus.Message{
			{Role: bus.User, Content: []bus.Part{
				{Type: bus.TextPart, Text: "What city is this, and what is its weather?"},
				{Type: bus.ImagePart, MediaType: "image/png", Data: png},
			}},
			{Role: bus.Assistant, Content: []bus.Part{{Type: bus.TextPart, Text: "That is Pune. Checking."}},
				ToolCalls: []bus.ToolCall{
					{ID: "call_0", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Pune"}`)},
					{ID: "call_1", Name: "get_time", Arguments: json.RawMessage(`{"city":"Pune"}`)},
				}},
			{Role: bus.Tool, ToolCallID: "call_0", Name: "get_weather", Content: []bus.Part{{Type: bus.TextPart, Text: `{"temp_c":31}`}}},
			{Role: bus.Tool, ToolCallID: "call_1", Content: []bus.Part{{Type: bus.TextPart, Text: "14:05 IST"}}},
			{Role: bus.Assistant, Content: []bus.Part{{Type: bus.TextPart, Text: "It is 31°C at 14:05."}}},
			{Role: bus.User, Content: []bus.Part{{Type: bus.TextPart, Text: "And tomorrow?"}}},
		},
		Tools: []bus.ToolSpec{
			{Name: "get_weather", Description: "Current weather for a city", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)},
			{Name: "get_time", Description: "Local time in a city", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)},
		},
		ToolChoice:  "get_weather",
		MaxTokens:   256,
		Temperature: &temp,
		TopP:        &topP,
		Stop:        []string{"END"},
		Extra: map[string]json.RawMessage{
			"generationConfig": json.RawMessage(`{"thinkingConfig":{"thinkingBudget":0}}`),
			"thinking":         json.RawMessage(`{"type":"enabled"}`), // Anthropic's: dropped
		},
	}
}

// TestGoldenRequest pins the exact JSON sent on the wire.
func TestGoldenRequest(t *testing.T) {
	f := newFake(t)
	c := New(Config{BaseURL: f.URL(), APIKey: testKey})
	f.Next(bustest.Script{Text: "Probably rain."})
	if _, err := c.Chat(context.Background(), goldenRequest()); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := json.Indent(&got, f.body(), "", "  "); err != nil {
		t.Fatal(err)
	}
	got.WriteByte('\n')
	path := filepath.Join("testdata", "request.golden.json")
	if *update {
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Fatalf("request JSON differs from %s (run with -update to accept):\n%s", path, got.String())
	}
	if !strings.HasSuffix(f.lastURL, "/models/gemini-2.5-flash:generateContent") {
		t.Fatalf("URL = %s", f.lastURL)
	}
	// The fake decodes the wire back: the round trip keeps the conversation.
	last := f.Last()
	if last.System != "You are a weather assistant." || len(last.Tools) != 2 || last.ToolChoice != "get_weather" || last.MaxTokens != 256 {
		t.Fatalf("decoded %+v", last)
	}
}

func TestModels(t *testing.T) {
	f := newFake(t)
	ms, err := New(Config{BaseURL: f.URL(), APIKey: testKey}).Models(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].ID != "gemini-2.5-flash" || ms[0].Context != 1048576 || ms[1].ID != "gemini-2.5-pro" {
		t.Fatalf("models = %+v", ms)
	}
	if f.LastHeader("x-goog-api-key") != testKey {
		t.Fatal("Models sent no key")
	}
}

// raw serves a fixed answer for any call.
func raw(t *testing.T, status int, ctype, body string) *Client {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return New(Config{BaseURL: srv.URL, APIKey: testKey})
}

func TestChatMapping(t *testing.T) {
	ctx := context.Background()
	c := raw(t, 200, "application/json", `{"candidates":[{"content":{"role":"model","parts":[
		{"text":"thinking...","thought":true},{"text":"Let me check."},
		{"functionCall":{"id":"fc-abc","name":"a","args":{"x":1}}},{"functionCall":{"name":"b"}}]},
		"finishReason":"STOP"}],
		"usageMetadata":{"promptTokenCount":100,"candidatesTokenCount":7,"cachedContentTokenCount":60,"thoughtsTokenCount":3},
		"modelVersion":"gemini-2.5-flash-001"}`)
	resp, err := c.Chat(ctx, simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	tc := resp.Message.ToolCalls
	if resp.Message.Text() != "Let me check." || len(tc) != 2 || tc[0].ID != "fc-abc" || tc[1].ID != "call_1" || string(tc[1].Arguments) != "{}" {
		t.Fatalf("response = %+v", resp)
	}
	if resp.Stop != bus.StopToolUse || resp.Model != "gemini-2.5-flash-001" {
		t.Fatalf("stop %s model %s", resp.Stop, resp.Model)
	}
	if resp.Usage != (bus.Usage{PromptTokens: 100, CompletionTokens: 10, CachedTokens: 60}) {
		t.Fatalf("usage = %+v", resp.Usage)
	}

	for reason, want := range map[string]bus.StopReason{"MAX_TOKENS": bus.StopMaxTokens, "SAFETY": bus.StopFiltered, "RECITATION": bus.StopFiltered, "MALFORMED_FUNCTION_CALL": bus.StopOther} {
		c := raw(t, 200, "application/json", `{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"`+reason+`"}]}`)
		resp, err := c.Chat(ctx, simpleRequest())
		if err != nil || resp.Stop != want {
			t.Fatalf("%s: stop %s err %v", reason, resp.Stop, err)
		}
	}

	c = raw(t, 200, "application/json", `{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":5}}`)
	if resp, err := c.Chat(ctx, simpleRequest()); err != nil || resp.Stop != bus.StopFiltered {
		t.Fatalf("blocked prompt: %+v %v", resp, err)
	}
	c = raw(t, 200, "application/json", `{}`)
	if _, err := c.Chat(ctx, simpleRequest()); !isKind(err, bus.Malformed) {
		t.Fatalf("empty answer: %v", err)
	}
	c = raw(t, 403, "application/json", `{"error":{"code":403,"message":"Permission denied","status":"PERMISSION_DENIED"}}`)
	if _, err := c.Chat(ctx, simpleRequest()); !isKind(err, bus.AuthFailed) {
		t.Fatalf("403: %v", err)
	}
	c = raw(t, 429, "application/json", `{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"12s"}]}}`)
	_, err = c.Chat(ctx, simpleRequest())
	if e, ok := bus.AsError(err); !ok || e.Kind != bus.RateLimited || e.RetryAfter != 12*time.Second || e.Message != "quota" {
		t.Fatalf("429: %v", err)
	}
	c = raw(t, 404, "text/html", `<html>not found</html>`)
	if _, err := c.Chat(ctx, simpleRequest()); !isKind(err, bus.BadRequest) {
		t.Fatalf("404: %v", err)
	}
}

func isKind(err error, k bus.ErrorKind) bool {
	e, ok := bus.AsError(err)
	return ok && e.Kind == k
}

func collect(t *testing.T, s bus.Stream) ([]bus.Event, error) {
	t.Helper()
	defer s.Close()
	var evs []bus.Event
	for {
		ev, err := s.Next()
		if errors.Is(err, io.EOF) {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func TestStreamMapping(t *testing.T) {
	ctx := context.Background()
	c := raw(t, 200, "text/event-stream", ": comment\n"+
		"data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hel\"}]}}],\"modelVersion\":\"m-1\"}\n\n"+
		"data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"lo\"},{\"functionCall\":{\"name\":\"f\",\"args\":{\"a\":[1,2]}}},{\"functionCall\":{\"id\":\"x9\",\"name\":\"g\",\"args\":{}}}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":4,\"candidatesTokenCount\":2}}")
	s, err := c.ChatStream(ctx, simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	evs, err := collect(t, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 5 || evs[0].Text != "Hel" || evs[1].Text != "lo" {
		t.Fatalf("events %+v", evs)
	}
	if e := evs[2]; e.Type != bus.ToolCallDelta || e.Index != 0 || e.ID != "call_0" || e.Name != "f" || e.ArgumentsDelta != `{"a":[1,2]}` {
		t.Fatalf("call 0 %+v", e)
	}
	if e := evs[3]; e.Index != 1 || e.ID != "x9" {
		t.Fatalf("call 1 %+v", e)
	}
	if e := evs[4]; e.Type != bus.Done || e.Stop != bus.StopToolUse || e.Model != "m-1" || e.Usage.CompletionTokens != 2 {
		t.Fatalf("done %+v", e)
	}

	// A clean end without a finishReason is a cut, not a completion.
	c = raw(t, 200, "text/event-stream", "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hel\"}]}}]}\n\n")
	s, _ = c.ChatStream(ctx, simpleRequest())
	if _, err := collect(t, s); !isKind(err, bus.Unavailable) {
		t.Fatalf("cut: %v", err)
	}
	// An in-band error.
	c = raw(t, 200, "text/event-stream", "data: {\"error\":{\"code\":503,\"message\":\"overloaded\",\"status\":\"UNAVAILABLE\"}}\n\n")
	s, _ = c.ChatStream(ctx, simpleRequest())
	if _, err := collect(t, s); !isKind(err, bus.Unavailable) || !strings.Contains(err.Error(), "overloaded") {
		t.Fatalf("in-band: %v", err)
	}
	// Garbage.
	c = raw(t, 200, "text/event-stream", "data: {nope\n\n")
	s, _ = c.ChatStream(ctx, simpleRequest())
	if _, err := collect(t, s); !isKind(err, bus.Malformed) {
		t.Fatalf("garbage: %v", err)
	}
	// HTTP errors surface from ChatStream itself.
	c = raw(t, 401, "application/json", `{"error":{"code":401,"message":"API key not valid","status":"UNAUTHENTICATED"}}`)
	if _, err := c.ChatStream(ctx, simpleRequest()); !isKind(err, bus.AuthFailed) {
		t.Fatalf("401: %v", err)
	}
}

func TestLineLimit(t *testing.T) {
	big := "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"" + strings.Repeat("a", maxLine) + "\"}]},\"finishReason\":\"STOP\"}]}\n\n"
	c := raw(t, 200, "text/event-stream", big)
	s, err := c.ChatStream(context.Background(), simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := collect(t, s); !isKind(err, bus.Malformed) {
		t.Fatalf("oversized line: %v", err)
	}
}

func TestRequestErrors(t *testing.T) {
	c := New(Config{BaseURL: "http://127.0.0.1:1", APIKey: testKey})
	bad := simpleRequest()
	bad.Messages = append(bad.Messages, bus.Message{Role: bus.Assistant, ToolCalls: []bus.ToolCall{{ID: "1", Name: "f", Arguments: json.RawMessage(`[1]`)}}})
	if _, err := c.Chat(context.Background(), bad); !isKind(err, bus.BadRequest) {
		t.Fatalf("array args: %v", err)
	}
	noModel := simpleRequest()
	noModel.Model = ""
	if _, err := c.Chat(context.Background(), noModel); !isKind(err, bus.BadRequest) {
		t.Fatalf("no model: %v", err)
	}
}

// FuzzParseChunk feeds arbitrary SSE data payloads to the chunk decoder: it
// never panics, and tool call deltas always carry a JSON object.
func FuzzParseChunk(f *testing.F) {
	f.Add([]byte(`{"candidates":[{"content":{"parts":[{"text":"hi"}]},"finishReason":"STOP"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var st chunkState
		evs, err := st.handle(data)
		if err != nil {
			return
		}
		for _, ev := range evs {
			if ev.Type == bus.ToolCallDelta {
				var obj map[string]any
				if json.Unmarshal([]byte(ev.ArgumentsDelta), &obj) != nil {
					// Gemini's args is a Struct; anything else passes through
					// verbatim but must at least be valid JSON.
					if !json.Valid([]byte(ev.ArgumentsDelta)) {
						t.Fatalf("invalid args %q", ev.ArgumentsDelta)
					}
				}
				if ev.ID == "" {
					t.Fatal("tool call without id")
				}
			}
		}
		_ = st.doneEvent()
	})
}
