package hook_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mirroros/mirror/trust/hook"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// The reason and error every golden answer is rendered with.
const testReason = "rule shell.default matched (golden test reason)"

var errTest = errors.New("kernel unreachable: dial tcp 127.0.0.1:8400: connect: connection refused")

// fixture is one sample payload in testdata/<agent>/<case>.json.
type fixture struct {
	agent   hook.Agent
	name    string
	payload []byte
}

func fixtures(t testing.TB) []fixture {
	t.Helper()
	var out []fixture
	for _, a := range hook.Agents() {
		paths, err := filepath.Glob(filepath.Join("testdata", string(a), "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		if len(paths) == 0 {
			t.Fatalf("no sample payloads for %s", a)
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fixture{a, strings.TrimSuffix(filepath.Base(p), ".json"), b})
		}
	}
	return out
}

func TestGolden(t *testing.T) {
	for _, fx := range fixtures(t) {
		t.Run(string(fx.agent)+"/"+fx.name, func(t *testing.T) {
			req, err := hook.Parse(fx.agent, fx.payload)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !bytes.Equal(req.Raw, fx.payload) {
				t.Error("Raw is not the payload exactly as received")
			}
			prefix := fmt.Sprintf("%s-%s-", fx.agent, fx.name)
			golden(t, prefix+"request.out", formatRequest(t, req))
			if req.Phase == hook.Pre {
				for _, d := range []hook.Decision{hook.Allow, hook.Ask, hook.Block} {
					golden(t, prefix+strings.ToLower(string(d))+".out", formatResponse(hook.Answer(req, d, testReason)))
				}
			} else {
				golden(t, prefix+"ack.out", formatResponse(hook.Acknowledge(req)))
			}
			golden(t, prefix+"failclosed.out", formatResponse(hook.FailClosed(fx.agent, req.Phase, errTest)))
		})
	}
}

func TestSnippetGolden(t *testing.T) {
	for _, a := range hook.Agents() {
		path, content, err := hook.Snippet(a, "")
		if err != nil {
			t.Fatalf("Snippet(%s): %v", a, err)
		}
		golden(t, "snippet-"+string(a)+".out", []byte(path+"\n"+string(content)))
	}
}

// formatRequest renders the normalised fields of a Request for a golden file.
func formatRequest(t *testing.T, r hook.Request) []byte {
	t.Helper()
	v := struct {
		Agent     hook.Agent      `json:"agent"`
		Phase     hook.Phase      `json:"phase"`
		Event     string          `json:"event"`
		SessionID string          `json:"session_id"`
		Cwd       string          `json:"cwd"`
		Tool      string          `json:"tool"`
		Input     map[string]any  `json:"input"`
		Result    json.RawMessage `json:"result,omitempty"`
	}{r.Agent, r.Phase, r.Event, r.SessionID, r.Cwd, r.Tool, r.Input, r.Result}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// formatResponse renders a Response as: the exit code, then stdout and stderr
// exactly, each after a separator line.
func formatResponse(r hook.Response) []byte {
	return []byte(fmt.Sprintf("exit %d\n-- stdout --\n%s-- stderr --\n%s", r.ExitCode, r.Stdout, r.Stderr))
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test -update to accept)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestAnswerMeaning checks what each rendered answer means to its agent,
// independently of the golden bytes, so a careless -update cannot turn a
// deny into an allow.
func TestAnswerMeaning(t *testing.T) {
	pre := map[hook.Agent]hook.Request{}
	for _, fx := range fixtures(t) {
		req, err := hook.Parse(fx.agent, fx.payload)
		if err != nil {
			t.Fatal(err)
		}
		if req.Phase == hook.Pre {
			pre[fx.agent] = req
		}
	}
	for _, a := range hook.Agents() {
		req, ok := pre[a]
		if !ok {
			t.Fatalf("no Pre sample for %s", a)
		}
		for _, d := range []hook.Decision{hook.Allow, hook.Ask, hook.Block, "MAYBE", ""} {
			t.Run(fmt.Sprintf("%s/%q", a, d), func(t *testing.T) {
				r := hook.Answer(req, d, testReason)
				if r.ExitCode != 0 {
					t.Errorf("exit %d, want 0 for a decision", r.ExitCode)
				}
				want := d
				switch {
				case d == hook.Ask && !hook.SupportsAsk(a):
					want = hook.Block
					if !strings.Contains(verdictReason(t, a, r.Stdout), "(approval required; ask via the kernel queue)") {
						t.Errorf("ASK without native ask must say it needs the kernel queue: %s", r.Stdout)
					}
				case d != hook.Allow && d != hook.Ask && d != hook.Block:
					want = hook.Block
				}
				if got := verdict(t, a, r.Stdout); got != want {
					t.Errorf("answer means %s, want %s: %s", got, want, r.Stdout)
				}
				if want != hook.Allow && !strings.HasPrefix(verdictReason(t, a, r.Stdout), "MirrorOS") {
					t.Errorf("reason does not name MirrorOS: %s", r.Stdout)
				}
			})
		}
		t.Run(string(a)+"/failclosed", func(t *testing.T) {
			r := hook.FailClosed(a, hook.Pre, errTest)
			if r.ExitCode != 2 {
				t.Errorf("exit %d, want 2", r.ExitCode)
			}
			if !strings.Contains(r.Stderr, errTest.Error()) {
				t.Errorf("stderr %q does not give the reason", r.Stderr)
			}
			if got := verdict(t, a, r.Stdout); got != hook.Block {
				t.Errorf("FailClosed stdout means %s, want BLOCK: %s", got, r.Stdout)
			}
		})
	}
}

// verdict reads an answer the way the agent does (see docs/HOOKS.md).
func verdict(t *testing.T, a hook.Agent, stdout []byte) hook.Decision {
	t.Helper()
	var v struct {
		HookSpecificOutput struct {
			PermissionDecision string `json:"permissionDecision"`
		} `json:"hookSpecificOutput"`
		Decision   string `json:"decision"`
		Permission string `json:"permission"`
	}
	if err := json.Unmarshal(stdout, &v); err != nil {
		t.Fatalf("stdout is not JSON: %v: %q", err, stdout)
	}
	word := map[string]hook.Decision{"allow": hook.Allow, "ask": hook.Ask, "deny": hook.Block, "block": hook.Block}
	switch a {
	case hook.ClaudeCode:
		return word[v.HookSpecificOutput.PermissionDecision]
	case hook.Codex:
		// Codex: an empty object lets the tool run; only deny blocks.
		if v.HookSpecificOutput.PermissionDecision == "" && v.Decision == "" {
			return hook.Allow
		}
		return word[v.HookSpecificOutput.PermissionDecision]
	case hook.Gemini:
		return word[v.Decision]
	case hook.Cursor:
		return word[v.Permission]
	}
	return ""
}

func verdictReason(t *testing.T, a hook.Agent, stdout []byte) string {
	t.Helper()
	var v struct {
		HookSpecificOutput struct {
			Reason string `json:"permissionDecisionReason"`
		} `json:"hookSpecificOutput"`
		Reason       string `json:"reason"`
		AgentMessage string `json:"agent_message"`
	}
	if err := json.Unmarshal(stdout, &v); err != nil {
		t.Fatalf("stdout is not JSON: %v", err)
	}
	switch a {
	case hook.Gemini:
		return v.Reason
	case hook.Cursor:
		return v.AgentMessage
	}
	return v.HookSpecificOutput.Reason
}

func TestSupportsAsk(t *testing.T) {
	want := map[hook.Agent]bool{hook.ClaudeCode: true, hook.Codex: false, hook.Gemini: false, hook.Cursor: false}
	for a, w := range want {
		if got := hook.SupportsAsk(a); got != w {
			t.Errorf("SupportsAsk(%s) = %v, want %v", a, got, w)
		}
	}
}

func TestAnswerOnPostAcknowledges(t *testing.T) {
	req, err := hook.Parse(hook.ClaudeCode, mustRead(t, "testdata/claude-code/posttooluse-bash-2.1.197.json"))
	if err != nil {
		t.Fatal(err)
	}
	got := hook.Answer(req, hook.Block, "no")
	if want := hook.Acknowledge(req); !bytes.Equal(got.Stdout, want.Stdout) || got.ExitCode != 0 {
		t.Errorf("Answer on a Post request = %+v, want the acknowledgement %+v", got, want)
	}
}

func TestFailClosedUnknownAgentAndNilError(t *testing.T) {
	r := hook.FailClosed("aider", hook.Pre, nil)
	if r.ExitCode != 2 || !strings.Contains(r.Stderr, "unknown error") {
		t.Errorf("FailClosed(aider, nil) = %+v", r)
	}
	r = hook.Answer(hook.Request{Agent: "aider", Phase: hook.Pre}, hook.Allow, "ok")
	if r.ExitCode != 2 {
		t.Errorf("Answer for an unknown agent must fail closed, got %+v", r)
	}
}

func TestReasonIsOneLine(t *testing.T) {
	req := hook.Request{Agent: hook.Gemini, Phase: hook.Pre}
	r := hook.Answer(req, hook.Block, "first line\nsecond\tline  ")
	var v struct{ Reason string }
	if err := json.Unmarshal(r.Stdout, &v); err != nil {
		t.Fatal(err)
	}
	if v.Reason != "MirrorOS: first line second line" {
		t.Errorf("reason = %q", v.Reason)
	}
	r = hook.FailClosed(hook.Codex, hook.Pre, errors.New("a\nb"))
	if strings.Count(r.Stderr, "\n") != 1 {
		t.Errorf("stderr %q is not one line", r.Stderr)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
