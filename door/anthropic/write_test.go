package anthropic

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mirroros/mirror/bus"
)

// fakeStream replays events, then err (io.EOF if nil).
type fakeStream struct {
	events []bus.Event
	err    error
	closed bool
}

func (f *fakeStream) Next() (bus.Event, error) {
	if len(f.events) > 0 {
		ev := f.events[0]
		f.events = f.events[1:]
		return ev, nil
	}
	if f.err != nil {
		return bus.Event{}, f.err
	}
	return bus.Event{}, io.EOF
}

func (f *fakeStream) Close() error { f.closed = true; return nil }

// frame is one parsed SSE event.
type frame struct {
	name string
	data map[string]any
	raw  string
}

// readSSE is a minimal SSE parser: event/data lines, blank-line dispatch.
func readSSE(t *testing.T, body string) []frame {
	t.Helper()
	var out []frame
	var name, data string
	hasData := false
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if hasData {
				var m map[string]any
				if err := json.Unmarshal([]byte(data), &m); err != nil {
					t.Fatalf("event %q data is not JSON: %q", name, data)
				}
				if m["type"] != name {
					t.Fatalf("event %q carries type %v", name, m["type"])
				}
				out = append(out, frame{name: name, data: m, raw: data})
			}
			name, data, hasData = "", "", false
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if hasData {
				data += "\n"
			}
			data += strings.TrimPrefix(line, "data: ")
			hasData = true
		default:
			t.Fatalf("unexpected SSE line %q", line)
		}
	}
	if hasData {
		t.Fatal("stream ends with an undispatched event")
	}
	return out
}

func names(fs []frame) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.name)
	}
	return strings.Join(s, ",")
}

func TestWriteStreamTextAndTools(t *testing.T) {
	s := &fakeStream{events: []bus.Event{
		{Type: bus.TextDelta, Text: "Let me "},
		{Type: bus.TextDelta, Text: "check."},
		{Type: bus.ToolCallDelta, Index: 0, ID: "call_a", Name: "Bash"},
		{Type: bus.ToolCallDelta, Index: 0, ArgumentsDelta: `{"comm`},
		{Type: bus.ToolCallDelta, Index: 0, ArgumentsDelta: `and":"ls <x> & y"}`},
		{Type: bus.ToolCallDelta, Index: 1, ID: "call_b", Name: "Read", ArgumentsDelta: `{"file_path":`},
		{Type: bus.ToolCallDelta, Index: 1, ArgumentsDelta: `"/etc/hosts"}`},
		{Type: bus.ToolCallDelta, Index: 2, ID: "", Name: "Noargs"},
		{Type: bus.Done, Stop: bus.StopEnd, Usage: bus.Usage{PromptTokens: 100, CompletionTokens: 20, CachedTokens: 60}},
	}}
	rec := httptest.NewRecorder()
	if err := WriteStream(rec, "claude-opus-5-5", s); err != nil {
		t.Fatal(err)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q", ct)
	}
	if !rec.Flushed {
		t.Error("stream was not flushed")
	}
	fs := readSSE(t, rec.Body.String())
	want := "message_start,ping," +
		"content_block_start,content_block_delta,content_block_delta,content_block_stop," +
		"content_block_start,content_block_delta,content_block_delta,content_block_stop," +
		"content_block_start,content_block_delta,content_block_delta,content_block_stop," +
		"content_block_start,content_block_stop," +
		"message_delta,message_stop"
	if got := names(fs); got != want {
		t.Fatalf("events:\n got %s\nwant %s", got, want)
	}
	msg := fs[0].data["message"].(map[string]any)
	if msg["model"] != "claude-opus-5-5" || msg["role"] != "assistant" || msg["type"] != "message" || !strings.HasPrefix(msg["id"].(string), "msg_") {
		t.Errorf("message_start = %s", fs[0].raw)
	}
	if u := msg["usage"].(map[string]any); u["input_tokens"] != float64(0) {
		t.Errorf("message_start usage = %v", u)
	}
	if c, ok := msg["content"].([]any); !ok || len(c) != 0 {
		t.Errorf("message_start content = %v", msg["content"])
	}

	// Walk the blocks: indices, types, joined deltas.
	type block struct {
		typ, id, name string
		text, json    strings.Builder
	}
	var blocks []*block
	var open *block
	for _, f := range fs {
		switch f.name {
		case "content_block_start":
			if open != nil {
				t.Fatal("block started while another is open")
			}
			if int(f.data["index"].(float64)) != len(blocks) {
				t.Fatalf("block index %v, want %d", f.data["index"], len(blocks))
			}
			cb := f.data["content_block"].(map[string]any)
			b := &block{typ: cb["type"].(string)}
			switch b.typ {
			case "text":
				if cb["text"] != "" {
					t.Errorf("text start = %s", f.raw)
				}
			case "tool_use":
				b.id, b.name = cb["id"].(string), cb["name"].(string)
				if in, ok := cb["input"].(map[string]any); !ok || len(in) != 0 {
					t.Errorf("tool_use start input = %s", f.raw)
				}
			}
			blocks = append(blocks, b)
			open = b
		case "content_block_delta":
			if open == nil || int(f.data["index"].(float64)) != len(blocks)-1 {
				t.Fatalf("delta outside its block: %s", f.raw)
			}
			d := f.data["delta"].(map[string]any)
			switch d["type"] {
			case "text_delta":
				open.text.WriteString(d["text"].(string))
			case "input_json_delta":
				open.json.WriteString(d["partial_json"].(string))
			default:
				t.Fatalf("delta type %v", d["type"])
			}
		case "content_block_stop":
			if open == nil || int(f.data["index"].(float64)) != len(blocks)-1 {
				t.Fatalf("stop outside its block: %s", f.raw)
			}
			open = nil
		}
	}
	if len(blocks) != 4 || blocks[0].typ != "text" || blocks[0].text.String() != "Let me check." {
		t.Fatalf("blocks = %+v", blocks)
	}
	for i, b := range blocks[1:] {
		if b.typ != "tool_use" {
			t.Fatalf("block %d type %s", i+1, b.typ)
		}
		js := b.json.String()
		if js == "" {
			js = "{}" // what Anthropic clients assume for no deltas
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(js), &v); err != nil {
			t.Errorf("tool %s: joined input_json_delta %q is not a JSON object: %v", b.name, js, err)
		}
	}
	if blocks[1].id != "call_a" || blocks[1].name != "Bash" || blocks[2].id != "call_b" || blocks[3].name != "Noargs" || !strings.HasPrefix(blocks[3].id, "toolu_") {
		t.Errorf("tool ids/names: %s/%s %s %s/%s", blocks[1].id, blocks[1].name, blocks[2].id, blocks[3].id, blocks[3].name)
	}
	if blocks[1].json.String() != `{"command":"ls <x> & y"}` {
		t.Errorf("arguments not passed verbatim: %q", blocks[1].json.String())
	}

	md := fs[len(fs)-2].data
	d := md["delta"].(map[string]any)
	if d["stop_reason"] != "tool_use" || d["stop_sequence"] != nil {
		t.Errorf("message_delta = %s", fs[len(fs)-2].raw)
	}
	if _, ok := d["stop_sequence"]; !ok {
		t.Error("stop_sequence missing from message_delta")
	}
	u := md["usage"].(map[string]any)
	if u["output_tokens"] != float64(20) || u["input_tokens"] != float64(40) || u["cache_read_input_tokens"] != float64(60) {
		t.Errorf("message_delta usage = %v", u)
	}
	if s.closed {
		t.Error("WriteStream closed the stream")
	}
}

func TestWriteStreamTextAfterTool(t *testing.T) {
	s := &fakeStream{events: []bus.Event{
		{Type: bus.ToolCallDelta, Index: 0, ID: "t1", Name: "a", ArgumentsDelta: "{}"},
		{Type: bus.TextDelta, Text: "done"},
		{Type: bus.Done, Stop: bus.StopMaxTokens},
	}}
	rec := httptest.NewRecorder()
	if err := WriteStream(rec, "m", s); err != nil {
		t.Fatal(err)
	}
	fs := readSSE(t, rec.Body.String())
	if got := names(fs); got != "message_start,ping,content_block_start,content_block_delta,content_block_stop,content_block_start,content_block_delta,content_block_stop,message_delta,message_stop" {
		t.Fatalf("events = %s", got)
	}
	if fs[5].data["index"] != float64(1) {
		t.Errorf("second block index = %v", fs[5].data["index"])
	}
	if fs[8].data["delta"].(map[string]any)["stop_reason"] != "max_tokens" {
		t.Errorf("stop = %s", fs[8].raw)
	}
}

func TestWriteStreamFailure(t *testing.T) {
	boom := &bus.Error{Provider: "p", Kind: bus.Unavailable, Message: "upstream reset"}
	for name, s := range map[string]*fakeStream{
		"error":      {events: []bus.Event{{Type: bus.TextDelta, Text: "par"}}, err: boom},
		"early eof":  {events: []bus.Event{{Type: bus.TextDelta, Text: "par"}}},
		"interleave": {events: []bus.Event{{Type: bus.ToolCallDelta, Index: 0, ID: "a", Name: "x"}, {Type: bus.ToolCallDelta, Index: 1, ID: "b", Name: "y"}, {Type: bus.ToolCallDelta, Index: 0, ArgumentsDelta: "{}"}}},
	} {
		rec := httptest.NewRecorder()
		err := WriteStream(rec, "m", s)
		if err == nil {
			t.Errorf("%s: no error returned", name)
			continue
		}
		if name == "error" && !errors.Is(err, boom) {
			t.Errorf("%s: err = %v, want the stream's error", name, err)
		}
		fs := readSSE(t, rec.Body.String())
		last := fs[len(fs)-1]
		if last.name != "error" {
			t.Fatalf("%s: last event %s, want error (all: %s)", name, last.name, names(fs))
		}
		e := last.data["error"].(map[string]any)
		if e["type"] != "api_error" || e["message"] == "" {
			t.Errorf("%s: error event = %s", name, last.raw)
		}
		if name == "error" && !strings.Contains(e["message"].(string), "upstream reset") {
			t.Errorf("error message = %v", e["message"])
		}
		for _, f := range fs {
			if f.name == "message_stop" {
				t.Errorf("%s: message_stop after a failure", name)
			}
		}
	}
}

func TestWriteResponse(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteResponse(rec, "claude-sonnet-4-5", bus.Response{
		Model: "gpt-x",
		Message: bus.Message{Role: bus.Assistant, Content: []bus.Part{{Type: bus.TextPart, Text: "Running <ls>."}},
			ToolCalls: []bus.ToolCall{{ID: "toolu_9", Name: "Bash", Arguments: json.RawMessage(`{"command": "ls"}`)}, {ID: "t2", Name: "Noop"}}},
		Stop:  bus.StopEnd,
		Usage: bus.Usage{PromptTokens: 1000, CompletionTokens: 50, CachedTokens: 800},
	})
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var m struct {
		ID           string  `json:"id"`
		Type         string  `json:"type"`
		Role         string  `json:"role"`
		Model        string  `json:"model"`
		StopReason   string  `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
		Content      []struct {
			Type  string          `json:"type"`
			Text  string          `json:"text"`
			ID    string          `json:"id"`
			Name  string          `json:"name"`
			Input json.RawMessage `json:"input"`
		} `json:"content"`
		Usage map[string]int `json:"usage"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.ID, "msg_") || m.Type != "message" || m.Role != "assistant" || m.Model != "claude-sonnet-4-5" || m.StopReason != "tool_use" || m.StopSequence != nil {
		t.Errorf("message = %s", rec.Body)
	}
	if !strings.Contains(rec.Body.String(), `"stop_sequence":null`) {
		t.Error("stop_sequence not null")
	}
	if len(m.Content) != 3 || m.Content[0].Type != "text" || m.Content[0].Text != "Running <ls>." ||
		m.Content[1].Type != "tool_use" || m.Content[1].ID != "toolu_9" || string(m.Content[1].Input) != `{"command":"ls"}` ||
		string(m.Content[2].Input) != `{}` {
		t.Errorf("content = %s", rec.Body)
	}
	if m.Usage["input_tokens"] != 200 || m.Usage["output_tokens"] != 50 || m.Usage["cache_read_input_tokens"] != 800 {
		t.Errorf("usage = %v", m.Usage)
	}

	for stop, want := range map[bus.StopReason]string{bus.StopEnd: "end_turn", bus.StopOther: "end_turn", bus.StopMaxTokens: "max_tokens", bus.StopSequence: "stop_sequence", bus.StopFiltered: "refusal", bus.StopToolUse: "tool_use"} {
		rec := httptest.NewRecorder()
		WriteResponse(rec, "m", bus.Response{Stop: stop})
		var got struct {
			StopReason string `json:"stop_reason"`
			Content    []any  `json:"content"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &got)
		if got.StopReason != want || got.Content == nil {
			t.Errorf("stop %s → %s", stop, rec.Body)
		}
	}
}

func TestWriteErrorAndCount(t *testing.T) {
	for status, want := range map[int]string{400: "invalid_request_error", 401: "authentication_error", 402: "billing_error", 403: "permission_error", 404: "not_found_error", 413: "request_too_large", 422: "invalid_request_error", 429: "rate_limit_error", 500: "api_error", 502: "api_error", 503: "overloaded_error", 529: "overloaded_error", 504: "timeout_error"} {
		rec := httptest.NewRecorder()
		WriteError(rec, status, "invalid_request", "bad thing")
		var e struct {
			Type  string `json:"type"`
			Error struct {
				Type    string `json:"type"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		if rec.Code != status || e.Type != "error" || e.Error.Type != want || e.Error.Message != "bad thing" {
			t.Errorf("%d: %d %s", status, rec.Code, rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	WriteError(rec, 500, "overloaded_error", "busy")
	if !strings.Contains(rec.Body.String(), `"type":"overloaded_error"`) {
		t.Errorf("explicit type ignored: %s", rec.Body)
	}
	rec = httptest.NewRecorder()
	WriteCountTokens(rec, 1234)
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"input_tokens":1234}` {
		t.Errorf("count = %d %s", rec.Code, rec.Body)
	}
}

func vendorEvent(raw string) bus.Event {
	return bus.Event{Type: bus.VendorBlock, Block: bus.Part{Type: bus.VendorPart, Vendor: bus.VendorAnthropic, Raw: json.RawMessage(raw)}}
}

// Thinking and server-tool blocks are streamed the way the Messages API
// streams them, so that a client's accumulator rebuilds them exactly.
func TestWriteStreamVendorBlocks(t *testing.T) {
	s := &fakeStream{events: []bus.Event{
		vendorEvent(`{"type":"thinking","thinking":"Look it up.","signature":"EqQBsig=="}`),
		vendorEvent(`{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{"query":"monsoon onset"}}`),
		vendorEvent(`{"type":"web_search_tool_result","tool_use_id":"srvtoolu_1","content":[{"type":"web_search_result","title":"Monsoon","url":"https://example.org/m","encrypted_content":"Eqgf"}]}`),
		{Type: bus.VendorBlock, Block: bus.Part{Type: bus.VendorPart, Vendor: "elsewhere", Raw: json.RawMessage(`{"type":"reasoning"}`)}},
		{Type: bus.TextDelta, Text: "Early June."},
		vendorEvent(`{"type":"redacted_thinking","data":"EmwKAhgBEgy"}`),
		{Type: bus.Done, Stop: bus.StopPaused},
	}}
	rec := httptest.NewRecorder()
	if err := WriteStream(rec, "claude-opus-5-5", s); err != nil {
		t.Fatal(err)
	}
	fs := readSSE(t, rec.Body.String())
	want := "message_start,ping," +
		"content_block_start,content_block_delta,content_block_delta,content_block_stop," + // thinking
		"content_block_start,content_block_delta,content_block_stop," + // server_tool_use
		"content_block_start,content_block_stop," + // web_search_tool_result
		"content_block_start,content_block_delta,content_block_stop," + // text
		"content_block_start,content_block_stop," + // redacted_thinking
		"message_delta,message_stop"
	if got := names(fs); got != want {
		t.Fatalf("events:\n got %s\nwant %s", got, want)
	}
	checks := []struct {
		i    int
		want string
	}{
		{2, `{"type":"content_block_start","index":0,"content_block":{"signature":"","thinking":"","type":"thinking"}}`},
		{3, `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Look it up."}}`},
		{4, `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBsig=="}}`},
		{6, `{"type":"content_block_start","index":1,"content_block":{"id":"srvtoolu_1","input":{},"name":"web_search","type":"server_tool_use"}}`},
		{7, `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"query\":\"monsoon onset\"}"}}`},
		{9, `{"type":"content_block_start","index":2,"content_block":{"type":"web_search_tool_result","tool_use_id":"srvtoolu_1","content":[{"type":"web_search_result","title":"Monsoon","url":"https://example.org/m","encrypted_content":"Eqgf"}]}}`},
		{11, `{"type":"content_block_start","index":3,"content_block":{"type":"text","text":""}}`},
		{14, `{"type":"content_block_start","index":4,"content_block":{"type":"redacted_thinking","data":"EmwKAhgBEgy"}}`},
	}
	for _, c := range checks {
		if fs[c.i].raw != c.want {
			t.Errorf("event %d:\n got %s\nwant %s", c.i, fs[c.i].raw, c.want)
		}
	}
	if d := fs[len(fs)-2].data["delta"].(map[string]any); d["stop_reason"] != "pause_turn" {
		t.Errorf("message_delta = %s, want stop_reason pause_turn", fs[len(fs)-2].raw)
	}
}

func TestWriteResponseVendorBlocksInOrder(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteResponse(rec, "claude-sonnet-4-5", bus.Response{
		Message: bus.Message{Role: bus.Assistant, Content: []bus.Part{
			{Type: bus.VendorPart, Vendor: bus.VendorAnthropic, Raw: json.RawMessage(`{"type": "thinking", "thinking": "", "signature": "sig"}`)},
			{Type: bus.VendorPart, Vendor: "elsewhere", Raw: json.RawMessage(`{"type":"reasoning"}`)},
			{Type: bus.TextPart, Text: "Listing."},
		}, ToolCalls: []bus.ToolCall{{ID: "toolu_1", Name: "Bash", Arguments: json.RawMessage(`{"command":"ls"}`)}}},
		Stop: bus.StopToolUse,
	})
	var m struct {
		Content []json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	want := []string{`{"type":"thinking","thinking":"","signature":"sig"}`, `{"type":"text","text":"Listing."}`, `{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"ls"}}`}
	if len(m.Content) != len(want) {
		t.Fatalf("content = %s", rec.Body.String())
	}
	for i := range want {
		if string(m.Content[i]) != want[i] {
			t.Errorf("content[%d] = %s, want %s", i, m.Content[i], want[i])
		}
	}
}
