package openai

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mirroros/mirror/bus"
	"github.com/mirroros/mirror/bus/bustest"
)

var update = flag.Bool("update", false, "rewrite golden files")

const testKey = "sk-test-0123456789abcdef-SECRET"

func TestContract(t *testing.T) {
	f := newFake(t)
	bustest.Run(t, func(base string) bus.Provider {
		return New(Config{Name: "openai", BaseURL: base, APIKey: testKey})
	}, f, bustest.Capabilities{})
	if got := f.LastHeader("Authorization"); got != "Bearer "+testKey {
		t.Fatalf("Authorization = %q", got)
	}
}

func TestContractLocalWithoutKey(t *testing.T) {
	f := newFake(t)
	bustest.Run(t, func(base string) bus.Provider {
		return New(Config{Name: "llamacpp", BaseURL: base + "/", Local: true, Headers: map[string]string{"X-Title": "mirror"}})
	}, f, bustest.Capabilities{})
	if got := f.LastHeader("Authorization"); got != "" {
		t.Fatalf("Authorization sent without a key: %q", got)
	}
	if got := f.LastHeader("X-Title"); got != "mirror" {
		t.Fatalf("configured header not sent: %q", got)
	}
	ms, err := New(Config{BaseURL: f.URL(), Local: true}).Models(context.Background())
	if err != nil || len(ms) != 2 || !ms[0].Local || ms[1].Context != 8192 {
		t.Fatalf("models = %+v, %v", ms, err)
	}
}

// goldenRequest is a tool-using, image-bearing, multi-turn request.
func goldenRequest() bus.Request {
	temp, topP := 0.2, 0.9
	return bus.Request{
		Model:  "gpt-4o-mini",
		System: "You are a weather bot. Answer in <= 10 words.",
		Messages: []bus.Message{
			{Role: bus.User, Content: []bus.Part{
				{Type: bus.TextPart, Text: "What city is this, and what's the weather there?"},
				{Type: bus.ImagePart, MediaType: "image/png", Data: []byte("\x89PNG\r\n\x1a\nfake")},
				{Type: bus.ImagePart, URL: "https://example.com/skyline.jpg"},
			}},
			{Role: bus.Assistant,
				Content:   []bus.Part{{Type: bus.TextPart, Text: "That is Pune; checking."}},
				ToolCalls: []bus.ToolCall{{ID: "call_abc", Name: "get_weather", Arguments: json.RawMessage(`{"city": "Pune"}`)}}},
			{Role: bus.Tool, ToolCallID: "call_abc", Name: "get_weather", Content: []bus.Part{{Type: bus.TextPart, Text: `{"temp_c":31}`}}},
			{Role: bus.Assistant, ToolCalls: []bus.ToolCall{{ID: "call_def", Name: "get_time", Arguments: nil}}},
			{Role: bus.Tool, ToolCallID: "call_def", Content: []bus.Part{{Type: bus.TextPart, Text: "14:05"}}},
			{Role: bus.User, Content: []bus.Part{{Type: bus.TextPart, Text: "Thanks & bye."}}},
		},
		Tools: []bus.ToolSpec{
			{Name: "get_weather", Description: "Current weather for a city",
				Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)},
			{Name: "get_time"},
		},
		ToolChoice:  "get_weather",
		MaxTokens:   256,
		Temperature: &temp,
		TopP:        &topP,
		Stop:        []string{"END"},
		Extra: map[string]json.RawMessage{
			"seed":             json.RawMessage(`7`),
			"reasoning_effort": json.RawMessage(`"low"`),
			"response_format":  json.RawMessage(`{ "type": "text" }`),
			"thinking":         json.RawMessage(`{"type":"enabled"}`), // Anthropic's: dropped
			"stream":           json.RawMessage(`true`),               // the adapter's own field: dropped
			"model":            json.RawMessage(`"other"`),            // likewise
		},
	}
}

func TestGoldenRequest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stream bool
	}{{"chat_request", false}, {"chat_stream_request", true}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			c := New(Config{BaseURL: f.URL(), APIKey: testKey})
			f.Next(bustest.Script{Text: "Pune, 31°C."})
			if tc.stream {
				s, err := c.ChatStream(context.Background(), goldenRequest())
				if err != nil {
					t.Fatal(err)
				}
				drain(t, s)
			} else if _, err := c.Chat(context.Background(), goldenRequest()); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := json.Indent(&got, f.LastBody(), "", "  "); err != nil {
				t.Fatalf("request is not JSON: %v\n%s", err, f.LastBody())
			}
			got.WriteByte('\n')
			path := filepath.Join("testdata", tc.name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("request differs from %s (run with -update to accept):\n%s", path, got.Bytes())
			}
			// And the fake reads it back into the same conversation.
			last := f.Last()
			if last.System != goldenRequest().System || len(last.Messages) != 6 || last.ToolChoice != "get_weather" || last.MaxTokens != 256 {
				t.Fatalf("decoded back as %+v", last)
			}
			img := last.Messages[0].Content[1]
			if img.MediaType != "image/png" || string(img.Data) != "\x89PNG\r\n\x1a\nfake" {
				t.Fatalf("image decoded back as %+v", img)
			}
		})
	}
}

func drain(t *testing.T, s bus.Stream) []bus.Event {
	t.Helper()
	defer s.Close()
	var evs []bus.Event
	for {
		ev, err := s.Next()
		if errors.Is(err, io.EOF) {
			return evs
		}
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
}

func TestMaxCompletionTokens(t *testing.T) {
	f := newFake(t)
	c := New(Config{BaseURL: f.URL(), MaxCompletionTokens: true})
	f.Next(bustest.Script{Text: "ok"})
	if _, err := c.Chat(context.Background(), bus.Request{Model: "o3", MaxTokens: 99,
		Messages: []bus.Message{{Role: bus.User, Content: []bus.Part{{Type: bus.TextPart, Text: "hi"}}}}}); err != nil {
		t.Fatal(err)
	}
	body := string(f.LastBody())
	if !strings.Contains(body, `"max_completion_tokens":99`) || strings.Contains(body, `"max_tokens"`) {
		t.Fatalf("body = %s", body)
	}
}

func TestCachedTokensAndToolStop(t *testing.T) {
	f := newFake(t)
	c := New(Config{BaseURL: f.URL()})
	f.Next(bustest.Script{Text: "hi", Usage: bus.Usage{PromptTokens: 100, CompletionTokens: 2, CachedTokens: 64}})
	resp, err := c.Chat(context.Background(), bus.Request{Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Usage != (bus.Usage{PromptTokens: 100, CompletionTokens: 2, CachedTokens: 64}) || resp.Model != "m" {
		t.Fatalf("resp = %+v", resp)
	}
}

// upstream serves one canned answer body.
func upstream(t *testing.T, status int, header http.Header, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestErrorsNeverCarryTheKey(t *testing.T) {
	base := upstream(t, 401, nil, `{"error":{"message":"Incorrect API key provided: `+testKey+`.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`)
	c := New(Config{BaseURL: base, APIKey: testKey})
	_, err := c.Chat(context.Background(), bus.Request{Model: "m"})
	e, ok := bus.AsError(err)
	if !ok || e.Kind != bus.AuthFailed || e.Status != 401 {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), testKey) || strings.Contains(e.Message, testKey) || !strings.Contains(e.Message, "Incorrect API key") {
		t.Fatalf("message = %q", e.Message)
	}
	// A transport failure names the URL, never the key.
	c = New(Config{BaseURL: "http://127.0.0.1:1/v1", APIKey: testKey})
	_, err = c.Models(context.Background())
	if e, ok := bus.AsError(err); !ok || e.Kind != bus.Unavailable || strings.Contains(err.Error(), testKey) {
		t.Fatalf("err = %v", err)
	}
}

func TestErrorBodies(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		kind   bus.ErrorKind
		msg    string
	}{
		{404, `{"error":{"message":"The model 'x' does not exist","type":"invalid_request_error","code":"model_not_found"}}`, bus.BadRequest, "does not exist"},
		{403, `{"error":"forbidden region"}`, bus.AuthFailed, "forbidden region"},
		{422, `{"detail":"messages: field required"}`, bus.BadRequest, "field required"},
		{502, `<html>bad gateway</html>`, bus.Unavailable, "bad gateway"},
		{408, ``, bus.Unavailable, "Request Timeout"},
		{200, `{"error":{"message":"upstream quota","type":"rate_limit_error"}}`, bus.RateLimited, "upstream quota"},
		{200, `{"id":"x","object":"chat.completion","choices":[]}`, bus.Malformed, "without a choice"},
		{200, `[1,2,3]`, bus.Malformed, ""},
	} {
		c := New(Config{BaseURL: upstream(t, tc.status, nil, tc.body)})
		_, err := c.Chat(context.Background(), bus.Request{Model: "m"})
		e, ok := bus.AsError(err)
		if !ok || e.Kind != tc.kind || !strings.Contains(e.Message, tc.msg) {
			t.Errorf("%d %s: err = %v", tc.status, tc.body, err)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		h    http.Header
		want time.Duration
	}{
		{http.Header{"Retry-After": {"7"}}, 7 * time.Second},
		{http.Header{"Retry-After": {"1.5"}}, 1500 * time.Millisecond},
		{http.Header{"Retry-After": {now.Add(30 * time.Second).Format(http.TimeFormat)}}, 30 * time.Second},
		{http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, 0},
		{http.Header{"Retry-After": {"soon"}}, 0},
		{http.Header{"Retry-After": {"-3"}}, 0},
		{http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"1"}}, 250 * time.Millisecond},
		{http.Header{}, 0},
	} {
		if got := retryAfter(tc.h, now); got != tc.want {
			t.Errorf("%v: got %v, want %v", tc.h, got, tc.want)
		}
	}
	base := upstream(t, 429, http.Header{"Retry-After": {time.Now().Add(20 * time.Second).UTC().Format(http.TimeFormat)}},
		`{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`)
	_, err := New(Config{BaseURL: base}).Chat(context.Background(), bus.Request{Model: "m"})
	if e, ok := bus.AsError(err); !ok || e.Kind != bus.RateLimited || e.RetryAfter < 18*time.Second || e.RetryAfter > 21*time.Second {
		t.Fatalf("err = %v (%+v)", err, e)
	}
}

func TestStreamEdgeCases(t *testing.T) {
	const role = `data: {"id":"c","object":"chat.completion.chunk","model":"served-model","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}` + "\n\n"
	const finish = `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"length"}]}` + "\n\n"
	hdr := http.Header{"Content-Type": {"text/event-stream"}}
	open := func(body string) bus.Stream {
		s, err := New(Config{BaseURL: upstream(t, 200, hdr, body)}).ChatStream(context.Background(), bus.Request{Model: "m"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	errOf := func(s bus.Stream) error {
		defer s.Close()
		for {
			ev, err := s.Next()
			if err != nil {
				return err
			}
			if ev.Type == bus.Done {
				t.Fatalf("unexpected done %+v", ev)
			}
		}
	}

	t.Run("finish without [DONE] still completes", func(t *testing.T) {
		evs := drain(t, open(role+finish))
		last := evs[len(evs)-1]
		if last.Type != bus.Done || last.Stop != bus.StopMaxTokens || last.Model != "served-model" {
			t.Fatalf("events = %+v", evs)
		}
	})
	t.Run("no finish and no [DONE] is an error", func(t *testing.T) {
		err := errOf(open(role))
		if e, ok := bus.AsError(err); !ok || e.Kind != bus.Unavailable || errors.Is(err, io.EOF) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("an error chunk mid-stream is an error", func(t *testing.T) {
		err := errOf(open(role + `data: {"error":{"message":"model overloaded","type":"server_error"}}` + "\n\n"))
		if e, ok := bus.AsError(err); !ok || e.Kind != bus.Unavailable || e.Message != "model overloaded" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a bare JSON error instead of events is an error", func(t *testing.T) {
		err := errOf(open(`{"error":{"message":"streaming unsupported","type":"invalid_request_error"}}`))
		if e, ok := bus.AsError(err); !ok || e.Kind != bus.BadRequest || e.Message != "streaming unsupported" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a broken chunk is malformed", func(t *testing.T) {
		err := errOf(open(role + "data: {\"choices\":[\n\n"))
		if e, ok := bus.AsError(err); !ok || e.Kind != bus.Malformed {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("an over-long line is malformed", func(t *testing.T) {
		err := errOf(open(role + "data: " + strings.Repeat("x", maxLineBytes+10) + "\n\n"))
		if e, ok := bus.AsError(err); !ok || e.Kind != bus.Malformed {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("Next after Close fails", func(t *testing.T) {
		s := open(role + finish + "data: [DONE]\n\n")
		s.Close()
		if _, err := s.Next(); err == nil || errors.Is(err, io.EOF) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("tool calls without ids or indexes, CRLF lines", func(t *testing.T) {
		body := `data: {"choices":[{"index":0,"delta":{"tool_calls":[{"function":{"name":"a","arguments":{"x":1}}},{"function":{"name":"b","arguments":"{}"}}]}}]}` + "\r\n\r\n" +
			`data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"prompt_cache_hit_tokens":2}}` + "\r\n\r\ndata: [DONE]\r\n\r\n"
		evs := drain(t, open(body))
		if len(evs) != 3 || evs[0].ID != "call_0" || evs[0].Name != "a" || evs[0].ArgumentsDelta != `{"x":1}` ||
			evs[1].Index != 1 || evs[1].Name != "b" || evs[2].Stop != bus.StopToolUse ||
			evs[2].Usage != (bus.Usage{PromptTokens: 3, CompletionTokens: 4, CachedTokens: 2}) {
			t.Fatalf("events = %+v", evs)
		}
	})
	t.Run("an HTTP error before the stream is classified", func(t *testing.T) {
		_, err := New(Config{BaseURL: upstream(t, 503, nil, `{"error":{"message":"overloaded"}}`)}).ChatStream(context.Background(), bus.Request{Model: "m"})
		if e, ok := bus.AsError(err); !ok || e.Kind != bus.Unavailable || e.Message != "overloaded" {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestEmbed(t *testing.T) {
	f := newFake(t)
	c := New(Config{BaseURL: f.URL(), APIKey: testKey})
	vecs, usage, err := c.Embed(context.Background(), "text-embedding-3-small", []string{"a", "bbb", "cc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(vecs) != 3 || vecs[0][0] != 1 || vecs[1][0] != 3 || vecs[2][0] != 2 || vecs[2][1] != 2 || usage.PromptTokens != 12 {
		t.Fatalf("vecs = %v, usage = %+v", vecs, usage)
	}
	if got := f.LastHeader("Authorization"); got != "Bearer "+testKey {
		t.Fatalf("Authorization = %q", got)
	}
	// base64 vectors and a count mismatch
	b64 := upstream(t, 200, nil, `{"data":[{"index":0,"embedding":"AACAPwAAAEA="}],"usage":{"prompt_tokens":1}}`)
	vecs, _, err = New(Config{BaseURL: b64}).Embed(context.Background(), "m", []string{"x"})
	if err != nil || len(vecs) != 1 || vecs[0][0] != 1 || vecs[0][1] != 2 {
		t.Fatalf("base64: %v %v", vecs, err)
	}
	_, _, err = New(Config{BaseURL: b64}).Embed(context.Background(), "m", []string{"x", "y"})
	if e, ok := bus.AsError(err); !ok || e.Kind != bus.Malformed {
		t.Fatalf("mismatch err = %v", err)
	}
}

// FuzzParseChunk feeds arbitrary SSE lines through the chunk decoder: it
// must never panic, and whatever it accepts must yield well-formed events.
func FuzzParseChunk(f *testing.F) {
	f.Add([]byte(`data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}`))
	f.Add([]byte(`data: [DONE]`))
	f.Fuzz(func(t *testing.T, line []byte) {
		data, ok := sseData(line)
		if !ok {
			return
		}
		ch, err := parseChunk(data)
		if err != nil {
			return
		}
		var d chunkDecoder
		evs := d.apply(ch, nil)
		evs = d.apply(ch, evs) // a repeated chunk must not resend ids or names
		seen := map[int]bool{}
		for _, ev := range evs {
			switch ev.Type {
			case bus.TextDelta:
				if ev.Text == "" {
					t.Fatalf("empty text delta from %q", line)
				}
			case bus.ToolCallDelta:
				if ev.ID != "" {
					if seen[ev.Index] {
						t.Fatalf("id sent twice for call %d from %q", ev.Index, line)
					}
					seen[ev.Index] = true
				}
			default:
				t.Fatalf("event %q from a chunk", ev.Type)
			}
		}
		done := d.done()
		if done.Type != bus.Done || done.Stop == "" {
			t.Fatalf("done = %+v", done)
		}
	})
}

// ---- the fake upstream ----

// fakeUpstream is an OpenAI-compatible server driven by bustest scripts. It
// decodes requests with its own types (not the adapter's), so the test
// checks the wire shape rather than the adapter agreeing with itself.
type fakeUpstream struct {
	bustest.Recorder
	t   testing.TB
	srv *httptest.Server
}

var _ bustest.Fake = (*fakeUpstream)(nil)

func newFake(t testing.TB) *fakeUpstream {
	f := &fakeUpstream{t: t}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", f.chat)
	mux.HandleFunc("GET /v1/models", f.models)
	mux.HandleFunc("POST /v1/embeddings", f.embeddings)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeUpstream) URL() string { return f.srv.URL + "/v1" }

// ---- the request as the fake reads it ----

type fakeRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role      string          `json:"role"`
		Content   json.RawMessage `json:"content"`
		ToolCalls []struct {
			ID       string `json:"id"`
			Type     string `json:"type"`
			Function struct {
				Name      string `json:"name"`
				Arguments string `json:"arguments"` // a string holding JSON, strictly
			} `json:"function"`
		} `json:"tool_calls"`
		ToolCallID string `json:"tool_call_id"`
	} `json:"messages"`
	Tools []struct {
		Type     string `json:"type"`
		Function struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
		} `json:"function"`
	} `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	MaxTokens           int             `json:"max_tokens"`
	MaxCompletionTokens int             `json:"max_completion_tokens"`
	Stream              bool            `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// toBus decodes the wire request back into normalised form.
func (r fakeRequest) toBus() (bus.Request, error) {
	out := bus.Request{Model: r.Model, MaxTokens: r.MaxTokens}
	if r.MaxCompletionTokens != 0 {
		out.MaxTokens = r.MaxCompletionTokens
	}
	for i, m := range r.Messages {
		parts, err := fakeParts(m.Content)
		if err != nil {
			return out, fmt.Errorf("message %d: %v", i, err)
		}
		if m.Role == "system" && i == 0 {
			out.System = bus.Message{Content: parts}.Text()
			continue
		}
		bm := bus.Message{Role: bus.Role(m.Role), Content: parts, ToolCallID: m.ToolCallID}
		for _, tc := range m.ToolCalls {
			if tc.Type != "function" || !json.Valid([]byte(tc.Function.Arguments)) {
				return out, fmt.Errorf("message %d: bad tool call %+v", i, tc)
			}
			bm.ToolCalls = append(bm.ToolCalls, bus.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: json.RawMessage(tc.Function.Arguments)})
		}
		if m.Role == "tool" && m.ToolCallID == "" {
			return out, fmt.Errorf("message %d: tool result without tool_call_id", i)
		}
		out.Messages = append(out.Messages, bm)
	}
	for _, t := range r.Tools {
		if t.Type != "function" {
			return out, fmt.Errorf("tool type %q", t.Type)
		}
		out.Tools = append(out.Tools, bus.ToolSpec{Name: t.Function.Name, Description: t.Function.Description, Parameters: t.Function.Parameters})
	}
	if len(r.ToolChoice) > 0 {
		var s string
		var named struct {
			Function struct{ Name string } `json:"function"`
		}
		if json.Unmarshal(r.ToolChoice, &s) == nil {
			out.ToolChoice = s
		} else if json.Unmarshal(r.ToolChoice, &named) == nil {
			out.ToolChoice = named.Function.Name
		}
	}
	return out, nil
}

func fakeParts(raw json.RawMessage) ([]bus.Part, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []bus.Part{{Type: bus.TextPart, Text: s}}, nil
	}
	var parts []struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		ImageURL struct {
			URL string `json:"url"`
		} `json:"image_url"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, err
	}
	var out []bus.Part
	for _, p := range parts {
		switch p.Type {
		case "text":
			out = append(out, bus.Part{Type: bus.TextPart, Text: p.Text})
		case "image_url":
			u := p.ImageURL.URL
			if rest, ok := strings.CutPrefix(u, "data:"); ok {
				mt, b64, ok := strings.Cut(rest, ";base64,")
				if !ok {
					return nil, fmt.Errorf("bad data URL")
				}
				data, err := base64.StdEncoding.DecodeString(b64)
				if err != nil {
					return nil, err
				}
				out = append(out, bus.Part{Type: bus.ImagePart, MediaType: mt, Data: data})
			} else {
				out = append(out, bus.Part{Type: bus.ImagePart, URL: u})
			}
		default:
			return nil, fmt.Errorf("part type %q", p.Type)
		}
	}
	return out, nil
}

// ---- answers ----

func (f *fakeUpstream) chat(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var req fakeRequest
	err := json.Unmarshal(raw, &req)
	var breq bus.Request
	if err == nil {
		breq, err = req.toBus()
	}
	if err == nil && req.Stream && (req.StreamOptions == nil || !req.StreamOptions.IncludeUsage) {
		err = fmt.Errorf("stream without stream_options.include_usage")
	}
	s := f.Take(r.Header, raw, breq)
	if err != nil {
		writeError(w, 400, "fake could not read the request: "+err.Error(), 0)
		return
	}
	if s.Status != 0 {
		writeError(w, s.Status, s.Message, s.RetryAfter)
		return
	}
	model := s.Model
	if model == "" {
		model = req.Model
	}
	if req.Stream {
		f.stream(w, s, model)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if s.Malformed {
		io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":`)
		return
	}
	msg := map[string]any{"role": "assistant", "content": nil, "refusal": nil}
	if s.Text != "" {
		msg["content"] = s.Text
	}
	finish := "stop"
	if len(s.ToolCalls) > 0 {
		finish = "tool_calls"
		var calls []map[string]any
		for _, c := range s.ToolCalls {
			calls = append(calls, map[string]any{"id": c.ID, "type": "function",
				"function": map[string]any{"name": c.Name, "arguments": string(c.Arguments)}})
		}
		msg["tool_calls"] = calls
	}
	json.NewEncoder(w).Encode(map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion", "created": time.Now().Unix(), "model": model,
		"choices":            []any{map[string]any{"index": 0, "message": msg, "logprobs": nil, "finish_reason": finish}},
		"usage":              fakeUsage(s.Usage),
		"system_fingerprint": "fp_fake",
	})
}

func fakeUsage(u bus.Usage) map[string]any {
	return map[string]any{
		"prompt_tokens": u.PromptTokens, "completion_tokens": u.CompletionTokens,
		"total_tokens":          u.PromptTokens + u.CompletionTokens,
		"prompt_tokens_details": map[string]any{"cached_tokens": u.CachedTokens},
	}
}

func (f *fakeUpstream) stream(w http.ResponseWriter, s bustest.Script, model string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	fl := w.(http.Flusher)
	chunk := func(choices []any, usage any) {
		b, _ := json.Marshal(map[string]any{"id": "chatcmpl-1", "object": "chat.completion.chunk",
			"created": 1700000000, "model": model, "system_fingerprint": "fp_fake", "choices": choices, "usage": usage})
		fmt.Fprintf(w, "data: %s\n\n", b)
		fl.Flush()
	}
	delta := func(d map[string]any, finish any) []any {
		return []any{map[string]any{"index": 0, "delta": d, "logprobs": nil, "finish_reason": finish}}
	}
	if s.Malformed {
		io.WriteString(w, "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\n\n")
		return
	}
	pieces := strings.SplitAfter(s.Text, " ")
	if s.Text == "" {
		pieces = []string{""}
	}
	chunk(delta(map[string]any{"role": "assistant", "content": pieces[0], "refusal": nil}, nil), nil)
	if s.CutStream {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			f.t.Errorf("hijack: %v", err)
			return
		}
		conn.Close()
		return
	}
	// An SSE comment, as OpenRouter sends while it waits.
	io.WriteString(w, ": keep-alive\n\n")
	for _, p := range pieces[1:] {
		chunk(delta(map[string]any{"content": p}, nil), nil)
	}
	for i, c := range s.ToolCalls {
		chunk(delta(map[string]any{"tool_calls": []any{map[string]any{"index": i, "id": c.ID, "type": "function",
			"function": map[string]any{"name": c.Name, "arguments": ""}}}}, nil), nil)
		args := string(c.Arguments)
		for len(args) > 0 {
			n := min(len(args), 5)
			chunk(delta(map[string]any{"tool_calls": []any{map[string]any{"index": i,
				"function": map[string]any{"arguments": args[:n]}}}}, nil), nil)
			args = args[n:]
		}
	}
	finish := "stop"
	if len(s.ToolCalls) > 0 {
		finish = "tool_calls"
	}
	chunk(delta(map[string]any{}, finish), nil)
	chunk([]any{}, fakeUsage(s.Usage))
	io.WriteString(w, "data: [DONE]\n\n")
}

func writeError(w http.ResponseWriter, status int, msg string, retry time.Duration) {
	typ := "invalid_request_error"
	var code any
	switch {
	case status == 429:
		typ, code = "requests", "rate_limit_exceeded"
	case status == 401:
		typ, code = "invalid_request_error", "invalid_api_key"
	case status >= 500:
		typ = "server_error"
	}
	if retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(retry/time.Second)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": code}})
}

func (f *fakeUpstream) models(w http.ResponseWriter, r *http.Request) {
	f.Saw(r.Header)
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"object":"list","data":[`+
		`{"id":"test-model","object":"model","created":1686935002,"owned_by":"fake"},`+
		`{"id":"other-model","object":"model","created":1686935002,"owned_by":"fake","max_model_len":8192}]}`)
}

// embeddings answers with vectors [len(input), i, 0.5], listed in reverse
// order so that the adapter has to honour "index".
func (f *fakeUpstream) embeddings(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model string   `json:"model"`
		Input []string `json:"input"`
	}
	f.Saw(r.Header)
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model == "" {
		writeError(w, 400, "bad embeddings request", 0)
		return
	}
	var data []any
	for i := len(req.Input) - 1; i >= 0; i-- {
		data = append(data, map[string]any{"object": "embedding", "index": i,
			"embedding": []float32{float32(len(req.Input[i])), float32(i), 0.5}})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": req.Model,
		"usage": map[string]any{"prompt_tokens": 4 * len(req.Input), "total_tokens": 4 * len(req.Input)}})
}
