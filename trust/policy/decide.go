package policy

import (
	"fmt"

	cedar "github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
)

// Decide makes the decision for one request:
//
//  1. the lease's scopes must cover the action, else BLOCK ("scope");
//  2. any satisfied forbid → BLOCK, with every satisfied forbid as a reason;
//  3. else any satisfied @ask permit → ASK, with every satisfied @ask permit;
//  4. else any satisfied permit → ALLOW, with every satisfied permit;
//  5. else BLOCK ("default").
//
// Anything that goes wrong — a policy that fails to evaluate, a request Cedar
// cannot represent, a panic — is a BLOCK with reason "policy_error". Cedar
// itself skips a policy that errors; here an error anywhere blocks, because
// a forbid that could not be evaluated might have been the one that applied.
func (e *Engine) Decide(req Request) (d Decision) {
	defer func() {
		if r := recover(); r != nil {
			d = errorDecision(fmt.Sprintf("panic while deciding: %v", r))
		}
	}()
	if e == nil {
		return errorDecision("no policy set is loaded")
	}
	if !ScopesCover(req.Principal.Scopes, req.Action) {
		return Decision{Effect: Block, Reasons: []Reason{{ScopePolicy,
			fmt.Sprintf("lease %s has no scope covering %s", leaseName(req.Principal), req.Action)}}}
	}
	act := e.action(req.Action)
	res, err := e.evaluate(req, act.candidates, act.parents)
	if err != nil {
		return errorDecision(err.Error())
	}
	return res.decision()
}

// evaluation is what Cedar said about one request.
type evaluation struct {
	satisfied []*compiled // forbids only, if any forbid is satisfied; else permits
	errors    []Reason
}

func (e *Engine) evaluate(req Request, candidates []*compiled, parents types.EntityUIDSet) (evaluation, error) {
	creq, ents, err := cedarRequest(req, parents)
	if err != nil {
		return evaluation{}, fmt.Errorf("request cannot be evaluated: %v", err)
	}
	// Authorize evaluates every candidate and lists all satisfied forbids,
	// or — when none is — all satisfied permits: exactly the per-policy
	// answer needed, in one pass.
	_, diag := cedar.Authorize(policyIter(candidates), ents, creq)
	var ev evaluation
	for _, de := range diag.Errors {
		ev.errors = append(ev.errors, Reason{ErrorPolicy, fmt.Sprintf("policy %s (%s:%d:%d) failed to evaluate: %s",
			de.PolicyID, de.Position.Filename, de.Position.Line, de.Position.Column, de.Message)})
	}
	for _, r := range diag.Reasons {
		ev.satisfied = append(ev.satisfied, e.byID[r.PolicyID])
	}
	return ev, nil
}

func (ev evaluation) decision() Decision {
	if len(ev.errors) > 0 {
		return Decision{Effect: Block, Reasons: ev.errors}
	}
	var forbids, asks, permits []Reason
	for _, c := range ev.satisfied {
		r := Reason{string(c.id), c.reason}
		switch c.kind {
		case kindForbid:
			forbids = append(forbids, r)
		case kindAsk:
			asks = append(asks, r)
		default:
			permits = append(permits, r)
		}
	}
	switch {
	case len(forbids) > 0:
		return Decision{Effect: Block, Reasons: forbids}
	case len(asks) > 0:
		return Decision{Effect: Ask, Reasons: asks}
	case len(permits) > 0:
		return Decision{Effect: Allow, Reasons: permits}
	}
	return Decision{Effect: Block, Reasons: []Reason{{DefaultPolicy, "no policy permits this action (default deny)"}}}
}

func errorDecision(msg string) Decision {
	return Decision{Effect: Block, Reasons: []Reason{{ErrorPolicy, msg}}}
}

func leaseName(p Principal) string {
	switch {
	case p.Name != "":
		return p.Name
	case p.LeaseID != "":
		return p.LeaseID
	}
	return "(unnamed)"
}
