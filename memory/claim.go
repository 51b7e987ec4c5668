package memory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"

	"github.com/mirroros/mirror/store"
)

// Kind is what sort of statement a claim makes.
type Kind string

// Claim kinds.
const (
	KindFact       Kind = "fact"
	KindPreference Kind = "preference"
	KindIdentity   Kind = "identity" // who the person is: compiled into identity.md
	KindEvent      Kind = "event"
	KindOther      Kind = "other"
)

var claimKinds = []Kind{KindFact, KindPreference, KindIdentity, KindEvent, KindOther}

// Status is where a claim stands.
type Status string

// Claim statuses.
const (
	// StatusCandidate: believed, not (yet) corroborated or verified.
	StatusCandidate Status = store.ClaimCandidate
	// StatusCanon: promoted into the canon.
	StatusCanon Status = store.ClaimCanon
	// StatusDemoted: invalidated and no longer believed; kept forever.
	StatusDemoted Status = store.ClaimDemoted
)

var claimStatuses = []Status{StatusCandidate, StatusCanon, StatusDemoted}

// History event kinds.
const (
	eventCreated      = "created"
	eventCorroborated = "corroborated"
	eventPromoted     = "promoted"
	eventDemoted      = "demoted"
	eventContradicts  = "contradicts"
)

// Span points into the content of a piece of evidence: the bytes
// [Start, End), with 0 <= Start < End <= the evidence's size.
type Span struct {
	EvidenceID string `json:"evidence_id"`
	Start      int    `json:"start"`
	End        int    `json:"end"`
}

// Support is a span of evidence a claim cites, with who attached it and
// when: the claim's creator, or a later corroboration.
type Support struct {
	Span
	Actor   string    `json:"actor"`
	AddedAt time.Time `json:"added_at"`
}

// Claim is an atomic statement with provenance and bi-temporal validity.
//
// ValidAt and InvalidAt are world time: the claim was true from ValidAt
// until InvalidAt (zero: still true). CreatedAt and ExpiredAt are system
// time: the system believed it from CreatedAt until ExpiredAt (zero: still
// believes it). Demotion sets InvalidAt and ExpiredAt; nothing else ever
// changes either, and no claim is ever deleted.
type Claim struct {
	Seq            int64     `json:"seq"` // position in the order claims were added
	ID             string    `json:"id"`
	Statement      string    `json:"statement"`
	Subject        string    `json:"subject,omitempty"`
	Kind           Kind      `json:"kind"`
	Confidence     float64   `json:"confidence"`
	Status         Status    `json:"status"`
	Hash           string    `json:"hash"` // ClaimHash(Statement, Subject, Kind)
	ValidAt        time.Time `json:"valid_at"`
	InvalidAt      time.Time `json:"invalid_at,omitzero"`
	CreatedAt      time.Time `json:"created_at"`
	ExpiredAt      time.Time `json:"expired_at,omitzero"`
	Actor          string    `json:"actor"` // who added it
	ContradictedBy string    `json:"contradicted_by,omitempty"`
	Provenance     []Support `json:"provenance"`
}

// EvidenceIDs returns the distinct evidence the claim cites, in the order
// first cited.
func (c Claim) EvidenceIDs() []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range c.Provenance {
		if !seen[s.EvidenceID] {
			seen[s.EvidenceID] = true
			out = append(out, s.EvidenceID)
		}
	}
	return out
}

// BelievedAt reports whether the system believed the claim at t (system
// time): CreatedAt <= t < ExpiredAt.
func (c Claim) BelievedAt(t time.Time) bool {
	return !t.Before(c.CreatedAt) && (c.ExpiredAt.IsZero() || t.Before(c.ExpiredAt))
}

// TrueAt reports whether the claim held in the world at t: ValidAt <= t <
// InvalidAt.
func (c Claim) TrueAt(t time.Time) bool {
	return !t.Before(c.ValidAt) && (c.InvalidAt.IsZero() || t.Before(c.InvalidAt))
}

// NewClaim is a claim to add.
type NewClaim struct {
	Statement string
	Subject   string // optional: whom or what the statement is about
	Kind      Kind   // default KindFact
	// Confidence in (0, 1]; zero means 1, a statement asserted outright.
	Confidence float64
	// Spans cite the evidence the statement rests on: at least one, at
	// most MaxSpans, each within its evidence's content.
	Spans []Span
	// ValidAt is when the statement became true in the world; zero means
	// when its earliest cited evidence was observed.
	ValidAt time.Time
	// InvalidAt is when it stopped being true, if already known.
	InvalidAt time.Time
	// Contradicts names live claims this one contradicts: they are demoted,
	// invalid from this claim's ValidAt and linked to it.
	Contradicts []string
	Actor       string // who adds it; required
}

// AddResult is what adding a claim did.
type AddResult struct {
	// Claim is the new claim, or the live claim it corroborated, as it is
	// after the addition.
	Claim Claim `json:"claim"`
	// Created: a new claim was stored.
	Created bool `json:"created"`
	// Corroborated: the statement matched a live claim, which gained the
	// new evidence instead of being duplicated.
	Corroborated bool `json:"corroborated"`
	// Promoted: the claim entered the canon (it reached the corroboration
	// threshold).
	Promoted bool `json:"promoted"`
	// Demoted lists the contradicted claims this addition demoted.
	Demoted []string `json:"demoted,omitempty"`
	// CanonVersion is the canon version the addition compiled, 0 if the
	// canon did not change.
	CanonVersion int64 `json:"canon_version,omitempty"`
}

// Normalize returns the key under which statements count as equal: lower
// case, runs of white space collapsed to one space, trailing punctuation
// and space removed.
func Normalize(statement string) string {
	s := strings.Join(strings.Fields(strings.ToLower(statement)), " ")
	return strings.TrimRightFunc(s, func(r rune) bool { return unicode.IsPunct(r) || unicode.IsSpace(r) })
}

// ClaimHash is the hash that binds a claim's content: "sha256:" and the hex
// SHA-256 of statement, a 0x00 byte, subject, a 0x00 byte and kind. The
// ledger records it in place of the text, and canon hashes are built from
// it.
func ClaimHash(statement, subject string, kind Kind) string {
	h := sha256.New()
	h.Write([]byte(statement))
	h.Write([]byte{0})
	h.Write([]byte(subject))
	h.Write([]byte{0})
	h.Write([]byte(kind))
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// check validates what can be checked without the store and fills
// defaults.
func (in *NewClaim) check() error {
	in.Statement = strings.TrimSpace(in.Statement)
	in.Subject = strings.TrimSpace(in.Subject)
	switch {
	case in.Statement == "":
		return invalidf("the statement is empty")
	case len(in.Statement) > MaxStatementSize:
		return invalidf("the statement is %d bytes, over the %d limit", len(in.Statement), MaxStatementSize)
	case !printable(in.Statement, true):
		return invalidf("the statement must be UTF-8 text without control characters")
	case Normalize(in.Statement) == "":
		return invalidf("the statement has no words")
	}
	if err := checkText("subject", in.Subject, maxSubject); err != nil {
		return err
	}
	if in.Kind == "" {
		in.Kind = KindFact
	}
	if !oneOf(in.Kind, claimKinds) {
		return invalidf("claim kind %q is not one of %s", in.Kind, joinKinds(claimKinds))
	}
	if in.Confidence == 0 {
		in.Confidence = 1
	}
	if math.IsNaN(in.Confidence) || in.Confidence < 0 || in.Confidence > 1 {
		return invalidf("confidence %v is not between 0 and 1", in.Confidence)
	}
	if len(in.Spans) == 0 {
		return invalidf("a claim must cite evidence (at least one span)")
	}
	if len(in.Spans) > MaxSpans {
		return invalidf("%d spans, over the %d limit", len(in.Spans), MaxSpans)
	}
	for _, s := range in.Spans {
		if s.Start < 0 || s.End <= s.Start {
			return invalidf("span [%d, %d) of %s is empty or negative", s.Start, s.End, s.EvidenceID)
		}
	}
	if len(in.Contradicts) > MaxContradicts {
		return invalidf("%d contradicted claims, over the %d limit", len(in.Contradicts), MaxContradicts)
	}
	if err := checkTime("valid_at", in.ValidAt); err != nil {
		return err
	}
	if err := checkTime("invalid_at", in.InvalidAt); err != nil {
		return err
	}
	if !in.ValidAt.IsZero() && !in.InvalidAt.IsZero() && !in.InvalidAt.After(in.ValidAt) {
		return invalidf("invalid_at must be after valid_at")
	}
	return checkActor(in.Actor)
}

// AddClaim adds a claim citing stored evidence. If a live claim has the
// same normalized statement, the new spans corroborate it instead (its
// subject and kind stay; its confidence becomes the higher of the two).
// A claim that reaches the corroboration threshold is promoted into the
// canon in the same transaction; the claims named in Contradicts are
// demoted.
func (m *Memory) AddClaim(ctx context.Context, in NewClaim) (AddResult, error) {
	rs, err := m.addClaims(ctx, []NewClaim{in})
	if err != nil {
		return AddResult{}, err
	}
	return rs[0], nil
}

// addClaims adds claims in one transaction; the canon compiles once.
func (m *Memory) addClaims(ctx context.Context, ins []NewClaim) ([]AddResult, error) {
	for i := range ins {
		if err := ins[i].check(); err != nil {
			if len(ins) > 1 {
				return nil, fmt.Errorf("claim %d: %w", i, err)
			}
			return nil, err
		}
	}
	vectors := m.embedStatements(ctx, ins)
	m.warmCanon(ctx)
	var (
		results []AddResult
		version int64
	)
	t, err := m.commit(ctx, func(t *txn) error {
		results = make([]AddResult, len(ins))
		for i, in := range ins {
			r, err := t.addClaim(in, vectors[i])
			if err != nil {
				if len(ins) > 1 {
					return fmt.Errorf("claim %d: %w", i, err)
				}
				return err
			}
			results[i] = r
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if t.compiled != nil {
		version = t.compiled.version
	}
	// Read the claims back as committed: a later claim in the batch may
	// have changed an earlier one (corroborated, promoted, demoted it).
	ids := make([]string, len(results))
	for i, r := range results {
		ids[i] = r.Claim.ID
	}
	now, err := m.claimsByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i := range results {
		results[i].Claim = now[results[i].Claim.ID]
		if results[i].Promoted || len(results[i].Demoted) > 0 {
			results[i].CanonVersion = version
		}
	}
	return results, nil
}

func (m *Memory) claimsByID(ctx context.Context, ids []string) (map[string]Claim, error) {
	var cs []store.Claim
	err := m.st.View(ctx, func(tx store.ReadTx) (err error) {
		cs, err = tx.Claims(ctx, store.ClaimFilter{IDs: ids})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]Claim, len(cs))
	for _, c := range cs {
		out[c.ID] = claimOf(c)
	}
	return out, nil
}

// evidenceMeta returns the stored evidence without content.
func (t *txn) evidenceMeta(id string) (store.Evidence, error) {
	var (
		e     store.Evidence
		found bool
	)
	err := t.st.EvidenceList(t.ctx, store.EvidenceFilter{IDs: []string{id}, Limit: 1}, func(x store.Evidence) error {
		e, found = x, true
		return nil
	})
	if err != nil {
		return store.Evidence{}, err
	}
	if !found {
		return store.Evidence{}, invalidf("evidence %q does not exist", id)
	}
	return e, nil
}

// resolveSpans checks spans against their evidence and returns them as
// stored, without duplicates, and the earliest observation among them.
func (t *txn) resolveSpans(spans []Span, actor string) ([]store.Span, time.Time, error) {
	var (
		out      []store.Span
		earliest time.Time
		seen     = map[Span]bool{}
		meta     = map[string]store.Evidence{}
	)
	for _, s := range spans {
		if seen[s] {
			continue
		}
		seen[s] = true
		e, ok := meta[s.EvidenceID]
		if !ok {
			var err error
			if e, err = t.evidenceMeta(s.EvidenceID); err != nil {
				return nil, time.Time{}, err
			}
			meta[s.EvidenceID] = e
		}
		if e.Redaction != nil {
			return nil, time.Time{}, fmt.Errorf("%w: evidence %s is redacted and cannot be cited", ErrConflict, e.ID)
		}
		if int64(s.End) > e.Size {
			return nil, time.Time{}, invalidf("span [%d, %d) is outside evidence %s (%d bytes)", s.Start, s.End, e.ID, e.Size)
		}
		if earliest.IsZero() || e.ObservedAt.Before(earliest) {
			earliest = e.ObservedAt
		}
		out = append(out, store.Span{EvidenceID: s.EvidenceID, Start: int64(s.Start), End: int64(s.End), Actor: actor, Added: t.now})
	}
	return out, earliest, nil
}

func spanBodies(ss []store.Span) []spanBody {
	out := make([]spanBody, len(ss))
	for i, s := range ss {
		out[i] = spanBody{Evidence: s.EvidenceID, Start: s.Start, End: s.End}
	}
	return out
}

// liveClaim returns the live claim with a normalized statement, if any.
func (t *txn) liveClaim(normalized string) (*store.Claim, error) {
	cs, err := t.st.Claims(t.ctx, store.ClaimFilter{Normalized: normalized})
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if c.Status != store.ClaimDemoted {
			return &c, nil
		}
	}
	return nil, nil
}

func (t *txn) addClaim(in NewClaim, vector []float32) (AddResult, error) {
	spans, earliest, err := t.resolveSpans(in.Spans, in.Actor)
	if err != nil {
		return AddResult{}, err
	}
	norm := Normalize(in.Statement)
	target, err := t.liveClaim(norm)
	if err != nil {
		return AddResult{}, err
	}
	var contradicted []*store.Claim
	for _, id := range in.Contradicts {
		c, err := t.st.Claim(t.ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return AddResult{}, invalidf("contradicted claim %q does not exist", id)
		}
		if err != nil {
			return AddResult{}, err
		}
		if target != nil && c.ID == target.ID {
			return AddResult{}, invalidf("claim %s cannot contradict itself", c.ID)
		}
		contradicted = append(contradicted, &c)
	}

	var r AddResult
	invalidFrom := in.ValidAt
	if target != nil {
		if invalidFrom.IsZero() {
			invalidFrom = target.ValidAt
		}
		have := map[Span]bool{}
		for _, s := range target.Provenance {
			have[spanOf(s)] = true
		}
		var fresh []store.Span
		for _, s := range spans {
			if !have[spanOf(s)] {
				fresh = append(fresh, s)
			}
		}
		conf := max(target.Confidence, in.Confidence)
		if len(fresh) > 0 || conf != target.Confidence {
			target.Provenance = append(target.Provenance, fresh...)
			target.Confidence = conf
			if err := t.st.UpdateClaim(t.ctx, *target); err != nil {
				return AddResult{}, err
			}
			idx, err := t.append(EntryClaim, in.Actor, claimBody{
				Op: opCorroborate, ID: target.ID, Confidence: conf, Spans: spanBodies(fresh), Contradicts: in.Contradicts,
			})
			if err != nil {
				return AddResult{}, err
			}
			t.event(store.ClaimEvent{ClaimID: target.ID, Kind: eventCorroborated, Actor: in.Actor, At: t.now, Spans: fresh, LedgerIndex: idx})
			r.Corroborated = true
		}
	} else {
		validAt := in.ValidAt
		if validAt.IsZero() {
			validAt = earliest
		}
		if !in.InvalidAt.IsZero() && !in.InvalidAt.After(validAt) {
			return AddResult{}, invalidf("invalid_at must be after valid_at (%s)", validAt.Format(time.RFC3339))
		}
		invalidFrom = validAt
		c := store.Claim{
			ID: newID("clm_"), Statement: in.Statement, Normalized: norm, Subject: in.Subject, Kind: string(in.Kind),
			Confidence: in.Confidence, Status: store.ClaimCandidate, ContentHash: ClaimHash(in.Statement, in.Subject, in.Kind),
			ValidAt: validAt.UTC(), CreatedAt: t.now, Actor: in.Actor, Provenance: spans,
		}
		if !in.InvalidAt.IsZero() {
			c.InvalidAt = in.InvalidAt.UTC()
		}
		idx, err := t.append(EntryClaim, in.Actor, claimBody{
			Op: opCreate, ID: c.ID, Hash: c.ContentHash, Kind: c.Kind, Confidence: c.Confidence,
			ValidAt: formatTime(c.ValidAt), InvalidAt: formatTime(c.InvalidAt), CreatedAt: formatTime(c.CreatedAt),
			Spans: spanBodies(spans), Contradicts: in.Contradicts,
		})
		if err != nil {
			return AddResult{}, err
		}
		if err := t.st.PutClaim(t.ctx, c); err != nil {
			return AddResult{}, err
		}
		if vector != nil {
			if err := t.st.PutClaimEmbedding(t.ctx, c.ID, vector); err != nil {
				return AddResult{}, err
			}
		}
		t.event(store.ClaimEvent{ClaimID: c.ID, Kind: eventCreated, Actor: in.Actor, At: t.now, Spans: spans, LedgerIndex: idx})
		target, r.Created = &c, true
	}

	for _, c := range contradicted {
		if c.Status == store.ClaimDemoted {
			continue // already invalid: nothing left to demote
		}
		reason := "contradicted by " + target.ID
		idx, err := t.demote(c, in.Actor, reason, target.ID, invalidFrom)
		if err != nil {
			return AddResult{}, err
		}
		t.event(store.ClaimEvent{ClaimID: target.ID, Kind: eventContradicts, Actor: in.Actor, At: t.now, Related: c.ID, LedgerIndex: idx})
		r.Demoted = append(r.Demoted, c.ID)
	}

	if target.Status == store.ClaimCandidate {
		if n := distinctEvidence(target.Provenance); n >= t.m.n {
			reason := fmt.Sprintf("corroborated by %d independent pieces of evidence", n)
			if err := t.promote(target, ActorCorroboration, reason, true); err != nil {
				return AddResult{}, err
			}
			r.Promoted = true
		}
	}
	r.Claim = claimOf(*target)
	return r, nil
}

func spanOf(s store.Span) Span {
	return Span{EvidenceID: s.EvidenceID, Start: int(s.Start), End: int(s.End)}
}

func distinctEvidence(ss []store.Span) int {
	seen := map[string]bool{}
	for _, s := range ss {
		seen[s.EvidenceID] = true
	}
	return len(seen)
}

// promote moves a live claim into the canon.
func (t *txn) promote(c *store.Claim, by, reason string, auto bool) error {
	switch c.Status {
	case store.ClaimDemoted:
		return fmt.Errorf("%w: claim %s is demoted and cannot be promoted (add it again as a new claim)", ErrConflict, c.ID)
	case store.ClaimCanon:
		return nil
	}
	c.Status = store.ClaimCanon
	if err := t.st.UpdateClaim(t.ctx, *c); err != nil {
		return err
	}
	idx, err := t.append(EntryPromote, by, promoteBody{ID: c.ID, Reason: reason, Auto: auto, Evidence: distinctEvidence(c.Provenance)})
	if err != nil {
		return err
	}
	t.event(store.ClaimEvent{ClaimID: c.ID, Kind: eventPromoted, Actor: by, At: t.now, Reason: reason, LedgerIndex: idx})
	t.canonAdd[c.ID] = c.ContentHash
	return nil
}

// demote invalidates a live claim and returns the ledger index recording
// it. The claim stops being believed now; it stops being true at
// invalidAt (zero: now), never before its ValidAt nor after an InvalidAt
// it already had.
func (t *txn) demote(c *store.Claim, by, reason, contradictedBy string, invalidAt time.Time) (uint64, error) {
	if c.Status == store.ClaimDemoted {
		return 0, fmt.Errorf("%w: claim %s was already demoted at %s", ErrConflict, c.ID, c.ExpiredAt.Format(time.RFC3339))
	}
	wasCanon := c.Status == store.ClaimCanon
	inv := invalidAt.UTC()
	if invalidAt.IsZero() {
		inv = t.now
	}
	if !c.InvalidAt.IsZero() && c.InvalidAt.Before(inv) {
		inv = c.InvalidAt
	}
	if inv.Before(c.ValidAt) {
		inv = c.ValidAt // it was never true
	}
	c.Status, c.InvalidAt, c.ExpiredAt, c.ContradictedBy = store.ClaimDemoted, inv, t.now, contradictedBy
	if err := t.st.UpdateClaim(t.ctx, *c); err != nil {
		return 0, err
	}
	idx, err := t.append(EntryDemote, by, demoteBody{
		ID: c.ID, Reason: reason, InvalidAt: formatTime(inv), ExpiredAt: formatTime(t.now), ContradictedBy: contradictedBy,
	})
	if err != nil {
		return 0, err
	}
	t.event(store.ClaimEvent{ClaimID: c.ID, Kind: eventDemoted, Actor: by, At: t.now, Reason: reason, Related: contradictedBy, LedgerIndex: idx})
	if wasCanon {
		if _, ok := t.canonAdd[c.ID]; ok {
			delete(t.canonAdd, c.ID) // promoted and demoted before compiling: never in a version
		} else {
			t.canonRemove[c.ID] = true
		}
	}
	return idx, nil
}

// Promote moves a claim into the canon on verification, by a person or a
// verifier model. Promoting a canon claim changes nothing; a demoted claim
// cannot be promoted.
func (m *Memory) Promote(ctx context.Context, id, by, reason string) (Claim, error) {
	if err := checkActor(by); err != nil {
		return Claim{}, err
	}
	if err := checkText("reason", reason, maxReason); err != nil {
		return Claim{}, err
	}
	m.warmCanon(ctx)
	var out store.Claim
	_, err := m.commit(ctx, func(t *txn) error {
		c, err := t.st.Claim(ctx, id)
		if err != nil {
			return notFound(err)
		}
		if err := t.promote(&c, by, reason, false); err != nil {
			return err
		}
		out = c
		return nil
	})
	if err != nil {
		return Claim{}, err
	}
	return claimOf(out), nil
}

// Demote invalidates a claim: it is no longer believed from now
// (ExpiredAt) and no longer true from invalidAt (zero: now). It stays
// stored with its history; a canon claim leaves the canon. contradictedBy,
// if set, names the claim that contradicts it.
func (m *Memory) Demote(ctx context.Context, id, by, reason, contradictedBy string, invalidAt time.Time) (Claim, error) {
	if err := checkActor(by); err != nil {
		return Claim{}, err
	}
	if err := checkText("reason", reason, maxReason); err != nil {
		return Claim{}, err
	}
	if err := checkTime("invalid_at", invalidAt); err != nil {
		return Claim{}, err
	}
	if contradictedBy == id {
		return Claim{}, invalidf("claim %s cannot contradict itself", id)
	}
	m.warmCanon(ctx)
	var out store.Claim
	_, err := m.commit(ctx, func(t *txn) error {
		c, err := t.st.Claim(ctx, id)
		if err != nil {
			return notFound(err)
		}
		if contradictedBy != "" {
			if _, err := t.st.Claim(ctx, contradictedBy); errors.Is(err, store.ErrNotFound) {
				return invalidf("contradicting claim %q does not exist", contradictedBy)
			} else if err != nil {
				return err
			}
		}
		idx, err := t.demote(&c, by, reason, contradictedBy, invalidAt)
		if err != nil {
			return err
		}
		if contradictedBy != "" {
			t.event(store.ClaimEvent{ClaimID: contradictedBy, Kind: eventContradicts, Actor: by, At: t.now, Related: id, LedgerIndex: idx})
		}
		out = c
		return nil
	})
	if err != nil {
		return Claim{}, err
	}
	return claimOf(out), nil
}

// Claim returns a claim with its provenance.
func (m *Memory) Claim(ctx context.Context, id string) (Claim, error) {
	var c store.Claim
	err := m.st.View(ctx, func(tx store.ReadTx) (err error) {
		c, err = tx.Claim(ctx, id)
		return err
	})
	if err != nil {
		return Claim{}, notFound(err)
	}
	return claimOf(c), nil
}

// Filter selects claims. Every set field narrows the selection.
type Filter struct {
	Statuses   []Status
	Kinds      []Kind
	Subject    string
	EvidenceID string    // claims citing this evidence
	BelievedAt time.Time // system time: CreatedAt <= t < ExpiredAt
	TrueAt     time.Time // world time: ValidAt <= t < InvalidAt
	AfterSeq   int64     // for paging: claims added after this position
	Limit      int       // 0: no limit
}

func (f Filter) store() (store.ClaimFilter, error) {
	sf := store.ClaimFilter{Subject: f.Subject, EvidenceID: f.EvidenceID, BelievedAt: f.BelievedAt, TrueAt: f.TrueAt, AfterSeq: f.AfterSeq, Limit: f.Limit}
	for _, s := range f.Statuses {
		if !oneOf(s, claimStatuses) {
			return sf, invalidf("status %q is not one of %s", s, joinKinds(claimStatuses))
		}
		sf.Statuses = append(sf.Statuses, string(s))
	}
	for _, k := range f.Kinds {
		if !oneOf(k, claimKinds) {
			return sf, invalidf("claim kind %q is not one of %s", k, joinKinds(claimKinds))
		}
		sf.Kinds = append(sf.Kinds, string(k))
	}
	if err := checkTime("believed_at", f.BelievedAt); err != nil {
		return sf, err
	}
	if err := checkTime("true_at", f.TrueAt); err != nil {
		return sf, err
	}
	return sf, nil
}

// Claims lists the claims matching f in the order they were added.
func (m *Memory) Claims(ctx context.Context, f Filter) ([]Claim, error) {
	sf, err := f.store()
	if err != nil {
		return nil, err
	}
	var cs []store.Claim
	err = m.st.View(ctx, func(tx store.ReadTx) (err error) {
		cs, err = tx.Claims(ctx, sf)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]Claim, len(cs))
	for i, c := range cs {
		out[i] = claimOf(c)
	}
	return out, nil
}

// BelievedAt returns the claims the system believed at t (system time):
// created at or before t and not expired (demoted) by then, whatever their
// status now.
func (m *Memory) BelievedAt(ctx context.Context, t time.Time) ([]Claim, error) {
	return m.Claims(ctx, Filter{BelievedAt: t})
}

// TrueAt returns the claims that held in the world at t (world time):
// ValidAt <= t < InvalidAt. A claim demoted since still counts for the
// times it was valid; combine with BelievedAt in Claims or Search to ask
// what the system believed, at some moment, was true at t.
func (m *Memory) TrueAt(ctx context.Context, t time.Time) ([]Claim, error) {
	return m.Claims(ctx, Filter{TrueAt: t})
}

// HistoryEvent is one step in a claim's life.
type HistoryEvent struct {
	// Kind: created, corroborated (new evidence attached), promoted,
	// demoted, or contradicts (this claim demoted Related).
	Kind         string    `json:"kind"`
	Actor        string    `json:"actor"`
	At           time.Time `json:"at"`
	Reason       string    `json:"reason,omitempty"`
	Related      string    `json:"related,omitempty"` // the other claim of a contradiction
	Spans        []Span    `json:"spans,omitempty"`   // evidence attached
	CanonVersion int64     `json:"canon_version,omitempty"`
	LedgerIndex  uint64    `json:"ledger_index"` // the entry that recorded it
}

// History returns a claim's life in order: its creation, corroborations,
// promotion, demotion and the claims it contradicted.
func (m *Memory) History(ctx context.Context, id string) ([]HistoryEvent, error) {
	var es []store.ClaimEvent
	err := m.st.View(ctx, func(tx store.ReadTx) error {
		if _, err := tx.Claim(ctx, id); err != nil {
			return notFound(err)
		}
		var err error
		es, err = tx.ClaimEvents(ctx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]HistoryEvent, len(es))
	for i, e := range es {
		out[i] = HistoryEvent{Kind: e.Kind, Actor: e.Actor, At: e.At, Reason: e.Reason, Related: e.Related,
			CanonVersion: e.CanonVersion, LedgerIndex: e.LedgerIndex}
		for _, s := range e.Spans {
			out[i].Spans = append(out[i].Spans, Span{EvidenceID: s.EvidenceID, Start: int(s.Start), End: int(s.End)})
		}
	}
	return out, nil
}

func claimOf(c store.Claim) Claim {
	out := Claim{
		Seq: c.Seq, ID: c.ID, Statement: c.Statement, Subject: c.Subject, Kind: Kind(c.Kind), Confidence: c.Confidence,
		Status: Status(c.Status), Hash: c.ContentHash, ValidAt: c.ValidAt, InvalidAt: c.InvalidAt, CreatedAt: c.CreatedAt,
		ExpiredAt: c.ExpiredAt, Actor: c.Actor, ContradictedBy: c.ContradictedBy,
		Provenance: make([]Support, len(c.Provenance)),
	}
	for i, s := range c.Provenance {
		out.Provenance[i] = Support{Span: Span{EvidenceID: s.EvidenceID, Start: int(s.Start), End: int(s.End)}, Actor: s.Actor, AddedAt: s.Added}
	}
	return out
}
