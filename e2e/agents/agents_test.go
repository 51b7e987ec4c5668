package agents_test

// End-to-end tests that drive the real coding agents (Claude Code and Codex
// CLI, installed from npm into ./node_modules) against a fake model upstream
// that speaks each provider's wire protocol, with `mirror hook <agent>`
// registered as the agent's hook and a real `mirror up` daemon deciding.
//
// The tests skip when the agents are not installed; see README.md.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	agentTimeout = 120 * time.Second // one agent run
	cliTimeout   = 30 * time.Second  // one mirror command
	pollTimeout  = 15 * time.Second  // waiting for the daemon or the ledger
)

// worldBase is the directory, in the user cache directory, under which each
// test makes its home, project and data directory.
const worldBase = "mirror-e2e-agents"

var (
	hereDir    string // this package's directory (e2e/agents)
	mirrorPath string // built by TestMain when an agent is installed
	buildErr   error
)

func agentPath(name string) string { return filepath.Join(hereDir, "node_modules", ".bin", name) }

func TestMain(m *testing.M) {
	flag.Parse()
	var err error
	if hereDir, err = os.Getwd(); err != nil {
		fmt.Fprintln(os.Stderr, "getwd:", err)
		os.Exit(2)
	}
	var buildDir string
	if bin := os.Getenv("MIRROR_E2E_BIN"); bin != "" {
		// A prebuilt binary (a release, say) instead of this tree's.
		if mirrorPath, err = filepath.Abs(bin); err == nil && !exists(mirrorPath) {
			err = fmt.Errorf("MIRROR_E2E_BIN=%s does not exist", bin)
		}
		buildErr = err
	} else if exists(agentPath("claude")) || exists(agentPath("codex")) {
		buildDir, buildErr = os.MkdirTemp("", "mirror-agents-e2e-")
		if buildErr == nil {
			mirrorPath = filepath.Join(buildDir, "mirror")
			buildErr = buildMirror(mirrorPath)
		}
	}
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	if cache, err := os.UserCacheDir(); err == nil {
		os.Remove(filepath.Join(cache, worldBase)) // only if empty
	}
	os.Exit(code)
}

func buildMirror(out string) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", out, "../../cmd/mirror")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ../../cmd/mirror: %v\n%s", err, b)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// requireAgent returns the agent's binary, or skips the test when it is not
// installed.
func requireAgent(t *testing.T, name string) string {
	t.Helper()
	p := agentPath(name)
	if !exists(p) {
		t.Skipf("%s is not installed (%s is missing); to run these tests: cd e2e/agents && npm ci && go test ./...", name, p)
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return p
}

// ---------------------------------------------------------------------------
// Processes

// safeBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// baseEnv is a small environment built from scratch, so that a developer's
// ANTHROPIC_*, OPENAI_*, CODEX_* or MIRROR_* settings never reach a test.
func baseEnv(home string, extra ...string) []string {
	env := []string{"HOME=" + home, "LANG=C.UTF-8", "TERM=dumb", "NO_COLOR=1"}
	for _, k := range []string{"PATH", "USER", "LOGNAME", "SHELL", "TMPDIR", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env, extra...)
}

// groupCmd makes cmd the leader of a new process group, killed as a whole
// when ctx ends, so that no grandchild (a hook, a shell, codex's native
// binary) outlives the test.
func groupCmd(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
}

// daemon is a `mirror up` subprocess.
type daemon struct {
	dataDir string
	addr    string
	token   string // the owner token
	cmd     *exec.Cmd
	stdout  *safeBuffer // "Initialised …" on the first start
	stderr  *safeBuffer // the log, with the "mirror is up" line
	done    chan struct{}
}

var upLine = regexp.MustCompile(`mirror is up.*\baddr=([^\s]+)`)

// startDaemon runs `mirror up --data-dir D --addr 127.0.0.1:0` and waits for
// its "mirror is up ... addr=" line.
func startDaemon(t *testing.T, dataDir, home string) *daemon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{dataDir: dataDir, stdout: &safeBuffer{}, stderr: &safeBuffer{}, done: make(chan struct{})}
	d.cmd = exec.CommandContext(ctx, mirrorPath, "up", "--data-dir", dataDir, "--addr", "127.0.0.1:0")
	d.cmd.Env = baseEnv(home)
	d.cmd.Stdout = d.stdout
	d.cmd.Stderr = d.stderr
	groupCmd(d.cmd)
	if err := d.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start mirror up: %v", err)
	}
	go func() {
		d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		cancel() // kills the group if it is still running
		select {
		case <-d.done:
		case <-time.After(15 * time.Second):
			t.Errorf("mirror up (pid %d) did not exit after SIGKILL", d.cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("mirror up stderr:\n%s", d.stderr.String())
		}
	})
	deadline := time.Now().Add(pollTimeout)
	for {
		if m := upLine.FindStringSubmatch(d.stderr.String()); m != nil {
			d.addr = m[1]
			break
		}
		select {
		case <-d.done:
			t.Fatalf("mirror up exited before it was up; stdout:\n%s\nstderr:\n%s", d.stdout.String(), d.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mirror up did not log \"mirror is up\" within %v; stdout:\n%s\nstderr:\n%s", pollTimeout, d.stdout.String(), d.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	tok, err := os.ReadFile(filepath.Join(dataDir, "owner.token"))
	if err != nil {
		t.Fatalf("read the owner token: %v", err)
	}
	d.token = strings.TrimSpace(string(tok))
	return d
}

// stop sends SIGTERM and waits for the daemon to exit.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(pollTimeout):
		t.Fatalf("mirror up did not exit within %v of SIGTERM", pollTimeout)
	}
}

// get is an owner-authenticated GET on the daemon that must answer 200.
func (d *daemon) get(t *testing.T, path string) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+d.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	c := &http.Client{Timeout: pollTimeout}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s (%v)", path, resp.StatusCode, body, err)
	}
	return body
}

// ledgerEntry is one ledger entry as GET /v1/audit/entries returns it.
type ledgerEntry struct {
	Index uint64          `json:"index"`
	Kind  string          `json:"kind"`
	Actor string          `json:"actor"`
	Body  json.RawMessage `json:"body"`
}

func (d *daemon) entries(t *testing.T) []ledgerEntry {
	t.Helper()
	var out []ledgerEntry
	sc := bufio.NewScanner(bytes.NewReader(d.get(t, "/v1/audit/entries?from=0&limit=1000")))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var e ledgerEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("ledger entry %q: %v", sc.Bytes(), err)
		}
		out = append(out, e)
	}
	return out
}

// waitEntry polls the ledger until an entry of kind whose body satisfies
// match is there, and returns its body.
func (d *daemon) waitEntry(t *testing.T, kind string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(pollTimeout)
	for {
		var kinds []string
		for _, e := range d.entries(t) {
			kinds = append(kinds, e.Kind)
			if e.Kind != kind {
				continue
			}
			var body map[string]any
			if err := json.Unmarshal(e.Body, &body); err != nil {
				t.Fatalf("entry %d body %s: %v", e.Index, e.Body, err)
			}
			if match(body) {
				return body
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no matching %s entry in the ledger within %v; kinds: %v", kind, pollTimeout, kinds)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// denial is one row of GET /v1/denied.
type denial struct {
	LeaseName string `json:"lease_name"`
	Agent     string `json:"agent"`
	Action    string `json:"action"`
	Resource  string `json:"resource"`
	Decision  string `json:"decision"`
}

// waitDenial polls GET /v1/denied?agent=A until a BLOCK of resource is there.
func (d *daemon) waitDenial(t *testing.T, agent, resource string) denial {
	t.Helper()
	deadline := time.Now().Add(pollTimeout)
	for {
		var resp struct{ Denied []denial }
		body := d.get(t, "/v1/denied?since=1h&agent="+url.QueryEscape(agent))
		if err := json.Unmarshal(body, &resp); err != nil {
			t.Fatalf("GET /v1/denied: %s: %v", body, err)
		}
		for _, x := range resp.Denied {
			if x.Decision == "BLOCK" && x.Agent == agent && x.Resource == resource {
				return x
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no BLOCK of %q for agent %s in /v1/denied within %v: %s", resource, agent, pollTimeout, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mirrorCLI runs the mirror binary and fails the test unless it exits 0.
func mirrorCLI(t *testing.T, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, mirrorPath, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	groupCmd(cmd)
	if err := cmd.Run(); err != nil {
		t.Fatalf("mirror %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// agentRun is the outcome of one agent process.
type agentRun struct {
	stdout, stderr string
	exit           int
	took           time.Duration
}

// runAgent runs an agent binary in dir with env, killed (with everything it
// started) after agentTimeout.
func runAgent(t *testing.T, dir string, env []string, bin string, args ...string) agentRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), agentTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdin = nil // /dev/null: nobody is there to answer a prompt
	var stdout, stderr safeBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	groupCmd(cmd)
	start := time.Now()
	err := cmd.Run()
	r := agentRun{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	// Whatever the agent left behind in its group goes too.
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s did not finish within %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(bin), agentTimeout, r.stdout, r.stderr)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run %s: %v", bin, err)
	}
	r.exit = cmd.ProcessState.ExitCode()
	t.Logf("%s exited %d after %v", filepath.Base(bin), r.exit, r.took.Round(time.Millisecond))
	return r
}

// ---------------------------------------------------------------------------
// The governed world of one test: a daemon, a lease for the agent, the hook
// registered in a project, a home with something worth protecting.

type world struct {
	agent   string // claude-code or codex
	root    string
	home    string // the agent's HOME
	project string // its working directory
	dataDir string
	d       *daemon
	token   string // the agent's lease token
	victim  string // $HOME/important/keep.txt: what the destructive command would delete
}

// destructive is the command the model asks for in the deny cases: a
// recursive delete of a directory in the home directory, outside the project,
// which the default policies BLOCK. Run for real it would delete w.victim.
const destructive = "rm -rf ~/important"

// codexDestructive is the same for Codex without -f: Codex itself refuses
// "rm -f style commands", which would hide a hook that let the command
// through; this one Codex runs unless the hook stops it.
const codexDestructive = "rm -r ~/important"

// worldRoot makes a directory for one test outside the temporary
// directories: MirrorOS treats everything under /tmp as scratch space, where
// a recursive delete is harmless, so a home and a project under /tmp would
// not be a realistic setup (see README.md). It is removed at the end.
func worldRoot(t *testing.T) string {
	t.Helper()
	base, err := os.UserCacheDir()
	if err != nil {
		t.Fatalf("no user cache directory to work in: %v", err)
	}
	base = filepath.Join(base, worldBase)
	for _, tmp := range []string{"/tmp", "/private/tmp", "/var/tmp", "/var/folders", "/private/var/folders", "/dev/shm", os.TempDir()} {
		if base == tmp || strings.HasPrefix(base, tmp+string(filepath.Separator)) {
			t.Fatalf("the user cache directory %s is under %s, which MirrorOS treats as scratch space; set XDG_CACHE_HOME to a directory outside it", base, tmp)
		}
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	root, err := os.MkdirTemp(base, strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(root); err != nil {
			t.Errorf("remove %s: %v", root, err)
		}
	})
	return root
}

func newWorld(t *testing.T, agent string) *world {
	t.Helper()
	root := worldRoot(t)
	w := &world{
		agent:   agent,
		root:    root,
		home:    filepath.Join(root, "home"),
		project: filepath.Join(root, "project"),
		dataDir: filepath.Join(root, "mirror"),
	}
	w.victim = filepath.Join(w.home, "important", "keep.txt")
	for _, dir := range []string{w.project, filepath.Dir(w.victim)} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(w.victim, []byte("do not delete\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.d = startDaemon(t, w.dataDir, w.home)
	w.token = strings.TrimSpace(mirrorCLI(t, w.mirrorEnv(w.d.token),
		"lease", "grant", "--name", agent, "--scope", "tool:*", "--ttl", "1h", "--token-only"))
	if !strings.HasPrefix(w.token, "mos_") {
		t.Fatalf("lease grant printed %q, want a mos_ token", w.token)
	}
	out := mirrorCLI(t, w.mirrorEnv(""), "hook", "install", agent, "--project", w.project)
	t.Logf("%s", strings.TrimSpace(out))
	settings := map[string]string{"claude-code": ".claude/settings.json", "codex": ".codex/hooks.json"}[agent]
	b, err := os.ReadFile(filepath.Join(w.project, settings))
	if err != nil || !strings.Contains(string(b), mirrorPath+" hook "+agent) {
		t.Fatalf("mirror hook install did not register %q in %s (%v):\n%s", mirrorPath+" hook "+agent, settings, err, b)
	}
	return w
}

// mirrorEnv is the environment of a mirror command (and of the agent, whose
// hook inherits it): this daemon and, when not empty, token.
func (w *world) mirrorEnv(token string, extra ...string) []string {
	env := baseEnv(w.home, "MIRROR_DATA_DIR="+w.dataDir, "MIRROR_ADDR="+w.d.addr)
	if token != "" {
		env = append(env, "MIRROR_TOKEN="+token)
	}
	return append(env, extra...)
}

func (w *world) victimIntact(t *testing.T, r agentRun) {
	t.Helper()
	if b, err := os.ReadFile(w.victim); err != nil || string(b) != "do not delete\n" {
		t.Errorf("%s was deleted or changed (%q, %v): the destructive command ran", w.victim, b, err)
		w.dumpLedger(t)
		t.Fatalf("agent stdout:\n%s\nagent stderr:\n%s", r.stdout, r.stderr)
	}
}

// dumpLedger logs every ledger entry, to explain a failure.
func (w *world) dumpLedger(t *testing.T) {
	t.Helper()
	select {
	case <-w.d.done:
		return // stopped: nothing to ask
	default:
	}
	for _, e := range w.d.entries(t) {
		t.Logf("ledger #%d %s by %s: %s", e.Index, e.Kind, e.Actor, e.Body)
	}
}

// decisionFor waits for the policy.decision entry of command by this agent.
func (w *world) decisionFor(t *testing.T, command, decision string) map[string]any {
	t.Helper()
	return w.d.waitEntry(t, "policy.decision", func(b map[string]any) bool {
		return b["agent"] == w.agent && b["action"] == "tool:Bash" && b["resource"] == command && b["decision"] == decision
	})
}

// resultFor waits for the tool.result entry the post hook records.
func (w *world) resultFor(t *testing.T) map[string]any {
	t.Helper()
	return w.d.waitEntry(t, "tool.result", func(b map[string]any) bool {
		return b["agent"] == w.agent && b["tool"] == "Bash"
	})
}

// ---------------------------------------------------------------------------
// Server-sent events

type sseWriter struct {
	w http.ResponseWriter
	f http.Flusher
}

func newSSE(w http.ResponseWriter) sseWriter {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Connection", "keep-alive")
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	return sseWriter{w, f}
}

// event writes one event: an "event:" line, one "data:" line of JSON and a
// blank line.
func (s sseWriter) event(name string, data any) {
	b, err := json.Marshal(data)
	if err != nil {
		panic(err)
	}
	fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", name, b)
	if s.f != nil {
		s.f.Flush()
	}
}

// chunks splits s into pieces of at most n characters, as a model streams.
func chunks(s string, n int) []string {
	var out []string
	r := []rune(s)
	for len(r) > n {
		out = append(out, string(r[:n]))
		r = r[n:]
	}
	return append(out, string(r))
}

// rawText renders a JSON value that may be a string or structured content
// as searchable text.
func rawText(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	return string(v)
}

// ---------------------------------------------------------------------------
// Claude Code

// claudeOutput is the part of `claude -p --output-format json` read here.
type claudeOutput struct {
	Type              string `json:"type"`
	Subtype           string `json:"subtype"`
	IsError           bool   `json:"is_error"`
	Result            string `json:"result"`
	PermissionDenials []struct {
		ToolName  string         `json:"tool_name"`
		ToolUseID string         `json:"tool_use_id"`
		ToolInput map[string]any `json:"tool_input"`
	} `json:"permission_denials"`
}

// runClaude runs `claude -p` in the project against the fake upstream, with
// w's daemon and lease in its environment (which its hook inherits).
func runClaude(t *testing.T, bin string, w *world, up *fakeAnthropic, prompt string) (agentRun, claudeOutput) {
	t.Helper()
	env := w.mirrorEnv(w.token,
		"ANTHROPIC_BASE_URL="+up.URL(),
		"ANTHROPIC_API_KEY="+anthropicKey,
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		"DISABLE_TELEMETRY=1",
		"DISABLE_AUTOUPDATER=1",
		"DISABLE_ERROR_REPORTING=1",
	)
	r := runAgent(t, w.project, env, bin, "-p", prompt, "--output-format", "json", "--allowedTools", "Bash")
	var out claudeOutput
	if err := json.Unmarshal([]byte(lastJSONLine(r.stdout)), &out); err != nil || out.Type != "result" {
		t.Fatalf("claude did not print its JSON result (%v); exit %d\nstdout:\n%s\nstderr:\n%s", err, r.exit, r.stdout, r.stderr)
	}
	if r.exit != 0 || out.IsError || out.Subtype != "success" {
		t.Errorf("claude exited %d with is_error %v, subtype %q, want a successful turn\nstdout:\n%s\nstderr:\n%s", r.exit, out.IsError, out.Subtype, r.stdout, r.stderr)
	}
	return r, out
}

// lastJSONLine is the last line of out that looks like a JSON object.
func lastJSONLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); strings.HasPrefix(l, "{") {
			return l
		}
	}
	return strings.TrimSpace(out)
}

func TestClaudeCode(t *testing.T) {
	bin := requireAgent(t, "claude")

	t.Run("destructive command is denied", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, "claude-code")
		up := newFakeAnthropic(t, destructive)
		r, out := runClaude(t, bin, w, up, "Delete the important directory in my home.")

		w.victimIntact(t, r)
		denied := false
		for _, d := range out.PermissionDenials {
			denied = denied || (d.ToolName == "Bash" && d.ToolInput["command"] == destructive)
		}
		if !denied {
			t.Errorf("permission_denials = %+v, want the Bash call %q\nstdout:\n%s", out.PermissionDenials, destructive, r.stdout)
		}
		res, uses, streamed, calls := up.result()
		if uses == 0 || res == nil {
			t.Fatalf("the model's tool call never came back (tool_use answers %d, result %v); calls %v", uses, res, calls)
		}
		if streamed == 0 {
			t.Errorf("no /v1/messages request was streamed; calls %v", calls)
		}
		if !res.IsError || !strings.Contains(res.Content, "MirrorOS") {
			t.Errorf("tool_result sent to the model = %+v, want an error carrying MirrorOS's reason", *res)
		}
		dn := w.d.waitDenial(t, "claude-code", destructive)
		if dn.LeaseName != "claude-code" || dn.Action != "tool:Bash" {
			t.Errorf("denial = %+v, want lease claude-code, action tool:Bash", dn)
		}
		if dec := w.decisionFor(t, destructive, "BLOCK"); dec["cwd"] != w.project || dec["lease_name"] != "claude-code" {
			t.Errorf("policy.decision = %v, want cwd %s and lease claude-code", dec, w.project)
		}
		t.Logf("upstream calls: %v; model saw: %q", calls, res.Content)
	})

	t.Run("harmless command runs and is recorded", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, "claude-code")
		const cmd = "echo mirror-allowed > marker.txt && cat marker.txt"
		up := newFakeAnthropic(t, cmd)
		r, out := runClaude(t, bin, w, up, "Write the marker file.")

		if b, err := os.ReadFile(filepath.Join(w.project, "marker.txt")); err != nil || string(b) != "mirror-allowed\n" {
			t.Fatalf("marker.txt = %q, %v: the allowed command did not run\nstdout:\n%s\nstderr:\n%s", b, err, r.stdout, r.stderr)
		}
		if len(out.PermissionDenials) != 0 {
			t.Errorf("permission_denials = %+v, want none", out.PermissionDenials)
		}
		res, _, _, calls := up.result()
		if res == nil || res.IsError || !strings.Contains(res.Content, "mirror-allowed") {
			t.Errorf("tool_result sent to the model = %+v, want the command's output", res)
		}
		w.decisionFor(t, cmd, "ALLOW")
		tr := w.resultFor(t)
		if tr["event"] != "PostToolUse" || tr["result_sha256"] == "" {
			t.Errorf("tool.result = %v, want a PostToolUse entry with a result hash", tr)
		}
		if denied := w.d.get(t, "/v1/denied?agent=claude-code"); strings.Contains(string(denied), "BLOCK") {
			t.Errorf("/v1/denied lists a BLOCK for an allowed command: %s", denied)
		}
		t.Logf("upstream calls: %v", calls)
	})

	t.Run("kernel down fails closed", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, "claude-code")
		w.d.stop(t)
		const cmd = "echo should-not-run > marker.txt"
		up := newFakeAnthropic(t, cmd)
		r, out := runClaude(t, bin, w, up, "Write the marker file.")

		if _, err := os.Stat(filepath.Join(w.project, "marker.txt")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("marker.txt exists (%v): the command ran although the kernel was down\nstdout:\n%s", err, r.stdout)
		}
		res, uses, _, calls := up.result()
		if uses == 0 || res == nil {
			t.Fatalf("the model's tool call never came back (tool_use answers %d); calls %v\nstdout:\n%s", uses, calls, r.stdout)
		}
		if !res.IsError || !strings.Contains(res.Content, "MirrorOS could not decide") {
			t.Errorf("tool_result sent to the model = %+v, want the fail-closed reason", *res)
		}
		denied := false
		for _, d := range out.PermissionDenials {
			denied = denied || (d.ToolName == "Bash" && d.ToolInput["command"] == cmd)
		}
		if !denied {
			t.Errorf("permission_denials = %+v, want the Bash call %q", out.PermissionDenials, cmd)
		}
		t.Logf("model saw: %q", res.Content)
	})
}

// ---------------------------------------------------------------------------
// Codex CLI

// codexModel is in Codex's built-in catalogue, so it runs without "unknown
// model" warnings.
const codexModel = "gpt-5.5"

// codexConfig writes $HOME/.codex/config.toml: a custom provider speaking
// the Responses API to the fake upstream, the project trusted (project hooks
// load only from a trusted project), no approvals and no sandbox (there is
// none to be had in a container; MirrorOS's hook is the guard here), and no
// plugin sync (it would try to reach GitHub).
func codexConfig(t *testing.T, w *world, up *fakeResponses) {
	t.Helper()
	cfg := fmt.Sprintf(`model = %q
model_provider = "mirrore2e"
approval_policy = "never"
sandbox_mode = "danger-full-access"

[features]
plugins = false

[model_providers.mirrore2e]
name = "MirrorOS e2e fake upstream"
base_url = %q
env_key = "E2E_FAKE_OPENAI_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0

[projects.%q]
trust_level = "trusted"
`, codexModel, up.BaseURL(), w.project)
	dir := filepath.Join(w.home, ".codex")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

func runCodex(t *testing.T, bin string, w *world, up *fakeResponses, prompt string) agentRun {
	t.Helper()
	codexConfig(t, w, up)
	env := w.mirrorEnv(w.token, "E2E_FAKE_OPENAI_KEY="+openaiKey, "CODEX_HOME="+filepath.Join(w.home, ".codex"), "RUST_LOG=warn")
	r := runAgent(t, w.project, env, bin, "exec", "--skip-git-repo-check", "--dangerously-bypass-hook-trust",
		"--json", "--color", "never", "-C", w.project, prompt)
	if r.exit != 0 || !strings.Contains(r.stdout, `"type":"turn.completed"`) {
		t.Errorf("codex exited %d, want a completed turn\nstdout:\n%s\nstderr:\n%s", r.exit, r.stdout, r.stderr)
	}
	return r
}

func TestCodex(t *testing.T) {
	bin := requireAgent(t, "codex")

	t.Run("destructive command is denied", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, "codex")
		up := newFakeResponses(t, codexDestructive)
		r := runCodex(t, bin, w, up, "Delete the important directory in my home.")

		w.victimIntact(t, r)
		out, tool, streamed, calls := up.result()
		if tool == "" || out == nil {
			t.Fatalf("the model's tool call never came back (tool %q, output %v); calls %v\nstdout:\n%s\nstderr:\n%s", tool, out, calls, r.stdout, r.stderr)
		}
		if streamed == 0 {
			t.Errorf("no /responses request was streamed; calls %v", calls)
		}
		if !strings.Contains(*out, "PreToolUse hook") || !strings.Contains(*out, "MirrorOS") {
			t.Errorf("function_call_output sent to the model = %q, want the hook's block with MirrorOS's reason", *out)
		}
		dn := w.d.waitDenial(t, "codex", codexDestructive)
		if dn.LeaseName != "codex" || dn.Action != "tool:Bash" {
			t.Errorf("denial = %+v, want lease codex, action tool:Bash", dn)
		}
		if dec := w.decisionFor(t, codexDestructive, "BLOCK"); dec["cwd"] != w.project || dec["lease_name"] != "codex" {
			t.Errorf("policy.decision = %v, want cwd %s and lease codex", dec, w.project)
		}
		t.Logf("upstream calls: %v (tool %s); model saw: %q", calls, tool, *out)
	})

	t.Run("harmless command runs and is recorded", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, "codex")
		const cmd = "echo mirror-allowed > marker.txt && cat marker.txt"
		up := newFakeResponses(t, cmd)
		r := runCodex(t, bin, w, up, "Write the marker file.")

		if b, err := os.ReadFile(filepath.Join(w.project, "marker.txt")); err != nil || string(b) != "mirror-allowed\n" {
			t.Fatalf("marker.txt = %q, %v: the allowed command did not run\nstdout:\n%s\nstderr:\n%s", b, err, r.stdout, r.stderr)
		}
		out, _, _, calls := up.result()
		if out == nil || !strings.Contains(*out, "mirror-allowed") {
			t.Errorf("function_call_output sent to the model = %v, want the command's output", out)
		}
		w.decisionFor(t, cmd, "ALLOW")
		tr := w.resultFor(t)
		if tr["event"] != "PostToolUse" || tr["result_sha256"] == "" {
			t.Errorf("tool.result = %v, want a PostToolUse entry with a result hash", tr)
		}
		if denied := w.d.get(t, "/v1/denied?agent=codex"); strings.Contains(string(denied), "BLOCK") {
			t.Errorf("/v1/denied lists a BLOCK for an allowed command: %s", denied)
		}
		t.Logf("upstream calls: %v", calls)
	})

	t.Run("kernel down fails closed", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, "codex")
		w.d.stop(t)
		const cmd = "echo should-not-run > marker.txt"
		up := newFakeResponses(t, cmd)
		r := runCodex(t, bin, w, up, "Write the marker file.")

		if _, err := os.Stat(filepath.Join(w.project, "marker.txt")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("marker.txt exists (%v): the command ran although the kernel was down\nstdout:\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
		}
		out, tool, _, calls := up.result()
		if tool == "" || out == nil {
			t.Fatalf("the model's tool call never came back (tool %q); calls %v\nstdout:\n%s\nstderr:\n%s", tool, calls, r.stdout, r.stderr)
		}
		if !strings.Contains(*out, "MirrorOS could not decide") {
			t.Errorf("function_call_output sent to the model = %q, want the fail-closed reason", *out)
		}
		t.Logf("model saw: %q", *out)
	})
}
