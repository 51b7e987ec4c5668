package kernel

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mirroros/mirror/council"
	"github.com/mirroros/mirror/skill"
	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/trace/ledger"
)

// councilCaller makes a council's model calls as governed calls under one
// lease: each is routed, gated, budgeted and audited like any other.
type councilCaller struct {
	s     *System
	l     store.Lease
	opts  CallOptions
	calls int
}

func (c *councilCaller) Call(ctx context.Context, req council.Request) (council.Response, error) {
	system := req.System
	if req.JSON {
		system = strings.TrimSpace(system + "\nAnswer with exactly one JSON object and nothing else.")
	}
	text, info, err := c.s.runCall(ctx, c.l, req.Model, system, req.Prompt, req.MaxTokens, c.opts)
	if err != nil {
		return council.Response{}, err
	}
	return council.Response{Model: info.Target.Key(), Text: text, CostMicros: info.CostMicros}, nil
}

// Council asks several models one question (see package council) under a
// lease and records the outcome — answers' hashes, the ranking, flagged
// claims, the final answer — in the ledger.
func (s *System) Council(ctx context.Context, l store.Lease, q council.Question, agent string) (*council.Result, error) {
	if len(q.Models) == 0 {
		q.Models = s.councilMembers()
	}
	c := &councilCaller{s: s, l: l, opts: CallOptions{Agent: agent}}
	res, err := council.Run(ctx, c, q)
	if res == nil {
		return nil, err
	}
	body := map[string]any{"question_sha256": sha([]byte(q.Text)), "mode": res.Mode, "members": q.Models, "chairman": res.Chairman,
		"ranking": res.Ranking, "flags": len(res.Flags), "agreement": res.Agreement, "winner": res.Winner,
		"final_sha256": sha([]byte(res.Final)), "cost_usd": float64(res.CostMicros) / 1e6, "calls": len(res.Calls)}
	if err != nil {
		body["error"] = err.Error()
	}
	b, _ := json.Marshal(body)
	if _, lerr := s.Ledger.Append(ctx, ledger.Event{Kind: "council.run", Actor: "lease/" + l.ID, Body: b}); lerr != nil {
		return nil, lerr
	}
	return res, err
}

// councilMembers picks default members: one model from each provider that
// has a catalog entry, local ones first, up to three.
func (s *System) councilMembers() []string {
	models, _ := s.Models(context.Background(), false)
	seen := map[string]bool{}
	var out []string
	for _, m := range models {
		if seen[m.Provider] || len(out) == 3 {
			continue
		}
		seen[m.Provider] = true
		out = append(out, m.ID)
	}
	return out
}

// verifyByCouncil has a council vote on whether the output fulfils the
// contract; claims one member makes that the others contradict or do not
// support are reported.
func (r *runner) verifyByCouncil(ctx context.Context, runLease store.Lease, sk *skill.Skill, inputs map[string]any, output json.RawMessage) (store.RunStep, error) {
	in, _ := json.MarshalIndent(inputs, "", "  ")
	q := council.Question{
		Text: fmt.Sprintf("Does this output correctly fulfil the task, using only what the inputs support?\n\nTask: skill %s — %s\nInputs:\n%s\n\nOutput:\n%s\n\nAnswer \"pass\" or \"fail\" and say why in one sentence.",
			sk.Name, sk.Description, in, output),
		Models: sk.Verify.Council, Mode: council.ModeVote, Choices: []string{"pass", "fail"},
	}
	if len(q.Models) < council.MinMembers {
		q.Models = r.s.councilMembers()
	}
	c := &councilCaller{s: r.s, l: runLease, opts: CallOptions{LocalOnly: sk.Routing.LocalOnly, Agent: r.run.Agent}}
	res, err := council.Run(ctx, c, q)
	if err != nil && res == nil {
		return store.RunStep{}, err
	}
	if err != nil {
		return store.RunStep{}, fmt.Errorf("council: %w", err)
	}
	flags := make([]string, 0, len(res.Flags))
	for _, f := range res.Flags {
		flags = append(flags, fmt.Sprintf("%s (%s by %s)", f.Claim, f.Kind, f.Model))
	}
	detail := mustJSON(map[string]any{"winner": res.Winner, "votes": res.Votes, "no_majority": res.NoMajority, "flags": flags})
	h := sha256.Sum256([]byte(q.Text))
	return store.RunStep{InputHash: h[:], Output: []byte(res.Winner), OK: res.Winner == "pass", Detail: detail, CostMicros: res.CostMicros}, nil
}
