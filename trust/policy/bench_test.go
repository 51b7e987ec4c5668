package policy

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// typicalBash is the request the kernel decides most: an everyday command.
var typicalBash = Request{
	Principal: Principal{LeaseID: "lse_cc1", Name: "claude-code", Agent: "claude-code", Scopes: []string{"tool:*", "model:*", "memory:*"}},
	Action:    "tool:Bash",
	Resource:  "/home/dev/proj",
	Context: Context{
		Risk: 1, Categories: []string{"exec"}, Sensitivity: "public",
		Args: map[string]any{"command": "go test ./...", "description": "Run the tests", "timeout": 120000.0},
		Time: time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC), Cwd: "/home/dev/proj",
	},
}

// generatedPolicies returns n policies in the shapes teams write: command
// and path deny-lists, MCP tools that need approval, per-lease model limits
// and office-hours permits.
func generatedPolicies(n int) string {
	var b strings.Builder
	for i := range n {
		switch i % 5 {
		case 0:
			fmt.Fprintf(&b, "@id(\"gen.%d\") @reason(\"no deploys of service %d from an agent\")\nforbid (principal, action == Action::\"tool:Bash\", resource)\nwhen { context.args has command && context.args.command like \"*deploy service-%d *\" };\n\n", i, i, i)
		case 1:
			fmt.Fprintf(&b, "@id(\"gen.%d\") @ask @reason(\"writes through MCP server %d\")\npermit (principal, action == Action::\"tool:mcp__server%d__write\", resource)\nwhen { context.risk >= 1 };\n\n", i, i, i)
		case 2:
			fmt.Fprintf(&b, "@id(\"gen.%d\") @reason(\"lease %d stays on local models\")\nforbid (principal == Lease::\"lse_%d\", action in Action::\"model\", resource)\nwhen { context.tier == \"cloud\" };\n\n", i, i, i)
		case 3:
			fmt.Fprintf(&b, "@id(\"gen.%d\") @reason(\"project %d is read-only for agents\")\nforbid (principal, action in Action::\"tool\", resource)\nwhen { resource.kind == \"path\" && resource.value like \"/srv/project-%d/*\" && context.categories.contains(\"write\") };\n\n", i, i, i)
		case 4:
			fmt.Fprintf(&b, "@id(\"gen.%d\") @reason(\"agent %d runs skills in office hours\")\npermit (principal, action in Action::\"skill\", resource)\nwhen { principal.agent == \"agent-%d\" && context.hour >= 9 && context.hour < 18 && context.weekday != \"Sunday\" };\n\n", i, i, i)
		}
	}
	return b.String()
}

func BenchmarkDecideDefaultPack(b *testing.B) {
	benchmarkDecide(b, mustLoad(b, nil, true), typicalBash)
}

func BenchmarkDecide1000Policies(b *testing.B) {
	benchmarkDecide(b, mustLoad(b, map[string]string{"generated.cedar": generatedPolicies(1000)}, true), typicalBash)
}

// BenchmarkDecideModelChat is the other hot path: a chat request routed to a cloud model.
func BenchmarkDecideModelChat(b *testing.B) {
	req := Request{Principal: typicalBash.Principal, Action: "model:chat:openai/gpt-4o", Resource: "openai/gpt-4o",
		Context: Context{Risk: 0, Tier: "cloud", Sensitivity: "public", CostUSD: 0.004, Time: typicalBash.Context.Time}}
	benchmarkDecide(b, mustLoad(b, nil, true), req)
}

// benchmarkDecide reports ns/op and, because the target is a median, the
// p50 and p99 of individually timed decisions.
func benchmarkDecide(b *testing.B, e *Engine, req Request) {
	if d := e.Decide(req); d.Reasons[0].Policy == ErrorPolicy {
		b.Fatalf("benchmark request fails: %+v", d)
	}
	b.ReportAllocs()
	var samples []time.Duration
	for b.Loop() {
		start := time.Now()
		e.Decide(req)
		if len(samples) < 1_000_000 {
			samples = append(samples, time.Since(start))
		}
	}
	slices.Sort(samples)
	if n := len(samples); n > 0 {
		b.ReportMetric(float64(samples[n/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(samples[n*99/100].Nanoseconds()), "p99-ns")
	}
}

func BenchmarkLoad1000Policies(b *testing.B) {
	files := map[string]string{"generated.cedar": generatedPolicies(1000)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadSources(files, true); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkScopesCover(b *testing.B) {
	scopes := []string{"model:chat:ollama/*", "memory:*", "tool:*"}
	for b.Loop() {
		ScopesCover(scopes, "tool:Bash")
	}
}

func TestGeneratedPoliciesLoad(t *testing.T) {
	e := mustLoad(t, map[string]string{"generated.cedar": generatedPolicies(1000)}, true)
	if n := len(e.Policies()); n != 1032 {
		t.Fatalf("%d policies", n)
	}
	// The generated set changes decisions where it should and nowhere else.
	if d := e.Decide(typicalBash); d.Effect != Allow {
		t.Errorf("typical request: %+v", d)
	}
	deploy := typicalBash
	deploy.Context.Args = map[string]any{"command": "make && ./ci deploy service-500 --now"}
	if d := e.Decide(deploy); d.Effect != Block || d.Reasons[0].Policy != "gen.500" {
		t.Errorf("deploy: %+v", d)
	}
}
