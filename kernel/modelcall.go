package kernel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mirroros/mirror/bus"
	"github.com/mirroros/mirror/door"
	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/trace/ledger"
	"github.com/mirroros/mirror/trust/gate"
	"github.com/mirroros/mirror/trust/lease"
	"github.com/mirroros/mirror/trust/policy"
	"github.com/mirroros/mirror/trust/risk"
	"golang.org/x/time/rate"
)

// IdentityFile is the identity preamble given to every model, whatever the
// provider: the kernel's memory of who it works for survives model swaps.
const IdentityFile = "identity.md"

const defaultIdentity = `You are working through MirrorOS, the owner's local AI kernel.
Be direct and accurate. Say so when you are unsure. Do not invent facts,
files or commands. Never ask for or repeat secrets such as API keys.
`

// reservationCap bounds the output tokens reserved before a call: agents
// ask for very large max_tokens (Claude Code sends 128,000), and reserving
// all of it would lock up budgets; the call is settled on reported usage.
const reservationCap = 8192

// ModelError is a model call the kernel refused or could not complete, with
// the HTTP status a front door should answer.
type ModelError struct {
	Status     int
	Code       string
	Message    string
	ApprovalID string
	Err        error
}

func (e *ModelError) Error() string { return e.Message }
func (e *ModelError) Unwrap() error { return e.Err }

// CallOptions say where a call came from.
type CallOptions struct {
	Door       string // "openai", "responses", "anthropic", "ollama", "cli"
	Agent      string
	NoIdentity bool  // the client asked not to get the identity preamble
	Memory     bool  // add relevant canon claims (retrieval) to the system prompt
	LocalOnly  bool  // only local models (a skill's routing constraint)
	Tiers      []int // allowed provider tiers; empty: any
}

// vendorOfDoor is the provider a bare vendor model name on a vendor's own
// door goes to: Claude Code sends "claude-…" to /v1/messages.
var vendorOfDoor = map[string]string{"anthropic": "anthropic", "openai": "openai", "responses": "openai", "ollama": "ollama"}

// modelName resolves what a client asked for into a router name.
func (s *System) modelName(asked, doorName string) string {
	if asked == "" {
		return "default"
	}
	if strings.Contains(asked, "/") {
		if prov, _, _ := strings.Cut(asked, "/"); s.hasProvider(prov) {
			return asked
		}
	}
	if _, ok := s.Config.Aliases[asked]; ok {
		return asked
	}
	if asked == "default" || asked == "local" {
		// Implicit aliases come from the first model listing; a call
		// right after start waits for it (bounded by its timeouts).
		if s.catalog != nil {
			select {
			case <-s.catalog.first:
			case <-time.After(10 * time.Second):
			}
		}
		if s.hasImplicit(asked) {
			return asked
		}
	}
	if v := vendorOfDoor[doorName]; v != "" && s.hasProvider(v) {
		return v + "/" + asked
	}
	return asked
}

func (s *System) hasProvider(name string) bool {
	for _, p := range s.Providers {
		if p.Name == name {
			return true
		}
	}
	return false
}

// scanRequest runs the detectors over everything that would leave the
// machine and returns the finding kinds (never the content).
func scanRequest(req bus.Request) []string {
	seen := map[string]bool{}
	var kinds []string
	add := func(where, text string) {
		for _, f := range risk.ScanContent(where, text) {
			if !seen[f.Kind] {
				seen[f.Kind] = true
				kinds = append(kinds, f.Kind)
			}
		}
	}
	add("system", req.System)
	for i, m := range req.Messages {
		for _, p := range m.Content {
			add(fmt.Sprintf("messages[%d]", i), p.Text)
			if p.Type == bus.VendorPart {
				// Thinking text, a server tool's input, search results: all
				// content that leaves the machine.
				add(fmt.Sprintf("messages[%d]", i), string(p.Raw))
			}
		}
		for _, c := range m.ToolCalls {
			add(fmt.Sprintf("messages[%d].tool_calls", i), string(c.Arguments))
		}
	}
	return kinds
}

func sensitivity(kinds []string) string {
	s := "public"
	for _, k := range kinds {
		switch {
		case strings.HasPrefix(k, "secret."):
			return "secret"
		case strings.HasPrefix(k, "pii."):
			s = "personal"
		}
	}
	return s
}

// identity returns the identity preamble, re-reading the file only when it
// changed: it is on every model call's path.
// identityRecheck is how long an edit of identity.md may take to reach
// model calls: the file is looked at no more often than this.
const identityRecheck = time.Second

func (s *System) identity() string {
	s.idMu.Lock()
	if !s.idChecked.IsZero() && time.Since(s.idChecked) < identityRecheck {
		defer s.idMu.Unlock()
		return s.idText
	}
	s.idMu.Unlock()
	path := filepath.Join(s.DataDir, IdentityFile)
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		if werr := writeFileAtomic(path, []byte(defaultIdentity), 0o600); werr != nil {
			s.Log.Warn("identity file not written", "err", werr.Error())
		}
		return defaultIdentity
	}
	if err != nil {
		return defaultIdentity
	}
	s.idMu.Lock()
	defer s.idMu.Unlock()
	if fi.ModTime().Equal(s.idMod) && fi.Size() == s.idSize {
		s.idChecked = time.Now()
		return s.idText
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return defaultIdentity
	}
	s.idText, s.idMod, s.idSize, s.idChecked = string(b), fi.ModTime(), fi.Size(), time.Now()
	return s.idText
}

// lastUserText is the text of the last user message: what retrieval looks
// up.
func lastUserText(req bus.Request) string {
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if m := req.Messages[i]; m.Role == bus.User {
			return m.Text()
		}
	}
	return ""
}

// prepared is a model call that passed the gate and the budget.
type prepared struct {
	targets     []bus.Target
	req         bus.Request
	reservation string // "" when nothing was reserved (local models)
	decision    uint64 // audit index of the policy decision
	findings    []string
	asked       string
	opts        CallOptions
	started     time.Time
	reqHash     [32]byte
	raw         []byte // the request body, kept only when bodies are stored
}

// prepare runs everything before a provider is called: model resolution,
// sovereign routing, the policy gate (whose decision is durable before
// anything leaves: no audit, no action) and the budget reservation.
func (s *System) prepare(ctx context.Context, l store.Lease, call door.Call, opts CallOptions) (*prepared, error) {
	if !s.leaseAllowed(l.ID) {
		return nil, &ModelError{Status: 429, Code: "rate_limited",
			Message: fmt.Sprintf("lease %s is over its %d model calls per minute (limits.lease_rpm)", l.Name, s.Config.Limits.LeaseRPM)}
	}
	name := s.modelName(call.Model, opts.Door)
	req := call.Request
	if opts.Memory || l.Options.Memory {
		if mem := s.retrieval(ctx, lastUserText(req)); mem != "" {
			if req.System != "" {
				req.System = mem + "\n" + req.System
			} else {
				req.System = mem
			}
		}
	}
	if !opts.NoIdentity && !l.Options.NoIdentity {
		if id := strings.TrimSpace(s.identity() + s.identityClaims()); id != "" {
			if req.System != "" {
				req.System = id + "\n\n" + req.System
			} else {
				req.System = id
			}
		}
	}
	kinds := scanRequest(req)
	sens := sensitivity(kinds)
	localOnly := sens != "public" || l.Options.LocalOnly || opts.LocalOnly
	targets, err := s.Router.Resolve(name, localOnly)
	noLocal := errors.Is(err, bus.ErrNoLocal)
	if noLocal && (l.Options.LocalOnly || opts.LocalOnly) {
		who := "lease " + l.Name + " is"
		if !l.Options.LocalOnly {
			who = "this call is"
		}
		return nil, &ModelError{Status: 403, Code: "local_only", Err: err,
			Message: fmt.Sprintf("%s local-only and no local model is available for %q; the call will not be sent to a cloud model", who, call.Model)}
	}
	if err == nil && len(opts.Tiers) > 0 {
		kept := targets[:0:0]
		for _, t := range targets {
			if slices.Contains(opts.Tiers, t.Tier) {
				kept = append(kept, t)
			}
		}
		if len(kept) == 0 {
			return nil, &ModelError{Status: 403, Code: "tier_not_allowed",
				Message: fmt.Sprintf("no candidate for %q is in the allowed tiers %v", call.Model, opts.Tiers)}
		}
		targets = kept
	}
	if noLocal {
		// Sensitive content and no local model: only an explicit policy
		// may send it to the cloud. Ask the gate about the cloud target, so
		// that the refusal is decided, recorded and listed as a denial.
		targets, err = s.Router.Resolve(name, false)
	}
	if err != nil {
		return nil, &ModelError{Status: 404, Code: "model_not_found", Err: err,
			Message: fmt.Sprintf("model %q is not known: use provider/model (see mirror models) or a configured alias", call.Model)}
	}
	first := targets[0]
	tier := "cloud"
	if first.Local {
		tier = "local"
	}
	est, err := s.Prices.Estimate(first, bus.EstimateTokens(req), req.MaxTokens, reservationCap)
	if err != nil {
		// A model without a known price (a new release, say) may run only
		// on a lease chain with no budget: a budget cannot be kept on an
		// unknown price.
		rem, rerr := s.Leases.ChainRemaining(ctx, l.ID)
		if rerr != nil {
			return nil, rerr
		}
		if rem >= 0 {
			return nil, &ModelError{Status: 400, Code: "unpriced_model", Err: err, Message: err.Error() + " (the lease has a budget, so its cost must be known)"}
		}
		est = 0
	}
	// The budget is reserved in the same group commit as the decision:
	// one fsync on the request path.
	var (
		rsv       store.Reservation
		budgetErr error
	)
	res, err := s.Gate.EvaluateThen(ctx, l, gate.Input{
		Action:   "model:chat:" + first.Key(),
		Resource: first.Key(),
		Args:     map[string]any{},
		Context:  gate.InputContext{Agent: opts.Agent, CostUSD: float64(est) / 1e6, Tier: tier, Sensitivity: sens, Findings: kinds},
	}, func(tx *ledger.Tx, d gate.Result) error {
		rsv, budgetErr = store.Reservation{}, nil
		if est <= 0 {
			return nil
		}
		r, err := s.Leases.ReserveTx(ctx, tx, l.ID, est, 0, 10*time.Minute)
		var be *lease.BudgetError
		if errors.As(err, &be) {
			// Allowed by policy, refused by the budget: the call's outcome
			// is recorded with the decision, so it is never left open.
			budgetErr = err
			body, _ := json.Marshal(map[string]any{"lease": l.ID, "door": opts.Door, "model_asked": call.Model, "model": first.Key(),
				"decision_index": d.AuditIndex, "outcome": "budget_exceeded", "error": be.Error(), "attempts": []bus.Attempt{}})
			_, err = tx.Append(ledger.Event{Kind: "model.call", Actor: "lease/" + l.ID, Body: body})
			return err
		}
		rsv = r
		return err
	})
	if err != nil {
		return nil, err // the ledger could not record: 503 upstream
	}
	if res.Decision != policy.Allow {
		code, status := "policy_block", 403
		if res.Decision == policy.Ask {
			code = "approval_required"
		}
		msg := res.Sentence()
		if noLocal {
			code = "local_only"
			msg = fmt.Sprintf("this request carries %s (%s) and no local model is available for %q; it will not be sent to a cloud model (%s)",
				sens, strings.Join(kinds, ", "), call.Model, msg)
		}
		return nil, &ModelError{Status: status, Code: code, ApprovalID: res.ApprovalID, Message: msg}
	}
	p := &prepared{targets: targets, req: req, decision: res.AuditIndex, findings: kinds, asked: call.Model, opts: opts, started: time.Now(), reqHash: sha256.Sum256(call.Raw)}
	if s.Config.Audit.StoreBodies {
		p.raw = call.Raw
	}
	if budgetErr != nil {
		return nil, &ModelError{Status: 402, Code: "budget_exceeded", Err: budgetErr, Message: budgetErr.Error()}
	}
	p.reservation = rsv.ID
	return p, nil
}

// finish settles the budget and records the outcome, in one deferred
// commit: it runs after the answer went out, so nobody waits for it, and
// it rides in the commit of the next call's decision instead of taking an
// fsync of its own that the next call would queue behind.
func (s *System) finish(l store.Lease, p *prepared, used bus.Target, attempts []bus.Attempt, usage bus.Usage, resp []byte, respHash [32]byte, callErr error, partial bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var cost int64
	if price, ok := s.Prices.Lookup(used); ok && used.Provider != "" {
		cost = price.Cost(usage)
	}
	outcome := "ok"
	switch {
	case partial:
		outcome = "partial"
	case callErr != nil:
		outcome = "failed"
	}
	body := map[string]any{
		"lease": l.ID, "door": p.opts.Door, "model_asked": p.asked, "model": used.Key(), "decision_index": p.decision,
		"outcome": outcome, "attempts": attempts, "usage": usage, "cost_usd": float64(cost) / 1e6,
		"request_sha256": fmt.Sprintf("%x", p.reqHash), "response_sha256": fmt.Sprintf("%x", respHash),
		"latency_ms": time.Since(p.started).Milliseconds(), "findings": p.findings,
	}
	if callErr != nil {
		body["error"] = callErr.Error()
	}
	keep := s.Config.Audit.StoreBodies && p.raw != nil && (resp != nil || callErr != nil)
	if keep {
		body["bodies_stored"] = true
	}
	err := s.Ledger.CommitDeferred(ctx, func(tx *ledger.Tx) error {
		if p.reservation != "" {
			// A settlement that fails (the reservation expired, say) must
			// not cost the call its outcome entry.
			err := tx.Savepoint(func() error {
				return s.Leases.SettleTx(ctx, tx, p.reservation, cost, int64(usage.PromptTokens+usage.CompletionTokens))
			})
			if err != nil {
				s.Log.Warn("settling a model call failed", "err", err.Error())
				body["settle_error"] = err.Error()
			}
		}
		if keep {
			err := tx.Savepoint(func() error {
				if err := tx.Store().PutBlob(ctx, p.reqHash[:], p.raw); err != nil {
					return err
				}
				if resp != nil {
					return tx.Store().PutBlob(ctx, respHash[:], resp)
				}
				return nil
			})
			if err != nil {
				s.Log.Error("storing a model call's bodies failed", "err", err.Error())
				body["bodies_stored"], body["bodies_error"] = false, err.Error()
			}
		}
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		_, err = tx.Append(ledger.Event{Kind: "model.call", Actor: "lease/" + l.ID, Body: b})
		return err
	})
	if err != nil {
		s.Log.Error("model.call outcome not recorded", "err", err.Error())
	}
}

// leaseAllowed applies limits.lease_rpm, a token bucket per lease.
func (s *System) leaseAllowed(id string) bool {
	rpm := s.Config.Limits.LeaseRPM
	if rpm <= 0 {
		return true
	}
	s.limitMu.Lock()
	defer s.limitMu.Unlock()
	if s.leaseLimits == nil {
		s.leaseLimits = map[string]*rate.Limiter{}
	}
	lim, ok := s.leaseLimits[id]
	if !ok {
		lim = rate.NewLimiter(rate.Limit(float64(rpm)/60), max(1, rpm/10))
		s.leaseLimits[id] = lim
	}
	return lim.Allow()
}

// goFinish records an outcome in the background; Close waits for it.
func (s *System) goFinish(l store.Lease, p *prepared, used bus.Target, attempts []bus.Attempt, usage bus.Usage, resp []byte, h [32]byte, err error, partial bool) {
	s.pending.Add(1)
	go func() {
		defer s.pending.Done()
		s.finish(l, p, used, attempts, usage, resp, h, err, partial)
	}()
}

// Chat is one governed, non-streaming model call.
func (s *System) Chat(ctx context.Context, l store.Lease, call door.Call, opts CallOptions) (bus.Response, error) {
	resp, _, err := s.ChatInfo(ctx, l, call, opts)
	return resp, err
}

// CallInfo is what a governed call used and cost.
type CallInfo struct {
	Target     bus.Target // the provider and model that answered
	CostMicros int64
}

// ChatInfo is Chat that also says which model answered and what it cost.
func (s *System) ChatInfo(ctx context.Context, l store.Lease, call door.Call, opts CallOptions) (bus.Response, CallInfo, error) {
	p, err := s.prepare(ctx, l, call, opts)
	if err != nil {
		return bus.Response{}, CallInfo{}, err
	}
	resp, used, attempts, err := s.Router.Chat(ctx, p.targets, p.req)
	var (
		h    [32]byte
		body []byte
	)
	if err == nil {
		body, _ = json.Marshal(resp.Message)
		h = sha256.Sum256(body)
	}
	s.goFinish(l, p, used, attempts, resp.Usage, body, h, err, false)
	if err != nil {
		return bus.Response{}, CallInfo{Target: used}, upstreamError(err)
	}
	info := CallInfo{Target: used}
	if price, ok := s.Prices.Lookup(used); ok {
		info.CostMicros = price.Cost(resp.Usage)
	}
	return resp, info, nil
}

// ChatStream is one governed, streamed model call. The outcome is recorded
// when the stream ends or is closed.
func (s *System) ChatStream(ctx context.Context, l store.Lease, call door.Call, opts CallOptions) (bus.Stream, error) {
	p, err := s.prepare(ctx, l, call, opts)
	if err != nil {
		return nil, err
	}
	st, used, attempts, err := s.Router.ChatStream(ctx, p.targets, p.req)
	if err != nil {
		s.goFinish(l, p, used, attempts, bus.Usage{}, nil, [32]byte{}, err, false)
		return nil, upstreamError(err)
	}
	a := &auditedStream{inner: st, s: s, l: l, p: p, used: used, attempts: attempts, h: sha256.New()}
	if s.Config.Audit.StoreBodies {
		a.body = &bytes.Buffer{}
	}
	return a, nil
}

func upstreamError(err error) error {
	if e, ok := bus.AsError(err); ok {
		status := 502
		if e.Kind == bus.RateLimited {
			status = 429
		}
		if e.Kind == bus.BadRequest {
			status = 400
			if e.Status == 404 { // the provider does not have that model
				return &ModelError{Status: 404, Code: "model_not_found", Err: err, Message: err.Error()}
			}
		}
		return &ModelError{Status: status, Code: "upstream_" + string(e.Kind), Err: err, Message: err.Error()}
	}
	if errors.Is(err, bus.ErrAllFailed) {
		return &ModelError{Status: 502, Code: "upstream_unavailable", Err: err, Message: err.Error()}
	}
	return err
}

// auditedStream hashes what it passes on and records the outcome once.
type auditedStream struct {
	inner    bus.Stream
	s        *System
	l        store.Lease
	p        *prepared
	used     bus.Target
	attempts []bus.Attempt
	h        hash.Hash
	body     *bytes.Buffer // what was hashed, when bodies are stored
	usage    bus.Usage
	once     sync.Once
	done     bool
}

func (a *auditedStream) Next() (bus.Event, error) {
	ev, err := a.inner.Next()
	if err == nil {
		chunk := []byte(ev.Text + ev.Name + ev.ArgumentsDelta + string(ev.Block.Raw))
		a.h.Write(chunk)
		if a.body != nil {
			a.body.Write(chunk)
		}
		if ev.Type == bus.Done {
			a.usage, a.done = ev.Usage, true
			a.record(nil)
		}
		return ev, nil
	}
	if errors.Is(err, io.EOF) {
		a.record(nil)
		return ev, err
	}
	a.record(err)
	return ev, err
}

func (a *auditedStream) record(err error) {
	a.once.Do(func() {
		var sum [32]byte
		copy(sum[:], a.h.Sum(nil))
		partial := !a.done
		var body []byte
		if a.body != nil {
			body = a.body.Bytes()
		}
		a.s.goFinish(a.l, a.p, a.used, a.attempts, a.usage, body, sum, err, partial)
	})
}

func (a *auditedStream) Close() error {
	if !a.done {
		a.record(errors.New("the client closed the stream before it ended"))
	}
	return a.inner.Close()
}

// Embed is one governed embeddings call: the same resolution, sovereign
// routing and policy as a chat call (action model:embed:<provider>/<model>),
// on the first candidate whose provider offers embeddings.
func (s *System) Embed(ctx context.Context, l store.Lease, model string, input []string, opts CallOptions) ([][]float32, bus.Usage, error) {
	name := s.modelName(model, opts.Door)
	seen := map[string]bool{}
	var kinds []string
	for i, in := range input {
		for _, f := range risk.ScanContent(fmt.Sprintf("input[%d]", i), in) {
			if !seen[f.Kind] {
				seen[f.Kind] = true
				kinds = append(kinds, f.Kind)
			}
		}
	}
	sens := sensitivity(kinds)
	targets, err := s.Router.Resolve(name, sens != "public")
	switch {
	case errors.Is(err, bus.ErrNoLocal):
		return nil, bus.Usage{}, &ModelError{Status: 403, Code: "local_only", Err: err,
			Message: fmt.Sprintf("the input carries %s (%s) and no local model is available for %q", sens, strings.Join(kinds, ", "), model)}
	case err != nil:
		return nil, bus.Usage{}, &ModelError{Status: 404, Code: "model_not_found", Err: err, Message: fmt.Sprintf("model %q is not known", model)}
	}
	var target bus.Target
	var emb bus.Embedder
	for _, t := range targets {
		if e, ok := s.Router.Provider(t.Provider).(bus.Embedder); ok {
			target, emb = t, e
			break
		}
	}
	if emb == nil {
		return nil, bus.Usage{}, &ModelError{Status: 400, Code: "no_embeddings", Message: fmt.Sprintf("no provider for %q offers embeddings", model)}
	}
	tier := "cloud"
	if target.Local {
		tier = "local"
	}
	res, err := s.Gate.Evaluate(ctx, l, gate.Input{Action: "model:embed:" + target.Key(), Resource: target.Key(), Args: map[string]any{},
		Context: gate.InputContext{Agent: opts.Agent, Tier: tier, Sensitivity: sens, Findings: kinds}})
	if err != nil {
		return nil, bus.Usage{}, err
	}
	if res.Decision != policy.Allow {
		return nil, bus.Usage{}, &ModelError{Status: 403, Code: "policy_block", ApprovalID: res.ApprovalID, Message: res.Sentence()}
	}
	start := time.Now()
	vecs, usage, err := emb.Embed(ctx, target.Model, input)
	body, _ := json.Marshal(map[string]any{"lease": l.ID, "door": opts.Door, "model": target.Key(), "decision_index": res.AuditIndex,
		"inputs": len(input), "usage": usage, "latency_ms": time.Since(start).Milliseconds(), "ok": err == nil})
	s.pending.Add(1)
	go func() {
		defer s.pending.Done()
		if _, aerr := s.Ledger.Append(context.Background(), ledger.Event{Kind: "model.embed", Actor: "lease/" + l.ID, Body: body}); aerr != nil {
			s.Log.Error("model.embed outcome not recorded", "err", aerr.Error())
		}
	}()
	if err != nil {
		return nil, bus.Usage{}, upstreamError(err)
	}
	return vecs, usage, nil
}
