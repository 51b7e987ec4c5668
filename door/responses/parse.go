// Package responses is the OpenAI Responses API front door
// (POST /v1/responses): it parses a request into a door.Call and writes the
// bus's answer as a response object, as server-sent events, or as an
// OpenAI error. Codex CLI speaks only this protocol to custom providers.
package responses

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strings"

	"github.com/mirroros/mirror/bus"
	"github.com/mirroros/mirror/door"
)

// modelled are the top-level fields Parse maps onto bus.Request; every
// other field goes raw into Request.Extra.
var modelled = map[string]bool{
	"model": true, "instructions": true, "input": true, "tools": true,
	"tool_choice": true, "max_output_tokens": true, "temperature": true,
	"top_p": true, "stream": true,
}

// Parse decodes a POST /v1/responses body. A malformed or unsupported
// request is a *door.Error with status 400.
func Parse(body []byte) (door.Call, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return door.Call{}, door.Invalid("request body is not a JSON object: " + err.Error())
	}
	if top == nil {
		return door.Call{}, door.Invalid("request body is not a JSON object")
	}
	call := door.Call{Raw: json.RawMessage(bytes.Clone(body))}
	req := &call.Request

	var err error
	if call.Model, err = str(top, "model"); err != nil {
		return door.Call{}, err
	}
	if call.Model == "" {
		return door.Call{}, door.Invalid("missing required parameter: 'model'")
	}
	for _, k := range []string{"previous_response_id", "conversation"} {
		if v, ok := top[k]; ok && !isNull(v) {
			return door.Call{}, door.Invalid(fmt.Sprintf("'%s' is not supported: responses are not stored; send the whole conversation in 'input'", k))
		}
	}
	var system []string
	instr, err := str(top, "instructions")
	if err != nil {
		return door.Call{}, err
	}
	if instr != "" {
		system = append(system, instr)
	}

	raw, ok := top["input"]
	if !ok || isNull(raw) {
		return door.Call{}, door.Invalid("missing required parameter: 'input'")
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		req.Messages = []bus.Message{{Role: bus.User, Content: []bus.Part{{Type: bus.TextPart, Text: text}}}}
	} else {
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return door.Call{}, door.Invalid("'input' must be a string or a list of items")
		}
		sys, msgs, err := parseItems(items)
		if err != nil {
			return door.Call{}, err
		}
		system = append(system, sys...)
		req.Messages = msgs
	}
	if len(req.Messages) == 0 {
		return door.Call{}, door.Invalid("'input' holds no user, assistant or tool items")
	}
	req.System = strings.Join(system, "\n\n")

	if err := parseTools(top, req); err != nil {
		return door.Call{}, err
	}
	if err := parseToolChoice(top, req); err != nil {
		return door.Call{}, err
	}
	if v, ok := top["max_output_tokens"]; ok && !isNull(v) {
		var n float64
		if json.Unmarshal(v, &n) != nil || n != math.Trunc(n) || n < 1 || n > math.MaxInt32 {
			return door.Call{}, door.Invalid("'max_output_tokens' must be a positive integer")
		}
		req.MaxTokens = int(n)
	}
	if req.Temperature, err = number(top, "temperature", 0, 2); err != nil {
		return door.Call{}, err
	}
	if req.TopP, err = number(top, "top_p", 0, 1); err != nil {
		return door.Call{}, err
	}
	if v, ok := top["stream"]; ok && !isNull(v) {
		if json.Unmarshal(v, &call.Stream) != nil {
			return door.Call{}, door.Invalid("'stream' must be a boolean")
		}
	}
	for k, v := range top {
		if modelled[k] {
			continue
		}
		if req.Extra == nil {
			req.Extra = map[string]json.RawMessage{}
		}
		req.Extra[k] = v
	}
	return call, nil
}

// item is the union of the input item shapes Parse reads.
type item struct {
	Type      string          `json:"type"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
	Output    json.RawMessage `json:"output"`
}

// parseItems turns input items into system texts and bus messages.
func parseItems(raws []json.RawMessage) ([]string, []bus.Message, error) {
	var system []string
	var msgs []bus.Message
	names := map[string]string{} // call_id → tool name
	for i, raw := range raws {
		var it item
		if err := json.Unmarshal(raw, &it); err != nil {
			return nil, nil, door.Invalid(fmt.Sprintf("input[%d]: not a valid item: %v", i, err))
		}
		typ := it.Type
		if typ == "" && it.Role != "" {
			typ = "message"
		}
		switch typ {
		case "message":
			parts, err := parseContent(it.Content)
			if err != nil {
				return nil, nil, door.Invalid(fmt.Sprintf("input[%d]: %v", i, err))
			}
			switch it.Role {
			case "system", "developer":
				var sb strings.Builder
				for _, p := range parts {
					if p.Type != bus.TextPart {
						return nil, nil, door.Invalid(fmt.Sprintf("input[%d]: a %s message may hold only text", i, it.Role))
					}
					sb.WriteString(p.Text)
				}
				if sb.Len() > 0 {
					system = append(system, sb.String())
				}
			case "user":
				msgs = append(msgs, bus.Message{Role: bus.User, Content: parts})
			case "assistant":
				msgs = append(msgs, bus.Message{Role: bus.Assistant, Content: parts})
			case "":
				return nil, nil, door.Invalid(fmt.Sprintf("input[%d]: message without 'role'", i))
			default:
				return nil, nil, door.Invalid(fmt.Sprintf("input[%d]: unknown role %q", i, it.Role))
			}
		case "function_call":
			if it.CallID == "" || it.Name == "" {
				return nil, nil, door.Invalid(fmt.Sprintf("input[%d]: function_call needs 'call_id' and 'name'", i))
			}
			args, err := arguments(it.Arguments)
			if err != nil {
				return nil, nil, door.Invalid(fmt.Sprintf("input[%d]: %v", i, err))
			}
			names[it.CallID] = it.Name
			tc := bus.ToolCall{ID: it.CallID, Name: it.Name, Arguments: args}
			// A call joins the assistant turn just before it: its text and
			// any calls already made in the same turn.
			if n := len(msgs); n > 0 && msgs[n-1].Role == bus.Assistant {
				msgs[n-1].ToolCalls = append(msgs[n-1].ToolCalls, tc)
			} else {
				msgs = append(msgs, bus.Message{Role: bus.Assistant, ToolCalls: []bus.ToolCall{tc}})
			}
		case "function_call_output":
			if it.CallID == "" {
				return nil, nil, door.Invalid(fmt.Sprintf("input[%d]: function_call_output needs 'call_id'", i))
			}
			parts, err := parseOutput(it.Output)
			if err != nil {
				return nil, nil, door.Invalid(fmt.Sprintf("input[%d]: %v", i, err))
			}
			msgs = append(msgs, bus.Message{Role: bus.Tool, ToolCallID: it.CallID, Name: names[it.CallID], Content: parts})
		case "reasoning", "web_search_call":
			// Reasoning is the model's own (often encrypted) state and a web
			// search call records a hosted tool's action: neither carries
			// anything another provider can use.
		case "":
			return nil, nil, door.Invalid(fmt.Sprintf("input[%d]: item without 'type'", i))
		default:
			return nil, nil, door.Invalid(fmt.Sprintf("input[%d]: unsupported item type %q", i, it.Type))
		}
	}
	return system, msgs, nil
}

// part is one content part of a message or of a function call's output.
type part struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	Refusal  string          `json:"refusal"`
	ImageURL json.RawMessage `json:"image_url"`
	FileID   string          `json:"file_id"`
}

// parseContent reads a message's content: a string or a list of parts.
func parseContent(raw json.RawMessage) ([]bus.Part, error) {
	if len(raw) == 0 || isNull(raw) {
		return nil, fmt.Errorf("message without 'content'")
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []bus.Part{{Type: bus.TextPart, Text: s}}, nil
	}
	var ps []part
	if err := json.Unmarshal(raw, &ps); err != nil {
		return nil, fmt.Errorf("'content' must be a string or a list of parts")
	}
	out := make([]bus.Part, 0, len(ps))
	for j, p := range ps {
		switch p.Type {
		case "input_text", "output_text", "text", "summary_text":
			out = append(out, bus.Part{Type: bus.TextPart, Text: p.Text})
		case "refusal":
			out = append(out, bus.Part{Type: bus.TextPart, Text: p.Refusal})
		case "input_image":
			img, err := image(p)
			if err != nil {
				return nil, fmt.Errorf("content[%d]: %v", j, err)
			}
			out = append(out, img)
		default:
			return nil, fmt.Errorf("content[%d]: unsupported content part type %q", j, p.Type)
		}
	}
	return out, nil
}

// parseOutput reads a function call's output: a string or a list of
// input_text / input_image parts.
func parseOutput(raw json.RawMessage) ([]bus.Part, error) {
	if len(raw) == 0 || isNull(raw) {
		return nil, fmt.Errorf("function_call_output needs 'output'")
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []bus.Part{{Type: bus.TextPart, Text: s}}, nil
	}
	parts, err := parseContent(raw)
	if err != nil {
		return nil, fmt.Errorf("'output' must be a string or a list of parts")
	}
	return parts, nil
}

// image reads an input_image part: image_url is a data URL or an http(s)
// URL (older clients send {"url": …}).
func image(p part) (bus.Part, error) {
	if p.FileID != "" && len(p.ImageURL) == 0 {
		return bus.Part{}, fmt.Errorf("input_image by 'file_id' is not supported; send 'image_url'")
	}
	var u string
	if json.Unmarshal(p.ImageURL, &u) != nil {
		var obj struct {
			URL string `json:"url"`
		}
		if json.Unmarshal(p.ImageURL, &obj) != nil {
			return bus.Part{}, fmt.Errorf("input_image needs 'image_url'")
		}
		u = obj.URL
	}
	if u == "" {
		return bus.Part{}, fmt.Errorf("input_image needs 'image_url'")
	}
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, ok := strings.Cut(rest, ",")
		mediaType, isB64 := strings.CutSuffix(meta, ";base64")
		if !ok || !isB64 || !strings.HasPrefix(mediaType, "image/") {
			return bus.Part{}, fmt.Errorf("image_url: a data URL must be data:image/…;base64,…")
		}
		b, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return bus.Part{}, fmt.Errorf("image_url: bad base64: %v", err)
		}
		return bus.Part{Type: bus.ImagePart, MediaType: mediaType, Data: b}, nil
	}
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return bus.Part{}, fmt.Errorf("image_url must be a data URL or an http(s) URL")
	}
	return bus.Part{Type: bus.ImagePart, URL: u}, nil
}

// arguments reads a function call's arguments: a string holding JSON (an
// object, as some clients send, is accepted too). Text that is not JSON —
// a model's malformed call, replayed — is kept as a JSON string, as the bus
// adapters do.
func arguments(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 || isNull(raw) {
		return json.RawMessage("{}"), nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '{' {
			return json.RawMessage(bytes.Clone(t)), nil
		}
		return nil, fmt.Errorf("function_call 'arguments' must be a string")
	}
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return json.RawMessage("{}"), nil
	case json.Valid([]byte(s)):
		return json.RawMessage(s), nil
	default:
		b, _ := json.Marshal(s)
		return b, nil
	}
}

// tool is a Responses API tool definition.
type tool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
}

// parseTools maps function tools onto bus tools; hosted and custom tools
// (web_search, file_search, custom, …) go raw into Extra["tools"].
func parseTools(top map[string]json.RawMessage, req *bus.Request) error {
	raw, ok := top["tools"]
	if !ok || isNull(raw) {
		return nil
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return door.Invalid("'tools' must be a list")
	}
	var other []json.RawMessage
	seen := map[string]bool{}
	for i, r := range list {
		var t tool
		if json.Unmarshal(r, &t) != nil {
			return door.Invalid(fmt.Sprintf("tools[%d]: not a tool object", i))
		}
		switch t.Type {
		case "function":
			if t.Name == "" {
				return door.Invalid(fmt.Sprintf("tools[%d]: function tool without 'name'", i))
			}
			if seen[t.Name] {
				return door.Invalid(fmt.Sprintf("tools[%d]: duplicate tool name %q", i, t.Name))
			}
			seen[t.Name] = true
			spec := bus.ToolSpec{Name: t.Name, Description: t.Description}
			if len(t.Parameters) > 0 && !isNull(t.Parameters) {
				if p := bytes.TrimSpace(t.Parameters); p[0] != '{' {
					return door.Invalid(fmt.Sprintf("tools[%d]: 'parameters' must be a JSON Schema object", i))
				}
				spec.Parameters = t.Parameters
			}
			req.Tools = append(req.Tools, spec)
		case "":
			return door.Invalid(fmt.Sprintf("tools[%d]: tool without 'type'", i))
		default:
			other = append(other, r)
		}
	}
	if len(other) > 0 {
		b, _ := json.Marshal(other)
		if req.Extra == nil {
			req.Extra = map[string]json.RawMessage{}
		}
		req.Extra["tools"] = b
	}
	return nil
}

// parseToolChoice reads tool_choice: "auto", "none", "required", or
// {"type":"function","name":…}. Other objects (allowed_tools, hosted
// tools) go raw into Extra["tool_choice"].
func parseToolChoice(top map[string]json.RawMessage, req *bus.Request) error {
	raw, ok := top["tool_choice"]
	if !ok || isNull(raw) {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "auto", "none", "required":
			req.ToolChoice = s
			return nil
		}
		return door.Invalid(fmt.Sprintf("'tool_choice' %q: want auto, none, required or a function", s))
	}
	var obj struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if json.Unmarshal(raw, &obj) != nil || obj.Type == "" {
		return door.Invalid("'tool_choice' must be a string or an object with a 'type'")
	}
	if obj.Type != "function" {
		if req.Extra == nil {
			req.Extra = map[string]json.RawMessage{}
		}
		req.Extra["tool_choice"] = raw
		return nil
	}
	for _, t := range req.Tools {
		if t.Name == obj.Name {
			req.ToolChoice = obj.Name
			return nil
		}
	}
	return door.Invalid(fmt.Sprintf("'tool_choice' names function %q, which is not among the tools", obj.Name))
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// str reads an optional string field.
func str(top map[string]json.RawMessage, key string) (string, error) {
	raw, ok := top[key]
	if !ok || isNull(raw) {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", door.Invalid(fmt.Sprintf("'%s' must be a string", key))
	}
	return s, nil
}

// number reads an optional number in [lo, hi].
func number(top map[string]json.RawMessage, key string, lo, hi float64) (*float64, error) {
	raw, ok := top[key]
	if !ok || isNull(raw) {
		return nil, nil
	}
	var f float64
	if json.Unmarshal(raw, &f) != nil || f < lo || f > hi {
		return nil, door.Invalid(fmt.Sprintf("'%s' must be a number from %g to %g", key, lo, hi))
	}
	return &f, nil
}
