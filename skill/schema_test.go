package skill

import (
	"errors"
	"strings"
	"testing"
)

// reportManifest has an output schema exercising most keywords.
const reportManifest = `name = "report"
version = "1.0.0"
description = "A report."
[input_schema]
type = "object"
[output_schema]
type = "object"
required = ["title", "items", "status"]
additionalProperties = false
[output_schema.properties.title]
type = "string"
minLength = 3
maxLength = 20
pattern = "^[A-Z]"
[output_schema.properties.status]
enum = ["ok", "failed"]
[output_schema.properties.count]
type = "integer"
minimum = 0
maximum = 10
multipleOf = 2
[output_schema.properties.tags]
type = "array"
uniqueItems = true
maxItems = 3
items = { type = "string" }
[output_schema.properties.items]
type = "array"
minItems = 1
[output_schema.properties.items.items]
"$ref" = "#/$defs/item"
[output_schema.properties."odd key"]
type = "boolean"
[output_schema.properties.id]
oneOf = [{ type = "string", pattern = "^id-" }, { type = "integer" }]
[output_schema.properties.ratio]
type = "number"
exclusiveMinimum = 0
exclusiveMaximum = 1
[output_schema."$defs".item]
type = "object"
required = ["name", "score"]
[output_schema."$defs".item.properties.name]
type = "string"
[output_schema."$defs".item.properties.score]
type = "number"
minimum = 0
maximum = 1
[output_schema."$defs".item.properties.span]
type = "object"
required = ["start", "end"]
properties.start = { type = "integer" }
properties.end = { type = "integer" }
`

func TestValidateOutputPaths(t *testing.T) {
	s := mustSkill(t, reportManifest, "x")
	good := map[string]any{
		"title":    "Report",
		"status":   "ok",
		"count":    4,
		"tags":     []string{"a", "b"},
		"items":    []any{map[string]any{"name": "n", "score": 0.5, "span": map[string]any{"start": 0, "end": 3}}},
		"odd key":  true,
		"id":       "id-7",
		"ratio":    0.5,
		"comments": nil,
	}
	delete(good, "comments")
	if err := s.ValidateOutput(good); err != nil {
		t.Fatalf("valid output refused: %v", err)
	}

	tests := []struct {
		name  string
		edit  func(m map[string]any)
		wants []string
	}{
		{"missing required", func(m map[string]any) { delete(m, "title"); delete(m, "status") },
			[]string{`$: missing required property "title"`, `$: missing required property "status"`}},
		{"wrong type", func(m map[string]any) { m["title"] = 7 }, []string{"$.title: expected string, got integer 7"}},
		{"too short", func(m map[string]any) { m["title"] = "Ab" }, []string{"$.title: is 2 characters, fewer than the minimum 3"}},
		{"too long", func(m map[string]any) { m["title"] = "A" + strings.Repeat("b", 20) }, []string{"$.title: is 21 characters, more than the maximum 20"}},
		{"pattern", func(m map[string]any) { m["title"] = "lower" }, []string{`$.title: "lower" does not match the pattern "^[A-Z]"`}},
		{"enum", func(m map[string]any) { m["status"] = "maybe" }, []string{`$.status: "maybe" is not one of the allowed values: "ok", "failed"`}},
		{"not an integer", func(m map[string]any) { m["count"] = 2.5 }, []string{"$.count: expected integer, got number 2.5"}},
		{"maximum", func(m map[string]any) { m["count"] = 12 }, []string{"$.count: 12 is greater than the maximum 10"}},
		{"minimum", func(m map[string]any) { m["count"] = -2 }, []string{"$.count: -2 is less than the minimum 0"}},
		{"multipleOf", func(m map[string]any) { m["count"] = 3 }, []string{"$.count: 3 is not a multiple of 2"}},
		{"exclusive bounds", func(m map[string]any) { m["ratio"] = 1 }, []string{"$.ratio: 1 must be less than 1"}},
		{"unique", func(m map[string]any) { m["tags"] = []any{"a", "b", "a"} }, []string{"$.tags: items 0 and 2 are equal"}},
		{"max items", func(m map[string]any) { m["tags"] = []any{"a", "b", "c", "d"} }, []string{"$.tags: has 4 items, more than the maximum 3"}},
		{"item type", func(m map[string]any) { m["tags"] = []any{"a", 1} }, []string{"$.tags[1]: expected string, got integer 1"}},
		{"min items", func(m map[string]any) { m["items"] = []any{} }, []string{"$.items: has 0 items, fewer than the minimum 1"}},
		{"through ref", func(m map[string]any) {
			m["items"] = []any{
				map[string]any{"name": "ok", "score": 1},
				map[string]any{"score": 1.5, "span": map[string]any{"start": "0"}},
			}
		}, []string{
			`$.items[1]: missing required property "name"`,
			"$.items[1].score: 1.5 is greater than the maximum 1",
			`$.items[1].span: missing required property "end"`,
			`$.items[1].span.start: expected integer, got string "0"`,
		}},
		{"odd key path", func(m map[string]any) { m["odd key"] = "yes" }, []string{`$["odd key"]: expected boolean, got string "yes"`}},
		{"additional properties", func(m map[string]any) { m["extra"] = 1; m["more"] = 2 },
			[]string{`$: unexpected properties "extra", "more"; the allowed properties are`}},
		{"oneOf none", func(m map[string]any) { m["id"] = "x-1" },
			[]string{"$.id: does not match any of the 2 allowed forms (oneOf)", `$.id: "x-1" does not match the pattern "^id-"`}},
		{"several at once", func(m map[string]any) { m["count"] = 11; m["status"] = 1; delete(m, "items") },
			[]string{`missing required property "items"`, "$.count: 11 is greater", "$.status: 1 is not one of"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := map[string]any{}
			for k, v := range good {
				m[k] = v
			}
			tt.edit(m)
			err := s.ValidateOutput(m)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *ValidationError", err)
			}
			if ve.Which != "output" || !strings.HasPrefix(err.Error(), "output does not match the output schema:\n- ") {
				t.Errorf("bad header: %q", err)
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%s", w, err)
				}
			}
		})
	}
}

func TestValidateInput(t *testing.T) {
	s := mustSkill(t, testManifest, testTemplate)
	type in struct {
		Who  string `json:"who"`
		Tone string `json:"tone,omitempty"`
	}
	if err := s.ValidateInput(in{Who: "Ada"}); err != nil {
		t.Errorf("struct input refused: %v", err)
	}
	err := s.ValidateInput(map[string]any{"tone": "rude", "whom": "Ada"})
	for _, w := range []string{"input does not match the input schema", `$: missing required property "who"`, `$.tone: "rude" is not one of`, `unexpected property "whom"`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v lacks %q", err, w)
		}
	}
	if err := s.ValidateInput(make(chan int)); err == nil || !strings.Contains(err.Error(), "cannot be written as JSON") {
		t.Errorf("channel input: %v", err)
	}
	if err := s.ValidateInput([]any{1}); err == nil || !strings.Contains(err.Error(), "$: expected object, got array") {
		t.Errorf("array input: %v", err)
	}
}

func TestValidateMoreKeywords(t *testing.T) {
	m := head + `[input_schema]
type = "object"
[output_schema]
type = "object"
minProperties = 1
maxProperties = 3
propertyNames = { pattern = "^[a-z_]+$" }
dependentRequired = { a = ["b"] }
patternProperties = { "^n_" = { type = "number" } }
[output_schema.properties.list]
type = "array"
prefixItems = [{ type = "string" }, { type = "integer" }]
items = false
contains = { const = "x" }
[output_schema.properties.pairs]
type = "array"
uniqueItems = true
[output_schema.properties.origin]
const = { x = 0, y = [0, 0] }
[output_schema.properties.either]
anyOf = [{ type = "string" }, { type = "null" }]
[output_schema.properties.notnull]
not = { type = "null" }
[output_schema.properties.cond]
if = { type = "string" }
then = { minLength = 2 }
else = { type = "integer" }
`
	s := mustSkill(t, m, "x")
	tests := []struct {
		v    any
		want string
	}{
		{map[string]any{}, "$: has 0 properties, fewer than the minimum 1"},
		{map[string]any{"a": 1, "b": 2, "c": 3, "d": 4}, "$: has 4 properties, more than the maximum 3"},
		{map[string]any{"a": 1}, `$: property "a" requires property "b"`},
		{map[string]any{"Bad": 1}, `$.Bad: property name "Bad" is not allowed`},
		{map[string]any{"list": []any{"x", 1, "x"}}, "$.list: has 3 items, but at most 2 are allowed"},
		{map[string]any{"list": []any{"y", 1}}, "$.list: has 0 items matching the contains schema"},
		{map[string]any{"pairs": []any{map[string]any{"a": []any{1}}, map[string]any{"a": []any{2}}, map[string]any{"a": []any{1}}}}, "$.pairs: items 0 and 2 are equal"},
		{map[string]any{"origin": map[string]any{"x": 0, "y": []any{0, 1}}}, `$.origin: must be {"x":0,"y":[0,0]}, got {"x":0,"y":[0,1]}`},
		{map[string]any{"either": 1}, "$.either: does not match any of the 2 allowed forms (anyOf)"},
		{map[string]any{"notnull": nil}, "$.notnull: null matches a schema it must not match"},
		{map[string]any{"cond": "a"}, "$.cond: is 1 characters, fewer than the minimum 2"},
		{map[string]any{"cond": true}, "$.cond: expected integer, got boolean true"},
	}
	for _, tt := range tests {
		err := s.ValidateOutput(tt.v)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ValidateOutput(%v) = %v, want %q", tt.v, err, tt.want)
		}
	}
	if err := s.ValidateOutput(map[string]any{"pairs": []any{map[string]any{"a": 1}, map[string]any{"a": 2}}, "origin": map[string]any{"y": []any{0, 0}, "x": 0}}); err != nil {
		t.Errorf("valid value refused: %v", err)
	}
	if err := s.ValidateOutput(map[string]any{"list": []any{"x", 1}, "cond": "ab", "n_x": 1}); err != nil {
		t.Errorf("valid value refused: %v", err)
	}
}

func TestValidationErrorCapsList(t *testing.T) {
	ve := &ValidationError{Which: "output"}
	for range 60 {
		ve.Violations = append(ve.Violations, Violation{Path: "$", Message: "bad"})
	}
	if got := strings.Count(ve.Error(), "\n- $: bad"); got != maxViolations {
		t.Errorf("%d violations listed, want %d", got, maxViolations)
	}
	if !strings.HasSuffix(ve.Error(), "... and 10 more") {
		t.Errorf("no remainder line: %q", ve.Error()[len(ve.Error())-40:])
	}
}

func TestValidateOutputJSON(t *testing.T) {
	s := mustSkill(t, testManifest, testTemplate)
	for _, in := range []string{
		`{"greeting":"hi"}`,
		" \n{\"greeting\":\"hi\"}\n",
		"```json\n{\"greeting\":\"hi\"}\n```",
	} {
		v, err := s.ValidateOutputJSON([]byte(in))
		if err != nil || v.(map[string]any)["greeting"] != "hi" {
			t.Errorf("ValidateOutputJSON(%q) = %v, %v", in, v, err)
		}
	}
	for in, want := range map[string]string{
		`{"greeting":`:                 "$: not valid JSON",
		`{"greeting":"hi"} {"x":1}`:    "more than one JSON value",
		`{"greeting":"hi"} trailing`:   "not valid JSON",
		`{"greeting":""}`:              "$.greeting: must not be empty",
		`Sure! {"greeting":"hi"}`:      "not valid JSON",
		`{"greeting":"hi","extra":[]}`: `unexpected property "extra"`,
	} {
		_, err := s.ValidateOutputJSON([]byte(in))
		var ve *ValidationError
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateOutputJSON(%q) = %v, want %q", in, err, want)
		}
	}
}
