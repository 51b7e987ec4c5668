package hook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// install describes where and how an agent registers hook commands.
type install struct {
	path   string   // settings file relative to a project dir or home
	nested bool     // entries are {"matcher", "hooks": [{"type", "command"}]} groups
	pre    []string // events that decide
	post   []string // events that record
	hook   func(cmd string, pre bool) *object
}

var installs = map[Agent]install{
	ClaudeCode: {
		path: ".claude/settings.json", nested: true,
		pre: []string{"PreToolUse"}, post: []string{"PostToolUse"},
		hook: func(cmd string, _ bool) *object {
			return newObject("type", "command", "command", cmd, "timeout", seconds())
		},
	},
	// Codex also reads [hooks] in config.toml; hooks.json is its JSON
	// equivalent, loaded beside it, so no TOML has to be edited.
	Codex: {
		path: ".codex/hooks.json", nested: true,
		pre: []string{"PreToolUse"}, post: []string{"PostToolUse"},
		hook: func(cmd string, _ bool) *object {
			return newObject("type", "command", "command", cmd, "timeout", seconds())
		},
	},
	Gemini: {
		path: ".gemini/settings.json", nested: true,
		pre: []string{"BeforeTool"}, post: []string{"AfterTool"},
		hook: func(cmd string, _ bool) *object {
			// Gemini's timeout is in milliseconds.
			ms := json.Number(strconv.FormatInt(HookTimeout.Milliseconds(), 10))
			return newObject("type", "command", "command", cmd, "name", "mirroros", "timeout", ms)
		},
	},
	// Cursor fires preToolUse for every tool in current versions and the
	// specific shell/MCP events in all versions since hooks shipped; both are
	// registered so no version leaves a gap (a shell command is then checked
	// twice on current Cursor).
	Cursor: {
		path: ".cursor/hooks.json",
		pre:  []string{"preToolUse", "beforeShellExecution", "beforeMCPExecution"},
		post: []string{"postToolUse", "afterShellExecution", "afterMCPExecution"},
		hook: func(cmd string, pre bool) *object {
			o := newObject("command", cmd, "timeout", seconds())
			if pre {
				// Without it Cursor lets the action run when the hook crashes.
				o.set("failClosed", true)
			}
			return o
		},
	},
}

func seconds() json.Number {
	return json.Number(strconv.FormatInt(int64(HookTimeout.Seconds()), 10))
}

// Snippet returns the settings file that registers command as the agent's
// hook command(s), and its conventional path relative to a project directory
// or the home directory (e.g. ".claude/settings.json"). command is the whole
// command line, e.g. "mirror hook claude-code"; empty means exactly that.
func Snippet(a Agent, command string) (path string, content []byte, err error) {
	in, ok := installs[a]
	if !ok {
		return "", nil, fmt.Errorf("%w: %q", ErrUnknownAgent, a)
	}
	content, err = Merge(a, nil, command)
	if err != nil {
		return "", nil, err
	}
	return in.path, content, nil
}

// Merge adds MirrorOS's hook entries to existing settings (JSON; empty means
// none) and returns the new content. Nothing already there is removed or
// reordered, and an event that already runs command is left alone, so merging
// twice gives the same bytes. When nothing needs adding, existing is returned
// unchanged.
func Merge(a Agent, existing []byte, command string) ([]byte, error) {
	in, ok := installs[a]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownAgent, a)
	}
	command = strings.TrimSpace(command)
	if command == "" {
		command = "mirror hook " + string(a)
	}
	if strings.ContainsAny(command, "\r\n") {
		return nil, fmt.Errorf("hook command %q spans lines", command)
	}
	if !utf8.ValidString(command) {
		// JSON would store it altered, and the next Merge would not find it.
		return nil, fmt.Errorf("hook command %q is not valid UTF-8", command)
	}

	root := &object{}
	if len(bytes.TrimSpace(existing)) > 0 {
		v, err := decodeOrdered(existing)
		if err != nil {
			return nil, fmt.Errorf("%s: existing settings are not valid JSON: %w", in.path, err)
		}
		var isObject bool
		if root, isObject = v.(*object); !isObject {
			return nil, fmt.Errorf("%s: existing settings are %s, not a JSON object", in.path, kindOf(v))
		}
	}

	changed := false
	if a == Cursor {
		if _, ok := root.get("version"); !ok {
			root.insertFirst("version", json.Number("1"))
			changed = true
		}
	}
	hv, ok := root.get("hooks")
	if !ok {
		hv = &object{}
		root.set("hooks", hv)
	}
	hooks, isObject := hv.(*object)
	if !isObject {
		return nil, fmt.Errorf("%s: \"hooks\" is %s, not an object", in.path, kindOf(hv))
	}
	for _, ev := range append(append([]string(nil), in.pre...), in.post...) {
		isPre := contains(in.pre, ev)
		cur, ok := hooks.get(ev)
		if !ok {
			cur = []any{}
		}
		list, isList := cur.([]any)
		if !isList {
			return nil, fmt.Errorf("%s: \"hooks\".%q is %s, not an array", in.path, ev, kindOf(cur))
		}
		if runs(list, command) {
			continue
		}
		entry := in.hook(command, isPre)
		if in.nested {
			entry = newObject("matcher", "*", "hooks", []any{entry})
		}
		hooks.set(ev, append(list, entry))
		changed = true
	}
	if !changed {
		return append([]byte(nil), existing...), nil
	}
	var b bytes.Buffer
	writeValue(&b, root, 0)
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// runs reports whether an event's hook list already runs command, either as a
// flat entry (Cursor) or inside a matcher group (the others), whatever the
// matcher: a narrower matcher the user chose is theirs to keep.
func runs(list []any, command string) bool {
	for _, e := range list {
		o, ok := e.(*object)
		if !ok {
			continue
		}
		if c, ok := o.get("command"); ok {
			if s, ok := c.(string); ok && strings.TrimSpace(s) == command {
				return true
			}
		}
		if inner, ok := o.get("hooks"); ok {
			if l, ok := inner.([]any); ok && runs(l, command) {
				return true
			}
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// object is a JSON object that keeps its keys in order, so a settings file
// comes back in the order its owner wrote it.
type object struct {
	keys []string
	vals map[string]any
}

func newObject(kv ...any) *object {
	o := &object{}
	for i := 0; i+1 < len(kv); i += 2 {
		o.set(kv[i].(string), kv[i+1])
	}
	return o
}

func (o *object) get(k string) (any, bool) {
	v, ok := o.vals[k]
	return v, ok
}

func (o *object) set(k string, v any) {
	if o.vals == nil {
		o.vals = map[string]any{}
	}
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *object) insertFirst(k string, v any) {
	o.set(k, v)
	keys := []string{k}
	for _, x := range o.keys {
		if x != k {
			keys = append(keys, x)
		}
	}
	o.keys = keys
}

// decodeOrdered decodes one JSON value into *object, []any, string,
// json.Number, bool or nil.
func decodeOrdered(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := readValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("unexpected data after the top-level value")
	}
	return v, nil
}

func readValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &object{vals: map[string]any{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := readValue(dec)
				if err != nil {
					return nil, err
				}
				o.set(k, v)
			}
			_, err := dec.Token()
			return o, err
		case '[':
			list := []any{}
			for dec.More() {
				v, err := readValue(dec)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			_, err := dec.Token()
			return list, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	default:
		return t, nil // string, json.Number, bool or nil
	}
}

// writeValue writes v indented by two spaces per level, as the agents' own
// settings files are.
func writeValue(b *bytes.Buffer, v any, depth int) {
	indent := func(n int) { b.WriteString(strings.Repeat("  ", n)) }
	switch v := v.(type) {
	case *object:
		if len(v.keys) == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteString("{\n")
		for i, k := range v.keys {
			indent(depth + 1)
			writeString(b, k)
			b.WriteString(": ")
			writeValue(b, v.vals[k], depth+1)
			if i < len(v.keys)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		indent(depth)
		b.WriteByte('}')
	case []any:
		if len(v) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteString("[\n")
		for i, e := range v {
			indent(depth + 1)
			writeValue(b, e, depth+1)
			if i < len(v)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		indent(depth)
		b.WriteByte(']')
	case string:
		writeString(b, v)
	case json.Number:
		b.WriteString(v.String())
	case bool:
		b.WriteString(strconv.FormatBool(v))
	default:
		b.WriteString("null")
	}
}

func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // encoding a string cannot fail
	b.Truncate(b.Len() - 1)
}

func kindOf(v any) string {
	switch v.(type) {
	case *object:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	default:
		return "null"
	}
}
