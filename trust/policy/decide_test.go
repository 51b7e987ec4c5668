package policy

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// A small set with one policy of each kind, so the precedence rules can be
// seen one at a time.
const precedenceSet = `
@id("f") @reason("forbidden")
forbid (principal, action, resource) when { context.signals.contains("f") };

@id("f2")
forbid (principal, action, resource) when { context.signals.contains("f2") };

@id("a") @ask @reason("asked")
permit (principal, action, resource) when { context.signals.contains("a") };

@id("a2") @ask @reason("asked again")
permit (principal, action, resource) when { context.signals.contains("a2") };

@id("p") @reason("permitted")
permit (principal, action, resource) when { context.signals.contains("p") };

@id("p2") @reason("permitted again")
permit (principal, action, resource) when { context.signals.contains("p2") };
`

func TestDecidePrecedence(t *testing.T) {
	e := mustLoad(t, map[string]string{"set.cedar": precedenceSet}, false)
	tests := []struct {
		signals []string
		want    Decision
	}{
		{nil, Decision{Block, []Reason{{"default", "no policy permits this action (default deny)"}}}},
		{[]string{"p"}, Decision{Allow, []Reason{{"p", "permitted"}}}},
		{[]string{"p", "p2"}, Decision{Allow, []Reason{{"p", "permitted"}, {"p2", "permitted again"}}}},
		{[]string{"p", "a"}, Decision{Ask, []Reason{{"a", "asked"}}}},
		{[]string{"a2", "a", "p"}, Decision{Ask, []Reason{{"a", "asked"}, {"a2", "asked again"}}}},
		{[]string{"a"}, Decision{Ask, []Reason{{"a", "asked"}}}}, // an @ask permit grants on its own
		{[]string{"p", "a", "f"}, Decision{Block, []Reason{{"f", "forbidden"}}}},
		{[]string{"f2", "f"}, Decision{Block, []Reason{{"f", "forbidden"}, {"f2", "forbid at set.cedar:5 matched"}}}},
	}
	for _, tt := range tests {
		req := Request{Principal: Principal{Name: "t", Scopes: []string{"*"}}, Action: "tool:Bash", Context: Context{Signals: tt.signals}}
		if got := e.Decide(req); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("signals %v: got %+v, want %+v", tt.signals, got, tt.want)
		}
	}
}

func TestDecideScopeComesFirst(t *testing.T) {
	e := mustLoad(t, map[string]string{"all.cedar": `permit (principal, action, resource);`}, false)
	req := Request{Principal: Principal{LeaseID: "lse_1", Name: "claude-code", Scopes: []string{"tool:Read", "model:*"}}, Action: "tool:Bash"}
	want := Decision{Block, []Reason{{"scope", "lease claude-code has no scope covering tool:Bash"}}}
	if got := e.Decide(req); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	req.Principal.Name = ""
	if got := e.Decide(req).Reasons[0].Reason; got != "lease lse_1 has no scope covering tool:Bash" {
		t.Errorf("unnamed lease: %q", got)
	}
}

func TestDecisionJSON(t *testing.T) {
	b, err := json.Marshal(Decision{Effect: Block, Reasons: []Reason{{"scope", "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"decision":"BLOCK","reasons":[{"policy":"scope","reason":"x"}]}` {
		t.Errorf("json = %s", b)
	}
	e := mustLoad(t, nil, true)
	for _, d := range []Decision{
		e.Decide(Request{Principal: Principal{Scopes: []string{"*"}}, Action: "tool:Bash"}),
		e.Decide(Request{Action: "tool:Bash"}),
	} {
		if d.Reasons == nil {
			t.Errorf("%+v: reasons must never be nil", d)
		}
	}
}

// Fail closed: anything that goes wrong while deciding blocks.
func TestDecideFailsClosed(t *testing.T) {
	// Each policy type-checks, but can fail at evaluation time.
	set := `
@id("overflow")
permit (principal, action, resource) when { context.risk * 4611686018427387904 > 0 };

@id("command-type")
permit (principal, action == Action::"tool:Bash", resource)
when { context.args has command && context.args.command like "ls*" };

@id("undeclared-arg")
permit (principal, action, resource)
when { context.args has timeout && context.args.timeout > 1000 };
`
	e := mustLoad(t, map[string]string{"err.cedar": set}, false)
	all := Principal{Name: "t", Scopes: []string{"*"}}
	tests := []struct {
		name string
		req  Request
		want string // start of the one policy_error reason
	}{
		{"integer overflow in a permit", Request{Principal: all, Action: "tool:Read", Context: Context{Risk: 2}},
			"policy overflow (err.cedar:2:1) failed to evaluate: "},
		{"argument of the wrong type", Request{Principal: all, Action: "tool:Bash", Context: Context{Args: map[string]any{"command": 42}}},
			"policy command-type (err.cedar:5:1) failed to evaluate: "},
		{"undeclared argument of the wrong type", Request{Principal: all, Action: "tool:Glob", Context: Context{Args: map[string]any{"timeout": "soon"}}},
			"policy undeclared-arg (err.cedar:9:1) failed to evaluate: "},
		{"a NaN cost", Request{Principal: all, Action: "tool:Read", Context: Context{CostUSD: math.NaN()}},
			"request cannot be evaluated: cost_usd NaN is not a finite non-negative number"},
		{"a negative cost", Request{Principal: all, Action: "tool:Read", Context: Context{CostUSD: -1}},
			"request cannot be evaluated: cost_usd -1 is not"},
		{"an argument Cedar cannot hold", Request{Principal: all, Action: "tool:Read", Context: Context{Args: map[string]any{"f": func() {}}}},
			"request cannot be evaluated: args: f: unsupported value of type func()"},
		{"arguments nested too deep", Request{Principal: all, Action: "tool:Read", Context: Context{Args: deep(100)}},
			"request cannot be evaluated: args: x: x: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.Decide(tt.req)
			if d.Effect != Block || len(d.Reasons) != 1 || d.Reasons[0].Policy != ErrorPolicy || !strings.HasPrefix(d.Reasons[0].Reason, tt.want) {
				t.Errorf("got %+v\nwant BLOCK policy_error %q…", d, tt.want)
			}
		})
	}
}

func deep(n int) map[string]any {
	m := map[string]any{}
	for range n {
		m = map[string]any{"x": m}
	}
	return m
}

func TestDecideRecoversPanics(t *testing.T) {
	e := mustLoad(t, map[string]string{"a.cedar": `permit (principal, action, resource);`}, false)
	// A nil policy makes cedar-go's evaluator dereference nil: the nearest
	// thing to a bug in the evaluator that a test can provoke.
	e.policies = append(e.policies, &compiled{id: "broken", kind: kindPermit})
	e.index.always = append(e.index.always, len(e.policies)-1)
	e.index.cache.Clear()
	d := e.Decide(Request{Principal: Principal{Scopes: []string{"*"}}, Action: "tool:Bash"})
	if d.Effect != Block || d.Reasons[0].Policy != ErrorPolicy || !strings.HasPrefix(d.Reasons[0].Reason, "panic while deciding: ") {
		t.Errorf("got %+v, want a recovered panic", d)
	}

	var nilEngine *Engine
	d = nilEngine.Decide(Request{Principal: Principal{Scopes: []string{"*"}}, Action: "tool:Bash"})
	if d.Effect != Block || d.Reasons[0].Policy != ErrorPolicy {
		t.Errorf("nil engine: %+v", d)
	}
}

// TestDataModel checks what policies see of a request, one attribute at a time.
func TestDataModel(t *testing.T) {
	local := time.Date(2025, 3, 4, 22, 30, 0, 0, time.Local) // a Tuesday
	base := Request{
		Principal: Principal{LeaseID: "lse_abc", Name: "claude-code", Agent: "claude-code", Scopes: []string{"*", "tool:*"}},
		Action:    "model:chat:ollama/llama3:8b",
		Resource:  "ollama/llama3:8b",
		Context: Context{
			Risk: 3, Categories: []string{"network"}, Signals: []string{"network", "publish"},
			Findings: []string{"secret.aws_access_key", "pii.email", "pii.card"}, Sensitivity: "secret",
			CostUSD: 0.1234567, Tier: "local", Time: local, Cwd: "/home/dev/proj",
			Args: map[string]any{"command": "ls", "n": 3.0, "ratio": 0.25, "big": 1e30, "num": json.Number("12"), "frac": json.Number("1.50"),
				"flags": []any{"a", "b", "a", nil}, "opt": nil, "nested": map[string]any{"deep": map[string]any{"ok": true}}},
		},
	}
	conditions := []string{
		`principal == Lease::"lse_abc"`,
		`principal.name == "claude-code" && principal.agent == "claude-code"`,
		`principal.scopes == ["tool:*", "*"]`,
		`action == Action::"model:chat:ollama/llama3:8b"`,
		`action in Action::"model"`,
		`action in Action::"model:chat"`,
		`action in Action::"model:chat:ollama/llama3"`, // a colon prefix, even inside a model tag
		`!(action in Action::"tool")`,
		`resource == Resource::"ollama/llama3:8b" && resource.kind == "model" && resource.value == "ollama/llama3:8b"`,
		`context.risk == 3`,
		`context.categories == ["network"] && context.signals.containsAll(["publish", "network"])`,
		`context.findings.contains("pii.card") && context.finding_classes == ["secret", "pii"]`,
		`context.sensitivity == "secret" && context.tier == "local"`,
		`context.cost_usd_micros == 123457`,
		`context.hour == 22 && context.weekday == "Tuesday"`,
		`context.cwd == "/home/dev/proj" && context.tool == ""`,
		`context.args has command && context.args.command == "ls"`,
		`context.args has n && context.args.n == 3 && context.args has num && context.args.num == 12`,
		`context.args has ratio && context.args.ratio == "0.25" && context.args has frac && context.args.frac == "1.5"`,
		`context.args has big && context.args.big == "1e+30"`,
		`context.args has flags && context.args.flags == ["b", "a"]`,
		`!(context.args has opt)`,
		`context.args has nested && context.args.nested has deep && context.args.nested.deep has ok && context.args.nested.deep.ok`,
	}
	for _, cond := range conditions {
		t.Run(cond, func(t *testing.T) {
			e := mustLoad(t, map[string]string{"m.cedar": "permit (principal, action, resource) when { " + cond + " };"}, false)
			if d := e.Decide(base); d.Effect != Allow {
				t.Errorf("condition not satisfied: %+v", d)
			}
		})
	}
}

func TestDerivedAttributes(t *testing.T) {
	tests := []struct {
		action, resource string
		kind, tool       string
	}{
		{"tool:Bash", "", "none", "Bash"},
		{"tool:Read", "/home/dev/proj/a.go", "path", "Read"},
		{"tool:Read", "relative/a.go", "path", "Read"},
		{"tool:WebFetch", "https://go.dev", "url", "WebFetch"},
		{"tool:mcp__fs__read", "file:///etc/passwd", "url", "mcp__fs__read"},
		{"tool:Write", "C://weird", "url", "Write"},
		{"tool:Write", "1ab://x", "path", "Write"},
		{"model:chat:openai/gpt-4o", "openai/gpt-4o", "model", ""},
		{"skill:run:summarize", "summarize", "skill", ""},
		{"memory:write", "claims/x", "memory", ""},
		{"audit:read", "", "none", ""},
		{"toolbox:x", "y", "path", ""},
	}
	cmd := Request{Action: "tool:Bash", Resource: "rm -rf build", Context: Context{Args: map[string]any{"command": "rm -rf build"}}}
	if got := resourceKind(cmd); got != "command" {
		t.Errorf("a resource that is the command: kind %q", got)
	}
	for _, tt := range tests {
		if got := resourceKind(Request{Action: tt.action, Resource: tt.resource}); got != tt.kind {
			t.Errorf("resourceKind(%q, %q) = %q, want %q", tt.action, tt.resource, got, tt.kind)
		}
		e := mustLoad(t, map[string]string{"m.cedar": `permit (principal, action, resource) when { context.tool == "` + tt.tool + `" };`}, false)
		if d := e.Decide(Request{Principal: Principal{Scopes: []string{"*"}}, Action: tt.action}); d.Effect != Allow {
			t.Errorf("%s: tool is not %q", tt.action, tt.tool)
		}
	}
}

func TestZeroTimeMeansNow(t *testing.T) {
	now := time.Now()
	if now.Minute() == 59 && now.Second() > 58 {
		t.Skip("too close to the hour")
	}
	e := mustLoad(t, map[string]string{"m.cedar": "permit (principal, action, resource) when { context.hour == " + strconv.Itoa(now.Hour()) + " };"}, false)
	if d := e.Decide(Request{Principal: Principal{Scopes: []string{"*"}}, Action: "tool:Bash"}); d.Effect != Allow {
		t.Errorf("zero time did not mean now: %+v", d)
	}
}

func TestCostMicros(t *testing.T) {
	tests := []struct {
		usd  float64
		want int64
		ok   bool
	}{
		{0, 0, true}, {0.5, 500000, true}, {0.0000004, 0, true}, {0.0000005, 1, true}, {1234.5678, 1234567800, true},
		{-0.01, 0, false}, {math.Inf(1), 0, false}, {math.NaN(), 0, false}, {1e13, 0, false},
	}
	for _, tt := range tests {
		got, err := costMicros(tt.usd)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("costMicros(%v) = %d, %v", tt.usd, got, err)
		}
	}
}

// TestCandidateIndex checks the action index never drops a policy that an
// action could satisfy, by comparing it with evaluating every policy.
func TestCandidateIndex(t *testing.T) {
	set := `
@id("eq") permit (principal, action == Action::"tool:Bash", resource);
@id("in-tool") permit (principal, action in Action::"tool", resource);
@id("in-chat") permit (principal, action in Action::"model:chat", resource);
@id("in-set") permit (principal, action in [Action::"memory:read", Action::"model"], resource);
@id("eq-cond") permit (principal, action, resource) when { action == Action::"skill:run:x" };
@id("all") permit (principal, action, resource) when { context.risk == 0 };
`
	e := mustLoad(t, map[string]string{"s.cedar": set}, false)
	actions := []string{"tool:Bash", "tool:Read", "tool", "model:chat:ollama/x", "model:chat", "model:embed:x", "model", "memory:read", "memory:write", "skill:run:x", "toolx:Bash"}
	for _, a := range actions {
		req := Request{Principal: Principal{Scopes: []string{"*"}}, Action: a}
		got := e.Decide(req)
		ev, err := e.evaluate(req, e.policies, actionParents(a))
		if err != nil {
			t.Fatal(err)
		}
		if want := ev.decision(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: indexed %+v, full %+v", a, got, want)
		}
	}
}

func TestDecideConcurrently(t *testing.T) {
	e := mustLoad(t, nil, true)
	reqs := []Request{
		{Principal: Principal{Scopes: []string{"*"}}, Action: "tool:Bash", Context: Context{Risk: 1}},
		{Principal: Principal{Scopes: []string{"*"}}, Action: "tool:Bash", Context: Context{Risk: 4, Signals: []string{"force_push"}}},
		{Principal: Principal{Scopes: []string{"*"}}, Action: "model:chat:x", Context: Context{Tier: "cloud", Sensitivity: "secret"}},
	}
	want := make([]Decision, len(reqs))
	for i, r := range reqs {
		want[i] = e.Decide(r)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := (g + i) % len(reqs)
				r := reqs[k]
				r.Action += strings.Repeat("x", i%3) // fresh actions exercise the cache
				if i%3 == 0 {
					if got := e.Decide(r); !reflect.DeepEqual(got, want[k]) {
						t.Errorf("concurrent decision differs: %+v", got)
						return
					}
				} else {
					e.Decide(r)
				}
			}
		})
	}
	wg.Wait()
}

// TestDefaultPackNeverFallsThrough: with the default pack every request gets
// a decision from a rule — default deny would mean a gap nobody designed.
// Risk ≤ 1 never blocks without a forbid, risk 4 always blocks.
func TestDefaultPackNeverFallsThrough(t *testing.T) {
	e := mustLoad(t, nil, true)
	actions := []string{"tool:Bash", "tool:Read", "tool:mcp__x__y", "tool:Unknown", "model:chat:x", "model:embed:x", "memory:read", "memory:write", "memory:delete", "audit:read", "skill:run:x", "lease:grant", "other:thing"}
	signals := [][]string{nil, {"network"}, {"delete_build_dir", "recursive_delete"}, {"force_push"}}
	for _, a := range actions {
		for risk := -1; risk <= 5; risk++ {
			for _, tier := range []string{"", "local", "cloud"} {
				for _, sens := range []string{"public", "secret"} {
					for _, sig := range signals {
						req := Request{Principal: Principal{Scopes: []string{"*"}}, Action: a,
							Context: Context{Risk: risk, Tier: tier, Sensitivity: sens, Signals: sig}}
						d := e.Decide(req)
						name := fmt.Sprintf("%s risk %d tier %q %s %v", a, risk, tier, sens, sig)
						if d.Reasons[0].Policy == DefaultPolicy || d.Reasons[0].Policy == ErrorPolicy {
							t.Errorf("%s: %+v", name, d)
						}
						if risk >= 4 && d.Effect != Block {
							t.Errorf("%s: %s at critical risk", name, d.Effect)
						}
						if risk <= 1 && d.Effect == Block && !strings.HasPrefix(d.Reasons[0].Policy, "default.block-") {
							t.Errorf("%s: blocked by %s", name, d.Reasons[0].Policy)
						}
					}
				}
			}
		}
	}
}
