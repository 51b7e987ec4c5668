package mcpserver

import (
	"context"
	"encoding/json"
	"time"
)

// Backend performs the tools' work for one authenticated caller. Every
// method is a governed kernel action: authenticated by a lease, decided by
// the policy gate and recorded in the ledger (the backend does that).
type Backend interface {
	// SearchMemory searches claims and evidence.
	SearchMemory(ctx context.Context, q SearchQuery) (SearchResult, error)
	// AddEvidence stores content as evidence.
	AddEvidence(ctx context.Context, e EvidenceInput) (EvidenceResult, error)
	// Canon returns a version of the canon; 0 is the latest.
	Canon(ctx context.Context, version int) (CanonResult, error)
	// RunSkill starts a run and waits for it to end.
	RunSkill(ctx context.Context, r SkillRun) (SkillRunResult, error)
	// ListSkills lists the skills the kernel runs.
	ListSkills(ctx context.Context) ([]SkillInfo, error)
}

// Result types of a memory search hit.
const (
	HitClaim    = "claim"
	HitEvidence = "evidence"
)

// Evidence kinds accepted by AddEvidence.
const (
	EvidenceText      = "text"       // a note or a document's text
	EvidenceFile      = "file"       // a file's content
	EvidenceTurn      = "turn"       // one turn of a conversation
	EvidenceRunOutput = "run_output" // what a run produced
)

// EvidenceKinds lists the evidence kinds, in the order documented.
var EvidenceKinds = []string{EvidenceText, EvidenceFile, EvidenceTurn, EvidenceRunOutput}

// SearchQuery is a memory search: GET /v1/memory/search with its query
// parameters q, as_of, valid_at, limit and kind. Zero fields are left out.
type SearchQuery struct {
	// Query is the text searched for (parameter q).
	Query string `json:"q"`
	// AsOf searches memory as it was recorded at that moment (transaction
	// time); zero means now.
	AsOf time.Time `json:"as_of,omitzero"`
	// ValidAt keeps only what was true at that moment (valid time); zero
	// means no restriction.
	ValidAt time.Time `json:"valid_at,omitzero"`
	// Limit is the most results wanted; 0 leaves it to the kernel.
	Limit int `json:"limit,omitempty"`
	// Kind restricts the results to one kind; "" means all.
	Kind string `json:"kind,omitempty"`
}

// SearchResult is the answer of a memory search, best hit first.
type SearchResult struct {
	Results []SearchHit `json:"results"`
}

// SearchHit is one claim or piece of evidence found by a search. Times are
// RFC 3339 strings as the kernel reports them, empty when unset.
type SearchHit struct {
	// Type is HitClaim or HitEvidence.
	Type string `json:"type"`
	// ID is the claim's id, or the evidence's "sha256:…" id.
	ID string `json:"id"`
	// Text is the claim's statement or the matching evidence text.
	Text string `json:"text"`
	// Score is the relevance; higher is better.
	Score float64 `json:"score"`
	// Status is a claim's status: candidate, canon or demoted.
	Status string `json:"status,omitempty"`
	// Evidence lists the ids of the evidence a claim cites.
	Evidence []string `json:"evidence,omitempty"`
	// ValidAt is when a claim became true.
	ValidAt string `json:"valid_at,omitempty"`
	// InvalidAt is when a claim stopped being true.
	InvalidAt string `json:"invalid_at,omitempty"`
	// CreatedAt is when the record was stored.
	CreatedAt string `json:"created_at,omitempty"`
}

// EvidenceInput is evidence to store: the body of POST /v1/memory/evidence.
type EvidenceInput struct {
	// Content is the evidence itself.
	Content string `json:"content"`
	// Kind is one of EvidenceKinds; "" lets the kernel default it.
	Kind string `json:"kind,omitempty"`
	// Source is where it came from: a URI, a path or an agent.
	Source string `json:"source,omitempty"`
	// MediaType is the content's media type, e.g. "text/markdown".
	MediaType string `json:"media_type,omitempty"`
	// ObservedAt is when it was observed; zero means now.
	ObservedAt time.Time `json:"observed_at,omitzero"`
}

// EvidenceResult is the answer of AddEvidence.
type EvidenceResult struct {
	// ID is "sha256:" and the hex SHA-256 of the content.
	ID string `json:"id"`
	// Created is false when the same content was already stored.
	Created bool `json:"created"`
}

// CanonResult is one version of the canon: GET /v1/memory/canon.
type CanonResult struct {
	// Version is the canon version; 0 before the first promotion.
	Version int `json:"version"`
	// Hash is the canon hash of the members ("sha256:…").
	Hash string `json:"hash"`
	// CreatedAt is when the version was compiled (RFC 3339).
	CreatedAt string `json:"created_at,omitempty"`
	// Claims are the members of the canon.
	Claims []CanonClaim `json:"claims"`
}

// CanonClaim is one claim of the canon.
type CanonClaim struct {
	ID         string   `json:"id"`
	Statement  string   `json:"statement"`
	Subject    string   `json:"subject,omitempty"`
	Kind       string   `json:"kind"`               // fact, preference, identity, event or other
	Confidence float64  `json:"confidence"`         // 0 to 1
	Evidence   []string `json:"evidence,omitempty"` // ids of the evidence it cites
	ValidAt    string   `json:"valid_at,omitempty"` // RFC 3339
}

// SkillRun asks for a run of a skill: the body of POST /v1/runs (the HTTP
// backend adds "wait": true).
type SkillRun struct {
	// Skill is a skill name or name@version.
	Skill string `json:"skill"`
	// Inputs are the skill's inputs, matching its input schema.
	Inputs map[string]any `json:"inputs,omitempty"`
	// Goal is what the run is for, in a sentence.
	Goal string `json:"goal,omitempty"`
}

// Run states a SkillRunResult may report.
const (
	RunPending   = "pending"
	RunWaiting   = "waiting_approval"
	RunRunning   = "running"
	RunSucceeded = "succeeded"
	RunFailed    = "failed"
	RunCancelled = "cancelled"
)

// SkillRunResult is a run once it has ended (or once the kernel stopped
// waiting for it, with a state that is not final).
type SkillRunResult struct {
	// ID is the run's id.
	ID string `json:"id"`
	// State is one of the Run* states.
	State string `json:"state"`
	// Output is what the run produced, as JSON.
	Output json.RawMessage `json:"output,omitempty"`
	// Error says why a run failed.
	Error string `json:"error,omitempty"`
	// Provenance is the run's signed provenance note.
	Provenance string `json:"provenance,omitempty"`
}

// SkillInfo describes one skill the kernel runs.
type SkillInfo struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	Description string `json:"description"`
	Status      string `json:"status"` // canary, stable or demoted
}
