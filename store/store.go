// Package store defines the persistence contract of the kernel.
//
// A Store is a transactional key space shaped around what the planes need
// (ledger entries, Merkle nodes, checkpoints, tokens, metadata). The embedded
// SQLite implementation lives in store/sqlite; a PostgreSQL implementation
// must pass the same contract suite in store/storetest.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when a requested record does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrConflict is returned when a write would break an invariant of the store,
// such as appending ledger entries at an index other than the current size.
var ErrConflict = errors.New("store: conflict")

// Store is a transactional store. Update commits durably before it returns
// nil; View sees one consistent snapshot.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
	View(ctx context.Context, fn func(ReadTx) error) error
	Close() error
}

// LedgerEntry is one stored ledger entry: the exact bytes that were hashed and
// the RFC 6962 leaf hash of those bytes as recorded at append time.
type LedgerEntry struct {
	Index    uint64
	Data     []byte
	LeafHash []byte
}

// LedgerNode is a stored Merkle tree node hash.
type LedgerNode struct {
	Level uint
	Index uint64
	Hash  []byte
}

// Checkpoint is a stored signed checkpoint note.
type Checkpoint struct {
	Size uint64
	Note []byte
}

// Token is an API token, stored by the SHA-256 of its secret only.
type Token struct {
	Hash    []byte // SHA-256 of the token string
	ID      string // public identifier, safe to log
	Kind    string // "owner"; later planes add lease tokens
	Created time.Time
}

// Lease is a capability lease as stored. Money is in micro-USD so that
// sums are exact.
type Lease struct {
	ID             string
	Parent         string // "" for the root lease
	Name           string
	Scopes         []string
	TokenHash      []byte // SHA-256 of the lease's token
	NotBefore      time.Time
	ExpiresAt      time.Time // zero: never (the root lease)
	MaxTTL         time.Duration
	BudgetMicros   int64 // -1: no budget of its own (bounded only by ancestors)
	SpentMicros    int64
	ReservedMicros int64
	BudgetTokens   int64 // -1: none
	SpentTokens    int64
	ReservedTokens int64
	State          string // "active", "revoked", "expired", "exhausted"
	Created        time.Time
	Ended          time.Time // when it stopped being active
	Options        LeaseOptions
}

// LeaseOptions change how calls made under a lease are served. A child
// lease inherits them and may only tighten LocalOnly.
type LeaseOptions struct {
	// LocalOnly sends every model call under the lease to local providers
	// only; with none available the call fails rather than leave the machine.
	LocalOnly bool `json:"local_only,omitempty"`
	// NoIdentity leaves the identity preamble out of model calls.
	NoIdentity bool `json:"no_identity,omitempty"`
	// Memory adds canon claims relevant to each model call, with their
	// citations, to its system prompt (retrieval).
	Memory bool `json:"memory,omitempty"`
	// Funding is the reservation on the parent's chain that holds this
	// lease's whole budget (a funded lease, e.g. a governed run's): what is
	// reserved under the lease is held on it alone, and what is spent is
	// drawn from the funding. Never inherited.
	Funding string `json:"funding,omitempty"`
	// FundingClosed: the funding was given back (the run ended); only what
	// was in flight then is still covered, and nothing new may be reserved.
	FundingClosed bool `json:"funding_closed,omitempty"`
}

// Reservation is budget held for an action in flight, on a lease and all
// its ancestors.
type Reservation struct {
	ID      string
	LeaseID string
	Micros  int64
	Tokens  int64
	Created time.Time
	Expires time.Time
}

// Approval is a pending or decided ASK.
type Approval struct {
	ID          string
	Request     []byte // the request as JSON (action, resource, args, context), secrets already redacted
	RequestHash []byte // SHA-256 binding the approval to exactly one request
	Reasons     []byte // JSON array of {policy, reason}
	RequestedBy string // lease id
	Agent       string
	State       string // "pending", "approved", "denied", "expired", "used"
	Created     time.Time
	Expires     time.Time
	DecidedBy   string // lease id of the approver
	Note        string
	Decided     time.Time
}

// Denial is a row of the denied-action ledger: a BLOCK, or an ASK that was
// denied or expired. The full record is the ledger entry at AuditIndex.
type Denial struct {
	Time       time.Time
	LeaseID    string
	LeaseName  string
	Agent      string
	Action     string
	Resource   string
	Decision   string // "BLOCK", "DENIED", "EXPIRED"
	Reasons    []byte // JSON array of {policy, reason}
	AuditIndex uint64
}

// DenialFilter selects denials.
type DenialFilter struct {
	Since time.Time
	Agent string // matches the lease name or the agent
	Limit int
}

// ReadTx reads one consistent snapshot.
type ReadTx interface {
	// LedgerSize is the number of stored ledger entries.
	LedgerSize(ctx context.Context) (uint64, error)
	// LedgerEntries calls fn for entries with from <= index < to, in order.
	// The slices passed to fn are only valid during the call.
	LedgerEntries(ctx context.Context, from, to uint64, fn func(LedgerEntry) error) error
	// LedgerNodes returns the stored hashes of nodes at level with
	// from <= index < to, in order. A missing node is an error.
	LedgerNodes(ctx context.Context, level uint, from, to uint64) ([][]byte, error)
	// LedgerNodesAll calls fn for every stored node, ordered by level, then index.
	LedgerNodesAll(ctx context.Context, fn func(LedgerNode) error) error
	// Checkpoints calls fn for every stored checkpoint in increasing size.
	Checkpoints(ctx context.Context, fn func(Checkpoint) error) error
	// LatestCheckpoint returns the checkpoint with the largest size, or
	// ErrNotFound.
	LatestCheckpoint(ctx context.Context) (Checkpoint, error)
	// Meta returns a metadata value, or ErrNotFound.
	Meta(ctx context.Context, key string) ([]byte, error)
	// TokenByHash returns the token whose secret hashes to hash, or ErrNotFound.
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
	// Lease returns a lease by id, or ErrNotFound.
	Lease(ctx context.Context, id string) (Lease, error)
	// LeaseByTokenHash returns the lease whose token hashes to hash, or ErrNotFound.
	LeaseByTokenHash(ctx context.Context, hash []byte) (Lease, error)
	// LeaseChildren returns the direct children of a lease, ordered by creation.
	LeaseChildren(ctx context.Context, id string) ([]Lease, error)
	// Reservation returns a reservation by id, or ErrNotFound.
	Reservation(ctx context.Context, id string) (Reservation, error)
	// ExpiredReservations returns reservations that expired before t.
	ExpiredReservations(ctx context.Context, t time.Time) ([]Reservation, error)
	// LeasesExpiringBefore returns active leases whose expiry is before t.
	LeasesExpiringBefore(ctx context.Context, t time.Time) ([]Lease, error)
	// Approval returns an approval by id, or ErrNotFound.
	Approval(ctx context.Context, id string) (Approval, error)
	// Approvals returns approvals in a state ("" for all), newest first.
	Approvals(ctx context.Context, state string, limit int) ([]Approval, error)
	// PendingApprovalsExpiringBefore returns pending approvals whose expiry is before t.
	PendingApprovalsExpiringBefore(ctx context.Context, t time.Time) ([]Approval, error)
	// Denials returns rows of the denied-action ledger, newest first.
	Denials(ctx context.Context, f DenialFilter) ([]Denial, error)
	// Blob returns the content whose SHA-256 is hash, or ErrNotFound.
	Blob(ctx context.Context, hash []byte) ([]byte, error)
	// Run returns a run by id, or ErrNotFound.
	Run(ctx context.Context, id string) (Run, error)
	// Runs returns runs matching f, newest first.
	Runs(ctx context.Context, f RunFilter) ([]Run, error)
	// RunSteps returns a run's completed steps in order.
	RunSteps(ctx context.Context, runID string) ([]RunStep, error)
	// SkillStats returns the rows of one skill version: the version's own
	// (Model "") and one per model, ordered by model. None: an empty slice.
	SkillStats(ctx context.Context, skill, version string) ([]SkillStat, error)

	// The memory plane: evidence, claims, their history and embeddings,
	// and canon versions (see memory.go).

	// Evidence returns a piece of evidence with its content (nil if
	// redacted), or ErrNotFound.
	Evidence(ctx context.Context, id string) (Evidence, error)
	// EvidenceList calls fn for the evidence matching f, in insertion order.
	EvidenceList(ctx context.Context, f EvidenceFilter, fn func(Evidence) error) error
	// SearchEvidence ranks unredacted text evidence against q, best first.
	SearchEvidence(ctx context.Context, q EvidenceSearch) ([]EvidenceHit, error)
	// Claim returns a claim with its provenance, or ErrNotFound.
	Claim(ctx context.Context, id string) (Claim, error)
	// Claims returns the claims matching f with their provenance, in
	// insertion order.
	Claims(ctx context.Context, f ClaimFilter) ([]Claim, error)
	// SearchClaims ranks the claims matching q.Filter against q.Terms, best
	// first; with no terms, the newest matching claims, all scored 0. An
	// implementation may bound its ranking work for terms found in very
	// many claims, and must say how.
	SearchClaims(ctx context.Context, q ClaimSearch) ([]ClaimHit, error)
	// ClaimEvents returns the journaled steps of a claim ("" for every
	// claim) in order.
	ClaimEvents(ctx context.Context, claimID string) ([]ClaimEvent, error)
	// ClaimEmbeddings calls fn for every stored embedding with a Seq larger
	// than afterSeq, in Seq order. The vector is only valid during the call.
	ClaimEmbeddings(ctx context.Context, afterSeq int64, fn func(ClaimEmbedding) error) error
	// CanonVersion returns a canon version with its changes; version 0
	// means the latest. None: ErrNotFound.
	CanonVersion(ctx context.Context, version int64) (CanonVersion, error)
	// CanonMembers returns the claim ids in a canon version, sorted.
	CanonMembers(ctx context.Context, version int64) ([]string, error)
	// CanonVersions calls fn for every canon version in order, with its
	// changes.
	CanonVersions(ctx context.Context, fn func(CanonVersion) error) error
}

// Tx is a read-write transaction.
type Tx interface {
	ReadTx
	// AppendLedgerEntries appends entries whose indexes must continue the
	// ledger exactly (the first equals LedgerSize, then consecutive);
	// otherwise it returns ErrConflict.
	AppendLedgerEntries(ctx context.Context, entries []LedgerEntry) error
	// PutLedgerNodes stores node hashes; storing a different hash for an
	// existing node returns ErrConflict.
	PutLedgerNodes(ctx context.Context, nodes []LedgerNode) error
	// PutCheckpoint stores a checkpoint; a different note for a size that
	// already has one returns ErrConflict.
	PutCheckpoint(ctx context.Context, cp Checkpoint) error
	// SetMeta sets a metadata value.
	SetMeta(ctx context.Context, key string, value []byte) error
	// PutToken stores a token; a duplicate hash returns ErrConflict.
	PutToken(ctx context.Context, t Token) error
	// PutLease inserts a lease; an existing id or token hash returns ErrConflict.
	PutLease(ctx context.Context, l Lease) error
	// UpdateLease rewrites a lease's mutable fields (expiry, spend, state,
	// options: a funding is closed).
	UpdateLease(ctx context.Context, l Lease) error
	// PutReservation inserts a reservation.
	PutReservation(ctx context.Context, r Reservation) error
	// UpdateReservation rewrites a reservation's amounts; a missing one
	// returns ErrNotFound.
	UpdateReservation(ctx context.Context, r Reservation) error
	// DeleteReservation removes a reservation; a missing one returns ErrNotFound.
	DeleteReservation(ctx context.Context, id string) error
	// PutApproval inserts an approval.
	PutApproval(ctx context.Context, a Approval) error
	// UpdateApproval rewrites an approval's decision fields.
	UpdateApproval(ctx context.Context, a Approval) error
	// PutDenial appends a row to the denied-action ledger.
	PutDenial(ctx context.Context, d Denial) error
	// PutRun inserts a run; an existing id returns ErrConflict.
	PutRun(ctx context.Context, r Run) error
	// UpdateRun rewrites a run's mutable fields (everything but ID,
	// ParentRun, LeaseID, Goal, Depth and Created); a missing run returns
	// ErrNotFound.
	UpdateRun(ctx context.Context, r Run) error
	// PutRunStep journals a completed step; a step already journaled under
	// the same (RunID, Seq) returns ErrConflict.
	PutRunStep(ctx context.Context, s RunStep) error
	// PutSkillStat inserts or replaces the row (Skill, Version, Model).
	PutSkillStat(ctx context.Context, s SkillStat) error
	// PutBlob stores content under its SHA-256 hash; storing it again is a
	// no-op, and a hash that is not the content's is an error.
	PutBlob(ctx context.Context, hash, data []byte) error
	// Savepoint runs fn so that, if it returns an error, every write it made
	// is undone while the rest of the transaction stays.
	Savepoint(ctx context.Context, fn func() error) error

	// The memory plane (see memory.go).

	// PutEvidence inserts evidence with its content; an existing id
	// returns ErrConflict.
	PutEvidence(ctx context.Context, e Evidence) error
	// Redact erases the content of r.EvidenceID, removes it from search and
	// stores the redaction. Missing evidence returns ErrNotFound, evidence
	// already redacted ErrConflict.
	Redact(ctx context.Context, r Redaction) error
	// PutClaim inserts a claim and its provenance; an existing id returns
	// ErrConflict. Seq is assigned by the store.
	PutClaim(ctx context.Context, c Claim) error
	// UpdateClaim rewrites a claim's mutable fields (Confidence, Status,
	// InvalidAt, ExpiredAt, ContradictedBy) and stores the spans of its
	// Provenance not stored yet; stored spans are never removed. A missing
	// claim returns ErrNotFound.
	UpdateClaim(ctx context.Context, c Claim) error
	// PutClaimEvent journals a step of a claim's life.
	PutClaimEvent(ctx context.Context, e ClaimEvent) error
	// PutClaimEmbedding stores (or replaces) the embedding of a claim.
	PutClaimEmbedding(ctx context.Context, claimID string, vector []float32) error
	// PutCanonVersion stores the next canon version: v.Version must be the
	// latest version plus one, every id in v.Added must not be a member yet
	// and every id in v.Removed must be one; otherwise ErrConflict.
	PutCanonVersion(ctx context.Context, v CanonVersion) error
}
