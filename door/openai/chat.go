// Package openai is the OpenAI Chat Completions front door: the server side
// of POST /v1/chat/completions and POST /v1/embeddings, so that unmodified
// OpenAI clients (SDKs, agents, editors) work against the kernel.
//
// ParseChat turns a request body into a door.Call; WriteResponse,
// WriteStream and WriteError answer in OpenAI's own shapes.
package openai

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"strings"

	"github.com/mirroros/mirror/bus"
	"github.com/mirroros/mirror/door"
)

// Request wire shapes (the subset a front door reads field by field).

type wireMessage struct {
	Role       *string         `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCalls  []wireToolCall  `json:"tool_calls"`
	ToolCallID string          `json:"tool_call_id"`
	Name       string          `json:"name"`
}

type wireToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"function"`
}

type wirePart struct {
	Type     string          `json:"type"`
	Text     *string         `json:"text"`
	ImageURL json.RawMessage `json:"image_url"`
	Refusal  string          `json:"refusal"`
}

type wireTool struct {
	Type     string `json:"type"`
	Function *struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

type wireStreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// handled are the top-level fields ParseChat maps onto bus.Request; every
// other field goes to Request.Extra as received.
var handled = map[string]bool{
	"model": true, "messages": true, "tools": true, "tool_choice": true,
	"max_tokens": true, "max_completion_tokens": true, "temperature": true,
	"top_p": true, "stop": true, "stream": true, "n": true,
}

// ParseChat decodes a POST /v1/chat/completions body. A body the door
// refuses yields a *door.Error (400) whose message names the offending
// field. System and developer messages are joined (blank-line separated)
// into Request.System; stream_options is kept in Request.Extra (see
// IncludeUsage); other unknown top-level fields go to Request.Extra as
// received. Call.Raw is body itself (not copied).
func ParseChat(body []byte) (door.Call, error) {
	top, err := topLevel(body)
	if err != nil {
		return door.Call{}, err
	}
	call := door.Call{Raw: json.RawMessage(body)}
	req := &call.Request

	// model
	if err := decodeField(top, "model", &call.Model); err != nil {
		return door.Call{}, err
	}
	call.Model = strings.TrimSpace(call.Model)
	if call.Model == "" {
		return door.Call{}, door.Invalid("model is required")
	}

	// messages
	var msgs []json.RawMessage
	if err := decodeField(top, "messages", &msgs); err != nil {
		return door.Call{}, err
	}
	if len(msgs) == 0 {
		return door.Call{}, door.Invalid("messages is required and must be a non-empty array")
	}
	var systems []string
	toolNames := map[string]string{} // tool call id → tool name, for tool results
	for i, raw := range msgs {
		path := fmt.Sprintf("messages[%d]", i)
		sys, m, isSystem, err := parseMessage(path, raw, toolNames)
		if err != nil {
			return door.Call{}, err
		}
		if isSystem {
			if sys != "" {
				systems = append(systems, sys)
			}
			continue
		}
		req.Messages = append(req.Messages, m)
	}
	req.System = strings.Join(systems, "\n\n")

	// tools and tool_choice
	if err := parseTools(top, req); err != nil {
		return door.Call{}, err
	}
	if err := parseToolChoice(top, req); err != nil {
		return door.Call{}, err
	}

	// sampling
	maxTokens, err := intField(top, "max_tokens")
	if err != nil {
		return door.Call{}, err
	}
	maxCompletion, err := intField(top, "max_completion_tokens")
	if err != nil {
		return door.Call{}, err
	}
	req.MaxTokens = maxTokens
	if maxCompletion > 0 {
		req.MaxTokens = maxCompletion
	}
	if req.Temperature, err = floatField(top, "temperature", 0, 2); err != nil {
		return door.Call{}, err
	}
	if req.TopP, err = floatField(top, "top_p", 0, 1); err != nil {
		return door.Call{}, err
	}
	if req.Stop, err = parseStop(top); err != nil {
		return door.Call{}, err
	}
	n, err := intField(top, "n")
	if err != nil {
		return door.Call{}, err
	}
	if n > 1 {
		return door.Call{}, door.Invalid("n: only one choice per request is supported (n must be 1)")
	}

	// streaming
	if err := decodeField(top, "stream", &call.Stream); err != nil {
		return door.Call{}, err
	}
	if raw, ok := present(top, "stream_options"); ok {
		raw = bytes.TrimSpace(raw)
		var so wireStreamOptions
		if err := decodeInto("stream_options", raw, &so); err != nil {
			return door.Call{}, err
		}
		if raw[0] != '{' {
			return door.Call{}, door.Invalid("stream_options must be an object")
		}
	}

	// everything else, as received
	for k, v := range top {
		if handled[k] || (k == "stream_options" && isNull(v)) {
			continue
		}
		if req.Extra == nil {
			req.Extra = map[string]json.RawMessage{}
		}
		req.Extra[k] = v
	}
	return call, nil
}

// IncludeUsage reports whether a parsed call asked for a final usage chunk
// (stream_options.include_usage), the third argument of WriteStream.
func IncludeUsage(call door.Call) bool {
	raw, ok := call.Request.Extra["stream_options"]
	if !ok {
		return false
	}
	var so wireStreamOptions
	if json.Unmarshal(raw, &so) != nil {
		return false
	}
	return so.IncludeUsage
}

// topLevel splits a body into its top-level fields.
func topLevel(body []byte) (map[string]json.RawMessage, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, door.Invalid("request body is empty: expected a JSON object")
	}
	if !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v)
		msg := "request body is not valid JSON"
		var se *json.SyntaxError
		if errors.As(err, &se) {
			msg += fmt.Sprintf(" (at byte %d: %s)", se.Offset, se.Error())
		}
		return nil, door.Invalid(msg)
	}
	if body[0] != '{' {
		return nil, door.Invalid("request body must be a JSON object")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, door.Invalid("request body must be a JSON object")
	}
	return top, nil
}

// present returns a field's raw value unless it is absent or null.
func present(top map[string]json.RawMessage, key string) (json.RawMessage, bool) {
	raw, ok := top[key]
	if !ok || isNull(raw) {
		return nil, false
	}
	return raw, true
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// decodeField decodes top[key] into v when present and not null.
func decodeField(top map[string]json.RawMessage, key string, v any) error {
	raw, ok := present(top, key)
	if !ok {
		return nil
	}
	return decodeInto(key, raw, v)
}

// decodeInto unmarshals raw into v, turning decoding errors into a 400
// that names the field at fault.
func decodeInto(path string, raw json.RawMessage, v any) error {
	err := json.Unmarshal(raw, v)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := path
		if te.Field != "" {
			field = path + "." + te.Field
		}
		return door.Invalid(fmt.Sprintf("%s: expected %s, got %s", field, kindName(te.Type), te.Value))
	}
	return door.Invalid(fmt.Sprintf("%s: %v", path, err))
}

func kindName(t reflect.Type) string {
	if t == nil {
		return "a different type"
	}
	if t == reflect.TypeOf(json.RawMessage(nil)) {
		return "a JSON value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Pointer:
		return kindName(t.Elem())
	}
	return t.String()
}

// intField reads a non-negative integer field (0 when absent or null).
func intField(top map[string]json.RawMessage, key string) (int, error) {
	var f float64
	if err := decodeField(top, key, &f); err != nil {
		return 0, err
	}
	if f < 0 || f != math.Trunc(f) || f > math.MaxInt32 {
		return 0, door.Invalid(fmt.Sprintf("%s must be a non-negative integer", key))
	}
	return int(f), nil
}

// floatField reads an optional number within [lo, hi].
func floatField(top map[string]json.RawMessage, key string, lo, hi float64) (*float64, error) {
	raw, ok := present(top, key)
	if !ok {
		return nil, nil
	}
	var f float64
	if err := decodeInto(key, raw, &f); err != nil {
		return nil, err
	}
	if f < lo || f > hi {
		return nil, door.Invalid(fmt.Sprintf("%s must be between %g and %g, got %g", key, lo, hi, f))
	}
	return &f, nil
}

func parseStop(top map[string]json.RawMessage) ([]string, error) {
	raw, ok := present(top, "stop")
	if !ok {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return nil, nil
		}
		return []string{s}, nil
	}
	var list []string
	if json.Unmarshal(raw, &list) != nil {
		return nil, door.Invalid("stop must be a string or an array of strings")
	}
	out := list[:0]
	for _, s := range list {
		if s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// parseMessage decodes one message. A system or developer message yields
// its text and isSystem; any other yields a bus message.
func parseMessage(path string, raw json.RawMessage, toolNames map[string]string) (sys string, m bus.Message, isSystem bool, err error) {
	if raw = bytes.TrimSpace(raw); len(raw) == 0 || raw[0] != '{' {
		return "", m, false, door.Invalid(path + " must be an object")
	}
	var w wireMessage
	if err := decodeInto(path, raw, &w); err != nil {
		return "", m, false, err
	}
	if w.Role == nil || *w.Role == "" {
		return "", m, false, door.Invalid(path + ".role is required")
	}
	role := *w.Role
	switch role {
	case "system", "developer":
		parts, err := parseContent(path+".content", w.Content, false, false)
		if err != nil {
			return "", m, false, err
		}
		return bus.Message{Content: parts}.Text(), m, true, nil

	case "user":
		if isNull(w.Content) {
			return "", m, false, door.Invalid(path + ".content is required for a user message")
		}
		parts, err := parseContent(path+".content", w.Content, true, false)
		if err != nil {
			return "", m, false, err
		}
		return "", bus.Message{Role: bus.User, Content: parts}, false, nil

	case "assistant":
		parts, err := parseContent(path+".content", w.Content, false, true)
		if err != nil {
			return "", m, false, err
		}
		// One text part: what the model said, whether sent as a string or
		// as parts.
		m = bus.Message{Role: bus.Assistant}
		if text := (bus.Message{Content: parts}).Text(); text != "" {
			m.Content = []bus.Part{{Type: bus.TextPart, Text: text}}
		}
		for j, tc := range w.ToolCalls {
			p := fmt.Sprintf("%s.tool_calls[%d]", path, j)
			if tc.Type != "" && tc.Type != "function" {
				return "", m, false, door.Invalid(fmt.Sprintf("%s.type: unsupported tool call type %q (only \"function\")", p, tc.Type))
			}
			if tc.ID == "" {
				return "", m, false, door.Invalid(p + ".id is required")
			}
			if tc.Function.Name == "" {
				return "", m, false, door.Invalid(p + ".function.name is required")
			}
			args, err := argumentsJSON(p+".function.arguments", tc.Function.Arguments)
			if err != nil {
				return "", m, false, err
			}
			toolNames[tc.ID] = tc.Function.Name
			m.ToolCalls = append(m.ToolCalls, bus.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: args})
		}
		return "", m, false, nil

	case "tool":
		if w.ToolCallID == "" {
			return "", m, false, door.Invalid(path + ".tool_call_id is required for a tool message")
		}
		parts, err := parseContent(path+".content", w.Content, false, false)
		if err != nil {
			return "", m, false, err
		}
		name := w.Name
		if name == "" {
			name = toolNames[w.ToolCallID]
		}
		text := bus.Message{Content: parts}.Text()
		return "", bus.Message{Role: bus.Tool, ToolCallID: w.ToolCallID, Name: name,
			Content: []bus.Part{{Type: bus.TextPart, Text: text}}}, false, nil

	default:
		return "", m, false, door.Invalid(fmt.Sprintf("%s.role: unknown role %q (expected system, developer, user, assistant or tool)", path, role))
	}
}

// parseContent decodes message content: a string, null, or an array of
// content parts. Images are allowed in user messages, refusals in
// assistant messages.
func parseContent(path string, raw json.RawMessage, images, refusals bool) ([]bus.Part, error) {
	if isNull(raw) {
		return nil, nil
	}
	raw = bytes.TrimSpace(raw)
	switch raw[0] {
	case '"':
		var s string
		if err := decodeInto(path, raw, &s); err != nil {
			return nil, err
		}
		if s == "" {
			return nil, nil
		}
		return []bus.Part{{Type: bus.TextPart, Text: s}}, nil
	case '[':
	default:
		return nil, door.Invalid(path + " must be a string or an array of content parts")
	}
	var items []json.RawMessage
	if err := decodeInto(path, raw, &items); err != nil {
		return nil, err
	}
	var out []bus.Part
	for i, item := range items {
		p := fmt.Sprintf("%s[%d]", path, i)
		if item = bytes.TrimSpace(item); len(item) == 0 || item[0] != '{' {
			return nil, door.Invalid(p + " must be an object")
		}
		var wp wirePart
		if err := decodeInto(p, item, &wp); err != nil {
			return nil, err
		}
		switch wp.Type {
		case "text":
			if wp.Text == nil {
				return nil, door.Invalid(p + ".text is required")
			}
			out = append(out, bus.Part{Type: bus.TextPart, Text: *wp.Text})
		case "refusal":
			if !refusals {
				return nil, door.Invalid(p + `: a "refusal" part is only allowed in assistant messages`)
			}
			out = append(out, bus.Part{Type: bus.TextPart, Text: wp.Refusal})
		case "image_url":
			if !images {
				return nil, door.Invalid(p + `: an "image_url" part is only allowed in user messages`)
			}
			part, err := parseImage(p+".image_url", wp.ImageURL)
			if err != nil {
				return nil, err
			}
			out = append(out, part)
		case "":
			return nil, door.Invalid(p + ".type is required")
		default:
			return nil, door.Invalid(fmt.Sprintf("%s.type: content part type %q is not supported", p, wp.Type))
		}
	}
	return out, nil
}

// parseImage reads an image_url value: {"url": ..., "detail": ...} or,
// as some clients send it, the URL string itself.
func parseImage(path string, raw json.RawMessage) (bus.Part, error) {
	if isNull(raw) {
		return bus.Part{}, door.Invalid(path + " is required")
	}
	raw = bytes.TrimSpace(raw)
	var url string
	if raw[0] == '"' {
		if err := decodeInto(path, raw, &url); err != nil {
			return bus.Part{}, err
		}
	} else {
		var obj struct {
			URL string `json:"url"`
		}
		if err := decodeInto(path, raw, &obj); err != nil {
			return bus.Part{}, err
		}
		url = obj.URL
	}
	url = strings.TrimSpace(url)
	switch {
	case url == "":
		return bus.Part{}, door.Invalid(path + ".url is required")
	case hasPrefixFold(url, "data:"):
		mt, data, err := parseDataURL(url)
		if err != nil {
			return bus.Part{}, door.Invalid(fmt.Sprintf("%s.url: %v", path, err))
		}
		return bus.Part{Type: bus.ImagePart, MediaType: mt, Data: data}, nil
	case hasPrefixFold(url, "https://"), hasPrefixFold(url, "http://"):
		return bus.Part{Type: bus.ImagePart, URL: url}, nil
	default:
		return bus.Part{}, door.Invalid(path + ".url must be an http(s) URL or a base64 data URL")
	}
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// parseDataURL decodes data:<media type>[;params];base64,<data>.
func parseDataURL(u string) (mediaType string, data []byte, err error) {
	header, payload, ok := strings.Cut(u[len("data:"):], ",")
	if !ok {
		return "", nil, errors.New("malformed data URL (no comma)")
	}
	params := strings.Split(header, ";")
	if !strings.EqualFold(strings.TrimSpace(params[len(params)-1]), "base64") {
		return "", nil, errors.New("data URL must be base64-encoded")
	}
	mediaType = strings.ToLower(strings.TrimSpace(params[0]))
	payload = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
			return -1
		}
		return r
	}, payload)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if data, err = enc.DecodeString(payload); err == nil {
			break
		}
	}
	if err != nil {
		return "", nil, errors.New("data URL holds invalid base64")
	}
	if len(data) == 0 {
		return "", nil, errors.New("data URL holds no data")
	}
	if mediaType == "" {
		mediaType = http.DetectContentType(data)
	}
	return mediaType, data, nil
}

// argumentsJSON turns function.arguments (a string holding JSON, or, from
// lenient clients, a JSON object) into a JSON value: "{}" when empty, and
// a JSON string holding the text when it is not valid JSON, so the
// conversation still marshals.
func argumentsJSON(path string, raw json.RawMessage) (json.RawMessage, error) {
	if isNull(raw) {
		return json.RawMessage("{}"), nil
	}
	raw = bytes.TrimSpace(raw)
	switch raw[0] {
	case '{':
		return raw, nil
	case '"':
	default:
		return nil, door.Invalid(path + " must be a string holding a JSON object")
	}
	var s string
	if err := decodeInto(path, raw, &s); err != nil {
		return nil, err
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return json.RawMessage("{}"), nil
	}
	if json.Valid([]byte(s)) {
		return json.RawMessage(s), nil
	}
	b, _ := json.Marshal(s)
	return b, nil
}

func parseTools(top map[string]json.RawMessage, req *bus.Request) error {
	raw, ok := present(top, "tools")
	if !ok {
		return nil
	}
	var tools []json.RawMessage
	if err := decodeInto("tools", raw, &tools); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, item := range tools {
		p := fmt.Sprintf("tools[%d]", i)
		if item = bytes.TrimSpace(item); len(item) == 0 || item[0] != '{' {
			return door.Invalid(p + " must be an object")
		}
		var t wireTool
		if err := decodeInto(p, item, &t); err != nil {
			return err
		}
		if t.Type != "" && t.Type != "function" {
			return door.Invalid(fmt.Sprintf("%s.type: tool type %q is not supported (only \"function\")", p, t.Type))
		}
		if t.Function == nil || t.Function.Name == "" {
			return door.Invalid(p + ".function.name is required")
		}
		if seen[t.Function.Name] {
			return door.Invalid(fmt.Sprintf("%s.function.name: duplicate tool name %q", p, t.Function.Name))
		}
		seen[t.Function.Name] = true
		spec := bus.ToolSpec{Name: t.Function.Name, Description: t.Function.Description}
		if !isNull(t.Function.Parameters) {
			params := bytes.TrimSpace(t.Function.Parameters)
			if params[0] != '{' {
				return door.Invalid(p + ".function.parameters must be a JSON Schema object")
			}
			spec.Parameters = params
		}
		req.Tools = append(req.Tools, spec)
	}
	return nil
}

func parseToolChoice(top map[string]json.RawMessage, req *bus.Request) error {
	raw, ok := present(top, "tool_choice")
	if !ok {
		return nil
	}
	raw = bytes.TrimSpace(raw)
	switch raw[0] {
	case '"':
		var s string
		if err := decodeInto("tool_choice", raw, &s); err != nil {
			return err
		}
		switch s {
		case "auto", "none", "required":
			if s == "required" && len(req.Tools) == 0 {
				return door.Invalid(`tool_choice "required" needs tools`)
			}
			req.ToolChoice = s
			return nil
		}
		return door.Invalid(fmt.Sprintf(`tool_choice: unknown value %q (expected "auto", "none", "required" or {"type":"function","function":{"name":...}})`, s))
	case '{':
	default:
		return door.Invalid("tool_choice must be a string or an object")
	}
	var tc struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := decodeInto("tool_choice", raw, &tc); err != nil {
		return err
	}
	if tc.Type != "function" {
		return door.Invalid(fmt.Sprintf("tool_choice.type: %q is not supported (only \"function\")", tc.Type))
	}
	if tc.Function.Name == "" {
		return door.Invalid("tool_choice.function.name is required")
	}
	known := false
	for _, t := range req.Tools {
		known = known || t.Name == tc.Function.Name
	}
	if !known {
		return door.Invalid(fmt.Sprintf("tool_choice.function.name: %q is not among tools", tc.Function.Name))
	}
	req.ToolChoice = tc.Function.Name
	return nil
}
