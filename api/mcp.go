package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/mirroros/mirror/kernel"
	"github.com/mirroros/mirror/mcpserver"
	"github.com/mirroros/mirror/memory"
	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/trust/gate"
	"github.com/mirroros/mirror/trust/policy"
)

// mcpHandler serves MCP over streamable HTTP at /mcp. Every request is
// authenticated by its Bearer lease token; each tool call is decided by the
// policy gate for that lease (its decision is a ledger entry) before the
// kernel does anything.
func (s *Server) mcpHandler() http.Handler {
	return mcpserver.HTTPHandler(func(r *http.Request) (mcpserver.Backend, error) {
		p, err := s.sys.Authenticate(r.Context(), bearer(r))
		if err != nil {
			msg := "a valid lease token is required as Authorization: Bearer mos_…"
			if err != kernel.ErrUnauthorized {
				msg = err.Error() // says why: revoked, expired, not yet valid
			}
			return nil, &mcpserver.APIError{Status: http.StatusUnauthorized, Code: "unauthorized", Message: msg}
		}
		return &kernelBackend{srv: s, sys: s.sys, lease: p.Lease, agent: r.Header.Get("X-Mirror-Agent")}, nil
	})
}

// kernelBackend performs MCP tool calls in the kernel for one lease.
type kernelBackend struct {
	srv   *Server
	sys   *kernel.System
	lease store.Lease
	agent string
}

// allow asks the gate about one tool call.
func (b *kernelBackend) allow(ctx context.Context, action, tool string) error {
	agent := b.agent
	if agent == "" {
		agent = "mcp"
	}
	res, err := b.sys.Gate.Evaluate(ctx, b.lease, gate.Input{Action: action, Resource: "mcp:" + tool,
		Args: map[string]any{}, Context: gate.InputContext{Agent: agent}})
	if err != nil {
		return err
	}
	if res.Decision != policy.Allow {
		return fmt.Errorf("%s: %s", res.Decision, res.Sentence())
	}
	return nil
}

func (b *kernelBackend) SearchMemory(ctx context.Context, q mcpserver.SearchQuery) (mcpserver.SearchResult, error) {
	if err := b.allow(ctx, "memory:read", "memory_search"); err != nil {
		return mcpserver.SearchResult{}, err
	}
	mq := memory.Query{Text: q.Query, AsOf: q.AsOf, ValidAt: q.ValidAt, Limit: q.Limit}
	if q.Kind != "" {
		mq.Kinds = []memory.Kind{memory.Kind(q.Kind)}
	}
	hits, _, err := b.srv.search(ctx, mq)
	if err != nil {
		return mcpserver.SearchResult{}, err
	}
	out := mcpserver.SearchResult{Results: make([]mcpserver.SearchHit, 0, len(hits))}
	for _, h := range hits {
		out.Results = append(out.Results, mcpserver.SearchHit{Type: h.Type, ID: h.ID, Text: h.Text, Score: h.Score, Status: h.Status,
			Evidence: h.Evidence, ValidAt: h.ValidAt, InvalidAt: h.InvalidAt, CreatedAt: h.CreatedAt})
	}
	return out, nil
}

func (b *kernelBackend) AddEvidence(ctx context.Context, e mcpserver.EvidenceInput) (mcpserver.EvidenceResult, error) {
	if err := b.allow(ctx, "memory:write", "memory_add_evidence"); err != nil {
		return mcpserver.EvidenceResult{}, err
	}
	kind := memory.EvidenceKind(e.Kind)
	if kind == "" {
		kind = "text"
	}
	ev, added, err := b.sys.Memory.AddEvidence(ctx, memory.NewEvidence{Kind: kind, Content: []byte(e.Content), MediaType: e.MediaType,
		Source: e.Source, Actor: "lease/" + b.lease.ID, ObservedAt: e.ObservedAt})
	if err != nil {
		return mcpserver.EvidenceResult{}, err
	}
	return mcpserver.EvidenceResult{ID: ev.ID, Created: added}, nil
}

func (b *kernelBackend) Canon(ctx context.Context, version int) (mcpserver.CanonResult, error) {
	if err := b.allow(ctx, "memory:read", "memory_canon"); err != nil {
		return mcpserver.CanonResult{}, err
	}
	cv, claims, err := b.srv.canon(ctx, int64(version))
	if err != nil {
		return mcpserver.CanonResult{}, err
	}
	out := mcpserver.CanonResult{Version: int(cv.Version), Hash: cv.Hash, CreatedAt: rfc(cv.CreatedAt), Claims: make([]mcpserver.CanonClaim, len(claims))}
	for i, c := range claims {
		out.Claims[i] = mcpserver.CanonClaim(c)
	}
	return out, nil
}

func (b *kernelBackend) RunSkill(ctx context.Context, r mcpserver.SkillRun) (mcpserver.SkillRunResult, error) {
	agent := b.agent
	if agent == "" {
		agent = "mcp"
	}
	// The run's own contract asks the gate (skill:run:<name>).
	run, err := b.sys.StartRun(ctx, b.lease, kernel.RunRequest{Skill: r.Skill, Inputs: r.Inputs, Goal: r.Goal, Agent: agent})
	if err != nil {
		return mcpserver.SkillRunResult{}, err
	}
	run, err = b.sys.WaitRun(ctx, run.ID)
	if err != nil {
		return mcpserver.SkillRunResult{ID: run.ID, State: run.State}, err
	}
	return mcpserver.SkillRunResult{ID: run.ID, State: run.State, Output: run.Output, Error: run.Error, Provenance: string(run.Provenance)}, nil
}

func (b *kernelBackend) ListSkills(ctx context.Context) ([]mcpserver.SkillInfo, error) {
	if err := b.allow(ctx, "skills:read", "skill_list"); err != nil {
		return nil, err
	}
	var out []mcpserver.SkillInfo
	for _, sk := range b.sys.Skills.List() {
		status := "canary"
		if st, err := b.sys.SkillStatus(ctx, sk.Name, sk.Version); err == nil && len(st) > 0 && st[0].Model == "" {
			status = st[0].Status
		}
		out = append(out, mcpserver.SkillInfo{Name: sk.Name, Version: sk.Version, Description: sk.Description, Status: status})
	}
	return out, nil
}
