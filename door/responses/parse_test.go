package responses

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mirroros/mirror/bus"
	"github.com/mirroros/mirror/door"
)

// codexBody is shaped like what Codex CLI 0.169 sends (trimmed tool
// schemas): a developer message first, function tools plus web_search,
// and fields the bus does not model.
const codexBody = `{
  "model": "gpt-5-codex",
  "instructions": "You are Codex, a coding agent.",
  "input": [
    {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "<permissions instructions>sandbox: workspace-write</permissions instructions>"}]},
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<environment_context><cwd>/tmp/w</cwd></environment_context>"}]},
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list the files"}]}
  ],
  "tools": [
    {"type": "function", "name": "exec_command", "description": "Runs a command in a PTY.", "strict": false,
     "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}, "yield_time_ms": {"type": "number"}}, "required": ["cmd"], "additionalProperties": false}},
    {"type": "function", "name": "write_stdin", "description": "Writes to a session.", "strict": false,
     "parameters": {"type": "object", "properties": {"session_id": {"type": "number"}, "chars": {"type": "string"}}, "required": ["session_id"]}},
    {"type": "function", "name": "view_image", "description": "Attach a local image.", "strict": false,
     "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}},
    {"type": "web_search", "external_web_access": false}
  ],
  "tool_choice": "auto",
  "parallel_tool_calls": true,
  "reasoning": {"summary": "auto"},
  "store": false,
  "stream": true,
  "include": ["reasoning.encrypted_content"],
  "prompt_cache_key": "0199a2c4-5c1e-7d80-b2a1-3f0c9a1e4b77",
  "client_metadata": {"x-codex-installation-id": "abc"}
}`

func TestParseCodex(t *testing.T) {
	call, err := Parse([]byte(codexBody))
	if err != nil {
		t.Fatal(err)
	}
	req := call.Request
	if call.Model != "gpt-5-codex" || !call.Stream || req.Model != "" {
		t.Errorf("model %q stream %v request model %q", call.Model, call.Stream, req.Model)
	}
	if string(call.Raw) != codexBody {
		t.Error("Raw is not the body")
	}
	if !strings.HasPrefix(req.System, "You are Codex") || !strings.Contains(req.System, "sandbox: workspace-write") {
		t.Errorf("system %q", req.System)
	}
	if len(req.Messages) != 2 || req.Messages[0].Role != bus.User || req.Messages[1].Text() != "list the files" {
		t.Fatalf("messages %+v", req.Messages)
	}
	if len(req.Tools) != 3 || req.Tools[0].Name != "exec_command" || req.Tools[0].Description == "" ||
		!json.Valid(req.Tools[0].Parameters) || req.Tools[2].Name != "view_image" {
		t.Errorf("tools %+v", req.Tools)
	}
	if req.ToolChoice != "auto" {
		t.Errorf("tool_choice %q", req.ToolChoice)
	}
	for _, k := range []string{"reasoning", "store", "include", "prompt_cache_key", "client_metadata", "parallel_tool_calls", "tools"} {
		if _, ok := req.Extra[k]; !ok {
			t.Errorf("Extra lacks %q", k)
		}
	}
	for _, k := range []string{"model", "input", "instructions", "stream", "tool_choice"} {
		if _, ok := req.Extra[k]; ok {
			t.Errorf("Extra holds modelled field %q", k)
		}
	}
	if string(req.Extra["include"]) != `["reasoning.encrypted_content"]` {
		t.Errorf("include %s", req.Extra["include"])
	}
	var hosted []map[string]any
	if err := json.Unmarshal(req.Extra["tools"], &hosted); err != nil || len(hosted) != 1 || hosted[0]["type"] != "web_search" {
		t.Errorf("Extra tools %s", req.Extra["tools"])
	}
}

func TestParseMultiTurn(t *testing.T) {
	body := `{
	  "model": "mirror/coder", "max_output_tokens": 2048, "temperature": 0.2, "top_p": 0.9,
	  "input": [
	    {"role": "system", "content": "Be terse."},
	    {"role": "developer", "content": [{"type": "input_text", "text": "Use tools."}]},
	    {"role": "user", "content": "what is in /tmp and what time is it?"},
	    {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA..."},
	    {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
	     "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]},
	    {"type": "function_call", "id": "fc_1", "call_id": "call_a", "name": "exec_command", "arguments": "{\"cmd\":\"ls /tmp\"}"},
	    {"type": "function_call", "id": "fc_2", "call_id": "call_b", "name": "exec_command", "arguments": "{\"cmd\":\"date\"}"},
	    {"type": "function_call_output", "call_id": "call_a", "output": "a.txt\nb.txt"},
	    {"type": "function_call_output", "call_id": "call_b", "output": "Mon"},
	    {"type": "function_call", "call_id": "call_c", "name": "view_image", "arguments": ""},
	    {"type": "function_call_output", "call_id": "call_c", "output": [
	      {"type": "input_text", "text": "here"},
	      {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0K"}]},
	    {"role": "user", "content": [
	      {"type": "input_text", "text": "and this?"},
	      {"type": "input_image", "image_url": "https://example.com/a.jpg", "detail": "auto"}]}
	  ]
	}`
	call, err := Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	req := call.Request
	if call.Stream || call.Model != "mirror/coder" || req.MaxTokens != 2048 || *req.Temperature != 0.2 || *req.TopP != 0.9 {
		t.Errorf("call %+v", call)
	}
	if req.System != "Be terse.\n\nUse tools." {
		t.Errorf("system %q", req.System)
	}
	m := req.Messages
	if len(m) != 7 {
		t.Fatalf("%d messages: %+v", len(m), m)
	}
	if m[0].Role != bus.User || m[1].Role != bus.Assistant || m[1].Text() != "Checking." || len(m[1].ToolCalls) != 2 {
		t.Fatalf("turn: %+v", m[:2])
	}
	if tc := m[1].ToolCalls[1]; tc.ID != "call_b" || tc.Name != "exec_command" || string(tc.Arguments) != `{"cmd":"date"}` {
		t.Errorf("call %+v", tc)
	}
	if m[2].Role != bus.Tool || m[2].ToolCallID != "call_a" || m[2].Name != "exec_command" || m[2].Text() != "a.txt\nb.txt" {
		t.Errorf("tool result %+v", m[2])
	}
	if m[3].ToolCallID != "call_b" || m[3].Text() != "Mon" {
		t.Errorf("tool result %+v", m[3])
	}
	if m[4].Role != bus.Assistant || len(m[4].ToolCalls) != 1 || string(m[4].ToolCalls[0].Arguments) != "{}" {
		t.Errorf("empty-argument call %+v", m[4])
	}
	if m[5].Name != "view_image" || len(m[5].Content) != 2 || m[5].Content[1].Type != bus.ImagePart ||
		m[5].Content[1].MediaType != "image/png" || len(m[5].Content[1].Data) == 0 {
		t.Errorf("image result %+v", m[5])
	}
	if img := m[6].Content; m[6].Role != bus.User || len(img) != 2 || img[1].URL != "https://example.com/a.jpg" {
		t.Errorf("user image %+v", m[6])
	}
}

func TestParseSimple(t *testing.T) {
	call, err := Parse([]byte(`{"model":"m","input":"hi","tool_choice":{"type":"function","name":"f"},
		"tools":[{"type":"function","name":"f"}],"text":{"format":{"type":"text"}},"metadata":{"a":"b"},"stream":false}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(call.Request.Messages) != 1 || call.Request.Messages[0].Text() != "hi" || call.Request.ToolChoice != "f" {
		t.Errorf("%+v", call.Request)
	}
	if _, ok := call.Request.Extra["text"]; !ok {
		t.Error("text not in Extra")
	}
	// A model's malformed arguments, replayed, survive as a JSON string.
	call, err = Parse([]byte(`{"model":"m","input":[{"type":"function_call","call_id":"c","name":"f","arguments":"{\"a\":"},
		{"type":"function_call_output","call_id":"c","output":"bad arguments"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := call.Request.Messages[0].ToolCalls[0].Arguments; string(got) != `"{\"a\":"` || argText(got) != `{"a":` {
		t.Errorf("arguments %s", got)
	}
}

func TestParseErrors(t *testing.T) {
	for name, body := range map[string]string{
		"not json":             `{"model":`,
		"array":                `[]`,
		"null":                 `null`,
		"no model":             `{"input":"hi"}`,
		"model number":         `{"model":5,"input":"hi"}`,
		"no input":             `{"model":"m"}`,
		"input number":         `{"model":"m","input":3}`,
		"only developer":       `{"model":"m","input":[{"role":"developer","content":"x"}]}`,
		"empty input":          `{"model":"m","input":[]}`,
		"bad role":             `{"model":"m","input":[{"role":"robot","content":"x"}]}`,
		"no role":              `{"model":"m","input":[{"type":"message","content":"x"}]}`,
		"no content":           `{"model":"m","input":[{"role":"user"}]}`,
		"bad part":             `{"model":"m","input":[{"role":"user","content":[{"type":"input_audio"}]}]}`,
		"image in system":      `{"model":"m","input":[{"role":"system","content":[{"type":"input_image","image_url":"https://x/y.png"}]},{"role":"user","content":"x"}]}`,
		"file image":           `{"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"file_1"}]}]}`,
		"bad data url":         `{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"data:text/plain,hi"}]}]}`,
		"bad base64":           `{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"data:image/png;base64,!!"}]}]}`,
		"file url":             `{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"file:///etc/passwd"}]}]}`,
		"call without id":      `{"model":"m","input":[{"type":"function_call","name":"f","arguments":"{}"}]}`,
		"call args number":     `{"model":"m","input":[{"type":"function_call","call_id":"c","name":"f","arguments":5}]}`,
		"output without id":    `{"model":"m","input":[{"type":"function_call_output","output":"x"}]}`,
		"output number":        `{"model":"m","input":[{"type":"function_call_output","call_id":"c","output":7}]}`,
		"unknown item":         `{"model":"m","input":[{"type":"item_reference","id":"x"}]}`,
		"item not object":      `{"model":"m","input":["hi"]}`,
		"tools object":         `{"model":"m","input":"x","tools":{}}`,
		"tool no name":         `{"model":"m","input":"x","tools":[{"type":"function"}]}`,
		"tool no type":         `{"model":"m","input":"x","tools":[{"name":"f"}]}`,
		"tool dup":             `{"model":"m","input":"x","tools":[{"type":"function","name":"f"},{"type":"function","name":"f"}]}`,
		"tool params":          `{"model":"m","input":"x","tools":[{"type":"function","name":"f","parameters":"x"}]}`,
		"tool_choice bad":      `{"model":"m","input":"x","tool_choice":"sometimes"}`,
		"tool_choice unknown":  `{"model":"m","input":"x","tool_choice":{"type":"function","name":"g"}}`,
		"max tokens negative":  `{"model":"m","input":"x","max_output_tokens":-1}`,
		"max tokens fraction":  `{"model":"m","input":"x","max_output_tokens":1.5}`,
		"max tokens string":    `{"model":"m","input":"x","max_output_tokens":"10"}`,
		"temperature high":     `{"model":"m","input":"x","temperature":3}`,
		"top_p string":         `{"model":"m","input":"x","top_p":"1"}`,
		"stream string":        `{"model":"m","input":"x","stream":"yes"}`,
		"instructions number":  `{"model":"m","input":"x","instructions":1}`,
		"previous_response_id": `{"model":"m","input":"x","previous_response_id":"resp_1"}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(body))
			var de *door.Error
			if !errors.As(err, &de) || de.Status != 400 || de.Code != "invalid_request" || de.Message == "" {
				t.Fatalf("err %v, want a 400 *door.Error", err)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(codexBody))
	f.Add([]byte(`{"model":"m","input":"hi"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		call, err := Parse(body)
		if err != nil {
			var de *door.Error
			if !errors.As(err, &de) || de.Status != 400 {
				t.Fatalf("error %v is not a 400 *door.Error", err)
			}
			return
		}
		if call.Model == "" || len(call.Request.Messages) == 0 {
			t.Fatalf("accepted a call without a model or messages: %+v", call)
		}
		for _, m := range call.Request.Messages {
			for _, tc := range m.ToolCalls {
				if !json.Valid(tc.Arguments) {
					t.Fatalf("invalid arguments %q", tc.Arguments)
				}
			}
		}
		for k, v := range call.Request.Extra {
			if !json.Valid(v) {
				t.Fatalf("Extra[%q] is not JSON", k)
			}
		}
	})
}
