package policy

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// TestExplainGolden renders explanations for one request of each kind and
// compares them with testdata/explain.golden (go test -run Explain -update
// rewrites it after a reviewed change).
func TestExplainGolden(t *testing.T) {
	e := mustLoad(t, nil, true)
	all := Principal{LeaseID: "lse_1", Name: "claude-code", Scopes: []string{"*"}}
	reqs := []Request{
		{Principal: all, Action: "tool:Bash", Resource: "/home/dev/proj", Context: Context{Risk: 0, Args: map[string]any{"command": "git status"}}},
		{Principal: all, Action: "tool:Bash", Context: Context{Risk: 2, Signals: []string{"package_install", "network"}}},
		{Principal: all, Action: "tool:Bash", Context: Context{Risk: 3, Signals: []string{"force_push", "publish"}}},
		{Principal: all, Action: "model:chat:openai/gpt-4o", Context: Context{Tier: "cloud", Sensitivity: "personal", Findings: []string{"pii.email"}, CostUSD: 0.02}},
		{Principal: Principal{Name: "reader", Scopes: []string{"tool:Read", "tool:Grep"}}, Action: "tool:Bash"},
		{Principal: all, Action: "tool:Read", Context: Context{CostUSD: -1}},
	}
	var b strings.Builder
	for _, r := range reqs {
		b.WriteString(Explain(e, r))
		b.WriteString("\n")
	}
	deny := mustLoad(t, map[string]string{"only.cedar": `forbid (principal, action, resource) when { context.risk > 3 };`}, false)
	b.WriteString(Explain(deny, Request{Principal: all, Action: "tool:Bash"}))
	b.WriteString("\n")
	b.WriteString(Explain(nil, Request{Principal: all, Action: "tool:Bash"}))

	const golden = "testdata/explain.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("explanations differ from %s (rerun with -update after checking):\n%s", golden, b.String())
	}
}

// Explain must never disagree with Decide.
func TestExplainAgreesWithDecide(t *testing.T) {
	e := mustLoad(t, nil, true)
	for _, sig := range []string{"", "network", "force_push", "delete_build_dir"} {
		for risk := range 5 {
			req := Request{Principal: Principal{Scopes: []string{"*"}}, Action: "tool:Bash", Context: Context{Risk: risk, Signals: []string{sig}}}
			d := e.Decide(req)
			if first := strings.SplitN(Explain(e, req), "\n", 2)[0]; first != "decision: "+string(d.Effect) {
				t.Errorf("risk %d %s: Explain says %q, Decide %s", risk, sig, first, d.Effect)
			}
		}
	}
}
