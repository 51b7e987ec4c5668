package policy

import (
	"errors"
	"testing"
)

// FuzzLoadSources: no policy text may crash the loader, and whatever loads
// must decide without crashing and with a well-formed decision.
func FuzzLoadSources(f *testing.F) {
	f.Add(`permit (principal, action, resource);`, false)
	f.Add(defaultPack, true)
	f.Fuzz(func(t *testing.T, text string, withDefaults bool) {
		e, err := LoadSources(map[string]string{"fuzz.cedar": text}, withDefaults)
		if err != nil {
			if e != nil {
				t.Fatal("an engine and an error")
			}
			var le *LoadError
			if !errors.As(err, &le) || len(le.Problems) == 0 {
				t.Fatalf("error %v is not a *LoadError with problems", err)
			}
			for _, p := range le.Problems {
				if p.File != "fuzz.cedar" && p.File != DefaultPackName && p.File != SchemaName {
					t.Fatalf("problem in unknown file: %v", p)
				}
			}
			return
		}
		for _, req := range []Request{
			{Principal: Principal{Name: "f", Scopes: []string{"*"}}, Action: "tool:Bash", Context: Context{Risk: 1, Args: map[string]any{"command": "ls"}}},
			{Principal: Principal{Name: "f", Scopes: []string{"*"}}, Action: "model:chat:x", Resource: "x", Context: Context{Risk: 3, Tier: "cloud", Signals: []string{"network"}}},
		} {
			d := e.Decide(req)
			switch d.Effect {
			case Allow, Ask, Block:
			default:
				t.Fatalf("effect %q", d.Effect)
			}
			if len(d.Reasons) == 0 {
				t.Fatal("a decision without reasons")
			}
			_ = Explain(e, req)
		}
	})
}

// FuzzScopeCovers checks the scope grammar's invariants on arbitrary input.
func FuzzScopeCovers(f *testing.F) {
	f.Add("tool:*", "tool:Bash")
	f.Add("model:chat:ollama/*", "model:chat:ollama/llama3:8b")
	f.Fuzz(func(t *testing.T, pattern, action string) {
		covers := ScopeCovers(pattern, action)
		valid := ValidScope(pattern) == nil
		if covers && (!valid || !validAction(action)) {
			t.Fatalf("ScopeCovers(%q, %q) with an invalid pattern or action", pattern, action)
		}
		if valid != PatternCovers(pattern, pattern) {
			t.Fatalf("PatternCovers(%q, itself) = %v, valid = %v", pattern, !valid, valid)
		}
		if valid && !PatternCovers("*", pattern) {
			t.Fatalf(`"*" does not cover %q`, pattern)
		}
		// A concrete action is also a literal pattern that matches only
		// itself, so the two questions must agree.
		if ValidScope(action) == nil && validAction(action) {
			if got := PatternCovers(pattern, action); got != covers {
				t.Fatalf("PatternCovers(%q, %q) = %v, ScopeCovers = %v", pattern, action, got, covers)
			}
			if !ScopeCovers(action, action) {
				t.Fatalf("%q does not cover itself", action)
			}
		}
	})
}
