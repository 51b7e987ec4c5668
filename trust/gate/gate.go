// Package gate is the trust plane's decision point. An action is
// risk-classified, checked against the lease's scopes and decided by Cedar
// policy as ALLOW, ASK or BLOCK; the decision, any approval it opens and any
// denial it records commit in one transaction with its ledger entry.
package gate

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/trace/ledger"
	"github.com/mirroros/mirror/trust/lease"
	"github.com/mirroros/mirror/trust/policy"
	"github.com/mirroros/mirror/trust/risk"
)

// DefaultApprovalTTL is how long an ASK waits for a human before it counts
// as denied.
const DefaultApprovalTTL = 10 * time.Minute

// Limits on what a request may carry into the ledger.
const (
	maxResource = 1024
	maxArgsJSON = 16 << 10
)

// Gate decides actions. It is safe for concurrent use.
type Gate struct {
	st          store.Store
	led         *ledger.Ledger
	engine      atomic.Pointer[policy.Engine]
	now         func() time.Time
	log         *slog.Logger
	ApprovalTTL time.Duration

	mu      sync.Mutex
	waiters map[string][]chan struct{} // approval id → closed when decided
}

// New returns a Gate deciding with e.
func New(st store.Store, led *ledger.Ledger, e *policy.Engine, log *slog.Logger, now func() time.Time) *Gate {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Gate{st: st, led: led, now: now, log: log, ApprovalTTL: DefaultApprovalTTL, waiters: map[string][]chan struct{}{}}
	g.engine.Store(e)
	return g
}

// Engine is the policy set in force.
func (g *Gate) Engine() *policy.Engine { return g.engine.Load() }

// SetEngine puts a new policy set in force and records its hash in the
// ledger; if the ledger cannot record it, the old set stays.
func (g *Gate) SetEngine(ctx context.Context, e *policy.Engine, why string) error {
	body, _ := json.Marshal(map[string]any{"hash": e.Hash(), "files": e.Files(), "why": why})
	if _, err := g.led.Append(ctx, ledger.Event{Kind: "policy.load", Actor: "kernel", Body: body}); err != nil {
		return err
	}
	g.engine.Store(e)
	return nil
}

// Input is one action to decide.
type Input struct {
	Action     string         `json:"action"`   // "tool:Bash", "model:chat:…", …
	Resource   string         `json:"resource"` // a path, URL or model id; may be empty
	Args       map[string]any `json:"args"`     // the tool input
	Context    InputContext   `json:"context"`
	ApprovalID string         `json:"approval_id,omitempty"` // redeem an approved ASK for this exact request
}

// InputContext is what the caller knows about the circumstances.
type InputContext struct {
	Agent       string  `json:"agent,omitempty"`
	SessionID   string  `json:"session_id,omitempty"`
	Cwd         string  `json:"cwd,omitempty"`
	CostUSD     float64 `json:"cost_usd,omitempty"`
	Tier        string  `json:"tier,omitempty"`
	Sensitivity string  `json:"sensitivity,omitempty"`
	// Findings are detector findings the caller made on content that is
	// not in Args (a model call's prompt): kinds only, never the content.
	Findings []string `json:"findings,omitempty"`
	// Risk is the risk the caller declares for an action that is not an
	// agent's tool (a skill's risk class, 0–4); the larger of it and the
	// classifier's is used.
	Risk int `json:"risk,omitempty"`
}

// Result is a decision and everything that explains it.
type Result struct {
	Decision   policy.Effect   `json:"decision"`
	Reasons    []policy.Reason `json:"reasons"`
	Risk       int             `json:"risk"`
	Categories []risk.Category `json:"categories"`
	Signals    []string        `json:"signals"`
	Findings   []risk.Finding  `json:"findings"`
	ApprovalID string          `json:"approval_id,omitempty"`
	AuditIndex uint64          `json:"audit_index"`
}

// ErrInvalid is wrapped by errors about the input itself.
var ErrInvalid = errors.New("invalid request")

// Validate checks an input's shape.
func (in Input) Validate() error {
	if in.Action == "" || len(in.Action) > 256 || strings.ContainsAny(in.Action, " \t\n\r") {
		return fmt.Errorf("%w: action must be a capability such as \"tool:Bash\"", ErrInvalid)
	}
	if err := policy.ValidScope(in.Action); err != nil || strings.Contains(in.Action, "*") {
		return fmt.Errorf("%w: action %q is not a capability name", ErrInvalid, in.Action)
	}
	if len(in.Resource) > 64<<10 {
		return fmt.Errorf("%w: resource is longer than 64 KiB", ErrInvalid)
	}
	switch in.Context.Tier {
	case "", "local", "cloud":
	default:
		return fmt.Errorf("%w: context.tier must be local or cloud", ErrInvalid)
	}
	switch in.Context.Sensitivity {
	case "", "public", "personal", "secret":
	default:
		return fmt.Errorf("%w: context.sensitivity must be public, personal or secret", ErrInvalid)
	}
	if in.Context.CostUSD < 0 || in.Context.CostUSD > 1e6 {
		return fmt.Errorf("%w: context.cost_usd must be between 0 and 1e6", ErrInvalid)
	}
	if in.Context.Risk < 0 || in.Context.Risk > 4 {
		return fmt.Errorf("%w: context.risk must be between 0 and 4", ErrInvalid)
	}
	return nil
}

// RequestHash binds an approval to one exact request by one lease.
func RequestHash(leaseID string, in Input) []byte {
	b, _ := json.Marshal(map[string]any{"lease": leaseID, "action": in.Action, "resource": in.Resource, "args": in.Args})
	h := sha256.Sum256(b)
	return h[:]
}

// classify runs risk classification, turning a panic into a BLOCK reason.
func classify(in Input) (a risk.Assessment, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("risk classification panicked: %v", p)
		}
	}()
	tool, ok := strings.CutPrefix(in.Action, "tool:")
	if !ok {
		// Not an agent's tool (a model call, a memory write): no command to
		// analyse; what matters is carried in the context.
		return risk.Assessment{Categories: []risk.Category{}, Signals: []string{}, Findings: []risk.Finding{}, Sensitivity: "public"}, nil
	}
	a = risk.Classify(risk.Action{Tool: tool, Input: in.Args, Cwd: in.Context.Cwd})
	return a, nil
}

func sensitivityRank(s string) int {
	switch s {
	case "secret":
		return 2
	case "personal":
		return 1
	}
	return 0
}

// Evaluate decides one action for the caller's lease and records the
// decision. It returns an error only when nothing could be recorded (no
// audit, no action): then the action must not happen.
func (g *Gate) Evaluate(ctx context.Context, caller store.Lease, in Input) (Result, error) {
	return g.EvaluateThen(ctx, caller, in, nil)
}

// EvaluateThen is Evaluate that, when the decision is ALLOW, also runs then
// in the same transaction as the decision entry (r is the decision, with
// its audit index): what the allowed action must hold before it starts (a model call's budget reservation) is
// committed with the decision, under one fsync. An error from then undoes
// both; then may run more than once (the group commit retries a request
// whose batch failed), so it must start from scratch each time.
func (g *Gate) EvaluateThen(ctx context.Context, caller store.Lease, in Input, then func(tx *ledger.Tx, r Result) error) (Result, error) {
	if err := in.Validate(); err != nil {
		return Result{}, err
	}
	now := g.now().UTC()
	var res Result
	req := policy.Request{
		Principal: policy.Principal{LeaseID: caller.ID, Name: caller.Name, Scopes: caller.Scopes, Agent: in.Context.Agent},
		Action:    in.Action,
		Resource:  in.Resource,
	}
	a, err := classify(in)
	if err != nil {
		res = Result{Decision: policy.Block, Reasons: []policy.Reason{{Policy: "policy_error", Reason: err.Error()}}, Risk: 4}
	} else {
		sens := a.Sensitivity
		if sensitivityRank(in.Context.Sensitivity) > sensitivityRank(sens) {
			sens = in.Context.Sensitivity
		}
		kinds := make([]string, 0, len(a.Findings)+len(in.Context.Findings))
		for _, f := range a.Findings {
			kinds = append(kinds, f.Kind)
		}
		kinds = append(kinds, in.Context.Findings...)
		cats := make([]string, len(a.Categories))
		for i, c := range a.Categories {
			cats[i] = string(c)
		}
		if in.Context.Risk > a.Risk && in.Context.Risk <= 4 {
			a.Risk = in.Context.Risk
		}
		req.Context = policy.Context{
			Risk: a.Risk, Categories: cats, Signals: a.Signals, Findings: kinds, Sensitivity: sens,
			Args: in.Args, CostUSD: in.Context.CostUSD, Tier: in.Context.Tier, Time: now, Cwd: in.Context.Cwd,
		}
		d := g.Engine().Decide(req)
		res = Result{Decision: d.Effect, Reasons: d.Reasons, Risk: a.Risk, Categories: a.Categories, Signals: a.Signals, Findings: a.Findings}
	}
	if res.Reasons == nil {
		res.Reasons = []policy.Reason{}
	}
	hash := RequestHash(caller.ID, in)
	err = g.led.Commit(ctx, func(tx *ledger.Tx) error {
		r := res // a retried function starts from the decision again
		if r.Decision == policy.Ask && in.ApprovalID != "" {
			if err := redeem(ctx, tx, in.ApprovalID, caller, hash, now, &r); err != nil {
				return err
			}
		}
		reuse := r.ApprovalID != "" // still pending: point at the same approval
		if r.Decision == policy.Ask && !reuse {
			r.ApprovalID = lease.NewID("apr_")
		}
		body, err := json.Marshal(decisionEntry(caller, in, r, hash))
		if err != nil {
			return err
		}
		rec, err := tx.Append(ledger.Event{Kind: "policy.decision", Actor: "lease/" + caller.ID, Body: body})
		if err != nil {
			return err
		}
		r.AuditIndex = rec.Index
		reasons, _ := json.Marshal(r.Reasons)
		switch {
		case r.Decision == policy.Ask && !reuse:
			reqJSON, _ := json.Marshal(redactedRequest(in, r.Findings))
			err = tx.Store().PutApproval(ctx, store.Approval{
				ID: r.ApprovalID, Request: reqJSON, RequestHash: hash, Reasons: reasons, RequestedBy: caller.ID,
				Agent: in.Context.Agent, State: "pending", Created: now, Expires: now.Add(g.ApprovalTTL),
			})
		case r.Decision == policy.Block:
			err = tx.Store().PutDenial(ctx, store.Denial{
				Time: now, LeaseID: caller.ID, LeaseName: caller.Name, Agent: in.Context.Agent, Action: in.Action,
				Resource: truncate(in.Resource, maxResource), Decision: "BLOCK", Reasons: reasons, AuditIndex: r.AuditIndex,
			})
		}
		if err != nil {
			return err
		}
		if then != nil && r.Decision == policy.Allow {
			if err := then(tx, r); err != nil {
				return err
			}
		}
		res = r
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	return res, nil
}

// redeem turns an ASK into ALLOW with an approval that was granted for
// exactly this request by this lease, and uses it up.
func redeem(ctx context.Context, tx *ledger.Tx, id string, caller store.Lease, hash []byte, now time.Time, r *Result) error {
	a, err := tx.Store().Approval(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		r.Decision = policy.Block
		r.Reasons = append(r.Reasons, policy.Reason{Policy: "approval", Reason: "approval " + id + " does not exist"})
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case a.RequestedBy != caller.ID || string(a.RequestHash) != string(hash):
		r.Decision = policy.Block
		r.Reasons = append(r.Reasons, policy.Reason{Policy: "approval", Reason: "approval " + id + " was given for another request; an approval is bound to one exact request"})
	case a.State == "used":
		r.Decision = policy.Block
		r.Reasons = append(r.Reasons, policy.Reason{Policy: "approval", Reason: "approval " + id + " was already used; approvals are single-use"})
	case a.State == "approved" && now.Before(a.Expires.Add(24*time.Hour)):
		a.State = "used"
		if err := tx.Store().UpdateApproval(ctx, a); err != nil {
			return err
		}
		r.Decision = policy.Allow
		reason := "approved by lease " + a.DecidedBy
		if a.Note != "" {
			reason += ": " + a.Note
		}
		r.Reasons = []policy.Reason{{Policy: "approval:" + id, Reason: reason}}
	case a.State == "pending":
		r.ApprovalID = id // still waiting: the same approval, not a new one
	default:
		r.Decision = policy.Block
		r.Reasons = append(r.Reasons, policy.Reason{Policy: "approval", Reason: "approval " + id + " was " + a.State})
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// redactedRequest is the request as it may be stored: every span a
// detector flagged is replaced, so no secret reaches the ledger.
func redactedRequest(in Input, findings []risk.Finding) map[string]any {
	out := map[string]any{"action": in.Action, "resource": truncate(redactString(in.Resource, "resource"), maxResource)}
	args := in.Args
	if len(findings) > 0 {
		args = redactValue(in.Args, "tool_input").(map[string]any)
	}
	b, _ := json.Marshal(args)
	if len(b) > maxArgsJSON {
		h := sha256.Sum256(b)
		out["args_truncated"] = true
		out["args_sha256"] = fmt.Sprintf("%x", h)
	} else {
		out["args"] = args
	}
	if in.Context.Cwd != "" {
		out["cwd"] = in.Context.Cwd
	}
	return out
}

func redactString(s, where string) string {
	fs := risk.ScanContent(where, s)
	if len(fs) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, f := range fs {
		if f.Offset < last || f.Offset+f.Length > len(s) {
			continue
		}
		b.WriteString(s[last:f.Offset])
		b.WriteString("[REDACTED:" + f.Kind + "]")
		last = f.Offset + f.Length
	}
	b.WriteString(s[last:])
	return b.String()
}

func redactValue(v any, where string) any {
	switch t := v.(type) {
	case string:
		return redactString(t, where)
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = redactValue(x, where+"."+k)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = redactValue(x, fmt.Sprintf("%s[%d]", where, i))
		}
		return out
	}
	return v
}

func decisionEntry(caller store.Lease, in Input, r Result, hash []byte) map[string]any {
	findings := make([]map[string]any, len(r.Findings))
	for i, f := range r.Findings {
		findings[i] = map[string]any{"kind": f.Kind, "where": f.Where, "hint": f.Hint}
	}
	e := redactedRequest(in, r.Findings)
	e["lease"] = caller.ID
	e["lease_name"] = caller.Name
	e["decision"] = r.Decision
	e["reasons"] = r.Reasons
	e["risk"] = r.Risk
	e["signals"] = r.Signals
	e["findings"] = findings
	e["request_hash"] = fmt.Sprintf("%x", hash)
	if in.Context.Agent != "" {
		e["agent"] = in.Context.Agent
	}
	if in.Context.SessionID != "" {
		e["session_id"] = in.Context.SessionID
	}
	if r.ApprovalID != "" {
		e["approval_id"] = r.ApprovalID
	}
	return e
}
