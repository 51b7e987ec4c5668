package ollama

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mirroros/mirror/bus"
)

// script is a bus.Stream that plays events, then err (or io.EOF).
type script struct {
	events []bus.Event
	err    error
	wait   chan struct{} // if set, Next blocks on it before the second event
	n      int
	closed bool
}

func (s *script) Next() (bus.Event, error) {
	if s.n == 1 && s.wait != nil {
		<-s.wait
	}
	if s.n < len(s.events) {
		s.n++
		return s.events[s.n-1], nil
	}
	if s.err != nil {
		return bus.Event{}, s.err
	}
	return bus.Event{}, io.EOF
}

func (s *script) Close() error { s.closed = true; return nil }

// line is one NDJSON line as a client reads it.
type line struct {
	Model     string `json:"model"`
	CreatedAt string `json:"created_at"`
	Message   *struct {
		Role      string `json:"role"`
		Content   string `json:"content"`
		ToolCalls []struct {
			Function struct {
				Name      string          `json:"name"`
				Arguments json.RawMessage `json:"arguments"`
			} `json:"function"`
		} `json:"tool_calls"`
	} `json:"message"`
	Done            bool    `json:"done"`
	DoneReason      string  `json:"done_reason"`
	PromptEvalCount *int    `json:"prompt_eval_count"`
	EvalCount       *int    `json:"eval_count"`
	Error           *string `json:"error"`
}

func readLines(t *testing.T, body string) []line {
	t.Helper()
	var out []line
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		var l line
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if dec.More() {
			t.Fatalf("line %q holds more than one object", sc.Text())
		}
		out = append(out, l)
	}
	if !strings.HasSuffix(body, "\n") {
		t.Fatalf("body does not end with a newline: %q", body)
	}
	return out
}

func stream(t *testing.T, s *script) (*httptest.ResponseRecorder, []line, error) {
	t.Helper()
	rec := httptest.NewRecorder()
	err := WriteStream(rec, "llama3.2", s)
	if !s.closed {
		t.Error("WriteStream did not close the stream")
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("Content-Type = %q", ct)
	}
	if !rec.Flushed {
		t.Error("WriteStream never flushed")
	}
	return rec, readLines(t, rec.Body.String()), err
}

func TestWriteStreamText(t *testing.T) {
	_, lines, err := stream(t, &script{events: []bus.Event{
		{Type: bus.TextDelta, Text: "The"},
		{Type: bus.TextDelta, Text: ""}, // nothing to send
		{Type: bus.TextDelta, Text: " sky <is> blue."},
		{Type: bus.Done, Stop: bus.StopEnd, Usage: bus.Usage{PromptTokens: 26, CompletionTokens: 282}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 3 {
		t.Fatalf("%d lines: %+v", len(lines), lines)
	}
	text := ""
	for i, l := range lines {
		if l.Model != "llama3.2" || l.Message == nil || l.Message.Role != "assistant" || l.Error != nil {
			t.Fatalf("line %d = %+v", i, l)
		}
		if _, err := time.Parse(time.RFC3339Nano, l.CreatedAt); err != nil {
			t.Fatalf("created_at %q: %v", l.CreatedAt, err)
		}
		if l.Done != (i == len(lines)-1) {
			t.Fatalf("line %d done = %v", i, l.Done)
		}
		text += l.Message.Content
	}
	if text != "The sky <is> blue." {
		t.Fatalf("text = %q", text)
	}
	last := lines[2]
	if last.DoneReason != "stop" || last.PromptEvalCount == nil || *last.PromptEvalCount != 26 || *last.EvalCount != 282 || last.Message.Content != "" {
		t.Fatalf("final line = %+v", last)
	}
}

func TestWriteStreamLength(t *testing.T) {
	_, lines, err := stream(t, &script{events: []bus.Event{
		{Type: bus.TextDelta, Text: "Once upon"},
		{Type: bus.Done, Stop: bus.StopMaxTokens, Usage: bus.Usage{PromptTokens: 3, CompletionTokens: 2}},
	}})
	if err != nil || len(lines) != 2 || !lines[1].Done || lines[1].DoneReason != "length" {
		t.Fatalf("err %v lines %+v", err, lines)
	}
}

func TestWriteStreamToolCallsWhole(t *testing.T) {
	_, lines, err := stream(t, &script{events: []bus.Event{
		{Type: bus.TextDelta, Text: "Checking."},
		{Type: bus.ToolCallDelta, Index: 0, ID: "toolu_1", Name: "get_weather"},
		{Type: bus.ToolCallDelta, Index: 0, ArgumentsDelta: `{"ci`},
		{Type: bus.ToolCallDelta, Index: 0, ArgumentsDelta: `ty":"Pu`},
		{Type: bus.ToolCallDelta, Index: 0, ArgumentsDelta: `ne"}`},
		{Type: bus.ToolCallDelta, Index: 1, ID: "toolu_2", Name: "get_time", ArgumentsDelta: `{"tz":`},
		{Type: bus.ToolCallDelta, Index: 1, ArgumentsDelta: `"IST"}`},
		{Type: bus.ToolCallDelta, Index: 2, Name: "no_args"},
		{Type: bus.Done, Stop: bus.StopToolUse, Usage: bus.Usage{PromptTokens: 20, CompletionTokens: 8}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// text, call 0 (when call 1 starts), call 1 (when call 2 starts), call 2 (at Done), done.
	if len(lines) != 5 {
		t.Fatalf("%d lines: %+v", len(lines), lines)
	}
	want := []struct{ name, args string }{{"get_weather", `{"city":"Pune"}`}, {"get_time", `{"tz":"IST"}`}, {"no_args", `{}`}}
	for i, w := range want {
		l := lines[1+i]
		if l.Done || l.Message.Content != "" || len(l.Message.ToolCalls) != 1 {
			t.Fatalf("line %d = %+v", 1+i, l)
		}
		f := l.Message.ToolCalls[0].Function
		if f.Name != w.name || !sameJSON(f.Arguments, []byte(w.args)) || f.Arguments[0] != '{' {
			t.Fatalf("call %d = %s %s, want %s %s", i, f.Name, f.Arguments, w.name, w.args)
		}
	}
	if last := lines[4]; !last.Done || last.DoneReason != "stop" || *last.EvalCount != 8 {
		t.Fatalf("final = %+v", last)
	}
}

func TestWriteStreamInterleavedToolCalls(t *testing.T) {
	// Fragments of two calls interleave: neither is sent half-done.
	_, lines, err := stream(t, &script{events: []bus.Event{
		{Type: bus.ToolCallDelta, Index: 0, Name: "a", ArgumentsDelta: `{"x":`},
		{Type: bus.ToolCallDelta, Index: 1, Name: "b", ArgumentsDelta: `{"y":`},
		{Type: bus.ToolCallDelta, Index: 0, ArgumentsDelta: `1}`},
		{Type: bus.ToolCallDelta, Index: 1, ArgumentsDelta: `2}`},
		{Type: bus.Done, Stop: bus.StopToolUse},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || len(lines[0].Message.ToolCalls) != 2 || !lines[1].Done {
		t.Fatalf("lines = %+v", lines)
	}
	if a := lines[0].Message.ToolCalls; a[0].Function.Name != "a" || !sameJSON(a[1].Function.Arguments, []byte(`{"y":2}`)) {
		t.Fatalf("calls = %+v", a)
	}
}

func TestWriteStreamMidStreamFailure(t *testing.T) {
	upstream := &bus.Error{Provider: "ollama", Kind: bus.Unavailable, Message: "stream broken: connection reset"}
	rec, lines, err := stream(t, &script{events: []bus.Event{{Type: bus.TextDelta, Text: "Hel"}}, err: upstream})
	if !errors.Is(err, upstream) {
		t.Fatalf("err = %v, want the stream's error", err)
	}
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	if len(lines) != 2 || lines[0].Message.Content != "Hel" {
		t.Fatalf("lines = %+v", lines)
	}
	last := lines[1]
	if last.Error == nil || !strings.Contains(*last.Error, "connection reset") || last.Done {
		t.Fatalf("last line = %+v", last)
	}
	for _, l := range lines {
		if l.Done {
			t.Fatal("a failed stream sent done:true")
		}
	}
}

func TestWriteStreamFailures(t *testing.T) {
	cases := map[string]*script{
		"ends without done": {events: []bus.Event{{Type: bus.TextDelta, Text: "Hi"}}},
		"fails at once":     {err: errors.New("upstream went away")},
		"truncated tool arguments": {events: []bus.Event{
			{Type: bus.ToolCallDelta, Index: 0, Name: "f", ArgumentsDelta: `{"a":`},
			{Type: bus.Done, Stop: bus.StopMaxTokens}}},
		"arguments not an object": {events: []bus.Event{
			{Type: bus.ToolCallDelta, Index: 0, Name: "f", ArgumentsDelta: `[1,2]`},
			{Type: bus.Done}}},
		"nameless tool call": {events: []bus.Event{
			{Type: bus.ToolCallDelta, Index: 0, ArgumentsDelta: `{}`},
			{Type: bus.Done}}},
		"fragment after the call was sent": {events: []bus.Event{
			{Type: bus.ToolCallDelta, Index: 0, Name: "f", ArgumentsDelta: `{}`},
			{Type: bus.ToolCallDelta, Index: 1, Name: "g", ArgumentsDelta: `{}`},
			{Type: bus.ToolCallDelta, Index: 0, ArgumentsDelta: `{"late":1}`},
			{Type: bus.Done}}},
	}
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			_, lines, err := stream(t, s)
			if err == nil {
				t.Fatal("no error returned")
			}
			if len(lines) == 0 {
				t.Fatal("nothing written")
			}
			last := lines[len(lines)-1]
			if last.Error == nil || *last.Error != err.Error() {
				t.Fatalf("last line = %+v, err %v", last, err)
			}
			for _, l := range lines {
				if l.Done {
					t.Fatal("a failed stream sent done:true")
				}
			}
		})
	}
}

// Lines reach the client as they are produced, not when the stream ends.
func TestWriteStreamFlushesEachLine(t *testing.T) {
	release := make(chan struct{})
	s := &script{wait: release, events: []bus.Event{
		{Type: bus.TextDelta, Text: "first"},
		{Type: bus.Done, Stop: bus.StopEnd},
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := WriteStream(w, "m", s); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	got := make(chan string, 1)
	go func() {
		l, _ := rd.ReadString('\n')
		got <- l
	}()
	select {
	case l := <-got:
		if !strings.Contains(l, `"content":"first"`) {
			t.Fatalf("first line %q", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first line was not flushed")
	}
	close(release)
	rest, _ := io.ReadAll(rd)
	if !strings.Contains(string(rest), `"done":true`) {
		t.Fatalf("rest = %q", rest)
	}
}

func TestWriteResponse(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteResponse(rec, "llama3.2", bus.Response{
		Model: "qwen3:8b",
		Message: bus.Message{Role: bus.Assistant,
			Content: []bus.Part{{Type: bus.TextPart, Text: "Let me check "}, {Type: bus.TextPart, Text: "<that>."}},
			ToolCalls: []bus.ToolCall{
				{ID: "call_0", Name: "get_current_weather", Arguments: json.RawMessage(`{"format":"celsius","location":"Paris, FR"}`)},
				{ID: "call_1", Name: "no_args"},
			}},
		Stop:  bus.StopToolUse,
		Usage: bus.Usage{PromptTokens: 122, CompletionTokens: 33},
	})
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("status %d type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"model", "created_at", "message", "done", "done_reason", "total_duration", "prompt_eval_count", "eval_count"} {
		if _, ok := got[k]; !ok {
			t.Errorf("field %q missing: %s", k, rec.Body)
		}
	}
	ls := readLines(t, rec.Body.String())
	l := ls[0]
	if l.Model != "llama3.2" || !l.Done || l.DoneReason != "stop" || *l.PromptEvalCount != 122 || *l.EvalCount != 33 {
		t.Fatalf("response = %s", rec.Body)
	}
	if l.Message.Role != "assistant" || l.Message.Content != "Let me check <that>." || len(l.Message.ToolCalls) != 2 {
		t.Fatalf("message = %+v", l.Message)
	}
	if f := l.Message.ToolCalls[0].Function; f.Name != "get_current_weather" || !sameJSON(f.Arguments, []byte(`{"format":"celsius","location":"Paris, FR"}`)) {
		t.Fatalf("call = %+v", f)
	}
	if f := l.Message.ToolCalls[1].Function; string(f.Arguments) != "{}" {
		t.Fatalf("empty arguments = %s", f.Arguments)
	}
	if string(got["total_duration"]) != "0" {
		t.Fatalf("total_duration = %s", got["total_duration"])
	}

	rec = httptest.NewRecorder()
	WriteResponse(rec, "", bus.Response{Model: "m", Stop: bus.StopMaxTokens})
	l = readLines(t, rec.Body.String())[0]
	if l.Model != "m" || l.DoneReason != "length" || l.Message.Content != "" || *l.EvalCount != 0 {
		t.Fatalf("response = %s", rec.Body)
	}
}

func TestWriteError(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, http.StatusNotFound, `model "nope" not found, try pulling it first`)
	if rec.Code != 404 || strings.TrimSpace(rec.Body.String()) != `{"error":"model \"nope\" not found, try pulling it first"}` {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

func TestWriteTagsAndVersion(t *testing.T) {
	rec := httptest.NewRecorder()
	mod := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	WriteTags(rec, []TagModel{{Name: "llama3.2:latest", ModifiedAt: mod, Size: 2019393189, Family: "llama"}, {Name: "openai/gpt-5"}})
	var tags struct {
		Models []struct {
			Name       string    `json:"name"`
			Model      string    `json:"model"`
			ModifiedAt time.Time `json:"modified_at"`
			Size       int64     `json:"size"`
			Digest     *string   `json:"digest"`
			Details    map[string]json.RawMessage
		} `json:"models"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tags); err != nil {
		t.Fatal(err)
	}
	if len(tags.Models) != 2 {
		t.Fatalf("tags = %s", rec.Body)
	}
	m := tags.Models[0]
	if m.Name != "llama3.2:latest" || m.Model != m.Name || !m.ModifiedAt.Equal(mod) || m.Size != 2019393189 || m.Digest == nil || *m.Digest != "" {
		t.Fatalf("model = %+v", m)
	}
	if string(m.Details["family"]) != `"llama"` || string(m.Details["families"]) != "null" || string(m.Details["format"]) != `""` ||
		string(m.Details["parameter_size"]) != `""` || string(m.Details["quantization_level"]) != `""` {
		t.Fatalf("details = %s", rec.Body)
	}

	rec = httptest.NewRecorder()
	WriteTags(rec, nil)
	if strings.TrimSpace(rec.Body.String()) != `{"models":[]}` {
		t.Fatalf("empty tags = %s", rec.Body)
	}

	rec = httptest.NewRecorder()
	WriteVersion(rec)
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"version":"0.6.0-mirroros"}` {
		t.Fatalf("version = %d %s", rec.Code, rec.Body)
	}
}
