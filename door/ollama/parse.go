// Package ollama is the Ollama-compatible front door: the server side of
// Ollama's native API (POST /api/chat, GET /api/tags, GET /api/version), so
// that unmodified Ollama clients can point at the kernel.
//
// ParseChat turns a /api/chat body into a door.Call; WriteResponse,
// WriteStream and WriteError answer in Ollama's shapes (one JSON object, or
// NDJSON lines when streaming, which is Ollama's default).
//
// Ollama tool calls carry no ids. ParseChat synthesises "call_0",
// "call_1", … (numbered across the whole conversation, so they are unique)
// for the assistant's calls, and gives each tool message the id of the
// earliest unanswered call of its tool_name from the latest assistant turn.
package ollama

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/mirroros/mirror/bus"
	"github.com/mirroros/mirror/door"
)

// ---- request wire types ----

type chatRequest struct {
	Model     string                     `json:"model"`
	Messages  []inMessage                `json:"messages"`
	Tools     []inTool                   `json:"tools"`
	Stream    *bool                      `json:"stream"`
	Format    json.RawMessage            `json:"format"`
	KeepAlive json.RawMessage            `json:"keep_alive"`
	Think     json.RawMessage            `json:"think"`
	Options   map[string]json.RawMessage `json:"options"`
}

type inMessage struct {
	Role       string       `json:"role"`
	Content    string       `json:"content"`
	Images     []string     `json:"images"`
	ToolCalls  []inToolCall `json:"tool_calls"`
	ToolName   string       `json:"tool_name"`
	ToolCallID string       `json:"tool_call_id"` // not Ollama's; some clients send it
}

type inToolCall struct {
	ID       string `json:"id"` // sent by some clients; used when present
	Function struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"function"`
}

type inTool struct {
	Type     string `json:"type"`
	Function *struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// modelled are the options ParseChat maps onto bus.Request fields; other
// options pass through in Extra["options"].
var modelled = map[string]bool{"temperature": true, "top_p": true, "stop": true, "num_predict": true}

// ParseChat decodes a POST /api/chat body. A malformed request is a
// *door.Error (400, or 413 for a body over door.MaxBody). "stream"
// defaults to true, as in Ollama. format, keep_alive and think, and any
// options other than temperature, top_p, stop and num_predict, pass
// through in Request.Extra ("format", "keep_alive", "think", "options").
//
// An empty messages list (Ollama's "load the model" request) is accepted;
// the caller decides how to answer it.
func ParseChat(body []byte) (door.Call, error) {
	if len(body) > door.MaxBody {
		return door.Call{}, &door.Error{Status: http.StatusRequestEntityTooLarge, Code: "request_too_large",
			Message: fmt.Sprintf("request body larger than %d bytes", door.MaxBody)}
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return door.Call{}, door.Invalid("request body must be a JSON object")
	}
	var w chatRequest
	if err := json.Unmarshal(trimmed, &w); err != nil {
		return door.Call{}, door.Invalid(decodeError(err))
	}
	if strings.TrimSpace(w.Model) == "" {
		return door.Call{}, door.Invalid("model is required")
	}
	call := door.Call{
		Model:  w.Model,
		Stream: w.Stream == nil || *w.Stream,
		Raw:    json.RawMessage(bytes.Clone(body)),
	}
	req := &call.Request
	if err := convertMessages(w.Messages, req); err != nil {
		return door.Call{}, door.Invalid(err.Error())
	}
	for i, t := range w.Tools {
		if t.Type != "" && t.Type != "function" {
			return door.Call{}, door.Invalid(fmt.Sprintf("tools[%d]: unsupported type %q (want \"function\")", i, t.Type))
		}
		if t.Function == nil || t.Function.Name == "" {
			return door.Call{}, door.Invalid(fmt.Sprintf("tools[%d]: function.name is required", i))
		}
		params, err := schemaObject(t.Function.Parameters)
		if err != nil {
			return door.Call{}, door.Invalid(fmt.Sprintf("tools[%d] (%s): parameters: %v", i, t.Function.Name, err))
		}
		req.Tools = append(req.Tools, bus.ToolSpec{Name: t.Function.Name, Description: t.Function.Description, Parameters: params})
	}
	if err := convertOptions(w.Options, req); err != nil {
		return door.Call{}, door.Invalid(err.Error())
	}
	for k, v := range map[string]json.RawMessage{"format": w.Format, "keep_alive": w.KeepAlive, "think": w.Think} {
		if isAbsent(v) {
			continue
		}
		if req.Extra == nil {
			req.Extra = map[string]json.RawMessage{}
		}
		req.Extra[k] = bytes.Clone(v)
	}
	return call, nil
}

// convertMessages fills req.System and req.Messages.
func convertMessages(in []inMessage, req *bus.Request) error {
	// Ids the client supplied itself, so synthesised ones never collide.
	used := map[string]bool{}
	for _, m := range in {
		for _, tc := range m.ToolCalls {
			if tc.ID != "" {
				used[tc.ID] = true
			}
		}
	}
	next := 0
	newID := func() string {
		for {
			id := "call_" + strconv.Itoa(next)
			next++
			if !used[id] {
				used[id] = true
				return id
			}
		}
	}
	var system []string
	var pending []bus.ToolCall // the latest assistant turn's unanswered calls, in order
	for i, m := range in {
		switch m.Role {
		case "system", "user", "assistant", "tool":
		case "":
			return fmt.Errorf("messages[%d]: role is required", i)
		default:
			return fmt.Errorf("messages[%d]: unknown role %q (want system, user, assistant or tool)", i, m.Role)
		}
		if len(m.ToolCalls) > 0 && m.Role != "assistant" {
			return fmt.Errorf("messages[%d]: tool_calls are allowed on assistant messages only", i)
		}
		if m.Role == "system" {
			if len(m.Images) > 0 {
				return fmt.Errorf("messages[%d]: images are not allowed on system messages", i)
			}
			if m.Content != "" {
				system = append(system, m.Content)
			}
			continue
		}
		bm := bus.Message{Role: bus.Role(m.Role)}
		if m.Content != "" {
			bm.Content = append(bm.Content, bus.Part{Type: bus.TextPart, Text: m.Content})
		}
		for j, img := range m.Images {
			data, err := decodeImage(img)
			if err != nil {
				return fmt.Errorf("messages[%d].images[%d]: %v", i, j, err)
			}
			p := bus.Part{Type: bus.ImagePart, Data: data}
			if mt := http.DetectContentType(data); strings.HasPrefix(mt, "image/") {
				p.MediaType = mt
			}
			bm.Content = append(bm.Content, p)
		}
		switch m.Role {
		case "assistant":
			if len(m.ToolCalls) > 0 {
				pending = pending[:0:0]
			}
			for j, tc := range m.ToolCalls {
				if tc.Function.Name == "" {
					return fmt.Errorf("messages[%d].tool_calls[%d]: function.name is required", i, j)
				}
				args, err := argsObject(tc.Function.Arguments)
				if err != nil {
					return fmt.Errorf("messages[%d].tool_calls[%d] (%s): %v", i, j, tc.Function.Name, err)
				}
				id := tc.ID
				if id == "" {
					id = newID()
				}
				c := bus.ToolCall{ID: id, Name: tc.Function.Name, Arguments: args}
				bm.ToolCalls = append(bm.ToolCalls, c)
				pending = append(pending, c)
			}
		case "tool":
			bm.Name = m.ToolName
			k := matchCall(pending, m.ToolName, m.ToolCallID)
			if k >= 0 {
				bm.ToolCallID = pending[k].ID
				if bm.Name == "" {
					bm.Name = pending[k].Name
				}
				pending = append(pending[:k:k], pending[k+1:]...)
			} else if m.ToolCallID != "" {
				bm.ToolCallID = m.ToolCallID
			}
			// Unmatched (e.g. a client trimmed the assistant turn from its
			// history): ToolCallID stays empty and Name carries the tool,
			// which is all Ollama itself needs.
		}
		req.Messages = append(req.Messages, bm)
	}
	req.System = strings.Join(system, "\n\n")
	return nil
}

// matchCall returns the index in pending of the call a tool result answers:
// by explicit id if given, else the first call of that name, else (no
// name given) the first pending call; -1 if none.
func matchCall(pending []bus.ToolCall, name, id string) int {
	if id != "" {
		for k, c := range pending {
			if c.ID == id {
				return k
			}
		}
	}
	if name != "" {
		for k, c := range pending {
			if c.Name == name {
				return k
			}
		}
		return -1
	}
	if id == "" && len(pending) > 0 {
		return 0
	}
	return -1
}

// decodeImage decodes a base64 image, tolerating a data: URL prefix and
// missing padding.
func decodeImage(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "data:"); ok {
		_, payload, ok := strings.Cut(rest, ";base64,")
		if !ok {
			return nil, errors.New("data URL images must be base64")
		}
		s = payload
	}
	if s == "" {
		return nil, errors.New("empty image")
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
		if err != nil {
			return nil, errors.New("image is not valid base64")
		}
	}
	if len(b) == 0 {
		return nil, errors.New("empty image")
	}
	return b, nil
}

// argsObject normalises tool call arguments to a compact JSON object:
// absent or null means {}, and a JSON string holding an object (as
// OpenAI-style clients send) is unwrapped.
func argsObject(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if isAbsent(raw) {
		return json.RawMessage(`{}`), nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, errors.New("arguments are not a JSON object")
		}
		raw = bytes.TrimSpace([]byte(s))
		if len(raw) == 0 {
			return json.RawMessage(`{}`), nil
		}
	}
	if len(raw) == 0 || raw[0] != '{' || !json.Valid(raw) {
		return nil, errors.New("arguments are not a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, errors.New("arguments are not a JSON object")
	}
	return buf.Bytes(), nil
}

// schemaObject checks a tool's parameters: absent, or a JSON object.
func schemaObject(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if isAbsent(raw) {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, errors.New("must be a JSON Schema object")
	}
	return bytes.Clone(raw), nil
}

func isAbsent(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// convertOptions maps the modelled options and keeps the rest in
// Extra["options"].
func convertOptions(opts map[string]json.RawMessage, req *bus.Request) error {
	if v, ok := opts["temperature"]; ok && !isAbsent(v) {
		f, err := number(v)
		if err != nil {
			return fmt.Errorf("options.temperature: %v", err)
		}
		req.Temperature = &f
	}
	if v, ok := opts["top_p"]; ok && !isAbsent(v) {
		f, err := number(v)
		if err != nil {
			return fmt.Errorf("options.top_p: %v", err)
		}
		req.TopP = &f
	}
	if v, ok := opts["stop"]; ok && !isAbsent(v) {
		var list []string
		if err := json.Unmarshal(v, &list); err != nil {
			var one string
			if json.Unmarshal(v, &one) != nil {
				return errors.New("options.stop: must be a string or an array of strings")
			}
			list = []string{one}
		}
		for _, s := range list {
			if s != "" {
				req.Stop = append(req.Stop, s)
			}
		}
	}
	if v, ok := opts["num_predict"]; ok && !isAbsent(v) {
		f, err := number(v)
		if err != nil || f != math.Trunc(f) {
			return errors.New("options.num_predict: must be an integer")
		}
		if f > math.MaxInt32 {
			return errors.New("options.num_predict: too large")
		}
		if f > 0 { // -1 (unlimited) and -2 (fill the context) mean the default
			req.MaxTokens = int(f)
		}
	}
	rest := map[string]json.RawMessage{}
	for k, v := range opts {
		if !modelled[k] && !isAbsent(v) {
			rest[k] = v
		}
	}
	if len(rest) > 0 {
		b, err := json.Marshal(rest)
		if err != nil {
			return fmt.Errorf("options: %v", err)
		}
		if req.Extra == nil {
			req.Extra = map[string]json.RawMessage{}
		}
		req.Extra["options"] = b
	}
	return nil
}

// number decodes a JSON number.
func number(raw json.RawMessage) (float64, error) {
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		return 0, errors.New("must be a number")
	}
	return f, nil
}

// decodeError rephrases a json decoding error without Go type names.
func decodeError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "request"
		}
		want := "a different type"
		switch te.Type.Kind().String() {
		case "string":
			want = "a string"
		case "bool":
			want = "a boolean"
		case "slice":
			want = "an array"
		case "map", "struct", "ptr":
			want = "an object"
		case "float64", "int":
			want = "a number"
		}
		if field == "stream" {
			want = "a boolean"
		}
		return fmt.Sprintf("%s: got JSON %s, want %s", field, te.Value, want)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at offset %d: %v", se.Offset, se)
	}
	return "invalid JSON: " + err.Error()
}
