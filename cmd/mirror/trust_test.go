package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func claudePayload(command, cwd string) string {
	b, _ := json.Marshal(map[string]any{
		"session_id": "s1", "transcript_path": "/tmp/t.jsonl", "cwd": cwd, "prompt_id": "p1",
		"permission_mode": "default", "effort": map[string]any{"level": "medium"},
		"hook_event_name": "PreToolUse", "tool_name": "Bash",
		"tool_input": map[string]any{"command": command, "description": "x"}, "tool_use_id": "toolu_1",
	})
	return string(b)
}

func hookDecision(t *testing.T, stdout string) string {
	t.Helper()
	var out struct {
		HookSpecificOutput struct {
			PermissionDecision string `json:"permissionDecision"`
		} `json:"hookSpecificOutput"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("hook output %q: %v", stdout, err)
	}
	return out.HookSpecificOutput.PermissionDecision
}

func TestE2EClaudeCodeHookCommand(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir)
	project := t.TempDir()
	t.Run("the real sample payload is denied", func(t *testing.T) {
		sample, err := os.ReadFile("../../trust/hook/testdata/claude-code/pretooluse-bash-2.1.328.json")
		if err != nil {
			t.Fatal(err)
		}
		out, _, code := runCLIWith(t, cliOpts{dataDir: dir, addr: d.addr, stdin: string(sample)}, "hook", "claude-code")
		if code != 0 || hookDecision(t, out) != "deny" {
			t.Fatalf("exit %d, %s", code, out)
		}
	})
	t.Run("an everyday command is allowed", func(t *testing.T) {
		out, _, code := runCLIWith(t, cliOpts{dataDir: dir, addr: d.addr, stdin: claudePayload("go test ./...", project)}, "hook", "claude-code")
		if code != 0 || hookDecision(t, out) != "allow" {
			t.Fatalf("exit %d, %s", code, out)
		}
	})
	t.Run("network use is left to Claude Code's own prompt", func(t *testing.T) {
		out, _, code := runCLIWith(t, cliOpts{dataDir: dir, addr: d.addr, stdin: claudePayload("curl https://example.com", project)}, "hook", "claude-code")
		if code != 0 || hookDecision(t, out) != "ask" {
			t.Fatalf("exit %d, %s", code, out)
		}
	})
	t.Run("a malformed payload fails closed", func(t *testing.T) {
		out, errOut, code := runCLIWith(t, cliOpts{dataDir: dir, addr: d.addr, stdin: "{nope"}, "hook", "claude-code")
		if code != 2 || errOut == "" || hookDecision(t, out) != "deny" {
			t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errOut)
		}
	})
	t.Run("the tool result is recorded after the tool ran", func(t *testing.T) {
		post := strings.Replace(claudePayload("ls", project), `"PreToolUse"`, `"PostToolUse"`, 1)
		var m map[string]any
		json.Unmarshal([]byte(post), &m)
		m["tool_response"] = map[string]any{"stdout": "a\nb\n", "stderr": "", "interrupted": false}
		b, _ := json.Marshal(m)
		_, errOut, code := runCLIWith(t, cliOpts{dataDir: dir, addr: d.addr, stdin: string(b)}, "hook", "claude-code")
		if code != 0 {
			t.Fatalf("post hook exit %d: %s", code, errOut)
		}
		out, _, _ := runCLI(t, dir, d.addr, "audit", "tail", "-n", "3", "--json")
		if !strings.Contains(out, `"kind":"tool.result"`) {
			t.Fatalf("no tool.result entry: %s", out)
		}
	})
	t.Run("a destructive command is denied and listed in the denied-action ledger", func(t *testing.T) {
		out, _, code := runCLIWith(t, cliOpts{dataDir: dir, addr: d.addr, stdin: claudePayload("rm -rf ~/", project)}, "hook", "claude-code")
		if code != 0 || hookDecision(t, out) != "deny" {
			t.Fatalf("exit %d, %s", code, out)
		}
		out, _, code = runCLI(t, dir, d.addr, "denied", "--since", "1h")
		if code != 0 || !strings.Contains(out, "BLOCK") || !strings.Contains(out, "tool:Bash") {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
	t.Run("with the kernel down the hook fails closed", func(t *testing.T) {
		d.stop(t)
		out, errOut, code := runCLIWith(t, cliOpts{dataDir: dir, addr: d.addr, stdin: claudePayload("ls", project)}, "hook", "claude-code")
		if code != 2 || hookDecision(t, out) != "deny" || !strings.Contains(errOut, "kernel") {
			t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errOut)
		}
	})
}

func TestE2ECodexAskWaitsOnTheKernelQueue(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir)
	tok, _, code := runCLI(t, dir, d.addr, "lease", "grant", "--name", "codex", "--scope", "tool:*", "--token-only")
	if code != 0 {
		t.Fatalf("grant: %d", code)
	}
	payload, _ := json.Marshal(map[string]any{
		"session_id": "s", "cwd": t.TempDir(), "hook_event_name": "PreToolUse", "model": "gpt-5",
		"tool_name": "Bash", "tool_input": map[string]any{"command": "curl https://example.com"}, "tool_use_id": "c1",
		"transcript_path": nil, "permission_mode": "default", "turn_id": "t1",
	})
	type result struct {
		out, errOut string
		code        int
	}
	done := make(chan result, 1)
	go func() {
		out, errOut, code := runCLIWith(t, cliOpts{dataDir: dir, addr: d.addr, stdin: string(payload), timeout: 60 * time.Second,
			env: []string{"MIRROR_TOKEN=" + strings.TrimSpace(tok)}}, "hook", "codex", "--wait", "30s")
		done <- result{out, errOut, code}
	}()
	// The owner approves what the codex lease asked.
	deadline := time.Now().Add(20 * time.Second)
	var id string
	for id == "" && time.Now().Before(deadline) {
		out, _, _ := runCLI(t, dir, d.addr, "approvals")
		for _, f := range strings.Fields(out) {
			if strings.HasPrefix(f, "apr_") {
				id = f
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if id == "" {
		t.Fatal("no pending approval appeared")
	}
	if out, errOut, code := runCLI(t, dir, d.addr, "approve", id, "--note", "ok for this once"); code != 0 {
		t.Fatalf("approve: %d %s %s", code, out, errOut)
	}
	r := <-done
	if r.code != 0 || strings.TrimSpace(r.out) != "{}" {
		t.Fatalf("codex hook after approval: exit %d, stdout %q, stderr %s", r.code, r.out, r.errOut)
	}
}

func TestE2ELeaseAndPolicyCommands(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir)
	out, _, code := runCLI(t, dir, d.addr, "lease", "grant", "--name", "team", "--scope", "tool:*", "--scope", "lease:grant", "--ttl", "2h", "--budget", "10")
	if code != 0 || !strings.Contains(out, "mos_") {
		t.Fatalf("grant: %d %s", code, out)
	}
	var teamID string
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "lse_") {
			teamID = f
			break
		}
	}
	out, errOut, code := runCLI(t, dir, d.addr, "lease", "grant", "--name", "wide", "--scope", "*", "--ttl", "1h")
	if code != 0 {
		t.Fatalf("owner grant of *: %d %s", code, errOut)
	}
	out, _, code = runCLI(t, dir, d.addr, "lease", "ls")
	if code != 0 || !strings.Contains(out, "├── ") || !strings.Contains(out, "└── ") || !strings.Contains(out, "team") {
		t.Fatalf("ls: %d\n%s", code, out)
	}
	out, _, code = runCLI(t, dir, d.addr, "lease", "revoke", teamID)
	if code != 0 || !strings.Contains(out, teamID) {
		t.Fatalf("revoke: %d %s", code, out)
	}
	// Policy commands work offline on the files.
	if out, errOut, code := runCLI(t, dir, "", "policy", "check"); code != 0 || !strings.Contains(out, "ok:") {
		t.Fatalf("policy check: %d %s %s", code, out, errOut)
	}
	bad := filepath.Join(dir, "policies", "bad.cedar")
	os.WriteFile(bad, []byte("permit (principal, action, resource\n"), 0o600)
	if _, errOut, code := runCLI(t, dir, "", "policy", "check"); code != 1 || !strings.Contains(errOut, "bad.cedar:") {
		t.Fatalf("policy check of a bad file: %d %s", code, errOut)
	}
	os.Remove(bad)
	table := filepath.Join(t.TempDir(), "cases.jsonl")
	lines := []string{
		`{"name":"ls is fine","request":{"action":"tool:Bash","principal":{"name":"a","scopes":["*"]},"context":{"risk":0}},"expect":"ALLOW"}`,
		`{"name":"force push is blocked","request":{"action":"tool:Bash","principal":{"name":"a","scopes":["*"]},"context":{"risk":4,"signals":["force_push"]}},"expect":"BLOCK"}`,
	}
	os.WriteFile(table, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	if out, errOut, code := runCLI(t, dir, "", "policy", "test", table); code != 0 || !strings.Contains(out, "2 cases, 0 failed") {
		t.Fatalf("policy test: %d %s %s", code, out, errOut)
	}
	wrong := strings.Replace(lines[1], `"expect":"BLOCK"`, `"expect":"ALLOW"`, 1)
	os.WriteFile(table, []byte(wrong+"\n"), 0o600)
	if out, _, code := runCLI(t, dir, "", "policy", "test", table); code != 1 || !strings.Contains(out, "FAIL") {
		t.Fatalf("policy test with a wrong expectation: %d %s", code, out)
	}
	out, _, code = runCLI(t, dir, "", "policy", "explain", "--action", "tool:Bash", "--arg", "command=git push --force origin main")
	if code != 0 || !strings.Contains(out, "BLOCK") || !strings.Contains(out, "force_push") {
		t.Fatalf("explain: %d %s", code, out)
	}
}
