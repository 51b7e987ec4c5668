package hook_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/mirroros/mirror/trust/hook"
)

// existingSettings are settings files a user could already have: unrelated
// keys, and hooks of their own in the events MirrorOS registers and in others.
var existingSettings = map[hook.Agent]string{
	hook.ClaudeCode: `{
  "$schema": "https://json.schemastore.org/claude-code-settings.json",
  "permissions": {"allow": ["Bash(go test:*)"], "deny": ["Read(./.env)"]},
  "hooks": {
    "PreToolUse": [
      {"matcher": "Bash", "hooks": [{"type": "command", "command": "/usr/local/bin/guard.sh", "timeout": 30}]}
    ],
    "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}]
  },
  "env": {"GOFLAGS": "-mod=mod", "HTML": "<b>&amp;</b>"},
  "model": "opus",
  "cleanupPeriodDays": 30.5
}`,
	hook.Codex: `{
  "hooks": {
    "SessionStart": [{"matcher": "startup|resume", "hooks": [{"type": "command", "command": "sh .codex/hooks/start.sh", "statusMessage": "Loading"}]}],
    "PostToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "python3 review.py"}]}]
  },
  "comment": "kept"
}`,
	hook.Gemini: `{
  "security": {"auth": {"selectedType": "gemini-api-key"}},
  "hooks": {
    "BeforeTool": [{"matcher": "write_file|replace", "hooks": [{"name": "secrets", "type": "command", "command": "python3 scan.py"}]}],
    "SessionStart": [{"hooks": [{"type": "command", "command": "echo hi"}]}]
  },
  "ui": {"theme": "GitHub"},
  "mcpServers": {"github": {"command": "github-mcp-server", "args": ["stdio"]}}
}`,
	hook.Cursor: `{
  "version": 1,
  "hooks": {
    "beforeShellExecution": [{"command": "./hooks/audit.sh"}, {"command": "./hooks/block-git.sh", "matcher": "git"}],
    "stop": [{"command": "./hooks/audit.sh"}]
  }
}`,
}

func TestMergeIntoEmpty(t *testing.T) {
	for _, a := range hook.Agents() {
		_, snippet, err := hook.Snippet(a, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, empty := range [][]byte{nil, {}, []byte("  \n")} {
			got, err := hook.Merge(a, empty, "")
			if err != nil {
				t.Fatalf("Merge(%s, %q): %v", a, empty, err)
			}
			if !bytes.Equal(got, snippet) {
				t.Errorf("Merge(%s, empty) differs from Snippet:\n%s", a, got)
			}
		}
		if !json.Valid(snippet) {
			t.Errorf("%s snippet is not JSON", a)
		}
		for _, ev := range registered(t, a, snippet) {
			if n := countCommand(t, snippet, ev, "mirror hook "+string(a)); n != 1 {
				t.Errorf("%s: %s runs the hook %d times, want 1", a, ev, n)
			}
		}
	}
}

func TestMergePreservesExisting(t *testing.T) {
	for _, a := range hook.Agents() {
		t.Run(string(a), func(t *testing.T) {
			before := []byte(existingSettings[a])
			after, err := hook.Merge(a, before, "/opt/mirror/bin/mirror hook "+string(a))
			if err != nil {
				t.Fatal(err)
			}
			old, neu := decode(t, before), decode(t, after)
			for k, v := range old {
				if k == "hooks" {
					continue
				}
				if !reflect.DeepEqual(neu[k], v) {
					t.Errorf("key %q changed: %v -> %v", k, v, neu[k])
				}
			}
			oldHooks, _ := old["hooks"].(map[string]any)
			newHooks, _ := neu["hooks"].(map[string]any)
			for ev, list := range oldHooks {
				was, _ := list.([]any)
				now, _ := newHooks[ev].([]any)
				if len(now) < len(was) || !reflect.DeepEqual(now[:len(was)], was) {
					t.Errorf("hooks.%s lost or reordered entries:\nbefore %v\nafter  %v", ev, was, now)
				}
			}
			for _, ev := range registered(t, a, after) {
				if n := countCommand(t, after, ev, "/opt/mirror/bin/mirror hook "+string(a)); n != 1 {
					t.Errorf("%s runs the hook %d times, want 1", ev, n)
				}
			}
			// The owner's key order survives.
			if got, want := topLevelKeys(t, after), topLevelKeys(t, before); !reflect.DeepEqual(got[:len(want)], want) {
				t.Errorf("top-level key order %v, want %v first", got, want)
			}
			if strings.Contains(string(after), `\u003c`) {
				t.Error("strings were HTML-escaped")
			}
		})
	}
}

func TestMergeIsIdempotent(t *testing.T) {
	for _, a := range hook.Agents() {
		for _, start := range []string{"", existingSettings[a]} {
			once, err := hook.Merge(a, []byte(start), "")
			if err != nil {
				t.Fatal(err)
			}
			twice, err := hook.Merge(a, once, "")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(once, twice) {
				t.Errorf("%s: merging twice changed the result:\n--- once\n%s\n--- twice\n%s", a, once, twice)
			}
		}
	}
}

func TestMergeLeavesAnExistingRegistrationAlone(t *testing.T) {
	// The user narrowed MirrorOS's hook to Bash; that is their choice.
	in := []byte(`{"hooks":{"PreToolUse":[{"matcher":"Bash","hooks":[{"type":"command","command":"mirror hook claude-code"}]}],
	"PostToolUse":[{"hooks":[{"type":"command","command":"  mirror hook claude-code  "}]}]}}`)
	out, err := hook.Merge(hook.ClaudeCode, in, "mirror hook claude-code")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, in) {
		t.Errorf("settings that already run the command were rewritten:\n%s", out)
	}
}

func TestMergeKeepsCursorVersion(t *testing.T) {
	out, err := hook.Merge(hook.Cursor, []byte(`{"hooks":{},"version":2}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if v := decode(t, out)["version"]; v != 2.0 {
		t.Errorf("version = %v, want 2 kept", v)
	}
	out, err = hook.Merge(hook.Cursor, []byte(`{"hooks":{}}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "{\n  \"version\": 1,") {
		t.Errorf("version 1 not added first:\n%s", out)
	}
}

func TestMergeRefusesWhatItCannotMerge(t *testing.T) {
	cases := []struct {
		name     string
		agent    hook.Agent
		existing string
		command  string
		want     string
	}{
		{"not JSON", hook.ClaudeCode, `{"hooks": `, "", "not valid JSON"},
		{"trailing data", hook.ClaudeCode, `{} {}`, "", "not valid JSON"},
		{"array root", hook.Gemini, `[]`, "", "are an array, not a JSON object"},
		{"hooks not an object", hook.Codex, `{"hooks": []}`, "", `"hooks" is an array, not an object`},
		{"event not an array", hook.Cursor, `{"version":1,"hooks": {"beforeShellExecution": {"command": "x"}}}`, "", `"beforeShellExecution" is an object, not an array`},
		{"multi-line command", hook.ClaudeCode, `{}`, "mirror hook claude-code\nrm -rf /", "spans lines"},
		{"command not UTF-8", hook.Cursor, `{}`, "mirror\xc1", "not valid UTF-8"},
		{"unknown agent", "aider", `{}`, "", "unknown agent"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := hook.Merge(c.agent, []byte(c.existing), c.command)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v, want it to say %q", err, c.want)
			}
		})
	}
	if _, _, err := hook.Snippet("aider", ""); !errors.Is(err, hook.ErrUnknownAgent) {
		t.Errorf("Snippet(aider) error = %v", err)
	}
}

func TestSnippetPaths(t *testing.T) {
	want := map[hook.Agent]string{
		hook.ClaudeCode: ".claude/settings.json",
		hook.Codex:      ".codex/hooks.json",
		hook.Gemini:     ".gemini/settings.json",
		hook.Cursor:     ".cursor/hooks.json",
	}
	for a, p := range want {
		got, _, err := hook.Snippet(a, "mirror hook "+string(a))
		if err != nil || got != p {
			t.Errorf("Snippet(%s) path = %q, %v; want %q", a, got, err, p)
		}
	}
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, b)
	}
	return m
}

// registered lists the events a merged file registers MirrorOS for.
func registered(t *testing.T, a hook.Agent, b []byte) []string {
	t.Helper()
	want := map[hook.Agent][]string{
		hook.ClaudeCode: {"PreToolUse", "PostToolUse"},
		hook.Codex:      {"PreToolUse", "PostToolUse"},
		hook.Gemini:     {"BeforeTool", "AfterTool"},
		hook.Cursor: {"preToolUse", "beforeShellExecution", "beforeMCPExecution",
			"postToolUse", "afterShellExecution", "afterMCPExecution"},
	}[a]
	hooks, _ := decode(t, b)["hooks"].(map[string]any)
	for _, ev := range want {
		if _, ok := hooks[ev]; !ok {
			t.Errorf("%s: event %s is not registered", a, ev)
		}
	}
	return want
}

// countCommand counts the hooks of an event that run command.
func countCommand(t *testing.T, b []byte, event, command string) int {
	t.Helper()
	hooks, _ := decode(t, b)["hooks"].(map[string]any)
	list, _ := hooks[event].([]any)
	n := 0
	var walk func(v any)
	walk = func(v any) {
		o, ok := v.(map[string]any)
		if !ok {
			return
		}
		if o["command"] == command {
			n++
		}
		inner, _ := o["hooks"].([]any)
		for _, e := range inner {
			walk(e)
		}
	}
	for _, e := range list {
		walk(e)
	}
	return n
}

func topLevelKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil { // the opening brace
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}
