package policy

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestScopeCovers(t *testing.T) {
	tests := []struct {
		pattern, action string
		want            bool
	}{
		{"*", "tool:Bash", true},
		{"*", "memory", true},
		{"*", "model:chat:ollama/llama3", true},
		{"tool:Bash", "tool:Bash", true},
		{"tool:Bash", "tool:bash", false}, // case-sensitive
		{"tool:Bash", "tool:Bash:x", false},
		{"tool:Bash", "tool", false},
		{"tool:*", "tool:Bash", true},
		{"tool:*", "tool:mcp:github:create", true}, // trailing * takes one or more
		{"tool:*", "tool", false},                  // … but at least one
		{"tool:*", "tools:Bash", false},
		{"*:read", "memory:read", true},
		{"*:read", "memory:write", false},
		{"*:read", "memory:read:x", false}, // a middle * is exactly one segment
		{"skill:*:summarize", "skill:run:summarize", true},
		{"skill:*:summarize", "skill:run:x:summarize", false},
		{"model:chat:ollama/*", "model:chat:ollama/llama3", true},
		{"model:chat:ollama/*", "model:chat:ollama/llama3:8b", true}, // a trailing prefix takes the rest
		{"model:chat:ollama/*", "model:chat:ollama/", false},         // the prefix alone is not a model
		{"model:chat:ollama/*", "model:chat:openai/gpt-4o", false},
		{"model:chat:ollama/*", "model:chat:ollamaX/llama3", false},
		{"model:chat:ollama/*", "model:chat", false},
		{"model:ollama/*:chat", "model:ollama/llama3:chat", true}, // a middle prefix is one segment
		{"model:ollama/*:chat", "model:ollama/llama3:8b:chat", false},
		{"model:*", "model:chat:openai/gpt-4o", true},
		{"lease:grant", "lease:grant", true},
		// Malformed actions are never covered, even by "*".
		{"*", "", false},
		{"*", "tool::Bash", false},
		{"*", ":tool", false},
		{"*", "tool:", false},
		{"*", "tool:*", false},
		// Invalid patterns cover nothing.
		{"", "tool:Bash", false},
		{"tool:Ba*", "tool:Bash", false},
		{"tool::*", "tool:x:y", false},
		{"tool: Bash", "tool: Bash", false},
	}
	for _, tt := range tests {
		if got := ScopeCovers(tt.pattern, tt.action); got != tt.want {
			t.Errorf("ScopeCovers(%q, %q) = %v, want %v", tt.pattern, tt.action, got, tt.want)
		}
	}
}

func TestScopesCover(t *testing.T) {
	if ScopesCover(nil, "tool:Bash") {
		t.Error("no patterns must cover nothing")
	}
	if !ScopesCover([]string{"model:*", "tool:Read", "tool:Bash"}, "tool:Bash") {
		t.Error("a later pattern must count")
	}
	if ScopesCover([]string{"model:*", "bad*"}, "tool:Bash") {
		t.Error("unrelated and invalid patterns must not cover")
	}
}

func TestValidScope(t *testing.T) {
	valid := []string{"*", "tool:*", "tool:Bash", "*:read", "model:chat:ollama/*", "a/b/*", "model:openrouter/meta-llama/*", "lease:grant", "tool:mcp__github__create_issue"}
	for _, p := range valid {
		if err := ValidScope(p); err != nil {
			t.Errorf("ValidScope(%q) = %v, want nil", p, err)
		}
	}
	invalid := []struct{ pattern, msg string }{
		{"", "scope is empty"},
		{"tool::Bash", "segment 2 is empty"},
		{":tool", "segment 1 is empty"},
		{"tool:", "segment 2 is empty"},
		{"tool:Ba*", `segment 2 ("Ba*"): "*" must be a whole segment, or end a segment as "prefix/*"`},
		{"tool:**", `segment 2 ("**")`},
		{"model:*/x", `segment 2 ("*/x")`},
		{"model:a*/*", `segment 2 ("a*/*")`},
		{"model:/*", `segment 2 ("/*") needs a prefix before "/*"`},
		{"tool:Bash ls", `scope contains ' '`},
		{"tool:\tBash", `scope contains '\t'`},
		{"tool:\x00", `scope contains '\x00'`},
		{"tool:\xff", `scope contains '�'`},
		{strings.Repeat("a", 513), "scope is 513 bytes long; the limit is 512"},
	}
	for _, tt := range invalid {
		err := ValidScope(tt.pattern)
		if err == nil || !strings.HasPrefix(err.Error(), tt.msg) {
			t.Errorf("ValidScope(%q) = %v, want %q…", tt.pattern, err, tt.msg)
		}
	}
}

func TestPatternCovers(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"*", "*", true},
		{"*", "tool:*", true},
		{"*", "model:chat:ollama/*", true},
		{"tool:*", "*", false},
		{"tool:*", "tool:Bash", true},
		{"tool:*", "tool:*", true},
		{"tool:*", "tool:*:x", true},
		{"tool:*", "tool", false},
		{"tool:Bash", "tool:*", false},
		{"tool:Bash", "tool:Bash", true},
		{"*:read", "memory:read", true},
		{"*:read", "*:*", false},
		{"*:*", "*:read", true},
		{"*:*", "a:b:c", true}, // trailing * covers more segments
		{"*:read", "a:read:x", false},
		{"model:chat:ollama/*", "model:chat:ollama/llama3", true},
		{"model:chat:ollama/*", "model:chat:ollama/llama3:8b", true},
		{"model:chat:ollama/*", "model:chat:ollama/llama/*", true},
		{"model:chat:ollama/*", "model:chat:ollama/*", true},
		{"model:chat:ollama/*", "model:chat:*", false},
		{"model:chat:ollama/*", "model:chat:ollama/", false},
		{"model:chat:*", "model:chat:ollama/*", true},
		{"model:chat:ollama/llama/*", "model:chat:ollama/*", false},
		{"model:*:ollama/*", "model:chat:ollama/x", true},
		{"model:*:ollama/*", "model:chat:*", false},
		{"tool:Bash", "tool:Bash:x", false},
		{"bad*", "bad*", false},
		{"*", "", false},
	}
	for _, tt := range tests {
		if got := PatternCovers(tt.a, tt.b); got != tt.want {
			t.Errorf("PatternCovers(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// The segments the generated patterns and actions are built from. Overlaps
// ("a", "a/x", "a/*", "a/x/*") are the point; "zz" matches no literal, so a
// star can always be told apart from a literal.
var (
	patternSegs = []string{"a", "b", "*", "a/*", "a/x", "a/x/*"}
	actionSegs  = []string{"a", "b", "a/x", "a/y", "a/x/z", "zz"}
)

func randomJoin(r *rand.Rand, segs []string, maxLen int) string {
	n := 1 + r.IntN(maxLen)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = segs[r.IntN(len(segs))]
	}
	return strings.Join(parts, ":")
}

// TestPatternCoversSound is the property lease attenuation rests on: when a
// covers b, every action b admits, a admits too.
func TestPatternCoversSound(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	covered := 0
	for range 200_000 {
		a, b := randomJoin(r, patternSegs, 3), randomJoin(r, patternSegs, 3)
		if !PatternCovers(a, b) {
			continue
		}
		covered++
		for range 8 {
			x := randomJoin(r, actionSegs, 5)
			if ScopeCovers(b, x) && !ScopeCovers(a, x) {
				t.Fatalf("PatternCovers(%q, %q) but %q is covered by b and not by a", a, b, x)
			}
		}
	}
	if covered < 1000 {
		t.Fatalf("only %d covering pairs generated; the property test is not testing much", covered)
	}
}

// TestPatternCoversExact checks every pair of short patterns against every
// short action: PatternCovers must be exactly "no action matched by b is
// missed by a". The universe is small but has a witness for every way a
// pattern can fail to cover another.
func TestPatternCoversExact(t *testing.T) {
	var patterns, actions []string
	var gen func(segs []string, prefix string, n int, out *[]string)
	gen = func(segs []string, prefix string, n int, out *[]string) {
		if n == 0 {
			return
		}
		for _, s := range segs {
			p := s
			if prefix != "" {
				p = prefix + ":" + s
			}
			*out = append(*out, p)
			gen(segs, p, n-1, out)
		}
	}
	gen(patternSegs, "", 3, &patterns)
	gen(actionSegs, "", 4, &actions)
	// matches[i] is the set of actions pattern i covers, as a bitset.
	words := (len(actions) + 63) / 64
	matches := make([][]uint64, len(patterns))
	for i, p := range patterns {
		matches[i] = make([]uint64, words)
		for j, x := range actions {
			if ScopeCovers(p, x) {
				matches[i][j/64] |= 1 << (j % 64)
			}
		}
	}
	for i, a := range patterns {
		for j, b := range patterns {
			want := true
			for w := range words {
				if matches[j][w]&^matches[i][w] != 0 {
					want = false
					break
				}
			}
			if got := PatternCovers(a, b); got != want {
				t.Fatalf("PatternCovers(%q, %q) = %v, but brute force says %v", a, b, got, want)
			}
		}
	}
}

func TestScopeCoversDoesNotAllocate(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		ScopesCover([]string{"model:*", "tool:*"}, "tool:Bash")
	})
	if allocs != 0 {
		t.Errorf("ScopesCover allocates %v times per call; it runs on every request", allocs)
	}
}
