// Package anthropic is the kernel's Anthropic Messages front door (server
// side): it parses POST /v1/messages and /v1/messages/count_tokens bodies
// into door.Calls and writes the bus's answers — whole, streamed as SSE, or
// errors — in the Messages API's own shapes, so that unmodified Anthropic
// clients (the SDKs, Claude Code with ANTHROPIC_BASE_URL) work against the
// kernel.
package anthropic

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mirroros/mirror/bus"
	"github.com/mirroros/mirror/door"
)

// modelled lists the top-level request fields the bus models; every other
// top-level field is kept raw in Request.Extra.
var modelled = map[string]bool{
	"model":          true,
	"max_tokens":     true,
	"system":         true,
	"messages":       true,
	"tools":          true,
	"tool_choice":    true,
	"temperature":    true,
	"top_p":          true,
	"stop_sequences": true,
	"stream":         true,
}

// ParseMessages decodes a POST /v1/messages body. A malformed body is a
// *door.Error (400, or 413 when over door.MaxBody).
func ParseMessages(body []byte) (door.Call, error) {
	return parse(body, true)
}

// ParseCountTokens decodes a POST /v1/messages/count_tokens body: the same
// shape as a Messages body, without the max_tokens requirement. The Call is
// never a stream.
func ParseCountTokens(body []byte) (door.Call, error) {
	c, err := parse(body, false)
	c.Stream = false
	return c, err
}

func invalid(format string, args ...any) *door.Error {
	return door.Invalid(fmt.Sprintf(format, args...))
}

// isNull reports whether a raw value is absent or JSON null.
func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// firstByte is the first non-space byte of raw, or 0.
func firstByte(raw json.RawMessage) byte {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return 0
	}
	return t[0]
}

// jsonErr shortens a decoding error for a client-facing message.
func jsonErr(err error) string {
	return strings.TrimPrefix(err.Error(), "json: ")
}

func parse(body []byte, requireMaxTokens bool) (door.Call, error) {
	if len(body) > door.MaxBody {
		return door.Call{}, &door.Error{Status: 413, Code: "request_too_large", Message: fmt.Sprintf("request body exceeds %d bytes", door.MaxBody)}
	}
	if firstByte(body) != '{' {
		return door.Call{}, invalid("request body must be a JSON object")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return door.Call{}, invalid("request body is not valid JSON: %s", jsonErr(err))
	}
	call := door.Call{Raw: json.RawMessage(body)}
	req := &call.Request

	// model
	if isNull(top["model"]) {
		return door.Call{}, invalid("model: field required")
	}
	if err := json.Unmarshal(top["model"], &call.Model); err != nil {
		return door.Call{}, invalid("model: must be a string")
	}
	if strings.TrimSpace(call.Model) == "" {
		return door.Call{}, invalid("model: must not be empty")
	}

	// max_tokens
	if raw := top["max_tokens"]; !isNull(raw) {
		var n int
		if err := json.Unmarshal(raw, &n); err != nil {
			return door.Call{}, invalid("max_tokens: must be an integer")
		}
		if n < 1 {
			return door.Call{}, invalid("max_tokens: must be greater than or equal to 1")
		}
		req.MaxTokens = n
	} else if requireMaxTokens {
		return door.Call{}, invalid("max_tokens: field required")
	}

	// stream
	if raw := top["stream"]; !isNull(raw) {
		if err := json.Unmarshal(raw, &call.Stream); err != nil {
			return door.Call{}, invalid("stream: must be a boolean")
		}
	}

	// system
	sys, err := parseSystem(top["system"])
	if err != nil {
		return door.Call{}, err
	}
	req.System = sys

	// messages
	msgs, err := parseMessages(top["messages"])
	if err != nil {
		return door.Call{}, err
	}
	req.Messages = msgs

	// tools
	tools, server, err := parseTools(top["tools"])
	if err != nil {
		return door.Call{}, err
	}
	req.Tools = tools

	// tool_choice
	if raw := top["tool_choice"]; !isNull(raw) {
		tc, err := parseToolChoice(raw)
		if err != nil {
			return door.Call{}, err
		}
		req.ToolChoice = tc
	}

	// sampling
	for _, f := range []struct {
		name string
		dst  **float64
	}{{"temperature", &req.Temperature}, {"top_p", &req.TopP}} {
		raw := top[f.name]
		if isNull(raw) {
			continue
		}
		var v float64
		if err := json.Unmarshal(raw, &v); err != nil {
			return door.Call{}, invalid("%s: must be a number", f.name)
		}
		if v < 0 || v > 1 {
			return door.Call{}, invalid("%s: must be between 0 and 1", f.name)
		}
		*f.dst = &v
	}
	if raw := top["stop_sequences"]; !isNull(raw) {
		var stop []string
		if err := json.Unmarshal(raw, &stop); err != nil {
			return door.Call{}, invalid("stop_sequences: must be a list of strings")
		}
		for i, s := range stop {
			if s == "" {
				return door.Call{}, invalid("stop_sequences[%d]: must not be empty", i)
			}
		}
		req.Stop = stop
	}

	// everything else, raw
	for k, v := range top {
		if modelled[k] {
			continue
		}
		if req.Extra == nil {
			req.Extra = map[string]json.RawMessage{}
		}
		req.Extra[k] = v
	}
	if len(server) > 0 {
		raw, err := json.Marshal(server)
		if err != nil { // cannot happen: each element is valid JSON
			return door.Call{}, invalid("tools: %s", jsonErr(err))
		}
		if req.Extra == nil {
			req.Extra = map[string]json.RawMessage{}
		}
		req.Extra["tools"] = raw
	}
	return call, nil
}

// textBlock is a system prompt block.
type textBlock struct {
	Type string  `json:"type"`
	Text *string `json:"text"`
}

func parseSystem(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	switch firstByte(raw) {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", invalid("system: %s", jsonErr(err))
		}
		return s, nil
	case '[':
		var blocks []json.RawMessage
		if err := json.Unmarshal(raw, &blocks); err != nil {
			return "", invalid("system: %s", jsonErr(err))
		}
		var parts []string
		for i, b := range blocks {
			var tb textBlock
			if firstByte(b) != '{' || json.Unmarshal(b, &tb) != nil {
				return "", invalid("system[%d]: must be a text block object", i)
			}
			if tb.Type != "text" {
				return "", invalid("system[%d].type: must be \"text\", got %q", i, tb.Type)
			}
			if tb.Text == nil {
				return "", invalid("system[%d].text: field required", i)
			}
			parts = append(parts, *tb.Text)
		}
		return strings.Join(parts, "\n\n"), nil
	default:
		return "", invalid("system: must be a string or a list of text blocks")
	}
}

// inMessage is one entry of messages.
type inMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// inBlock is a request content block (any type).
type inBlock struct {
	Type      string          `json:"type"`
	Text      *string         `json:"text"`
	Source    *inSource       `json:"source"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   *bool           `json:"is_error"`
	raw       json.RawMessage // the block as sent (list form only)
}

type inSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type"`
	Data      string `json:"data"`
	URL       string `json:"url"`
}

func parseMessages(raw json.RawMessage) ([]bus.Message, error) {
	if isNull(raw) {
		return nil, invalid("messages: field required")
	}
	var list []json.RawMessage
	if firstByte(raw) != '[' || json.Unmarshal(raw, &list) != nil {
		return nil, invalid("messages: must be a list of message objects")
	}
	if len(list) == 0 {
		return nil, invalid("messages: at least one message is required")
	}
	toolNames := map[string]string{} // tool_use id → tool name, for results
	var out []bus.Message
	for i, r := range list {
		var m inMessage
		if firstByte(r) != '{' {
			return nil, invalid("messages[%d]: must be an object", i)
		}
		if err := json.Unmarshal(r, &m); err != nil {
			return nil, invalid("messages[%d]: %s", i, jsonErr(err))
		}
		if isNull(m.Content) {
			return nil, invalid("messages[%d].content: field required", i)
		}
		switch m.Role {
		case "user":
			msgs, err := userTurn(i, m.Content, toolNames)
			if err != nil {
				return nil, err
			}
			out = append(out, msgs...)
		case "assistant":
			msg, err := assistantTurn(i, m.Content)
			if err != nil {
				return nil, err
			}
			for _, tc := range msg.ToolCalls {
				toolNames[tc.ID] = tc.Name
			}
			if len(msg.Content) > 0 || len(msg.ToolCalls) > 0 {
				out = append(out, msg)
			}
		case "system":
			// Claude Code (2.1.332) sends the environment as a system
			// message inside messages; keep it in place as a system turn.
			msg, err := systemTurn(i, m.Content)
			if err != nil {
				return nil, err
			}
			if len(msg.Content) > 0 {
				out = append(out, msg)
			}
		case "":
			return nil, invalid("messages[%d].role: field required", i)
		default:
			return nil, invalid("messages[%d].role: must be \"user\", \"assistant\" or \"system\", got %q", i, m.Role)
		}
	}
	return out, nil
}

// systemTurn reads a system message inside messages: text only.
func systemTurn(i int, raw json.RawMessage) (bus.Message, error) {
	blocks, err := blocksOf(fmt.Sprintf("messages[%d].content", i), raw)
	if err != nil {
		return bus.Message{}, err
	}
	msg := bus.Message{Role: bus.System}
	for j, b := range blocks {
		if b.Type != "text" {
			return bus.Message{}, invalid("messages[%d].content[%d]: a system message may hold only text blocks, got %q", i, j, b.Type)
		}
		if b.Text != nil && *b.Text != "" {
			msg.Content = append(msg.Content, bus.Part{Type: bus.TextPart, Text: *b.Text})
		}
	}
	return msg, nil
}

// blocksOf decodes content given as a string (one text block) or a list of
// block objects.
func blocksOf(where string, raw json.RawMessage) ([]inBlock, error) {
	switch firstByte(raw) {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, invalid("%s: %s", where, jsonErr(err))
		}
		return []inBlock{{Type: "text", Text: &s}}, nil
	case '[':
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, invalid("%s: %s", where, jsonErr(err))
		}
		out := make([]inBlock, 0, len(list))
		for j, r := range list {
			var b inBlock
			if firstByte(r) != '{' {
				return nil, invalid("%s[%d]: must be a content block object", where, j)
			}
			if err := json.Unmarshal(r, &b); err != nil {
				return nil, invalid("%s[%d]: %s", where, j, jsonErr(err))
			}
			if b.Type == "" {
				return nil, invalid("%s[%d].type: field required", where, j)
			}
			b.raw = r
			out = append(out, b)
		}
		return out, nil
	default:
		return nil, invalid("%s: must be a string or a list of content blocks", where)
	}
}

// partOf converts a text or image block.
func partOf(where string, b inBlock) (bus.Part, error) {
	switch b.Type {
	case "text":
		if b.Text == nil {
			return bus.Part{}, invalid("%s.text: field required", where)
		}
		return bus.Part{Type: bus.TextPart, Text: *b.Text}, nil
	case "image":
		src := b.Source
		if src == nil {
			return bus.Part{}, invalid("%s.source: field required", where)
		}
		switch src.Type {
		case "base64":
			if src.MediaType == "" {
				return bus.Part{}, invalid("%s.source.media_type: field required", where)
			}
			if src.Data == "" {
				return bus.Part{}, invalid("%s.source.data: field required", where)
			}
			data, err := base64.StdEncoding.DecodeString(src.Data)
			if err != nil {
				data, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(src.Data, "="))
			}
			if err != nil {
				return bus.Part{}, invalid("%s.source.data: not valid base64", where)
			}
			return bus.Part{Type: bus.ImagePart, MediaType: src.MediaType, Data: data}, nil
		case "url":
			if src.URL == "" {
				return bus.Part{}, invalid("%s.source.url: field required", where)
			}
			return bus.Part{Type: bus.ImagePart, URL: src.URL}, nil
		default:
			return bus.Part{}, invalid("%s.source.type: must be \"base64\" or \"url\", got %q", where, src.Type)
		}
	default:
		return bus.Part{}, invalid("%s: content block type %q is not supported", where, b.Type)
	}
}

// userTurn converts a user message: text and images become User messages,
// each tool_result a Tool message, keeping their order.
func userTurn(i int, raw json.RawMessage, toolNames map[string]string) ([]bus.Message, error) {
	where := fmt.Sprintf("messages[%d].content", i)
	blocks, err := blocksOf(where, raw)
	if err != nil {
		return nil, err
	}
	var out []bus.Message
	var pending []bus.Part
	flush := func() {
		if len(pending) > 0 {
			out = append(out, bus.Message{Role: bus.User, Content: pending})
			pending = nil
		}
	}
	for j, b := range blocks {
		bw := fmt.Sprintf("%s[%d]", where, j)
		switch b.Type {
		case "tool_result":
			if b.ToolUseID == "" {
				return nil, invalid("%s.tool_use_id: field required", bw)
			}
			parts, err := toolResultParts(bw, b.Content)
			if err != nil {
				return nil, err
			}
			flush()
			out = append(out, bus.Message{Role: bus.Tool, ToolCallID: b.ToolUseID, Name: toolNames[b.ToolUseID], Content: parts})
		case "tool_use", "thinking", "redacted_thinking":
			return nil, invalid("%s: %q blocks are only allowed in assistant messages", bw, b.Type)
		default:
			p, err := partOf(bw, b)
			if err != nil {
				return nil, err
			}
			if p.Type == bus.TextPart && p.Text == "" && len(blocks) > 1 {
				continue
			}
			pending = append(pending, p)
		}
	}
	flush()
	return out, nil
}

// toolResultParts converts a tool_result's content: absent, a string, or a
// list of text and image blocks.
func toolResultParts(where string, raw json.RawMessage) ([]bus.Part, error) {
	if isNull(raw) {
		return nil, nil
	}
	blocks, err := blocksOf(where+".content", raw)
	if err != nil {
		return nil, err
	}
	var parts []bus.Part
	for k, b := range blocks {
		p, err := partOf(fmt.Sprintf("%s.content[%d]", where, k), b)
		if err != nil {
			return nil, err
		}
		if p.Type == bus.TextPart && p.Text == "" {
			continue
		}
		parts = append(parts, p)
	}
	return parts, nil
}

// assistantTurn converts an assistant message. Blocks the bus does not
// model — thinking (whose signature Anthropic checks when a tool-use turn
// continues), redacted thinking, server tool use and results — are kept
// verbatim as Anthropic vendor parts, in order.
func assistantTurn(i int, raw json.RawMessage) (bus.Message, error) {
	where := fmt.Sprintf("messages[%d].content", i)
	blocks, err := blocksOf(where, raw)
	if err != nil {
		return bus.Message{}, err
	}
	msg := bus.Message{Role: bus.Assistant}
	for j, b := range blocks {
		bw := fmt.Sprintf("%s[%d]", where, j)
		switch b.Type {
		case "text":
			if b.Text == nil {
				return bus.Message{}, invalid("%s.text: field required", bw)
			}
			if *b.Text != "" || len(blocks) == 1 {
				msg.Content = append(msg.Content, bus.Part{Type: bus.TextPart, Text: *b.Text})
			}
		case "tool_use":
			if b.ID == "" {
				return bus.Message{}, invalid("%s.id: field required", bw)
			}
			if b.Name == "" {
				return bus.Message{}, invalid("%s.name: field required", bw)
			}
			args := json.RawMessage("{}")
			if !isNull(b.Input) {
				if firstByte(b.Input) != '{' {
					return bus.Message{}, invalid("%s.input: must be an object", bw)
				}
				args = append(json.RawMessage(nil), bytes.TrimSpace(b.Input)...)
			}
			msg.ToolCalls = append(msg.ToolCalls, bus.ToolCall{ID: b.ID, Name: b.Name, Arguments: args})
		case "tool_result", "image":
			return bus.Message{}, invalid("%s: %q blocks are only allowed in user messages", bw, b.Type)
		default:
			var buf bytes.Buffer
			if err := json.Compact(&buf, b.raw); err != nil {
				return bus.Message{}, invalid("%s: %s", bw, jsonErr(err))
			}
			msg.Content = append(msg.Content, bus.Part{Type: bus.VendorPart, Vendor: bus.VendorAnthropic, Raw: buf.Bytes()})
		}
	}
	return msg, nil
}

// inTool is one entry of tools.
type inTool struct {
	Type        *string         `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
}

// parseTools returns the client (function) tools and, raw, the server tools
// (entries with a type other than "custom", e.g. web_search_20250305).
func parseTools(raw json.RawMessage) ([]bus.ToolSpec, []json.RawMessage, error) {
	if isNull(raw) {
		return nil, nil, nil
	}
	var list []json.RawMessage
	if firstByte(raw) != '[' || json.Unmarshal(raw, &list) != nil {
		return nil, nil, invalid("tools: must be a list of tool objects")
	}
	var tools []bus.ToolSpec
	var server []json.RawMessage
	seen := map[string]bool{}
	for i, r := range list {
		var t inTool
		if firstByte(r) != '{' {
			return nil, nil, invalid("tools[%d]: must be an object", i)
		}
		if err := json.Unmarshal(r, &t); err != nil {
			return nil, nil, invalid("tools[%d]: %s", i, jsonErr(err))
		}
		if t.Name == "" {
			return nil, nil, invalid("tools[%d].name: field required", i)
		}
		if seen[t.Name] {
			return nil, nil, invalid("tools[%d].name: duplicate tool name %q", i, t.Name)
		}
		seen[t.Name] = true
		if t.Type != nil && *t.Type != "" && *t.Type != "custom" {
			server = append(server, append(json.RawMessage(nil), bytes.TrimSpace(r)...))
			continue
		}
		if isNull(t.InputSchema) {
			return nil, nil, invalid("tools[%d].input_schema: field required", i)
		}
		if firstByte(t.InputSchema) != '{' {
			return nil, nil, invalid("tools[%d].input_schema: must be a JSON Schema object", i)
		}
		tools = append(tools, bus.ToolSpec{
			Name:        t.Name,
			Description: t.Description,
			Parameters:  append(json.RawMessage(nil), bytes.TrimSpace(t.InputSchema)...),
		})
	}
	return tools, server, nil
}

// parseToolChoice maps {type, name} to the bus's ToolChoice.
func parseToolChoice(raw json.RawMessage) (string, error) {
	var tc struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if firstByte(raw) != '{' || json.Unmarshal(raw, &tc) != nil {
		return "", invalid("tool_choice: must be an object with a type")
	}
	switch tc.Type {
	case "auto", "none":
		return tc.Type, nil
	case "any":
		return "required", nil
	case "tool":
		if tc.Name == "" {
			return "", invalid("tool_choice.name: field required when type is \"tool\"")
		}
		return tc.Name, nil
	case "":
		return "", invalid("tool_choice.type: field required")
	default:
		return "", invalid("tool_choice.type: must be one of auto, any, tool, none; got %q", tc.Type)
	}
}
