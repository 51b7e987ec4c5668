package openai

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mirroros/mirror/bus"
	"github.com/mirroros/mirror/door"
)

func f64(v float64) *float64 { return &v }

func text(s string) []bus.Part { return []bus.Part{{Type: bus.TextPart, Text: s}} }

// sdkBody is the shape the official OpenAI SDKs send for a tool-using,
// image-bearing, multi-turn conversation (as serialised by openai-python
// 1.x / openai-go: nulls left out, arguments as JSON text, image detail).
const sdkBody = `{
  "messages": [
    {"role": "developer", "content": "You are a weather bot."},
    {"role": "system", "content": [{"type": "text", "text": "Answer in <= 10 words."}]},
    {"role": "user", "content": [
      {"type": "text", "text": "What city is this, and what's the weather there?"},
      {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgpmYWtl", "detail": "high"}},
      {"type": "image_url", "image_url": {"url": "https://example.com/skyline.jpg"}}
    ], "name": "alice"},
    {"role": "assistant", "content": "That is Pune; checking.", "tool_calls": [
      {"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Pune\"}"}}
    ]},
    {"role": "tool", "content": "{\"temp_c\":31}", "tool_call_id": "call_abc"},
    {"role": "assistant", "content": null, "refusal": null, "tool_calls": [
      {"id": "call_def", "type": "function", "function": {"name": "get_time", "arguments": ""}}
    ]},
    {"role": "tool", "content": [{"type": "text", "text": "14:05"}], "tool_call_id": "call_def"},
    {"role": "user", "content": "Thanks & bye."}
  ],
  "model": "gpt-4o-mini",
  "max_completion_tokens": 256,
  "parallel_tool_calls": true,
  "response_format": {"type": "text"},
  "seed": 7,
  "stop": ["END"],
  "stream": true,
  "stream_options": {"include_usage": true},
  "temperature": 0.2,
  "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
  "tools": [
    {"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}, "strict": true}},
    {"type": "function", "function": {"name": "get_time"}}
  ],
  "top_p": 0.9,
  "user": "u-1"
}`

func TestParseChat(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		model  string
		stream bool
		usage  bool
		want   bus.Request
	}{
		{
			name:  "minimal string content",
			body:  `{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]}`,
			model: "gpt-4o",
			want:  bus.Request{Messages: []bus.Message{{Role: bus.User, Content: text("Hi")}}},
		},
		{
			name:   "official SDK shape with tools and images",
			body:   sdkBody,
			model:  "gpt-4o-mini",
			stream: true,
			usage:  true,
			want: bus.Request{
				System: "You are a weather bot.\n\nAnswer in <= 10 words.",
				Messages: []bus.Message{
					{Role: bus.User, Content: []bus.Part{
						{Type: bus.TextPart, Text: "What city is this, and what's the weather there?"},
						{Type: bus.ImagePart, MediaType: "image/png", Data: []byte("\x89PNG\r\n\x1a\nfake")},
						{Type: bus.ImagePart, URL: "https://example.com/skyline.jpg"},
					}},
					{Role: bus.Assistant, Content: text("That is Pune; checking."), ToolCalls: []bus.ToolCall{
						{ID: "call_abc", Name: "get_weather", Arguments: json.RawMessage(`{"city": "Pune"}`)}}},
					{Role: bus.Tool, ToolCallID: "call_abc", Name: "get_weather", Content: text(`{"temp_c":31}`)},
					{Role: bus.Assistant, ToolCalls: []bus.ToolCall{{ID: "call_def", Name: "get_time", Arguments: json.RawMessage(`{}`)}}},
					{Role: bus.Tool, ToolCallID: "call_def", Name: "get_time", Content: text("14:05")},
					{Role: bus.User, Content: text("Thanks & bye.")},
				},
				Tools: []bus.ToolSpec{
					{Name: "get_weather", Description: "Current weather for a city",
						Parameters: json.RawMessage(`{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}`)},
					{Name: "get_time"},
				},
				ToolChoice:  "get_weather",
				MaxTokens:   256,
				Temperature: f64(0.2),
				TopP:        f64(0.9),
				Stop:        []string{"END"},
				Extra: map[string]json.RawMessage{
					"parallel_tool_calls": json.RawMessage(`true`),
					"response_format":     json.RawMessage(`{"type": "text"}`),
					"seed":                json.RawMessage(`7`),
					"stream_options":      json.RawMessage(`{"include_usage": true}`),
					"user":                json.RawMessage(`"u-1"`),
				},
			},
		},
		{
			name: "nulls for every optional field, as some clients send",
			body: `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":null,"tool_choice":null,"max_tokens":null,
				"temperature":null,"top_p":null,"stop":null,"stream":null,"stream_options":null,"n":null}`,
			model: "m",
			want:  bus.Request{Messages: []bus.Message{{Role: bus.User, Content: text("x")}}},
		},
		{
			name: "string stop, string tool_choice, max_tokens, stream without usage",
			body: `{"model":"groq/llama","stream":true,"stop":"\n\n","tool_choice":"required","max_tokens":99,"n":1,
				"tools":[{"type":"function","function":{"name":"f","parameters":null}}],
				"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
				{"role":"assistant","content":[{"type":"text","text":"c"},{"type":"refusal","refusal":"d"}]}]}`,
			model:  "groq/llama",
			stream: true,
			want: bus.Request{
				Messages: []bus.Message{
					{Role: bus.User, Content: []bus.Part{{Type: bus.TextPart, Text: "a"}, {Type: bus.TextPart, Text: "b"}}},
					{Role: bus.Assistant, Content: text("cd")},
				},
				Tools: []bus.ToolSpec{{Name: "f"}}, ToolChoice: "required", MaxTokens: 99, Stop: []string{"\n\n"},
			},
		},
		{
			name: "lenient arguments: an object, and text that is not JSON",
			body: `{"model":"m","messages":[{"role":"assistant","tool_calls":[
				{"id":"a","type":"function","function":{"name":"f","arguments":{"x":1}}},
				{"id":"b","function":{"name":"g","arguments":"{broken"}}]},
				{"role":"tool","tool_call_id":"a","name":"explicit","content":"ok"}]}`,
			model: "m",
			want: bus.Request{Messages: []bus.Message{
				{Role: bus.Assistant, ToolCalls: []bus.ToolCall{
					{ID: "a", Name: "f", Arguments: json.RawMessage(`{"x":1}`)},
					{ID: "b", Name: "g", Arguments: json.RawMessage(`"{broken"`)}}},
				{Role: bus.Tool, ToolCallID: "a", Name: "explicit", Content: text("ok")},
			}},
		},
		{
			name:  "image_url as a bare string and a data URL without a media type",
			body:  `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":"https://x.test/a.png"},{"type":"image_url","image_url":{"url":"data:;base64,iVBORw0KGgpmYWtl"}}]}]}`,
			model: "m",
			want: bus.Request{Messages: []bus.Message{{Role: bus.User, Content: []bus.Part{
				{Type: bus.ImagePart, URL: "https://x.test/a.png"},
				{Type: bus.ImagePart, MediaType: "image/png", Data: []byte("\x89PNG\r\n\x1a\nfake")},
			}}}},
		},
		{
			name:  "only a system message",
			body:  `{"model":"m","messages":[{"role":"system","content":"s"}]}`,
			model: "m",
			want:  bus.Request{System: "s"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			call, err := ParseChat([]byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if call.Model != c.model || call.Stream != c.stream || IncludeUsage(call) != c.usage {
				t.Fatalf("model %q stream %v usage %v", call.Model, call.Stream, IncludeUsage(call))
			}
			if string(call.Raw) != c.body {
				t.Fatal("Raw is not the body")
			}
			if !reflect.DeepEqual(call.Request, c.want) {
				g, _ := json.MarshalIndent(call.Request, "", " ")
				w, _ := json.MarshalIndent(c.want, "", " ")
				t.Fatalf("request\n got %s\nwant %s", g, w)
			}
		})
	}
}

func TestParseChatErrors(t *testing.T) {
	const msg = `"messages":[{"role":"user","content":"x"}]`
	cases := []struct{ body, want string }{
		{``, "empty"},
		{`{"model":"m",`, "not valid JSON"},
		{`[1,2]`, "must be a JSON object"},
		{`"str"`, "must be a JSON object"},
		{`{` + msg + `}`, "model is required"},
		{`{"model":"  ",` + msg + `}`, "model is required"},
		{`{"model":7,` + msg + `}`, "model: expected a string, got number"},
		{`{"model":"m"}`, "messages is required"},
		{`{"model":"m","messages":[]}`, "messages is required"},
		{`{"model":"m","messages":{}}`, "messages: expected an array"},
		{`{"model":"m","messages":[3]}`, "messages[0] must be an object"},
		{`{"model":"m","messages":[{"content":"x"}]}`, "messages[0].role is required"},
		{`{"model":"m","messages":[{"role":"bot","content":"x"}]}`, `messages[0].role: unknown role "bot"`},
		{`{"model":"m","messages":[{"role":7}]}`, "messages[0].role: expected a string, got number"},
		{`{"model":"m","messages":[{"role":"user"}]}`, "messages[0].content is required"},
		{`{"model":"m","messages":[{"role":"user","content":5}]}`, "must be a string or an array of content parts"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}`, `content part type "input_audio" is not supported`},
		{`{"model":"m","messages":[{"role":"user","content":[{"text":"x"}]}]}`, "messages[0].content[0].type is required"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]}`, "messages[0].content[0].text is required"},
		{`{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://a"}}]}]}`, "only allowed in user messages"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,***"}}]}]}`, "invalid base64"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:text/plain,hello"}}]}]}`, "must be base64-encoded"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"file:///etc/passwd"}}]}]}`, "http(s) URL or a base64 data URL"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}`, "image_url.url is required"},
		{`{"model":"m","messages":[{"role":"tool","content":"x"}]}`, "tool_call_id is required"},
		{`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f"}}]}]}`, "tool_calls[0].id is required"},
		{`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"a","function":{}}]}]}`, "tool_calls[0].function.name is required"},
		{`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"custom","function":{"name":"f"}}]}]}`, "unsupported tool call type"},
		{`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"a","function":{"name":"f","arguments":5}}]}]}`, "must be a string holding a JSON object"},
		{`{"model":"m",` + msg + `,"tools":[{"type":"function"}]}`, "tools[0].function.name is required"},
		{`{"model":"m",` + msg + `,"tools":[{"type":"web_search","function":{"name":"f"}}]}`, `tool type "web_search" is not supported`},
		{`{"model":"m",` + msg + `,"tools":[{"function":{"name":"f","parameters":"x"}}]}`, "parameters must be a JSON Schema object"},
		{`{"model":"m",` + msg + `,"tools":[{"function":{"name":"f"}},{"function":{"name":"f"}}]}`, "duplicate tool name"},
		{`{"model":"m",` + msg + `,"tools":{}}`, "tools: expected an array"},
		{`{"model":"m",` + msg + `,"tool_choice":"sometimes"}`, `tool_choice: unknown value "sometimes"`},
		{`{"model":"m",` + msg + `,"tool_choice":"required"}`, "needs tools"},
		{`{"model":"m",` + msg + `,"tool_choice":{"type":"function","function":{"name":"nope"}}}`, "not among tools"},
		{`{"model":"m",` + msg + `,"tool_choice":{"type":"allowed_tools"}}`, `tool_choice.type: "allowed_tools" is not supported`},
		{`{"model":"m",` + msg + `,"tool_choice":3}`, "tool_choice must be a string or an object"},
		{`{"model":"m",` + msg + `,"max_tokens":-1}`, "max_tokens must be a non-negative integer"},
		{`{"model":"m",` + msg + `,"max_tokens":1.5}`, "max_tokens must be a non-negative integer"},
		{`{"model":"m",` + msg + `,"max_completion_tokens":"10"}`, "max_completion_tokens: expected a number, got string"},
		{`{"model":"m",` + msg + `,"temperature":3}`, "temperature must be between 0 and 2"},
		{`{"model":"m",` + msg + `,"top_p":-0.1}`, "top_p must be between 0 and 1"},
		{`{"model":"m",` + msg + `,"stop":[1]}`, "stop must be a string or an array of strings"},
		{`{"model":"m",` + msg + `,"stream":"yes"}`, "stream: expected a boolean, got string"},
		{`{"model":"m",` + msg + `,"stream_options":{"include_usage":"yes"}}`, "stream_options.include_usage: expected a boolean"},
		{`{"model":"m",` + msg + `,"stream_options":[]}`, "stream_options"},
		{`{"model":"m",` + msg + `,"n":2}`, "n must be 1"},
	}
	for _, c := range cases {
		_, err := ParseChat([]byte(c.body))
		var de *door.Error
		if !errors.As(err, &de) || de.Status != 400 || de.Code != "invalid_request" {
			t.Errorf("%s: err = %#v, want a door 400", c.body, err)
			continue
		}
		if !strings.Contains(de.Message, c.want) {
			t.Errorf("%s: message %q lacks %q", c.body, de.Message, c.want)
		}
	}
}

// FuzzParseChat checks that no body panics ParseChat, that refusals are
// door 400s, and that an accepted call marshals (the bus and the audit
// log serialise it).
func FuzzParseChat(f *testing.F) {
	f.Add([]byte(sdkBody))
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		call, err := ParseChat(body)
		if err != nil {
			var de *door.Error
			if !errors.As(err, &de) || de.Status != 400 || de.Message == "" {
				t.Fatalf("err = %#v", err)
			}
			return
		}
		if call.Model == "" {
			t.Fatal("accepted a call without a model")
		}
		if _, err := json.Marshal(call.Request.Messages); err != nil {
			t.Fatalf("accepted messages do not marshal: %v", err)
		}
		for _, tl := range call.Request.Tools {
			if len(tl.Parameters) > 0 && !json.Valid(tl.Parameters) {
				t.Fatal("invalid tool parameters accepted")
			}
		}
	})
}

// The seed corpus is in the Go fuzz format and each seed parses or is
// refused as intended.
func TestFuzzCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/fuzz/FuzzParseChat/*")
	if err != nil || len(files) < 5 {
		t.Fatalf("corpus: %v, %d files", err, len(files))
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), "go test fuzz v1\n[]byte(") {
			t.Fatalf("%s is not in the Go corpus format", name)
		}
	}
}
