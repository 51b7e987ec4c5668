package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/mirroros/mirror/store"
)

// memoryMigration creates the memory plane's tables.
//
// Times are Unix nanoseconds. The end of a validity or belief interval
// (invalid_ns, expired_ns) is stored as the largest int64 while it is
// open, so that "believed at T" and "true at T" are plain range tests
// (created_ns <= T AND T < expired_ns) that an index can serve.
//
// Claims are searched through an external-content FTS5 table over
// memory_claims: claims are short and already stored, so the index holds no
// second copy of the text, snippet() and bm25() work, and triggers keep it
// in the same transaction as the row. Column weights favour the statement
// over the subject. Both indexes stem English words (porter), so "live"
// finds "lives".
//
// Evidence is searched through a contentless FTS5 table with
// contentless_delete and secure-delete: evidence can be megabytes and
// binary (only text is indexed), and a redaction must erase it for good.
// A contentless index never reads the content back, so a row can be
// removed without its old text, and secure-delete rewrites the index pages
// instead of leaving the erased tokens behind a delete marker.
//
// A claim enters the canon at most once (a demoted claim is never promoted
// again), so the member list of every canon version is stored as one row
// per claim with the version that added it and the one that removed it.
const memoryMigration = `CREATE TABLE memory_evidence (
		seq          INTEGER PRIMARY KEY,
		id           TEXT NOT NULL UNIQUE,
		kind         TEXT NOT NULL,
		media_type   TEXT NOT NULL DEFAULT '',
		source       TEXT NOT NULL DEFAULT '',
		actor        TEXT NOT NULL,
		observed_ns  INTEGER NOT NULL,
		created_ns   INTEGER NOT NULL,
		size         INTEGER NOT NULL,
		content      BLOB,
		text         INTEGER NOT NULL DEFAULT 0,
		ledger_index INTEGER NOT NULL
	);
	CREATE INDEX memory_evidence_kind ON memory_evidence(kind, seq);
	CREATE TABLE memory_redactions (
		evidence_id  TEXT PRIMARY KEY,
		actor        TEXT NOT NULL,
		reason       TEXT NOT NULL,
		at_ns        INTEGER NOT NULL,
		ledger_index INTEGER NOT NULL
	) WITHOUT ROWID;
	CREATE VIRTUAL TABLE memory_evidence_fts USING fts5(
		body, content='', contentless_delete=1, tokenize='porter unicode61 remove_diacritics 2'
	);
	INSERT INTO memory_evidence_fts(memory_evidence_fts, rank) VALUES ('secure-delete', 1);
	CREATE TRIGGER memory_evidence_ai AFTER INSERT ON memory_evidence
	WHEN new.text = 1 AND new.content IS NOT NULL BEGIN
		INSERT INTO memory_evidence_fts(rowid, body) VALUES (new.seq, CAST(new.content AS TEXT));
	END;
	CREATE TRIGGER memory_evidence_au AFTER UPDATE OF content, text ON memory_evidence BEGIN
		DELETE FROM memory_evidence_fts WHERE rowid = old.seq;
		INSERT INTO memory_evidence_fts(rowid, body)
			SELECT new.seq, CAST(new.content AS TEXT) WHERE new.text = 1 AND new.content IS NOT NULL;
	END;
	CREATE TRIGGER memory_evidence_ad AFTER DELETE ON memory_evidence BEGIN
		DELETE FROM memory_evidence_fts WHERE rowid = old.seq;
	END;

	CREATE TABLE memory_claims (
		seq             INTEGER PRIMARY KEY,
		id              TEXT NOT NULL UNIQUE,
		statement       TEXT NOT NULL,
		normalized      TEXT NOT NULL,
		subject         TEXT NOT NULL DEFAULT '',
		kind            TEXT NOT NULL,
		confidence      REAL NOT NULL,
		status          TEXT NOT NULL,
		content_hash    TEXT NOT NULL,
		valid_ns        INTEGER NOT NULL,
		invalid_ns      INTEGER NOT NULL,
		created_ns      INTEGER NOT NULL,
		expired_ns      INTEGER NOT NULL,
		actor           TEXT NOT NULL,
		contradicted_by TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX memory_claims_normalized ON memory_claims(normalized);
	CREATE INDEX memory_claims_status ON memory_claims(status, kind, seq);
	CREATE INDEX memory_claims_believed ON memory_claims(created_ns, expired_ns);
	CREATE INDEX memory_claims_valid ON memory_claims(valid_ns, invalid_ns);
	CREATE INDEX memory_claims_subject ON memory_claims(subject, seq);
	CREATE TABLE memory_claim_spans (
		claim_id    TEXT NOT NULL,
		evidence_id TEXT NOT NULL,
		span_start  INTEGER NOT NULL,
		span_end    INTEGER NOT NULL,
		actor       TEXT NOT NULL,
		added_ns    INTEGER NOT NULL,
		PRIMARY KEY (claim_id, evidence_id, span_start, span_end)
	) WITHOUT ROWID;
	CREATE INDEX memory_claim_spans_evidence ON memory_claim_spans(evidence_id);
	CREATE VIRTUAL TABLE memory_claims_fts USING fts5(
		statement, subject, content='memory_claims', content_rowid='seq',
		tokenize='porter unicode61 remove_diacritics 2'
	);
	INSERT INTO memory_claims_fts(memory_claims_fts, rank) VALUES ('rank', 'bm25(1.0, 0.5)');
	CREATE TRIGGER memory_claims_ai AFTER INSERT ON memory_claims BEGIN
		INSERT INTO memory_claims_fts(rowid, statement, subject) VALUES (new.seq, new.statement, new.subject);
	END;
	CREATE TRIGGER memory_claims_au AFTER UPDATE OF statement, subject ON memory_claims BEGIN
		INSERT INTO memory_claims_fts(memory_claims_fts, rowid, statement, subject)
			VALUES ('delete', old.seq, old.statement, old.subject);
		INSERT INTO memory_claims_fts(rowid, statement, subject) VALUES (new.seq, new.statement, new.subject);
	END;
	CREATE TRIGGER memory_claims_ad AFTER DELETE ON memory_claims BEGIN
		INSERT INTO memory_claims_fts(memory_claims_fts, rowid, statement, subject)
			VALUES ('delete', old.seq, old.statement, old.subject);
	END;
	CREATE TABLE memory_claim_events (
		seq           INTEGER PRIMARY KEY,
		claim_id      TEXT NOT NULL,
		kind          TEXT NOT NULL,
		actor         TEXT NOT NULL,
		at_ns         INTEGER NOT NULL,
		reason        TEXT NOT NULL DEFAULT '',
		related       TEXT NOT NULL DEFAULT '',
		spans         TEXT NOT NULL DEFAULT '[]',
		canon_version INTEGER NOT NULL DEFAULT 0,
		ledger_index  INTEGER NOT NULL
	);
	CREATE INDEX memory_claim_events_claim ON memory_claim_events(claim_id, seq);
	CREATE TABLE memory_claim_embeddings (
		seq      INTEGER PRIMARY KEY AUTOINCREMENT,
		claim_id TEXT NOT NULL UNIQUE,
		vector   BLOB NOT NULL
	);

	CREATE TABLE memory_canon_versions (
		version      INTEGER PRIMARY KEY,
		hash         TEXT NOT NULL,
		count        INTEGER NOT NULL,
		actor        TEXT NOT NULL,
		created_ns   INTEGER NOT NULL,
		ledger_index INTEGER NOT NULL
	);
	CREATE TABLE memory_canon_members (
		claim_id        TEXT PRIMARY KEY,
		added_version   INTEGER NOT NULL,
		removed_version INTEGER NOT NULL DEFAULT 0
	) WITHOUT ROWID;
	CREATE INDEX memory_canon_members_added ON memory_canon_members(added_version);
	CREATE INDEX memory_canon_members_removed ON memory_canon_members(removed_version) WHERE removed_version <> 0;`

// openEnd is how the end of an open interval (a claim not yet invalid or
// not yet expired) is stored.
const openEnd = math.MaxInt64

func endNS(t time.Time) int64 {
	if t.IsZero() {
		return openEnd
	}
	return t.UnixNano()
}

func endTime(ns int64) time.Time {
	if ns == openEnd {
		return time.Time{}
	}
	return nsTime(ns)
}

// Search limits: the default and the largest number of hits returned.
const (
	defaultSearchLimit = 10
	maxSearchLimit     = 1000
	maxSearchTerms     = 64
)

// jsonList encodes ids as a JSON array, bound as one parameter and expanded
// with json_each: no placeholder lists, no limit on their number.
func jsonList(vals []string) string {
	b, _ := json.Marshal(vals)
	return string(b)
}

// ftsPhrases turns terms into FTS5 phrases. Each term becomes a quoted
// string (double quotes doubled), so nothing a user typed can be FTS5
// syntax: operators, column filters, parentheses and NEAR are all just text
// inside quotes. A trailing "*" on a term, outside the quotes, asks for a
// prefix match. Terms that would be empty are dropped, and at most
// maxSearchTerms are kept.
func ftsPhrases(terms []string) []string {
	var out []string
	for _, t := range terms {
		prefix := strings.HasSuffix(t, "*")
		t = strings.TrimRight(t, "*")
		t = strings.ToValidUTF8(t, "")
		t = strings.ReplaceAll(t, "\x00", "")
		if strings.TrimSpace(t) == "" {
			continue
		}
		if len(out) == maxSearchTerms {
			break
		}
		p := `"` + strings.ReplaceAll(t, `"`, `""`) + `"`
		if prefix {
			p += "*"
		}
		out = append(out, p)
	}
	return out
}

// rankBudget bounds the rows one search scores with bm25. Scoring is the
// cost of a search (a docsize lookup and a position-list decode per row,
// and a walk of each term's whole posting list for its IDF), and a word
// found in a fifth of 100k claims would otherwise mean 20k scores for every
// search that contains it.
const rankBudget = 1000

// ftsStage is one query of a search: a MATCH expression and how its
// matches are ordered.
type ftsStage struct {
	match  string
	byRank bool // bm25; otherwise newest first
}

// planSearch splits a search into stages within the rank budget. It counts,
// up to the budget, the rows each phrase matches; the rarest phrases that
// together match at most rankBudget rows are ranked by bm25 (so a search
// whose phrases all fit is an exact BM25 ranking). The other, common
// phrases then add their newest matches: first those matching all of them,
// then those matching any. The bm25 stage scores at most the budget; the
// others read matches newest first and stop at the limit, or, under a
// selective filter, walk the filter's index and test each claim against
// the matches.
func (t *readTx) planSearch(ctx context.Context, table string, terms []string) ([]ftsStage, error) {
	phrases := ftsPhrases(terms)
	if len(phrases) == 0 {
		return nil, nil
	}
	type counted struct {
		phrase string
		n      int
	}
	// One statement counts every phrase, each count stopping past the
	// budget.
	cs := make([]counted, len(phrases))
	var q strings.Builder
	args := make([]any, 0, 2*len(phrases))
	dest := make([]any, len(phrases))
	q.WriteString(`SELECT `)
	for i, p := range phrases {
		if i > 0 {
			q.WriteString(`, `)
		}
		q.WriteString(`(SELECT count(*) FROM (SELECT 1 FROM ` + table + ` WHERE ` + table + ` MATCH ? LIMIT ?))`)
		args = append(args, p, rankBudget+1)
		cs[i].phrase = p
		dest[i] = &cs[i].n
	}
	if err := t.q.QueryRowContext(ctx, q.String(), args...).Scan(dest...); err != nil {
		return nil, err
	}
	slices.SortStableFunc(cs, func(a, b counted) int { return a.n - b.n })
	var ranked, rest []string
	total := 0
	for _, c := range cs {
		if c.n == 0 {
			continue
		}
		if len(rest) == 0 && total+c.n <= rankBudget {
			ranked = append(ranked, c.phrase)
			total += c.n
		} else {
			rest = append(rest, c.phrase)
		}
	}
	var stages []ftsStage
	if len(ranked) > 0 {
		stages = append(stages, ftsStage{match: strings.Join(ranked, " OR "), byRank: true})
	}
	if len(rest) > 1 {
		stages = append(stages, ftsStage{match: strings.Join(rest, " AND ")})
	}
	if len(rest) > 0 {
		stages = append(stages, ftsStage{match: strings.Join(rest, " OR ")})
	}
	return stages, nil
}

// ftsOrder is the ORDER BY of a stage on table.
func ftsOrder(table string, s ftsStage) string {
	if s.byRank {
		return ` ORDER BY ` + table + `.rank`
	}
	return ` ORDER BY ` + table + `.rowid DESC`
}

// ftsScore is the score column of a stage: bm25 negated (higher is
// better), or 0 for matches ordered newest first.
func ftsScore(table string, s ftsStage) string {
	if s.byRank {
		return `-` + table + `.rank`
	}
	return `0.0`
}

func searchLimit(n int) int {
	if n <= 0 {
		return defaultSearchLimit
	}
	return min(n, maxSearchLimit)
}

// --- evidence ---

const evidenceColumns = `e.seq, e.id, e.kind, e.media_type, e.source, e.actor, e.observed_ns, e.created_ns, e.size, e.text, e.ledger_index,
	r.evidence_id, r.actor, r.reason, r.at_ns, r.ledger_index`

const evidenceFrom = ` FROM memory_evidence e LEFT JOIN memory_redactions r ON r.evidence_id = e.id`

func scanEvidence(row scanner, content bool, extra ...any) (store.Evidence, error) {
	var (
		e                         store.Evidence
		observed, created, ledger int64
		text                      bool
		rID, rActor, rReason      sql.NullString
		rAt, rLedger              sql.NullInt64
		data                      []byte
	)
	dest := []any{&e.Seq, &e.ID, &e.Kind, &e.MediaType, &e.Source, &e.Actor, &observed, &created, &e.Size, &text, &ledger,
		&rID, &rActor, &rReason, &rAt, &rLedger}
	if content {
		dest = append(dest, &data)
	}
	dest = append(dest, extra...)
	if err := row.Scan(dest...); err != nil {
		return store.Evidence{}, err
	}
	e.ObservedAt, e.Created, e.Text, e.LedgerIndex = nsTime(observed), nsTime(created), text, uint64(ledger)
	if content && data != nil {
		e.Content = data
	}
	if rID.Valid {
		e.Redaction = &store.Redaction{EvidenceID: rID.String, Actor: rActor.String, Reason: rReason.String,
			At: nsTime(rAt.Int64), LedgerIndex: uint64(rLedger.Int64)}
	}
	return e, nil
}

func (t *readTx) Evidence(ctx context.Context, id string) (store.Evidence, error) {
	e, err := scanEvidence(t.q.QueryRowContext(ctx, `SELECT `+evidenceColumns+`, e.content`+evidenceFrom+` WHERE e.id = ?`, id), true)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Evidence{}, fmt.Errorf("evidence %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Evidence{}, fmt.Errorf("store: evidence: %w", err)
	}
	return e, nil
}

func (t *readTx) EvidenceList(ctx context.Context, f store.EvidenceFilter, fn func(store.Evidence) error) error {
	var q strings.Builder
	q.WriteString(`SELECT ` + evidenceColumns)
	if f.Content {
		q.WriteString(`, e.content`)
	}
	q.WriteString(evidenceFrom + ` WHERE e.seq > ?`)
	args := []any{f.AfterSeq}
	if len(f.IDs) > 0 {
		q.WriteString(` AND e.id IN (SELECT value FROM json_each(?))`)
		args = append(args, jsonList(f.IDs))
	}
	if len(f.Kinds) > 0 {
		q.WriteString(` AND e.kind IN (SELECT value FROM json_each(?))`)
		args = append(args, jsonList(f.Kinds))
	}
	q.WriteString(` ORDER BY e.seq`)
	if f.Limit > 0 {
		q.WriteString(` LIMIT ?`)
		args = append(args, f.Limit)
	}
	rows, err := t.q.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return fmt.Errorf("store: evidence list: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEvidence(rows, f.Content)
		if err != nil {
			return fmt.Errorf("store: evidence list: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (t *readTx) SearchEvidence(ctx context.Context, s store.EvidenceSearch) ([]store.EvidenceHit, error) {
	stages, err := t.planSearch(ctx, "memory_evidence_fts", s.Terms)
	if err != nil {
		return nil, fmt.Errorf("store: search evidence: %w", err)
	}
	limit := searchLimit(s.Limit)
	var hits []store.EvidenceHit
	seen := map[string]bool{}
	for _, stage := range stages {
		if len(hits) >= limit {
			break
		}
		more, err := t.rankEvidence(ctx, stage, s.Kinds, limit)
		if err != nil {
			return nil, fmt.Errorf("store: search evidence: %w", err)
		}
		for _, h := range more {
			if !seen[h.Evidence.ID] && len(hits) < limit {
				seen[h.Evidence.ID] = true
				hits = append(hits, h)
			}
		}
	}
	return hits, nil
}

func (t *readTx) rankEvidence(ctx context.Context, stage ftsStage, kinds []string, limit int) ([]store.EvidenceHit, error) {
	const table = "memory_evidence_fts"
	var q strings.Builder
	q.WriteString(`SELECT ` + evidenceColumns + `, e.content, ` + ftsScore(table, stage) + `
		FROM memory_evidence_fts
		JOIN memory_evidence e ON e.seq = memory_evidence_fts.rowid
		LEFT JOIN memory_redactions r ON r.evidence_id = e.id
		WHERE memory_evidence_fts MATCH ? AND e.content IS NOT NULL`)
	args := []any{stage.match}
	if len(kinds) > 0 {
		q.WriteString(` AND e.kind IN (SELECT value FROM json_each(?))`)
		args = append(args, jsonList(kinds))
	}
	q.WriteString(ftsOrder(table, stage) + ` LIMIT ?`)
	args = append(args, limit)
	rows, err := t.q.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.EvidenceHit
	for rows.Next() {
		var h store.EvidenceHit
		if h.Evidence, err = scanEvidence(rows, true, &h.Score); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

func (t *tx) PutEvidence(ctx context.Context, e store.Evidence) error {
	content := e.Content
	if content == nil {
		content = []byte{}
	}
	_, err := t.sqlTx.ExecContext(ctx, `INSERT INTO memory_evidence(id, kind, media_type, source, actor, observed_ns, created_ns,
		size, content, text, ledger_index) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
		e.ID, e.Kind, e.MediaType, e.Source, e.Actor, timeNS(e.ObservedAt), timeNS(e.Created),
		e.Size, content, e.Text, int64(e.LedgerIndex))
	if err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("%w: evidence %s already exists", store.ErrConflict, e.ID)
		}
		return fmt.Errorf("store: put evidence: %w", err)
	}
	return nil
}

func (t *tx) Redact(ctx context.Context, r store.Redaction) error {
	var redacted bool
	err := t.sqlTx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM memory_redactions WHERE evidence_id = e.id)
		FROM memory_evidence e WHERE e.id = ?`, r.EvidenceID).Scan(&redacted)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("evidence %s: %w", r.EvidenceID, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: redact: %w", err)
	}
	if redacted {
		return fmt.Errorf("%w: evidence %s is already redacted", store.ErrConflict, r.EvidenceID)
	}
	// Freed pages (the content's overflow pages, the index's old pages) are
	// zeroed only with secure_delete on; it is restored afterwards so that
	// other writes on this connection keep their usual cost.
	var was int
	if err := t.sqlTx.QueryRowContext(ctx, `PRAGMA secure_delete`).Scan(&was); err != nil {
		return fmt.Errorf("store: redact: %w", err)
	}
	if _, err := t.sqlTx.ExecContext(ctx, `PRAGMA secure_delete = 1`); err != nil {
		return fmt.Errorf("store: redact: %w", err)
	}
	_, err = t.sqlTx.ExecContext(ctx, `UPDATE memory_evidence SET content = NULL WHERE id = ?`, r.EvidenceID)
	if _, rerr := t.sqlTx.ExecContext(ctx, fmt.Sprintf(`PRAGMA secure_delete = %d`, was)); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("store: redact: %w", err)
	}
	_, err = t.sqlTx.ExecContext(ctx, `INSERT INTO memory_redactions(evidence_id, actor, reason, at_ns, ledger_index) VALUES (?,?,?,?,?)`,
		r.EvidenceID, r.Actor, r.Reason, timeNS(r.At), int64(r.LedgerIndex))
	if err != nil {
		return fmt.Errorf("store: redact: %w", err)
	}
	return nil
}

// --- claims ---

const claimColumns = `c.seq, c.id, c.statement, c.normalized, c.subject, c.kind, c.confidence, c.status, c.content_hash,
	c.valid_ns, c.invalid_ns, c.created_ns, c.expired_ns, c.actor, c.contradicted_by`

func scanClaim(row scanner, extra ...any) (store.Claim, error) {
	var (
		c                                store.Claim
		valid, invalid, created, expired int64
	)
	dest := append([]any{&c.Seq, &c.ID, &c.Statement, &c.Normalized, &c.Subject, &c.Kind, &c.Confidence, &c.Status, &c.ContentHash,
		&valid, &invalid, &created, &expired, &c.Actor, &c.ContradictedBy}, extra...)
	if err := row.Scan(dest...); err != nil {
		return store.Claim{}, err
	}
	c.ValidAt, c.CreatedAt = nsTime(valid), nsTime(created)
	c.InvalidAt, c.ExpiredAt = endTime(invalid), endTime(expired)
	return c, nil
}

// claimWhere appends the conditions of f on the claims aliased c.
func claimWhere(q *strings.Builder, args []any, f store.ClaimFilter) []any {
	if len(f.IDs) > 0 {
		q.WriteString(` AND c.id IN (SELECT value FROM json_each(?))`)
		args = append(args, jsonList(f.IDs))
	}
	if len(f.Statuses) > 0 {
		q.WriteString(` AND c.status IN (SELECT value FROM json_each(?))`)
		args = append(args, jsonList(f.Statuses))
	}
	if len(f.Kinds) > 0 {
		q.WriteString(` AND c.kind IN (SELECT value FROM json_each(?))`)
		args = append(args, jsonList(f.Kinds))
	}
	if f.Subject != "" {
		q.WriteString(` AND c.subject = ?`)
		args = append(args, f.Subject)
	}
	if f.Normalized != "" {
		q.WriteString(` AND c.normalized = ?`)
		args = append(args, f.Normalized)
	}
	if f.EvidenceID != "" {
		q.WriteString(` AND c.id IN (SELECT claim_id FROM memory_claim_spans WHERE evidence_id = ?)`)
		args = append(args, f.EvidenceID)
	}
	if !f.BelievedAt.IsZero() {
		t := f.BelievedAt.UnixNano()
		q.WriteString(` AND c.created_ns <= ? AND c.expired_ns > ?`)
		args = append(args, t, t)
	}
	if !f.TrueAt.IsZero() {
		t := f.TrueAt.UnixNano()
		q.WriteString(` AND c.valid_ns <= ? AND c.invalid_ns > ?`)
		args = append(args, t, t)
	}
	return args
}

func (t *readTx) Claim(ctx context.Context, id string) (store.Claim, error) {
	c, err := scanClaim(t.q.QueryRowContext(ctx, `SELECT `+claimColumns+` FROM memory_claims c WHERE c.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Claim{}, fmt.Errorf("claim %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Claim{}, fmt.Errorf("store: claim: %w", err)
	}
	cs := []store.Claim{c}
	if err := t.loadSpans(ctx, cs); err != nil {
		return store.Claim{}, err
	}
	return cs[0], nil
}

func (t *readTx) Claims(ctx context.Context, f store.ClaimFilter) ([]store.Claim, error) {
	var q strings.Builder
	q.WriteString(`SELECT ` + claimColumns + ` FROM memory_claims c WHERE c.seq > ?`)
	args := claimWhere(&q, []any{f.AfterSeq}, f)
	q.WriteString(` ORDER BY c.seq`)
	if f.Limit > 0 {
		q.WriteString(` LIMIT ?`)
		args = append(args, f.Limit)
	}
	cs, err := t.queryClaims(ctx, q.String(), args)
	if err != nil {
		return nil, fmt.Errorf("store: claims: %w", err)
	}
	if err := t.loadSpans(ctx, cs); err != nil {
		return nil, err
	}
	return cs, nil
}

func (t *readTx) queryClaims(ctx context.Context, query string, args []any) ([]store.Claim, error) {
	rows, err := t.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Claim
	for rows.Next() {
		c, err := scanClaim(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// loadSpans fills the provenance of cs with one query.
func (t *readTx) loadSpans(ctx context.Context, cs []store.Claim) error {
	if len(cs) == 0 {
		return nil
	}
	byID := make(map[string]int, len(cs))
	ids := make([]string, len(cs))
	for i, c := range cs {
		byID[c.ID] = i
		ids[i] = c.ID
	}
	query := `SELECT claim_id, evidence_id, span_start, span_end, actor, added_ns FROM memory_claim_spans
		WHERE claim_id IN (SELECT value FROM json_each(?)) ORDER BY claim_id, added_ns, evidence_id, span_start, span_end`
	var arg any = jsonList(ids)
	if len(cs) > 10000 {
		// Reading the whole table beats a huge IN list.
		query = `SELECT claim_id, evidence_id, span_start, span_end, actor, added_ns FROM memory_claim_spans
			ORDER BY claim_id, added_ns, evidence_id, span_start, span_end`
		arg = nil
	}
	var args []any
	if arg != nil {
		args = append(args, arg)
	}
	rows, err := t.q.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("store: claim spans: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			claimID string
			s       store.Span
			added   int64
		)
		if err := rows.Scan(&claimID, &s.EvidenceID, &s.Start, &s.End, &s.Actor, &added); err != nil {
			return fmt.Errorf("store: claim spans: %w", err)
		}
		i, ok := byID[claimID]
		if !ok {
			continue
		}
		s.Added = nsTime(added)
		cs[i].Provenance = append(cs[i].Provenance, s)
	}
	return rows.Err()
}

// SearchClaims ranks with FTS5 bm25 within a rank budget (see
// planSearch): exactly when the query's terms match at most rankBudget
// claims in all; beyond, the claims matching its rarer terms come first,
// ranked by bm25 over those terms, then the newest claims matching all,
// then any, of its common terms, scored 0 ("newest" by CreatedAt under a
// BelievedAt filter, by ValidAt under a TrueAt filter, otherwise by Seq).
func (t *readTx) SearchClaims(ctx context.Context, s store.ClaimSearch) ([]store.ClaimHit, error) {
	const table = "memory_claims_fts"
	limit := searchLimit(s.Limit)
	var hits []store.ClaimHit
	if len(s.Terms) == 0 {
		var q strings.Builder
		q.WriteString(`SELECT ` + claimColumns + `, 0.0 FROM memory_claims c WHERE 1`)
		args := claimWhere(&q, nil, s.Filter)
		q.WriteString(` ORDER BY c.seq DESC LIMIT ?`)
		var err error
		if hits, err = t.queryClaimHits(ctx, q.String(), append(args, limit)); err != nil {
			return nil, fmt.Errorf("store: search claims: %w", err)
		}
	} else {
		stages, err := t.planSearch(ctx, table, s.Terms)
		if err != nil {
			return nil, fmt.Errorf("store: search claims: %w", err)
		}
		seen := map[string]bool{}
		for _, stage := range stages {
			if len(hits) >= limit {
				break
			}
			var q strings.Builder
			var args []any
			if index, order := recencyIndex(s.Filter); !stage.byRank && index != "" {
				// A selective filter: walk its index newest first and test
				// each claim against the matches, rather than join every
				// match of a common word only to filter most of them out.
				q.WriteString(`SELECT ` + claimColumns + `, 0.0 FROM memory_claims c INDEXED BY ` + index + `
					WHERE c.seq IN (SELECT rowid FROM memory_claims_fts WHERE memory_claims_fts MATCH ?)`)
				args = claimWhere(&q, []any{stage.match}, s.Filter)
				q.WriteString(` ORDER BY ` + order + ` LIMIT ?`)
			} else {
				// The FTS table drives the query in stage order and each
				// match is joined by rowid and filtered, so the query stops
				// as soon as limit claims pass the filter.
				q.WriteString(`SELECT ` + claimColumns + `, ` + ftsScore(table, stage) + ` FROM memory_claims_fts
					JOIN memory_claims c ON c.seq = memory_claims_fts.rowid
					WHERE memory_claims_fts MATCH ?`)
				args = claimWhere(&q, []any{stage.match}, s.Filter)
				q.WriteString(ftsOrder(table, stage) + ` LIMIT ?`)
			}
			more, err := t.queryClaimHits(ctx, q.String(), append(args, limit))
			if err != nil {
				return nil, fmt.Errorf("store: search claims: %w", err)
			}
			for _, h := range more {
				if !seen[h.Claim.ID] && len(hits) < limit {
					seen[h.Claim.ID] = true
					hits = append(hits, h)
				}
			}
		}
	}
	cs := make([]store.Claim, len(hits))
	for i, h := range hits {
		cs[i] = h.Claim
	}
	if err := t.loadSpans(ctx, cs); err != nil {
		return nil, err
	}
	for i := range hits {
		hits[i].Claim = cs[i]
	}
	return hits, nil
}

// recencyIndex returns the index that serves a selective filter newest
// first, and the order it gives, or "" when the filter keeps most claims.
func recencyIndex(f store.ClaimFilter) (index, order string) {
	switch {
	case !f.BelievedAt.IsZero():
		return "memory_claims_believed", "c.created_ns DESC"
	case !f.TrueAt.IsZero():
		return "memory_claims_valid", "c.valid_ns DESC"
	case f.Subject != "":
		return "memory_claims_subject", "c.seq DESC"
	}
	return "", ""
}

func (t *readTx) queryClaimHits(ctx context.Context, query string, args []any) ([]store.ClaimHit, error) {
	rows, err := t.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var hits []store.ClaimHit
	for rows.Next() {
		var h store.ClaimHit
		if h.Claim, err = scanClaim(rows, &h.Score); err != nil {
			return nil, err
		}
		hits = append(hits, h)
	}
	return hits, rows.Err()
}

func (t *tx) PutClaim(ctx context.Context, c store.Claim) error {
	_, err := t.sqlTx.ExecContext(ctx, `INSERT INTO memory_claims(id, statement, normalized, subject, kind, confidence, status,
		content_hash, valid_ns, invalid_ns, created_ns, expired_ns, actor, contradicted_by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		c.ID, c.Statement, c.Normalized, c.Subject, c.Kind, c.Confidence, c.Status, c.ContentHash,
		timeNS(c.ValidAt), endNS(c.InvalidAt), timeNS(c.CreatedAt), endNS(c.ExpiredAt), c.Actor, c.ContradictedBy)
	if err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("%w: claim %s already exists", store.ErrConflict, c.ID)
		}
		return fmt.Errorf("store: put claim: %w", err)
	}
	return t.putSpans(ctx, c.ID, c.Provenance)
}

func (t *tx) putSpans(ctx context.Context, claimID string, spans []store.Span) error {
	for _, s := range spans {
		_, err := t.sqlTx.ExecContext(ctx, `INSERT INTO memory_claim_spans(claim_id, evidence_id, span_start, span_end, actor, added_ns)
			VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING`, claimID, s.EvidenceID, s.Start, s.End, s.Actor, timeNS(s.Added))
		if err != nil {
			return fmt.Errorf("store: put claim span: %w", err)
		}
	}
	return nil
}

func (t *tx) UpdateClaim(ctx context.Context, c store.Claim) error {
	res, err := t.sqlTx.ExecContext(ctx, `UPDATE memory_claims SET confidence = ?, status = ?, invalid_ns = ?, expired_ns = ?,
		contradicted_by = ? WHERE id = ?`, c.Confidence, c.Status, endNS(c.InvalidAt), endNS(c.ExpiredAt), c.ContradictedBy, c.ID)
	if err != nil {
		return fmt.Errorf("store: update claim: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("claim %s: %w", c.ID, store.ErrNotFound)
	}
	return t.putSpans(ctx, c.ID, c.Provenance)
}

// --- claim events ---

// spanJSON is how the spans of a claim event are stored.
type spanJSON struct {
	EvidenceID string `json:"evidence_id"`
	Start      int64  `json:"start"`
	End        int64  `json:"end"`
	Actor      string `json:"actor,omitempty"`
	AddedNS    int64  `json:"added_ns,omitempty"`
}

func (t *readTx) ClaimEvents(ctx context.Context, claimID string) ([]store.ClaimEvent, error) {
	query := `SELECT seq, claim_id, kind, actor, at_ns, reason, related, spans, canon_version, ledger_index FROM memory_claim_events`
	var args []any
	if claimID != "" {
		query += ` WHERE claim_id = ?`
		args = append(args, claimID)
	}
	rows, err := t.q.QueryContext(ctx, query+` ORDER BY seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: claim events: %w", err)
	}
	defer rows.Close()
	var out []store.ClaimEvent
	for rows.Next() {
		var (
			e          store.ClaimEvent
			at, ledger int64
			spans      string
		)
		if err := rows.Scan(&e.Seq, &e.ClaimID, &e.Kind, &e.Actor, &at, &e.Reason, &e.Related, &spans, &e.CanonVersion, &ledger); err != nil {
			return nil, fmt.Errorf("store: claim events: %w", err)
		}
		var ss []spanJSON
		if err := json.Unmarshal([]byte(spans), &ss); err != nil {
			return nil, fmt.Errorf("store: claim event %d spans: %w", e.Seq, err)
		}
		for _, s := range ss {
			e.Spans = append(e.Spans, store.Span{EvidenceID: s.EvidenceID, Start: s.Start, End: s.End, Actor: s.Actor, Added: nsTime(s.AddedNS)})
		}
		e.At, e.LedgerIndex = nsTime(at), uint64(ledger)
		out = append(out, e)
	}
	return out, rows.Err()
}

func (t *tx) PutClaimEvent(ctx context.Context, e store.ClaimEvent) error {
	ss := make([]spanJSON, len(e.Spans))
	for i, s := range e.Spans {
		ss[i] = spanJSON{EvidenceID: s.EvidenceID, Start: s.Start, End: s.End, Actor: s.Actor, AddedNS: timeNS(s.Added)}
	}
	spans, err := json.Marshal(ss)
	if err != nil {
		return err
	}
	_, err = t.sqlTx.ExecContext(ctx, `INSERT INTO memory_claim_events(claim_id, kind, actor, at_ns, reason, related, spans, canon_version, ledger_index)
		VALUES (?,?,?,?,?,?,?,?,?)`, e.ClaimID, e.Kind, e.Actor, timeNS(e.At), e.Reason, e.Related, string(spans), e.CanonVersion, int64(e.LedgerIndex))
	if err != nil {
		return fmt.Errorf("store: put claim event: %w", err)
	}
	return nil
}

// --- embeddings ---

// encodeVector stores a vector as float32 little-endian.
func encodeVector(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

func (t *readTx) ClaimEmbeddings(ctx context.Context, afterSeq int64, fn func(store.ClaimEmbedding) error) error {
	rows, err := t.q.QueryContext(ctx, `SELECT seq, claim_id, vector FROM memory_claim_embeddings WHERE seq > ? ORDER BY seq`, afterSeq)
	if err != nil {
		return fmt.Errorf("store: claim embeddings: %w", err)
	}
	defer rows.Close()
	var (
		e   store.ClaimEmbedding
		raw sql.RawBytes
		vec []float32
	)
	for rows.Next() {
		if err := rows.Scan(&e.Seq, &e.ClaimID, &raw); err != nil {
			return fmt.Errorf("store: claim embeddings: %w", err)
		}
		if len(raw)%4 != 0 {
			return fmt.Errorf("store: claim embedding of %s is %d bytes, not whole float32s", e.ClaimID, len(raw))
		}
		vec = vec[:0]
		for i := 0; i+4 <= len(raw); i += 4 {
			vec = append(vec, math.Float32frombits(binary.LittleEndian.Uint32(raw[i:])))
		}
		e.Vector = vec
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (t *tx) PutClaimEmbedding(ctx context.Context, claimID string, vector []float32) error {
	_, err := t.sqlTx.ExecContext(ctx, `INSERT OR REPLACE INTO memory_claim_embeddings(claim_id, vector) VALUES (?, ?)`, claimID, encodeVector(vector))
	if err != nil {
		return fmt.Errorf("store: put claim embedding: %w", err)
	}
	return nil
}

// --- canon ---

func (t *readTx) ids(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := t.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func scanCanonVersion(row scanner) (store.CanonVersion, error) {
	var (
		v               store.CanonVersion
		created, ledger int64
	)
	if err := row.Scan(&v.Version, &v.Hash, &v.Count, &v.Actor, &created, &ledger); err != nil {
		return store.CanonVersion{}, err
	}
	v.Created, v.LedgerIndex = nsTime(created), uint64(ledger)
	return v, nil
}

const canonVersionColumns = `version, hash, count, actor, created_ns, ledger_index`

func (t *readTx) CanonVersion(ctx context.Context, version int64) (store.CanonVersion, error) {
	query, args := `SELECT `+canonVersionColumns+` FROM memory_canon_versions WHERE version = ?`, []any{version}
	if version == 0 {
		query, args = `SELECT `+canonVersionColumns+` FROM memory_canon_versions ORDER BY version DESC LIMIT 1`, nil
	}
	v, err := scanCanonVersion(t.q.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return store.CanonVersion{}, fmt.Errorf("canon version %d: %w", version, store.ErrNotFound)
	}
	if err != nil {
		return store.CanonVersion{}, fmt.Errorf("store: canon version: %w", err)
	}
	if v.Added, err = t.ids(ctx, `SELECT claim_id FROM memory_canon_members WHERE added_version = ? ORDER BY claim_id`, v.Version); err != nil {
		return store.CanonVersion{}, fmt.Errorf("store: canon version: %w", err)
	}
	if v.Removed, err = t.ids(ctx, `SELECT claim_id FROM memory_canon_members WHERE removed_version = ? ORDER BY claim_id`, v.Version); err != nil {
		return store.CanonVersion{}, fmt.Errorf("store: canon version: %w", err)
	}
	return v, nil
}

func (t *readTx) CanonMembers(ctx context.Context, version int64) ([]string, error) {
	ids, err := t.ids(ctx, `SELECT claim_id FROM memory_canon_members
		WHERE added_version <= ? AND (removed_version = 0 OR removed_version > ?) ORDER BY claim_id`, version, version)
	if err != nil {
		return nil, fmt.Errorf("store: canon members: %w", err)
	}
	return ids, nil
}

func (t *readTx) CanonVersions(ctx context.Context, fn func(store.CanonVersion) error) error {
	added := map[int64][]string{}
	removed := map[int64][]string{}
	rows, err := t.q.QueryContext(ctx, `SELECT claim_id, added_version, removed_version FROM memory_canon_members ORDER BY claim_id`)
	if err != nil {
		return fmt.Errorf("store: canon versions: %w", err)
	}
	for rows.Next() {
		var (
			id     string
			av, rv int64
		)
		if err := rows.Scan(&id, &av, &rv); err != nil {
			rows.Close()
			return fmt.Errorf("store: canon versions: %w", err)
		}
		added[av] = append(added[av], id)
		if rv != 0 {
			removed[rv] = append(removed[rv], id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: canon versions: %w", err)
	}
	rows, err = t.q.QueryContext(ctx, `SELECT `+canonVersionColumns+` FROM memory_canon_versions ORDER BY version`)
	if err != nil {
		return fmt.Errorf("store: canon versions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scanCanonVersion(rows)
		if err != nil {
			return fmt.Errorf("store: canon versions: %w", err)
		}
		v.Added, v.Removed = added[v.Version], removed[v.Version]
		if err := fn(v); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (t *tx) PutCanonVersion(ctx context.Context, v store.CanonVersion) error {
	var latest int64
	if err := t.sqlTx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM memory_canon_versions`).Scan(&latest); err != nil {
		return fmt.Errorf("store: put canon version: %w", err)
	}
	if v.Version != latest+1 {
		return fmt.Errorf("%w: canon version %d does not follow the latest, %d", store.ErrConflict, v.Version, latest)
	}
	_, err := t.sqlTx.ExecContext(ctx, `INSERT INTO memory_canon_versions(`+canonVersionColumns+`) VALUES (?,?,?,?,?,?)`,
		v.Version, v.Hash, v.Count, v.Actor, timeNS(v.Created), int64(v.LedgerIndex))
	if err != nil {
		return fmt.Errorf("store: put canon version: %w", err)
	}
	for _, id := range v.Added {
		if _, err := t.sqlTx.ExecContext(ctx, `INSERT INTO memory_canon_members(claim_id, added_version) VALUES (?, ?)`, id, v.Version); err != nil {
			if isUniqueViolation(err) {
				return fmt.Errorf("%w: claim %s has already been in the canon", store.ErrConflict, id)
			}
			return fmt.Errorf("store: put canon version: %w", err)
		}
	}
	for _, id := range v.Removed {
		res, err := t.sqlTx.ExecContext(ctx, `UPDATE memory_canon_members SET removed_version = ? WHERE claim_id = ? AND removed_version = 0`, v.Version, id)
		if err != nil {
			return fmt.Errorf("store: put canon version: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: claim %s is not in the canon", store.ErrConflict, id)
		}
	}
	return nil
}
