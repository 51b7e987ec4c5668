package store

import "time"

// Claim statuses, as stored. The rules that move a claim between them live
// in package memory; the store only keeps what it is told.
const (
	ClaimCandidate = "candidate" // believed, not (yet) in the canon
	ClaimCanon     = "canon"     // promoted into the canon
	ClaimDemoted   = "demoted"   // invalidated: no longer believed, kept forever
)

// Evidence is a content-addressed, immutable record of something observed:
// a text, a file, a conversation turn, a run's output. Only a redaction
// changes a stored evidence row, and only by erasing its content.
type Evidence struct {
	Seq         int64  // insertion order, assigned by the store
	ID          string // "sha256:" + hex SHA-256 of the content
	Kind        string // text, file, turn, run_output
	MediaType   string
	Source      string // where it came from: a URI, a path or an agent
	Actor       string // who added it, e.g. "lease/lse_…"
	ObservedAt  time.Time
	Created     time.Time
	Size        int64  // length of the content in bytes; kept after redaction
	Content     []byte // nil once redacted, or when not asked for
	Text        bool   // the content is text and indexed for search
	LedgerIndex uint64 // the ledger entry that recorded it
	Redaction   *Redaction
}

// Redaction is the tombstone that hides a piece of evidence: who erased its
// content, why and when. The evidence row and its hash stay.
type Redaction struct {
	EvidenceID  string
	Actor       string
	Reason      string
	At          time.Time
	LedgerIndex uint64
}

// EvidenceFilter selects evidence, in insertion order.
type EvidenceFilter struct {
	IDs      []string // empty: all
	Kinds    []string // empty: all
	AfterSeq int64    // only evidence with a larger Seq
	Limit    int      // 0: no limit
	Content  bool     // load the content (otherwise Content is nil)
}

// Span points into the content of a piece of evidence: bytes [Start, End).
type Span struct {
	EvidenceID string
	Start, End int64
	Actor      string    // who attached it to the claim
	Added      time.Time // when
}

// Claim is an atomic statement with provenance and bi-temporal validity.
// A zero InvalidAt or ExpiredAt means "not yet": the claim is still true in
// the world, or still believed by the system.
type Claim struct {
	Seq            int64 // insertion order, assigned by the store
	ID             string
	Statement      string
	Normalized     string // the key under which equal statements corroborate
	Subject        string
	Kind           string
	Confidence     float64
	Status         string // ClaimCandidate, ClaimCanon or ClaimDemoted
	ContentHash    string // "sha256:…" over statement, subject and kind
	ValidAt        time.Time
	InvalidAt      time.Time
	CreatedAt      time.Time
	ExpiredAt      time.Time
	Actor          string
	ContradictedBy string // the claim whose addition demoted this one
	Provenance     []Span // ordered by when attached, then evidence and offsets
}

// ClaimFilter selects claims, in insertion order. Every set field narrows
// the selection.
type ClaimFilter struct {
	IDs        []string
	Statuses   []string
	Kinds      []string
	Subject    string
	Normalized string
	EvidenceID string    // claims citing this evidence
	BelievedAt time.Time // CreatedAt <= t < ExpiredAt (or never expired)
	TrueAt     time.Time // ValidAt <= t < InvalidAt (or never invalid)
	AfterSeq   int64     // only claims with a larger Seq
	Limit      int       // 0: no limit
}

// ClaimSearch is a full-text search over claims' statements and subjects.
type ClaimSearch struct {
	// Terms are words, any of which may match; a term ending in "*" matches
	// as a prefix. The store quotes them for its own query language, so
	// no term can change the query's syntax.
	Terms []string
	// Filter narrows the matches; its AfterSeq and Limit are ignored.
	Filter ClaimFilter
	Limit  int
}

// ClaimHit is a claim found by a search. Score is higher for a better match.
type ClaimHit struct {
	Claim Claim
	Score float64
}

// EvidenceSearch is a full-text search over the text of unredacted evidence.
type EvidenceSearch struct {
	Terms []string // as in ClaimSearch
	Kinds []string
	Limit int
}

// EvidenceHit is evidence found by a search, with its content. Score is
// higher for a better match.
type EvidenceHit struct {
	Evidence Evidence
	Score    float64
}

// ClaimEvent is one step in a claim's life, as journaled for its history.
type ClaimEvent struct {
	Seq          int64 // assigned by the store
	ClaimID      string
	Kind         string // created, corroborated, promoted, demoted
	Actor        string
	At           time.Time
	Reason       string
	Related      string // the other claim of a contradiction
	Spans        []Span // evidence attached by this step
	CanonVersion int64  // the canon version this step compiled, if any
	LedgerIndex  uint64
}

// ClaimEmbedding is a stored embedding vector of a claim's statement.
type ClaimEmbedding struct {
	Seq     int64 // increases with every store, so readers can catch up
	ClaimID string
	Vector  []float32
}

// CanonVersion is one compiled version of the canon. Its members are the
// claims added at or before it and not removed at or before it; Added and
// Removed are the changes from the version before.
type CanonVersion struct {
	Version     int64
	Hash        string // "sha256:…" over the sorted members (see package memory)
	Count       int
	Actor       string
	Created     time.Time
	LedgerIndex uint64
	Added       []string // claim ids, sorted
	Removed     []string // claim ids, sorted
}
