package skill

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// schemas is a valid pair of schema tables to append to manifest heads.
const schemas = `
[input_schema]
type = "object"
[output_schema]
type = "object"
`

const head = `name = "demo"
version = "1.0.0"
description = "A demo."
`

func TestParseManifestDefaults(t *testing.T) {
	m, err := ParseManifest([]byte(head + schemas))
	if err != nil {
		t.Fatal(err)
	}
	if m.Risk != RiskLow || m.MaxAttempts != 2 || m.HistoryRuns != 5 || m.Verify.Strategy != VerifySchema {
		t.Errorf("defaults not applied: %+v", m)
	}
	if m.BudgetMicros != 0 || m.History || m.Routing.LocalOnly || len(m.Routing.Tiers) != 0 {
		t.Errorf("zero fields set: %+v", m)
	}
	if got := m.ModelList(); !slices.Equal(got, []string{"default"}) {
		t.Errorf("ModelList = %v", got)
	}
	if m.ID() != "demo@1.0.0" {
		t.Errorf("ID = %q", m.ID())
	}
	if string(m.InputSchema) != `{"type":"object"}` {
		t.Errorf("InputSchema = %s", m.InputSchema)
	}
}

func TestParseManifestFull(t *testing.T) {
	src := `name = "full-skill"
version = "2.10.3-rc.1"
description = "Everything set."
scopes = ["model:chat", "tool:web"]
risk = "critical"
max_attempts = 10
budget_micros = 50000
history = true
history_runs = 50
keywords = ["a", "b c"]
[routing]
local_only = true
tiers = [0, 9]
models = ["local", "openai/gpt-4o-mini"]
[verify]
strategy = "council"
council = ["a", "b"]
[input_schema]
type = "object"
[input_schema.properties.x]
type = "integer"
[output_schema]
type = "array"
items = { type = "string" }
x-note = "extensions are allowed"
`
	m, err := ParseManifest([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "full-skill" || m.Version != "2.10.3-rc.1" || m.Risk != RiskCritical || m.MaxAttempts != 10 ||
		m.BudgetMicros != 50000 || !m.History || m.HistoryRuns != 50 || !m.Routing.LocalOnly ||
		!slices.Equal(m.Routing.Tiers, []int{0, 9}) || !slices.Equal(m.Routing.Models, []string{"local", "openai/gpt-4o-mini"}) ||
		m.Verify.Strategy != VerifyCouncil || !slices.Equal(m.Verify.Council, []string{"a", "b"}) ||
		!slices.Equal(m.Scopes, []string{"model:chat", "tool:web"}) || !slices.Equal(m.Keywords, []string{"a", "b c"}) {
		t.Errorf("parsed wrong: %+v", m)
	}
	if got := m.ModelList(); !slices.Equal(got, m.Routing.Models) {
		t.Errorf("ModelList = %v", got)
	}
	mm, err := ParseManifest([]byte(head + "[verify]\nstrategy = \"model\"\n" + schemas))
	if err != nil {
		t.Fatal(err)
	}
	if mm.Verify.Model != "default" {
		t.Errorf("verify.model default = %q", mm.Verify.Model)
	}
}

func TestParseManifestErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unknown top-level key", head + "colour = \"red\"\n" + schemas, `unknown key "colour"`},
		{"unknown nested key", head + "[routing]\nlocal = true\n" + schemas, `unknown key "routing.local"`},
		{"unknown verify key", head + "[verify]\nmodels = [\"a\"]\n" + schemas, `unknown key "verify.models"`},
		{"missing name", "version = \"1.0.0\"\ndescription = \"d\"\n" + schemas, "name is required"},
		{"upper-case name", strings.Replace(head, `"demo"`, `"Demo"`, 1) + schemas, `name "Demo" must be`},
		{"name starts with digit", strings.Replace(head, `"demo"`, `"1demo"`, 1) + schemas, `name "1demo" must be`},
		{"name with underscore", strings.Replace(head, `"demo"`, `"de_mo"`, 1) + schemas, `name "de_mo" must be`},
		{"name too long", strings.Replace(head, `"demo"`, `"a`+strings.Repeat("b", 63)+`"`, 1) + schemas, "must be a lower-case letter"},
		{"name wrong type", strings.Replace(head, `"demo"`, `5`, 1) + schemas, "name"},
		{"missing version", "name = \"demo\"\ndescription = \"d\"\n" + schemas, "version is required"},
		{"short version", strings.Replace(head, `"1.0.0"`, `"1.0"`, 1) + schemas, `version "1.0" is not a semantic version`},
		{"leading zero", strings.Replace(head, `"1.0.0"`, `"01.0.0"`, 1) + schemas, "not a semantic version"},
		{"v prefix", strings.Replace(head, `"1.0.0"`, `"v1.0.0"`, 1) + schemas, "not a semantic version"},
		{"build metadata", strings.Replace(head, `"1.0.0"`, `"1.0.0+build"`, 1) + schemas, "not a semantic version"},
		{"empty prerelease", strings.Replace(head, `"1.0.0"`, `"1.0.0-"`, 1) + schemas, "not a semantic version"},
		{"missing description", "name = \"demo\"\nversion = \"1.0.0\"\n" + schemas, "description is required"},
		{"blank description", strings.Replace(head, `"A demo."`, `"  "`, 1) + schemas, "description is required"},
		{"empty scope", head + "scopes = [\"\"]\n" + schemas, "scopes[0]"},
		{"scope with space", head + "scopes = [\"model:chat\", \"a b\"]\n" + schemas, `scopes[1] "a b"`},
		{"scope not string", head + "scopes = [1]\n" + schemas, "scopes"},
		{"bad risk", head + "risk = \"extreme\"\n" + schemas, `risk "extreme" must be`},
		{"max_attempts zero", head + "max_attempts = 0\n" + schemas, "max_attempts 0 must be between 1 and 10"},
		{"max_attempts eleven", head + "max_attempts = 11\n" + schemas, "max_attempts 11"},
		{"max_attempts float", head + "max_attempts = 1.5\n" + schemas, "max_attempts"},
		{"negative budget", head + "budget_micros = -1\n" + schemas, "budget_micros -1 must not be negative"},
		{"history_runs zero", head + "history_runs = 0\n" + schemas, "history_runs 0 must be between 1 and 50"},
		{"history_runs 51", head + "history = true\nhistory_runs = 51\n" + schemas, "history_runs 51"},
		{"empty keyword", head + "keywords = [\"ok\", \" \"]\n" + schemas, "keywords[1] is empty"},
		{"tier too high", head + "[routing]\ntiers = [0, 10]\n" + schemas, "routing.tiers[1] 10 must be between 0 and 9"},
		{"negative tier", head + "[routing]\ntiers = [-1]\n" + schemas, "routing.tiers[0] -1"},
		{"empty model", head + "[routing]\nmodels = [\"\"]\n" + schemas, "routing.models[0] is empty"},
		{"bad strategy", head + "[verify]\nstrategy = \"vote\"\n" + schemas, `verify.strategy "vote" must be`},
		{"model without model strategy", head + "[verify]\nmodel = \"x\"\n" + schemas, "verify.model is set but verify.strategy is \"schema\""},
		{"council without council strategy", head + "[verify]\nstrategy = \"model\"\ncouncil = [\"a\", \"b\"]\n" + schemas, "verify.council is set"},
		{"council of one", head + "[verify]\nstrategy = \"council\"\ncouncil = [\"a\", \"a\"]\n" + schemas, "at least two different models"},
		{"empty council member", head + "[verify]\nstrategy = \"council\"\ncouncil = [\"a\", \"\"]\n" + schemas, "verify.council[1] is empty"},
		{"missing input schema", head + "[output_schema]\ntype = \"object\"\n", "input_schema is required"},
		{"missing output schema", head + "[input_schema]\ntype = \"object\"\n", "output_schema is required"},
		{"input schema not object", head + "[input_schema]\ntype = \"array\"\n[output_schema]\ntype = \"object\"\n", `input_schema: must have type = "object"`},
		{"input schema without type", head + "[input_schema]\n[output_schema]\ntype = \"object\"\n", `input_schema: must have type = "object"`},
		{"schema not a table", head + "input_schema = \"object\"\n[output_schema]\ntype = \"object\"\n", "input_schema"},
		{"bad type keyword", head + "[input_schema]\ntype = \"object\"\n[output_schema]\ntype = 5\n", "output_schema"},
		{"unknown type name", head + "[input_schema]\ntype = \"object\"\n[output_schema]\ntype = \"strng\"\n", `output_schema: unknown type "strng" at /`},
		{"bad minLength", head + "[input_schema]\ntype = \"object\"\nproperties.a = { type = \"string\", minLength = \"x\" }\n[output_schema]\ntype = \"object\"\n", "input_schema"},
		{"unknown keyword", head + "[input_schema]\ntype = \"object\"\nrequird = [\"a\"]\n[output_schema]\ntype = \"object\"\n", `input_schema: unknown keyword "requird" at /`},
		{"unknown nested keyword", head + "[input_schema]\ntype = \"object\"\nproperties.a = { type = \"string\", maxlength = 3 }\n[output_schema]\ntype = \"object\"\n", `"maxlength" at /properties/a`},
		{"bad pattern", head + "[input_schema]\ntype = \"object\"\nproperties.a = { type = \"string\", pattern = \"(\" }\n[output_schema]\ntype = \"object\"\n", "input_schema"},
		{"dangling ref", head + "[input_schema]\ntype = \"object\"\nproperties.a = { \"$ref\" = \"#/$defs/nope\" }\n[output_schema]\ntype = \"object\"\n", "input_schema"},
		{"remote ref", head + "[input_schema]\ntype = \"object\"\nproperties.a = { \"$ref\" = \"https://example.com/s.json\" }\n[output_schema]\ntype = \"object\"\n", "input_schema"},
		{"self reference", head + "[input_schema]\ntype = \"object\"\n\"$ref\" = \"#\"\n[output_schema]\ntype = \"object\"\n", "$ref cycle"},
		{"reference cycle through anyOf", head + "[input_schema]\ntype = \"object\"\n[output_schema]\nanyOf = [{ \"$ref\" = \"#/$defs/a\" }]\n\"$defs\".a = { allOf = [{ \"$ref\" = \"#\" }] }\n", "$ref cycle"},
		{"reference cycle through not", head + "[input_schema]\ntype = \"object\"\n[output_schema]\n\"$defs\".a = { not = { \"$ref\" = \"#/$defs/a\" } }\n", "$ref cycle"},
		{"exponential references", head + "[input_schema]\ntype = \"object\"\n[output_schema]\n\"$ref\" = \"#/$defs/a0\"\n" + exponentialDefs(20), "too complex"},
		{"nested $id", head + "[input_schema]\ntype = \"object\"\nproperties.a = { \"$id\" = \"https://example.com/a\" }\n[output_schema]\ntype = \"object\"\n", "only the root schema may have an $id"},
		{"dynamic ref", head + "[input_schema]\ntype = \"object\"\n[output_schema]\n\"$dynamicRef\" = \"#x\"\n", "not supported"},
		{"unknown anchor", head + "[input_schema]\ntype = \"object\"\n[output_schema]\n\"$ref\" = \"#nowhere\"\n", `$ref "#nowhere" cannot be resolved`},
		{"unsupported $schema", head + "[input_schema]\ntype = \"object\"\n\"$schema\" = \"http://json-schema.org/draft-04/schema#\"\n[output_schema]\ntype = \"object\"\n", "is not supported"},
		{"nan in schema", head + "[input_schema]\ntype = \"object\"\n[output_schema]\ntype = \"number\"\nmaximum = nan\n", "output_schema"},
		{"toml syntax", head + "name = \n" + schemas, "parse skill.toml"},
		{"duplicate key", head + "name = \"again\"\n" + schemas, "parse skill.toml"},
		{"too large", head + "# " + strings.Repeat("x", MaxManifestSize) + "\n" + schemas, "more than the limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseManifest([]byte(tt.src))
			if err == nil {
				t.Fatalf("accepted: %+v", m)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// exponentialDefs returns $defs a0..a(n-1), each referring twice to the next,
// so a value would be checked against 2^n subschemas.
func exponentialDefs(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "[output_schema.\"$defs\".a%d]\nanyOf = [{ \"$ref\" = \"#/$defs/a%d\" }, { \"$ref\" = \"#/$defs/a%d\" }]\n", i, i+1, i+1)
	}
	fmt.Fprintf(&b, "[output_schema.\"$defs\".a%d]\ntype = \"string\"\n", n)
	return b.String()
}

func TestRecursiveSchema(t *testing.T) {
	// Recursion that descends into the value is fine.
	m := head + `[input_schema]
type = "object"
[output_schema]
"$ref" = "#/$defs/node"
[output_schema."$defs".node]
"$anchor" = "node"
type = "object"
required = ["name"]
properties.name = { type = "string" }
properties.children = { type = "array", items = { "$ref" = "#node" } }
`
	s := mustSkill(t, m, "x")
	tree := map[string]any{"name": "root", "children": []any{
		map[string]any{"name": "a", "children": []any{map[string]any{"name": 1}}},
	}}
	err := s.ValidateOutput(tree)
	if err == nil || !strings.Contains(err.Error(), "$.children[0].children[0].name: expected string, got integer 1") {
		t.Errorf("err = %v", err)
	}
	// A linear chain of references is within limits.
	if _, err := ParseManifest([]byte(head + "[input_schema]\ntype = \"object\"\n[output_schema]\n\"$ref\" = \"#/$defs/a0\"\n" + exponentialDefs(8))); err != nil {
		t.Errorf("2^8 fan-out refused: %v", err)
	}
}

func TestParseManifestListsEveryProblem(t *testing.T) {
	_, err := ParseManifest([]byte("name = \"X\"\nversion = \"1\"\nbogus = 1\nrisk = \"none\"\n"))
	var me *ManifestError
	if !errors.As(err, &me) {
		t.Fatalf("err = %v, want *ManifestError", err)
	}
	for _, want := range []string{`unknown key "bogus"`, `name "X"`, `version "1"`, "description is required", `risk "none"`, "input_schema is required", "output_schema is required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if len(me.Problems) != 7 {
		t.Errorf("%d problems, want 7: %q", len(me.Problems), me.Problems)
	}
}

func TestVersions(t *testing.T) {
	valid := []string{"0.0.0", "1.2.3", "10.20.30", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-0.3.7", "1.0.0-x.7.z.92", "1.0.0-x-y"}
	for _, v := range valid {
		if !ValidVersion(v) {
			t.Errorf("ValidVersion(%q) = false", v)
		}
	}
	invalid := []string{"", "1", "1.2", "1.2.3.4", "01.2.3", "1.02.3", "1.2.3-", "1.2.3-01", "1.2.3-a..b", "1.2.3+b", " 1.2.3", "1.2.3/../x"}
	for _, v := range invalid {
		if ValidVersion(v) {
			t.Errorf("ValidVersion(%q) = true", v)
		}
	}
	// Ascending, per semver.org's precedence example.
	order := []string{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "1.10.0", "2.0.0", "10.0.0"}
	for i := range order {
		for j := range order {
			want := cmpInt(i, j)
			if got := CompareVersions(order[i], order[j]); got != want {
				t.Errorf("CompareVersions(%q, %q) = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
	if CompareVersions("junk", "0.0.1") != -1 || CompareVersions("0.0.1", "junk") != 1 {
		t.Error("invalid versions must sort first")
	}
}
