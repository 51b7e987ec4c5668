package main

// Helpers for the end-to-end tests: they build the mirror binary once per
// test run and drive it as a subprocess, the way an owner would.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildDir  string // removed by TestMain
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// mirrorBin builds the binary on first use and returns its path.
func mirrorBin(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "mirror-e2e-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "mirror")
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		cmd := exec.Command(goTool, "build", "-o", binPath, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// cleanEnv is the test process environment without MIRROR_* variables, so
// that a developer's own settings never leak into the tests, plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "MIRROR_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

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

// daemon is a `mirror up` subprocess.
type daemon struct {
	dataDir string
	addr    string // host:port it really listens on
	token   string // the owner token from DATA_DIR/owner.token
	cmd     *exec.Cmd
	stderr  *safeBuffer
	stdout  *safeBuffer

	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done
}

var upLine = regexp.MustCompile(`msg="mirror is up" addr=([^\s]+)`)

// startDaemon runs `mirror up --addr 127.0.0.1:0` on dataDir and waits for
// its "mirror is up" line. The process is killed at the end of the test if
// it is still running.
func startDaemon(t testing.TB, dataDir string, env ...string) *daemon {
	t.Helper()
	bin := mirrorBin(t)
	d := &daemon{dataDir: dataDir, stderr: &safeBuffer{}, stdout: &safeBuffer{}, done: make(chan struct{})}
	d.cmd = exec.Command(bin, "--data-dir", dataDir, "up", "--addr", "127.0.0.1:0")
	d.cmd.Env = cleanEnv(env...)
	d.cmd.Stderr = d.stderr
	d.cmd.Stdout = d.stdout
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start mirror up: %v", err)
	}
	go func() {
		d.waitErr = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		if !d.exited() {
			d.cmd.Process.Kill()
			select {
			case <-d.done:
			case <-time.After(15 * time.Second):
				t.Errorf("mirror up (pid %d) did not exit after SIGKILL", d.cmd.Process.Pid)
			}
		}
		if t.Failed() {
			t.Logf("daemon stderr (%s):\n%s", dataDir, d.stderr.String())
		}
	})

	deadline := time.Now().Add(15 * time.Second)
	for {
		if m := upLine.FindStringSubmatch(d.stderr.String()); m != nil {
			d.addr = m[1]
			break
		}
		if d.exited() {
			t.Fatalf("mirror up exited before it was up (%v); stderr:\n%s", d.waitErr, d.stderr.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("mirror up did not log \"mirror is up\" within 15s; stderr:\n%s", d.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	raw, err := os.ReadFile(filepath.Join(dataDir, "owner.token"))
	if err != nil {
		t.Fatalf("read owner token: %v", err)
	}
	d.token = strings.TrimSpace(string(raw))
	return d
}

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

func (d *daemon) base() string { return "http://" + d.addr }

// waitExit waits up to timeout for the process to exit and returns its exit
// code (-1 if it was killed by a signal).
func (d *daemon) waitExit(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-d.done:
	case <-time.After(timeout):
		t.Fatalf("mirror up (pid %d) did not exit within %v; stderr:\n%s", d.cmd.Process.Pid, timeout, d.stderr.String())
	}
	return d.cmd.ProcessState.ExitCode()
}

// stop sends SIGTERM and waits for the exit; it returns the exit code.
func (d *daemon) stop(t testing.TB) int {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil && !d.exited() {
		t.Fatalf("SIGTERM: %v", err)
	}
	return d.waitExit(t, 15*time.Second)
}

// kill sends SIGKILL and waits for the process to be gone.
func (d *daemon) kill(t testing.TB) {
	t.Helper()
	if err := d.cmd.Process.Kill(); err != nil && !d.exited() {
		t.Fatalf("SIGKILL: %v", err)
	}
	d.waitExit(t, 15*time.Second)
}

// cliOpts tune runCLIWith.
type cliOpts struct {
	dataDir string
	addr    string   // passed as --addr unless empty
	env     []string // extra KEY=VALUE pairs
	timeout time.Duration
	stdin   string
}

// runCLI runs the mirror binary with --data-dir (and --addr when not empty)
// and returns its stdout, stderr and exit code.
func runCLI(t testing.TB, dataDir, addr string, args ...string) (string, string, int) {
	t.Helper()
	return runCLIWith(t, cliOpts{dataDir: dataDir, addr: addr}, args...)
}

func runCLIWith(t testing.TB, o cliOpts, args ...string) (string, string, int) {
	t.Helper()
	if o.timeout == 0 {
		o.timeout = 30 * time.Second
	}
	var full []string
	if o.dataDir != "" {
		full = append(full, "--data-dir", o.dataDir)
	}
	if o.addr != "" {
		full = append(full, "--addr", o.addr)
	}
	full = append(full, args...)
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, mirrorBin(t), full...)
	cmd.Env = cleanEnv(o.env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Stdin = strings.NewReader(o.stdin)
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("mirror %s: did not finish within %v; stderr:\n%s", strings.Join(args, " "), o.timeout, stderr.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("mirror %s: %v", strings.Join(args, " "), err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// httpClient is shared by the single-request helpers.
var httpClient = &http.Client{Timeout: 15 * time.Second}

// request sends one HTTP request to the daemon, with the owner token when
// auth is set, and returns the status, headers and body.
func (d *daemon) request(t testing.TB, method, path string, body []byte, auth bool) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, d.base()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, out
}

// get is an authenticated GET that must answer 200.
func (d *daemon) get(t testing.TB, path string) []byte {
	t.Helper()
	code, _, body := d.request(t, http.MethodGet, path, nil, true)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	return body
}

// eventReq is the body of POST /v1/audit/events.
type eventReq struct {
	Kind  string          `json:"kind"`
	Actor string          `json:"actor"`
	Body  json.RawMessage `json:"body,omitempty"`
}

// eventResp is its 201 answer.
type eventResp struct {
	Index    uint64 `json:"index"`
	LeafHash string `json:"leaf_hash"`
	Kind     string `json:"kind"`
	Actor    string `json:"actor"`
}

// postEventRaw posts a raw body with the given token ("" for none).
func postEventRaw(client *http.Client, base, token string, payload []byte) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, base+"/v1/audit/events", bytes.NewReader(payload))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// postEvent records an event (body nil: none) and fails the test unless it is acknowledged.
func (d *daemon) postEvent(t testing.TB, kind, actor string, body any) eventResp {
	t.Helper()
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	payload, _ := json.Marshal(eventReq{Kind: kind, Actor: actor, Body: raw})
	code, out, err := postEventRaw(httpClient, d.base(), d.token, payload)
	if err != nil {
		t.Fatalf("POST /v1/audit/events: %v", err)
	}
	if code != http.StatusCreated {
		t.Fatalf("POST /v1/audit/events: %d %s, want 201", code, out)
	}
	var r eventResp
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("POST /v1/audit/events: bad answer %q: %v", out, err)
	}
	return r
}

// decodeAPIError decodes a JSON error body {"error":{"code","message"}} and fails
// the test if it is not one.
func decodeAPIError(t testing.TB, hdr http.Header, body []byte) (code, message string) {
	t.Helper()
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error Content-Type = %q, want application/json (body %q)", ct, body)
	}
	var e struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == nil {
		t.Fatalf("not a JSON error body: %q (%v)", body, err)
	}
	if e.Error.Code == "" || e.Error.Message == "" {
		t.Errorf("error body %q lacks a code or a message", body)
	}
	return e.Error.Code, e.Error.Message
}

// leafHash is the RFC 6962 leaf hash SHA-256(0x00 || data).
func leafHash(data []byte) []byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(data)
	return h.Sum(nil)
}

func leafHashB64(data []byte) string { return base64.StdEncoding.EncodeToString(leafHash(data)) }

// status is the subset of GET /healthz and /v1/status the tests read.
type statusBody struct {
	Status         string `json:"status"`
	Reason         string `json:"reason"`
	LedgerSize     uint64 `json:"ledger_size"`
	CheckpointSize uint64 `json:"checkpoint_size"`
	Addr           string `json:"addr"`
}

func (d *daemon) status(t testing.TB) statusBody {
	t.Helper()
	var s statusBody
	if err := json.Unmarshal(d.get(t, "/v1/status"), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// checkpointSize parses the tree size out of a signed checkpoint note.
func checkpointSize(t testing.TB, note []byte) uint64 {
	t.Helper()
	lines := strings.SplitN(string(note), "\n", 3)
	if len(lines) < 3 {
		t.Fatalf("malformed checkpoint %q", note)
	}
	n, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		t.Fatalf("malformed checkpoint size in %q", note)
	}
	return n
}

// waitCheckpoint polls GET /v1/audit/checkpoint until it covers size entries
// and returns the note.
func (d *daemon) waitCheckpoint(t testing.TB, size uint64) []byte {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, _, body := d.request(t, http.MethodGet, "/v1/audit/checkpoint", nil, true)
		if code == http.StatusOK && checkpointSize(t, body) >= size {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint covering %d entries within 15s (last answer %d %q)", size, code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fileMode returns the permission bits of path.
func fileMode(t testing.TB, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
