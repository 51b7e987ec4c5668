package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/mirroros/mirror/store"
)

// RunMemory runs the contract suite of the memory plane's methods. open
// must return a new, empty store each call.
func RunMemory(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"evidence round-trips and is stored once", testMemEvidence},
		{"evidence is listed by id, kind and position, with or without content", testMemEvidenceList},
		{"a redaction erases content, keeps the row and leaves search", testMemRedact},
		{"claims round-trip with their provenance", testMemClaims},
		{"an update changes only mutable fields and only adds spans", testMemUpdateClaim},
		{"claims are filtered by status, kind, subject, evidence and time", testMemClaimFilter},
		{"claim search ranks matches and applies filters", testMemSearchClaims},
		{"claim search treats hostile terms as plain words", testMemSearchHostile},
		{"evidence search finds text, never binary or redacted content", testMemSearchEvidence},
		{"claim events are journaled in order", testMemClaimEvents},
		{"embeddings are stored, replaced and read after a position", testMemEmbeddings},
		{"canon versions follow each other and keep their member lists", testMemCanonVersions},
		{"a failed update leaves no memory behind, in tables or indexes", testMemRollback},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := open(t)
			tt.fn(t, st)
		})
	}
}

var memT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func memEvidence(content string, kind string, seq int) store.Evidence {
	sum := sha256.Sum256([]byte(content))
	return store.Evidence{
		ID: "sha256:" + hex.EncodeToString(sum[:]), Kind: kind, MediaType: "text/plain", Source: "chat/" + fmt.Sprint(seq),
		Actor: "lease/lse_a", ObservedAt: memT0.Add(time.Duration(seq) * time.Minute), Created: memT0.Add(time.Hour),
		Size: int64(len(content)), Content: []byte(content), Text: true, LedgerIndex: uint64(seq),
	}
}

func memClaim(id, statement string, ev store.Evidence, created time.Time) store.Claim {
	return store.Claim{
		ID: id, Statement: statement, Normalized: statement, Subject: "user", Kind: "fact", Confidence: 0.75,
		Status: store.ClaimCandidate, ContentHash: "sha256:" + id, ValidAt: created.Add(-time.Hour), CreatedAt: created,
		Actor:      "lease/lse_a",
		Provenance: []store.Span{{EvidenceID: ev.ID, Start: 0, End: int64(min(5, len(ev.Content))), Actor: "lease/lse_a", Added: created}},
	}
}

func memUpdate(t *testing.T, st store.Store, fn func(ctx context.Context, tx store.Tx) error) {
	t.Helper()
	ctx := context.Background()
	if err := st.Update(ctx, func(tx store.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
}

func memView(t *testing.T, st store.Store, fn func(ctx context.Context, tx store.ReadTx) error) {
	t.Helper()
	ctx := context.Background()
	if err := st.View(ctx, func(tx store.ReadTx) error { return fn(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
}

func memPutEvidence(t *testing.T, st store.Store, es ...store.Evidence) {
	t.Helper()
	memUpdate(t, st, func(ctx context.Context, tx store.Tx) error {
		for _, e := range es {
			if err := tx.PutEvidence(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

func memPutClaims(t *testing.T, st store.Store, cs ...store.Claim) {
	t.Helper()
	memUpdate(t, st, func(ctx context.Context, tx store.Tx) error {
		for _, c := range cs {
			if err := tx.PutClaim(ctx, c); err != nil {
				return err
			}
		}
		return nil
	})
}

func memIDs[T any](xs []T, id func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = id(x)
	}
	return out
}

func memClaimID(c store.Claim) string { return c.ID }

func testMemEvidence(t *testing.T, st store.Store) {
	e := memEvidence("the user lives in Berlin", "turn", 1)
	memPutEvidence(t, st, e)
	err := st.Update(context.Background(), func(tx store.Tx) error { return tx.PutEvidence(context.Background(), e) })
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second put: %v, want ErrConflict", err)
	}
	memView(t, st, func(ctx context.Context, tx store.ReadTx) error {
		got, err := tx.Evidence(ctx, e.ID)
		if err != nil {
			return err
		}
		if got.Seq == 0 {
			t.Error("no Seq assigned")
		}
		got.Seq = 0
		if !reflect.DeepEqual(got, e) {
			t.Errorf("evidence =\n%+v, want\n%+v", got, e)
		}
		if _, err := tx.Evidence(ctx, "sha256:missing"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing evidence: %v, want ErrNotFound", err)
		}
		return nil
	})
}

func testMemEvidenceList(t *testing.T, st store.Store) {
	a, b, c := memEvidence("alpha", "text", 1), memEvidence("beta", "file", 2), memEvidence("gamma", "text", 3)
	memPutEvidence(t, st, a, b, c)
	list := func(f store.EvidenceFilter) []store.Evidence {
		var out []store.Evidence
		memView(t, st, func(ctx context.Context, tx store.ReadTx) error {
			return tx.EvidenceList(ctx, f, func(e store.Evidence) error {
				out = append(out, e)
				return nil
			})
		})
		return out
	}
	eid := func(e store.Evidence) string { return e.ID }
	all := list(store.EvidenceFilter{})
	if got := memIDs(all, eid); !slices.Equal(got, []string{a.ID, b.ID, c.ID}) {
		t.Fatalf("all = %v", got)
	}
	if all[0].Content != nil {
		t.Error("content loaded without being asked for")
	}
	if got := list(store.EvidenceFilter{Content: true})[1].Content; string(got) != "beta" {
		t.Errorf("content = %q", got)
	}
	if got := memIDs(list(store.EvidenceFilter{Kinds: []string{"text"}}), eid); !slices.Equal(got, []string{a.ID, c.ID}) {
		t.Errorf("kind text = %v", got)
	}
	if got := memIDs(list(store.EvidenceFilter{IDs: []string{c.ID, b.ID}}), eid); !slices.Equal(got, []string{b.ID, c.ID}) {
		t.Errorf("by ids = %v", got)
	}
	if got := memIDs(list(store.EvidenceFilter{AfterSeq: all[0].Seq, Limit: 1}), eid); !slices.Equal(got, []string{b.ID}) {
		t.Errorf("after first, limit 1 = %v", got)
	}
}

func testMemRedact(t *testing.T, st store.Store) {
	e := memEvidence("my passport number is X123", "turn", 1)
	memPutEvidence(t, st, e)
	r := store.Redaction{EvidenceID: e.ID, Actor: "lease/lse_root", Reason: "personal data", At: memT0.Add(2 * time.Hour), LedgerIndex: 9}
	memUpdate(t, st, func(ctx context.Context, tx store.Tx) error { return tx.Redact(ctx, r) })
	for _, rr := range []store.Redaction{r, {EvidenceID: "sha256:missing", Actor: "a", Reason: "b", At: memT0}} {
		err := st.Update(context.Background(), func(tx store.Tx) error { return tx.Redact(context.Background(), rr) })
		want := store.ErrConflict
		if rr.EvidenceID != e.ID {
			want = store.ErrNotFound
		}
		if !errors.Is(err, want) {
			t.Errorf("redact %s again: %v, want %v", rr.EvidenceID, err, want)
		}
	}
	memView(t, st, func(ctx context.Context, tx store.ReadTx) error {
		got, err := tx.Evidence(ctx, e.ID)
		if err != nil {
			return err
		}
		if got.Content != nil || got.Size != e.Size || got.ID != e.ID {
			t.Errorf("redacted evidence: content %q, size %d, id %s", got.Content, got.Size, got.ID)
		}
		if got.Redaction == nil || *got.Redaction != r {
			t.Errorf("redaction = %+v, want %+v", got.Redaction, r)
		}
		hits, err := tx.SearchEvidence(ctx, store.EvidenceSearch{Terms: []string{"passport"}})
		if err != nil || len(hits) != 0 {
			t.Errorf("search after redaction = %d hits, %v", len(hits), err)
		}
		return nil
	})
}

func testMemClaims(t *testing.T, st store.Store) {
	e1, e2 := memEvidence("the user prefers tea", "turn", 1), memEvidence("tea, always tea", "turn", 2)
	memPutEvidence(t, st, e1, e2)
	c := memClaim("clm_1", "the user prefers tea", e1, memT0)
	c.InvalidAt = memT0.Add(48 * time.Hour)
	c.Provenance = append(c.Provenance, store.Span{EvidenceID: e2.ID, Start: 0, End: 3, Actor: "lease/lse_b", Added: memT0.Add(time.Minute)})
	memPutClaims(t, st, c)
	if err := st.Update(context.Background(), func(tx store.Tx) error { return tx.PutClaim(context.Background(), c) }); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second put: %v, want ErrConflict", err)
	}
	memView(t, st, func(ctx context.Context, tx store.ReadTx) error {
		got, err := tx.Claim(ctx, c.ID)
		if err != nil {
			return err
		}
		if got.Seq == 0 {
			t.Error("no Seq assigned")
		}
		got.Seq = 0
		if !reflect.DeepEqual(got, c) {
			t.Errorf("claim =\n%+v, want\n%+v", got, c)
		}
		if !got.ExpiredAt.IsZero() {
			t.Error("an open expiry did not read back as zero")
		}
		if _, err := tx.Claim(ctx, "clm_missing"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing claim: %v", err)
		}
		return nil
	})
}

func testMemUpdateClaim(t *testing.T, st store.Store) {
	e1, e2 := memEvidence("one", "text", 1), memEvidence("two", "text", 2)
	memPutEvidence(t, st, e1, e2)
	c := memClaim("clm_1", "the sky is blue", e1, memT0)
	memPutClaims(t, st, c)
	u := c
	u.Statement, u.Subject, u.Kind = "tampered", "tampered", "other" // immutable: ignored
	u.Confidence, u.Status, u.InvalidAt, u.ExpiredAt, u.ContradictedBy = 0.9, store.ClaimDemoted, memT0.Add(time.Hour), memT0.Add(2*time.Hour), "clm_2"
	u.Provenance = []store.Span{{EvidenceID: e2.ID, Start: 0, End: 3, Actor: "lease/lse_b", Added: memT0.Add(time.Minute)}}
	memUpdate(t, st, func(ctx context.Context, tx store.Tx) error { return tx.UpdateClaim(ctx, u) })
	err := st.Update(context.Background(), func(tx store.Tx) error {
		return tx.UpdateClaim(context.Background(), store.Claim{ID: "clm_missing"})
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update missing: %v", err)
	}
	memView(t, st, func(ctx context.Context, tx store.ReadTx) error {
		got, err := tx.Claim(ctx, c.ID)
		if err != nil {
			return err
		}
		if got.Statement != c.Statement || got.Subject != c.Subject || got.Kind != c.Kind {
			t.Errorf("immutable fields changed: %q %q %q", got.Statement, got.Subject, got.Kind)
		}
		if got.Confidence != 0.9 || got.Status != store.ClaimDemoted || !got.InvalidAt.Equal(u.InvalidAt) ||
			!got.ExpiredAt.Equal(u.ExpiredAt) || got.ContradictedBy != "clm_2" {
			t.Errorf("mutable fields = %+v", got)
		}
		if len(got.Provenance) != 2 || got.Provenance[0].EvidenceID != e1.ID || got.Provenance[1].EvidenceID != e2.ID {
			t.Errorf("provenance = %+v, want the old span then the new", got.Provenance)
		}
		return nil
	})
}

func testMemClaimFilter(t *testing.T, st store.Store) {
	e1, e2 := memEvidence("paris", "turn", 1), memEvidence("berlin", "turn", 2)
	memPutEvidence(t, st, e1, e2)
	a := memClaim("clm_a", "lives in paris", e1, memT0)
	a.ValidAt = memT0.Add(-72 * time.Hour)
	a.Status, a.InvalidAt, a.ExpiredAt = store.ClaimDemoted, memT0.Add(24*time.Hour), memT0.Add(48*time.Hour)
	b := memClaim("clm_b", "lives in berlin", e2, memT0.Add(48*time.Hour))
	b.ValidAt, b.Status, b.Kind, b.Subject = memT0.Add(24*time.Hour), store.ClaimCanon, "identity", "me"
	c := memClaim("clm_c", "likes jazz", e2, memT0.Add(49*time.Hour))
	c.Kind = "preference"
	memPutClaims(t, st, a, b, c)
	all := func(f store.ClaimFilter) []string {
		var out []store.Claim
		memView(t, st, func(ctx context.Context, tx store.ReadTx) (err error) {
			out, err = tx.Claims(ctx, f)
			return err
		})
		return memIDs(out, memClaimID)
	}
	for _, tt := range []struct {
		name string
		f    store.ClaimFilter
		want []string
	}{
		{"all", store.ClaimFilter{}, []string{"clm_a", "clm_b", "clm_c"}},
		{"ids", store.ClaimFilter{IDs: []string{"clm_c", "clm_a"}}, []string{"clm_a", "clm_c"}},
		{"statuses", store.ClaimFilter{Statuses: []string{store.ClaimCanon, store.ClaimCandidate}}, []string{"clm_b", "clm_c"}},
		{"kinds", store.ClaimFilter{Kinds: []string{"identity", "preference"}}, []string{"clm_b", "clm_c"}},
		{"subject", store.ClaimFilter{Subject: "me"}, []string{"clm_b"}},
		{"normalized", store.ClaimFilter{Normalized: "lives in paris"}, []string{"clm_a"}},
		{"evidence", store.ClaimFilter{EvidenceID: e2.ID}, []string{"clm_b", "clm_c"}},
		{"believed before the change", store.ClaimFilter{BelievedAt: memT0.Add(47 * time.Hour)}, []string{"clm_a"}},
		{"believed at the change", store.ClaimFilter{BelievedAt: memT0.Add(48 * time.Hour)}, []string{"clm_b"}},
		{"believed later", store.ClaimFilter{BelievedAt: memT0.Add(50 * time.Hour)}, []string{"clm_b", "clm_c"}},
		{"true early", store.ClaimFilter{TrueAt: memT0}, []string{"clm_a"}},
		{"true after the move", store.ClaimFilter{TrueAt: memT0.Add(30 * time.Hour)}, []string{"clm_b"}},
		{"true after the move, believed before", store.ClaimFilter{TrueAt: memT0.Add(30 * time.Hour), BelievedAt: memT0.Add(47 * time.Hour)}, nil},
		{"after and limit", store.ClaimFilter{AfterSeq: 0, Limit: 2}, []string{"clm_a", "clm_b"}},
	} {
		if got := all(tt.f); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	first := all(store.ClaimFilter{Limit: 1})
	var seq int64
	memView(t, st, func(ctx context.Context, tx store.ReadTx) error {
		c, err := tx.Claim(ctx, first[0])
		seq = c.Seq
		return err
	})
	if got := all(store.ClaimFilter{AfterSeq: seq}); !slices.Equal(got, []string{"clm_b", "clm_c"}) {
		t.Errorf("after the first: %v", got)
	}
}

func memSearch(t *testing.T, st store.Store, q store.ClaimSearch) []store.ClaimHit {
	t.Helper()
	var hits []store.ClaimHit
	memView(t, st, func(ctx context.Context, tx store.ReadTx) (err error) {
		hits, err = tx.SearchClaims(ctx, q)
		return err
	})
	return hits
}

func testMemSearchClaims(t *testing.T, st store.Store) {
	e := memEvidence("notes", "text", 1)
	memPutEvidence(t, st, e)
	a := memClaim("clm_a", "the user drinks green tea every morning", e, memT0)
	b := memClaim("clm_b", "the user's tea is usually green tea or black tea", e, memT0.Add(time.Minute))
	c := memClaim("clm_c", "the user drives to work", e, memT0.Add(2*time.Minute))
	d := memClaim("clm_d", "tea with milk is fine", e, memT0.Add(3*time.Minute))
	d.Status = store.ClaimDemoted
	c.Subject = "commute"
	memPutClaims(t, st, a, b, c, d)
	hits := memSearch(t, st, store.ClaimSearch{Terms: []string{"tea"}, Limit: 10})
	if got := memIDs(hits, func(h store.ClaimHit) string { return h.Claim.ID }); len(got) != 3 || got[0] != "clm_b" {
		t.Fatalf("tea = %v, want clm_b (three mentions) first of three", got)
	}
	for i := 1; i < len(hits); i++ {
		if hits[i].Score > hits[i-1].Score {
			t.Errorf("hits not ordered by score: %v then %v", hits[i-1].Score, hits[i].Score)
		}
	}
	if len(hits[0].Claim.Provenance) != 1 {
		t.Errorf("hit without provenance: %+v", hits[0].Claim)
	}
	hits = memSearch(t, st, store.ClaimSearch{Terms: []string{"tea"}, Filter: store.ClaimFilter{Statuses: []string{store.ClaimCandidate}}, Limit: 1})
	if len(hits) != 1 || hits[0].Claim.ID != "clm_b" {
		t.Errorf("tea, candidates, limit 1 = %+v", hits)
	}
	if hits := memSearch(t, st, store.ClaimSearch{Terms: []string{"commute"}}); len(hits) != 1 || hits[0].Claim.ID != "clm_c" {
		t.Errorf("subject search = %+v", hits)
	}
	if hits := memSearch(t, st, store.ClaimSearch{Terms: []string{"mor*"}}); len(hits) != 1 || hits[0].Claim.ID != "clm_a" {
		t.Errorf("prefix search = %+v", hits)
	}
	if hits := memSearch(t, st, store.ClaimSearch{Terms: []string{"coffee", "drives"}}); len(hits) != 1 || hits[0].Claim.ID != "clm_c" {
		t.Errorf("any-term search = %+v", hits)
	}
	hits = memSearch(t, st, store.ClaimSearch{Limit: 2})
	if got := memIDs(hits, func(h store.ClaimHit) string { return h.Claim.ID }); !slices.Equal(got, []string{"clm_d", "clm_c"}) {
		t.Errorf("no terms = %v, want the newest first", got)
	}
}

func testMemSearchHostile(t *testing.T, st store.Store) {
	e := memEvidence("notes", "text", 1)
	memPutEvidence(t, st, e)
	memPutClaims(t, st, memClaim("clm_a", `the "quoted" word AND NEAR(x) stays text`, e, memT0))
	for _, term := range []string{`"`, `""`, `"quoted"`, `AND`, `NEAR(x`, `*`, `**`, `^`, `-`, `col:`, `statement:tea`,
		"\x00", "\xff\xfe", `)(`, `{a b}`, `OR`, `NOT`, ` `, ``} {
		hits := memSearch(t, st, store.ClaimSearch{Terms: []string{term}})
		_ = hits // any answer is fine; an error fails inside search
	}
	if hits := memSearch(t, st, store.ClaimSearch{Terms: []string{`"quoted"`}}); len(hits) != 1 {
		t.Errorf("a quoted term did not match as the plain word: %d hits", len(hits))
	}
	if hits := memSearch(t, st, store.ClaimSearch{Terms: []string{"and"}}); len(hits) != 1 {
		t.Errorf("an operator word did not match as a word: %d hits", len(hits))
	}
}

func testMemSearchEvidence(t *testing.T, st store.Store) {
	text := memEvidence("the quarterly report mentions a budget of 40k", "text", 1)
	bin := memEvidence("budget\x00\x01\x02", "file", 2)
	bin.Text = false
	other := memEvidence("nothing relevant here", "turn", 3)
	memPutEvidence(t, st, text, bin, other)
	var hits []store.EvidenceHit
	memView(t, st, func(ctx context.Context, tx store.ReadTx) (err error) {
		hits, err = tx.SearchEvidence(ctx, store.EvidenceSearch{Terms: []string{"budget"}})
		return err
	})
	if len(hits) != 1 || hits[0].Evidence.ID != text.ID || !bytes.Equal(hits[0].Evidence.Content, text.Content) {
		t.Fatalf("budget = %+v, want only the text evidence with its content", hits)
	}
	memView(t, st, func(ctx context.Context, tx store.ReadTx) (err error) {
		hits, err = tx.SearchEvidence(ctx, store.EvidenceSearch{Terms: []string{"budget", "relevant"}, Kinds: []string{"turn"}})
		return err
	})
	if len(hits) != 1 || hits[0].Evidence.ID != other.ID {
		t.Errorf("kind filter = %+v", hits)
	}
}

func testMemClaimEvents(t *testing.T, st store.Store) {
	span := store.Span{EvidenceID: "sha256:x", Start: 1, End: 4, Actor: "lease/lse_a", Added: memT0}
	es := []store.ClaimEvent{
		{ClaimID: "clm_a", Kind: "created", Actor: "lease/lse_a", At: memT0, Spans: []store.Span{span}, LedgerIndex: 3},
		{ClaimID: "clm_b", Kind: "created", Actor: "lease/lse_a", At: memT0, LedgerIndex: 4},
		{ClaimID: "clm_a", Kind: "demoted", Actor: "lease/lse_b", At: memT0.Add(time.Hour), Reason: "wrong", Related: "clm_b", CanonVersion: 2, LedgerIndex: 5},
	}
	memUpdate(t, st, func(ctx context.Context, tx store.Tx) error {
		for _, e := range es {
			if err := tx.PutClaimEvent(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	memView(t, st, func(ctx context.Context, tx store.ReadTx) error {
		got, err := tx.ClaimEvents(ctx, "clm_a")
		if err != nil {
			return err
		}
		if len(got) != 2 || got[0].Seq >= got[1].Seq {
			t.Fatalf("events of clm_a = %+v", got)
		}
		for i, want := range []store.ClaimEvent{es[0], es[2]} {
			got[i].Seq = 0
			if !reflect.DeepEqual(got[i], want) {
				t.Errorf("event %d =\n%+v, want\n%+v", i, got[i], want)
			}
		}
		all, err := tx.ClaimEvents(ctx, "")
		if err != nil || len(all) != 3 || all[1].ClaimID != "clm_b" {
			t.Errorf("all events = %+v, %v", all, err)
		}
		return nil
	})
}

func testMemEmbeddings(t *testing.T, st store.Store) {
	memUpdate(t, st, func(ctx context.Context, tx store.Tx) error {
		if err := tx.PutClaimEmbedding(ctx, "clm_a", []float32{1, 0, -0.5}); err != nil {
			return err
		}
		return tx.PutClaimEmbedding(ctx, "clm_b", []float32{0, float32(math.Pi), 2})
	})
	read := func(after int64) []store.ClaimEmbedding {
		var out []store.ClaimEmbedding
		memView(t, st, func(ctx context.Context, tx store.ReadTx) error {
			return tx.ClaimEmbeddings(ctx, after, func(e store.ClaimEmbedding) error {
				e.Vector = slices.Clone(e.Vector)
				out = append(out, e)
				return nil
			})
		})
		return out
	}
	first := read(0)
	if len(first) != 2 || first[0].ClaimID != "clm_a" || !slices.Equal(first[1].Vector, []float32{0, float32(math.Pi), 2}) {
		t.Fatalf("embeddings = %+v", first)
	}
	memUpdate(t, st, func(ctx context.Context, tx store.Tx) error {
		return tx.PutClaimEmbedding(ctx, "clm_a", []float32{0.25})
	})
	later := read(first[1].Seq)
	if len(later) != 1 || later[0].ClaimID != "clm_a" || !slices.Equal(later[0].Vector, []float32{0.25}) {
		t.Errorf("after replacing = %+v, want the new clm_a only", later)
	}
	if n := len(read(0)); n != 2 {
		t.Errorf("%d embeddings after a replace, want 2", n)
	}
}

func testMemCanonVersions(t *testing.T, st store.Store) {
	ctx := context.Background()
	put := func(v store.CanonVersion) error {
		return st.Update(ctx, func(tx store.Tx) error { return tx.PutCanonVersion(ctx, v) })
	}
	v1 := store.CanonVersion{Version: 1, Hash: "sha256:1", Count: 2, Actor: "memory/corroboration", Created: memT0, LedgerIndex: 7, Added: []string{"clm_a", "clm_b"}}
	v2 := store.CanonVersion{Version: 2, Hash: "sha256:2", Count: 2, Actor: "lease/lse_root", Created: memT0.Add(time.Hour), LedgerIndex: 9, Added: []string{"clm_c"}, Removed: []string{"clm_a"}}
	memView(t, st, func(ctx context.Context, tx store.ReadTx) error {
		if _, err := tx.CanonVersion(ctx, 0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("latest of none: %v", err)
		}
		return nil
	})
	for _, bad := range []store.CanonVersion{{Version: 2, Hash: "x"}, {Version: 0, Hash: "x"}} {
		if err := put(bad); !errors.Is(err, store.ErrConflict) {
			t.Errorf("version %d first: %v, want ErrConflict", bad.Version, err)
		}
	}
	if err := put(v1); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []store.CanonVersion{
		{Version: 1, Hash: "x"},
		{Version: 2, Hash: "x", Added: []string{"clm_a"}},
		{Version: 2, Hash: "x", Removed: []string{"clm_z"}},
	} {
		if err := put(bad); !errors.Is(err, store.ErrConflict) {
			t.Errorf("bad version %+v: %v, want ErrConflict", bad, err)
		}
	}
	if err := put(v2); err != nil {
		t.Fatal(err)
	}
	if err := put(store.CanonVersion{Version: 3, Hash: "x", Added: []string{"clm_a"}}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("re-adding a removed member: %v, want ErrConflict", err)
	}
	memView(t, st, func(ctx context.Context, tx store.ReadTx) error {
		latest, err := tx.CanonVersion(ctx, 0)
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(latest, v2) {
			t.Errorf("latest =\n%+v, want\n%+v", latest, v2)
		}
		got1, err := tx.CanonVersion(ctx, 1)
		if err != nil || !reflect.DeepEqual(got1, v1) {
			t.Errorf("version 1 = %+v, %v", got1, err)
		}
		if _, err := tx.CanonVersion(ctx, 3); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("version 3: %v", err)
		}
		for v, want := range map[int64][]string{1: {"clm_a", "clm_b"}, 2: {"clm_b", "clm_c"}} {
			if got, err := tx.CanonMembers(ctx, v); err != nil || !slices.Equal(got, want) {
				t.Errorf("members of %d = %v, %v; want %v", v, got, err, want)
			}
		}
		var all []store.CanonVersion
		if err := tx.CanonVersions(ctx, func(v store.CanonVersion) error { all = append(all, v); return nil }); err != nil {
			return err
		}
		if len(all) != 2 || !reflect.DeepEqual(all[0], v1) || !reflect.DeepEqual(all[1], v2) {
			t.Errorf("versions = %+v", all)
		}
		return nil
	})
}

func testMemRollback(t *testing.T, st store.Store) {
	ctx := context.Background()
	e := memEvidence("rolled back words", "text", 1)
	boom := errors.New("boom")
	err := st.Update(ctx, func(tx store.Tx) error {
		if err := tx.PutEvidence(ctx, e); err != nil {
			return err
		}
		if err := tx.PutClaim(ctx, memClaim("clm_a", "rolled back claim", e, memT0)); err != nil {
			return err
		}
		if err := tx.PutCanonVersion(ctx, store.CanonVersion{Version: 1, Hash: "x", Count: 1, Added: []string{"clm_a"}}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update: %v", err)
	}
	memView(t, st, func(ctx context.Context, tx store.ReadTx) error {
		if _, err := tx.Evidence(ctx, e.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("evidence survived: %v", err)
		}
		if hits, err := tx.SearchClaims(ctx, store.ClaimSearch{Terms: []string{"rolled"}}); err != nil || len(hits) != 0 {
			t.Errorf("claim index kept %d hits, %v", len(hits), err)
		}
		if hits, err := tx.SearchEvidence(ctx, store.EvidenceSearch{Terms: []string{"rolled"}}); err != nil || len(hits) != 0 {
			t.Errorf("evidence index kept %d hits, %v", len(hits), err)
		}
		if _, err := tx.CanonVersion(ctx, 0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("canon version survived: %v", err)
		}
		return nil
	})
}
