package policy

import (
	_ "embed"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/cedar-policy/cedar-go/types"
	xast "github.com/cedar-policy/cedar-go/x/exp/ast"
	"github.com/cedar-policy/cedar-go/x/exp/schema"
	sast "github.com/cedar-policy/cedar-go/x/exp/schema/ast"
	"github.com/cedar-policy/cedar-go/x/exp/schema/validate"
)

//go:embed schema.cedarschema
var schemaText string

// SchemaName is the file name problems in the embedded schema are reported under.
const SchemaName = "schema.cedarschema"

// Schema returns the Cedar schema policies are validated against.
func Schema() string { return schemaText }

const actionType = types.EntityType("Action")

// validateAll type-checks every policy against the schema with cedar-go's
// validator in strict mode, so a misspelt attribute (`context.sigals`), a
// wrong type (`context.risk == "4"`) or an unguarded optional access is a
// load error instead of a policy that silently never matches — or, worse,
// errors on every request.
//
// The schema's action list is completed per policy set: capabilities are
// open-ended (every MCP tool, every model id), so each action a policy names
// is declared on the fly, as a member of its colon prefixes, with the same
// principal, resource and context as the built-in groups.
func validateAll(policies []*compiled) []Problem {
	var s schema.Schema
	s.SetFilename(SchemaName)
	if err := s.UnmarshalCedar([]byte(schemaText)); err != nil {
		return []Problem{{File: SchemaName, Message: err.Error()}}
	}
	problems := checkActionNames(s.AST(), policies)
	declareActions(s.AST(), policies)
	resolved, err := s.Resolve()
	if err != nil {
		return []Problem{{File: SchemaName, Message: err.Error()}}
	}
	v := validate.New(resolved)
	for _, p := range policies {
		for _, msg := range validatePolicy(v, p) {
			if p.named {
				msg = fmt.Sprintf("policy %s: %s", p.id, msg)
			}
			problems = append(problems, Problem{p.pos.Filename, p.pos.Line, p.pos.Column, msg})
		}
	}
	return problems
}

// validatePolicy returns the validator's complaints about one policy, cleaned
// up and sorted. The validator reports one message per action it tried; the
// action names are noise to a policy author, so they are dropped and the
// duplicates merged.
func validatePolicy(v *validate.Validator, p *compiled) (msgs []string) {
	defer func() {
		// The validator is experimental code; a crash in it must reject the
		// policy set, not take the daemon down.
		if r := recover(); r != nil {
			msgs = []string{fmt.Sprintf("the schema validator failed on this policy: %v", r)}
		}
	}()
	err := v.Policy("", (*xast.Policy)(p.policy.AST()))
	if err == nil {
		return nil
	}
	seen := map[string]bool{}
	for _, e := range flatten(err) {
		m := forAction.ReplaceAllString(e.Error(), "")
		if contextAttr.MatchString(m) {
			m += " (the attributes a policy can use are in the schema, docs/POLICIES.md; a tool argument the schema does not list needs a test first: `context.args has NAME && …`)"
		}
		if !seen[m] {
			seen[m] = true
			msgs = append(msgs, m)
		}
	}
	slices.Sort(msgs)
	return msgs
}

var contextAttr = regexp.MustCompile("^attribute `[^`]*` in context not found$")

var forAction = regexp.MustCompile(` for Action::"(?:[^"\\]|\\.)*"`)

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// checkActionNames catches the action names that would load but never
// match: wildcards (`Action::"tool:*"` is one action named "tool:*", not a
// pattern), empty segments, and groups the schema does not know, which are
// almost always typos ("tol:Bash", "Tool:Bash").
func checkActionNames(s *sast.Schema, policies []*compiled) []Problem {
	var groups []string
	for g := range s.Actions {
		groups = append(groups, string(g))
	}
	slices.Sort(groups)
	var problems []Problem
	for _, p := range policies {
		seen := map[string]bool{}
		for _, id := range referencedActions((*xast.Policy)(p.policy.AST())) {
			if seen[id] {
				continue
			}
			seen[id] = true
			var msg string
			group, _, _ := strings.Cut(id, ":")
			switch {
			case strings.Contains(id, "*"):
				msg = fmt.Sprintf("Action::%q is not a pattern: name one action, or a group with `action in Action::%q`", id, strings.TrimSuffix(strings.TrimSuffix(id, "*"), ":"))
			case !validAction(id):
				msg = fmt.Sprintf("Action::%q has an empty segment", id)
			case !slices.Contains(groups, group):
				msg = fmt.Sprintf("Action::%q: unknown group %q; actions start with one of %s", id, group, strings.Join(groups, ", "))
			default:
				continue
			}
			if p.named {
				msg = fmt.Sprintf("policy %s: %s", p.id, msg)
			}
			problems = append(problems, Problem{p.pos.Filename, p.pos.Line, p.pos.Column, msg})
		}
	}
	return problems
}

// declareActions adds every action the policies name, and its colon
// prefixes, to the schema.
func declareActions(s *sast.Schema, policies []*compiled) {
	appliesTo := s.Actions["tool"].AppliesTo
	ids := map[string]bool{}
	for _, p := range policies {
		for _, id := range referencedActions((*xast.Policy)(p.policy.AST())) {
			ids[id] = true
		}
	}
	for id := range ids {
		prefixes := actionPrefixes(id)
		for i, pre := range prefixes {
			declare(s, pre, prefixes[i+1:], appliesTo)
		}
		declare(s, id, prefixes, appliesTo)
	}
}

func declare(s *sast.Schema, id string, parents []string, appliesTo *sast.AppliesTo) {
	if _, ok := s.Actions[types.String(id)]; ok {
		return
	}
	a := sast.Action{AppliesTo: appliesTo}
	for _, p := range parents {
		a.Parents = append(a.Parents, sast.ParentRefFromID(types.String(p)))
	}
	s.Actions[types.String(id)] = a
}

// actionPrefixes returns the colon prefixes of an action, longest first:
// "model:chat:ollama/llama3" → ["model:chat", "model"].
func actionPrefixes(action string) []string {
	var out []string
	for i := len(action) - 1; i > 0; i-- {
		if action[i] == ':' && action[i-1] != ':' {
			out = append(out, action[:i])
		}
	}
	return out
}

// referencedActions lists the Action entity ids a policy mentions, in its
// scope or anywhere in its conditions.
func referencedActions(p *xast.Policy) []string {
	var out []string
	var addValue func(v types.Value)
	addValue = func(v types.Value) {
		switch v := v.(type) {
		case types.EntityUID:
			if v.Type == actionType {
				out = append(out, string(v.ID))
			}
		case types.Set:
			for e := range v.All() {
				addValue(e)
			}
		case types.Record:
			for _, e := range v.All() {
				addValue(e)
			}
		}
	}
	switch sc := p.Action.(type) {
	case xast.ScopeTypeEq:
		addValue(sc.Entity)
	case xast.ScopeTypeIn:
		addValue(sc.Entity)
	case xast.ScopeTypeInSet:
		for _, e := range sc.Entities {
			addValue(e)
		}
	}
	for _, c := range p.Conditions {
		xast.Inspect(xast.NewNode(c.Body), func(n xast.IsNode) bool {
			if v, ok := n.(xast.NodeValue); ok {
				addValue(v.Value)
			}
			return true
		})
	}
	return out
}
