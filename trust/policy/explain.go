package policy

import (
	"fmt"
	"strings"

	cedar "github.com/cedar-policy/cedar-go"
)

// Explain decides req and says why in plain text, for `mirror policy
// explain` and for people reading a denial: the decision, the policies that
// made it with their reasons and places, what was overridden, and — when
// nothing matched — which policies were checked.
func Explain(e *Engine, req Request) string {
	d := e.Decide(req)
	var b strings.Builder
	fmt.Fprintf(&b, "decision: %s\n", d.Effect)
	fmt.Fprintf(&b, "request:  %s\n", describeRequest(req))

	if e == nil || len(d.Reasons) == 1 && d.Reasons[0].Policy == ScopePolicy {
		for _, r := range d.Reasons {
			fmt.Fprintf(&b, "because:  %s\n", r.Reason)
		}
		if e != nil {
			fmt.Fprintf(&b, "          the lease holds %s; policies are not consulted for an action outside the lease\n", quoteList(req.Principal.Scopes))
		}
		return b.String()
	}
	if d.Reasons[0].Policy == ErrorPolicy {
		b.WriteString("because deciding failed, the request is blocked (fail closed):\n")
		for _, r := range d.Reasons {
			fmt.Fprintf(&b, "  - %s\n", r.Reason)
		}
		return b.String()
	}

	act := e.action(req.Action)
	cands := act.candidates
	var counts [3]int
	for _, c := range cands {
		counts[c.kind]++
	}
	checked := fmt.Sprintf("%s, %s and %s can apply to %s (of %s in %s)",
		plural(counts[kindForbid], "forbid"), plural(counts[kindAsk], "@ask permit"), plural(counts[kindPermit], "permit"),
		req.Action, plural(len(e.policies), "polic"), strings.Join(e.Files(), ", "))

	if d.Reasons[0].Policy == DefaultPolicy {
		b.WriteString("because:  no policy permits this action, so it is blocked (default deny)\n")
		fmt.Fprintf(&b, "checked:  %s; none was satisfied\n", checked)
		return b.String()
	}

	b.WriteString("because:\n")
	for _, r := range d.Reasons {
		writePolicy(&b, e.byID[cedar.PolicyID(r.Policy)])
	}
	switch d.Effect {
	case Block:
		// Show what the forbids overrode: a human deciding whether to relax
		// a rule wants to know what would have happened without it.
		var permits []*compiled
		for _, c := range cands {
			if c.kind != kindForbid {
				permits = append(permits, c)
			}
		}
		if ev, err := e.evaluate(req, permits, act.parents); err == nil && len(ev.satisfied) > 0 {
			b.WriteString("overridden (forbid wins):\n")
			for _, c := range ev.satisfied {
				writePolicy(&b, c)
			}
		}
	case Ask:
		b.WriteString("a human must approve: no forbid was satisfied, and @ask permits outrank plain permits\n")
	case Allow:
		b.WriteString("no forbid and no @ask permit was satisfied\n")
	}
	fmt.Fprintf(&b, "checked:  %s\n", checked)
	return b.String()
}

func writePolicy(b *strings.Builder, c *compiled) {
	if c == nil {
		return
	}
	fmt.Fprintf(b, "  - %s [%s, %s:%d:%d]: %s\n", c.id, c.kind, c.pos.Filename, c.pos.Line, c.pos.Column, c.reason)
}

func describeRequest(req Request) string {
	var b strings.Builder
	b.WriteString(req.Action)
	if req.Resource != "" {
		fmt.Fprintf(&b, " on %q", req.Resource)
	}
	fmt.Fprintf(&b, " by lease %s", leaseName(req.Principal))
	if req.Principal.LeaseID != "" && req.Principal.Name != "" {
		fmt.Fprintf(&b, " (%s)", req.Principal.LeaseID)
	}
	c := req.Context
	fmt.Fprintf(&b, ", risk %d", c.Risk)
	if len(c.Signals) > 0 {
		fmt.Fprintf(&b, ", signals %s", strings.Join(c.Signals, " "))
	}
	if len(c.Findings) > 0 {
		fmt.Fprintf(&b, ", findings %s", strings.Join(c.Findings, " "))
	}
	if c.Sensitivity != "" {
		fmt.Fprintf(&b, ", sensitivity %s", c.Sensitivity)
	}
	if c.Tier != "" {
		fmt.Fprintf(&b, ", tier %s", c.Tier)
	}
	if c.CostUSD != 0 {
		fmt.Fprintf(&b, ", cost $%.4f", c.CostUSD)
	}
	return b.String()
}

func quoteList(ss []string) string {
	if len(ss) == 0 {
		return "no scopes"
	}
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func plural(n int, what string) string {
	switch {
	case n == 1 && what == "polic":
		return "1 policy"
	case n == 1:
		return "1 " + what
	case what == "polic":
		return fmt.Sprintf("%d policies", n)
	}
	return fmt.Sprintf("%d %ss", n, what)
}
