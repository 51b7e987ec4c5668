package hook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// events maps each agent's tool events to their phase. Other events of the
// agents (prompts, sessions, compaction…) are not tool calls and are refused.
var events = map[Agent]map[string]Phase{
	ClaudeCode: {
		"PreToolUse":         Pre,
		"PostToolUse":        Post,
		"PostToolUseFailure": Post,
	},
	Codex: {
		"PreToolUse":  Pre,
		"PostToolUse": Post,
	},
	Gemini: {
		"BeforeTool": Pre,
		"AfterTool":  Post,
	},
	Cursor: {
		"preToolUse":           Pre,
		"beforeShellExecution": Pre,
		"beforeMCPExecution":   Pre,
		"postToolUse":          Post,
		"postToolUseFailure":   Post,
		"afterShellExecution":  Post,
		"afterMCPExecution":    Post,
	},
}

// cursorShellTool is the tool name Cursor gives its shell in preToolUse; the
// shell-specific events carry no tool name, so they get the same one.
const cursorShellTool = "Shell"

// Parse validates and normalises a payload for an agent. Bad input gives an
// error wrapping ErrUnknownAgent, ErrTooLarge or ErrInvalidPayload that says
// what is wrong. Fields Parse does not know are ignored.
func Parse(agent Agent, payload []byte) (Request, error) {
	known, ok := events[agent]
	if !ok {
		return Request{}, fmt.Errorf("%w: %q (want claude-code, codex, gemini or cursor)", ErrUnknownAgent, agent)
	}
	if len(payload) > MaxPayload {
		return Request{}, fmt.Errorf("%w: %s payload is %d bytes; the limit is %d", ErrTooLarge, agent, len(payload), MaxPayload)
	}
	f, err := decodeFields(payload)
	if err != nil {
		return Request{}, invalid(agent, "%v", err)
	}
	event, err := f.requiredString("hook_event_name")
	if err != nil {
		return Request{}, invalid(agent, "%v", err)
	}
	phase, ok := known[event]
	if !ok {
		return Request{}, invalid(agent, "event %q is not a tool event of %s (want %s)", event, agent, eventList(agent))
	}
	req := Request{
		Agent: agent,
		Phase: phase,
		Event: event,
		Raw:   append(json.RawMessage(nil), payload...),
	}
	if agent == Cursor {
		err = parseCursor(&req, f)
	} else {
		err = parseToolEvent(&req, f)
	}
	if err != nil {
		return Request{}, invalid(agent, "%s: %v", event, err)
	}
	return req, nil
}

// parseToolEvent reads the payload shape Claude Code, Codex and Gemini share:
// session_id, cwd, tool_name, tool_input and, after the tool, tool_response.
func parseToolEvent(req *Request, f fields) error {
	var err error
	if req.SessionID, err = f.optionalString("session_id"); err != nil {
		return err
	}
	if req.Cwd, err = f.optionalString("cwd"); err != nil {
		return err
	}
	if req.Tool, err = f.requiredString("tool_name"); err != nil {
		return err
	}
	if req.Input, err = f.object("tool_input", false); err != nil {
		return err
	}
	if req.Phase == Post {
		key := "tool_response"
		if req.Event == "PostToolUseFailure" {
			key = "error"
		}
		req.Result = f.raw(key)
	}
	return nil
}

// parseCursor reads Cursor's payloads, whose shape depends on the event.
func parseCursor(req *Request, f fields) error {
	var err error
	if req.SessionID, err = f.optionalString("conversation_id"); err != nil {
		return err
	}
	if req.SessionID == "" {
		if req.SessionID, err = f.optionalString("session_id"); err != nil {
			return err
		}
	}
	if req.Cwd, err = f.optionalString("cwd"); err != nil {
		return err
	}
	if req.Cwd == "" {
		req.Cwd = f.firstWorkspaceRoot()
	}
	switch req.Event {
	case "beforeShellExecution", "afterShellExecution":
		command, err := f.requiredString("command")
		if err != nil {
			return err
		}
		req.Tool = cursorShellTool
		req.Input = map[string]any{"command": command}
		if req.Phase == Post {
			req.Result = f.raw("output")
		}
		return nil
	}
	if req.Tool, err = f.requiredString("tool_name"); err != nil {
		return err
	}
	// Cursor documents tool_input of the MCP events as a JSON string.
	if req.Input, err = f.object("tool_input", true); err != nil {
		return err
	}
	switch req.Event {
	case "afterMCPExecution":
		req.Result = unwrapJSONString(f.raw("result_json"))
	case "postToolUse":
		req.Result = unwrapJSONString(f.raw("tool_output"))
	case "postToolUseFailure":
		req.Result = f.raw("error")
		if req.Result == nil {
			req.Result = f.raw("error_message")
		}
	}
	return nil
}

func invalid(agent Agent, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidPayload, agent, fmt.Sprintf(format, args...))
}

func eventList(agent Agent) string {
	// A fixed order reads better than map order in an error message.
	order := map[Agent][]string{
		ClaudeCode: {"PreToolUse", "PostToolUse", "PostToolUseFailure"},
		Codex:      {"PreToolUse", "PostToolUse"},
		Gemini:     {"BeforeTool", "AfterTool"},
		Cursor: {"preToolUse", "beforeShellExecution", "beforeMCPExecution",
			"postToolUse", "postToolUseFailure", "afterShellExecution", "afterMCPExecution"},
	}
	return strings.Join(order[agent], ", ")
}

// fields is a payload's top-level object, values undecoded.
type fields map[string]json.RawMessage

func decodeFields(payload []byte) (fields, error) {
	trimmed := bytes.TrimSpace(payload)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("payload is empty")
	}
	if trimmed[0] != '{' {
		if !json.Valid(trimmed) {
			return nil, fmt.Errorf("payload is not JSON")
		}
		return nil, fmt.Errorf("payload is %s, not a JSON object", jsonKind(trimmed))
	}
	var f fields
	if err := json.Unmarshal(trimmed, &f); err != nil {
		return nil, fmt.Errorf("payload is not valid JSON: %v", err)
	}
	return f, nil
}

// raw returns a field's JSON, or nil when it is absent or null.
func (f fields) raw(key string) json.RawMessage {
	v, ok := f[key]
	if !ok || string(v) == "null" {
		return nil
	}
	return v
}

func (f fields) optionalString(key string) (string, error) {
	v := f.raw(key)
	if v == nil {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Errorf("%s is %s, not a string", key, jsonKind(v))
	}
	return s, nil
}

func (f fields) requiredString(key string) (string, error) {
	s, err := f.optionalString(key)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(s) == "" {
		return "", fmt.Errorf("%s is missing", key)
	}
	return s, nil
}

// object decodes a field that must hold a JSON object; absent or null gives an
// empty map, as tools without arguments send. With stringified set, a string
// holding a JSON object is accepted too.
func (f fields) object(key string, stringified bool) (map[string]any, error) {
	v := f.raw(key)
	if v == nil {
		return map[string]any{}, nil
	}
	if stringified && v[0] == '"' {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, fmt.Errorf("%s: %v", key, err)
		}
		if strings.TrimSpace(s) == "" {
			return map[string]any{}, nil
		}
		v = json.RawMessage(bytes.TrimSpace([]byte(s)))
		if !json.Valid(v) || v[0] != '{' {
			return nil, fmt.Errorf("%s is a string that does not hold a JSON object", key)
		}
	}
	if v[0] != '{' {
		return nil, fmt.Errorf("%s is %s, not an object", key, jsonKind(v))
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %v", key, err)
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

func (f fields) firstWorkspaceRoot() string {
	var roots []any
	if err := json.Unmarshal(f.raw("workspace_roots"), &roots); err != nil || len(roots) == 0 {
		return ""
	}
	s, _ := roots[0].(string)
	return s
}

// unwrapJSONString turns a JSON string that itself holds JSON (Cursor sends
// results that way) into that JSON; anything else is returned unchanged.
func unwrapJSONString(v json.RawMessage) json.RawMessage {
	if len(v) == 0 || v[0] != '"' {
		return v
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return v
	}
	inner := bytes.TrimSpace([]byte(s))
	if len(inner) == 0 || !json.Valid(inner) {
		return v
	}
	return json.RawMessage(inner)
}

func jsonKind(v []byte) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "empty"
	}
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}
