package gate

import (
	"encoding/json"
	"strings"

	"github.com/mirroros/mirror/trust/hook"
)

// FromHook turns an agent's hook call into the action to decide: the
// agent's tool becomes the capability "tool:<name>", its input the args,
// and the most telling input field (a path, a URL or a command) the
// resource.
func FromHook(req hook.Request) Input {
	in := Input{
		Action: "tool:" + sanitizeTool(req.Tool),
		Args:   plainNumbers(req.Input).(map[string]any),
		Context: InputContext{
			Agent:     string(req.Agent),
			SessionID: req.SessionID,
			Cwd:       req.Cwd,
		},
	}
	for _, k := range []string{"file_path", "path", "notebook_path", "url", "command", "pattern", "query"} {
		switch v := req.Input[k].(type) {
		case string:
			in.Resource = v
		case []any: // Codex sends argv arrays
			parts := make([]string, 0, len(v))
			for _, p := range v {
				if s, ok := p.(string); ok {
					parts = append(parts, s)
				}
			}
			in.Resource = strings.Join(parts, " ")
		}
		if in.Resource != "" {
			break
		}
	}
	return in
}

// plainNumbers turns json.Number values into int64 or float64, the types
// classification and policy expect.
func plainNumbers(v any) any {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = plainNumbers(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = plainNumbers(x)
		}
		return out
	case nil:
		return map[string]any{}
	}
	return v
}

// sanitizeTool keeps a tool name usable as one capability segment.
func sanitizeTool(name string) string {
	if name == "" {
		return "unknown"
	}
	var b strings.Builder
	for _, r := range name {
		switch {
		case r == ':' || r == '*' || r == ' ' || r == '\t' || r == '\n' || r == '\r':
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Sentence is the one line an agent shows for a decision.
func (r Result) Sentence() string {
	parts := make([]string, 0, len(r.Reasons))
	for _, rs := range r.Reasons {
		if rs.Reason != "" {
			parts = append(parts, rs.Reason)
		} else {
			parts = append(parts, rs.Policy)
		}
	}
	msg := strings.ToLower(string(r.Decision))
	if len(parts) > 0 {
		msg += ": " + strings.Join(parts, "; ")
	}
	if r.ApprovalID != "" {
		msg += " (approval " + r.ApprovalID + ")"
	}
	return msg
}
