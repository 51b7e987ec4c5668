package kernel

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mirroros/mirror/bus"
	"github.com/mirroros/mirror/council"
	"github.com/mirroros/mirror/door"
	"github.com/mirroros/mirror/skill"
	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/trace/ledger"
	"github.com/mirroros/mirror/trace/provenance"
	"github.com/mirroros/mirror/trust/gate"
	"github.com/mirroros/mirror/trust/lease"
	"github.com/mirroros/mirror/trust/policy"
)

// Run states.
const (
	RunPending   = "pending"
	RunWaiting   = "waiting_approval"
	RunRunning   = "running"
	RunSucceeded = "succeeded"
	RunFailed    = "failed"
	RunCancelled = "cancelled"
)

// Runtime limits.
const (
	// MaxRunDepth bounds how deep spawned runs nest.
	MaxRunDepth = 4
	// MaxChain bounds the steps of a chain.
	MaxChain = 8
	// chainCarry is how much of a step's output is carried into the next
	// step's inputs before it is truncated with a visible marker.
	chainCarry = 16 << 10
	// promoteAfter verified runs move a skill version from canary to stable;
	// demoteAfter consecutive failures demote it.
	promoteAfter = 5
	demoteAfter  = 3
	// statHalfLife is the half-life of the skill×model reliability record.
	statHalfLife = 7 * 24 * time.Hour
)

// Terminal reports whether a run state is final.
func Terminal(state string) bool {
	return state == RunSucceeded || state == RunFailed || state == RunCancelled
}

// RunRequest is an intent: a goal, an optional skill, inputs, the lease.
type RunRequest struct {
	Goal      string         `json:"goal,omitempty"`
	Skill     string         `json:"skill,omitempty"` // name or name@version; "" lets the kernel choose
	Inputs    map[string]any `json:"inputs,omitempty"`
	Agent     string         `json:"agent,omitempty"`
	Chain     []ChainStep    `json:"chain,omitempty"`      // later steps fed by this one's output
	ParentRun string         `json:"parent_run,omitempty"` // spawn under this run
}

// ChainStep is one later step of a chain.
type ChainStep struct {
	Skill  string         `json:"skill"`
	Inputs map[string]any `json:"inputs,omitempty"`
}

// RunError is a run request refused before it started.
type RunError struct {
	Status int
	Code   string
	Msg    string
}

func (e *RunError) Error() string { return e.Msg }

func runErr(status int, code, format string, args ...any) error {
	return &RunError{Status: status, Code: code, Msg: fmt.Sprintf(format, args...)}
}

// runtime is the governed runtime's state.
type runtime struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	active map[string]bool
	subs   map[string][]chan struct{} // run id → followers to wake on change
}

func (s *System) startRuns() {
	ctx, cancel := context.WithCancel(context.Background())
	s.rt = &runtime{ctx: ctx, cancel: cancel, active: map[string]bool{}, subs: map[string][]chan struct{}{}}
	// Runs a previous kernel left unfinished resume where their journal ends.
	var open []store.Run
	err := s.Store.View(ctx, func(tx store.ReadTx) (err error) {
		open, err = tx.Runs(ctx, store.RunFilter{States: []string{RunPending, RunWaiting, RunRunning}, Limit: 1000})
		return err
	})
	if err != nil {
		s.Log.Warn("unfinished runs not listed", "err", err.Error())
	}
	for _, r := range open {
		s.launch(r.ID, true)
	}
}

func (s *System) stopRuns() {
	if s.rt == nil {
		return
	}
	s.rt.cancel()
	s.rt.wg.Wait()
}

// notify wakes the followers of a run.
func (s *System) notify(id string) {
	s.rt.mu.Lock()
	subs := s.rt.subs[id]
	delete(s.rt.subs, id)
	s.rt.mu.Unlock()
	for _, ch := range subs {
		close(ch)
	}
}

// RunChanged returns a channel closed at the run's next change.
func (s *System) RunChanged(id string) <-chan struct{} {
	ch := make(chan struct{})
	s.rt.mu.Lock()
	s.rt.subs[id] = append(s.rt.subs[id], ch)
	s.rt.mu.Unlock()
	return ch
}

func (s *System) launch(id string, resumed bool) {
	s.rt.mu.Lock()
	if s.rt.active[id] {
		s.rt.mu.Unlock()
		return
	}
	s.rt.active[id] = true
	s.rt.mu.Unlock()
	s.rt.wg.Add(1)
	go func() {
		defer s.rt.wg.Done()
		defer func() {
			s.rt.mu.Lock()
			delete(s.rt.active, id)
			s.rt.mu.Unlock()
			s.notify(id)
		}()
		s.execute(s.rt.ctx, id, resumed)
	}()
}

// splitSkill parses "name" or "name@version".
func splitSkill(ref string) (name, version string) {
	name, version, _ = strings.Cut(strings.TrimSpace(ref), "@")
	return name, version
}

// StartRun validates an intent, records it and starts it in the background.
// Input errors a client can fix are returned as *RunError.
func (s *System) StartRun(ctx context.Context, l store.Lease, req RunRequest) (store.Run, error) {
	req.Goal = strings.TrimSpace(req.Goal)
	if req.Skill == "" && req.Goal == "" {
		return store.Run{}, runErr(400, "invalid_run", "a run needs a skill or a goal")
	}
	if len(req.Goal) > 16<<10 {
		return store.Run{}, runErr(400, "invalid_run", "the goal is longer than 16 KiB")
	}
	if len(req.Chain) > MaxChain {
		return store.Run{}, runErr(400, "invalid_run", "a chain has at most %d steps", MaxChain)
	}
	if req.Inputs == nil {
		req.Inputs = map[string]any{}
	}
	if req.Skill != "" {
		sk, err := s.findSkill(req.Skill)
		if err != nil {
			return store.Run{}, err
		}
		if err := sk.ValidateInput(req.Inputs); err != nil {
			return store.Run{}, runErr(400, "invalid_inputs", "%v", err)
		}
	}
	for i, c := range req.Chain {
		if _, err := s.findSkill(c.Skill); err != nil {
			return store.Run{}, runErr(400, "invalid_run", "chain step %d: %v", i+1, err)
		}
	}
	depth, runLeaseParent := 0, l.ID
	if req.ParentRun != "" {
		parent, err := s.Run(ctx, req.ParentRun)
		if err != nil {
			return store.Run{}, err
		}
		if !s.leaseInSubtree(ctx, l.ID, parent.LeaseID) && l.ID != parent.RunLease {
			return store.Run{}, runErr(403, "forbidden", "run %s is not yours to spawn under", parent.ID)
		}
		if Terminal(parent.State) {
			return store.Run{}, runErr(409, "run_ended", "run %s has ended (%s); it cannot spawn", parent.ID, parent.State)
		}
		if parent.Depth+1 > MaxRunDepth {
			return store.Run{}, runErr(403, "depth_limit", "spawned runs nest at most %d deep", MaxRunDepth)
		}
		depth, runLeaseParent = parent.Depth+1, parent.RunLease
	}
	inputs, err := json.Marshal(req.Inputs)
	if err != nil {
		return store.Run{}, runErr(400, "invalid_inputs", "inputs: %v", err)
	}
	name, version := splitSkill(req.Skill)
	now := time.Now().UTC()
	r := store.Run{
		ID: lease.NewID("run_"), ParentRun: req.ParentRun, LeaseID: l.ID, Agent: req.Agent, Goal: req.Goal,
		Skill: name, SkillVersion: version, Inputs: inputs, State: RunPending, Depth: depth,
		Created: now, Updated: now,
	}
	// The chain and the lease the run's own lease is carved from travel in
	// the journal's first step, so a resumed run knows them.
	intent, _ := json.Marshal(map[string]any{"chain": req.Chain, "lease_parent": runLeaseParent})
	err = s.Ledger.Commit(ctx, func(tx *ledger.Tx) error {
		if err := tx.Store().PutRun(ctx, r); err != nil {
			return err
		}
		step := store.RunStep{RunID: r.ID, Seq: 0, Kind: "intent", Output: intent, OK: true, Started: now, Ended: now}
		if err := tx.Store().PutRunStep(ctx, step); err != nil {
			return err
		}
		body, _ := json.Marshal(map[string]any{"run": r.ID, "lease": l.ID, "goal": r.Goal, "skill": req.Skill,
			"inputs_sha256": sha(inputs), "parent_run": r.ParentRun, "depth": depth, "chain": len(req.Chain)})
		_, err := tx.Append(ledger.Event{Kind: "run.start", Actor: "lease/" + l.ID, Body: body})
		return err
	})
	if err != nil {
		return store.Run{}, err
	}
	s.launch(r.ID, false)
	return r, nil
}

func (s *System) leaseInSubtree(ctx context.Context, root, id string) bool {
	for id != "" {
		if id == root {
			return true
		}
		var l store.Lease
		err := s.Store.View(ctx, func(tx store.ReadTx) (err error) {
			l, err = tx.Lease(ctx, id)
			return err
		})
		if err != nil {
			return false
		}
		id = l.Parent
	}
	return false
}

// findSkill looks a skill up by "name" or "name@version".
func (s *System) findSkill(ref string) (*skill.Skill, error) {
	name, version := splitSkill(ref)
	sk, err := s.Skills.Get(name, version)
	if err != nil {
		for _, r := range s.Skills.Refused() {
			if r.Name == name && (version == "" || r.Version == version) {
				return nil, runErr(403, "skill_refused", "skill %s@%s is refused: %v", r.Name, r.Version, r.Err)
			}
		}
		return nil, runErr(404, "skill_not_found", "no installed skill %q (see mirror skill ls)", ref)
	}
	return sk, nil
}

// Run returns a run by id.
func (s *System) Run(ctx context.Context, id string) (store.Run, error) {
	var r store.Run
	err := s.Store.View(ctx, func(tx store.ReadTx) (err error) {
		r, err = tx.Run(ctx, id)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return r, runErr(404, "not_found", "no run %s", id)
	}
	return r, err
}

// RunSteps returns a run's journal.
func (s *System) RunSteps(ctx context.Context, id string) ([]store.RunStep, error) {
	var steps []store.RunStep
	err := s.Store.View(ctx, func(tx store.ReadTx) (err error) {
		steps, err = tx.RunSteps(ctx, id)
		return err
	})
	return steps, err
}

// Runs lists the runs asked for by a lease and its descendants.
func (s *System) Runs(ctx context.Context, l store.Lease, states []string, limit int) ([]store.Run, error) {
	nodes, err := s.Leases.Subtree(ctx, l)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(nodes))
	for _, n := range nodes {
		ids = append(ids, n.Lease.ID)
	}
	var runs []store.Run
	err = s.Store.View(ctx, func(tx store.ReadTx) (err error) {
		runs, err = tx.Runs(ctx, store.RunFilter{LeaseIDs: ids, States: states, Limit: limit})
		return err
	})
	return runs, err
}

// CanSee reports whether lease l may read run r: it asked for it, or the
// run was asked for under l's subtree.
func (s *System) CanSee(ctx context.Context, l store.Lease, r store.Run) bool {
	return s.leaseInSubtree(ctx, l.ID, r.LeaseID)
}

// runner carries one execution of a run.
type runner struct {
	s       *System
	run     store.Run
	steps   []store.RunStep // the journal so far
	seq     int             // next step number
	stages  []provenance.Stage
	models  []string
	prompts []string
	verif   []provenance.Verifier
	cost    int64
	started time.Time
}

// step returns the journaled result of the next step if there is one
// (a resumed run never calls again what completed), and otherwise runs fn
// and journals what it returns, in the same transaction as a run.step
// ledger entry.
func (r *runner) step(ctx context.Context, kind string, fn func() (store.RunStep, error)) (store.RunStep, error) {
	seq := r.seq
	r.seq++
	for _, st := range r.steps {
		if st.Seq == seq {
			if st.Kind != kind {
				return st, fmt.Errorf("the journal of run %s has %q at step %d where %q was expected", r.run.ID, st.Kind, seq, kind)
			}
			r.account(st)
			return st, nil
		}
	}
	if err := r.leaseLive(ctx); err != nil {
		return store.RunStep{}, err
	}
	started := time.Now().UTC()
	st, err := fn()
	if err != nil {
		return st, err
	}
	if err := r.leaseLive(ctx); err != nil {
		return store.RunStep{}, err // revoked while the step ran: its result is not used
	}
	st.RunID, st.Seq, st.Kind, st.Started, st.Ended = r.run.ID, seq, kind, started, time.Now().UTC()
	err = r.s.Ledger.Commit(ctx, func(tx *ledger.Tx) error {
		if err := tx.Store().PutRunStep(ctx, st); err != nil {
			return err
		}
		body := map[string]any{"run": r.run.ID, "seq": seq, "kind": kind, "ok": st.OK, "model": st.Model,
			"input_sha256": hex.EncodeToString(st.InputHash), "output_sha256": sha(st.Output), "cost_usd": float64(st.CostMicros) / 1e6}
		if r.s.skillUnsigned(r.run) {
			body["unsigned_skill"] = true
		}
		b, _ := json.Marshal(body)
		_, err := tx.Append(ledger.Event{Kind: "run.step", Actor: "run/" + r.run.ID, Body: b})
		return err
	})
	if err != nil {
		return st, err
	}
	r.steps = append(r.steps, st)
	r.account(st)
	r.s.notify(r.run.ID)
	return st, nil
}

// leaseLive cancels a run whose lease was revoked or expired: revoking a
// lease stops every run under it, spawned ones included.
func (r *runner) leaseLive(ctx context.Context) error {
	if r.run.RunLease == "" {
		return nil
	}
	l, err := r.s.leaseByID(ctx, r.run.RunLease)
	if err != nil {
		return err
	}
	if err := lease.Usable(l, time.Now()); err != nil {
		return &cancelError{msg: "the run's lease is no longer usable (" + l.State + "): the run stops"}
	}
	return nil
}

func (r *runner) account(st store.RunStep) {
	r.cost += st.CostMicros
	if st.Model != "" {
		if !slices.Contains(r.models, st.Model) {
			r.models = append(r.models, st.Model)
		}
	}
	if len(st.InputHash) > 0 && st.Kind != "intent" {
		r.prompts = append(r.prompts, hex.EncodeToString(st.InputHash))
	}
}

func (r *runner) stage(name string, since time.Time) {
	r.stages = append(r.stages, provenance.Stage{Name: name, Millis: time.Since(since).Milliseconds()})
}

// skillUnsigned reports whether a run's skill was accepted only in
// development mode.
func (s *System) skillUnsigned(r store.Run) bool {
	if r.Skill == "" || r.SkillVersion == "" {
		return false
	}
	sk, err := s.Skills.Get(r.Skill, r.SkillVersion)
	return err == nil && sk.Unsigned
}

// update rewrites the run row (and, with an event, records it in the same
// transaction).
func (r *runner) update(ctx context.Context, kind string, body map[string]any, extra func(tx *ledger.Tx) error) error {
	r.run.Updated = time.Now().UTC()
	err := r.s.Ledger.Commit(ctx, func(tx *ledger.Tx) error {
		if extra != nil {
			if err := extra(tx); err != nil {
				return err
			}
		}
		if kind != "" {
			if body == nil {
				body = map[string]any{}
			}
			body["run"] = r.run.ID
			b, _ := json.Marshal(body)
			rec, err := tx.Append(ledger.Event{Kind: kind, Actor: "run/" + r.run.ID, Body: b})
			if err != nil {
				return err
			}
			if kind == "run.provenance" {
				r.run.ProvenanceIndex = rec.Index
			}
		}
		return tx.Store().UpdateRun(ctx, r.run)
	})
	r.s.notify(r.run.ID)
	return err
}

// fail ends a run as failed (or cancelled) with a reason.
func (r *runner) fail(ctx context.Context, state string, err error) {
	r.run.State, r.run.Error, r.run.Ended = state, err.Error(), time.Now().UTC()
	r.run.ApprovalID = ""
	if uerr := r.update(context.WithoutCancel(ctx), "run.end", map[string]any{"state": state, "error": r.run.Error, "cost_usd": float64(r.cost) / 1e6}, nil); uerr != nil {
		r.s.Log.Error("run end not recorded", "run", r.run.ID, "err", uerr.Error())
	}
}

// execute runs (or resumes) the pipeline of one run.
func (s *System) execute(ctx context.Context, id string, resumed bool) {
	r := &runner{s: s, started: time.Now()}
	var err error
	if r.run, err = s.Run(ctx, id); err != nil {
		s.Log.Error("run not loaded", "run", id, "err", err.Error())
		return
	}
	if Terminal(r.run.State) {
		return
	}
	if r.steps, err = s.RunSteps(ctx, id); err != nil {
		s.Log.Error("run journal not loaded", "run", id, "err", err.Error())
		return
	}
	if resumed {
		r.run.Resumes++
		if err := r.update(ctx, "run.resume", map[string]any{"journaled_steps": len(r.steps), "resumes": r.run.Resumes}, nil); err != nil {
			s.Log.Error("run resume not recorded", "run", id, "err", err.Error())
			return
		}
	}
	err = r.pipeline(ctx)
	if ctx.Err() != nil {
		return // the kernel is stopping: the run resumes on the next start
	}
	if err != nil {
		state := RunFailed
		var ce *cancelError
		if errors.As(err, &ce) {
			state = RunCancelled
		}
		r.fail(ctx, state, err)
	}
	// The run is over: what its lease has not spent goes back to the
	// caller's budget (calls still settling stay covered until they do).
	if r.run.RunLease != "" {
		if err := s.Leases.Unfund(context.WithoutCancel(ctx), r.run.RunLease); err != nil {
			s.Log.Warn("run budget not given back", "run", id, "err", err.Error())
		}
	}
}

// cancelError ends a run as cancelled (its lease was revoked, an approval
// was denied).
type cancelError struct{ msg string }

func (e *cancelError) Error() string { return e.msg }

// intent is the journal's step 0.
type intent struct {
	Chain       []ChainStep `json:"chain"`
	LeaseParent string      `json:"lease_parent"`
}

func (r *runner) pipeline(ctx context.Context) error {
	s := r.s
	var in intent
	if len(r.steps) == 0 || r.steps[0].Kind != "intent" {
		return errors.New("the run's journal has no intent")
	}
	if err := json.Unmarshal(r.steps[0].Output, &in); err != nil {
		return fmt.Errorf("the run's intent: %w", err)
	}
	r.seq = 1
	var inputs map[string]any
	if err := json.Unmarshal(r.run.Inputs, &inputs); err != nil {
		return fmt.Errorf("the run's inputs: %w", err)
	}
	caller, err := s.leaseByID(ctx, r.run.LeaseID)
	if err != nil {
		return err
	}

	// Skill: explicit, or chosen for the goal.
	t := time.Now()
	if r.run.Skill == "" {
		st, err := r.step(ctx, "select", func() (store.RunStep, error) { return r.selectSkill(ctx, caller, inputs) })
		if err != nil {
			return err
		}
		r.run.Skill = string(st.Output)
		if r.run.Skill == "" {
			return errors.New("no installed skill fits the goal; name one with --skill")
		}
	}
	sk, err := s.Skills.Get(r.run.Skill, r.run.SkillVersion)
	if err != nil {
		return fmt.Errorf("skill %s@%s cannot run: %v", r.run.Skill, r.run.SkillVersion, s.refusalOf(r.run.Skill, r.run.SkillVersion, err))
	}
	if r.run.SkillDigest != "" && sk.Digest != r.run.SkillDigest {
		return fmt.Errorf("skill %s@%s changed since the contract was made (digest %s, now %s)", sk.Name, sk.Version, r.run.SkillDigest, sk.Digest)
	}
	r.stage("skill", t)

	// Contract.
	t = time.Now()
	if r.run.Contract == nil {
		if err := r.contract(ctx, caller, sk, in, inputs); err != nil {
			return err
		}
	}
	runLease, err := s.leaseByID(ctx, r.run.RunLease)
	if err != nil {
		return err
	}
	r.stage("contract", t)

	// Route → Execute, with the schema check and repairs.
	t = time.Now()
	output, err := r.executeSkill(ctx, runLease, sk, inputs)
	r.stage("execute", t)
	if err != nil {
		r.learn(ctx, sk, false)
		return err
	}

	// Verify by the skill's strategy.
	t = time.Now()
	verr := r.verify(ctx, runLease, sk, inputs, output)
	r.stage("verify", t)

	// Chain: each later step is a child run fed by this one's output.
	if verr == nil {
		for i, c := range in.Chain {
			t = time.Now()
			next, err := r.chainStep(ctx, i, c, output)
			r.stage(fmt.Sprintf("chain.%d", i+1), t)
			if err != nil {
				return err
			}
			output = next
		}
	}

	// Store: the signed provenance record, with the output, in one
	// transaction; then Promote/Demote.
	return r.store(ctx, sk, output, verr)
}

func (s *System) leaseByID(ctx context.Context, id string) (store.Lease, error) {
	var l store.Lease
	err := s.Store.View(ctx, func(tx store.ReadTx) (err error) {
		l, err = tx.Lease(ctx, id)
		return err
	})
	return l, err
}

func (s *System) refusalOf(name, version string, err error) error {
	for _, r := range s.Skills.Refused() {
		if r.Name == name && (version == "" || r.Version == version) {
			return r.Err
		}
	}
	return err
}

// selectSkill chooses a skill for a goal: a local model classifies it
// among the installed skills; without one, keywords decide.
func (r *runner) selectSkill(ctx context.Context, caller store.Lease, inputs map[string]any) (store.RunStep, error) {
	skills := r.s.Skills.List()
	goal := r.run.Goal
	var b strings.Builder
	for _, sk := range skills {
		fmt.Fprintf(&b, "- %s: %s\n", sk.Name, sk.Description)
	}
	prompt := fmt.Sprintf(selectPrompt, b.String(), goal)
	h := sha256.Sum256([]byte(prompt))
	text, info, err := r.s.runCall(ctx, caller, "local", "", prompt, 200, CallOptions{LocalOnly: true, Agent: r.run.Agent})
	if err == nil {
		var pick struct {
			Skill string `json:"skill"`
		}
		if obj, ok := council.FirstJSONObject(text); ok && json.Unmarshal(obj, &pick) == nil {
			for _, sk := range skills {
				if sk.Name == pick.Skill {
					detail, _ := json.Marshal(map[string]any{"by": "model"})
					return store.RunStep{Model: info.Target.Key(), InputHash: h[:], Output: []byte(sk.Name), OK: true, Detail: detail, CostMicros: info.CostMicros}, nil
				}
			}
		}
	}
	name := keywordSkill(skills, goal)
	why := "keywords"
	if err != nil {
		why = "keywords (no local model: " + err.Error() + ")"
	}
	detail, _ := json.Marshal(map[string]any{"by": why})
	return store.RunStep{InputHash: h[:], Output: []byte(name), OK: name != "", Detail: detail}, nil
}

const selectPrompt = `Choose the one skill that best serves the goal below. Skills:
%s
Goal: %s

Answer with exactly one JSON object and nothing else: {"skill": "<skill name>"}`

// keywordSkill scores skills by how many of their keywords (and name) the
// goal contains; ties go to the name first in order.
func keywordSkill(skills []*skill.Skill, goal string) string {
	g := strings.ToLower(goal)
	best, bestScore := "", 0
	for _, sk := range skills {
		score := 0
		if strings.Contains(g, sk.Name) {
			score += 2
		}
		for _, k := range sk.Keywords {
			if k != "" && strings.Contains(g, strings.ToLower(k)) {
				score++
			}
		}
		if score > bestScore {
			best, bestScore = sk.Name, score
		}
	}
	return best
}

var riskLevel = map[string]int{"low": 0, "medium": 2, "high": 3, "critical": 4}

// contract validates inputs, checks the lease's scopes and the policy gate
// (waiting for a human on ASK), carves the run's own lease (its budget
// reserved out of the caller's chain) and records the contract's hash
// before anything runs.
func (r *runner) contract(ctx context.Context, caller store.Lease, sk *skill.Skill, in intent, inputs map[string]any) error {
	s := r.s
	if err := sk.ValidateInput(inputs); err != nil {
		return fmt.Errorf("inputs: %v", err)
	}
	parent, err := s.leaseByID(ctx, in.LeaseParent)
	if err != nil {
		return err
	}
	if err := lease.Usable(parent, time.Now()); err != nil {
		return &cancelError{msg: "the lease is no longer usable: " + err.Error()}
	}
	for _, sc := range sk.Scopes {
		covered := false
		for _, p := range parent.Scopes {
			if policy.PatternCovers(p, sc) {
				covered = true
				break
			}
		}
		if !covered {
			return fmt.Errorf("lease %s lacks scope %q that skill %s needs", parent.Name, sc, sk.Name)
		}
	}
	// The gate decides the run itself: skill:run:<name>, with the skill's
	// risk class.
	gin := gate.Input{
		Action: "skill:run:" + sk.Name, Resource: sk.Name + "@" + sk.Version,
		Args:    map[string]any{"digest": sk.Digest, "inputs_sha256": sha(r.run.Inputs)},
		Context: gate.InputContext{Agent: r.run.Agent, Risk: riskLevel[sk.Risk]},
	}
	for {
		res, err := s.Gate.Evaluate(ctx, caller, gin)
		if err != nil {
			return err
		}
		if res.Decision == policy.Allow {
			break
		}
		if res.Decision == policy.Block {
			return fmt.Errorf("policy blocks the run: %s", res.Sentence())
		}
		// ASK: wait for a person, then redeem the approval.
		r.run.State, r.run.ApprovalID = RunWaiting, res.ApprovalID
		if err := r.update(ctx, "", nil, nil); err != nil {
			return err
		}
		ap, err := s.waitApproval(ctx, res.ApprovalID)
		if err != nil {
			return err
		}
		if ap.State != "approved" {
			return &cancelError{msg: fmt.Sprintf("approval %s was %s: %s", ap.ID, ap.State, ap.Note)}
		}
		gin.ApprovalID = res.ApprovalID
	}
	// The run's own lease: the skill's scopes, its budget cap (or half of
	// what the chain has left), local-only when the skill says so.
	budget := int64(-1)
	if sk.BudgetMicros > 0 {
		budget = sk.BudgetMicros
		if rem, err := s.Leases.ChainRemaining(ctx, parent.ID); err == nil && rem >= 0 && rem < budget {
			budget = rem
		}
	}
	if !parent.ExpiresAt.IsZero() && time.Until(parent.ExpiresAt) < 5*time.Second {
		return &cancelError{msg: "the lease expires before the run could finish"}
	}
	rl, _, err := s.Leases.Grant(ctx, parent, lease.GrantRequest{
		// TTL 0: an hour, never past the parent lease's expiry.
		Name: "run " + r.run.ID, Scopes: sk.Scopes, BudgetMicros: budget, BudgetTokens: -1,
		Options: store.LeaseOptions{LocalOnly: sk.Routing.LocalOnly}, ForRun: true,
		// The budget is set aside on the caller's chain now: nothing else
		// can spend it while the run goes on; what is left comes back at
		// its end.
		Funded: true,
	})
	if err != nil {
		return fmt.Errorf("the run's lease: %w", err)
	}
	contract := map[string]any{
		"run": r.run.ID, "lease": caller.ID, "run_lease": rl.ID, "parent_run": r.run.ParentRun, "depth": r.run.Depth,
		"skill":         map[string]any{"name": sk.Name, "version": sk.Version, "digest": sk.Digest, "signer": sk.Signer, "unsigned": sk.Unsigned},
		"inputs_sha256": sha(r.run.Inputs),
		"limits": map[string]any{"budget_micros": rl.BudgetMicros, "max_attempts": sk.MaxAttempts, "local_only": sk.Routing.LocalOnly,
			"tiers": sk.Routing.Tiers, "models": sk.ModelList(), "expires_at": rl.ExpiresAt.Format(time.RFC3339)},
		"verify": map[string]any{"strategy": sk.Verify.Strategy, "model": sk.Verify.Model, "council": sk.Verify.Council},
	}
	cb, err := ledger.CanonicalObject(mustJSON(contract))
	if err != nil {
		return err
	}
	ch := sha256.Sum256(cb)
	r.run.SkillVersion, r.run.SkillDigest, r.run.RunLease = sk.Version, sk.Digest, rl.ID
	r.run.Contract, r.run.ContractHash, r.run.State, r.run.ApprovalID = cb, ch[:], RunRunning, ""
	body := map[string]any{"contract_sha256": hex.EncodeToString(ch[:]), "skill": sk.Name + "@" + sk.Version, "digest": sk.Digest, "run_lease": rl.ID}
	if sk.Unsigned {
		body["unsigned_skill"], body["trust_warning"] = true, sk.TrustWarning
	}
	return r.update(ctx, "run.contract", body, nil)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// waitApproval waits until an approval is decided or expires.
func (s *System) waitApproval(ctx context.Context, id string) (gate.Approval, error) {
	for {
		ap, err := s.Gate.Approval(ctx, id, 30*time.Second)
		if err != nil {
			return ap, err
		}
		if ap.State != "pending" {
			return ap, nil
		}
		if ctx.Err() != nil {
			return ap, ctx.Err()
		}
	}
}

// runCall is one governed model call of a run.
func (s *System) runCall(ctx context.Context, l store.Lease, model, system, prompt string, maxTokens int, opts CallOptions) (string, CallInfo, error) {
	req := bus.Request{System: system, MaxTokens: maxTokens,
		Messages: []bus.Message{{Role: bus.User, Content: []bus.Part{{Type: bus.TextPart, Text: prompt}}}}}
	raw, _ := json.Marshal(map[string]any{"model": model, "system": system, "prompt": prompt})
	opts.Door = "runtime"
	resp, info, err := s.ChatInfo(ctx, l, door.Call{Model: model, Raw: raw, Request: req}, opts)
	if err != nil {
		return "", info, err
	}
	return resp.Message.Text(), info, nil
}

// models orders a skill's preferred models by how well each has served
// this skill version (the lower credible bound of its verified record),
// keeping the manifest's order among those without a record.
func (r *runner) rankModels(ctx context.Context, sk *skill.Skill) []string {
	list := sk.ModelList()
	var stats []store.SkillStat
	_ = r.s.Store.View(ctx, func(tx store.ReadTx) (err error) {
		stats, err = tx.SkillStats(ctx, sk.Name, sk.Version)
		return err
	})
	score := map[string]float64{}
	for _, st := range stats {
		if st.Model == "" {
			continue
		}
		a, b := 1+decayed(st.Successes, st.Updated), 1+decayed(st.Failures, st.Updated)
		score[st.Model] = bus.BetaLower(a, b)
	}
	sort.SliceStable(list, func(i, j int) bool {
		si, oki := score[list[i]]
		sj, okj := score[list[j]]
		if !oki || !okj {
			return false
		}
		return si > sj+0.05
	})
	return list
}

func decayed(w float64, since time.Time) float64 {
	return w * math.Exp2(-float64(time.Since(since))/float64(statHalfLife))
}

// executeSkill renders the prompt, calls the skill's models (falling back
// along its preferred list when a model is unavailable) and checks the
// output against the schema, feeding violations back for a repair.
func (r *runner) executeSkill(ctx context.Context, runLease store.Lease, sk *skill.Skill, inputs map[string]any) (json.RawMessage, error) {
	prompt, err := sk.Render(inputs)
	if err != nil {
		return nil, fmt.Errorf("prompt: %w", err)
	}
	if sk.History {
		prompt = r.history(ctx, sk) + prompt
	}
	system := fmt.Sprintf("You are running the MirrorOS skill %q (%s). Your answer must be exactly one JSON object that matches this JSON Schema:\n%s",
		sk.Name, sk.Description, sk.OutputSchema)
	opts := CallOptions{LocalOnly: sk.Routing.LocalOnly, Tiers: sk.Routing.Tiers, Agent: r.run.Agent, Memory: sk.Memory}
	models := r.rankModels(ctx, sk)
	var lastErr error
	feedback := ""
	for attempt := 1; attempt <= sk.MaxAttempts; attempt++ {
		kind := "execute"
		p := prompt
		if attempt > 1 {
			kind = "repair"
			p = prompt + "\n\nYour previous answer was not accepted:\n" + feedback + "\nAnswer again with exactly one JSON object that fixes every problem."
		}
		st, err := r.step(ctx, kind, func() (store.RunStep, error) {
			h := sha256.Sum256([]byte(system + "\n" + p))
			var callErrs []string
			for _, m := range models {
				text, info, err := r.s.runCall(ctx, runLease, m, system, p, 4096, opts)
				if err != nil {
					if isFinal(err) {
						return store.RunStep{}, err
					}
					callErrs = append(callErrs, m+": "+err.Error())
					continue
				}
				st := store.RunStep{Model: info.Target.Key(), InputHash: h[:], Output: []byte(text), CostMicros: info.CostMicros}
				out, verr := sk.ValidateOutputJSON(extractJSON(text))
				if verr != nil {
					st.Detail = mustJSON(map[string]any{"schema_errors": verr.Error()})
					return st, nil
				}
				norm, _ := json.Marshal(out)
				st.Output, st.OK = norm, true
				return st, nil
			}
			return store.RunStep{}, fmt.Errorf("no model could run skill %s: %s", sk.Name, strings.Join(callErrs, "; "))
		})
		if err != nil {
			return nil, r.classify(ctx, err)
		}
		if st.OK {
			r.verif = append(r.verif, provenance.Verifier{Kind: "schema", Model: st.Model, OK: true})
			return st.Output, nil
		}
		var d struct {
			SchemaErrors string `json:"schema_errors"`
		}
		json.Unmarshal(st.Detail, &d)
		feedback = d.SchemaErrors
		lastErr = errors.New(d.SchemaErrors)
	}
	r.verif = append(r.verif, provenance.Verifier{Kind: "schema", OK: false, Detail: lastErr.Error()})
	return nil, fmt.Errorf("the output did not match the skill's schema after %d attempts: %v", sk.MaxAttempts, lastErr)
}

// isFinal reports whether a model-call error ends the run rather than
// moving on to the next model: policy, budget and lease refusals.
func isFinal(err error) bool {
	var me *ModelError
	if errors.As(err, &me) {
		switch me.Code {
		case "policy_block", "approval_required", "budget_exceeded", "rate_limited":
			return true
		}
		return false
	}
	return errors.Is(err, lease.ErrUnauthorized) || errors.Is(err, ledger.ErrUnavailable)
}

// classify turns a revoked or expired lease into a cancellation.
func (r *runner) classify(ctx context.Context, err error) error {
	if l, lerr := r.s.leaseByID(ctx, r.run.RunLease); lerr == nil && lease.Usable(l, time.Now()) != nil {
		return &cancelError{msg: fmt.Sprintf("the run's lease is %s: %v", l.State, err)}
	}
	return err
}

// extractJSON returns the JSON object in a model's answer (which may be
// wrapped in prose or a code fence), or the text itself.
func extractJSON(text string) []byte {
	if obj, ok := council.FirstJSONObject(text); ok {
		return obj
	}
	return []byte(text)
}

// history is the opt-in preamble of the caller's last run summaries.
func (r *runner) history(ctx context.Context, sk *skill.Skill) string {
	var runs []store.Run
	_ = r.s.Store.View(ctx, func(tx store.ReadTx) (err error) {
		runs, err = tx.Runs(ctx, store.RunFilter{LeaseIDs: []string{r.run.LeaseID}, States: []string{RunSucceeded}, Limit: sk.HistoryRuns})
		return err
	})
	if len(runs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("Your previous runs for this user (most recent first), for context only:\n")
	for _, p := range runs {
		out := string(p.Output)
		if len(out) > 300 {
			out = out[:300] + "…"
		}
		fmt.Fprintf(&b, "- %s %s: goal %q → %s\n", p.Created.Format("2006-01-02 15:04"), p.Skill, p.Goal, out)
	}
	return b.String() + "\n"
}

// verify applies the skill's strategy beyond the schema.
func (r *runner) verify(ctx context.Context, runLease store.Lease, sk *skill.Skill, inputs map[string]any, output json.RawMessage) error {
	switch sk.Verify.Strategy {
	case skill.VerifyModel:
		st, err := r.step(ctx, "verify", func() (store.RunStep, error) { return r.verifyByModel(ctx, runLease, sk, inputs, output) })
		if err != nil {
			return err
		}
		var d verdict
		json.Unmarshal(st.Output, &d)
		r.verif = append(r.verif, provenance.Verifier{Kind: "model", Model: st.Model, OK: st.OK, Detail: d.summary()})
		if !st.OK {
			return fmt.Errorf("the verifier model rejected the output: %s", d.summary())
		}
	case skill.VerifyCouncil:
		st, err := r.step(ctx, "council", func() (store.RunStep, error) { return r.verifyByCouncil(ctx, runLease, sk, inputs, output) })
		if err != nil {
			return err
		}
		r.verif = append(r.verif, provenance.Verifier{Kind: "council", OK: st.OK, Detail: string(st.Detail)})
		if !st.OK {
			return fmt.Errorf("the council rejected the output: %s", st.Detail)
		}
	}
	return nil
}

// verdict is a verifier model's answer.
type verdict struct {
	Verdict     string   `json:"verdict"`
	Unsupported []string `json:"unsupported"`
	Notes       string   `json:"notes"`
}

func (d verdict) summary() string {
	s := d.Verdict
	if len(d.Unsupported) > 0 {
		s += "; unsupported: " + strings.Join(d.Unsupported, " | ")
	}
	if d.Notes != "" {
		s += "; " + d.Notes
	}
	return s
}

const verifyPrompt = `You are checking another model's work. The task (a MirrorOS skill contract):

Skill: %s — %s
Inputs (JSON):
%s

Output to check (JSON):
%s

Check the output against the task and the inputs. List every statement in the output that the inputs do not support (invented facts, numbers, names, or claims beyond the inputs). The verdict is "pass" when the output fulfils the task and makes no unsupported statements, otherwise "fail".

Answer with exactly one JSON object and nothing else:
{"verdict": "pass" or "fail", "unsupported": ["<statement>", …], "notes": "<one sentence>"}`

func (r *runner) verifyByModel(ctx context.Context, runLease store.Lease, sk *skill.Skill, inputs map[string]any, output json.RawMessage) (store.RunStep, error) {
	in, _ := json.MarshalIndent(inputs, "", "  ")
	prompt := fmt.Sprintf(verifyPrompt, sk.Name, sk.Description, in, output)
	h := sha256.Sum256([]byte(prompt))
	model := sk.Verify.Model
	if model == "" {
		model = "default"
	}
	text, info, err := r.s.runCall(ctx, runLease, model, "", prompt, 1024, CallOptions{LocalOnly: sk.Routing.LocalOnly, Agent: r.run.Agent})
	if err != nil {
		return store.RunStep{}, fmt.Errorf("verifier %s: %w", model, err)
	}
	var d verdict
	if obj, ok := council.FirstJSONObject(text); !ok || json.Unmarshal(obj, &d) != nil || (d.Verdict != "pass" && d.Verdict != "fail") {
		d = verdict{Verdict: "fail", Notes: "the verifier's answer was not a verdict: " + truncate(text, 200)}
	}
	out, _ := json.Marshal(d)
	return store.RunStep{Model: info.Target.Key(), InputHash: h[:], Output: out, OK: d.Verdict == "pass", CostMicros: info.CostMicros}, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// chainStep runs one later step of a chain as a child run and waits for it.
func (r *runner) chainStep(ctx context.Context, i int, c ChainStep, prev json.RawMessage) (json.RawMessage, error) {
	st, err := r.step(ctx, "chain", func() (store.RunStep, error) {
		sk, err := r.s.findSkill(c.Skill)
		if err != nil {
			return store.RunStep{}, err
		}
		inputs := chainInputs(sk, c.Inputs, prev)
		// The caller asks for each step (the gate decides it for them);
		// the step's own lease is carved from this run's.
		caller, err := r.s.leaseByID(ctx, r.run.LeaseID)
		if err != nil {
			return store.RunStep{}, err
		}
		child, err := r.s.StartRun(ctx, caller, RunRequest{Skill: c.Skill, Inputs: inputs, Agent: r.run.Agent, ParentRun: r.run.ID,
			Goal: fmt.Sprintf("step %d of the chain of run %s", i+2, r.run.ID)})
		if err != nil {
			return store.RunStep{}, fmt.Errorf("chain step %d: %w", i+2, err)
		}
		return store.RunStep{Output: []byte(child.ID), OK: true, Detail: mustJSON(map[string]any{"child": child.ID})}, nil
	})
	if err != nil {
		return nil, err
	}
	child, err := r.s.waitRun(ctx, string(st.Output))
	if err != nil {
		return nil, err
	}
	if child.State != RunSucceeded {
		return nil, fmt.Errorf("chain step %d (run %s) %s: %s", i+2, child.ID, child.State, child.Error)
	}
	return child.Output, nil
}

// chainInputs builds a chain step's inputs: what the step names, plus the
// previous output's fields that its input schema declares; a required
// string input left empty gets the whole previous output as text. Carried
// text is bounded and truncated with a visible marker.
func chainInputs(sk *skill.Skill, given map[string]any, prev json.RawMessage) map[string]any {
	in := map[string]any{}
	for k, v := range given {
		in[k] = v
	}
	var schema struct {
		Required   []string                   `json:"required"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	json.Unmarshal(sk.InputSchema, &schema)
	var fields map[string]any
	json.Unmarshal(prev, &fields)
	for k := range schema.Properties {
		if _, set := in[k]; set {
			continue
		}
		if v, ok := fields[k]; ok {
			in[k] = carry(v)
		}
	}
	for _, k := range schema.Required {
		if _, set := in[k]; set {
			continue
		}
		var p struct {
			Type string `json:"type"`
		}
		json.Unmarshal(schema.Properties[k], &p)
		if p.Type == "string" {
			in[k] = carry(string(prev))
		}
	}
	return in
}

func carry(v any) any {
	s, ok := v.(string)
	if !ok || len(s) <= chainCarry {
		return v
	}
	return s[:chainCarry] + fmt.Sprintf("\n[… truncated by MirrorOS: %d more bytes of the previous step's output]", len(s)-chainCarry)
}

// WaitRun waits until a run ends or ctx is done.
func (s *System) WaitRun(ctx context.Context, id string) (store.Run, error) {
	return s.waitRun(ctx, id)
}

// waitRun waits until a run ends.
func (s *System) waitRun(ctx context.Context, id string) (store.Run, error) {
	for {
		ch := s.RunChanged(id)
		r, err := s.Run(ctx, id)
		if err != nil {
			return r, err
		}
		if Terminal(r.State) {
			return r, nil
		}
		select {
		case <-ch:
		case <-time.After(time.Second):
		case <-ctx.Done():
			return r, ctx.Err()
		}
	}
}

// store signs the provenance record and ends the run with its output (or
// its verification failure) in one transaction, then updates the skill's
// record.
func (r *runner) store(ctx context.Context, sk *skill.Skill, output json.RawMessage, verr error) error {
	s := r.s
	now := time.Now().UTC()
	rec := provenance.Record{
		Run: r.run.ID, ParentRun: r.run.ParentRun, Lease: r.run.LeaseID, ContractHash: hex.EncodeToString(r.run.ContractHash),
		Skill:  provenance.Skill{Name: sk.Name, Version: sk.Version, Digest: sk.Digest, Signer: sk.Signer, Unsigned: sk.Unsigned},
		Models: r.models, PromptHashes: r.prompts, OutputHash: sha(output), Verifiers: r.verif,
		CostMicros: r.cost, Steps: r.seq, Resumes: r.run.Resumes, Started: r.run.Created, Ended: now, StageMillis: r.stages,
	}
	if rec.Models == nil {
		rec.Models = []string{}
	}
	if rec.PromptHashes == nil {
		rec.PromptHashes = []string{}
	}
	if rec.Verifiers == nil {
		rec.Verifiers = []provenance.Verifier{}
	}
	if sk.Unsigned {
		rec.TrustWarnings = []string{sk.TrustWarning}
	}
	signed, err := provenance.Sign(rec, s.signer)
	if err != nil {
		return err
	}
	r.run.Output, r.run.Provenance, r.run.Ended = output, signed, now
	r.run.State = RunSucceeded
	if verr != nil {
		r.run.State, r.run.Error = RunFailed, verr.Error()
	}
	ok := verr == nil
	err = r.update(ctx, "run.provenance", map[string]any{"record": rec, "note": string(signed), "state": r.run.State},
		func(tx *ledger.Tx) error { return r.learnTx(ctx, tx, sk, ok) })
	return err
}

// learn records a run's result on the skill's record in its own transaction.
func (r *runner) learn(ctx context.Context, sk *skill.Skill, ok bool) {
	err := r.s.Ledger.Commit(context.WithoutCancel(ctx), func(tx *ledger.Tx) error { return r.learnTx(ctx, tx, sk, ok) })
	if err != nil {
		r.s.Log.Warn("skill record not updated", "skill", sk.Name, "err", err.Error())
	}
}

// learnTx updates the skill×model reliability record and the version's
// promotion state: canary → stable after promoteAfter verified runs,
// demoted after demoteAfter consecutive failures.
func (r *runner) learnTx(ctx context.Context, tx *ledger.Tx, sk *skill.Skill, ok bool) error {
	stats, err := tx.Store().SkillStats(ctx, sk.Name, sk.Version)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	ver := store.SkillStat{Skill: sk.Name, Version: sk.Version, Status: "canary"}
	byModel := map[string]store.SkillStat{}
	for _, st := range stats {
		if st.Model == "" {
			ver = st
		} else {
			byModel[st.Model] = st
		}
	}
	for _, m := range r.models {
		st, found := byModel[m]
		if !found {
			st = store.SkillStat{Skill: sk.Name, Version: sk.Version, Model: m}
		}
		st.Successes, st.Failures = decayed(st.Successes, st.Updated), decayed(st.Failures, st.Updated)
		if ok {
			st.Successes++
		} else {
			st.Failures++
		}
		st.Updated = now
		if err := tx.Store().PutSkillStat(ctx, st); err != nil {
			return err
		}
	}
	old := ver.Status
	if ok {
		ver.Verified++
		ver.Streak = min(ver.Streak, 0) - 1
		if ver.Status == "canary" && ver.Verified >= promoteAfter {
			ver.Status = "stable"
		}
	} else {
		ver.Streak = max(ver.Streak, 0) + 1
		if ver.Streak >= demoteAfter && ver.Status != "demoted" {
			ver.Status = "demoted"
		}
	}
	ver.Updated = now
	if err := tx.Store().PutSkillStat(ctx, ver); err != nil {
		return err
	}
	if ver.Status != old && old != "" {
		kind := "skill.promote"
		if ver.Status == "demoted" {
			kind = "skill.demote"
		}
		b, _ := json.Marshal(map[string]any{"skill": sk.Name, "version": sk.Version, "from": old, "to": ver.Status, "verified": ver.Verified, "streak": ver.Streak})
		if _, err := tx.Append(ledger.Event{Kind: kind, Actor: "kernel", Body: b}); err != nil {
			return err
		}
	}
	return nil
}

// SkillStatus is a skill version's promotion state and per-model record.
func (s *System) SkillStatus(ctx context.Context, name, version string) ([]store.SkillStat, error) {
	var stats []store.SkillStat
	err := s.Store.View(ctx, func(tx store.ReadTx) (err error) {
		stats, err = tx.SkillStats(ctx, name, version)
		return err
	})
	return stats, err
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
