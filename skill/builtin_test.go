package skill

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// builtinCases holds, for each built-in skill, realistic inputs, a
// realistic model answer, and wrong answers with what must be reported.
var builtinCases = map[string]struct {
	inputs []map[string]any
	good   []string
	bad    map[string]string // answer -> expected violation text
}{
	"summarize": {
		inputs: []map[string]any{
			{"text": "The council voted 7-2 on Tuesday to expand the bike lane network by 40 km over three years."},
			{"text": "Long report ...", "max_words": 50},
		},
		good: []string{`{"summary": "The council approved a 40 km bike lane expansion over three years by a 7-2 vote.",
			"key_points": ["The vote was 7-2 on Tuesday.", "The network grows by 40 km.", "The work spans three years."]}`},
		bad: map[string]string{
			`{"summary": "ok"}`:                                     `$: missing required property "key_points"`,
			`{"summary": "", "key_points": ["a"]}`:                  "$.summary: must not be empty",
			`{"summary": "s", "key_points": "a, b"}`:                "$.key_points: expected array, got string",
			`{"summary": "s", "key_points": ["a", 2]}`:              "$.key_points[1]: expected string",
			`{"summary": "s", "key_points": ["a"], "title": "x"}`:   `unexpected property "title"`,
			`{"summary": "s", "key_points": []}`:                    "$.key_points: has 0 items, fewer than the minimum 1",
			`["The council approved a bike lane expansion."]`:       "$: expected object, got array",
			`{"summary": "s", "key_points": ["a"], "summary2": ""}`: `unexpected property "summary2"`,
		},
	},
	"extract-claims": {
		inputs: []map[string]any{
			{"text": "Acme was founded in 1998 by Ada Lovelace. It reportedly employs 500 people."},
			{"text": "Water boils at 100 °C at sea level.", "source": "https://example.com/physics"},
		},
		good: []string{
			`{"claims": [
				{"statement": "Acme was founded in 1998.", "span": {"start": 0, "end": 41}, "confidence": 1},
				{"statement": "Acme was founded by Ada Lovelace.", "span": {"start": 0, "end": 41}, "confidence": 1},
				{"statement": "Acme employs about 500 people.", "span": {"start": 42, "end": 76}, "confidence": 0.6}]}`,
			`{"claims": []}`,
		},
		bad: map[string]string{
			`{"claims": [{"statement": "x", "span": {"start": 0, "end": 4}, "confidence": 1.2}]}`: "$.claims[0].confidence: 1.2 is greater than the maximum 1",
			`{"claims": [{"statement": "x", "span": [0, 4], "confidence": 1}]}`:                   "$.claims[0].span: expected object, got array",
			`{"claims": [{"statement": "x", "span": {"start": -1, "end": 4}, "confidence": 1}]}`:  "$.claims[0].span.start: -1 is less than the minimum 0",
			`{"claims": [{"statement": "x", "confidence": 1}]}`:                                   `$.claims[0]: missing required property "span"`,
			`{"claims": [{"statement": "", "span": {"start": 0, "end": 1.5}, "confidence": 1}]}`:  "$.claims[0].span.end: expected integer, got number 1.5",
			`{"claims": "none"}`: "$.claims: expected array",
		},
	},
	"classify": {
		inputs: []map[string]any{
			{"text": "My order arrived broken and support never answered.", "labels": []string{"complaint", "praise", "question"}},
		},
		good: []string{`{"label": "complaint", "confidence": 0.93, "rationale": "The customer reports a broken order and unanswered support requests."}`},
		bad: map[string]string{
			`{"label": "complaint", "confidence": "high", "rationale": "r"}`: "$.confidence: expected number, got string",
			`{"label": "complaint", "confidence": 93, "rationale": "r"}`:     "$.confidence: 93 is greater than the maximum 1",
			`{"label": "complaint", "confidence": 0.9}`:                      `missing required property "rationale"`,
			`{"labels": ["complaint"], "confidence": 0.9, "rationale": "r"}`: `missing required property "label"`,
		},
	},
	"translate": {
		inputs: []map[string]any{
			{"text": "Bonjour, comment allez-vous ?", "target_language": "English"},
			{"text": "Press {key} to continue.", "target_language": "de"},
		},
		good: []string{`{"translation": "Hello, how are you?", "source_language": "French"}`},
		bad: map[string]string{
			`{"translation": "Hello, how are you?"}`:                          `missing required property "source_language"`,
			`{"translation": "Hello", "source_language": "fr", "notes": "x"}`: `unexpected property "notes"`,
			`{"translation": ["Hello"], "source_language": "French"}`:         "$.translation: expected string, got array",
		},
	},
	"code-review": {
		inputs: []map[string]any{
			{"code": "func div(a, b int) int {\n\treturn a / b\n}\n", "language": "Go", "focus": "error handling"},
			{"code": "print(open(path).read())"},
		},
		good: []string{
			`{"findings": [{"severity": "error", "line": 2, "message": "Division by zero panics when b is 0.",
				"suggestion": "Return an error when b == 0."}], "summary": "Small function; it does not guard against a zero divisor."}`,
			`{"findings": [], "summary": "The code is correct and clear."}`,
		},
		bad: map[string]string{
			`{"findings": [{"severity": "critical", "line": 2, "message": "m", "suggestion": ""}], "summary": "s"}`: `$.findings[0].severity: "critical" is not one of the allowed values: "info", "warning", "error"`,
			`{"findings": [{"severity": "error", "line": "2", "message": "m", "suggestion": ""}], "summary": "s"}`:  `$.findings[0].line: expected integer, got string "2"`,
			`{"findings": [{"severity": "info", "line": 1, "message": "m"}], "summary": "s"}`:                       `$.findings[0]: missing required property "suggestion"`,
			`{"findings": [], "summary": ""}`: "$.summary: must not be empty",
			`{"summary": "fine"}`:             `missing required property "findings"`,
		},
	},
}

func TestBuiltins(t *testing.T) {
	names := BuiltinNames()
	if want := []string{"classify", "code-review", "extract-claims", "summarize", "translate"}; !slices.Equal(names, want) {
		t.Fatalf("BuiltinNames = %v, want %v", names, want)
	}
	e := newEnv(t)
	r := e.open(t, LoadOptions{})
	skills, err := InstallBuiltins(r, e.skey)
	if err != nil {
		t.Fatal(err)
	}
	if len(skills) != len(names) {
		t.Fatalf("installed %d skills", len(skills))
	}
	for i, s := range skills {
		if s.Name != names[i] || s.Signer != "publisher" || s.Unsigned {
			t.Errorf("skill %d = %s signed by %q (unsigned %v)", i, s.ID(), s.Signer, s.Unsigned)
		}
		if s.Risk != RiskLow || !slices.Equal(s.Scopes, []string{"model:chat:*"}) || s.Verify.Strategy != VerifySchema || len(s.Keywords) < 5 {
			t.Errorf("%s: risk %s scopes %v verify %s keywords %v", s.Name, s.Risk, s.Scopes, s.Verify.Strategy, s.Keywords)
		}
	}

	// Idempotent: nothing on disk changes the second time.
	before := snapshot(t, e.skills)
	again, err := InstallBuiltins(r, e.skey)
	if err != nil {
		t.Fatal(err)
	}
	for i := range again {
		if again[i].Digest != skills[i].Digest {
			t.Errorf("%s: digest changed on reinstall", again[i].Name)
		}
	}
	if after := snapshot(t, e.skills); !slices.Equal(before, after) {
		t.Errorf("reinstall changed files:\n%v\n%v", before, after)
	}
	if err := r.Reload(); err != nil || len(r.List()) != len(names) || len(r.Refused()) != 0 {
		t.Errorf("after Reload: %v, %d served, refused %v", err, len(r.List()), r.Refused())
	}

	for _, name := range names {
		tc, ok := builtinCases[name]
		if !ok {
			t.Errorf("no test cases for built-in %s", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			s, err := r.Get(name, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, in := range tc.inputs {
				p, err := s.Render(in)
				if err != nil {
					t.Fatalf("Render(%v): %v", in, err)
				}
				if !strings.Contains(p, "exactly one JSON object") {
					t.Errorf("prompt does not ask for exactly one JSON object:\n%s", p)
				}
				for k, v := range in {
					if k == "code" {
						continue // numbered; checked in TestBuiltinPromptDetails
					}
					if str, ok := v.(string); ok && !strings.Contains(p, str) {
						t.Errorf("prompt lacks input %q:\n%s", str, p)
					}
				}
			}
			for _, good := range tc.good {
				if _, err := s.ValidateOutputJSON([]byte(good)); err != nil {
					t.Errorf("realistic output refused: %v\n%s", err, good)
				}
			}
			for bad, want := range tc.bad {
				_, err := s.ValidateOutputJSON([]byte(bad))
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("output %s: err = %v, want %q", bad, err, want)
				}
			}
			if err := s.ValidateInput(map[string]any{}); err == nil {
				t.Error("empty input accepted")
			}
		})
	}
}

func TestBuiltinPromptDetails(t *testing.T) {
	e := newEnv(t)
	r := e.open(t, LoadOptions{})
	if _, err := InstallBuiltins(r, e.skey); err != nil {
		t.Fatal(err)
	}
	get := func(name string) *Skill {
		s, err := r.Get(name, "")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	p, _ := get("summarize").Render(map[string]any{"text": "t", "max_words": 42})
	if !strings.Contains(p, "at most 42 words") || strings.Contains(p, "150 words") {
		t.Errorf("summarize max_words not used:\n%s", p)
	}
	p, _ = get("code-review").Render(map[string]any{"code": "a := 1\nb := 2\n", "language": "Go", "focus": "naming"})
	if !strings.Contains(p, "1 | a := 1\n2 | b := 2\n</code>") || !strings.Contains(p, "experienced Go code reviewer") || !strings.Contains(p, "Focus on: naming.") {
		t.Errorf("code-review prompt:\n%s", p)
	}
	p, _ = get("code-review").Render(map[string]any{"code": "x"})
	if strings.Contains(p, "Focus on") || !strings.Contains(p, "experienced code reviewer") {
		t.Errorf("code-review prompt without options:\n%s", p)
	}
	p, _ = get("classify").Render(map[string]any{"text": "t", "labels": []any{"bug", `say "hi"`}})
	if !strings.Contains(p, "- \"bug\"\n- \"say \\\"hi\\\"\"\n") {
		t.Errorf("classify labels:\n%s", p)
	}
	p, _ = get("translate").Render(map[string]any{"text": "t", "target_language": "German"})
	if !strings.Contains(p, "{{var}}") || !strings.Contains(p, "into German") {
		t.Errorf("translate prompt:\n%s", p)
	}
	if _, err := get("classify").Render(map[string]any{"text": "t", "labels": []any{}}); err == nil {
		t.Error("classify accepted no labels")
	}
}

func TestInstallBuiltinsUntrustedKey(t *testing.T) {
	e := newEnv(t)
	r := e.open(t, LoadOptions{})
	other, _ := newKey(t, "other")
	_, err := InstallBuiltins(r, other)
	wantTrust(t, err, TrustUntrusted)
	if !strings.Contains(err.Error(), "install built-in skill classify") {
		t.Errorf("err = %v", err)
	}
	if _, err := InstallBuiltins(r, "junk"); err == nil {
		t.Error("installed with a malformed key")
	}
}

// snapshot lists every file under dir with its content, for comparison.
func snapshot(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		b, _ := json.Marshal([]any{path, fi.ModTime().UnixNano(), string(data)})
		out = append(out, string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
