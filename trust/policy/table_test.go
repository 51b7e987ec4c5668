package policy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDecisionsGolden runs the decision tables in testdata/decisions over
// the default pack, and checks that together they exercise every rule in it.
func TestDecisionsGolden(t *testing.T) {
	e := mustLoad(t, nil, true)
	files, err := filepath.Glob("testdata/decisions/*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no decision tables: %v", err)
	}
	decided := map[string]bool{}
	total := 0
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			res, err := RunTable(e, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range res.Cases {
				if c.Failed {
					t.Errorf("%s:%d %q: %s", file, c.Line, c.Name, c.Problem)
				}
				for _, r := range c.Decision.Reasons {
					decided[r.Policy] = true
				}
			}
			total += len(res.Cases)
		})
	}
	if total < 60 {
		t.Errorf("only %d golden cases; keep at least 60", total)
	}
	for _, p := range e.Policies() {
		if !decided[p.ID] {
			t.Errorf("no golden case is decided by %s (%s:%d)", p.ID, p.File, p.Line)
		}
	}
}

func TestRunTableRejectsMalformedLines(t *testing.T) {
	e := mustLoad(t, nil, true)
	tests := []struct {
		name, table, wantErr string
	}{
		{"unknown field", `{"name":"x","request":{"action":"tool:Bash"},"expcet":"ALLOW"}`, `line 1: json: unknown field "expcet"`},
		{"bad effect", "\n" + `{"request":{"action":"tool:Bash"},"expect":"MAYBE"}`, `line 2: expect must be ALLOW, ASK or BLOCK, not "MAYBE"`},
		{"missing effect", `{"request":{"action":"tool:Bash"}}`, `line 1: expect must be ALLOW, ASK or BLOCK, not ""`},
		{"not json", `# comment` + "\n" + `name=x`, `line 2: invalid character`},
		{"two values", `{"request":{"action":"a"},"expect":"ALLOW"} {}`, `line 1: more than one JSON value`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RunTable(e, strings.NewReader(tt.table))
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want prefix %q", err, tt.wantErr)
			}
		})
	}
}

func TestRunTableReportsFailures(t *testing.T) {
	e := mustLoad(t, nil, true)
	table := `
# a passing case, a wrong effect, a wrong policy, a lowercase effect
{"name":"ok","request":{"action":"tool:Bash","context":{"risk":0}},"expect":"ALLOW"}
{"name":"wrong effect","request":{"action":"tool:Bash","context":{"risk":4}},"expect":"ALLOW"}
{"name":"wrong policy","request":{"action":"tool:Bash","context":{"risk":4}},"expect":"BLOCK","expect_policy":"default.block-force-push"}
{"name":"lowercase","request":{"action":"tool:Bash","context":{"risk":2}},"expect":"ask"}
{"request":{"action":"tool:Bash","principal":{"name":"p","scopes":[]}},"expect":"BLOCK","expect_policy":"scope"}
`
	res, err := RunTable(e, strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	if res.Passed != 3 || res.Failed != 2 || len(res.Cases) != 5 {
		t.Fatalf("passed %d failed %d cases %d; want 3, 2, 5:\n%s", res.Passed, res.Failed, len(res.Cases), res)
	}
	want := []string{
		`want ALLOW, got BLOCK (default.block-critical-risk)`,
		`BLOCK as expected, but by default.block-critical-risk, not default.block-force-push`,
	}
	var got []string
	for _, c := range res.Cases {
		if c.Failed {
			got = append(got, c.Problem)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems = %q, want %q", got, want)
	}
	if res.Cases[1].Line != 4 || res.Cases[4].Name != "line 7" {
		t.Errorf("line numbers/names wrong: %+v", res.Cases)
	}
	if s := res.String(); !strings.Contains(s, `FAIL line 4 "wrong effect"`) || !strings.HasSuffix(s, "3 passed, 2 failed\n") {
		t.Errorf("String() = %q", s)
	}
}

func mustLoad(t testing.TB, files map[string]string, withDefaults bool) *Engine {
	t.Helper()
	e, err := LoadSources(files, withDefaults)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestExamples loads the examples from docs/POLICIES.md beside the default
// pack and checks they do what the documentation says.
func TestExamples(t *testing.T) {
	t.Setenv("TZ", "UTC")
	old := time.Local
	time.Local = time.UTC
	t.Cleanup(func() { time.Local = old })

	text, err := os.ReadFile("testdata/examples/examples.cedar")
	if err != nil {
		t.Fatal(err)
	}
	e := mustLoad(t, map[string]string{"examples.cedar": string(text)}, true)
	f, err := os.Open("testdata/examples/examples.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := RunTable(e, f)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cases {
		if c.Failed {
			t.Errorf("examples.jsonl:%d %q: %s", c.Line, c.Name, c.Problem)
		}
	}
	for _, p := range e.Policies() {
		if p.File != "examples.cedar" {
			continue
		}
		if !slices.ContainsFunc(res.Cases, func(c CaseResult) bool { return c.WantPolicy == p.ID && !c.Failed }) {
			t.Errorf("example %s has no passing case that names it", p.ID)
		}
	}
}
