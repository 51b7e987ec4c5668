package policy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Policy test tables (`mirror policy test FILE`) are JSON Lines: one case
// per line, blank lines and lines starting with "#" ignored.
//
//	{"name":"git status is fine","request":{"action":"tool:Bash","context":{"risk":0,"args":{"command":"git status"}}},"expect":"ALLOW"}
//	{"name":"force push","request":{"action":"tool:Bash","context":{"risk":4,"signals":["force_push"]}},"expect":"BLOCK","expect_policy":"default.block-force-push"}
//
// "request" is a Request in its JSON form (docs/POLICIES.md). When the
// request has no "principal", or the principal has no "scopes", the lease
// holds "*" so the case tests the policies rather than the scope check; give
// "scopes": [] to test that. "expect" is ALLOW, ASK or BLOCK;
// "expect_policy", if given, must be among the decision's reasons.
// Unknown fields are errors, so a misspelt "expect" cannot pass silently.

// TableCase is one line of a policy test table.
type TableCase struct {
	Name         string       `json:"name"`
	Request      tableRequest `json:"request"`
	Expect       Effect       `json:"expect"`
	ExpectPolicy string       `json:"expect_policy,omitempty"`
}

// tableRequest lets a case leave the principal, or its scopes, out.
type tableRequest struct {
	Principal *tablePrincipal `json:"principal"`
	Action    string          `json:"action"`
	Resource  string          `json:"resource"`
	Context   Context         `json:"context"`
}

type tablePrincipal struct {
	LeaseID string    `json:"lease_id"`
	Name    string    `json:"name"`
	Scopes  *[]string `json:"scopes"`
	Agent   string    `json:"agent"`
}

func (t tableRequest) request() Request {
	req := Request{Action: t.Action, Resource: t.Resource, Context: t.Context,
		Principal: Principal{Name: "test", Scopes: []string{"*"}}}
	if p := t.Principal; p != nil {
		req.Principal = Principal{LeaseID: p.LeaseID, Name: p.Name, Agent: p.Agent, Scopes: []string{"*"}}
		if p.Scopes != nil {
			req.Principal.Scopes = *p.Scopes
		}
	}
	return req
}

// CaseResult is the outcome of one case.
type CaseResult struct {
	Line       int      `json:"line"`
	Name       string   `json:"name"`
	Want       Effect   `json:"want"`
	WantPolicy string   `json:"want_policy,omitempty"`
	Got        Effect   `json:"got"`
	By         string   `json:"by"`       // the deciding policies' ids, comma-separated
	Decision   Decision `json:"decision"` // the whole decision, reasons included
	Failed     bool     `json:"failed"`
	Problem    string   `json:"problem,omitempty"` // why it failed
}

// TableResult is the outcome of a whole table.
type TableResult struct {
	Cases  []CaseResult `json:"cases"`
	Passed int          `json:"passed"`
	Failed int          `json:"failed"`
}

// String reports the failures and a summary line.
func (r TableResult) String() string {
	var b strings.Builder
	for _, c := range r.Cases {
		if c.Failed {
			fmt.Fprintf(&b, "FAIL line %d %q: %s\n", c.Line, c.Name, c.Problem)
		}
	}
	fmt.Fprintf(&b, "%d passed, %d failed\n", r.Passed, r.Failed)
	return b.String()
}

// maxTableLine bounds one case; a case is a request, and requests are small.
const maxTableLine = 1 << 20

// RunTable runs every case in r against e. A malformed line is an error
// (naming its line) and no cases are run; failing cases are reported in
// the result, not as an error.
func RunTable(e *Engine, r io.Reader) (TableResult, error) {
	type numbered struct {
		line int
		c    TableCase
	}
	var cases []numbered
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxTableLine)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		var c TableCase
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		dec.UseNumber() // keep integers in args exact
		if err := dec.Decode(&c); err != nil {
			return TableResult{}, fmt.Errorf("line %d: %w", n, err)
		}
		if dec.More() {
			return TableResult{}, fmt.Errorf("line %d: more than one JSON value", n)
		}
		c.Expect = Effect(strings.ToUpper(string(c.Expect)))
		if !slices.Contains([]Effect{Allow, Ask, Block}, c.Expect) {
			return TableResult{}, fmt.Errorf("line %d: expect must be ALLOW, ASK or BLOCK, not %q", n, c.Expect)
		}
		if c.Name == "" {
			c.Name = fmt.Sprintf("line %d", n)
		}
		cases = append(cases, numbered{n, c})
	}
	if err := sc.Err(); err != nil {
		return TableResult{}, err
	}

	res := TableResult{Cases: make([]CaseResult, 0, len(cases))}
	for _, nc := range cases {
		c := nc.c
		got := e.Decide(c.Request.request())
		cr := CaseResult{Line: nc.line, Name: c.Name, Want: c.Expect, WantPolicy: c.ExpectPolicy,
			Got: got.Effect, By: reasonIDs(got.Reasons), Decision: got}
		switch {
		case got.Effect != c.Expect:
			cr.Failed = true
			cr.Problem = fmt.Sprintf("want %s, got %s (%s)", c.Expect, got.Effect, reasonIDs(got.Reasons))
		case c.ExpectPolicy != "" && !slices.ContainsFunc(got.Reasons, func(r Reason) bool { return r.Policy == c.ExpectPolicy }):
			cr.Failed = true
			cr.Problem = fmt.Sprintf("%s as expected, but by %s, not %s", got.Effect, reasonIDs(got.Reasons), c.ExpectPolicy)
		}
		if cr.Failed {
			res.Failed++
		} else {
			res.Passed++
		}
		res.Cases = append(res.Cases, cr)
	}
	return res, nil
}

func reasonIDs(rs []Reason) string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.Policy
	}
	return strings.Join(ids, ", ")
}
