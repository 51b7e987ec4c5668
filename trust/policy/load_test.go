package policy

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLoadProblems(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string // each problem, in order, as file:line:column: message (a prefix is enough)
	}{
		{
			name:  "syntax error names file, line and column",
			files: map[string]string{"team.cedar": "permit (principal, action, resource)\nwhen { context.risk = 1 };\n"},
			want:  []string{`team.cedar:2:23: syntax error: expected "}", found "1"`},
		},
		{
			name:  "unterminated string",
			files: map[string]string{"a.cedar": "// comment\n\nforbid (principal, action, resource)\n  when { context.tier == \"cloud };\n"},
			want:  []string{`a.cedar:4:26: syntax error: literal not terminated`},
		},
		{
			name:  "missing semicolon at the end",
			files: map[string]string{"a.cedar": "permit (principal, action, resource)"},
			want:  []string{`a.cedar:1:37: syntax error: expected ";", found the end of the file`},
		},
		{
			name:  "integer literal out of range is located",
			files: map[string]string{"a.cedar": "permit (principal, action, resource)\n  when { context.risk < 99999999999999999999 };"},
			want:  []string{`a.cedar:2:25: syntax error: strconv.ParseInt: parsing "99999999999999999999": value out of range`},
		},
		{
			name: "every file's problems are reported",
			files: map[string]string{
				"a.cedar": "permit (principal, action, resource",
				"b.cedar": "@id(\"b\")\npermit (principal, action, resource) when { context.sigals.contains(\"x\") };",
			},
			want: []string{`a.cedar:1:36: syntax error`, "b.cedar:1:1: policy b: attribute `sigals` in context not found"},
		},
		{
			name: "duplicate ids across files",
			files: map[string]string{
				"a.cedar": `@id("no-push") forbid (principal, action, resource) when { context.signals.contains("publish") };`,
				"b.cedar": "\n\n@id(\"no-push\") forbid (principal, action, resource);",
			},
			want: []string{`b.cedar:3:1: duplicate policy id "no-push" (also used at a.cedar:1:1)`},
		},
		{
			name:  "duplicate of a default id points at the user's file",
			files: map[string]string{"mine.cedar": `@id("default.allow-low-risk") permit (principal, action, resource);`},
			want:  []string{`mine.cedar:1:1: duplicate policy id "default.allow-low-risk" (also used at default.cedar:`},
		},
		{
			name:  "type error",
			files: map[string]string{"a.cedar": `permit (principal, action, resource) when { context.risk == "high" };`},
			want:  []string{`a.cedar:1:1: the types Long and String are not compatible`},
		},
		{
			name:  "unknown entity type",
			files: map[string]string{"a.cedar": `permit (principal == User::"alice", action, resource);`},
			want:  []string{`a.cedar:1:1: unable to find an applicable action`, "a.cedar:1:1: unrecognized entity type `User`"},
		},
		{
			name:  "optional argument used without has",
			files: map[string]string{"a.cedar": `forbid (principal, action == Action::"tool:Bash", resource) when { context.args.command like "*terraform destroy*" };`},
			want:  []string{"a.cedar:1:1: unable to guarantee safety of access to optional attribute `args.command` in context"},
		},
		{
			name:  "undeclared argument used without has",
			files: map[string]string{"a.cedar": `forbid (principal, action, resource) when { context.args.repo == "prod" };`},
			want:  []string{"a.cedar:1:1: attribute `repo` in context not found (the attributes a policy can use are in the schema"},
		},
		{
			name:  "an action pattern is not a pattern",
			files: map[string]string{"a.cedar": `forbid (principal, action == Action::"tool:*", resource);`},
			want:  []string{`a.cedar:1:1: Action::"tool:*" is not a pattern: name one action, or a group with ` + "`action in Action::\"tool\"`"},
		},
		{
			name:  "an action group typo",
			files: map[string]string{"a.cedar": "@id(\"x\")\nforbid (principal, action, resource) when { action in [Action::\"Tool:Bash\", Action::\"tool::x\"] };"},
			want: []string{
				`a.cedar:1:1: policy x: Action::"Tool:Bash": unknown group "Tool"; actions start with one of audit, lease, memory, model, skill, tool`,
				`a.cedar:1:1: policy x: Action::"tool::x" has an empty segment`,
			},
		},
		{
			name:  "@ask on a forbid",
			files: map[string]string{"a.cedar": "@ask\nforbid (principal, action, resource);"},
			want:  []string{`a.cedar:1:1: @ask only applies to permit`},
		},
		{
			name:  "@ask with a value",
			files: map[string]string{"a.cedar": `@ask("true") permit (principal, action, resource);`},
			want:  []string{`a.cedar:1:1: write @ask without a value`},
		},
		{
			name:  "reserved and empty ids",
			files: map[string]string{"a.cedar": "@id(\"policy_error\") permit (principal, action, resource);\n@id(\" \") permit (principal, action, resource);"},
			want:  []string{`a.cedar:1:1: @id "policy_error" is reserved`, `a.cedar:2:1: @id is empty`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := LoadSources(tt.files, true)
			if e != nil {
				t.Error("an invalid set must not produce an engine")
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v, want a *LoadError", err)
			}
			if len(le.Problems) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(le.Problems), len(tt.want), err)
			}
			for i, p := range le.Problems {
				if !strings.HasPrefix(p.String(), tt.want[i]) {
					t.Errorf("problem %d = %q\nwant prefix  %q", i, p.String(), tt.want[i])
				}
			}
		})
	}
}

func TestLoadAccepts(t *testing.T) {
	tests := []struct {
		name string
		text string
	}{
		{"an empty file", ""},
		{"comments only", "// nothing yet\n"},
		{"an unguarded args field behind has", `forbid (principal, action, resource) when { context.args has repo && context.args.repo == "prod" };`},
		{"a declared args field behind has", `@ask permit (principal, action == Action::"tool:Bash", resource) when { context.args has command && context.args.command like "*terraform*" };`},
		{"a new MCP tool and a model group", `permit (principal, action in [Action::"tool:mcp__jira__search", Action::"model:embed"], resource);`},
		{"actions named in conditions", `forbid (principal, action, resource) when { action == Action::"skill:run:deploy" && context.hour < 9 };`},
		{"principal attributes", `forbid (principal, action in Action::"tool", resource) when { principal.agent == "codex" && principal.scopes.contains("*") };`},
		{"resource attributes and a lease", `forbid (principal == Lease::"lse_ci", action, resource) when { resource.kind == "url" && resource.value like "https://prod.*" };`},
		{"two policies on one line", `permit (principal, action, resource) when { context.risk == 0 }; permit (principal, action, resource) when { context.risk == 1 };`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := LoadSources(map[string]string{"x.cedar": tt.text}, true); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAutomaticIDs(t *testing.T) {
	e := mustLoad(t, map[string]string{"x.cedar": "permit (principal, action, resource) when { context.risk == 0 }; permit (principal, action, resource) when { context.risk == 1 };\n\n@reason(\"why\")\nforbid (principal, action, resource) when { context.risk == 9 };"}, false)
	var got []string
	for _, p := range e.Policies() {
		got = append(got, p.ID+" "+p.Effect+" "+p.Reason)
	}
	want := []string{
		"x.cedar:1 permit permit at x.cedar:1 matched",
		"x.cedar:1:66 permit permit at x.cedar:1 matched",
		"x.cedar:3 forbid why",
	}
	if !slices.Equal(got, want) {
		t.Errorf("policies =\n%q\nwant\n%q", got, want)
	}
}

func TestDefaultPackIsWellFormed(t *testing.T) {
	e := mustLoad(t, nil, true)
	if got := e.Files(); !slices.Equal(got, []string{DefaultPackName}) {
		t.Errorf("Files() = %v", got)
	}
	for _, p := range e.Policies() {
		if !strings.HasPrefix(p.ID, "default.") {
			t.Errorf("%s:%d: default policy id %q must start with \"default.\"", p.File, p.Line, p.ID)
		}
		if strings.HasSuffix(p.Reason, " matched") {
			t.Errorf("%s: default policies need a @reason", p.ID)
		}
		kind := strings.TrimPrefix(strings.Split(p.ID, "-")[0], "default.")
		if want := map[string]string{"block": "forbid", "ask": "ask", "allow": "permit"}[kind]; want != p.Effect {
			t.Errorf("%s is a %s; its name says %s", p.ID, p.Effect, want)
		}
	}
}

func TestLoadDir(t *testing.T) {
	t.Run("missing dir means the default pack", func(t *testing.T) {
		e, err := Load(filepath.Join(t.TempDir(), "nope"))
		if err != nil {
			t.Fatal(err)
		}
		d, _ := LoadSources(nil, true)
		if e.Hash() != d.Hash() || !slices.Equal(e.Files(), []string{"default.cedar"}) {
			t.Errorf("Load of a missing dir = %v %s", e.Files(), e.Hash())
		}
	})

	t.Run("reads *.cedar, skips the rest", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, "team.cedar", `@id("team.no-codex-network") forbid (principal, action, resource) when { principal.agent == "codex" && context.signals.contains("network") };`)
		write(t, dir, "notes.txt", "not a policy")
		write(t, dir, ".team.cedar", "this is an editor backup {")
		if err := os.Mkdir(filepath.Join(dir, "sub.cedar"), 0o700); err != nil {
			t.Fatal(err)
		}
		e, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.Files(); !slices.Equal(got, []string{"default.cedar", "team.cedar"}) {
			t.Errorf("Files() = %v", got)
		}
		d := e.Decide(Request{Principal: Principal{Name: "c", Agent: "codex", Scopes: []string{"*"}}, Action: "tool:WebFetch",
			Context: Context{Risk: 1, Signals: []string{"network"}}})
		if d.Effect != Block || d.Reasons[0].Policy != "team.no-codex-network" {
			t.Errorf("decision = %+v", d)
		}
	})

	t.Run("default.cedar in the dir replaces the built-in pack", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, "default.cedar", `@id("mine") permit (principal, action, resource);`)
		e, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(e.Policies()); n != 1 {
			t.Fatalf("%d policies in force, want only the replacement", n)
		}
		d := e.Decide(Request{Principal: Principal{Scopes: []string{"*"}}, Action: "tool:Bash", Context: Context{Risk: 4}})
		if d.Effect != Allow {
			t.Errorf("decision = %+v", d)
		}
	})

	t.Run("one bad file loads nothing", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, "a.cedar", `@id("a") forbid (principal, action, resource) when { context.risk > 2 };`)
		write(t, dir, "b.cedar", `@id("b") permit (principal, action, resource) when { context.risk > };`)
		e, err := Load(dir)
		if e != nil || err == nil || !strings.HasPrefix(err.Error(), "b.cedar:1:") {
			t.Fatalf("Load = %v, %v; want nil and an error at b.cedar:1", e, err)
		}
	})

	t.Run("unreadable dir is an error, not the default pack", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		write(t, filepath.Dir(file), "file", "")
		if e, err := Load(file); e != nil || err == nil {
			t.Fatalf("Load(a file) = %v, %v", e, err)
		}
	})
}

func TestHash(t *testing.T) {
	a := mustLoad(t, map[string]string{"a.cedar": "", "b.cedar": "permit (principal, action, resource);"}, true)
	b := mustLoad(t, map[string]string{"b.cedar": "permit (principal, action, resource);", "a.cedar": ""}, true)
	if a.Hash() != b.Hash() {
		t.Error("the hash must not depend on map order")
	}
	if len(a.Hash()) != 64 {
		t.Errorf("Hash() = %q, want 64 hex digits", a.Hash())
	}
	differ := []map[string]string{
		{"a.cedar": "", "b.cedar": "permit (principal, action, resource); "},        // text changed
		{"a.cedar": "", "c.cedar": "permit (principal, action, resource);"},         // renamed
		{"ab.cedar": "", ".cedar": "permit (principal, action, resource);"},         // bytes moved between name and text
		{"a.cedar": "", "b.cedar": "permit (principal, action, resource);", "": ""}, // a file added
	}
	for i, files := range differ {
		e := mustLoad(t, files, true)
		if e.Hash() == a.Hash() {
			t.Errorf("case %d: hash did not change", i)
		}
	}
	if mustLoad(t, nil, false).Hash() == mustLoad(t, nil, true).Hash() {
		t.Error("the default pack must be part of the hash")
	}
}

func write(t *testing.T, dir, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestLoadRefusesPathologicalNesting: a deep enough expression would exhaust
// the stack inside the Cedar parser, a crash recover cannot catch.
func TestLoadRefusesPathologicalNesting(t *testing.T) {
	policy := func(cond string) string { return "permit (principal, action, resource)\nwhen { " + cond + " };" }
	n := 500_000
	tests := []struct {
		name, text, want string
	}{
		{"parentheses", policy(strings.Repeat("(", n) + "true" + strings.Repeat(")", n)), "a.cedar:2:1007: expression nested more than 1000 levels deep"},
		{"sets", policy("[" + strings.Repeat("[", n) + strings.Repeat("]", n) + "].isEmpty()"), "a.cedar:2:1007: expression nested"},
		{"records", policy(strings.Repeat("{a:", n) + "1" + strings.Repeat("}", n) + " has a"), "a.cedar:2:"},
		{"negations", policy(strings.Repeat("!", n) + "true"), "a.cedar:2:1007: expression nested"},
		{"minus signs", policy("context.risk == " + strings.Repeat("- ", n) + "1"), "a.cedar:2:"},
		{"ifs", policy(strings.Repeat("if true then ", 1001) + "true" + strings.Repeat(" else false", 1001)), "a.cedar:2:13008: more than 1000 if-expressions"},
		{"a huge file", strings.Repeat("// padding\n", 400_000), "a.cedar: file is 4400000 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadSources(map[string]string{"a.cedar": tt.text}, false)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("err = %.200v, want %q…", err, tt.want)
			}
		})
	}
	// Brackets in strings and comments do not count, and ordinary nesting loads.
	ok := policy(`context.cwd like "` + strings.Repeat("(", 5000) + `*" // ` + strings.Repeat("[", 5000) + "\n && " + strings.Repeat("(", 50) + "true" + strings.Repeat(")", 50) + " && !!!(context.risk == -1)")
	if _, err := LoadSources(map[string]string{"a.cedar": ok}, false); err != nil {
		t.Fatal(err)
	}
}
