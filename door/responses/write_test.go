package responses

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mirroros/mirror/bus"
)

func TestWriteError(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, 400, "invalid_request", "missing required parameter: 'model'")
	var got map[string]map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	e := got["error"]
	if rec.Code != 400 || rec.Header().Get("Content-Type") != "application/json" ||
		e["message"] != "missing required parameter: 'model'" || e["type"] != "invalid_request_error" ||
		e["code"] != "invalid_request" {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
	if v, ok := e["param"]; !ok || v != nil {
		t.Errorf("param %v %v", v, ok)
	}
	rec = httptest.NewRecorder()
	WriteError(rec, 503, "", "no provider")
	if !strings.Contains(rec.Body.String(), `"type":"server_error"`) {
		t.Errorf("%s", rec.Body)
	}
}

// wireResponse is the response object as a client reads it.
type wireResponse struct {
	ID                string `json:"id"`
	Object            string `json:"object"`
	CreatedAt         int64  `json:"created_at"`
	Status            string `json:"status"`
	Model             string `json:"model"`
	IncompleteDetails *struct {
		Reason string `json:"reason"`
	} `json:"incomplete_details"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Output []wireItem `json:"output"`
	Usage  *struct {
		InputTokens        int `json:"input_tokens"`
		InputTokensDetails struct {
			CachedTokens *int `json:"cached_tokens"`
		} `json:"input_tokens_details"`
		OutputTokens        int `json:"output_tokens"`
		OutputTokensDetails struct {
			ReasoningTokens *int `json:"reasoning_tokens"`
		} `json:"output_tokens_details"`
		TotalTokens int `json:"total_tokens"`
	} `json:"usage"`
}

type wireItem struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Status  string `json:"status"`
	Role    string `json:"role"`
	Content []struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		Annotations []any  `json:"annotations"`
	} `json:"content"`
	CallID    string  `json:"call_id"`
	Name      string  `json:"name"`
	Arguments *string `json:"arguments"`
}

func TestWriteResponse(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteResponse(rec, "mirror/coder", bus.Response{
		Model: "gpt-x",
		Message: bus.Message{Role: bus.Assistant, Content: []bus.Part{{Type: bus.TextPart, Text: "Running it."}},
			ToolCalls: []bus.ToolCall{
				{ID: "call_1", Name: "exec_command", Arguments: json.RawMessage(`{"cmd":"ls"}`)},
				{ID: "call_2", Name: "get_goal"},
			}},
		Stop:  bus.StopToolUse,
		Usage: bus.Usage{PromptTokens: 100, CompletionTokens: 20, CachedTokens: 64},
	})
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	var r wireResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.ID, "resp_") || r.Object != "response" || r.CreatedAt == 0 || r.Status != "completed" ||
		r.Model != "mirror/coder" || r.IncompleteDetails != nil || r.Error != nil {
		t.Errorf("%s", rec.Body)
	}
	if len(r.Output) != 3 {
		t.Fatalf("output %s", rec.Body)
	}
	msg := r.Output[0]
	if msg.Type != "message" || !strings.HasPrefix(msg.ID, "msg_") || msg.Status != "completed" || msg.Role != "assistant" ||
		len(msg.Content) != 1 || msg.Content[0].Type != "output_text" || msg.Content[0].Text != "Running it." || msg.Content[0].Annotations == nil {
		t.Errorf("message %+v", msg)
	}
	fc := r.Output[1]
	if fc.Type != "function_call" || !strings.HasPrefix(fc.ID, "fc_") || fc.CallID != "call_1" || fc.Name != "exec_command" ||
		fc.Arguments == nil || *fc.Arguments != `{"cmd":"ls"}` || fc.Status != "completed" {
		t.Errorf("call %+v", fc)
	}
	if *r.Output[2].Arguments != "{}" {
		t.Errorf("empty arguments %q", *r.Output[2].Arguments)
	}
	u := r.Usage
	if u == nil || u.InputTokens != 100 || *u.InputTokensDetails.CachedTokens != 64 || u.OutputTokens != 20 ||
		*u.OutputTokensDetails.ReasoningTokens != 0 || u.TotalTokens != 120 {
		t.Errorf("usage %s", rec.Body)
	}

	rec = httptest.NewRecorder()
	WriteResponse(rec, "", bus.Response{Model: "gpt-x", Stop: bus.StopMaxTokens,
		Message: bus.Message{Role: bus.Assistant, Content: []bus.Part{{Type: bus.TextPart, Text: "Once upon"}}}})
	r = wireResponse{}
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if r.Status != "incomplete" || r.IncompleteDetails == nil || r.IncompleteDetails.Reason != "max_output_tokens" || r.Model != "gpt-x" {
		t.Errorf("%s", rec.Body)
	}
}

// fakeStream replays events, then an error (io.EOF by default).
type fakeStream struct {
	evs    []bus.Event
	err    error
	closed bool
}

func (s *fakeStream) Next() (bus.Event, error) {
	if len(s.evs) == 0 {
		if s.err != nil {
			return bus.Event{}, s.err
		}
		return bus.Event{}, io.EOF
	}
	ev := s.evs[0]
	s.evs = s.evs[1:]
	return ev, nil
}

func (s *fakeStream) Close() error { s.closed = true; return nil }

type sseEvent struct {
	name string
	data map[string]any
	raw  string
}

// readSSE is a minimal SSE reader: "event:" and "data:" lines, events
// separated by blank lines.
func readSSE(t *testing.T, r io.Reader) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.name != "" || cur.raw != "" {
				if err := json.Unmarshal([]byte(cur.raw), &cur.data); err != nil {
					t.Fatalf("event %s: data %q: %v", cur.name, cur.raw, err)
				}
				out = append(out, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.raw += strings.TrimPrefix(line, "data: ")
		default:
			t.Fatalf("unexpected SSE line %q", line)
		}
	}
	if cur.name != "" || cur.raw != "" {
		t.Fatalf("unterminated event %q", cur.name)
	}
	return out
}

// checkEvents checks what every event must hold and returns the names.
func checkEvents(t *testing.T, evs []sseEvent) []string {
	t.Helper()
	var names []string
	for i, ev := range evs {
		if ev.data["type"] != ev.name {
			t.Errorf("event %d: type %v under event %q", i, ev.data["type"], ev.name)
		}
		if n, ok := ev.data["sequence_number"].(float64); !ok || int(n) != i {
			t.Errorf("event %d (%s): sequence_number %v", i, ev.name, ev.data["sequence_number"])
		}
		names = append(names, ev.name)
	}
	return names
}

func decode[T any](t *testing.T, v any) T {
	t.Helper()
	b, _ := json.Marshal(v)
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWriteStream(t *testing.T) {
	s := &fakeStream{evs: []bus.Event{
		{Type: bus.TextDelta, Text: "Let me "},
		{Type: bus.TextDelta, Text: "look."},
		{Type: bus.ToolCallDelta, Index: 0, ID: "call_A", Name: "exec_command"},
		{Type: bus.ToolCallDelta, Index: 0, ArgumentsDelta: `{"cmd":`},
		{Type: bus.ToolCallDelta, Index: 1, ID: "call_B", Name: "write_stdin", ArgumentsDelta: `{"session_id":1,`},
		{Type: bus.ToolCallDelta, Index: 0, ArgumentsDelta: `"ls -la"}`},
		{Type: bus.ToolCallDelta, Index: 1, ArgumentsDelta: `"chars":"q"}`},
		{Type: bus.Done, Stop: bus.StopToolUse, Usage: bus.Usage{PromptTokens: 50, CompletionTokens: 7, CachedTokens: 10}, Model: "gpt-x"},
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := WriteStream(w, "mirror/coder", s); err != nil {
			t.Errorf("WriteStream: %v", err)
		}
	}))
	defer srv.Close()
	res, err := http.Post(srv.URL, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("content type %q", ct)
	}
	evs := readSSE(t, res.Body)
	names := checkEvents(t, evs)
	want := []string{
		"response.created", "response.in_progress",
		"response.output_item.added", "response.content_part.added",
		"response.output_text.delta", "response.output_text.delta",
		"response.output_text.done", "response.content_part.done", "response.output_item.done",
		"response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.delta",
		"response.function_call_arguments.done", "response.output_item.done",
		"response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.delta",
		"response.function_call_arguments.done", "response.output_item.done",
		"response.completed",
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("events\n got %v\nwant %v", names, want)
	}
	if !s.closed {
		t.Error("stream not closed")
	}

	created := decode[wireResponse](t, evs[0].data["response"])
	if created.Status != "in_progress" || !strings.HasPrefix(created.ID, "resp_") || created.Model != "mirror/coder" {
		t.Errorf("created %+v", created)
	}
	added := decode[wireItem](t, evs[2].data["item"])
	if added.Type != "message" || added.Status != "in_progress" || added.Role != "assistant" || evs[2].data["output_index"] != 0.0 {
		t.Errorf("message added %s", evs[2].raw)
	}
	text := ""
	for _, ev := range evs {
		if ev.name == "response.output_text.delta" {
			if ev.data["item_id"] != added.ID {
				t.Errorf("delta for item %v", ev.data["item_id"])
			}
			text += ev.data["delta"].(string)
		}
	}
	if text != "Let me look." || evs[6].data["text"] != text {
		t.Errorf("text %q, done %v", text, evs[6].data["text"])
	}

	// Each function call: the added item has empty arguments, the deltas
	// join into valid JSON equal to the done event's and the item's.
	var calls []wireItem
	for i := 9; i < 19; i += 5 {
		item := decode[wireItem](t, evs[i].data["item"])
		if item.Type != "function_call" || item.Arguments == nil || *item.Arguments != "" || item.Status != "in_progress" ||
			!strings.HasPrefix(item.ID, "fc_") {
			t.Errorf("call added %s", evs[i].raw)
		}
		args := ""
		for _, ev := range evs[i+1 : i+3] {
			if ev.data["item_id"] != item.ID || ev.data["output_index"] != evs[i].data["output_index"] {
				t.Errorf("delta %s for item %s", ev.raw, item.ID)
			}
			args += ev.data["delta"].(string)
		}
		if !json.Valid([]byte(args)) || evs[i+3].data["arguments"] != args {
			t.Errorf("arguments %q, done %v", args, evs[i+3].data["arguments"])
		}
		doneItem := decode[wireItem](t, evs[i+4].data["item"])
		if doneItem.ID != item.ID || *doneItem.Arguments != args || doneItem.Status != "completed" {
			t.Errorf("call done %s", evs[i+4].raw)
		}
		calls = append(calls, doneItem)
	}
	if calls[0].CallID != "call_A" || calls[0].Name != "exec_command" || calls[1].CallID != "call_B" || calls[1].Name != "write_stdin" {
		t.Errorf("calls %+v", calls)
	}
	if evs[9].data["output_index"] != 1.0 || evs[14].data["output_index"] != 2.0 {
		t.Errorf("output indexes %v %v", evs[9].data["output_index"], evs[14].data["output_index"])
	}

	final := decode[wireResponse](t, evs[len(evs)-1].data["response"])
	if final.Status != "completed" || final.ID != created.ID || len(final.Output) != 3 || final.Output[0].Content[0].Text != text ||
		*final.Output[1].Arguments != `{"cmd":"ls -la"}` || final.Output[2].CallID != "call_B" {
		t.Errorf("completed %s", evs[len(evs)-1].raw)
	}
	if u := final.Usage; u == nil || u.InputTokens != 50 || u.OutputTokens != 7 || *u.InputTokensDetails.CachedTokens != 10 || u.TotalTokens != 57 {
		t.Errorf("usage %s", evs[len(evs)-1].raw)
	}
}

func TestWriteStreamTextOnlyAndIncomplete(t *testing.T) {
	rec := httptest.NewRecorder()
	err := WriteStream(rec, "m", &fakeStream{evs: []bus.Event{
		{Type: bus.TextDelta, Text: "abc"},
		{Type: bus.Done, Stop: bus.StopMaxTokens, Usage: bus.Usage{PromptTokens: 3, CompletionTokens: 1}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	evs := readSSE(t, rec.Body)
	names := checkEvents(t, evs)
	if names[len(names)-1] != "response.incomplete" || len(names) != 9 {
		t.Fatalf("events %v", names)
	}
	final := decode[wireResponse](t, evs[len(evs)-1].data["response"])
	if final.Status != "incomplete" || final.IncompleteDetails == nil || final.IncompleteDetails.Reason != "max_output_tokens" ||
		len(final.Output) != 1 || final.Usage == nil {
		t.Errorf("%s", evs[len(evs)-1].raw)
	}

	// Only a tool call, with no arguments: the deltas still make "{}".
	rec = httptest.NewRecorder()
	if err := WriteStream(rec, "m", &fakeStream{evs: []bus.Event{
		{Type: bus.ToolCallDelta, ID: "call_1", Name: "get_goal"},
		{Type: bus.Done, Stop: bus.StopToolUse},
	}}); err != nil {
		t.Fatal(err)
	}
	evs = readSSE(t, rec.Body)
	names = checkEvents(t, evs)
	if strings.Join(names, " ") != "response.created response.in_progress response.output_item.added response.function_call_arguments.delta "+
		"response.function_call_arguments.done response.output_item.done response.completed" {
		t.Fatalf("events %v", names)
	}
	if evs[4].data["arguments"] != "{}" || evs[2].data["output_index"] != 0.0 {
		t.Errorf("%s", evs[4].raw)
	}
}

func TestWriteStreamFailure(t *testing.T) {
	boom := &bus.Error{Provider: "openai", Status: 502, Kind: bus.Unavailable, Message: "upstream reset"}
	for name, s := range map[string]*fakeStream{
		"error":      {evs: []bus.Event{{Type: bus.TextDelta, Text: "partial"}}, err: boom},
		"early eof":  {evs: []bus.Event{{Type: bus.TextDelta, Text: "partial"}}},
		"nameless":   {evs: []bus.Event{{Type: bus.ToolCallDelta, ArgumentsDelta: "{}"}, {Type: bus.Done}}},
		"first call": {err: boom},
	} {
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			err := WriteStream(rec, "m", s)
			if err == nil {
				t.Fatal("no error returned")
			}
			if name == "error" || name == "first call" {
				if !errors.Is(err, boom) {
					t.Errorf("err %v", err)
				}
			}
			evs := readSSE(t, rec.Body)
			names := checkEvents(t, evs)
			last := evs[len(evs)-1]
			if last.name != "response.failed" {
				t.Fatalf("events %v", names)
			}
			for _, n := range names {
				if n == "response.completed" {
					t.Errorf("completed after a failure: %v", names)
				}
			}
			r := decode[wireResponse](t, last.data["response"])
			if r.Status != "failed" || r.Error == nil || r.Error.Code != "server_error" || r.Error.Message == "" {
				t.Errorf("%s", last.raw)
			}
			if name == "error" {
				if !strings.Contains(r.Error.Message, "upstream reset") || len(r.Output) != 1 || r.Output[0].Status != "incomplete" ||
					r.Output[0].Content[0].Text != "partial" {
					t.Errorf("%s", last.raw)
				}
				if names[len(names)-2] != "response.output_item.done" {
					t.Errorf("open message not closed: %v", names)
				}
			}
			if !s.closed {
				t.Error("stream not closed")
			}
		})
	}
}
