package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/store/storetest"
)

func TestMemoryContract(t *testing.T) {
	storetest.RunMemory(t, func(t *testing.T) store.Store {
		db, err := Open(context.Background(), filepath.Join(t.TempDir(), "mirror.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestFTSPhrasesQuoteEveryTerm(t *testing.T) {
	for _, tt := range []struct {
		terms []string
		want  string
	}{
		{nil, ""},
		{[]string{"tea"}, `"tea"`},
		{[]string{"tea", "berl*"}, `"tea" | "berl"*`},
		{[]string{`say "hi"`}, `"say ""hi"""`},
		{[]string{"AND", "NEAR(a b)", "col:x"}, `"AND" | "NEAR(a b)" | "col:x"`},
		{[]string{"", " ", "*", "\x00", "\xff"}, ""},
		{[]string{"a\x00b"}, `"ab"`},
	} {
		if got := strings.Join(ftsPhrases(tt.terms), " | "); got != tt.want {
			t.Errorf("ftsPhrases(%q) = %s, want %s", tt.terms, got, tt.want)
		}
	}
	many := make([]string, 2*maxSearchTerms)
	for i := range many {
		many[i] = "w"
	}
	if n := len(ftsPhrases(many)); n != maxSearchTerms {
		t.Errorf("%d terms kept, want %d", n, maxSearchTerms)
	}
}

// FuzzFTSPhrases checks that no term makes an FTS5 syntax error, in
// either search and any stage of it.
func FuzzFTSPhrases(f *testing.F) {
	for _, s := range []string{`"`, `a OR b`, `NEAR(`, `x*`, `^a`, `a:b`, "\x00", `""*`, `-`} {
		f.Add(s, "tea")
	}
	db, err := Open(context.Background(), filepath.Join(f.TempDir(), "mirror.db"), Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	ctx := context.Background()
	text := `tea "NEAR" AND (x) col:y * ^z -w 東京`
	err = db.Update(ctx, func(tx store.Tx) error {
		if err := tx.PutEvidence(ctx, store.Evidence{ID: "sha256:e", Kind: "text", Actor: "a", Size: int64(len(text)), Content: []byte(text), Text: true}); err != nil {
			return err
		}
		return tx.PutClaim(ctx, store.Claim{ID: "clm_a", Statement: text, Normalized: text, Kind: "fact", Status: store.ClaimCandidate, Actor: "a"})
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		err := db.View(ctx, func(tx store.ReadTx) error {
			if _, err := tx.SearchClaims(ctx, store.ClaimSearch{Terms: []string{a, b}}); err != nil {
				return err
			}
			_, err := tx.SearchEvidence(ctx, store.EvidenceSearch{Terms: []string{a, b}})
			return err
		})
		if err != nil {
			t.Fatalf("terms %q, %q: %v", a, b, err)
		}
	})
}

// Past the rank budget, a search ranks the rarer terms' matches by bm25,
// then adds the newest matches of the common terms, under every filter.
func TestSearchBeyondTheRankBudget(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "mirror.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n := rankBudget + 500
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	err = db.Update(ctx, func(tx store.Tx) error {
		for i := range n {
			st := fmt.Sprintf("common words in claim %d", i)
			switch {
			case i == 42:
				st = "a rare zebra among common words"
			case i%4 != 0:
				st += " half"
			}
			subject := ""
			if i%50 == 3 {
				subject = "team"
			}
			c := store.Claim{ID: fmt.Sprintf("clm_%05d", i), Statement: st, Normalized: st, Subject: subject, Kind: "fact",
				Confidence: 1, Status: store.ClaimCandidate, ContentHash: "h", ValidAt: at(i), CreatedAt: at(i), Actor: "a"}
			if err := tx.PutClaim(ctx, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	search := func(terms []string, f store.ClaimFilter) []store.ClaimHit {
		t.Helper()
		var hits []store.ClaimHit
		err := db.View(ctx, func(tx store.ReadTx) (err error) {
			hits, err = tx.SearchClaims(ctx, store.ClaimSearch{Terms: terms, Filter: f, Limit: 5})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return hits
	}
	ids := func(hits []store.ClaimHit) string {
		var s []string
		for _, h := range hits {
			s = append(s, strings.TrimPrefix(h.Claim.ID, "clm_"))
		}
		return strings.Join(s, " ")
	}
	last := n - 1
	for _, tt := range []struct {
		name  string
		terms []string
		f     store.ClaimFilter
		want  string
	}{
		{"a rare term first, then the newest common matches", []string{"common", "zebra"}, store.ClaimFilter{},
			fmt.Sprintf("00042 %05d %05d %05d %05d", last, last-1, last-2, last-3)},
		{"all common terms before any", []string{"half", "common"}, store.ClaimFilter{}, "01499 01498 01497 01495 01494"},
		{"newest believed at a time", []string{"common"}, store.ClaimFilter{BelievedAt: at(100)}, "00100 00099 00098 00097 00096"},
		{"newest true at a time", []string{"words"}, store.ClaimFilter{TrueAt: at(10)}, "00010 00009 00008 00007 00006"},
		{"newest of a subject", []string{"claim"}, store.ClaimFilter{Subject: "team"}, "01453 01403 01353 01303 01253"},
		{"the rare term under a filter that excludes it", []string{"zebra", "common"}, store.ClaimFilter{BelievedAt: at(41)}, "00041 00040 00039 00038 00037"},
	} {
		hits := search(tt.terms, tt.f)
		if got := ids(hits); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
	if hits := search([]string{"zebra", "common"}, store.ClaimFilter{}); hits[0].Score <= 0 || hits[1].Score != 0 {
		t.Errorf("scores: ranked %v, then newest %v", hits[0].Score, hits[1].Score)
	}
}
