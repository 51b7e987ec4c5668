package memory

import (
	"context"
	"strings"
	"testing"
	"time"
)

// verifyFixture builds a small memory with evidence, claims, a redaction,
// a demotion and three canon versions, and checks that it verifies.
func verifyFixture(t *testing.T) (*fixture, map[string]string) {
	t.Helper()
	f := newFixture(t, Options{})
	ctx := context.Background()
	e1 := f.evidence(t, "I work at Acme as a site reliability engineer.", time.Time{})
	e2 := f.evidence(t, "Acme SRE here, on call this week.", time.Time{})
	e3 := f.evidence(t, "I prefer dark roast coffee.", time.Time{})
	e4 := f.evidence(t, "call me at 555-0100", time.Time{})
	job := f.claim(t, NewClaim{Statement: "The user works at Acme", Kind: KindIdentity, Spans: []Span{{e1.ID, 0, 14}, {e2.ID, 0, 4}}})
	coffee := f.claim(t, NewClaim{Statement: "The user prefers dark roast", Kind: KindPreference, Spans: whole(e3)})
	if _, err := f.m.Promote(ctx, coffee.Claim.ID, "lease/lse_root", "asked"); err != nil {
		t.Fatal(err)
	}
	f.clk.advance(time.Hour)
	tea := f.claim(t, NewClaim{Statement: "The user prefers tea", Kind: KindPreference, Spans: whole(e4), Contradicts: []string{coffee.Claim.ID}})
	if _, err := f.m.Redact(ctx, e4.ID, "lease/lse_root", "phone number"); err != nil {
		t.Fatal(err)
	}
	rep, err := f.m.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("a clean memory does not verify: %v", rep.Problems)
	}
	if rep.Evidence != 4 || rep.Redacted != 1 || rep.Claims != 3 || rep.CanonVersions != 3 || rep.LedgerEntries == 0 {
		t.Fatalf("report = %+v", rep)
	}
	return f, map[string]string{"e1": e1.ID, "e3": e3.ID, "job": job.Claim.ID, "coffee": coffee.Claim.ID, "tea": tea.Claim.ID}
}

func TestVerifyNamesTamperedRows(t *testing.T) {
	for _, tt := range []struct {
		name    string
		tamper  func(f *fixture, id map[string]string)
		table   string
		id      string // key into the ids, or a literal
		problem string
	}{
		{
			name: "evidence content rewritten",
			tamper: func(f *fixture, id map[string]string) {
				f.tamper(t, `UPDATE memory_evidence SET content = CAST('I work at Evil Corp as a site reliability engineer.' AS BLOB) WHERE id = ?`, id["e1"])
			},
			table: tableEvidence, id: "e1", problem: "does not hash to the evidence id",
		},
		{
			name: "a claim's statement rewritten",
			tamper: func(f *fixture, id map[string]string) {
				f.tamper(t, `UPDATE memory_claims SET statement = 'The user works at Evil Corp' WHERE id = ?`, id["job"])
			},
			table: tableClaims, id: "job", problem: "does not match the hash recorded in ledger entry",
		},
		{
			name: "a claim's statement and stored hash rewritten together",
			tamper: func(f *fixture, id map[string]string) {
				f.tamper(t, `UPDATE memory_claims SET statement = 'X', normalized = 'x', content_hash = ? WHERE id = ?`,
					ClaimHash("X", "", KindIdentity), id["job"])
			},
			table: tableClaims, id: "job", problem: "does not match the hash recorded in ledger entry",
		},
		{
			name: "a claim's provenance pointed at other evidence",
			tamper: func(f *fixture, id map[string]string) {
				f.tamper(t, `UPDATE memory_claim_spans SET evidence_id = ? WHERE claim_id = ? AND evidence_id = ?`, id["e3"], id["job"], id["e1"])
			},
			table: tableSpans, id: "job", problem: "was never recorded in the ledger",
		},
		{
			name: "a claim's span stretched past its evidence",
			tamper: func(f *fixture, id map[string]string) {
				f.tamper(t, `UPDATE memory_claim_spans SET span_end = 5000 WHERE claim_id = ? AND evidence_id = ?`, id["job"], id["e1"])
			},
			table: tableSpans, id: "job", problem: "is outside evidence",
		},
		{
			name: "a claim's span deleted",
			tamper: func(f *fixture, id map[string]string) {
				f.tamper(t, `DELETE FROM memory_claim_spans WHERE claim_id = ? AND evidence_id = ?`, id["job"], id["e1"])
			},
			table: tableSpans, id: "job", problem: "is missing",
		},
		{
			name: "a demoted claim revived",
			tamper: func(f *fixture, id map[string]string) {
				f.tamper(t, `UPDATE memory_claims SET status = 'candidate', expired_ns = 9223372036854775807 WHERE id = ?`, id["coffee"])
			},
			table: tableClaims, id: "coffee", problem: "status candidate, recorded demoted",
		},
		{
			name: "a claim smuggled into the canon",
			tamper: func(f *fixture, id map[string]string) {
				f.tamper(t, `INSERT INTO memory_canon_members(claim_id, added_version) VALUES (?, 2)`, id["tea"])
			},
			table: tableMembers, id: "version 2", problem: "in the store only: ",
		},
		{
			name: "a canon member removed",
			tamper: func(f *fixture, id map[string]string) {
				f.tamper(t, `DELETE FROM memory_canon_members WHERE claim_id = ?`, id["job"])
			},
			table: tableMembers, id: "version 1", problem: "in the ledger only: ",
		},
		{
			name: "a canon version's hash rewritten",
			tamper: func(f *fixture, id map[string]string) {
				f.tamper(t, `UPDATE memory_canon_versions SET hash = 'sha256:00' WHERE version = 3`)
			},
			table: tableVersions, id: "version 3", problem: "stored hash sha256:00 differs",
		},
		{
			name: "a claim deleted",
			tamper: func(f *fixture, id map[string]string) {
				f.tamper(t, `DELETE FROM memory_claims WHERE id = ?`, id["tea"])
			},
			table: tableClaims, id: "tea", problem: "missing from the store",
		},
		{
			name: "a claim inserted without the ledger",
			tamper: func(f *fixture, id map[string]string) {
				f.tamper(t, `INSERT INTO memory_claims(id, statement, normalized, kind, confidence, status, content_hash, valid_ns, invalid_ns,
					created_ns, expired_ns, actor) VALUES ('clm_forged', 'forged', 'forged', 'fact', 1, 'candidate', ?, 0, 9223372036854775807, 0, 9223372036854775807, 'x')`,
					ClaimHash("forged", "", KindFact))
			},
			table: tableClaims, id: "clm_forged", problem: "not recorded in the ledger",
		},
		{
			name: "a redaction record deleted",
			tamper: func(f *fixture, id map[string]string) {
				f.tamper(t, `DELETE FROM memory_redactions`)
			},
			problem: "no redaction record",
		},
		{
			name: "a history event pointed elsewhere",
			tamper: func(f *fixture, id map[string]string) {
				f.tamper(t, `UPDATE memory_claim_events SET ledger_index = 0 WHERE claim_id = ? AND kind = 'created'`, id["job"])
			},
			table: tableEvents, problem: "records no claim change",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, ids := verifyFixture(t)
			tt.tamper(f, ids)
			rep, err := f.m.Verify(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := tt.id
			if v, ok := ids[want]; ok {
				want = v
			}
			for _, p := range rep.Problems {
				if (tt.table == "" || p.Table == tt.table) && (want == "" || p.ID == want) && strings.Contains(p.Problem, tt.problem) {
					return
				}
			}
			t.Errorf("no problem %s %s %q among:\n%s", tt.table, want, tt.problem, problems(rep))
		})
	}
}

func problems(rep Report) string {
	var b strings.Builder
	for _, p := range rep.Problems {
		b.WriteString("  " + p.String() + "\n")
	}
	return b.String()
}

// A canon that does not match itself is not built upon.
func TestNoCanonVersionOnTopOfATamperedCanon(t *testing.T) {
	f, ids := verifyFixture(t)
	ctx := context.Background()
	f.tamper(t, `INSERT INTO memory_canon_members(claim_id, added_version) VALUES (?, 3)`, ids["tea"])
	m2 := New(f.st, f.led, Options{Now: f.clk.now}) // nothing cached
	e := f.evidence(t, "fresh", time.Time{})
	_, err := m2.Promote(ctx, ids["tea"], actor, "")
	wantErr(t, err, ErrCorrupt)
	_, err = m2.AddClaim(ctx, NewClaim{Statement: "fresh fact", Spans: []Span{{e.ID, 0, 5}, {ids["e3"], 0, 5}}, Actor: actor})
	wantErr(t, err, ErrCorrupt)
	// Writes that leave the canon alone go on.
	if _, err := m2.AddClaim(ctx, NewClaim{Statement: "a candidate", Spans: []Span{{e.ID, 0, 5}}, Actor: actor}); err != nil {
		t.Errorf("a candidate claim on a tampered canon: %v", err)
	}
}
