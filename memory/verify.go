package memory

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/trace/ledger"
)

// Problem is one thing Verify found wrong, named by where it is: the table,
// the record's id and what does not match.
type Problem struct {
	Table   string `json:"table"`
	ID      string `json:"id"`
	Problem string `json:"problem"`
}

// String reads "table id: problem".
func (p Problem) String() string { return p.Table + " " + p.ID + ": " + p.Problem }

// Report is the result of Verify.
type Report struct {
	Evidence      int       `json:"evidence"` // evidence rows checked
	Redacted      int       `json:"redacted"` // of which redacted (content erased by a recorded redaction)
	Claims        int       `json:"claims"`
	CanonVersions int       `json:"canon_versions"`
	LedgerEntries int       `json:"ledger_entries"` // memory entries read from the ledger
	Problems      []Problem `json:"problems"`
}

// OK reports whether nothing is wrong.
func (r Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) add(table, id, format string, args ...any) {
	r.Problems = append(r.Problems, Problem{Table: table, ID: id, Problem: fmt.Sprintf(format, args...)})
}

// Tables named in problems.
const (
	tableEvidence   = "memory_evidence"
	tableRedactions = "memory_redactions"
	tableClaims     = "memory_claims"
	tableSpans      = "memory_claim_spans"
	tableEvents     = "memory_claim_events"
	tableVersions   = "memory_canon_versions"
	tableMembers    = "memory_canon_members"
	tableLedger     = "ledger_entries"
)

// verifyEntryBatch is how many ledger entries Verify reads at a time.
const verifyEntryBatch = 4096

// Verify checks stored memory against itself and against the ledger, which
// recorded every write in the same transaction:
//
//   - every piece of evidence hashes to its id, unless a recorded
//     redaction erased it (then it is counted as redacted, not tampered);
//   - every claim matches the state its ledger entries describe (the hash
//     of statement, subject and kind; kind, confidence, status, the four
//     times, the contradicting claim and every span of its provenance),
//     and every span resolves to existing evidence within its size;
//   - every canon version's hash, recomputed from its stored member list,
//     equals the hash recorded in its memory.canon entry, and the latest
//     version's members are exactly the claims whose status is canon;
//   - every history event points at the ledger entry that recorded it;
//   - nothing the ledger recorded is missing from the store, and nothing
//     in the store is missing from the ledger.
//
// Each mismatch is a Problem naming the table, the record and what is
// wrong. An error means Verify could not read; a damaged store is a Report
// with problems.
func (m *Memory) Verify(ctx context.Context) (Report, error) {
	var (
		rep      Report
		size     uint64
		evidence = map[string]store.Evidence{} // without content
		claims   []store.Claim
		events   []store.ClaimEvent
		versions []store.CanonVersion
	)
	err := m.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		if size, err = tx.LedgerSize(ctx); err != nil {
			return err
		}
		err = tx.EvidenceList(ctx, store.EvidenceFilter{Content: true}, func(e store.Evidence) error {
			rep.Evidence++
			switch {
			case e.Redaction != nil:
				rep.Redacted++
				if e.Content != nil {
					rep.add(tableEvidence, e.ID, "redacted at %s but its content is still stored", e.Redaction.At.Format(time.RFC3339))
				}
			case e.Content == nil:
				rep.add(tableEvidence, e.ID, "content is erased but there is no redaction record")
			case EvidenceID(e.Content) != e.ID:
				rep.add(tableEvidence, e.ID, "content does not hash to the evidence id (it hashes to %s)", EvidenceID(e.Content))
			case int64(len(e.Content)) != e.Size:
				rep.add(tableEvidence, e.ID, "size %d does not match the %d bytes of content", e.Size, len(e.Content))
			}
			e.Content = nil
			evidence[e.ID] = e
			return nil
		})
		if err != nil {
			return err
		}
		if claims, err = tx.Claims(ctx, store.ClaimFilter{}); err != nil {
			return err
		}
		if events, err = tx.ClaimEvents(ctx, ""); err != nil {
			return err
		}
		return tx.CanonVersions(ctx, func(v store.CanonVersion) error {
			versions = append(versions, v)
			return nil
		})
	})
	if err != nil {
		return Report{}, fmt.Errorf("memory: verify: %w", err)
	}
	rec, err := m.readLedger(ctx, size, &rep)
	if err != nil {
		return Report{}, fmt.Errorf("memory: verify: %w", err)
	}
	rec.checkEvidence(&rep, evidence)
	rec.checkClaims(&rep, claims, evidence)
	rec.checkCanon(&rep, versions, claims)
	rec.checkEvents(&rep, events)
	rep.Claims, rep.CanonVersions = len(claims), len(versions)
	return rep, nil
}

// recorded is the memory plane as its ledger entries describe it.
type recorded struct {
	evidence map[string]recordedEvidence
	redacted map[string]uint64 // evidence id → entry index
	claims   map[string]*recordedClaim
	claimIDs []string // in order of creation
	canon    map[int64]recordedCanon
	entries  map[uint64]recordedEntry // every claim, promote and demote entry
}

type recordedEvidence struct {
	index uint64
	actor string
	body  evidenceBody
}

type recordedClaim struct {
	index          uint64 // the create entry
	actor          string
	hash, kind     string
	confidence     float64
	status         string
	validAt        time.Time
	invalidAt      time.Time
	createdAt      time.Time
	expiredAt      time.Time
	contradictedBy string
	spans          map[Span]uint64 // → the entry that attached it
}

type recordedCanon struct {
	index uint64
	body  canonBody
}

type recordedEntry struct {
	kind, op, id, related string
}

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// readLedger replays the memory entries among the first size entries.
func (m *Memory) readLedger(ctx context.Context, size uint64, rep *Report) (*recorded, error) {
	rec := &recorded{
		evidence: map[string]recordedEvidence{}, redacted: map[string]uint64{}, claims: map[string]*recordedClaim{},
		canon: map[int64]recordedCanon{}, entries: map[uint64]recordedEntry{},
	}
	marker := []byte(`"kind":"memory.`)
	for from := uint64(0); from < size; from += verifyEntryBatch {
		err := m.led.Entries(ctx, from, int(min(verifyEntryBatch, size-from)), func(index uint64, data []byte) error {
			if !bytes.Contains(data, marker) {
				return nil
			}
			e, err := ledger.ParseEntry(data)
			if err != nil {
				rep.add(tableLedger, strconv.FormatUint(index, 10), "cannot be parsed: %v", err)
				return nil
			}
			if !strings.HasPrefix(e.Kind, "memory.") {
				return nil
			}
			rep.LedgerEntries++
			if err := rec.apply(e); err != nil {
				rep.add(tableLedger, strconv.FormatUint(index, 10), "%s entry: %v", e.Kind, err)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return rec, nil
}

func (rec *recorded) apply(e ledger.Entry) error {
	switch e.Kind {
	case EntryEvidence:
		var b evidenceBody
		if err := json.Unmarshal(e.Body, &b); err != nil {
			return err
		}
		rec.evidence[b.ID] = recordedEvidence{index: e.Index, actor: e.Actor, body: b}
	case EntryRedact:
		var b redactBody
		if err := json.Unmarshal(e.Body, &b); err != nil {
			return err
		}
		rec.redacted[b.ID] = e.Index
	case EntryClaim:
		var b claimBody
		if err := json.Unmarshal(e.Body, &b); err != nil {
			return err
		}
		rec.entries[e.Index] = recordedEntry{kind: e.Kind, op: b.Op, id: b.ID}
		if b.Op == opCreate {
			c := &recordedClaim{
				index: e.Index, actor: e.Actor, hash: b.Hash, kind: b.Kind, confidence: b.Confidence, status: store.ClaimCandidate,
				validAt: parseTime(b.ValidAt), invalidAt: parseTime(b.InvalidAt), createdAt: parseTime(b.CreatedAt),
				spans: map[Span]uint64{},
			}
			for _, s := range b.Spans {
				c.spans[Span{EvidenceID: s.Evidence, Start: int(s.Start), End: int(s.End)}] = e.Index
			}
			rec.claims[b.ID] = c
			rec.claimIDs = append(rec.claimIDs, b.ID)
			return nil
		}
		c, ok := rec.claims[b.ID]
		if !ok {
			return fmt.Errorf("corroborates claim %s, which was never created", b.ID)
		}
		c.confidence = b.Confidence
		for _, s := range b.Spans {
			c.spans[Span{EvidenceID: s.Evidence, Start: int(s.Start), End: int(s.End)}] = e.Index
		}
	case EntryPromote:
		var b promoteBody
		if err := json.Unmarshal(e.Body, &b); err != nil {
			return err
		}
		rec.entries[e.Index] = recordedEntry{kind: e.Kind, id: b.ID}
		c, ok := rec.claims[b.ID]
		if !ok {
			return fmt.Errorf("promotes claim %s, which was never created", b.ID)
		}
		c.status = store.ClaimCanon
	case EntryDemote:
		var b demoteBody
		if err := json.Unmarshal(e.Body, &b); err != nil {
			return err
		}
		rec.entries[e.Index] = recordedEntry{kind: e.Kind, id: b.ID, related: b.ContradictedBy}
		c, ok := rec.claims[b.ID]
		if !ok {
			return fmt.Errorf("demotes claim %s, which was never created", b.ID)
		}
		c.status, c.invalidAt, c.expiredAt, c.contradictedBy = store.ClaimDemoted, parseTime(b.InvalidAt), parseTime(b.ExpiredAt), b.ContradictedBy
	case EntryCanon:
		var b canonBody
		if err := json.Unmarshal(e.Body, &b); err != nil {
			return err
		}
		rec.canon[b.Version] = recordedCanon{index: e.Index, body: b}
	}
	return nil
}

func (rec *recorded) checkEvidence(rep *Report, evidence map[string]store.Evidence) {
	ids := make([]string, 0, len(evidence))
	for id := range evidence {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		e := evidence[id]
		r, ok := rec.evidence[id]
		if !ok {
			rep.add(tableEvidence, id, "not recorded in the ledger (no memory.evidence entry)")
		} else {
			if r.body.Size != e.Size {
				rep.add(tableEvidence, id, "size %d differs from the %d recorded in ledger entry %d", e.Size, r.body.Size, r.index)
			}
			if r.body.Kind != e.Kind {
				rep.add(tableEvidence, id, "kind %q differs from %q recorded in ledger entry %d", e.Kind, r.body.Kind, r.index)
			}
			if r.body.MediaType != e.MediaType || r.body.Text != e.Text {
				rep.add(tableEvidence, id, "media type %q (text %v) differs from %q (text %v) recorded in ledger entry %d", e.MediaType, e.Text, r.body.MediaType, r.body.Text, r.index)
			}
			if r.actor != e.Actor {
				rep.add(tableEvidence, id, "actor %q differs from %q recorded in ledger entry %d", e.Actor, r.actor, r.index)
			}
			if t := parseTime(r.body.ObservedAt); !t.Equal(e.ObservedAt) {
				rep.add(tableEvidence, id, "observed_at %s differs from %s recorded in ledger entry %d", formatTime(e.ObservedAt), r.body.ObservedAt, r.index)
			}
		}
		if e.Redaction != nil {
			if _, ok := rec.redacted[id]; !ok {
				rep.add(tableRedactions, id, "redaction not recorded in the ledger (no memory.redact entry)")
			}
		} else if idx, ok := rec.redacted[id]; ok {
			rep.add(tableRedactions, id, "redaction recorded in ledger entry %d is missing from the store", idx)
		}
	}
	for id, r := range rec.evidence {
		if _, ok := evidence[id]; !ok {
			rep.add(tableEvidence, id, "recorded in ledger entry %d but missing from the store", r.index)
		}
	}
}

func sameTime(a, b time.Time) bool { return a.Equal(b) || (a.IsZero() && b.IsZero()) }

func (rec *recorded) checkClaims(rep *Report, claims []store.Claim, evidence map[string]store.Evidence) {
	stored := make(map[string]bool, len(claims))
	for _, c := range claims {
		stored[c.ID] = true
		hash := ClaimHash(c.Statement, c.Subject, Kind(c.Kind))
		if hash != c.ContentHash {
			rep.add(tableClaims, c.ID, "statement, subject or kind does not match the claim's stored hash %s", c.ContentHash)
		}
		if Normalize(c.Statement) != c.Normalized {
			rep.add(tableClaims, c.ID, "normalized statement %q does not match the statement", c.Normalized)
		}
		for _, s := range c.Provenance {
			e, ok := evidence[s.EvidenceID]
			switch {
			case !ok:
				rep.add(tableSpans, c.ID, "cites evidence %s, which does not exist", s.EvidenceID)
			case s.Start < 0 || s.End <= s.Start || s.End > e.Size:
				rep.add(tableSpans, c.ID, "span [%d, %d) is outside evidence %s (%d bytes)", s.Start, s.End, s.EvidenceID, e.Size)
			}
		}
		r, ok := rec.claims[c.ID]
		if !ok {
			rep.add(tableClaims, c.ID, "not recorded in the ledger (no memory.claim entry creating it)")
			continue
		}
		if hash != r.hash {
			rep.add(tableClaims, c.ID, "statement, subject or kind does not match the hash recorded in ledger entry %d", r.index)
		}
		var diffs []string
		if c.Confidence != r.confidence {
			diffs = append(diffs, fmt.Sprintf("confidence %v, recorded %v", c.Confidence, r.confidence))
		}
		if c.Status != r.status {
			diffs = append(diffs, fmt.Sprintf("status %s, recorded %s", c.Status, r.status))
		}
		for _, d := range []struct {
			name      string
			got, want time.Time
		}{
			{"valid_at", c.ValidAt, r.validAt}, {"invalid_at", c.InvalidAt, r.invalidAt},
			{"created_at", c.CreatedAt, r.createdAt}, {"expired_at", c.ExpiredAt, r.expiredAt},
		} {
			if !sameTime(d.got, d.want) {
				diffs = append(diffs, fmt.Sprintf("%s %s, recorded %s", d.name, formatTime(d.got), formatTime(d.want)))
			}
		}
		if c.Kind != r.kind {
			diffs = append(diffs, fmt.Sprintf("kind %s, recorded %s", c.Kind, r.kind))
		}
		if c.Actor != r.actor {
			diffs = append(diffs, fmt.Sprintf("actor %q, recorded %q", c.Actor, r.actor))
		}
		if c.ContradictedBy != r.contradictedBy {
			diffs = append(diffs, fmt.Sprintf("contradicted_by %q, recorded %q", c.ContradictedBy, r.contradictedBy))
		}
		if len(diffs) > 0 {
			rep.add(tableClaims, c.ID, "differs from its ledger entries: %s", strings.Join(diffs, "; "))
		}
		have := map[Span]bool{}
		for _, s := range c.Provenance {
			sp := spanOf(s)
			have[sp] = true
			if _, ok := r.spans[sp]; !ok {
				rep.add(tableSpans, c.ID, "provenance span %s [%d, %d) was never recorded in the ledger", sp.EvidenceID, sp.Start, sp.End)
			}
		}
		for sp, idx := range r.spans {
			if !have[sp] {
				rep.add(tableSpans, c.ID, "provenance span %s [%d, %d) recorded in ledger entry %d is missing", sp.EvidenceID, sp.Start, sp.End, idx)
			}
		}
	}
	for _, id := range rec.claimIDs {
		if !stored[id] {
			rep.add(tableClaims, id, "recorded in ledger entry %d but missing from the store", rec.claims[id].index)
		}
	}
}

func (rec *recorded) checkCanon(rep *Report, versions []store.CanonVersion, claims []store.Claim) {
	rowHash := make(map[string]string, len(claims))
	status := make(map[string]string, len(claims))
	for _, c := range claims {
		rowHash[c.ID], status[c.ID] = c.ContentHash, c.Status
	}
	// The hash of a member is the one the ledger recorded when the claim
	// was created, so that a tampered claim is reported once, as a claim,
	// and the canon check tests membership alone.
	claimHash := func(id string) (string, bool) {
		if r, ok := rec.claims[id]; ok {
			return r.hash, true
		}
		h, ok := rowHash[id]
		return h, ok
	}
	members := map[string]bool{}
	seen := map[int64]bool{}
	var latest int64
	for _, v := range versions {
		name := "version " + strconv.FormatInt(v.Version, 10)
		seen[v.Version] = true
		latest = v.Version
		for _, id := range v.Removed {
			if !members[id] {
				rep.add(tableMembers, id, "removed in canon %s but was not a member", name)
			}
			delete(members, id)
		}
		for _, id := range v.Added {
			if members[id] {
				rep.add(tableMembers, id, "added in canon %s but was already a member", name)
			}
			members[id] = true
		}
		ms := make([]CanonMember, 0, len(members))
		for id := range members {
			h, ok := claimHash(id)
			if !ok {
				rep.add(tableMembers, id, "member of canon %s but no such claim exists", name)
			}
			ms = append(ms, CanonMember{ClaimID: id, ClaimHash: h})
		}
		computed := CanonHash(ms)
		r, ok := rec.canon[v.Version]
		if !ok {
			rep.add(tableVersions, name, "not recorded in the ledger (no memory.canon entry)")
			continue
		}
		if v.Hash != r.body.Hash {
			rep.add(tableVersions, name, "stored hash %s differs from %s recorded in ledger entry %d", v.Hash, r.body.Hash, r.index)
		}
		if v.Count != r.body.Count || len(ms) != r.body.Count {
			rep.add(tableVersions, name, "stored count %d and %d stored members differ from the count %d recorded in ledger entry %d", v.Count, len(ms), r.body.Count, r.index)
		}
		if computed != r.body.Hash {
			detail := ""
			if d := listDiff(v.Added, r.body.Added); d != "" {
				detail += "; added " + d
			}
			if d := listDiff(v.Removed, r.body.Removed); d != "" {
				detail += "; removed " + d
			}
			rep.add(tableMembers, name, "stored members hash to %s, not %s as recorded in ledger entry %d%s", computed, r.body.Hash, r.index, detail)
		}
	}
	for ver, r := range rec.canon {
		if !seen[ver] {
			rep.add(tableVersions, "version "+strconv.FormatInt(ver, 10), "recorded in ledger entry %d but missing from the store", r.index)
		}
	}
	name := "version " + strconv.FormatInt(latest, 10)
	for id := range members {
		if s, ok := status[id]; ok && s != store.ClaimCanon {
			rep.add(tableClaims, id, "member of the latest canon (%s) but its status is %s", name, s)
		}
	}
	for _, c := range claims {
		if c.Status == store.ClaimCanon && !members[c.ID] {
			rep.add(tableClaims, c.ID, "status is canon but it is not a member of the latest canon (%s)", name)
		}
	}
}

// listDiff describes how stored differs from recorded, or "".
func listDiff(stored, recorded []string) string {
	var extra, missing []string
	for _, id := range stored {
		if !slices.Contains(recorded, id) {
			extra = append(extra, id)
		}
	}
	for _, id := range recorded {
		if !slices.Contains(stored, id) {
			missing = append(missing, id)
		}
	}
	var parts []string
	if len(extra) > 0 {
		parts = append(parts, "in the store only: "+strings.Join(extra, ", "))
	}
	if len(missing) > 0 {
		parts = append(parts, "in the ledger only: "+strings.Join(missing, ", "))
	}
	return strings.Join(parts, "; ")
}

// eventEntry is the ledger entry kind (and claim operation) each history
// event kind points at.
var eventEntry = map[string]recordedEntry{
	eventCreated:      {kind: EntryClaim, op: opCreate},
	eventCorroborated: {kind: EntryClaim, op: opCorroborate},
	eventPromoted:     {kind: EntryPromote},
	eventDemoted:      {kind: EntryDemote},
	eventContradicts:  {kind: EntryDemote},
}

func (rec *recorded) checkEvents(rep *Report, events []store.ClaimEvent) {
	covered := map[uint64]bool{}
	for _, e := range events {
		id := strconv.FormatInt(e.Seq, 10)
		want, known := eventEntry[e.Kind]
		got, ok := rec.entries[e.LedgerIndex]
		switch {
		case !known:
			rep.add(tableEvents, id, "unknown event kind %q", e.Kind)
		case !ok:
			rep.add(tableEvents, id, "%s event of claim %s points at ledger entry %d, which records no claim change", e.Kind, e.ClaimID, e.LedgerIndex)
		case got.kind != want.kind || got.op != want.op:
			rep.add(tableEvents, id, "%s event of claim %s points at ledger entry %d, a %s entry", e.Kind, e.ClaimID, e.LedgerIndex, got.kind)
		case e.Kind == eventContradicts && (got.id != e.Related || got.related != e.ClaimID):
			rep.add(tableEvents, id, "contradicts event of claim %s does not match ledger entry %d (%s demoted by %q)", e.ClaimID, e.LedgerIndex, got.id, got.related)
		case e.Kind != eventContradicts && got.id != e.ClaimID:
			rep.add(tableEvents, id, "%s event of claim %s points at ledger entry %d, which is about claim %s", e.Kind, e.ClaimID, e.LedgerIndex, got.id)
		default:
			covered[e.LedgerIndex] = true
		}
	}
	idxs := make([]uint64, 0, len(rec.entries))
	for idx := range rec.entries {
		idxs = append(idxs, idx)
	}
	slices.Sort(idxs)
	for _, idx := range idxs {
		if !covered[idx] {
			e := rec.entries[idx]
			rep.add(tableEvents, e.id, "no history event for ledger entry %d (%s)", idx, e.kind)
		}
	}
}
