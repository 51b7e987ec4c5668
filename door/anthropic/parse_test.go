package anthropic

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mirroros/mirror/bus"
	"github.com/mirroros/mirror/door"
)

// claudeCodeBody is shaped like what Claude Code sends to /v1/messages
// (see /work/shared/samples/README.md), trimmed to two tools.
const claudeCodeBody = `{
  "model": "claude-opus-5-5",
  "messages": [
    {"role": "user", "content": [
      {"type": "text", "text": "<system-reminder>context</system-reminder>"},
      {"type": "text", "text": "list the files", "cache_control": {"type": "ephemeral"}}
    ]}
  ],
  "system": [
    {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude.", "cache_control": {"type": "ephemeral"}},
    {"type": "text", "text": "You are an interactive CLI tool.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
  ],
  "tools": [
    {"name": "Bash", "description": "Executes a bash command", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}, "timeout": {"type": "number"}}, "required": ["command"], "additionalProperties": false, "$schema": "http://json-schema.org/draft-07/schema#"}},
    {"name": "Read", "description": "Reads a file", "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]}},
    {"name": "Write", "description": "Writes a file", "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}, "content": {"type": "string"}}, "required": ["file_path", "content"]}, "cache_control": {"type": "ephemeral"}}
  ],
  "metadata": {"user_id": "user_abc_account__session_123"},
  "max_tokens": 128000,
  "thinking": {"type": "adaptive", "display": "omitted"},
  "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
  "output_config": {"effort": "medium"},
  "stream": true
}`

func mustParse(t *testing.T, body string) door.Call {
	t.Helper()
	c, err := ParseMessages([]byte(body))
	if err != nil {
		t.Fatalf("ParseMessages: %v", err)
	}
	return c
}

func TestParseClaudeCodeBody(t *testing.T) {
	c := mustParse(t, claudeCodeBody)
	if c.Model != "claude-opus-5-5" || !c.Stream || c.Request.Model != "" {
		t.Fatalf("model/stream: %+v", c)
	}
	if string(c.Raw) != claudeCodeBody {
		t.Error("Raw is not the body as received")
	}
	r := c.Request
	if r.MaxTokens != 128000 {
		t.Errorf("MaxTokens = %d", r.MaxTokens)
	}
	wantSys := "You are Claude Code, Anthropic's official CLI for Claude.\n\nYou are an interactive CLI tool."
	if r.System != wantSys {
		t.Errorf("System = %q", r.System)
	}
	if len(r.Tools) != 3 || r.Tools[0].Name != "Bash" || r.Tools[1].Name != "Read" || r.Tools[2].Name != "Write" {
		t.Fatalf("Tools = %+v", r.Tools)
	}
	var schema map[string]any
	if err := json.Unmarshal(r.Tools[0].Parameters, &schema); err != nil || schema["type"] != "object" {
		t.Errorf("Bash schema = %s", r.Tools[0].Parameters)
	}
	if r.Tools[0].Description != "Executes a bash command" {
		t.Errorf("description = %q", r.Tools[0].Description)
	}
	if len(r.Messages) != 1 || r.Messages[0].Role != bus.User || len(r.Messages[0].Content) != 2 || r.Messages[0].Content[1].Text != "list the files" {
		t.Fatalf("Messages = %+v", r.Messages)
	}
	want := map[string]string{
		"thinking":           `{"type": "adaptive", "display": "omitted"}`,
		"context_management": `{"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}`,
		"output_config":      `{"effort": "medium"}`,
		"metadata":           `{"user_id": "user_abc_account__session_123"}`,
	}
	if len(r.Extra) != len(want) {
		t.Errorf("Extra has %d keys, want %d: %v", len(r.Extra), len(want), keys(r.Extra))
	}
	for k, v := range want {
		if string(r.Extra[k]) != v {
			t.Errorf("Extra[%q] = %s, want %s", k, r.Extra[k], v)
		}
	}
	for _, k := range []string{"model", "messages", "system", "tools", "max_tokens", "stream"} {
		if _, ok := r.Extra[k]; ok {
			t.Errorf("modelled field %q leaked into Extra", k)
		}
	}
}

func keys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestParseToolRoundTrip(t *testing.T) {
	body := `{
	  "model": "claude-sonnet-4-5", "max_tokens": 1024, "system": "be brief",
	  "messages": [
	    {"role": "user", "content": "what is in /tmp and /etc?"},
	    {"role": "assistant", "content": [
	      {"type": "thinking", "thinking": "I should list", "signature": "sig"},
	      {"type": "redacted_thinking", "data": "xyz"},
	      {"type": "text", "text": "Listing."},
	      {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls /tmp"}},
	      {"type": "tool_use", "id": "toolu_2", "name": "Bash", "input": {"command": "ls /etc"}}
	    ]},
	    {"role": "user", "content": [
	      {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt\nb.txt"},
	      {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": true, "content": [{"type": "text", "text": "permission denied"}, {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"}}]},
	      {"type": "text", "text": "and summarise"}
	    ]},
	    {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_3", "name": "Read", "input": {}}]},
	    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_3"}]}
	  ],
	  "tools": [{"name": "Bash", "input_schema": {"type": "object"}}, {"name": "Read", "input_schema": {"type": "object"}}],
	  "tool_choice": {"type": "any"},
	  "temperature": 0.5, "top_p": 0.9, "top_k": 5, "stop_sequences": ["END"]
	}`
	c := mustParse(t, body)
	r := c.Request
	if c.Stream {
		t.Error("Stream should be false")
	}
	if r.System != "be brief" || r.ToolChoice != "required" || *r.Temperature != 0.5 || *r.TopP != 0.9 || len(r.Stop) != 1 || r.Stop[0] != "END" {
		t.Errorf("scalars: %+v", r)
	}
	if string(r.Extra["top_k"]) != "5" {
		t.Errorf("top_k not in Extra: %v", r.Extra)
	}
	roles := []bus.Role{}
	for _, m := range r.Messages {
		roles = append(roles, m.Role)
	}
	wantRoles := []bus.Role{bus.User, bus.Assistant, bus.Tool, bus.Tool, bus.User, bus.Assistant, bus.Tool}
	if len(roles) != len(wantRoles) {
		t.Fatalf("roles = %v, want %v", roles, wantRoles)
	}
	for i := range roles {
		if roles[i] != wantRoles[i] {
			t.Fatalf("roles = %v, want %v", roles, wantRoles)
		}
	}
	a := r.Messages[1]
	if a.Text() != "Listing." || len(a.Content) != 3 || len(a.ToolCalls) != 2 {
		t.Fatalf("assistant = %+v", a)
	}
	// Thinking and redacted thinking are kept verbatim, in order, for an
	// Anthropic upstream (which checks their signatures).
	for i, want := range []string{`{"type":"thinking","thinking":"I should list","signature":"sig"}`, `{"type":"redacted_thinking","data":"xyz"}`} {
		if p := a.Content[i]; p.Type != bus.VendorPart || p.Vendor != bus.VendorAnthropic || string(p.Raw) != want {
			t.Errorf("content[%d] = %s %s %s, want the block verbatim %s", i, p.Type, p.Vendor, p.Raw, want)
		}
	}
	if a.ToolCalls[0].ID != "toolu_1" || a.ToolCalls[0].Name != "Bash" || string(a.ToolCalls[0].Arguments) != `{"command": "ls /tmp"}` {
		t.Errorf("tool call 0 = %+v (%s)", a.ToolCalls[0], a.ToolCalls[0].Arguments)
	}
	t1, t2 := r.Messages[2], r.Messages[3]
	if t1.ToolCallID != "toolu_1" || t1.Name != "Bash" || t1.Text() != "a.txt\nb.txt" {
		t.Errorf("tool result 1 = %+v", t1)
	}
	if t2.ToolCallID != "toolu_2" || len(t2.Content) != 2 || t2.Content[0].Text != "permission denied" || t2.Content[1].Type != bus.ImagePart || t2.Content[1].MediaType != "image/png" || len(t2.Content[1].Data) == 0 {
		t.Errorf("tool result 2 = %+v", t2)
	}
	if r.Messages[4].Text() != "and summarise" {
		t.Errorf("trailing text = %+v", r.Messages[4])
	}
	if string(r.Messages[5].ToolCalls[0].Arguments) != "{}" {
		t.Errorf("empty input = %s", r.Messages[5].ToolCalls[0].Arguments)
	}
	if m := r.Messages[6]; m.ToolCallID != "toolu_3" || m.Name != "Read" || len(m.Content) != 0 {
		t.Errorf("empty tool result = %+v", m)
	}
}

func TestParseImagesServerToolsChoice(t *testing.T) {
	body := `{"model": "m", "max_tokens": 10,
	  "messages": [{"role": "user", "content": [
	    {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
	    {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
	    {"type": "text", "text": "describe"}]}],
	  "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
	            {"type": "custom", "name": "f", "input_schema": {"type": "object"}}],
	  "tool_choice": {"type": "tool", "name": "f"}}`
	r := mustParse(t, body).Request
	p := r.Messages[0].Content
	if len(p) != 3 || p[0].URL != "https://example.com/a.png" || p[1].MediaType != "image/jpeg" || len(p[1].Data) != 6 {
		t.Errorf("parts = %+v", p)
	}
	if len(r.Tools) != 1 || r.Tools[0].Name != "f" {
		t.Errorf("function tools = %+v", r.Tools)
	}
	var server []map[string]any
	if err := json.Unmarshal(r.Extra["tools"], &server); err != nil || len(server) != 1 || server[0]["type"] != "web_search_20250305" {
		t.Errorf("server tools in Extra = %s", r.Extra["tools"])
	}
	if r.ToolChoice != "f" {
		t.Errorf("ToolChoice = %q", r.ToolChoice)
	}
	for choice, want := range map[string]string{"auto": "auto", "none": "none", "any": "required"} {
		r := mustParse(t, `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"`+choice+`"}}`).Request
		if r.ToolChoice != want {
			t.Errorf("tool_choice %s → %q, want %q", choice, r.ToolChoice, want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	msgs := `"messages":[{"role":"user","content":"hi"}]`
	cases := map[string]struct{ body, want string }{
		"not json":          {`nope`, "JSON object"},
		"array":             {`[]`, "JSON object"},
		"truncated":         {`{"model":"m"`, "not valid JSON"},
		"no model":          {`{"max_tokens":1,` + msgs + `}`, "model: field required"},
		"model not string":  {`{"model":1,"max_tokens":1,` + msgs + `}`, "model: must be a string"},
		"no max_tokens":     {`{"model":"m",` + msgs + `}`, "max_tokens: field required"},
		"zero max_tokens":   {`{"model":"m","max_tokens":0,` + msgs + `}`, "max_tokens"},
		"float max_tokens":  {`{"model":"m","max_tokens":1.5,` + msgs + `}`, "max_tokens: must be an integer"},
		"no messages":       {`{"model":"m","max_tokens":1}`, "messages: field required"},
		"empty messages":    {`{"model":"m","max_tokens":1,"messages":[]}`, "at least one"},
		"bad role":          {`{"model":"m","max_tokens":1,"messages":[{"role":"developer","content":"x"}]}`, "messages[0].role"},
		"no content":        {`{"model":"m","max_tokens":1,"messages":[{"role":"user"}]}`, "messages[0].content: field required"},
		"content number":    {`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":5}]}`, "messages[0].content"},
		"unknown block":     {`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"document","source":{}}]}]}`, `"document" is not supported`},
		"block no type":     {`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"text":"x"}]}]}`, "type: field required"},
		"tool_use in user":  {`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_use","id":"a","name":"b","input":{}}]}]}`, "only allowed in assistant"},
		"result in asst":    {`{"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_result","tool_use_id":"a"}]}]}`, "only allowed in user"},
		"result no id":      {`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]}`, "tool_use_id: field required"},
		"tool_use no name":  {`{"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"a","input":{}}]}]}`, "name: field required"},
		"tool_use bad args": {`{"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"b","input":[1]}]}]}`, "input: must be an object"},
		"bad base64":        {`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"!!"}}]}]}`, "base64"},
		"file source":       {`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]}`, "source.type"},
		"system number":     {`{"model":"m","max_tokens":1,"system":3,` + msgs + `}`, "system"},
		"system image":      {`{"model":"m","max_tokens":1,"system":[{"type":"image"}],` + msgs + `}`, "system[0].type"},
		"tool no name":      {`{"model":"m","max_tokens":1,"tools":[{"input_schema":{}}],` + msgs + `}`, "tools[0].name"},
		"tool no schema":    {`{"model":"m","max_tokens":1,"tools":[{"name":"x"}],` + msgs + `}`, "input_schema: field required"},
		"tool dup":          {`{"model":"m","max_tokens":1,"tools":[{"name":"x","input_schema":{}},{"name":"x","input_schema":{}}],` + msgs + `}`, "duplicate"},
		"choice bad":        {`{"model":"m","max_tokens":1,"tool_choice":{"type":"maybe"},` + msgs + `}`, "tool_choice.type"},
		"choice no name":    {`{"model":"m","max_tokens":1,"tool_choice":{"type":"tool"},` + msgs + `}`, "tool_choice.name"},
		"temperature":       {`{"model":"m","max_tokens":1,"temperature":1.5,` + msgs + `}`, "temperature"},
		"top_p string":      {`{"model":"m","max_tokens":1,"top_p":"x",` + msgs + `}`, "top_p"},
		"stop not list":     {`{"model":"m","max_tokens":1,"stop_sequences":"x",` + msgs + `}`, "stop_sequences"},
		"stream string":     {`{"model":"m","max_tokens":1,"stream":"yes",` + msgs + `}`, "stream"},
	}
	for name, tc := range cases {
		_, err := ParseMessages([]byte(tc.body))
		var de *door.Error
		if !errors.As(err, &de) {
			t.Errorf("%s: err = %v, want *door.Error", name, err)
			continue
		}
		if de.Status != 400 || !strings.Contains(de.Message, tc.want) {
			t.Errorf("%s: got %d %q, want 400 containing %q", name, de.Status, de.Message, tc.want)
		}
	}
}

func TestParseCountTokens(t *testing.T) {
	c, err := ParseCountTokens([]byte(`{"model":"claude-x","stream":true,"system":"s","messages":[{"role":"user","content":"hi"}],"thinking":{"type":"enabled","budget_tokens":1024}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Model != "claude-x" || c.Stream || c.Request.MaxTokens != 0 || c.Request.System != "s" || c.Request.Extra["thinking"] == nil {
		t.Errorf("call = %+v", c)
	}
	if _, err := ParseCountTokens([]byte(`{"messages":[{"role":"user","content":"hi"}]}`)); err == nil {
		t.Error("count_tokens without model accepted")
	}
}

func TestParseTooLarge(t *testing.T) {
	big := make([]byte, door.MaxBody+1)
	_, err := ParseMessages(big)
	var de *door.Error
	if !errors.As(err, &de) || de.Status != 413 {
		t.Fatalf("err = %v", err)
	}
}

// Claude Code 2.1.332 sends its environment as a system message inside
// messages, after the first user turn.
func TestSystemMessagesInsideMessagesAreKeptInPlace(t *testing.T) {
	call, err := ParseMessages([]byte(`{"model":"claude-opus-5-5","max_tokens":128000,"system":[{"type":"text","text":"You are Claude Code."}],
		"messages":[{"role":"user","content":[{"type":"text","text":"say hi"}]},{"role":"system","content":"# Environment\nplatform: linux"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	ms := call.Request.Messages
	if len(ms) != 2 || ms[1].Role != bus.System || !strings.Contains(ms[1].Text(), "platform: linux") || call.Request.System != "You are Claude Code." {
		t.Fatalf("messages %+v system %q", ms, call.Request.System)
	}
	if _, err := ParseMessages([]byte(`{"model":"m","max_tokens":1,"messages":[{"role":"system","content":[{"type":"image","source":{"type":"url","url":"http://x"}}]}]}`)); err == nil {
		t.Fatal("a system message with an image was accepted")
	}
}

// A conversation after a web search carries the server tool's call and
// result in the assistant turn: kept verbatim, in order, for Anthropic.
func TestParseServerToolHistory(t *testing.T) {
	c := mustParse(t, `{
	  "model": "claude-sonnet-4-5", "max_tokens": 100,
	  "tools": [{"type": "web_search_20250305", "name": "web_search"}],
	  "messages": [
	    {"role": "user", "content": "When does the monsoon reach Kerala?"},
	    {"role": "assistant", "content": [
	      {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "monsoon onset Kerala"}},
	      {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": [{"type": "web_search_result", "title": "Monsoon", "url": "https://example.org/m", "encrypted_content": "Eqgf"}]},
	      {"type": "text", "text": "Around 1 June.", "citations": [{"type": "web_search_result_location", "url": "https://example.org/m", "cited_text": "1 June", "encrypted_index": "Eo8B"}]}
	    ]},
	    {"role": "user", "content": "And Mumbai?"}
	  ]
	}`)
	a := c.Request.Messages[1]
	if a.Role != bus.Assistant || len(a.Content) != 3 || a.Text() != "Around 1 June." {
		t.Fatalf("assistant = %+v", a)
	}
	for i, typ := range []string{"server_tool_use", "web_search_tool_result"} {
		p := a.Content[i]
		var b struct {
			Type string `json:"type"`
		}
		if p.Type != bus.VendorPart || p.Vendor != bus.VendorAnthropic || json.Unmarshal(p.Raw, &b) != nil || b.Type != typ {
			t.Errorf("content[%d] = %s %s %s, want the %s block", i, p.Type, p.Vendor, p.Raw, typ)
		}
	}
	if !strings.Contains(string(a.Content[1].Raw), `"encrypted_content":"Eqgf"`) {
		t.Errorf("the result block lost its encrypted content: %s", a.Content[1].Raw)
	}
}
