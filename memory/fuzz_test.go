package memory

import (
	"context"
	"testing"
	"time"
)

// FuzzSearchQuery feeds arbitrary text through the query sanitiser into a
// real search over a real store: no input may produce an error or a panic.
func FuzzSearchQuery(f *testing.F) {
	for _, s := range []string{"tea", `"`, `a OR b`, `NEAR(a b, 3)`, `col:tea`, `^start`, `-neg`, `x*`, `*`, `(((`, "\x00", "\xff"} {
		f.Add(s)
	}
	fx := newFixture(f, Options{Embedder: &bagEmbedder{}})
	ctx := context.Background()
	e := fx.evidence(f, `The user's "favourite" drink is tea (AND coffee*) — NEAR: 東京`, time.Time{})
	fx.claim(f, NewClaim{Statement: `The user's "favourite" drink is tea`, Spans: whole(e)})
	fx.claim(f, NewClaim{Statement: "Coffee* AND NEAR(x)", Subject: "col:x", Spans: whole(e)})
	f.Fuzz(func(t *testing.T, text string) {
		terms := queryTerms(text)
		if len(terms) > maxQueryTerms {
			t.Fatalf("%d terms", len(terms))
		}
		for _, q := range []Query{
			{Text: text, Evidence: true},
			{Text: text, Statuses: []Status{StatusDemoted, StatusCanon}, AsOf: t0, ValidAt: t0, Kinds: []Kind{KindFact}, Limit: 3},
		} {
			if _, err := fx.m.Search(ctx, q); err != nil {
				t.Fatalf("search %q: %v", text, err)
			}
		}
		if _, err := fx.m.Retrieve(ctx, text, 2); err != nil {
			t.Fatalf("retrieve %q: %v", text, err)
		}
	})
}
