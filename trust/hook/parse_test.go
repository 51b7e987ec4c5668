package hook_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mirroros/mirror/trust/hook"
)

func TestParseAgent(t *testing.T) {
	for _, a := range hook.Agents() {
		got, err := hook.ParseAgent(string(a))
		if err != nil || got != a {
			t.Errorf("ParseAgent(%q) = %q, %v", a, got, err)
		}
	}
	for _, bad := range []string{"", "claude", "Claude-Code", "aider", " codex"} {
		if _, err := hook.ParseAgent(bad); !errors.Is(err, hook.ErrUnknownAgent) {
			t.Errorf("ParseAgent(%q) error = %v, want ErrUnknownAgent", bad, err)
		}
	}
}

func TestParseRejectsBadInput(t *testing.T) {
	cases := []struct {
		name    string
		agent   hook.Agent
		payload string
		want    string // in the error message
	}{
		{"empty payload", hook.ClaudeCode, "", "payload is empty"},
		{"whitespace only", hook.Codex, " \n\t ", "payload is empty"},
		{"not JSON", hook.Gemini, "rm -rf /", "payload is not JSON"},
		{"JSON array", hook.ClaudeCode, `[{"hook_event_name":"PreToolUse"}]`, "an array, not a JSON object"},
		{"JSON null", hook.ClaudeCode, `null`, "null, not a JSON object"},
		{"JSON string", hook.Cursor, `"beforeShellExecution"`, "a string, not a JSON object"},
		{"truncated JSON", hook.ClaudeCode, `{"hook_event_name":"PreToolUse","tool_name":`, "not valid JSON"},
		{"trailing garbage", hook.ClaudeCode, `{"hook_event_name":"PreToolUse","tool_name":"Bash"} x`, "not valid JSON"},
		{"missing event", hook.ClaudeCode, `{"tool_name":"Bash","tool_input":{}}`, "hook_event_name is missing"},
		{"event not a string", hook.Codex, `{"hook_event_name":7,"tool_name":"Bash"}`, "hook_event_name is a number, not a string"},
		{"Gemini event sent to Claude Code", hook.ClaudeCode, `{"hook_event_name":"BeforeTool","tool_name":"Bash"}`, `event "BeforeTool" is not a tool event of claude-code`},
		{"Claude event sent to Gemini", hook.Gemini, `{"hook_event_name":"PreToolUse","tool_name":"run_shell_command"}`, `event "PreToolUse" is not a tool event of gemini`},
		{"Claude spelling sent to Cursor", hook.Cursor, `{"hook_event_name":"PreToolUse","tool_name":"Shell"}`, `event "PreToolUse" is not a tool event of cursor`},
		{"non-tool event", hook.ClaudeCode, `{"hook_event_name":"UserPromptSubmit","prompt":"hi"}`, `event "UserPromptSubmit" is not a tool event`},
		{"Codex permission request", hook.Codex, `{"hook_event_name":"PermissionRequest","tool_name":"Bash"}`, "is not a tool event of codex"},
		{"missing tool name", hook.ClaudeCode, `{"hook_event_name":"PreToolUse","tool_input":{"command":"ls"}}`, "tool_name is missing"},
		{"empty tool name", hook.Codex, `{"hook_event_name":"PreToolUse","tool_name":"  ","tool_input":{}}`, "tool_name is missing"},
		{"tool name not a string", hook.Gemini, `{"hook_event_name":"BeforeTool","tool_name":["run_shell_command"]}`, "tool_name is an array, not a string"},
		{"tool input a string", hook.ClaudeCode, `{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":"rm -rf /"}`, "tool_input is a string, not an object"},
		{"tool input an array", hook.Gemini, `{"hook_event_name":"BeforeTool","tool_name":"x","tool_input":[1]}`, "tool_input is an array, not an object"},
		{"session id not a string", hook.ClaudeCode, `{"hook_event_name":"PreToolUse","session_id":{},"tool_name":"Bash"}`, "session_id is an object, not a string"},
		{"cwd not a string", hook.Codex, `{"hook_event_name":"PreToolUse","cwd":1,"tool_name":"Bash"}`, "cwd is a number, not a string"},
		{"Cursor shell without command", hook.Cursor, `{"hook_event_name":"beforeShellExecution","cwd":"/p"}`, "command is missing"},
		{"Cursor MCP without tool name", hook.Cursor, `{"hook_event_name":"beforeMCPExecution","tool_input":"{}"}`, "tool_name is missing"},
		{"Cursor MCP input not an object", hook.Cursor, `{"hook_event_name":"beforeMCPExecution","tool_name":"q","tool_input":"[1,2]"}`, "string that does not hold a JSON object"},
		{"Cursor MCP input not JSON", hook.Cursor, `{"hook_event_name":"beforeMCPExecution","tool_name":"q","tool_input":"DROP TABLE"}`, "string that does not hold a JSON object"},
		{"Cursor preToolUse without tool", hook.Cursor, `{"hook_event_name":"preToolUse","tool_input":{}}`, "tool_name is missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := hook.Parse(c.agent, []byte(c.payload))
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", req)
			}
			if !errors.Is(err, hook.ErrInvalidPayload) {
				t.Errorf("error %v does not wrap ErrInvalidPayload", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
			if req.Agent != "" || req.Raw != nil {
				t.Errorf("a failed Parse returned a non-zero Request: %+v", req)
			}
		})
	}
}

func TestParseUnknownAgent(t *testing.T) {
	_, err := hook.Parse("aider", []byte(`{"hook_event_name":"PreToolUse","tool_name":"Bash"}`))
	if !errors.Is(err, hook.ErrUnknownAgent) {
		t.Errorf("error = %v, want ErrUnknownAgent", err)
	}
}

func TestParseSizeLimit(t *testing.T) {
	// A valid payload of exactly MaxPayload bytes is accepted…
	head := `{"hook_event_name":"PreToolUse","tool_name":"Write","tool_input":{"content":"`
	tail := `"}}`
	exact := head + strings.Repeat("a", hook.MaxPayload-len(head)-len(tail)) + tail
	if len(exact) != hook.MaxPayload {
		t.Fatalf("test payload is %d bytes", len(exact))
	}
	if _, err := hook.Parse(hook.ClaudeCode, []byte(exact)); err != nil {
		t.Errorf("a payload of exactly MaxPayload bytes was refused: %v", err)
	}
	// …one byte more is not, and the error says so before any decoding.
	huge := exact + " "
	_, err := hook.Parse(hook.ClaudeCode, []byte(huge))
	if !errors.Is(err, hook.ErrTooLarge) {
		t.Fatalf("error = %v, want ErrTooLarge", err)
	}
	if !strings.Contains(err.Error(), "1048577 bytes; the limit is 1048576") {
		t.Errorf("error %q does not give the sizes", err)
	}
}

func TestParseIgnoresUnknownFields(t *testing.T) {
	cases := []struct {
		agent   hook.Agent
		payload string
		tool    string
	}{
		{hook.ClaudeCode, `{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"ls","future_flag":true},
			"prompt_id":"p","effort":{"level":"max","budget":[1,2]},"scratchpad_dir":"/tmp/s","agent_id":null}`, "Bash"},
		{hook.Codex, `{"hook_event_name":"PreToolUse","turn_id":"t","model":"m","agent_type":"explorer","tool_name":"Bash","tool_input":{"command":"ls"},"x-new":{"deep":[{}]}}`, "Bash"},
		{hook.Gemini, `{"hook_event_name":"BeforeTool","timestamp":"2026-01-01T00:00:00Z","tool_name":"read_file","tool_input":{"file_path":"a"},"mcp_context":null,"plan":{"id":3}}`, "read_file"},
		{hook.Cursor, `{"hook_event_name":"beforeShellExecution","command":"ls","sandbox":true,"attachments":[],"cursor_version":"9.9.9","user_email":null}`, "Shell"},
	}
	for _, c := range cases {
		t.Run(string(c.agent), func(t *testing.T) {
			req, err := hook.Parse(c.agent, []byte(c.payload))
			if err != nil {
				t.Fatalf("unknown fields were refused: %v", err)
			}
			if req.Tool != c.tool || req.Phase != hook.Pre {
				t.Errorf("got tool %q phase %q", req.Tool, req.Phase)
			}
		})
	}
}

func TestParseDetails(t *testing.T) {
	t.Run("numbers keep their text", func(t *testing.T) {
		req, err := hook.Parse(hook.ClaudeCode, []byte(`{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"timeout":120000,"big":12345678901234567890}}`))
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := req.Input["big"].(json.Number); !ok || n.String() != "12345678901234567890" {
			t.Errorf("big = %#v", req.Input["big"])
		}
	})
	t.Run("absent or null tool input is empty", func(t *testing.T) {
		for _, p := range []string{
			`{"hook_event_name":"PreToolUse","tool_name":"mcp__x__ping"}`,
			`{"hook_event_name":"PreToolUse","tool_name":"mcp__x__ping","tool_input":null}`,
		} {
			req, err := hook.Parse(hook.Codex, []byte(p))
			if err != nil {
				t.Fatal(err)
			}
			if req.Input == nil || len(req.Input) != 0 {
				t.Errorf("Input = %#v, want an empty map", req.Input)
			}
		}
	})
	t.Run("Cursor cwd falls back to the first workspace root", func(t *testing.T) {
		req, err := hook.Parse(hook.Cursor, []byte(`{"hook_event_name":"beforeMCPExecution","conversation_id":"c","workspace_roots":["/w","/v"],"tool_name":"q","tool_input":""}`))
		if err != nil {
			t.Fatal(err)
		}
		if req.Cwd != "/w" || req.SessionID != "c" || len(req.Input) != 0 {
			t.Errorf("got %+v", req)
		}
	})
	t.Run("Cursor result that is not JSON stays a string", func(t *testing.T) {
		req, err := hook.Parse(hook.Cursor, []byte(`{"hook_event_name":"afterMCPExecution","tool_name":"q","tool_input":{},"result_json":"plain text"}`))
		if err != nil {
			t.Fatal(err)
		}
		if string(req.Result) != `"plain text"` {
			t.Errorf("Result = %s", req.Result)
		}
	})
	t.Run("Pre phase carries no result", func(t *testing.T) {
		req, err := hook.Parse(hook.Gemini, []byte(`{"hook_event_name":"BeforeTool","tool_name":"x","tool_response":{"llmContent":"?"}}`))
		if err != nil {
			t.Fatal(err)
		}
		if req.Result != nil {
			t.Errorf("Result = %s", req.Result)
		}
	})
	t.Run("Raw is a copy", func(t *testing.T) {
		p := []byte(`{"hook_event_name":"BeforeTool","tool_name":"x"}`)
		req, err := hook.Parse(hook.Gemini, p)
		if err != nil {
			t.Fatal(err)
		}
		p[2] = 'X'
		if req.Raw[2] == 'X' {
			t.Error("Raw aliases the caller's buffer")
		}
	})
}
