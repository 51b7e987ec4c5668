package anthropic

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

const testKey = "sk-ant-test-SECRET-0123456789"

func TestContract(t *testing.T) {
	f := newFake(t)
	bustest.Run(t, func(base string) bus.Provider {
		return New(Config{Name: "anthropic", BaseURL: base, APIKey: testKey})
	}, f, bustest.Capabilities{})
	if got := f.LastHeader("x-api-key"); got != testKey {
		t.Fatalf("x-api-key = %q", got)
	}
	if got := f.LastHeader("anthropic-version"); got != "2023-06-01" {
		t.Fatalf("anthropic-version = %q", got)
	}
}

func goldenRequest() bus.Request {
	temp := 0.2
	png := []byte{0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a}
	return bus.Request{
		Model:  "claude-test-1",
		System: "You are a careful assistant.",
		Messages: []bus.Message{
			{Role: bus.User, Content: []bus.Part{
				{Type: bus.TextPart, Text: "What is in this picture, and what is the weather there?"},
				{Type: bus.ImagePart, MediaType: "image/png", Data: png},
			}},
			{Role: bus.Assistant, Content: []bus.Part{
				// Thinking comes back verbatim and first, as Anthropic requires
				// for a tool-use turn; another vendor's block is left out.
				{Type: bus.VendorPart, Vendor: bus.VendorAnthropic, Raw: json.RawMessage(`{"type":"thinking","thinking":"","signature":"EqQBCkgIBxABGAIiQ0dpbmdzaWduZWQ="}`)},
				{Type: bus.VendorPart, Vendor: "elsewhere", Raw: json.RawMessage(`{"type":"reasoning","id":"rs_1"}`)},
				{Type: bus.TextPart, Text: "A beach in Goa. Let me check."}},
				ToolCalls: []bus.ToolCall{
					{ID: "toolu_01", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Panaji"}`)},
					{ID: "toolu_02", Name: "get_time", Arguments: json.RawMessage(`{"tz": "Asia/Kolkata"}`)},
				}},
			{Role: bus.Tool, ToolCallID: "toolu_01", Name: "get_weather", Content: []bus.Part{{Type: bus.TextPart, Text: `{"temp_c":31}`}}},
			{Role: bus.Tool, ToolCallID: "toolu_02", Name: "get_time", Content: []bus.Part{{Type: bus.TextPart, Text: "14:05"}}},
			{Role: bus.User, Content: []bus.Part{{Type: bus.TextPart, Text: "Thanks. Summarise."}}},
		},
		Tools: []bus.ToolSpec{
			{Name: "get_weather", Description: "Current weather for a city", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)},
			{Name: "get_time", Parameters: json.RawMessage(`{"type":"object","properties":{"tz":{"type":"string"}}}`)},
		},
		ToolChoice:  "auto",
		Temperature: &temp,
		Stop:        []string{"\n\nHuman:"},
		Extra: map[string]json.RawMessage{
			"thinking":            json.RawMessage(`{"type":"adaptive","display":"omitted"}`),
			"metadata":            json.RawMessage(`{"user_id":"u-1"}`),
			"context_management":  json.RawMessage(`{"edits":[{"type":"clear_thinking_20251015","keep":"all"}]}`),
			"reasoning_effort":    json.RawMessage(`"high"`), // an OpenAI field: dropped
			"parallel_tool_calls": json.RawMessage(`true`),   // dropped
			// A server tool, as the Anthropic door passes it: sent first in tools.
			"tools": json.RawMessage(`[{"type":"web_search_20250305","name":"web_search","max_uses":3}]`),
		},
	}
}

func TestGoldenRequest(t *testing.T) {
	raw, err := buildBody(goldenRequest(), true)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		t.Fatal(err)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", "request.golden.json")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("request body differs from %s:\n%s", path, buf.String())
	}
	for _, bad := range []string{"reasoning_effort", "parallel_tool_calls"} {
		if strings.Contains(buf.String(), bad) {
			t.Fatalf("unknown extra %q was passed through", bad)
		}
	}
}

// The golden request also round-trips through the fake's decoder.
func TestGoldenRequestOverTheWire(t *testing.T) {
	f := newFake(t)
	c := New(Config{BaseURL: f.URL() + "/v1/", APIKey: testKey})
	f.Next(bustest.Script{Text: "ok"})
	req := goldenRequest()
	if _, err := c.Chat(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	last := f.Last()
	if len(last.Messages) != 5 || last.Messages[2].Role != bus.Tool || last.Messages[3].ToolCallID != "toolu_02" {
		t.Fatalf("messages = %+v", last.Messages)
	}
	if img := last.Messages[0].Content[1]; img.Type != bus.ImagePart || !bytes.Equal(img.Data, req.Messages[0].Content[1].Data) || img.MediaType != "image/png" {
		t.Fatalf("image = %+v", img)
	}
	if string(last.Extra["thinking"]) != `{"type":"adaptive","display":"omitted"}` || len(last.Extra) != 4 ||
		string(last.Extra["tools"]) != `[{"type":"web_search_20250305","name":"web_search","max_uses":3}]` || len(last.Tools) != 2 {
		t.Fatalf("extra = %v, tools %+v", last.Extra, last.Tools)
	}
	if a := last.Messages[1]; len(a.Content) != 2 || a.Content[0].Type != bus.VendorPart ||
		string(a.Content[0].Raw) != string(req.Messages[1].Content[0].Raw) || a.Content[1].Text != "A beach in Goa. Let me check." {
		t.Fatalf("assistant turn = %+v", a)
	}
	if last.ToolChoice != "auto" || last.MaxTokens != DefaultMaxTokens {
		t.Fatalf("tool choice %q, max tokens %d", last.ToolChoice, last.MaxTokens)
	}
}

func TestToolChoice(t *testing.T) {
	for in, want := range map[string]string{"auto": `{"type":"auto"}`, "none": `{"type":"none"}`, "required": `{"type":"any"}`, "get_weather": `{"type":"tool","name":"get_weather"}`} {
		req := goldenRequest()
		req.ToolChoice = in
		raw, err := buildBody(req, false)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]json.RawMessage
		json.Unmarshal(raw, &body)
		if string(body["tool_choice"]) != want {
			t.Errorf("%q → %s, want %s", in, body["tool_choice"], want)
		}
		if _, ok := body["stream"]; ok {
			t.Errorf("non-stream body has stream")
		}
	}
}

func TestCachedUsageIsNormalised(t *testing.T) {
	f := newFake(t)
	c := New(Config{BaseURL: f.URL(), APIKey: testKey})
	req := bus.Request{Model: "m", Messages: []bus.Message{{Role: bus.User, Content: []bus.Part{{Type: bus.TextPart, Text: "hi"}}}}}
	u := bus.Usage{PromptTokens: 100, CompletionTokens: 7, CachedTokens: 60}
	f.Next(bustest.Script{Text: "hello", Usage: u})
	resp, err := c.Chat(context.Background(), req)
	if err != nil || resp.Usage != u {
		t.Fatalf("usage %+v, err %v", resp.Usage, err)
	}
	f.Next(bustest.Script{Text: "hello", Usage: u})
	s, err := c.ChatStream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for {
		ev, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == bus.Done {
			if ev.Usage != u || ev.Model != "m" {
				t.Fatalf("done %+v", ev)
			}
			break
		}
	}
	if _, err := s.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after done: %v", err)
	}
}

// serve answers every call with a fixed status, headers and body.
func serve(t *testing.T, status int, header map[string]string, body string) *Client {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return New(Config{BaseURL: srv.URL, APIKey: testKey})
}

var hello = bus.Request{Model: "m", Messages: []bus.Message{{Role: bus.User, Content: []bus.Part{{Type: bus.TextPart, Text: "hi"}}}}}

func TestErrors(t *testing.T) {
	cases := []struct {
		status int
		header map[string]string
		body   string
		kind   bus.ErrorKind
		retry  time.Duration
	}{
		{529, map[string]string{"retry-after": "3"}, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, bus.Unavailable, 3 * time.Second},
		{403, nil, `{"type":"error","error":{"type":"permission_error","message":"no"}}`, bus.AuthFailed, 0},
		{404, nil, `{"type":"error","error":{"type":"not_found_error","message":"model: x"}}`, bus.BadRequest, 0},
		{413, nil, `<html>too large</html>`, bus.BadRequest, 0},
		{401, nil, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key ` + testKey + `"}}`, bus.AuthFailed, 0},
		{200, nil, `{"type":"error","error":{"type":"api_error","message":"odd"}}`, bus.Malformed, 0},
	}
	for _, c := range cases {
		_, err := serve(t, c.status, c.header, c.body).Chat(context.Background(), hello)
		e, ok := bus.AsError(err)
		if !ok || e.Kind != c.kind || e.RetryAfter != c.retry {
			t.Errorf("%d: err %v (%#v), want %s", c.status, err, e, c.kind)
			continue
		}
		if strings.Contains(err.Error(), testKey) || strings.Contains(e.Message, testKey) {
			t.Errorf("%d: the key leaked into the error: %v", c.status, err)
		}
	}
	if d := parseRetryAfter(time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat), time.Now()); d < 85*time.Second || d > 91*time.Second {
		t.Errorf("HTTP-date retry-after = %v", d)
	}
}

func TestStreamEvents(t *testing.T) {
	const sse = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":5,\"cache_read_input_tokens\":20,\"output_tokens\":1}}}\n\n" +
		": a comment\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hmm\"}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"sig\"}}\n\n" +
		"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
		"event: content_block_start\r\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\r\n\r\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n" +
		"event: some_future_event\ndata: {\"type\":\"some_future_event\"}\n\n" +
		"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_9\",\"name\":\"noargs\",\"input\":{}}}\n\n" +
		"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n" +
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":42}}\n\n" +
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	c := serve(t, 200, map[string]string{"content-type": "text/event-stream"}, sse)
	s, err := c.ChatStream(context.Background(), hello)
	if err != nil {
		t.Fatal(err)
	}
	evs := drain(t, s)
	// The thinking block comes whole, put together from its deltas, so that
	// the client can send it back with its signature.
	if len(evs) != 5 || evs[0].Type != bus.VendorBlock || evs[0].Block.Vendor != bus.VendorAnthropic ||
		string(evs[0].Block.Raw) != `{"signature":"sig","thinking":"hmm","type":"thinking"}` ||
		evs[1].Text != "Hi" || evs[2].Name != "noargs" || evs[3].ArgumentsDelta != "{}" {
		t.Fatalf("events %+v", evs)
	}
	done := evs[4]
	want := bus.Usage{PromptTokens: 35, CompletionTokens: 42, CachedTokens: 20}
	if done.Type != bus.Done || done.Stop != bus.StopToolUse || done.Usage != want || done.Model != "claude-x" {
		t.Fatalf("done %+v", done)
	}
}

func TestStreamErrorEvent(t *testing.T) {
	const sse = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"type\":\"message\",\"model\":\"m\",\"content\":[],\"usage\":{}}}\n\n" +
		"event: ping\ndata: {\"type\": \"ping\"}\n\n" +
		"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"
	s, err := serve(t, 200, nil, sse).ChatStream(context.Background(), hello)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Next()
	e, ok := bus.AsError(err)
	if !ok || e.Kind != bus.Unavailable || e.Message != "Overloaded" {
		t.Fatalf("err = %v", err)
	}
	if _, again := s.Next(); again != err {
		t.Fatalf("error is not sticky: %v", again)
	}
}

func TestUnmodelledBlocksComeBackVerbatim(t *testing.T) {
	blocks := []string{
		`{"type":"thinking","thinking":"...","signature":"s"}`,
		`{"type":"redacted_thinking","data":"x"}`,
		`{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{"query":"monsoon onset Kerala"}}`,
		`{"type":"web_search_tool_result","tool_use_id":"srvtoolu_1","content":[{"type":"web_search_result","title":"Monsoon","url":"https://example.org/m","encrypted_content":"EqgfCioIARgBIiQ","page_age":"2 days ago"}]}`,
	}
	body := `{"id":"m","type":"message","role":"assistant","model":"m","content":[` + strings.Join(blocks, ",") +
		`,{"type":"text","text":"Answer.","citations":[{"type":"web_search_result_location","url":"https://example.org/m","title":"Monsoon","encrypted_index":"Eo8B","cited_text":"x"}]}],"stop_reason":"pause_turn","usage":{"input_tokens":1,"output_tokens":2,"server_tool_use":{"web_search_requests":1}}}`
	resp, err := serve(t, 200, nil, body).Chat(context.Background(), hello)
	if err != nil || resp.Message.Text() != "Answer." || resp.Stop != bus.StopPaused {
		t.Fatalf("resp %+v err %v", resp, err)
	}
	if len(resp.Message.Content) != len(blocks)+1 {
		t.Fatalf("content = %+v", resp.Message.Content)
	}
	for i, want := range blocks {
		if p := resp.Message.Content[i]; p.Type != bus.VendorPart || p.Vendor != bus.VendorAnthropic || string(p.Raw) != want {
			t.Errorf("content[%d] = %s %s %s, want verbatim %s", i, p.Type, p.Vendor, p.Raw, want)
		}
	}
}

// A server tool's call and result stream as the API sends them: the call's
// input in input_json_delta pieces, the result whole in its start.
func TestStreamedServerToolBlocks(t *testing.T) {
	ev := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
	sse := ev("message_start", `{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"claude-x","content":[],"usage":{"input_tokens":10,"output_tokens":1}}}`) +
		ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}}`) +
		ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}}`) +
		ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"query\": \"monsoon"}}`) +
		ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":" onset\"}"}}`) +
		ev("content_block_stop", `{"type":"content_block_stop","index":0}`) +
		ev("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"web_search_tool_result","tool_use_id":"srvtoolu_1","content":[{"type":"web_search_result","title":"Monsoon","url":"https://example.org/m","encrypted_content":"Eqgf"}]}}`) +
		ev("content_block_stop", `{"type":"content_block_stop","index":1}`) +
		ev("content_block_start", `{"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}}`) +
		ev("content_block_delta", `{"type":"content_block_delta","index":2,"delta":{"type":"citations_delta","citation":{"type":"web_search_result_location","url":"https://example.org/m"}}}`) +
		ev("content_block_delta", `{"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"Early June."}}`) +
		ev("content_block_stop", `{"type":"content_block_stop","index":2}`) +
		ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":30,"server_tool_use":{"web_search_requests":1}}}`) +
		ev("message_stop", `{"type":"message_stop"}`)
	s, err := serve(t, 200, map[string]string{"content-type": "text/event-stream"}, sse).ChatStream(context.Background(), hello)
	if err != nil {
		t.Fatal(err)
	}
	evs := drain(t, s)
	if len(evs) != 4 || evs[0].Type != bus.VendorBlock || evs[1].Type != bus.VendorBlock || evs[2].Text != "Early June." || evs[3].Type != bus.Done {
		t.Fatalf("events %+v", evs)
	}
	if got := string(evs[0].Block.Raw); got != `{"id":"srvtoolu_1","input":{"query":"monsoon onset"},"name":"web_search","type":"server_tool_use"}` {
		t.Errorf("server tool call = %s", got)
	}
	if got := string(evs[1].Block.Raw); !strings.Contains(got, `"encrypted_content":"Eqgf"`) || !strings.HasPrefix(got, `{"type":"web_search_tool_result"`) {
		t.Errorf("server tool result = %s", got)
	}
}

func TestAStreamedServerToolCallWithoutInputKeepsItsStartInput(t *testing.T) {
	ev := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
	sse := ev("message_start", `{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"claude-x","content":[],"usage":{"input_tokens":10,"output_tokens":1}}}`) +
		ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"server_tool_use","id":"srvtoolu_1","name":"code_execution","input":{}}}`) +
		ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}}`) +
		ev("content_block_stop", `{"type":"content_block_stop","index":0}`) +
		ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}}`) +
		ev("message_stop", `{"type":"message_stop"}`)
	s, err := serve(t, 200, map[string]string{"content-type": "text/event-stream"}, sse).ChatStream(context.Background(), hello)
	if err != nil {
		t.Fatal(err)
	}
	evs := drain(t, s)
	if len(evs) != 2 || evs[0].Type != bus.VendorBlock || !strings.Contains(string(evs[0].Block.Raw), `"input":{}`) {
		t.Fatalf("events %+v", evs)
	}
}

func TestABrokenStreamedBlockInputIsAnError(t *testing.T) {
	ev := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
	sse := ev("message_start", `{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"claude-x","content":[],"usage":{"input_tokens":10,"output_tokens":1}}}`) +
		ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}}`) +
		ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"query\": "}}`) +
		ev("content_block_stop", `{"type":"content_block_stop","index":0}`)
	s, err := serve(t, 200, map[string]string{"content-type": "text/event-stream"}, sse).ChatStream(context.Background(), hello)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Next()
	if e, ok := bus.AsError(err); !ok || e.Kind != bus.Malformed {
		t.Fatalf("err = %v, want a malformed-stream error", err)
	}
}

func TestModelsPaging(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("after_id") == "" {
			io.WriteString(w, `{"data":[{"type":"model","id":"a","max_input_tokens":200000}],"has_more":true,"first_id":"a","last_id":"a"}`)
			return
		}
		io.WriteString(w, `{"data":[{"type":"model","id":"b"}],"has_more":false,"first_id":"b","last_id":"b"}`)
	}))
	defer srv.Close()
	ms, err := New(Config{BaseURL: srv.URL}).Models(context.Background())
	if err != nil || len(ms) != 2 || ms[0].ID != "a" || ms[0].Context != 200000 || ms[1].ID != "b" {
		t.Fatalf("models %+v err %v", ms, err)
	}
}

// drain reads a stream to its end and closes it.
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
