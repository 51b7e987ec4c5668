package openai

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mirroros/mirror/bus"
)

// fakeStream replays events, then fails with err (or io.EOF after Done).
type fakeStream struct {
	events []bus.Event
	err    error
	gate   chan struct{} // if set, Next waits on it before each event
	closed bool
}

func (s *fakeStream) Next() (bus.Event, error) {
	if s.gate != nil {
		<-s.gate
	}
	if len(s.events) == 0 {
		if s.err != nil {
			return bus.Event{}, s.err
		}
		return bus.Event{}, io.EOF
	}
	ev := s.events[0]
	s.events = s.events[1:]
	return ev, nil
}

func (s *fakeStream) Close() error { s.closed = true; return nil }

// readSSE is a minimal SSE reader: it returns the data payloads in order.
func readSSE(t *testing.T, r io.Reader) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var data []string
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if data != nil {
				out = append(out, strings.Join(data, "\n"))
				data = nil
			}
			continue
		}
		if rest, ok := strings.CutPrefix(line, "data:"); ok {
			data = append(data, strings.TrimPrefix(rest, " "))
			continue
		}
		t.Fatalf("unexpected SSE line %q", line)
	}
	if data != nil {
		t.Fatalf("SSE event not terminated by a blank line: %q", data)
	}
	return out
}

// chunk is a chat.completion.chunk as a client reads it.
type chunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role      string  `json:"role"`
			Content   *string `json:"content"`
			ToolCalls []struct {
				Index    *int   `json:"index"`
				ID       string `json:"id"`
				Type     string `json:"type"`
				Function struct {
					Name      *string `json:"name"`
					Arguments string  `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens        int `json:"prompt_tokens"`
		CompletionTokens    int `json:"completion_tokens"`
		TotalTokens         int `json:"total_tokens"`
		PromptTokensDetails struct {
			CachedTokens int `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
	} `json:"usage"`
}

func TestWriteResponse(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteResponse(rec, "my-alias", bus.Response{
		Model: "gpt-4o-2024-08-06",
		Message: bus.Message{Role: bus.Assistant, Content: text("Checking <the> weather & time."), ToolCalls: []bus.ToolCall{
			{ID: "call_1", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Pune"}`)},
			{ID: "call_2", Name: "get_time", Arguments: json.RawMessage(`"{not json"`)},
		}},
		Stop:  bus.StopToolUse,
		Usage: bus.Usage{PromptTokens: 100, CompletionTokens: 20, CachedTokens: 64},
	})
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	body := rec.Body.String()
	if !strings.Contains(body, "<the> weather & time") {
		t.Fatalf("HTML-escaped body: %s", body)
	}
	// The exact documented shape, field by field.
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	id, _ := got["id"].(string)
	if !strings.HasPrefix(id, "chatcmpl-") || len(id) < 20 {
		t.Fatalf("id %q", id)
	}
	if created, _ := got["created"].(float64); time.Since(time.Unix(int64(created), 0)) > time.Minute {
		t.Fatalf("created %v", got["created"])
	}
	delete(got, "id")
	delete(got, "created")
	want := map[string]any{
		"object": "chat.completion",
		"model":  "my-alias",
		"choices": []any{map[string]any{
			"index": 0.0,
			"message": map[string]any{
				"role": "assistant", "content": "Checking <the> weather & time.", "refusal": nil,
				"tool_calls": []any{
					map[string]any{"id": "call_1", "type": "function", "function": map[string]any{"name": "get_weather", "arguments": `{"city":"Pune"}`}},
					map[string]any{"id": "call_2", "type": "function", "function": map[string]any{"name": "get_time", "arguments": `{not json`}},
				},
			},
			"logprobs":      nil,
			"finish_reason": "tool_calls",
		}},
		"usage": map[string]any{"prompt_tokens": 100.0, "completion_tokens": 20.0, "total_tokens": 120.0,
			"prompt_tokens_details": map[string]any{"cached_tokens": 64.0}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("response\n got %v\nwant %v", got, want)
	}

	// Only tool calls: content is null. Only text: no tool_calls key.
	rec = httptest.NewRecorder()
	WriteResponse(rec, "m", bus.Response{Message: bus.Message{Role: bus.Assistant, ToolCalls: []bus.ToolCall{{ID: "c", Name: "f"}}}, Stop: bus.StopEnd})
	if b := rec.Body.String(); !strings.Contains(b, `"content":null`) || !strings.Contains(b, `"arguments":"{}"`) || !strings.Contains(b, `"finish_reason":"tool_calls"`) {
		t.Fatalf("tool-only body %s", b)
	}
	rec = httptest.NewRecorder()
	WriteResponse(rec, "m", bus.Response{Message: bus.Message{Role: bus.Assistant}, Stop: bus.StopMaxTokens})
	if b := rec.Body.String(); !strings.Contains(b, `"content":""`) || strings.Contains(b, "tool_calls") || !strings.Contains(b, `"finish_reason":"length"`) {
		t.Fatalf("empty body %s", b)
	}
}

func TestFinishReasons(t *testing.T) {
	cases := []struct {
		stop  bus.StopReason
		tools bool
		want  string
	}{
		{bus.StopEnd, false, "stop"}, {bus.StopSequence, false, "stop"}, {bus.StopOther, false, "stop"},
		{bus.StopMaxTokens, false, "length"}, {bus.StopMaxTokens, true, "length"},
		{bus.StopToolUse, true, "tool_calls"}, {bus.StopEnd, true, "tool_calls"}, {bus.StopToolUse, false, "stop"},
		{bus.StopFiltered, false, "content_filter"},
	}
	for _, c := range cases {
		if got := finishReason(c.stop, c.tools); got != c.want {
			t.Errorf("finishReason(%s, %v) = %s, want %s", c.stop, c.tools, got, c.want)
		}
	}
}

func streamEvents() []bus.Event {
	return []bus.Event{
		{Type: bus.TextDelta, Text: "Let me "},
		{Type: bus.TextDelta, Text: ""},
		{Type: bus.TextDelta, Text: "check <that>."},
		{Type: bus.ToolCallDelta, Index: 0, ID: "call_a", Name: "get_weather", ArgumentsDelta: `{"ci`},
		{Type: bus.ToolCallDelta, Index: 0, ArgumentsDelta: `ty":"Pune"}`},
		{Type: bus.ToolCallDelta, Index: 1, ID: "call_b", Name: "get_time"},
		{Type: bus.ToolCallDelta, Index: 1, ArgumentsDelta: `{}`},
		{Type: bus.Done, Stop: bus.StopToolUse, Usage: bus.Usage{PromptTokens: 50, CompletionTokens: 9, CachedTokens: 10}, Model: "gpt-4o"},
	}
}

func TestWriteStream(t *testing.T) {
	for _, includeUsage := range []bool{true, false} {
		rec := httptest.NewRecorder()
		fs := &fakeStream{events: streamEvents()}
		if err := WriteStream(rec, "alias", fs, includeUsage); err != nil {
			t.Fatal(err)
		}
		if !fs.closed {
			t.Fatal("stream not closed")
		}
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/event-stream" || !rec.Flushed {
			t.Fatalf("status %d type %q flushed %v", rec.Code, rec.Header().Get("Content-Type"), rec.Flushed)
		}
		events := readSSE(t, rec.Body)
		if events[len(events)-1] != "[DONE]" {
			t.Fatalf("last event %q", events[len(events)-1])
		}
		var chunks []chunk
		for _, e := range events[:len(events)-1] {
			var c chunk
			if err := json.Unmarshal([]byte(e), &c); err != nil {
				t.Fatalf("%s: %v", e, err)
			}
			if c.Object != "chat.completion.chunk" || c.Model != "alias" || c.ID != chunks0ID(chunks, c.ID) || !strings.HasPrefix(c.ID, "chatcmpl-") {
				t.Fatalf("chunk header %s", e)
			}
			if includeUsage != strings.Contains(e, `"usage"`) {
				t.Fatalf("usage key present=%v in %s", !includeUsage, e)
			}
			chunks = append(chunks, c)
		}
		// First: the role, alone.
		if first := chunks[0].Choices[0]; first.Delta.Role != "assistant" || first.Delta.Content != nil || first.FinishReason != nil {
			t.Fatalf("first chunk %s", events[0])
		}
		// Reassemble as a client does.
		var text string
		type call struct{ id, name, args string }
		var calls []call
		var finish string
		var sawUsage bool
		for i, c := range chunks[1:] {
			if len(c.Choices) == 0 {
				if !includeUsage || c.Usage == nil || i != len(chunks)-2 {
					t.Fatalf("empty choices out of place: %s", events[i+1])
				}
				u := c.Usage
				if u.PromptTokens != 50 || u.CompletionTokens != 9 || u.TotalTokens != 59 || u.PromptTokensDetails.CachedTokens != 10 {
					t.Fatalf("usage %+v", u)
				}
				sawUsage = true
				continue
			}
			ch := c.Choices[0]
			if ch.Delta.Role != "" {
				t.Fatal("role repeated")
			}
			if ch.Delta.Content != nil {
				text += *ch.Delta.Content
			}
			for _, tc := range ch.Delta.ToolCalls {
				if tc.Index == nil {
					t.Fatal("tool call delta without index")
				}
				for len(calls) <= *tc.Index {
					calls = append(calls, call{})
				}
				cl := &calls[*tc.Index]
				if tc.ID != "" {
					if cl.id != "" || tc.Type != "function" || tc.Function.Name == nil {
						t.Fatalf("id repeated or first delta incomplete: %s", events[i+1])
					}
					cl.id, cl.name = tc.ID, *tc.Function.Name
				} else if tc.Type != "" || tc.Function.Name != nil {
					t.Fatalf("later delta carries type or name: %s", events[i+1])
				}
				cl.args += tc.Function.Arguments
			}
			if ch.FinishReason != nil {
				if ch.Delta.Content != nil || len(ch.Delta.ToolCalls) > 0 || finish != "" {
					t.Fatalf("finish chunk %s", events[i+1])
				}
				finish = *ch.FinishReason
			}
		}
		want := []call{{"call_a", "get_weather", `{"city":"Pune"}`}, {"call_b", "get_time", `{}`}}
		if text != "Let me check <that>." || !reflect.DeepEqual(calls, want) || finish != "tool_calls" || sawUsage != includeUsage {
			t.Fatalf("text %q calls %+v finish %q usage %v", text, calls, finish, sawUsage)
		}
	}
}

func chunks0ID(chunks []chunk, id string) string {
	if len(chunks) == 0 {
		return id
	}
	return chunks[0].ID
}

func TestWriteStreamMidwayFailure(t *testing.T) {
	upstream := &bus.Error{Provider: "openai", Kind: bus.Unavailable, Status: 503, Message: "overloaded"}
	for _, c := range []struct {
		name   string
		err    error
		code   string
		typ    string
		events []bus.Event
	}{
		{"a provider error", upstream, "upstream_unavailable", "server_error", streamEvents()[:4]},
		{"a rate limit", &bus.Error{Provider: "x", Kind: bus.RateLimited, Status: 429}, "upstream_rate_limited", "rate_limit_error", streamEvents()[:1]},
		{"EOF before done", nil, "stream_interrupted", "server_error", streamEvents()[:2]},
		{"failure before any event", errors.New("boom"), "server_error", "server_error", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			err := WriteStream(rec, "m", &fakeStream{events: c.events, err: c.err}, true)
			if err == nil || (c.err != nil && !errors.Is(err, c.err)) {
				t.Fatalf("err = %v", err)
			}
			events := readSSE(t, rec.Body)
			last := events[len(events)-1]
			for _, e := range events {
				if e == "[DONE]" {
					t.Fatal("[DONE] after a failure")
				}
				if strings.Contains(e, "finish_reason\":\"") {
					t.Fatalf("a finish chunk after a failure: %s", e)
				}
			}
			var body struct {
				Error *struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Code    string  `json:"code"`
					Param   *string `json:"param"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(last), &body); err != nil || body.Error == nil {
				t.Fatalf("last event %q is not an error", last)
			}
			if body.Error.Type != c.typ || body.Error.Code != c.code || body.Error.Message == "" || !strings.Contains(last, `"param":null`) {
				t.Fatalf("error event %s", last)
			}
		})
	}
}

// Over a real connection each chunk reaches the client as it is written.
func TestWriteStreamFlushes(t *testing.T) {
	gate := make(chan struct{})
	fs := &fakeStream{events: streamEvents(), gate: gate}
	done := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		done <- WriteStream(w, "m", fs, false)
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	readEvent := func() string {
		var lines []string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if line == "\n" {
				return strings.Join(lines, "")
			}
			lines = append(lines, line)
		}
	}
	if e := readEvent(); !strings.Contains(e, `"role":"assistant"`) {
		t.Fatalf("first event %q", e)
	}
	gate <- struct{}{} // release exactly one event
	if e := readEvent(); !strings.Contains(e, `"content":"Let me "`) {
		t.Fatalf("second event %q", e)
	}
	close(gate)
	rest, _ := io.ReadAll(br)
	if !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
		t.Fatalf("rest %q", rest)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestWriteError(t *testing.T) {
	cases := []struct {
		status   int
		typ      string
		code     string
		wantCode any
	}{
		{400, "invalid_request_error", "invalid_request", "invalid_request"},
		{401, "authentication_error", "invalid_api_key", "invalid_api_key"},
		{402, "insufficient_quota", "budget_exceeded", "budget_exceeded"},
		{403, "permission_error", "policy_block", "policy_block"},
		{404, "not_found_error", "model_not_found", "model_not_found"},
		{413, "invalid_request_error", "", nil},
		{429, "rate_limit_error", "rate_limit_exceeded", "rate_limit_exceeded"},
		{500, "server_error", "", nil},
		{502, "server_error", "upstream_unavailable", "upstream_unavailable"},
		{503, "server_error", "x", "x"},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		WriteError(rec, c.status, c.code, "it went <wrong>")
		var got map[string]map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		want := map[string]map[string]any{"error": {"message": "it went <wrong>", "type": c.typ, "param": nil, "code": c.wantCode}}
		if rec.Code != c.status || rec.Header().Get("Content-Type") != "application/json" || !reflect.DeepEqual(got, want) {
			t.Errorf("%d: status %d body %s", c.status, rec.Code, rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	WriteError(rec, 200, "", "not an error status")
	if rec.Code != 500 {
		t.Fatalf("status %d", rec.Code)
	}
}
