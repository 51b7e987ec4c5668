package main

// End-to-end tests: the built mirror binary as a subprocess, talked to over
// HTTP and through its own CLI.

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mirroros/mirror/skill"
	"github.com/mirroros/mirror/trace/ledger"
	"golang.org/x/mod/sumdb/note"
	_ "modernc.org/sqlite"
)

var verifyOK = regexp.MustCompile(`(?m)^ok: (\d+) entries, root `)

// verifyCount runs `mirror audit verify` with extra arguments, requires exit
// 0 and returns the entry count it reports.
func verifyCount(t *testing.T, dataDir string, args ...string) uint64 {
	t.Helper()
	out, errOut, code := runCLI(t, dataDir, "", append([]string{"audit", "verify"}, args...)...)
	if code != 0 {
		t.Fatalf("mirror audit verify %v: exit %d, want 0\nstdout: %s\nstderr: %s", args, code, out, errOut)
	}
	m := verifyOK.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("mirror audit verify %v: no \"ok: N entries\" line in %q", args, out)
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

func newDataDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "data")
}

// TestE2EFirstUpInitialises: `mirror up` on an empty data directory sets it
// up, prints the owner token once, keeps secrets private; `mirror init`
// afterwards changes nothing.
// kernelEntriesAtStart is what a first start records before anything else:
// kernel.init, kernel.start, policy.load, and one skill.install for each
// built-in skill.
var kernelEntriesAtStart = 3 + len(skill.BuiltinNames())

func TestE2EFirstUpInitialises(t *testing.T) {
	t.Parallel()
	dir := newDataDir(t) // does not exist yet
	d := startDaemon(t, dir)

	tok := strings.TrimSpace(string(readFile(t, filepath.Join(dir, "owner.token"))))
	if !strings.HasPrefix(tok, "mos_") {
		t.Errorf("owner.token holds %q, want a mos_ token", tok)
	}
	if n := strings.Count(d.stderr.String(), tok); n != 1 {
		t.Errorf("the owner token appears %d times on stderr, want exactly once:\n%s", n, d.stderr.String())
	}
	if d.stdout.String() != "" {
		t.Errorf("mirror up wrote to stdout: %q", d.stdout.String())
	}
	for _, f := range []string{"owner.token", "ledger.key", "mirror.db", "config.toml"} {
		if m := fileMode(t, filepath.Join(dir, f)); m != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, m)
		}
	}
	if m := fileMode(t, dir); m&0o077 != 0 {
		t.Errorf("data dir has mode %v, want no group/other access", m)
	}
	// SQLite's side files hold entry data too.
	for _, f := range []string{"mirror.db-wal", "mirror.db-shm"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err == nil && fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v, want no group/other access", f, fi.Mode().Perm())
		}
	}
	// The token works.
	d.postEvent(t, "test.first", "e2e", map[string]any{"n": 1})

	if code := d.stop(t); code != 0 {
		t.Fatalf("mirror up exit %d after SIGTERM, want 0; stderr:\n%s", code, d.stderr.String())
	}

	before := map[string][]byte{}
	for _, f := range []string{"owner.token", "ledger.key", "ledger.pub", "config.toml"} {
		before[f] = readFile(t, filepath.Join(dir, f))
	}
	sizeBefore := verifyCount(t, dir)
	if want := uint64(kernelEntriesAtStart + 2); sizeBefore != want { // the start's entries, the event, kernel.stop
		t.Errorf("verify reports %d entries, want %d", sizeBefore, want)
	}

	out, errOut, code := runCLI(t, dir, "", "init")
	if code != 0 {
		t.Fatalf("mirror init on an initialised dir: exit %d, want 0\nstderr: %s", code, errOut)
	}
	if !strings.Contains(out+errOut, "already initialised") {
		t.Errorf("mirror init does not say the dir is already initialised:\nstdout: %s\nstderr: %s", out, errOut)
	}
	if strings.Contains(out+errOut, tok) {
		t.Errorf("mirror init on an initialised dir prints the owner token again")
	}
	for f, b := range before {
		if now := readFile(t, filepath.Join(dir, f)); !bytes.Equal(now, b) {
			t.Errorf("mirror init changed %s:\nbefore %q\nafter  %q", f, b, now)
		}
	}
	if n := verifyCount(t, dir); n != sizeBefore {
		t.Errorf("mirror init changed the ledger: %d entries, was %d", n, sizeBefore)
	}

	// A second start does not initialise again nor print the token.
	d2 := startDaemon(t, dir)
	if d2.token != tok {
		t.Errorf("owner.token changed on restart")
	}
	if strings.Contains(d2.stderr.String(), tok) || strings.Contains(d2.stderr.String(), "Initialised") {
		t.Errorf("second mirror up prints the token or initialises again:\n%s", d2.stderr.String())
	}
	// SIGINT stops it as gracefully as SIGTERM.
	if err := d2.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := d2.waitExit(t, 15*time.Second); code != 0 {
		t.Fatalf("second mirror up exit %d after SIGINT, want 0", code)
	}
	if n := verifyCount(t, dir); n != sizeBefore+3 { // kernel.start, policy.load, kernel.stop
		t.Errorf("after a restart and SIGINT: %d entries, want %d", n, sizeBefore+3)
	}
}

// TestE2EInitCommand: `mirror init` on a fresh directory prints the token
// once and writes the same token to owner.token.
func TestE2EInitCommand(t *testing.T) {
	t.Parallel()
	dir := newDataDir(t)
	out, errOut, code := runCLI(t, dir, "", "init", "--name", "e2e")
	if code != 0 {
		t.Fatalf("mirror init: exit %d\nstderr: %s", code, errOut)
	}
	tok := strings.TrimSpace(string(readFile(t, filepath.Join(dir, "owner.token"))))
	if n := strings.Count(out+errOut, tok); n != 1 {
		t.Errorf("mirror init prints the owner token %d times, want once:\n%s%s", n, out, errOut)
	}
	if !strings.Contains(string(readFile(t, filepath.Join(dir, "ledger.pub"))), "mirroros/e2e+") {
		t.Errorf("ledger.pub does not name the log mirroros/e2e: %s", readFile(t, filepath.Join(dir, "ledger.pub")))
	}
	for _, f := range []string{"owner.token", "ledger.key", "mirror.db"} {
		if m := fileMode(t, filepath.Join(dir, f)); m != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, m)
		}
	}
	if n := verifyCount(t, dir); n != 1 { // kernel.init
		t.Errorf("a fresh log has %d entries, want 1 (kernel.init)", n)
	}
}

// TestE2EAPIErrors: every refusal is a JSON error with the right status, and
// none of them writes to the ledger.
func TestE2EAPIErrors(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, newDataDir(t))
	size0 := d.status(t).LedgerSize

	post := func(token string, payload []byte) (int, http.Header, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, d.base()+"/v1/audit/events", bytes.NewReader(payload))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		return resp.StatusCode, resp.Header, buf.Bytes()
	}
	valid := []byte(`{"kind":"test.ok","actor":"e2e","body":{"a":1}}`)
	big := []byte(`{"kind":"test.big","actor":"e2e","body":{"pad":"` + strings.Repeat("x", 70<<10) + `"}}`)
	otherToken := "mos_" + strings.Repeat("A", 43)

	cases := []struct {
		name     string
		token    string
		payload  []byte
		status   int
		code     string
		wwwAuthn bool
	}{
		{"no token", "", valid, 401, "unauthorized", true},
		{"unknown token", otherToken, valid, 401, "unauthorized", true},
		{"malformed token", "not-a-token", valid, 401, "unauthorized", true},
		{"malformed JSON", d.token, []byte(`{"kind":"test.x",`), 400, "malformed_json", false},
		{"two objects", d.token, []byte(`{"kind":"test.x"}{"kind":"test.y"}`), 400, "malformed_json", false},
		{"unknown field", d.token, []byte(`{"kind":"test.x","extra":1}`), 400, "malformed_json", false},
		{"upper-case kind", d.token, []byte(`{"kind":"UPPER","actor":"e2e"}`), 400, "invalid_event", false},
		{"no kind", d.token, []byte(`{"actor":"e2e"}`), 400, "invalid_event", false},
		{"body not an object", d.token, []byte(`{"kind":"test.x","body":[1,2]}`), 400, "invalid_event", false},
		{"body over 64 KiB", d.token, big, 413, "body_too_large", false},
	}
	for _, c := range cases {
		status, hdr, body := post(c.token, c.payload)
		if status != c.status {
			t.Errorf("%s: status %d, want %d (body %q)", c.name, status, c.status, body)
			continue
		}
		code, _ := decodeAPIError(t, hdr, body)
		if code != c.code {
			t.Errorf("%s: error code %q, want %q", c.name, code, c.code)
		}
		if c.wwwAuthn && hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", c.name)
		}
	}

	status, hdr, body := d.request(t, http.MethodGet, "/nope", nil, true)
	if status != http.StatusNotFound {
		t.Errorf("GET /nope: %d, want 404", status)
	} else if code, _ := decodeAPIError(t, hdr, body); code != "not_found" {
		t.Errorf("GET /nope: code %q, want not_found", code)
	}

	status, hdr, body = d.request(t, http.MethodDelete, "/v1/audit/events", nil, true)
	if status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE /v1/audit/events: %d, want 405", status)
	} else {
		if code, _ := decodeAPIError(t, hdr, body); code != "method_not_allowed" {
			t.Errorf("DELETE /v1/audit/events: code %q, want method_not_allowed", code)
		}
		if allow := hdr.Get("Allow"); allow != "POST" {
			t.Errorf("DELETE /v1/audit/events: Allow %q, want POST", allow)
		}
	}
	status, hdr, _ = d.request(t, http.MethodPost, "/v1/status", []byte(`{}`), true)
	if status != http.StatusMethodNotAllowed || !strings.Contains(hdr.Get("Allow"), "GET") {
		t.Errorf("POST /v1/status: %d Allow %q, want 405 with GET allowed", status, hdr.Get("Allow"))
	}

	status, hdr, body = d.request(t, http.MethodGet, "/v1/audit/entries/999999", nil, true)
	if status != http.StatusNotFound {
		t.Errorf("GET an entry beyond the log: %d, want 404", status)
	} else if code, _ := decodeAPIError(t, hdr, body); code != "not_found" {
		t.Errorf("GET an entry beyond the log: code %q, want not_found", code)
	}
	status, hdr, body = d.request(t, http.MethodGet, "/v1/audit/entries/0", nil, false)
	if status != http.StatusUnauthorized {
		t.Errorf("GET an entry without a token: %d, want 401", status)
	} else {
		decodeAPIError(t, hdr, body)
	}
	status, _, _ = d.request(t, http.MethodGet, "/healthz", nil, false)
	if status != http.StatusOK {
		t.Errorf("GET /healthz without a token: %d, want 200", status)
	}

	if got := d.status(t).LedgerSize; got != size0 {
		t.Errorf("refused requests changed the ledger size: %d, was %d", got, size0)
	}
	// And the daemon still takes a good one.
	if r := d.postEvent(t, "test.ok", "e2e", map[string]any{"a": 1}); r.Index != size0 {
		t.Errorf("index after refusals %d, want %d", r.Index, size0)
	}
}

// TestE2ELifecycle: events, the read commands, a graceful stop and offline
// verification of the data directory and of an export.
func TestE2ELifecycle(t *testing.T) {
	t.Parallel()
	dir := newDataDir(t)
	d := startDaemon(t, dir)

	// Events: acknowledged with consecutive indexes after kernel.init (0)
	// and kernel.start (1); each receipt's leaf hash is the served bytes'.
	const first = 5
	var acks []eventResp
	for i := 0; i < first; i++ {
		r := d.postEvent(t, "test.event", fmt.Sprintf("e2e-%d", i), map[string]any{"i": i, "z": "last", "a": "first"})
		if r.Kind != "event.test.event" || r.Actor != fmt.Sprintf("owner/e2e-%d", i) {
			t.Errorf("receipt kind/actor %q/%q, want event.test.event/owner/e2e-%d", r.Kind, r.Actor, i)
		}
		acks = append(acks, r)
	}
	for i, r := range acks {
		if want := uint64(kernelEntriesAtStart + i); r.Index != want {
			t.Errorf("event %d acknowledged at index %d, want %d", i, r.Index, want)
		}
		data := d.get(t, fmt.Sprintf("/v1/audit/entries/%d", r.Index))
		if got := leafHashB64(data); got != r.LeafHash {
			t.Errorf("entry %d: bytes hash to %s, receipt says %s", r.Index, got, r.LeafHash)
		}
		e, err := ledger.ParseEntry(data)
		if err != nil {
			t.Errorf("entry %d: %v", r.Index, err)
			continue
		}
		if e.Index != r.Index || e.Kind != "event.test.event" || string(e.Body) != fmt.Sprintf(`{"a":"first","i":%d,"z":"last"}`, i) {
			t.Errorf("entry %d is %s", r.Index, data)
		}
	}
	size := uint64(kernelEntriesAtStart + first)

	// status and health mention the ledger size.
	out, errOut, code := runCLI(t, dir, d.addr, "status")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d entries", size)) {
		t.Errorf("mirror status: exit %d, want 0 and %q in\n%s%s", code, fmt.Sprintf("%d entries", size), out, errOut)
	}
	out, errOut, code = runCLI(t, dir, d.addr, "health")
	if code != 0 || !strings.Contains(out, fmt.Sprintf(`"ledger_size":%d`, size)) {
		t.Errorf("mirror health: exit %d, want 0 and ledger_size %d in\n%s%s", code, size, out, errOut)
	}
	t.Run("status reports the listening address", func(t *testing.T) {
		out, _, _ := runCLI(t, dir, d.addr, "status", "--json")
		var s statusBody
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("status --json: %v: %q", err, out)
		}
		if s.Addr != d.addr {
			t.Fatalf("/v1/status reports addr %q instead of the address the kernel listens on, %q", s.Addr, d.addr)
		}
	})

	// tail -n 3: the last three entries, one line each.
	out, errOut, code = runCLI(t, dir, d.addr, "audit", "tail", "-n", "3")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if code != 0 || len(lines) != 3 {
		t.Errorf("mirror audit tail -n 3: exit %d, %d lines, want 0 and 3:\n%s%s", code, len(lines), out, errOut)
	} else {
		for i, l := range lines {
			if f := strings.Fields(l); len(f) == 0 || f[0] != strconv.FormatUint(size-3+uint64(i), 10) {
				t.Errorf("tail line %d is %q, want entry %d", i, l, size-3+uint64(i))
			}
		}
	}
	out, _, code = runCLI(t, dir, d.addr, "audit", "tail", "-n", "3", "--json")
	if want := string(d.get(t, fmt.Sprintf("/v1/audit/entries?from=%d&limit=3", size-3))); code != 0 || out != want {
		t.Errorf("mirror audit tail -n 3 --json: exit %d\n%s\nwant\n%s", code, out, want)
	}

	// show prints the exact stored bytes.
	const shown = 4
	want := d.get(t, fmt.Sprintf("/v1/audit/entries/%d", shown))
	out, errOut, code = runCLI(t, dir, d.addr, "audit", "show", strconv.Itoa(shown))
	if code != 0 || out != string(want)+"\n" {
		t.Errorf("mirror audit show %d: exit %d\n%q\nwant\n%q\n%s", shown, code, out, string(want)+"\n", errOut)
	}

	// prove, once a checkpoint covers the entry.
	d.waitCheckpoint(t, shown+1)
	out, errOut, code = runCLI(t, dir, d.addr, "audit", "prove", strconv.Itoa(shown))
	if code != 0 || !strings.Contains(out, fmt.Sprintf("entry %d is in the log", shown)) {
		t.Errorf("mirror audit prove %d: exit %d\n%s%s", shown, code, out, errOut)
	}

	// pubkey is ledger.pub.
	pub := strings.TrimSpace(string(readFile(t, filepath.Join(dir, "ledger.pub"))))
	out, _, code = runCLI(t, dir, d.addr, "audit", "pubkey")
	if code != 0 || strings.TrimSpace(out) != pub {
		t.Errorf("mirror audit pubkey: exit %d %q, want %q", code, out, pub)
	}

	// verify works beside the running kernel too.
	if n := verifyCount(t, dir); n < size {
		t.Errorf("verify beside the running kernel: %d entries, want at least %d", n, size)
	}

	// Save a checkpoint elsewhere, then write more.
	d.waitCheckpoint(t, size)
	saved, errOut, code := runCLI(t, dir, d.addr, "audit", "checkpoint")
	if code != 0 {
		t.Fatalf("mirror audit checkpoint: exit %d\n%s", code, errOut)
	}
	savedPath := filepath.Join(t.TempDir(), "saved.txt")
	if err := os.WriteFile(savedPath, []byte(saved), 0o600); err != nil {
		t.Fatal(err)
	}
	savedSize := checkpointSize(t, []byte(saved))
	const more = 3
	for i := 0; i < more; i++ {
		d.postEvent(t, "test.more", "e2e", map[string]any{"i": i})
	}
	acked := first + more

	// Graceful stop.
	if code := d.stop(t); code != 0 {
		t.Fatalf("mirror up exit %d after SIGTERM, want 0; stderr:\n%s", code, d.stderr.String())
	}
	if !strings.Contains(d.stderr.String(), "mirror stopped") {
		t.Errorf("no \"mirror stopped\" line after SIGTERM:\n%s", d.stderr.String())
	}

	// Offline verification: everything acknowledged plus the kernel's own
	// entries at start and kernel.stop.
	total := uint64(acked + kernelEntriesAtStart + 1)
	if n := verifyCount(t, dir); n != total {
		t.Errorf("verify: %d entries, want %d (%d acknowledged + %d kernel entries)", n, total, acked, kernelEntriesAtStart+1)
	}
	out, errOut, code = runCLI(t, dir, "", "audit", "verify", "--against", savedPath)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("extends the saved checkpoint at size %d", savedSize)) {
		t.Errorf("verify --against: exit %d\n%s%s", code, out, errOut)
	}

	// A saved checkpoint altered after signing is refused.
	alt := strings.SplitN(saved, "\n", 4)
	if alt[2][0] == 'A' {
		alt[2] = "B" + alt[2][1:]
	} else {
		alt[2] = "A" + alt[2][1:]
	}
	altPath := filepath.Join(t.TempDir(), "altered.txt")
	if err := os.WriteFile(altPath, []byte(strings.Join(alt, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runCLI(t, dir, "", "audit", "verify", "--against", altPath)
	if code != 1 {
		t.Errorf("verify --against an altered checkpoint: exit %d, want 1\n%s%s", code, out, errOut)
	}

	// Export: every entry, the last kernel.stop, then a checkpoint covering
	// all of them.
	exportPath := filepath.Join(t.TempDir(), "export.jsonl")
	_, errOut, code = runCLI(t, dir, "", "audit", "export", "-o", exportPath)
	if code != 0 {
		t.Fatalf("mirror audit export: exit %d\n%s", code, errOut)
	}
	exported := readFile(t, exportPath)
	stdoutExport, _, code := runCLI(t, dir, "", "audit", "export")
	if code != 0 || stdoutExport != string(exported) {
		t.Errorf("export to stdout (exit %d) differs from export -o", code)
	}
	lines = strings.Split(strings.TrimRight(string(exported), "\n"), "\n")
	entries, last := lines[:len(lines)-1], lines[len(lines)-1]
	if uint64(len(entries)) != total {
		t.Errorf("export holds %d entry lines, want %d", len(entries), total)
	}
	for i, l := range entries {
		e, err := ledger.ParseEntry([]byte(l))
		if err != nil || e.Index != uint64(i) {
			t.Errorf("export line %d: index %d, %v: %s", i, e.Index, err, l)
		}
	}
	if e, err := ledger.ParseEntry([]byte(entries[len(entries)-1])); err != nil || e.Kind != "kernel.stop" {
		t.Errorf("last exported entry is not kernel.stop: %s", entries[len(entries)-1])
	}
	var cl ledger.ExportLine
	if err := json.Unmarshal([]byte(last), &cl); err != nil || cl.Checkpoint == "" {
		t.Fatalf("last export line is not a checkpoint: %s", last)
	}
	v, err := note.NewVerifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := ledger.OpenCheckpoint([]byte(cl.Checkpoint), v)
	if err != nil {
		t.Fatalf("exported checkpoint: %v", err)
	}
	if cp.Size != uint64(len(entries)) {
		t.Errorf("final checkpoint covers %d entries, export holds %d: kernel.stop is not covered", cp.Size, len(entries))
	}

	// Offline verification of the export with the key given on the command line.
	if n := verifyCount(t, dir, "--file", exportPath, "--pubkey", pub); n != total {
		t.Errorf("verify --file: %d entries, want %d", n, total)
	}
	// One byte changed inside an entry line: it no longer verifies.
	bad := bytes.Clone(exported)
	lineStart := bytes.Index(bad, []byte(entries[3]))
	pos := lineStart + bytes.Index([]byte(entries[3]), []byte(`"actor":"`)) + len(`"actor":"`)
	bad[pos] ^= 0x01 // a letter stays a letter
	badPath := filepath.Join(t.TempDir(), "bad.jsonl")
	if err := os.WriteFile(badPath, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runCLI(t, dir, "", "audit", "verify", "--file", badPath, "--pubkey", pub)
	if code != 1 || !strings.Contains(errOut, "FAILED") {
		t.Errorf("verify --file on an altered export: exit %d, want 1 and FAILED\n%s%s", code, out, errOut)
	}
	// An export with an entry line dropped (the checkpoint kept) is refused.
	trunc := strings.Join(append(append([]string{}, entries[:len(entries)-1]...), last), "\n") + "\n"
	truncPath := filepath.Join(t.TempDir(), "truncated.jsonl")
	if err := os.WriteFile(truncPath, []byte(trunc), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runCLI(t, dir, "", "audit", "verify", "--file", truncPath, "--pubkey", pub)
	if code != 1 {
		t.Errorf("verify --file on an export missing its last entry: exit %d, want 1\n%s%s", code, out, errOut)
	}
	// A verifier key of the same name but another key does not verify it.
	_, otherPub, err := note.GenerateKey(rand.Reader, v.Name())
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runCLI(t, dir, "", "audit", "verify", "--file", exportPath, "--pubkey", otherPub)
	if code != 1 {
		t.Errorf("verify --file with another key: exit %d, want 1\n%s%s", code, out, errOut)
	}
}

// TestE2ETamperedStore: one byte changed in a stored entry is found by
// verify, and the kernel refuses to write on top of it while staying up to
// say why.
func TestE2ETamperedStore(t *testing.T) {
	t.Parallel()
	dir := newDataDir(t)
	d := startDaemon(t, dir)
	for i := 0; i < 5; i++ {
		d.postEvent(t, "test.tamper", "e2e", map[string]any{"i": i})
	}
	if code := d.stop(t); code != 0 {
		t.Fatalf("mirror up exit %d, want 0", code)
	}
	total := verifyCount(t, dir)

	dbPath := filepath.Join(dir, "mirror.db")
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	countRows := func() int64 {
		t.Helper()
		var n int64
		if err := db.QueryRow(`SELECT COUNT(*) FROM ledger_entries`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var data []byte
	if err := db.QueryRow(`SELECT data FROM ledger_entries WHERE idx = 3`).Scan(&data); err != nil {
		t.Fatal(err)
	}
	pos := bytes.Index(data, []byte(`"actor":"`)) + len(`"actor":"`)
	data[pos] ^= 0x01
	if _, err := db.Exec(`UPDATE ledger_entries SET data = ? WHERE idx = 3`, data); err != nil {
		t.Fatal(err)
	}
	rows := countRows()
	if uint64(rows) != total {
		t.Fatalf("ledger_entries has %d rows, verify said %d entries", rows, total)
	}
	db.Close()

	out, errOut, code := runCLI(t, dir, "", "audit", "verify")
	if code != 1 {
		t.Errorf("verify on a tampered store: exit %d, want 1\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "entry 3") {
		t.Errorf("verify does not name entry 3:\n%s", errOut)
	}

	// The kernel starts, degraded.
	d = startDaemon(t, dir)
	status, _, body := d.request(t, http.MethodGet, "/healthz", nil, false)
	var h statusBody
	json.Unmarshal(body, &h)
	if status != http.StatusServiceUnavailable || h.Status != "degraded" || h.Reason == "" {
		t.Errorf("/healthz on a tampered log: %d %s, want 503 degraded with a reason", status, body)
	}
	if !strings.Contains(h.Reason, "entry 3") {
		t.Errorf("/healthz reason does not name entry 3: %q", h.Reason)
	}
	payload := []byte(`{"kind":"test.after","actor":"e2e","body":{}}`)
	status, body, err = postEventRaw(httpClient, d.base(), d.token, payload)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusServiceUnavailable {
		t.Errorf("POST on a tampered log: %d %s, want 503", status, body)
	} else if code, _ := decodeAPIError(t, http.Header{"Content-Type": {"application/json"}}, body); code != "ledger_unavailable" {
		t.Errorf("POST on a tampered log: code %q, want ledger_unavailable", code)
	}
	out, _, code = runCLI(t, dir, d.addr, "health")
	if code != 1 || !strings.Contains(out, "degraded") {
		t.Errorf("mirror health on a degraded kernel: exit %d, want 1\n%s", code, out)
	}
	out, _, code = runCLI(t, dir, d.addr, "status")
	if code != 1 || !strings.Contains(out, "DEGRADED") {
		t.Errorf("mirror status on a degraded kernel: exit %d, want 1\n%s", code, out)
	}
	t.Run("degraded kernel serves reads", func(t *testing.T) {
		// `mirror up --help`: "if they disagree it keeps serving reads".
		status, _, body := d.request(t, http.MethodGet, "/v1/audit/entries/0", nil, true)
		if status != http.StatusOK {
			t.Fatalf("a degraded kernel does not serve stored entries: GET /v1/audit/entries/0 = %d %s", status, body)
		}
	})

	if code := d.stop(t); code != 0 {
		t.Errorf("degraded mirror up exit %d after SIGTERM, want 0; stderr:\n%s", code, d.stderr.String())
	}
	db, err = sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := countRows(); n != rows {
		t.Errorf("the degraded kernel wrote to the ledger: %d rows, was %d", n, rows)
	}
	if _, _, code := runCLI(t, dir, "", "audit", "verify"); code != 1 {
		t.Errorf("verify after the degraded run: exit %d, want 1", code)
	}
}

// TestE2ESecondUpFails: a data directory in use by a running kernel cannot
// be opened by a second one, and the first is unaffected.
func TestE2ESecondUpFails(t *testing.T) {
	t.Parallel()
	dir := newDataDir(t)
	d := startDaemon(t, dir)

	out, errOut, code := runCLIWith(t, cliOpts{dataDir: dir, timeout: 20e9}, "up", "--addr", "127.0.0.1:0")
	if code == 0 {
		t.Fatalf("second mirror up exit 0, want non-zero\n%s%s", out, errOut)
	}
	if !strings.Contains(errOut, "in use by another mirror process") {
		t.Errorf("second mirror up does not say why:\n%s", errOut)
	}
	if !strings.Contains(errOut, strconv.Itoa(d.cmd.Process.Pid)) {
		t.Errorf("second mirror up does not name the holder pid %d:\n%s", d.cmd.Process.Pid, errOut)
	}
	_, errOut, code = runCLIWith(t, cliOpts{dataDir: dir, timeout: 20e9}, "init")
	if code == 0 || !strings.Contains(errOut, "in use") {
		t.Errorf("mirror init on a dir in use: exit %d\n%s", code, errOut)
	}

	status, _, body := d.request(t, http.MethodGet, "/healthz", nil, false)
	if status != http.StatusOK {
		t.Errorf("first kernel unhealthy after the second start: %d %s", status, body)
	}
	d.postEvent(t, "test.still", "e2e", nil)
	if code := d.stop(t); code != 0 {
		t.Errorf("mirror up exit %d, want 0", code)
	}
	verifyCount(t, dir)
}

// TestE2EEnvironment: the client commands take MIRROR_DATA_DIR, MIRROR_ADDR
// and MIRROR_TOKEN.
func TestE2EEnvironment(t *testing.T) {
	t.Parallel()
	dir := newDataDir(t)
	d := startDaemon(t, dir)
	env := []string{"MIRROR_DATA_DIR=" + dir, "MIRROR_ADDR=" + d.addr}
	out, errOut, code := runCLIWith(t, cliOpts{env: env}, "status")
	if code != 0 || !strings.Contains(out, "status:      ok") {
		t.Errorf("status from the environment: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runCLIWith(t, cliOpts{env: append(env, "MIRROR_TOKEN="+d.token)}, "audit", "show", "0")
	if code != 0 || !strings.Contains(out, `"kind":"kernel.init"`) {
		t.Errorf("show 0 with MIRROR_TOKEN: exit %d\n%s%s", code, out, errOut)
	}
	_, errOut, code = runCLIWith(t, cliOpts{env: append(env, "MIRROR_TOKEN=mos_"+strings.Repeat("z", 43))}, "status")
	if code == 0 || !strings.Contains(errOut, "401") {
		t.Errorf("status with a wrong MIRROR_TOKEN: exit %d, want non-zero and 401\n%s", code, errOut)
	}
	// The flag wins over the environment.
	_, errOut, code = runCLIWith(t, cliOpts{env: env, addr: "127.0.0.1:1"}, "status")
	if code == 0 || !strings.Contains(errOut, "cannot reach the kernel") {
		t.Errorf("--addr does not override MIRROR_ADDR: exit %d\n%s", code, errOut)
	}
	// health: exit 1 when the kernel cannot be reached.
	_, _, code = runCLIWith(t, cliOpts{env: env, addr: "127.0.0.1:1"}, "health")
	if code != 1 {
		t.Errorf("mirror health with no kernel: exit %d, want 1", code)
	}
	// verify: exit 2 when there is nothing to check.
	_, errOut, code = runCLI(t, filepath.Join(t.TempDir(), "missing"), "", "audit", "verify")
	if code != 2 {
		t.Errorf("verify on a missing data dir: exit %d, want 2\n%s", code, errOut)
	}
	out, _, code = runCLIWith(t, cliOpts{}, "version")
	if code != 0 || !strings.HasPrefix(out, "mirror ") {
		t.Errorf("mirror version: exit %d %q", code, out)
	}
	d.stop(t)
}
