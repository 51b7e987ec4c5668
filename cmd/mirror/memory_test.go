package main

// Tests of 'mirror memory': the argument parsers, and the commands end to
// end against a running kernel.

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

const testEvidenceID = "sha256:0007b0f46766b6ebb75ac9e8353bc2eb97924dff9d473f5e8a3044c522b37959"

func TestParseSpan(t *testing.T) {
	full := testEvidenceID
	for _, tc := range []struct {
		in         string
		id         string
		start, end int
		whole      bool
		isFull     bool
		err        string
	}{
		{in: full, id: full, whole: true, isFull: true},
		{in: full + ":0-41", id: full, start: 0, end: 41, isFull: true},
		{in: "  " + full + ":12-13 ", id: full, start: 12, end: 13, isFull: true},
		{in: strings.TrimPrefix(full, "sha256:"), id: full, whole: true, isFull: true},
		{in: "SHA256:0007B0F4", id: "sha256:0007b0f4", whole: true},
		{in: "sha256:0007b0f46766…", id: "sha256:0007b0f46766", whole: true},
		{in: "sha256:0007b0f46766…:3-9", id: "sha256:0007b0f46766", start: 3, end: 9},
		{in: "sha256:0007b0f46766...:3-9", id: "sha256:0007b0f46766", start: 3, end: 9},
		{in: "", err: "empty"},
		{in: full + ":9-3", err: "START must be less than END"},
		{in: full + ":5-5", err: "START must be less than END"},
		{in: full + ":-5", err: "START-END"},
		{in: full + ":5-", err: "START-END"},
		{in: full + ":a-b", err: "START-END"},
		{in: full + ":1-99999999999999999999", err: "out of range"},
		{in: full + ":12", err: "not an evidence id"},
		{in: "sha256:", err: "not an evidence id"},
		{in: "sha256:abc", err: "not an evidence id"},
		{in: "sha256:xyz0", err: "not an evidence id"},
		{in: "clm_0123456789abcdef", err: "not an evidence id"},
		{in: full + "00", err: "not an evidence id"},
		{in: "md5:0007b0f4", err: "not an evidence id"},
	} {
		sp, err := parseSpan(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseSpan(%q) = %+v, %v; want an error saying %q", tc.in, sp, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseSpan(%q): %v", tc.in, err)
			continue
		}
		if sp.ID != tc.id || sp.Start != tc.start || sp.End != tc.end || sp.Whole != tc.whole || sp.full() != tc.isFull {
			t.Errorf("parseSpan(%q) = %+v (full %v), want id %s [%d, %d) whole %v full %v", tc.in, sp, sp.full(), tc.id, tc.start, tc.end, tc.whole, tc.isFull)
		}
	}
}

func TestParseMemoryTime(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "", want: ""},
		{in: "  ", want: ""},
		{in: "2026-01-02", want: "2026-01-02T00:00:00Z"},
		{in: "2026-01-02T15:04:05Z", want: "2026-01-02T15:04:05Z"},
		{in: "2026-01-02T15:04:05.25Z", want: "2026-01-02T15:04:05.25Z"},
		{in: "2026-01-02T15:04:05+02:00", want: "2026-01-02T13:04:05Z"},
		{in: "2026-01-02T01:00:00-03:00", want: "2026-01-02T04:00:00Z"},
		{in: "2026-01-02 15:04:05", err: "RFC 3339"},
		{in: "2026-13-02", err: "RFC 3339"},
		{in: "02/01/2026", err: "RFC 3339"},
		{in: "yesterday", err: "a date (2026-01-02, UTC midnight)"},
		{in: "1767312000", err: "RFC 3339"},
	} {
		got, err := parseMemoryTime("--valid-at", tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "--valid-at") {
				t.Errorf("parseMemoryTime(%q) = %q, %v; want an error naming --valid-at and saying %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseMemoryTime(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestMemoryCanonRange(t *testing.T) {
	for _, tc := range []struct {
		in       string
		from, to uint64
		err      bool
	}{
		{in: ""},
		{in: "2..5", from: 2, to: 5},
		{in: "0..5", from: 0, to: 5},
		{in: "3..", from: 3},
		{in: "..4", to: 4},
		{in: "4", from: 3, to: 4},
		{in: "1", from: 0, to: 1},
		{in: "0", err: true},
		{in: "5..2", err: true},
		{in: "1..0", err: true},
		{in: "a..b", err: true},
		{in: "-1..2", err: true},
		{in: "1...2", err: true},
	} {
		from, to, err := parseCanonRange(tc.in)
		if tc.err {
			if err == nil {
				t.Errorf("parseCanonRange(%q) = %d, %d; want an error", tc.in, from, to)
			}
			continue
		}
		if err != nil || from != tc.from || to != tc.to {
			t.Errorf("parseCanonRange(%q) = %d, %d, %v; want %d, %d", tc.in, from, to, err, tc.from, tc.to)
		}
	}
}

func TestMemoryShortIDs(t *testing.T) {
	if got := memShort(testEvidenceID); got != "sha256:0007b0f46766…" {
		t.Errorf("memShort = %q", got)
	}
	if got := memShort("clm_0123456789abcdef"); got != "clm_0123456789abcdef" {
		t.Errorf("memShort(claim) = %q", got)
	}
	// What the listings print is accepted back as an id.
	sp, err := parseSpan(memShort(testEvidenceID))
	if err != nil || !strings.HasPrefix(testEvidenceID, sp.ID) {
		t.Errorf("parseSpan(memShort(id)) = %+v, %v", sp, err)
	}
}

var (
	newEvidenceLine = regexp.MustCompile(`(?m)^new evidence (sha256:[0-9a-f]{64}) \((\w+), (\d+) bytes`)
	newClaimLine    = regexp.MustCompile(`(?m)^new claim (clm_[0-9a-f]+), status (\w+)`)
)

// TestE2EMemory drives the memory commands against a kernel: two pieces of
// evidence saying the same thing promote a claim into the canon, a
// contradicting claim demotes it, the history and the canon diff show it,
// verify passes, then finds a statement changed behind the kernel's back.
func TestE2EMemory(t *testing.T) {
	t.Parallel()
	dir := newDataDir(t)
	d := startDaemon(t, dir)
	work := t.TempDir()
	mem := func(args ...string) (string, string, int) {
		t.Helper()
		return runCLI(t, dir, d.addr, append([]string{"memory"}, args...)...)
	}
	must := func(args ...string) string {
		t.Helper()
		out, errOut, code := mem(args...)
		if code != 0 {
			t.Fatalf("mirror memory %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(work, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a.txt", "Standup notes: Alice prefers dark mode in every editor.\n")
	b := write("b.txt", "From Bob's email: Alice prefers dark mode.\n")
	c := write("c.txt", "Alice switched her editors over: she now prefers light mode.\n")

	// Evidence: new, then the same bytes again.
	out := must("add", a)
	m := newEvidenceLine.FindStringSubmatch(out)
	if m == nil || m[2] != "text" {
		t.Fatalf("add a.txt: no \"new evidence … (text, …)\" line:\n%s", out)
	}
	e1 := m[1]
	if out := must("add", a); !strings.Contains(out, e1) || !strings.Contains(out, "already stored") {
		t.Errorf("adding a.txt again does not say it was already stored:\n%s", out)
	}
	e2 := strings.TrimSpace(must("add", b, "--id-only"))
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(e2) || e2 == e1 {
		t.Fatalf("add --id-only printed %q", e2)
	}
	// The source defaults to the absolute path.
	if out := must("show", e2); !strings.Contains(out, "source      "+b) || !strings.Contains(out, "From Bob's email") {
		t.Errorf("show %s lacks the source %s or the content:\n%s", e2, b, out)
	}
	// Binary content from standard input is stored as a file.
	out, errOut, code := runCLIWith(t, cliOpts{dataDir: dir, addr: d.addr, stdin: "\x00\x01\xfe\xffbinary"}, "memory", "add", "-", "--source", "stdin-test")
	if m := newEvidenceLine.FindStringSubmatch(out); code != 0 || m == nil || m[2] != "file" || m[3] != "10" {
		t.Errorf("add - with binary content: exit %d, want a new file of 10 bytes\n%s%s", code, out, errOut)
	}

	// A claim citing a.txt (by a shortened id, as the listings print it),
	// then the same statement citing b.txt: corroborated, promoted.
	stmt := "Alice prefers dark mode"
	out = must("claim", stmt, "--evidence", memShort(e1), "--kind", "preference", "--subject", "Alice")
	m = newClaimLine.FindStringSubmatch(out)
	if m == nil || m[2] != "candidate" || !strings.Contains(out, "canon unchanged") {
		t.Fatalf("first claim: want a new candidate and the canon unchanged:\n%s", out)
	}
	c1 := m[1]
	span := len("From Bob's email: Alice prefers dark mode")
	out = must("claim", "alice prefers  dark mode.", "--evidence", e2+":18-"+strconv.Itoa(span), "--kind", "preference", "--subject", "Alice")
	for _, want := range []string{"corroborated claim " + c1, "status canon", "2 pieces of evidence", "promoted into the canon", "canon version 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("second claim: output lacks %q:\n%s", want, out)
		}
	}

	out = must("search", "dark", "mode")
	if !strings.Contains(out, "1. claim "+c1+" [canon, preference, score") || !strings.Contains(out, stmt) ||
		!strings.Contains(out, memShort(e1)) || !strings.Contains(out, memShort(e2)) {
		t.Errorf("search \"dark mode\" does not find %s with its evidence:\n%s", c1, out)
	}
	var sr struct {
		Results []struct{ Type, ID string } `json:"results"`
	}
	if err := json.Unmarshal([]byte(must("search", "dark mode", "--json")), &sr); err != nil || len(sr.Results) != 1 || sr.Results[0].ID != c1 {
		t.Errorf("search --json: %+v, %v", sr, err)
	}
	if out := must("search", "dark mode", "--as-of", "2000-01-01"); !strings.Contains(out, "nothing found") {
		t.Errorf("search as of 2000 finds something:\n%s", out)
	}
	out = must("canon")
	if !strings.Contains(out, "canon version 1, 1 claim, hash sha256:") || !strings.Contains(out, c1) || !strings.Contains(out, stmt) {
		t.Errorf("canon does not list %s in version 1:\n%s", c1, out)
	}

	// A contradicting claim demotes it.
	e3 := strings.TrimSpace(must("add", c, "--id-only"))
	out = must("claim", "Alice prefers light mode", "--evidence", e3, "--kind", "preference", "--subject", "Alice", "--contradicts", c1)
	m = newClaimLine.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "demoted "+c1) || !strings.Contains(out, "canon version 2") {
		t.Fatalf("contradicting claim: want a new claim demoting %s in canon version 2:\n%s", c1, out)
	}
	c2 := m[1]
	out = must("canon", "--diff")
	if !strings.Contains(out, "canon version 1 → 2: 0 added, 1 removed") || !strings.Contains(out, "- "+c1) || !strings.Contains(out, "contradicted by "+c2) {
		t.Errorf("canon --diff does not show %s removed:\n%s", c1, out)
	}
	if out := must("canon", "--diff", "0..1"); !strings.Contains(out, "+ "+c1) {
		t.Errorf("canon --diff 0..1 does not show %s added:\n%s", c1, out)
	}
	if out := must("canon"); !strings.Contains(out, "canon version 2, 0 claims") || strings.Contains(out, c1) {
		t.Errorf("canon after the demotion:\n%s", out)
	}

	out = must("history", c1)
	if !strings.Contains(out, "status      demoted") || !strings.Contains(out, "contradicted by "+c2) {
		t.Errorf("history %s: the claim is not shown demoted:\n%s", c1, out)
	}
	last := -1
	for _, kind := range []string{"created", "corroborated", "promoted", "demoted"} {
		i := regexp.MustCompile(`(?m)^` + kind + `\s+\d{4}-`).FindStringIndex(out)
		if i == nil {
			t.Errorf("history %s has no %s event:\n%s", c1, kind, out)
			continue
		}
		if i[0] < last {
			t.Errorf("history %s: %s is out of order:\n%s", c1, kind, out)
		}
		last = i[0]
	}
	if !regexp.MustCompile(`(?m)^promoted\s+\S+\s+memory/corroboration\s+-\s+1\s`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^demoted\s+\S+\s+lease/lse_root\s+`+c2+`\s+2\s`).MatchString(out) {
		t.Errorf("history %s: the promotion and demotion do not name who, the related claim and the canon version:\n%s", c1, out)
	}
	if out := must("claims", "--status", "candidate"); !strings.Contains(out, c2) || strings.Contains(out, c1) {
		t.Errorf("claims --status candidate:\n%s", out)
	}

	// Bad arguments are refused with a reason, before reaching the kernel.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"claim", "x"}, "--evidence"},
		{[]string{"claim", "x", "--evidence", e1 + ":9-3"}, "START must be less than END"},
		{[]string{"claim", "x", "--evidence", e1, "--valid-at", "tomorrow"}, "RFC 3339"},
		{[]string{"claims", "--status", "maybe"}, "not one of candidate, canon, demoted"},
		{[]string{"history", e1}, "not a claim id"},
		{[]string{"redact", e1}, "--reason is required"},
	} {
		if _, errOut, code := mem(tc.args...); code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("mirror memory %s: exit %d, want an error saying %q; stderr: %s", strings.Join(tc.args, " "), code, tc.want, errOut)
		}
	}

	if out, errOut, code := mem("verify"); code != 0 || !strings.Contains(out, "ok: memory matches its ledger") {
		t.Fatalf("verify: exit %d, want 0\n%s%s", code, out, errOut)
	}

	// Export, as JSON Lines, to a private file.
	exp := filepath.Join(work, "memory.jsonl")
	if _, errOut, code := mem("export", "-o", exp); code != 0 || !strings.Contains(errOut, "4 pieces of evidence, 2 claims and 2 canon versions") {
		t.Fatalf("export: exit %d\n%s", code, errOut)
	}
	if mode := fileMode(t, exp); mode != 0o600 {
		t.Errorf("export file mode %v, want 0600", mode)
	}
	types := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, exp)))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var rec struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("export line %q is not JSON: %v", sc.Text(), err)
		}
		types[rec.Type]++
	}
	if types["evidence"] != 4 || types["claim"] != 2 || types["canon"] != 2 || len(types) != 3 {
		t.Errorf("export holds %v, want 4 evidence, 2 claims, 2 canon versions", types)
	}

	// A statement changed behind the kernel's back is found.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "mirror.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.Exec(`UPDATE memory_claims SET statement = ? WHERE id = ?`, "Alice prefers light mode", c1)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("tampering changed %d rows, want 1", n)
	}
	db.Close()
	out, errOut, code = mem("verify")
	if code != 1 {
		t.Fatalf("verify after tampering: exit %d, want 1\n%s%s", code, out, errOut)
	}
	if !regexp.MustCompile(`(?m)^memory_claims\s+`+c1+`\s+`).MatchString(out) || !strings.Contains(errOut, "FAILED") {
		t.Errorf("verify after tampering does not name %s:\nstdout: %s\nstderr: %s", c1, out, errOut)
	}
	if strings.Contains(out, c2) {
		t.Errorf("verify after tampering names the untouched %s:\n%s", c2, out)
	}
	if out, _, code := mem("verify", "--json"); code != 1 || !strings.Contains(out, `"ok": false`) {
		t.Errorf("verify --json after tampering: exit %d\n%s", code, out)
	}
}
