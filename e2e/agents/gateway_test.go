package agents_test

// The kernel as a model gateway, driven by the real agents: Claude Code
// talks to the kernel's Anthropic Messages door (POST /v1/messages) and
// Codex to its OpenAI Responses door (POST /v1/responses), each with a
// MirrorOS lease token as its API key; the kernel routes the bare vendor
// model name to the provider of that name in DATA_DIR/config.toml and calls
// a fake upstream (gateway_upstreams_test.go) with the upstream's own key.
// No hooks are installed here: what is tested is the model path.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	anthropicUpstreamKey = "sk-ant-upstream-test"
	openaiUpstreamKey    = "sk-upstream-test"
	// fakeAWSKey looks like an AWS access key id to MirrorOS's detectors.
	fakeAWSKey = "AKIA2E3RD7XQ5YLZ4W6P"
)

// gatewayWorld is one test's home, project and daemon, with config.toml
// written before `mirror up` and a lease for the agent.
type gatewayWorld struct {
	home, project, dataDir string
	d                      *daemon
	token                  string // the agent's lease token: its API key
}

func newGatewayWorld(t *testing.T, agent, configTOML string) *gatewayWorld {
	t.Helper()
	root := worldRoot(t)
	g := &gatewayWorld{home: filepath.Join(root, "home"), project: filepath.Join(root, "project"), dataDir: filepath.Join(root, "mirror")}
	for _, dir := range []string{g.home, g.project} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(g.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(g.dataDir, "config.toml"), []byte(configTOML), 0o600); err != nil {
		t.Fatal(err)
	}
	g.d = startDaemon(t, g.dataDir, g.home)
	env := baseEnv(g.home, "MIRROR_DATA_DIR="+g.dataDir, "MIRROR_ADDR="+g.d.addr, "MIRROR_TOKEN="+g.d.token)
	g.token = strings.TrimSpace(mirrorCLI(t, env, "lease", "grant", "--name", agent,
		"--scope", "model:*", "--scope", "tool:*", "--ttl", "1h", "--token-only"))
	if !strings.HasPrefix(g.token, "mos_") {
		t.Fatalf("lease grant printed %q, want a mos_ token", g.token)
	}
	if b, err := os.ReadFile(filepath.Join(g.dataDir, "config.toml")); err != nil || string(b) != configTOML {
		t.Fatalf("mirror up changed config.toml (%v):\n%s", err, b)
	}
	return g
}

func providerTOML(name, kind, baseURL, key string) string {
	return fmt.Sprintf("[[providers]]\nname = %q\nkind = %q\nbase_url = %q\napi_key = %q\n", name, kind, baseURL, key)
}

// dump logs the ledger and the daemon's log, to explain a failure.
func (g *gatewayWorld) dump(t *testing.T) {
	t.Helper()
	for _, e := range g.d.entries(t) {
		t.Logf("ledger #%d %s by %s: %s", e.Index, e.Kind, e.Actor, e.Body)
	}
	t.Logf("mirror up stderr:\n%s", g.d.stderr.String())
}

// noLeak fails when a MirrorOS token appears anywhere in what the upstream
// received.
func (g *gatewayWorld) noLeak(t *testing.T, rc *recorder) {
	t.Helper()
	for name, tok := range map[string]string{"the lease token": g.token, "the owner token": g.d.token} {
		if w := rc.where(tok); len(w) > 0 {
			t.Errorf("bug: %s reached the upstream: %v", name, w)
		}
	}
}

// modelCallFor waits for the model.call entry of action (model:chat:P/M)
// recorded as ok, checks that the policy.decision it points to (its
// decision_index) is the ALLOW of that action, and that the call carries
// the upstream's usage and its attempts.
func (g *gatewayWorld) modelCallFor(t *testing.T, action, door string) (decision, call map[string]any) {
	t.Helper()
	call = g.d.waitEntry(t, "model.call", func(b map[string]any) bool {
		return b["door"] == door && "model:chat:"+fmt.Sprint(b["model"]) == action && b["outcome"] == "ok"
	})
	idx, _ := call["decision_index"].(float64)
	for _, e := range g.d.entries(t) {
		if e.Kind == "policy.decision" && float64(e.Index) == idx {
			if err := json.Unmarshal(e.Body, &decision); err != nil {
				t.Fatalf("policy.decision #%d %s: %v", e.Index, e.Body, err)
			}
		}
	}
	if decision == nil || decision["action"] != action || decision["decision"] != "ALLOW" {
		t.Errorf("model.call %v points to policy.decision #%v = %v, want the ALLOW of %s", call, call["decision_index"], decision, action)
	}
	u, _ := call["usage"].(map[string]any)
	if pt, _ := u["prompt_tokens"].(float64); pt <= 0 {
		t.Errorf("model.call usage = %v, want the upstream's prompt_tokens", call["usage"])
	}
	if ct, _ := u["completion_tokens"].(float64); ct <= 0 {
		t.Errorf("model.call usage = %v, want the upstream's completion_tokens", call["usage"])
	}
	if a, _ := call["attempts"].([]any); len(a) == 0 {
		t.Errorf("model.call attempts = %v, want at least one", call["attempts"])
	}
	return decision, call
}

// runClaudeViaKernel runs `claude -p PROMPT --output-format json` with the
// kernel as its Anthropic API and the lease token as its key.
func runClaudeViaKernel(t *testing.T, bin string, g *gatewayWorld, prompt string, args ...string) (agentRun, claudeOutput) {
	t.Helper()
	env := baseEnv(g.home,
		"ANTHROPIC_BASE_URL=http://"+g.d.addr,
		"ANTHROPIC_API_KEY="+g.token,
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		"DISABLE_TELEMETRY=1",
		"DISABLE_AUTOUPDATER=1",
		"DISABLE_ERROR_REPORTING=1",
	)
	r := runAgent(t, g.project, env, bin, append([]string{"-p", prompt, "--output-format", "json"}, args...)...)
	var out claudeOutput
	if err := json.Unmarshal([]byte(lastJSONLine(r.stdout)), &out); err != nil || out.Type != "result" {
		g.dump(t)
		t.Fatalf("claude did not print its JSON result (%v); exit %d\nstdout:\n%s\nstderr:\n%s", err, r.exit, r.stdout, r.stderr)
	}
	return r, out
}

// hasReason reports whether a policy.decision names policy among its reasons.
func hasReason(dec map[string]any, policy string) bool {
	rs, _ := dec["reasons"].([]any)
	for _, r := range rs {
		if m, _ := r.(map[string]any); m["policy"] == policy {
			return true
		}
	}
	return false
}

// firstModel is the model named by the first recorded request body.
func firstModel(reqs []upstreamRequest) string {
	for _, r := range reqs {
		var b struct {
			Model string `json:"model"`
		}
		if json.Unmarshal(r.Body, &b) == nil && b.Model != "" {
			return b.Model
		}
	}
	return ""
}

func TestGatewayClaudeCode(t *testing.T) {
	bin := requireAgent(t, "claude")

	t.Run("plain turn through the kernel", func(t *testing.T) {
		t.Parallel()
		const answer = "Hi from the fake Anthropic upstream, via MirrorOS."
		up := newGatewayAnthropic(t, "", anthropicUpstreamKey, answer)
		g := newGatewayWorld(t, "claude-code", providerTOML("anthropic", "anthropic", up.URL(), anthropicUpstreamKey))
		r, out := runClaudeViaKernel(t, bin, g, "say hi")

		msgs := up.messages()
		if r.exit != 0 || out.IsError || out.Subtype != "success" || !strings.Contains(out.Result, answer) {
			g.dump(t)
			t.Fatalf("claude exited %d, is_error %v, subtype %q, result %q; want the upstream's answer %q\nupstream requests: %v\nstdout:\n%s\nstderr:\n%s",
				r.exit, out.IsError, out.Subtype, out.Result, answer, up.requests(), r.stdout, r.stderr)
		}
		if len(msgs) == 0 {
			t.Fatalf("the upstream got no POST /v1/messages; requests: %v", up.requests())
		}
		for _, req := range up.requests() {
			if k := req.Header.Get("x-api-key"); k != anthropicUpstreamKey {
				t.Errorf("upstream %s: x-api-key %q, want the configured upstream key", req, k)
			}
			if a := req.Header.Get("Authorization"); a != "" {
				t.Errorf("upstream %s: Authorization %q, want none", req, a)
			}
		}
		g.noLeak(t, &up.recorder)

		model := firstModel(msgs)
		if model == "" || strings.Contains(model, "/") {
			t.Errorf("the upstream was asked for model %q, want Claude Code's bare model name", model)
		}
		dec, call := g.modelCallFor(t, "model:chat:anthropic/"+model, "anthropic")
		if !hasReason(dec, "default.allow-model-local") {
			t.Errorf("policy.decision = %v, want it allowed by default.allow-model-local (a loopback upstream is local)", dec)
		}
		if dec["resource"] != "anthropic/"+model {
			t.Errorf("policy.decision resource = %v, want anthropic/%s", dec["resource"], model)
		}
		if call["model_asked"] != model {
			t.Errorf("model.call model_asked = %v, want %s", call["model_asked"], model)
		}
		t.Logf("upstream requests: %v; model %s; model.call usage %v latency %vms; claude took %v",
			up.requests(), model, call["usage"], call["latency_ms"], r.took)
	})

	t.Run("a tool-use turn with thinking keeps its signed thinking block", func(t *testing.T) {
		t.Parallel()
		// Claude Code asks for thinking; the Messages API then refuses a
		// tool-use continuation whose thinking block was dropped or
		// altered. The kernel must carry the block back verbatim.
		const answer = "Done: ran the command after thinking it over."
		up := newGatewayAnthropic(t, "", anthropicUpstreamKey, answer)
		up.toolCommand = "echo mirror-thinking-e2e"
		up.signature = "EqQBCkgIBxABGAIiQMirrorOSe2eSignatureOfAThinkingBlockZx8vQ2lW3mR0bY5kT1nC7pJ4sH6dF9gA2eU0iO3lK8jB5vN1cM=="
		g := newGatewayWorld(t, "claude-code", providerTOML("anthropic", "anthropic", up.URL(), anthropicUpstreamKey))
		r, out := runClaudeViaKernel(t, bin, g, "run the command", "--allowedTools", "Bash")

		up.mu.Lock()
		refusals, toolOutput := up.refusals, up.toolInput
		up.mu.Unlock()
		if len(refusals) > 0 {
			g.dump(t)
			t.Fatalf("the upstream refused a continuation: %q", refusals)
		}
		if r.exit != 0 || out.IsError || !strings.Contains(out.Result, answer) {
			g.dump(t)
			t.Fatalf("claude exited %d, is_error %v, result %q; want %q\nupstream requests: %v\nstderr:\n%s",
				r.exit, out.IsError, out.Result, answer, up.requests(), r.stderr)
		}
		if !strings.Contains(toolOutput, "mirror-thinking-e2e") {
			t.Errorf("the tool result the upstream got back = %q, want the command's output", toolOutput)
		}
		carried := 0
		for _, m := range up.messages() {
			if strings.Contains(string(m.Body), gatewayToolID) && strings.Contains(string(m.Body), up.signature) {
				carried++
			}
		}
		if carried == 0 {
			t.Errorf("no continuation carried the thinking block's signature back to the upstream")
		}
		g.noLeak(t, &up.recorder)
		t.Logf("upstream requests: %v; continuations carrying the signed thinking block: %d; claude took %v", up.requests(), carried, r.took)
	})

	t.Run("a secret never reaches a cloud upstream", func(t *testing.T) {
		t.Parallel()
		// A loopback upstream is local, and a secret may go to a local
		// model. An address of this machine that is not loopback is
		// reachable without leaving it, yet counts as the cloud.
		ip := nonLoopbackIP()
		if ip == "" {
			t.Skip("this machine has no non-loopback IPv4 address to serve a \"cloud\" upstream on")
		}
		const answer = "Hi from the fake cloud upstream."
		up := newGatewayAnthropic(t, ip, anthropicUpstreamKey, answer)
		g := newGatewayWorld(t, "claude-code", providerTOML("anthropic", "anthropic", up.URL(), anthropicUpstreamKey))

		// Control: without a secret the same setup reaches the cloud
		// upstream, so the refusal below is about the secret.
		r, out := runClaudeViaKernel(t, bin, g, "say hi")
		if r.exit != 0 || out.IsError || !strings.Contains(out.Result, answer) {
			g.dump(t)
			t.Fatalf("control turn without a secret: claude exited %d, is_error %v, result %q; want %q\nupstream requests: %v\nstderr:\n%s",
				r.exit, out.IsError, out.Result, answer, up.requests(), r.stderr)
		}
		model := firstModel(up.messages())
		dec, _ := g.modelCallFor(t, "model:chat:anthropic/"+model, "anthropic")
		if !hasReason(dec, "default.allow-model-cloud") {
			t.Errorf("policy.decision = %v, want it allowed by default.allow-model-cloud (the upstream on %s is not local)", dec, ip)
		}
		before := len(up.requests())

		r, out = runClaudeViaKernel(t, bin, g, "My AWS access key id is "+fakeAWSKey+". Say hi.")
		if w := up.where(fakeAWSKey); len(w) > 0 {
			g.dump(t)
			t.Fatalf("bug: the secret reached the cloud upstream: %v", w)
		}
		for _, req := range up.requests()[before:] {
			if req.Path == "/v1/messages" {
				t.Errorf("a /v1/messages call reached the cloud upstream during the secret turn: %.300s", req.Body)
			}
		}
		if !out.IsError || strings.Contains(out.Result, answer) {
			t.Errorf("claude's turn with a secret: is_error %v, result %q; want the kernel's refusal", out.IsError, out.Result)
		}
		if !strings.Contains(out.Result+r.stdout, "local") {
			t.Errorf("claude's result %q does not carry the kernel's local-only refusal", out.Result)
		}
		g.noLeak(t, &up.recorder)
		// The refusal comes from routing (no local model for secret
		// content), before the policy gate: say whether the ledger shows it.
		var recorded []string
		for _, e := range g.d.entries(t) {
			if (e.Kind == "policy.decision" || e.Kind == "model.call") && strings.Contains(string(e.Body), "claude") {
				recorded = append(recorded, fmt.Sprintf("#%d %s %s", e.Index, e.Kind, e.Body))
			}
		}
		t.Logf("model entries in the ledger after both turns:\n%s", strings.Join(recorded, "\n"))
		t.Logf("upstream on %s; control model %s; refusal seen by claude: %q; claude took %v", ip, model, out.Result, r.took)
	})
}

// codexGatewayConfig writes $HOME/.codex/config.toml: a custom provider
// whose base_url is the kernel's /v1, speaking the Responses API, with the
// lease token in env_key.
func codexGatewayConfig(t *testing.T, g *gatewayWorld) {
	t.Helper()
	cfg := fmt.Sprintf(`model = %q
model_provider = "mirroros"
approval_policy = "never"
sandbox_mode = "danger-full-access"

[features]
plugins = false

[model_providers.mirroros]
name = "MirrorOS kernel"
base_url = %q
env_key = "MIRROR_LEASE_TOKEN"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0

[projects.%q]
trust_level = "trusted"
`, codexModel, "http://"+g.d.addr+"/v1", g.project)
	dir := filepath.Join(g.home, ".codex")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestGatewayCodex(t *testing.T) {
	bin := requireAgent(t, "codex")

	t.Run("plain turn through the kernel", func(t *testing.T) {
		t.Parallel()
		const answer = "Hi from the fake OpenAI chat upstream, via MirrorOS."
		up := newGatewayChat(t, openaiUpstreamKey, answer)
		g := newGatewayWorld(t, "codex", providerTOML("openai", "openai", up.BaseURL(), openaiUpstreamKey))
		codexGatewayConfig(t, g)
		env := baseEnv(g.home, "MIRROR_LEASE_TOKEN="+g.token, "CODEX_HOME="+filepath.Join(g.home, ".codex"), "RUST_LOG=warn")
		r := runAgent(t, g.project, env, bin, "exec", "--skip-git-repo-check", "--json", "--color", "never", "-C", g.project, "say hi")

		if r.exit != 0 || !strings.Contains(r.stdout, `"type":"turn.completed"`) || !strings.Contains(r.stdout, answer) {
			g.dump(t)
			t.Fatalf("codex exited %d; want a completed turn carrying %q\nupstream requests: %v\nstdout:\n%s\nstderr:\n%s",
				r.exit, answer, up.requests(), r.stdout, r.stderr)
		}
		calls := up.completions()
		if len(calls) == 0 {
			t.Fatalf("the upstream got no POST /v1/chat/completions; requests: %v", up.requests())
		}
		for _, req := range up.requests() {
			if a := req.Header.Get("Authorization"); a != "Bearer "+openaiUpstreamKey {
				t.Errorf("upstream %s: Authorization %q, want the configured upstream key", req, a)
			}
			if req.Path == "/v1/responses" {
				t.Errorf("the kernel called the upstream's Responses API; it should speak chat completions")
			}
		}
		g.noLeak(t, &up.recorder)
		model := firstModel(calls)
		if model != codexModel {
			t.Errorf("the upstream was asked for model %q, want %q", model, codexModel)
		}
		var body struct {
			Stream        bool            `json:"stream"`
			StreamOptions json.RawMessage `json:"stream_options"`
			Messages      []struct {
				Role string `json:"role"`
			} `json:"messages"`
		}
		if err := json.Unmarshal(calls[0].Body, &body); err != nil || len(body.Messages) == 0 {
			t.Errorf("chat completions body %.300s: %v, want messages", calls[0].Body, err)
		}
		_, call := g.modelCallFor(t, "model:chat:openai/"+codexModel, "responses")
		if call["model_asked"] != codexModel {
			t.Errorf("model.call model_asked = %v, want %s", call["model_asked"], codexModel)
		}
		t.Logf("upstream requests: %v (stream %v, stream_options %s); model.call usage %v latency %vms; codex took %v",
			up.requests(), body.Stream, body.StreamOptions, call["usage"], call["latency_ms"], r.took)
	})
}
