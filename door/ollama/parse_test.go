package ollama

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mirroros/mirror/bus"
	"github.com/mirroros/mirror/door"
)

// A tiny real PNG header (8-byte signature + IHDR start), base64.
const pngB64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

func mustParse(t *testing.T, body string) door.Call {
	t.Helper()
	c, err := ParseChat([]byte(body))
	if err != nil {
		t.Fatalf("ParseChat: %v\nbody: %s", err, body)
	}
	if c.Request.Model != "" {
		t.Fatalf("Request.Model = %q, want empty (the router fills it)", c.Request.Model)
	}
	if !bytes.Equal(c.Raw, []byte(body)) {
		t.Fatalf("Raw is not the body as received")
	}
	return c
}

func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

// Request bodies from Ollama's docs/api.md, "Generate a chat completion".

func TestParseChatDocsStreaming(t *testing.T) {
	c := mustParse(t, `{
  "model": "llama3.2",
  "messages": [
    {
      "role": "user",
      "content": "why is the sky blue?"
    }
  ]
}`)
	if c.Model != "llama3.2" || !c.Stream {
		t.Fatalf("model %q stream %v; stream must default to true", c.Model, c.Stream)
	}
	r := c.Request
	if r.System != "" || len(r.Messages) != 1 || r.Messages[0].Role != bus.User || r.Messages[0].Text() != "why is the sky blue?" {
		t.Fatalf("request = %+v", r)
	}
	if r.Temperature != nil || r.TopP != nil || r.MaxTokens != 0 || r.Stop != nil || r.Extra != nil || r.Tools != nil {
		t.Fatalf("unexpected settings: %+v", r)
	}
}

func TestParseChatStreamFlag(t *testing.T) {
	for body, want := range map[string]bool{
		`{"model":"m","messages":[]}`:                true,
		`{"model":"m","messages":[],"stream":null}`:  true,
		`{"model":"m","messages":[],"stream":true}`:  true,
		`{"model":"m","messages":[],"stream":false}`: false,
	} {
		if c := mustParse(t, body); c.Stream != want {
			t.Errorf("%s: Stream = %v, want %v", body, c.Stream, want)
		}
	}
}

func TestParseChatDocsStructuredOutputs(t *testing.T) {
	c := mustParse(t, `{
  "model": "llama3.1",
  "messages": [{"role": "user", "content": "Ollama is 22 years old and busy saving the world. Return a JSON object with the age and availability."}],
  "stream": false,
  "format": {
    "type": "object",
    "properties": {
      "age": {
        "type": "integer"
      },
      "available": {
        "type": "boolean"
      }
    },
    "required": [
      "age",
      "available"
    ]
  },
  "options": {
    "temperature": 0
  }
}`)
	if c.Stream {
		t.Fatal("stream:false parsed as streaming")
	}
	r := c.Request
	if r.Temperature == nil || *r.Temperature != 0 {
		t.Fatalf("temperature = %v, want a pointer to 0", r.Temperature)
	}
	want := `{"type":"object","properties":{"age":{"type":"integer"},"available":{"type":"boolean"}},"required":["age","available"]}`
	if !sameJSON(r.Extra["format"], []byte(want)) {
		t.Fatalf("Extra[format] = %s", r.Extra["format"])
	}
	if _, ok := r.Extra["options"]; ok {
		t.Fatalf("modelled options leaked into Extra: %s", r.Extra["options"])
	}
}

func TestParseChatDocsHistory(t *testing.T) {
	c := mustParse(t, `{
  "model": "llama3.2",
  "messages": [
    {
      "role": "user",
      "content": "why is the sky blue?"
    },
    {
      "role": "assistant",
      "content": "due to rayleigh scattering."
    },
    {
      "role": "user",
      "content": "how is that different than mie scattering?"
    }
  ]
}`)
	ms := c.Request.Messages
	if len(ms) != 3 || ms[1].Role != bus.Assistant || ms[1].Text() != "due to rayleigh scattering." || ms[2].Role != bus.User {
		t.Fatalf("messages = %+v", ms)
	}
}

func TestParseChatDocsImages(t *testing.T) {
	c := mustParse(t, `{
  "model": "llava",
  "messages": [
    {
      "role": "user",
      "content": "what is in this image?",
      "images": ["`+pngB64+`"]
    }
  ]
}`)
	m := c.Request.Messages[0]
	if len(m.Content) != 2 || m.Content[0].Type != bus.TextPart || m.Content[1].Type != bus.ImagePart {
		t.Fatalf("content = %+v", m.Content)
	}
	img := m.Content[1]
	if img.MediaType != "image/png" || !bytes.HasPrefix(img.Data, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("image part = %q %q", img.MediaType, img.Data[:8])
	}
	// Unpadded base64 and data URLs are tolerated.
	c = mustParse(t, `{"model":"llava","messages":[{"role":"user","content":"","images":["data:image/png;base64,`+pngB64+`","`+strings.TrimRight(pngB64, "=")+`"]}]}`)
	if parts := c.Request.Messages[0].Content; len(parts) != 2 || !bytes.Equal(parts[0].Data, parts[1].Data) {
		t.Fatalf("tolerant decoding gave %+v", parts)
	}
}

func TestParseChatDocsReproducibleOptions(t *testing.T) {
	c := mustParse(t, `{
  "model": "llama3.2",
  "messages": [
    {
      "role": "user",
      "content": "Hello!"
    }
  ],
  "options": {
    "seed": 101,
    "temperature": 0,
    "num_ctx": 4096
  }
}`)
	if !sameJSON(c.Request.Extra["options"], []byte(`{"seed":101,"num_ctx":4096}`)) {
		t.Fatalf("Extra[options] = %s", c.Request.Extra["options"])
	}
}

func TestParseChatDocsTools(t *testing.T) {
	c := mustParse(t, `{
  "model": "llama3.2",
  "messages": [
    {
      "role": "user",
      "content": "What is the weather today in Paris?"
    }
  ],
  "stream": false,
  "tools": [
    {
      "type": "function",
      "function": {
        "name": "get_current_weather",
        "description": "Get the current weather for a location",
        "parameters": {
          "type": "object",
          "properties": {
            "location": {
              "type": "string",
              "description": "The location to get the weather for, e.g. San Francisco, CA"
            },
            "format": {
              "type": "string",
              "description": "The format to return the weather in, e.g. 'celsius' or 'fahrenheit'",
              "enum": ["celsius", "fahrenheit"]
            }
          },
          "required": ["location", "format"]
        }
      }
    }
  ]
}`)
	ts := c.Request.Tools
	if len(ts) != 1 || ts[0].Name != "get_current_weather" || ts[0].Description != "Get the current weather for a location" {
		t.Fatalf("tools = %+v", ts)
	}
	var schema struct {
		Type     string   `json:"type"`
		Required []string `json:"required"`
	}
	if err := json.Unmarshal(ts[0].Parameters, &schema); err != nil || schema.Type != "object" || len(schema.Required) != 2 {
		t.Fatalf("parameters = %s (%v)", ts[0].Parameters, err)
	}
}

func TestParseChatDocsLoadAndUnload(t *testing.T) {
	c := mustParse(t, `{
  "model": "llama3.2",
  "messages": []
}`)
	if len(c.Request.Messages) != 0 {
		t.Fatalf("messages = %+v", c.Request.Messages)
	}
	c = mustParse(t, `{
  "model": "llama3.2",
  "messages": [],
  "keep_alive": 0
}`)
	if string(c.Request.Extra["keep_alive"]) != "0" {
		t.Fatalf("Extra[keep_alive] = %q", c.Request.Extra["keep_alive"])
	}
}

func TestParseChatOptionsAndExtras(t *testing.T) {
	c := mustParse(t, `{"model":"qwen3","messages":[{"role":"user","content":"hi"}],
		"format":"json","keep_alive":"5m","think":true,
		"options":{"temperature":0.7,"top_p":0.9,"stop":["\n","user:"],"num_predict":100,"top_k":20}}`)
	r := c.Request
	if *r.Temperature != 0.7 || *r.TopP != 0.9 || r.MaxTokens != 100 || len(r.Stop) != 2 || r.Stop[1] != "user:" {
		t.Fatalf("request = %+v", r)
	}
	if string(r.Extra["format"]) != `"json"` || string(r.Extra["keep_alive"]) != `"5m"` || string(r.Extra["think"]) != "true" {
		t.Fatalf("extra = %s %s %s", r.Extra["format"], r.Extra["keep_alive"], r.Extra["think"])
	}
	if !sameJSON(r.Extra["options"], []byte(`{"top_k":20}`)) {
		t.Fatalf("Extra[options] = %s", r.Extra["options"])
	}
	// num_predict -1 (unlimited) and -2 (fill context) mean the default;
	// a single stop string is accepted.
	c = mustParse(t, `{"model":"m","messages":[],"options":{"num_predict":-1,"stop":"END"}}`)
	if c.Request.MaxTokens != 0 || len(c.Request.Stop) != 1 || c.Request.Stop[0] != "END" {
		t.Fatalf("request = %+v", c.Request)
	}
}

func TestParseChatSystemJoined(t *testing.T) {
	c := mustParse(t, `{"model":"m","messages":[
		{"role":"system","content":"You are terse."},
		{"role":"user","content":"hi"},
		{"role":"system","content":"Answer in French."}]}`)
	if c.Request.System != "You are terse.\n\nAnswer in French." {
		t.Fatalf("System = %q", c.Request.System)
	}
	if len(c.Request.Messages) != 1 || c.Request.Messages[0].Role != bus.User {
		t.Fatalf("messages = %+v", c.Request.Messages)
	}
}

func TestParseChatToolConversation(t *testing.T) {
	// Two parallel calls of the same tool and one of another; results come
	// back by tool_name, in order, and one without a name.
	c := mustParse(t, `{"model":"llama3.1","messages":[
		{"role":"user","content":"Weather in Pune and Paris, and the time?"},
		{"role":"assistant","content":"","tool_calls":[
			{"function":{"name":"get_weather","arguments":{"city":"Pune"}}},
			{"function":{"name":"get_time","arguments":{}}},
			{"function":{"name":"get_weather","arguments":{"city":"Paris"}}}]},
		{"role":"tool","content":"{\"temp_c\":31}","tool_name":"get_weather"},
		{"role":"tool","content":"{\"temp_c\":18}","tool_name":"get_weather"},
		{"role":"tool","content":"12:00"},
		{"role":"assistant","content":"Warm in Pune.","tool_calls":[{"function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]},
		{"role":"tool","content":"{\"temp_c\":2}","tool_name":"get_weather"},
		{"role":"tool","content":"orphan","tool_name":"unknown_tool"}
	],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}},
	           {"type":"function","function":{"name":"get_time"}}]}`)
	ms := c.Request.Messages
	if len(ms) != 8 {
		t.Fatalf("%d messages", len(ms))
	}
	a := ms[1]
	if a.Role != bus.Assistant || len(a.ToolCalls) != 3 {
		t.Fatalf("assistant = %+v", a)
	}
	wantIDs := []string{"call_0", "call_1", "call_2"}
	for i, tc := range a.ToolCalls {
		if tc.ID != wantIDs[i] {
			t.Errorf("call %d id %q, want %q", i, tc.ID, wantIDs[i])
		}
	}
	if !sameJSON(a.ToolCalls[0].Arguments, []byte(`{"city":"Pune"}`)) || string(a.ToolCalls[1].Arguments) != "{}" {
		t.Fatalf("arguments %s %s", a.ToolCalls[0].Arguments, a.ToolCalls[1].Arguments)
	}
	check := func(m bus.Message, id, name, text string) {
		t.Helper()
		if m.Role != bus.Tool || m.ToolCallID != id || m.Name != name || m.Text() != text {
			t.Errorf("tool message = {%s id=%q name=%q %q}, want id=%q name=%q %q", m.Role, m.ToolCallID, m.Name, m.Text(), id, name, text)
		}
	}
	check(ms[2], "call_0", "get_weather", `{"temp_c":31}`)
	check(ms[3], "call_2", "get_weather", `{"temp_c":18}`)
	check(ms[4], "call_1", "get_time", "12:00") // no tool_name: the first unanswered call
	// Ids are unique across the conversation; a string-wrapped argument
	// object (OpenAI style) is unwrapped.
	if tc := ms[5].ToolCalls[0]; tc.ID != "call_3" || !sameJSON(tc.Arguments, []byte(`{"city":"Oslo"}`)) {
		t.Fatalf("second turn call = %+v", tc)
	}
	check(ms[6], "call_3", "get_weather", `{"temp_c":2}`)
	check(ms[7], "", "unknown_tool", "orphan") // unmatched: kept, by name only
	if len(c.Request.Tools) != 2 || c.Request.Tools[1].Parameters != nil {
		t.Fatalf("tools = %+v", c.Request.Tools)
	}
}

func TestParseChatClientIDs(t *testing.T) {
	// Clients that send ids keep them; synthesised ids avoid collisions.
	c := mustParse(t, `{"model":"m","messages":[
		{"role":"assistant","tool_calls":[{"id":"call_0","function":{"name":"a","arguments":{}}},{"function":{"name":"b","arguments":{}}}]},
		{"role":"tool","content":"B","tool_call_id":"call_1"},
		{"role":"tool","content":"A","tool_name":"a"}]}`)
	ms := c.Request.Messages
	if ms[0].ToolCalls[0].ID != "call_0" || ms[0].ToolCalls[1].ID != "call_1" {
		t.Fatalf("ids = %+v", ms[0].ToolCalls)
	}
	if ms[1].ToolCallID != "call_1" || ms[1].Name != "b" || ms[2].ToolCallID != "call_0" {
		t.Fatalf("results = %+v %+v", ms[1], ms[2])
	}
}

func TestParseChatErrors(t *testing.T) {
	cases := map[string]string{
		"empty body":              ``,
		"not JSON":                `hello`,
		"array":                   `[{"model":"m"}]`,
		"null":                    `null`,
		"truncated":               `{"model":"m","messages":[`,
		"trailing garbage":        `{"model":"m"} {}`,
		"missing model":           `{"messages":[{"role":"user","content":"hi"}]}`,
		"blank model":             `{"model":"  ","messages":[]}`,
		"model not a string":      `{"model":7,"messages":[]}`,
		"messages not an array":   `{"model":"m","messages":{"role":"user"}}`,
		"unknown role":            `{"model":"m","messages":[{"role":"developer","content":"x"}]}`,
		"missing role":            `{"model":"m","messages":[{"content":"x"}]}`,
		"content parts (OpenAI)":  `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`,
		"tool_calls on user":      `{"model":"m","messages":[{"role":"user","content":"x","tool_calls":[{"function":{"name":"f","arguments":{}}}]}]}`,
		"tool call without name":  `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"function":{"arguments":{}}}]}]}`,
		"arguments an array":      `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":[1]}}]}]}`,
		"arguments bad string":    `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":"{oops"}}]}]}`,
		"image not base64":        `{"model":"m","messages":[{"role":"user","content":"x","images":["not base64!"]}]}`,
		"empty image":             `{"model":"m","messages":[{"role":"user","content":"x","images":[""]}]}`,
		"image on system":         `{"model":"m","messages":[{"role":"system","content":"x","images":["` + pngB64 + `"]}]}`,
		"stream a string":         `{"model":"m","messages":[],"stream":"yes"}`,
		"tool type":               `{"model":"m","messages":[],"tools":[{"type":"retrieval","function":{"name":"f"}}]}`,
		"tool without function":   `{"model":"m","messages":[],"tools":[{"type":"function"}]}`,
		"tool without name":       `{"model":"m","messages":[],"tools":[{"type":"function","function":{"description":"d"}}]}`,
		"parameters a string":     `{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f","parameters":"object"}}]}`,
		"options not an object":   `{"model":"m","messages":[],"options":[1]}`,
		"temperature a string":    `{"model":"m","messages":[],"options":{"temperature":"hot"}}`,
		"top_p a bool":            `{"model":"m","messages":[],"options":{"top_p":true}}`,
		"num_predict fractional":  `{"model":"m","messages":[],"options":{"num_predict":1.5}}`,
		"num_predict huge":        `{"model":"m","messages":[],"options":{"num_predict":1e30}}`,
		"stop a number":           `{"model":"m","messages":[],"options":{"stop":3}}`,
		"stop mixed array":        `{"model":"m","messages":[],"options":{"stop":["a",1]}}`,
		"invalid JSON in options": `{"model":"m","messages":[],"options":{"seed":}}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseChat([]byte(body))
			var de *door.Error
			if !errors.As(err, &de) {
				t.Fatalf("err = %v (%T), want *door.Error", err, err)
			}
			if de.Status != 400 || de.Code != "invalid_request" || de.Message == "" {
				t.Fatalf("error = %+v", de)
			}
			if strings.Contains(de.Message, "ollama.") || strings.Contains(de.Message, "json.RawMessage") {
				t.Fatalf("message leaks Go type names: %q", de.Message)
			}
		})
	}
}

func TestParseChatTooLarge(t *testing.T) {
	body := make([]byte, door.MaxBody+1)
	_, err := ParseChat(body)
	var de *door.Error
	if !errors.As(err, &de) || de.Status != 413 {
		t.Fatalf("err = %v", err)
	}
}
