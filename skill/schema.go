package skill

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/google/jsonschema-go/jsonschema"
)

// Supported values of a schema's "$schema" keyword.
var schemaVersions = []string{
	"",
	"http://json-schema.org/draft-07/schema#",
	"https://json-schema.org/draft-07/schema#",
	"https://json-schema.org/draft/2020-12/schema",
}

// jsonTypes are the type names JSON Schema defines.
var jsonTypes = []string{"array", "boolean", "integer", "null", "number", "object", "string"}

// compiledSchema is a resolved schema with the index the checker and the
// safety checks use.
type compiledSchema struct {
	root *jsonschema.Schema
	rs   *jsonschema.Resolved
	refs map[string]*jsonschema.Schema // $ref value -> target
}

// Limits on the shape of a schema, so validation always terminates quickly.
const (
	// maxInPlace bounds how many subschemas one value can be checked against
	// through $ref, allOf, anyOf, oneOf, not, if/then/else and dependent
	// schemas.
	maxInPlace = 10000
)

// compileSchema converts a schema written as a TOML table to JSON and
// resolves it. If object is set, the schema must have type "object".
func compileSchema(table map[string]any, object bool) (raw json.RawMessage, cs *compiledSchema, err error) {
	defer func() {
		// The schema is untrusted input to a third-party resolver; a panic in
		// it must not take the kernel down.
		if p := recover(); p != nil {
			raw, cs, err = nil, nil, fmt.Errorf("schema cannot be compiled: %v", p)
		}
	}()
	if table == nil {
		table = map[string]any{}
	}
	raw, err = json.Marshal(table)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot be written as JSON: %v", err)
	}
	s := new(jsonschema.Schema)
	if err := json.Unmarshal(raw, s); err != nil {
		return nil, nil, fmt.Errorf("not a JSON Schema: %v", err)
	}
	if object && s.Type != "object" {
		return nil, nil, errors.New(`must have type = "object"`)
	}
	if !slices.Contains(schemaVersions, s.Schema) {
		return nil, nil, fmt.Errorf("$schema %q is not supported; use draft-07 or 2020-12", s.Schema)
	}
	refs, err := checkSchema(s)
	if err != nil {
		return nil, nil, err
	}
	rs, err := s.Resolve(nil)
	if err != nil {
		return nil, nil, err
	}
	return raw, &compiledSchema{root: s, rs: rs, refs: refs}, nil
}

// checkSchema rejects what the resolver accepts but should not be: unknown
// keywords and type names, which in a hand-written schema are nearly always
// typos that silently weaken validation, and references that could make
// validation recurse forever or take exponential time. It returns the
// targets of the schema's references.
func checkSchema(root *jsonschema.Schema) (map[string]*jsonschema.Schema, error) {
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	byPath := map[string]*jsonschema.Schema{}
	anchors := map[string]*jsonschema.Schema{}
	var all []*jsonschema.Schema
	walkSchema(root, "", func(path string, s *jsonschema.Schema) {
		all = append(all, s)
		byPath[path] = s
		at := orRoot(path)
		for _, k := range slices.Sorted(mapKeys(s.Extra)) {
			if !strings.HasPrefix(k, "x-") {
				bad("unknown keyword %q at %s (prefix extensions with x-)", k, at)
			}
		}
		for _, t := range append([]string{s.Type}, s.Types...) {
			if t != "" && !slices.Contains(jsonTypes, t) {
				bad("unknown type %q at %s; types are %s", t, at, strings.Join(jsonTypes, ", "))
			}
		}
		if s.ID != "" && path != "" {
			bad("$id at %s: only the root schema may have an $id", at)
		}
		if s.DynamicRef != "" || s.DynamicAnchor != "" {
			bad("$dynamicRef and $dynamicAnchor at %s are not supported", at)
		}
		if s.Anchor != "" {
			if _, dup := anchors[s.Anchor]; dup {
				bad("$anchor %q at %s is defined twice", s.Anchor, at)
			}
			anchors[s.Anchor] = s
		}
	})
	refs := map[string]*jsonschema.Schema{}
	for _, s := range all {
		if s.Ref == "" {
			continue
		}
		frag, ok := strings.CutPrefix(s.Ref, "#")
		var t *jsonschema.Schema
		switch {
		case !ok:
		case frag == "" || strings.HasPrefix(frag, "/"):
			t = byPath[frag]
		default:
			t = anchors[frag]
		}
		if t == nil {
			bad("$ref %q cannot be resolved; only references within the schema (#, #/$defs/name, #anchor) are supported", s.Ref)
			continue
		}
		refs[s.Ref] = t
	}
	if len(probs) > 0 {
		return nil, errors.New(strings.Join(probs, "; "))
	}

	// Subschemas that apply to the same value as their parent must not form
	// a cycle, and must not fan out without bound.
	inPlace := func(s *jsonschema.Schema) []*jsonschema.Schema {
		var cs []*jsonschema.Schema
		if s.Ref != "" {
			cs = append(cs, refs[s.Ref])
		}
		cs = append(cs, s.AllOf...)
		cs = append(cs, s.AnyOf...)
		cs = append(cs, s.OneOf...)
		for _, c := range []*jsonschema.Schema{s.Not, s.If, s.Then, s.Else} {
			if c != nil {
				cs = append(cs, c)
			}
		}
		for _, m := range []map[string]*jsonschema.Schema{s.DependentSchemas, s.DependencySchemas} {
			for _, k := range slices.Sorted(mapKeys(m)) {
				cs = append(cs, m[k])
			}
		}
		return cs
	}
	const (
		unseen = iota
		active
		done
	)
	state := map[*jsonschema.Schema]int{}
	cost := map[*jsonschema.Schema]int{}
	var visit func(s *jsonschema.Schema) error
	visit = func(s *jsonschema.Schema) error {
		switch state[s] {
		case active:
			return errors.New("$ref cycle: a subschema refers back to itself without descending into a property or item, so validation would never end")
		case done:
			return nil
		}
		state[s] = active
		n := 1
		for _, c := range inPlace(s) {
			if err := visit(c); err != nil {
				return err
			}
			n = min(n+cost[c], maxInPlace+1)
		}
		state[s] = done
		cost[s] = n
		if n > maxInPlace {
			return fmt.Errorf("schema is too complex: one value would be checked against more than %d subschemas through $ref, allOf, anyOf and oneOf", maxInPlace)
		}
		return nil
	}
	for _, s := range all {
		if err := visit(s); err != nil {
			return nil, err
		}
	}
	return refs, nil
}

func orRoot(path string) string {
	if path == "" {
		return "/"
	}
	return path
}

// walkSchema calls f for s and every schema below it, with its JSON Pointer
// within the root schema.
func walkSchema(s *jsonschema.Schema, path string, f func(string, *jsonschema.Schema)) {
	if s == nil {
		return
	}
	f(path, s)
	one := func(name string, c *jsonschema.Schema) { walkSchema(c, path+"/"+name, f) }
	list := func(name string, cs []*jsonschema.Schema) {
		for i, c := range cs {
			walkSchema(c, path+"/"+name+"/"+strconv.Itoa(i), f)
		}
	}
	dict := func(name string, m map[string]*jsonschema.Schema) {
		for _, k := range slices.Sorted(mapKeys(m)) {
			walkSchema(m[k], path+"/"+name+"/"+pointerEscape(k), f)
		}
	}
	dict("$defs", s.Defs)
	dict("definitions", s.Definitions)
	dict("dependencies", s.DependencySchemas)
	list("prefixItems", s.PrefixItems)
	one("items", s.Items)
	list("items", s.ItemsArray)
	one("additionalItems", s.AdditionalItems)
	one("contains", s.Contains)
	one("unevaluatedItems", s.UnevaluatedItems)
	dict("properties", s.Properties)
	dict("patternProperties", s.PatternProperties)
	one("additionalProperties", s.AdditionalProperties)
	one("propertyNames", s.PropertyNames)
	one("unevaluatedProperties", s.UnevaluatedProperties)
	list("allOf", s.AllOf)
	list("anyOf", s.AnyOf)
	list("oneOf", s.OneOf)
	one("not", s.Not)
	one("if", s.If)
	one("then", s.Then)
	one("else", s.Else)
	dict("dependentSchemas", s.DependentSchemas)
	one("contentSchema", s.ContentSchema)
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func pointerEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// A Violation is one way a value fails its schema.
type Violation struct {
	Path    string // where in the value, as a JSON path: $, $.a, $.list[2].b, $["odd key"]
	Message string // what is wrong, in a sentence a model can act on
}

// String returns "path: message".
func (v Violation) String() string { return v.Path + ": " + v.Message }

// A ValidationError reports that a skill's input or output does not match
// its schema. Its message lists every violation found, one per line, so it
// can be handed back to a model as a repair hint.
type ValidationError struct {
	Which      string // "input" or "output"
	Violations []Violation
}

// maxViolations caps the violations a ValidationError lists.
const maxViolations = 50

// Error lists the violations, one per line.
func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s does not match the %s schema:", e.Which, e.Which)
	for i, v := range e.Violations {
		if i == maxViolations {
			fmt.Fprintf(&b, "\n- ... and %d more", len(e.Violations)-maxViolations)
			break
		}
		b.WriteString("\n- ")
		b.WriteString(v.String())
	}
	return b.String()
}

// validate checks v against cs. The compiled schema decides; the violations
// are then collected by walking the schema so that every one can be listed
// with the path of the offending value.
func validate(which string, cs *compiledSchema, v any) (err error) {
	if cs == nil {
		return fmt.Errorf("no %s schema", which)
	}
	inst, err := normalize(v)
	if err != nil {
		return &ValidationError{Which: which, Violations: []Violation{{Path: "$", Message: "value cannot be written as JSON: " + err.Error()}}}
	}
	defer func() {
		if p := recover(); p != nil {
			err = &ValidationError{Which: which, Violations: []Violation{{Path: "$", Message: fmt.Sprintf("schema validation failed: %v", p)}}}
		}
	}()
	verr := cs.rs.Validate(inst)
	if verr == nil {
		return nil
	}
	c := &checker{refs: cs.refs}
	c.check("$", inst, cs.root, 0)
	vs := c.out
	if len(vs) == 0 {
		vs = []Violation{{Path: "$", Message: verr.Error()}}
	}
	return &ValidationError{Which: which, Violations: vs}
}

// normalize turns v into the plain JSON values encoding/json decodes into.
func normalize(v any) (any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// checker collects violations. It understands the keywords a skill schema is
// likely to use; anything it does not understand is left to the compiled
// schema, whose own message is used when the checker finds nothing.
type checker struct {
	refs map[string]*jsonschema.Schema
	out  []Violation
}

// maxCheckDepth bounds recursion through $ref and nesting.
const maxCheckDepth = 256

func (c *checker) add(path, format string, args ...any) {
	c.out = append(c.out, Violation{Path: path, Message: fmt.Sprintf(format, args...)})
}

// sub checks v against s in a fresh checker and returns its violations.
func (c *checker) sub(path string, v any, s *jsonschema.Schema, depth int) []Violation {
	sc := &checker{refs: c.refs}
	sc.check(path, v, s, depth)
	return sc.out
}

func (c *checker) check(path string, v any, s *jsonschema.Schema, depth int) {
	if s == nil || depth > maxCheckDepth {
		return
	}
	depth++
	if isFalseSchema(s) {
		c.add(path, "no value is allowed here")
		return
	}
	if s.Ref != "" {
		if t := c.refs[s.Ref]; t != nil {
			c.check(path, v, t, depth)
		}
	}

	got := jsonTypeOf(v)
	if s.Type != "" && !typeMatches(got, s.Type) {
		c.add(path, "expected %s, got %s", s.Type, describe(v, got))
		return
	}
	if len(s.Types) > 0 && !slices.ContainsFunc(s.Types, func(t string) bool { return typeMatches(got, t) }) {
		c.add(path, "expected one of %s, got %s", strings.Join(s.Types, ", "), describe(v, got))
		return
	}
	if s.Enum != nil && !slices.ContainsFunc(s.Enum, func(e any) bool { return jsonEqual(e, v) }) {
		alts := make([]string, len(s.Enum))
		for i, e := range s.Enum {
			alts[i] = short(e)
		}
		c.add(path, "%s is not one of the allowed values: %s", short(v), strings.Join(alts, ", "))
	}
	if s.Const != nil && !jsonEqual(*s.Const, v) {
		c.add(path, "must be %s, got %s", short(*s.Const), short(v))
	}

	switch x := v.(type) {
	case float64:
		c.checkNumber(path, x, s)
	case string:
		c.checkString(path, x, s)
	case []any:
		c.checkArray(path, x, s, depth)
	case map[string]any:
		c.checkObject(path, x, s, depth)
	}

	for _, a := range s.AllOf {
		c.check(path, v, a, depth)
	}
	if len(s.AnyOf) > 0 {
		c.checkAlternatives(path, v, s.AnyOf, "anyOf", depth)
	}
	if len(s.OneOf) > 0 {
		c.checkAlternatives(path, v, s.OneOf, "oneOf", depth)
	}
	if s.Not != nil && len(c.sub(path, v, s.Not, depth)) == 0 {
		c.add(path, "%s matches a schema it must not match (not)", short(v))
	}
	if s.If != nil {
		if len(c.sub(path, v, s.If, depth)) == 0 {
			c.check(path, v, s.Then, depth)
		} else {
			c.check(path, v, s.Else, depth)
		}
	}
}

func (c *checker) checkAlternatives(path string, v any, alts []*jsonschema.Schema, kw string, depth int) {
	var best []Violation
	matched := 0
	for _, a := range alts {
		vs := c.sub(path, v, a, depth)
		if len(vs) == 0 {
			matched++
			continue
		}
		if best == nil || len(vs) < len(best) {
			best = vs
		}
	}
	switch {
	case matched == 0:
		c.add(path, "does not match any of the %d allowed forms (%s); the closest form fails as follows", len(alts), kw)
		c.out = append(c.out, best...)
	case kw == "oneOf" && matched > 1:
		c.add(path, "matches %d of the allowed forms, but must match exactly one (oneOf)", matched)
	}
}

func (c *checker) checkNumber(path string, x float64, s *jsonschema.Schema) {
	n := formatNumber(x)
	if s.Minimum != nil && x < *s.Minimum {
		c.add(path, "%s is less than the minimum %s", n, formatNumber(*s.Minimum))
	}
	if s.Maximum != nil && x > *s.Maximum {
		c.add(path, "%s is greater than the maximum %s", n, formatNumber(*s.Maximum))
	}
	if s.ExclusiveMinimum != nil && x <= *s.ExclusiveMinimum {
		c.add(path, "%s must be greater than %s", n, formatNumber(*s.ExclusiveMinimum))
	}
	if s.ExclusiveMaximum != nil && x >= *s.ExclusiveMaximum {
		c.add(path, "%s must be less than %s", n, formatNumber(*s.ExclusiveMaximum))
	}
	if s.MultipleOf != nil && *s.MultipleOf > 0 && !math.IsInf(x, 0) {
		q := new(big.Rat).SetFloat64(x)
		d := new(big.Rat).SetFloat64(*s.MultipleOf)
		if q != nil && d != nil && !q.Quo(q, d).IsInt() {
			c.add(path, "%s is not a multiple of %s", n, formatNumber(*s.MultipleOf))
		}
	}
}

func (c *checker) checkString(path, x string, s *jsonschema.Schema) {
	n := utf8.RuneCountInString(x)
	if s.MinLength != nil && n < *s.MinLength {
		if n == 0 {
			c.add(path, "must not be empty (at least %d characters)", *s.MinLength)
		} else {
			c.add(path, "is %d characters, fewer than the minimum %d", n, *s.MinLength)
		}
	}
	if s.MaxLength != nil && n > *s.MaxLength {
		c.add(path, "is %d characters, more than the maximum %d", n, *s.MaxLength)
	}
	if s.Pattern != "" {
		if re := compilePattern(s.Pattern); re != nil && !re.MatchString(x) {
			c.add(path, "%s does not match the pattern %s", short(x), quote(s.Pattern))
		}
	}
}

func (c *checker) checkArray(path string, x []any, s *jsonschema.Schema, depth int) {
	if s.MinItems != nil && len(x) < *s.MinItems {
		c.add(path, "has %d items, fewer than the minimum %d", len(x), *s.MinItems)
	}
	if s.MaxItems != nil && len(x) > *s.MaxItems {
		c.add(path, "has %d items, more than the maximum %d", len(x), *s.MaxItems)
	}
	if s.UniqueItems {
	dup:
		for i := range x {
			for j := i + 1; j < len(x); j++ {
				if jsonEqual(x[i], x[j]) {
					c.add(path, "items %d and %d are equal, but items must be unique", i, j)
					break dup
				}
			}
		}
	}
	prefix := s.PrefixItems
	rest := s.Items
	if len(s.ItemsArray) > 0 { // draft-07 tuple form
		prefix, rest = s.ItemsArray, s.AdditionalItems
	}
	for i, item := range x {
		p := path + "[" + strconv.Itoa(i) + "]"
		if i < len(prefix) {
			c.check(p, item, prefix[i], depth)
		} else if rest != nil {
			if isFalseSchema(rest) {
				c.add(path, "has %d items, but at most %d are allowed", len(x), len(prefix))
				break
			}
			c.check(p, item, rest, depth)
		}
	}
	if s.Contains != nil {
		n := 0
		for i, item := range x {
			if len(c.sub(path+"["+strconv.Itoa(i)+"]", item, s.Contains, depth)) == 0 {
				n++
			}
		}
		lo := 1
		if s.MinContains != nil {
			lo = *s.MinContains
		}
		if n < lo {
			c.add(path, "has %d items matching the contains schema, fewer than the minimum %d", n, lo)
		}
		if s.MaxContains != nil && n > *s.MaxContains {
			c.add(path, "has %d items matching the contains schema, more than the maximum %d", n, *s.MaxContains)
		}
	}
}

func (c *checker) checkObject(path string, x map[string]any, s *jsonschema.Schema, depth int) {
	for _, r := range s.Required {
		if _, ok := x[r]; !ok {
			c.add(path, "missing required property %s", quote(r))
		}
	}
	if s.MinProperties != nil && len(x) < *s.MinProperties {
		c.add(path, "has %d properties, fewer than the minimum %d", len(x), *s.MinProperties)
	}
	if s.MaxProperties != nil && len(x) > *s.MaxProperties {
		c.add(path, "has %d properties, more than the maximum %d", len(x), *s.MaxProperties)
	}
	for _, k := range slices.Sorted(mapKeys(s.DependentRequired)) {
		if _, ok := x[k]; ok {
			for _, d := range s.DependentRequired[k] {
				if _, ok := x[d]; !ok {
					c.add(path, "property %s requires property %s, which is missing", quote(k), quote(d))
				}
			}
		}
	}
	for _, k := range slices.Sorted(mapKeys(s.DependencyStrings)) {
		if _, ok := x[k]; ok {
			for _, d := range s.DependencyStrings[k] {
				if _, ok := x[d]; !ok {
					c.add(path, "property %s requires property %s, which is missing", quote(k), quote(d))
				}
			}
		}
	}
	for _, deps := range []map[string]*jsonschema.Schema{s.DependentSchemas, s.DependencySchemas} {
		for _, k := range slices.Sorted(mapKeys(deps)) {
			if _, ok := x[k]; ok {
				c.check(path, x, deps[k], depth)
			}
		}
	}
	var unexpected []string
	for _, k := range slices.Sorted(mapKeys(x)) {
		p := jsonPathKey(path, k)
		if s.PropertyNames != nil {
			for _, v := range c.sub(p, k, s.PropertyNames, depth) {
				c.add(p, "property name %s is not allowed: %s", quote(k), v.Message)
			}
		}
		evaluated := false
		if ps, ok := s.Properties[k]; ok {
			evaluated = true
			c.check(p, x[k], ps, depth)
		}
		for _, pat := range slices.Sorted(mapKeys(s.PatternProperties)) {
			if re := compilePattern(pat); re != nil && re.MatchString(k) {
				evaluated = true
				c.check(p, x[k], s.PatternProperties[pat], depth)
			}
		}
		if !evaluated && s.AdditionalProperties != nil {
			if isFalseSchema(s.AdditionalProperties) {
				unexpected = append(unexpected, k)
			} else {
				c.check(p, x[k], s.AdditionalProperties, depth)
			}
		}
	}
	if s.UnevaluatedProperties != nil {
		names, all := c.evaluated(x, s, depth)
		for _, k := range slices.Sorted(mapKeys(x)) {
			if all || names[k] {
				continue
			}
			if isFalseSchema(s.UnevaluatedProperties) {
				unexpected = append(unexpected, k)
			} else {
				c.check(jsonPathKey(path, k), x[k], s.UnevaluatedProperties, depth)
			}
		}
		unexpected = slices.Compact(slices.Sorted(slices.Values(unexpected)))
	}
	if len(unexpected) > 0 {
		msg := "unexpected propert"
		if len(unexpected) == 1 {
			msg += "y "
		} else {
			msg += "ies "
		}
		for i, k := range unexpected {
			unexpected[i] = quote(k)
		}
		msg += strings.Join(unexpected, ", ")
		if len(s.Properties) > 0 {
			allowed := slices.Sorted(mapKeys(s.Properties))
			for i, k := range allowed {
				allowed[i] = quote(k)
			}
			msg += "; the allowed properties are " + strings.Join(allowed, ", ")
		} else {
			msg += "; no other properties are allowed"
		}
		c.add(path, "%s", msg)
	}
}

// evaluated approximates the properties of x that s and the subschemas it
// applies successfully evaluate, for unevaluatedProperties. all reports that
// every property is evaluated.
func (c *checker) evaluated(x map[string]any, s *jsonschema.Schema, depth int) (names map[string]bool, all bool) {
	names = map[string]bool{}
	var visit func(s *jsonschema.Schema, depth int)
	visit = func(s *jsonschema.Schema, depth int) {
		if s == nil || all || depth > maxCheckDepth {
			return
		}
		depth++
		if s.AdditionalProperties != nil || s.UnevaluatedProperties != nil {
			all = true
			return
		}
		for k := range x {
			if _, ok := s.Properties[k]; ok {
				names[k] = true
			}
			for pat := range s.PatternProperties {
				if re := compilePattern(pat); re != nil && re.MatchString(k) {
					names[k] = true
				}
			}
		}
		if s.Ref != "" {
			visit(c.refs[s.Ref], depth)
		}
		matching := func(list []*jsonschema.Schema) {
			for _, a := range list {
				if len(c.sub("$", x, a, depth)) == 0 {
					visit(a, depth)
				}
			}
		}
		matching(s.AllOf)
		matching(s.AnyOf)
		matching(s.OneOf)
		if s.If != nil {
			if len(c.sub("$", x, s.If, depth)) == 0 {
				visit(s.If, depth)
				visit(s.Then, depth)
			} else {
				visit(s.Else, depth)
			}
		}
		for k, d := range s.DependentSchemas {
			if _, ok := x[k]; ok {
				visit(d, depth)
			}
		}
	}
	// s's own unevaluatedProperties does not count as evaluating.
	own := *s
	own.UnevaluatedProperties = nil
	visit(&own, depth)
	return names, all
}

var patterns sync.Map // pattern string -> *regexp.Regexp, or nil if it does not compile

func compilePattern(p string) *regexp.Regexp {
	if re, ok := patterns.Load(p); ok {
		return re.(*regexp.Regexp)
	}
	re, err := regexp.Compile(p)
	if err != nil {
		re = nil
	}
	patterns.Store(p, re)
	return re
}

// isFalseSchema reports whether s is the schema false, which the compiled
// form represents as {"not": {}}.
func isFalseSchema(s *jsonschema.Schema) bool {
	return s != nil && s.Not != nil && reflect.DeepEqual(*s.Not, jsonschema.Schema{}) &&
		reflect.DeepEqual(jsonschema.Schema{Not: s.Not}, *s)
}

// jsonTypeOf returns the JSON Schema type of a normalized value.
func jsonTypeOf(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		if _, f := math.Modf(x); f == 0 {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func typeMatches(got, want string) bool {
	return got == want || got == "integer" && want == "number"
}

// describe names a value's type for a type mismatch, with a short preview.
func describe(v any, typ string) string {
	switch typ {
	case "object", "array", "null":
		return typ
	}
	return typ + " " + short(v)
}

// short renders v as compact JSON, cut to a readable length.
func short(v any) string {
	b, err := marshalCompact(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	const max = 60
	if utf8.RuneCount(b) <= max {
		return string(b)
	}
	r := []rune(string(b))
	return string(r[:max]) + "…"
}

func formatNumber(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// jsonEqual compares normalized JSON values, as decoded by encoding/json.
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !jsonEqual(xv, yv) {
				return false
			}
		}
		return true
	}
	return a == b
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// jsonPathKey appends an object key to a JSON path.
func jsonPathKey(path, k string) string {
	if identRE.MatchString(k) {
		return path + "." + k
	}
	return path + "[" + quote(k) + "]"
}
