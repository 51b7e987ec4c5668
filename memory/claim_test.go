package memory

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"
)

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"The user likes tea.":           "the user likes tea",
		"  The   USER\tlikes\n tea!!! ": "the user likes tea",
		"Tea?!…":                        "tea",
		"v1.2 is out.":                  "v1.2 is out",
		"...":                           "",
		"Straße.":                       "straße",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEqualStatementsCorroborateInsteadOfDuplicating(t *testing.T) {
	f := newFixture(t, Options{Corroboration: 3})
	ctx := context.Background()
	e1 := f.evidence(t, "I always drink tea in the morning", time.Time{})
	e2 := f.evidence(t, "tea again, never coffee", time.Time{})
	first := f.claim(t, NewClaim{Statement: "The user drinks tea.", Subject: "user", Kind: KindPreference, Confidence: 0.6, Spans: []Span{{e1.ID, 15, 18}}})
	if !first.Created || first.Corroborated || first.Claim.Status != StatusCandidate || first.Claim.Confidence != 0.6 {
		t.Fatalf("first = %+v", first)
	}
	f.clk.advance(time.Minute)
	second := f.claim(t, NewClaim{Statement: "the user   DRINKS tea", Subject: "someone else", Kind: KindFact, Confidence: 0.9,
		Spans: []Span{{e2.ID, 0, 3}}, Actor: "lease/lse_other"})
	if second.Created || !second.Corroborated || second.Claim.ID != first.Claim.ID {
		t.Fatalf("second = %+v, want a corroboration of %s", second, first.Claim.ID)
	}
	c := second.Claim
	if c.Statement != "The user drinks tea." || c.Subject != "user" || c.Kind != KindPreference || c.Confidence != 0.9 {
		t.Errorf("corroborated claim = %+v: statement, subject and kind stay, confidence rises", c)
	}
	if got := c.EvidenceIDs(); !slices.Equal(got, []string{e1.ID, e2.ID}) {
		t.Errorf("evidence = %v", got)
	}
	if p := c.Provenance[1]; p.Actor != "lease/lse_other" || !p.AddedAt.Equal(f.clk.now()) {
		t.Errorf("corroborating span = %+v", p)
	}
	// The very same span again adds nothing and records nothing.
	size := f.led.Size()
	third := f.claim(t, NewClaim{Statement: "The user drinks tea", Spans: []Span{{e2.ID, 0, 3}}, Confidence: 0.5})
	if third.Created || third.Corroborated || f.led.Size() != size {
		t.Errorf("repeating a span: %+v, %d entries", third, f.led.Size()-size)
	}
	all, _ := f.m.Claims(ctx, Filter{})
	if len(all) != 1 {
		t.Errorf("%d claims, want 1", len(all))
	}
}

func TestPromotionNeedsIndependentEvidence(t *testing.T) {
	for _, n := range []int{2, 3} {
		f := newFixture(t, Options{Corroboration: n})
		ctx := context.Background()
		var ev []Evidence
		for i := range n {
			ev = append(ev, f.evidence(t, "the office is in Lisbon, note "+string(rune('a'+i)), time.Time{}))
		}
		statement := "The office is in Lisbon"
		// N-1 independent pieces: still a candidate, however often cited.
		for i := range n - 1 {
			r := f.claim(t, NewClaim{Statement: statement, Spans: []Span{{ev[i].ID, 0, 10}}})
			f.claim(t, NewClaim{Statement: statement, Spans: []Span{{ev[i].ID, 4, 10}}}) // same evidence, another span
			f.claim(t, NewClaim{Statement: statement, Spans: []Span{{ev[i].ID, 0, 10}, {ev[i].ID, 0, 3}}})
			if r.Promoted || r.Claim.Status != StatusCandidate {
				t.Fatalf("N=%d after %d pieces: %+v", n, i+1, r)
			}
		}
		c, _ := f.m.Claims(ctx, Filter{})
		if len(c) != 1 || c[0].Status != StatusCandidate || len(c[0].EvidenceIDs()) != n-1 {
			t.Fatalf("N=%d before the last piece: %+v", n, c)
		}
		canon, _ := f.m.Canon(ctx)
		if canon.Version != 0 || canon.Count != 0 {
			t.Fatalf("canon before promotion = %+v", canon)
		}
		// The Nth independent piece promotes it.
		r := f.claim(t, NewClaim{Statement: statement + ".", Spans: []Span{{ev[n-1].ID, 0, 10}}})
		if !r.Promoted || r.Claim.Status != StatusCanon || r.CanonVersion != 1 {
			t.Fatalf("N=%d at N pieces: %+v", n, r)
		}
		canon, _ = f.m.Canon(ctx)
		if canon.Version != 1 || !slices.Equal(canon.Members, []string{r.Claim.ID}) {
			t.Errorf("canon = %+v", canon)
		}
		h, _ := f.m.History(ctx, r.Claim.ID)
		last := h[len(h)-1]
		if last.Kind != "promoted" || last.Actor != ActorCorroboration || last.CanonVersion != 1 {
			t.Errorf("N=%d last event = %+v", n, last)
		}
	}
}

func TestManualPromotion(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	e := f.evidence(t, "My name is Ada.", time.Time{})
	r := f.claim(t, NewClaim{Statement: "The user's name is Ada", Kind: KindIdentity, Spans: whole(e)})
	if r.Claim.Status != StatusCandidate {
		t.Fatal(r.Claim.Status)
	}
	c, err := f.m.Promote(ctx, r.Claim.ID, "lease/lse_root", "confirmed by the user")
	if err != nil || c.Status != StatusCanon {
		t.Fatalf("promote: %+v, %v", c, err)
	}
	size := f.led.Size()
	if c, err := f.m.Promote(ctx, r.Claim.ID, "lease/lse_root", "again"); err != nil || c.Status != StatusCanon || f.led.Size() != size {
		t.Errorf("promoting a canon claim again: %+v, %v, %d entries", c, err, f.led.Size()-size)
	}
	_, err = f.m.Promote(ctx, "clm_missing", "lease/lse_root", "")
	wantErr(t, err, ErrNotFound)
	ident, err := f.m.IdentityClaims(ctx)
	if err != nil || len(ident) != 1 || ident[0].ID != r.Claim.ID {
		t.Errorf("identity claims = %+v, %v", ident, err)
	}
	es := f.entries(t)
	if got := kinds(es[len(es)-2:]); !slices.Equal(got, []string{EntryPromote, EntryCanon}) {
		t.Errorf("last entries = %v", got)
	}
	if p := body[promoteBody](t, es[len(es)-2]); p.Auto || p.Reason != "confirmed by the user" || es[len(es)-2].Actor != "lease/lse_root" {
		t.Errorf("promote entry = %+v by %s", p, es[len(es)-2].Actor)
	}
}

// The life of "where the user lives", on both time axes.
func TestBelievedAndTrueAcrossAContradiction(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	paris2020 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	berlin2024 := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)

	// t0: the system learns the user lives in Paris, since 2020.
	ep := f.evidence(t, "I live in Paris.", paris2020)
	a := f.claim(t, NewClaim{Statement: "The user lives in Paris", Subject: "user", Spans: whole(ep)})
	if !a.Claim.ValidAt.Equal(paris2020) {
		t.Errorf("valid_at defaults to the evidence's observation: %v", a.Claim.ValidAt)
	}
	f.claim(t, NewClaim{Statement: "The user speaks French", Spans: whole(ep), ValidAt: paris2020})

	// t1 = t0 + 30 days: they say they moved to Berlin in June 2024.
	f.clk.advance(30 * 24 * time.Hour)
	t1 := f.clk.now()
	eb := f.evidence(t, "I moved to Berlin in June 2024.", time.Time{})
	b := f.claim(t, NewClaim{Statement: "The user lives in Berlin", Subject: "user", Spans: whole(eb), ValidAt: berlin2024,
		Contradicts: []string{a.Claim.ID}})
	if !slices.Equal(b.Demoted, []string{a.Claim.ID}) {
		t.Fatalf("demoted = %v", b.Demoted)
	}
	old, err := f.m.Claim(ctx, a.Claim.ID)
	if err != nil {
		t.Fatal(err)
	}
	if old.Status != StatusDemoted || !old.InvalidAt.Equal(berlin2024) || !old.ExpiredAt.Equal(t1) || old.ContradictedBy != b.Claim.ID {
		t.Fatalf("old claim = %+v", old)
	}
	french := "The user speaks French"
	for _, tt := range []struct {
		name     string
		query    func() ([]Claim, error)
		want     []string
		wantText []string
	}{
		{"believed before anything was known", func() ([]Claim, error) { return f.m.BelievedAt(ctx, t0.Add(-time.Hour)) }, nil, nil},
		{"believed a day after t0", func() ([]Claim, error) { return f.m.BelievedAt(ctx, t0.Add(24*time.Hour)) }, []string{a.Claim.ID}, []string{french}},
		{"believed at t1", func() ([]Claim, error) { return f.m.BelievedAt(ctx, t1) }, []string{b.Claim.ID}, []string{french}},
		{"believed now", func() ([]Claim, error) { return f.m.BelievedAt(ctx, t1.Add(time.Hour)) }, []string{b.Claim.ID}, []string{french}},
		{"true in 2019", func() ([]Claim, error) { return f.m.TrueAt(ctx, paris2020.Add(-time.Hour)) }, nil, nil},
		{"true in 2022", func() ([]Claim, error) { return f.m.TrueAt(ctx, time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)) }, []string{a.Claim.ID}, []string{french}},
		{"true the day of the move", func() ([]Claim, error) { return f.m.TrueAt(ctx, berlin2024) }, []string{b.Claim.ID}, []string{french}},
		{"true in 2025", func() ([]Claim, error) { return f.m.TrueAt(ctx, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) }, []string{b.Claim.ID}, []string{french}},
		{"true in 2022 as believed on day one", func() ([]Claim, error) {
			return f.m.Claims(ctx, Filter{TrueAt: time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC), BelievedAt: t0.Add(24 * time.Hour)})
		}, []string{a.Claim.ID}, []string{french}},
		{"true in 2025 as believed now", func() ([]Claim, error) {
			return f.m.Claims(ctx, Filter{TrueAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), BelievedAt: t1})
		}, []string{b.Claim.ID}, []string{french}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := tt.query()
			if err != nil {
				t.Fatal(err)
			}
			var got, gotFrench []string
			for _, c := range cs {
				if c.Statement == french {
					gotFrench = append(gotFrench, c.Statement)
				} else {
					got = append(got, c.ID)
				}
			}
			if !slices.Equal(got, tt.want) || !slices.Equal(gotFrench, tt.wantText) {
				t.Errorf("got %v %v, want %v %v", got, gotFrench, tt.want, tt.wantText)
			}
		})
	}
	// The same questions through search.
	res, err := f.m.Search(ctx, Query{Text: "where did they live?", AsOf: t0.Add(24 * time.Hour)})
	if err != nil || len(res.Claims) != 1 || res.Claims[0].Claim.ID != a.Claim.ID {
		t.Errorf("search as of day one = %+v, %v", res.Claims, err)
	}
	res, err = f.m.Search(ctx, Query{Text: "lives", ValidAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil || len(res.Claims) != 1 || res.Claims[0].Claim.ID != b.Claim.ID {
		t.Errorf("search true in 2025 = %+v, %v", res.Claims, err)
	}
	res, err = f.m.Search(ctx, Query{Text: "lives"})
	if err != nil || len(res.Claims) != 1 || res.Claims[0].Claim.ID != b.Claim.ID {
		t.Errorf("search now = %+v, %v", res.Claims, err)
	}
}

func TestDemotionKeepsTheRowAndItsHistory(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	e1 := f.evidence(t, "the deploy window is Friday", time.Time{})
	e2 := f.evidence(t, "deploys happen on Fridays", time.Time{})
	r := f.claim(t, NewClaim{Statement: "Deploys happen on Friday", Spans: whole(e1)})
	f.clk.advance(time.Minute)
	r2 := f.claim(t, NewClaim{Statement: "deploys happen on friday.", Spans: whole(e2), Actor: "lease/lse_b"})
	if !r2.Promoted || r2.CanonVersion != 1 {
		t.Fatalf("second evidence: %+v", r2)
	}
	f.clk.advance(time.Hour)
	when := f.clk.now()
	c, err := f.m.Demote(ctx, r.Claim.ID, "lease/lse_root", "deploys moved to Tuesday", "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != StatusDemoted || !c.InvalidAt.Equal(when) || !c.ExpiredAt.Equal(when) || c.Statement != "Deploys happen on Friday" || len(c.Provenance) != 2 {
		t.Fatalf("demoted = %+v", c)
	}
	if got, err := f.m.Claim(ctx, r.Claim.ID); err != nil || got.Status != StatusDemoted {
		t.Fatalf("the row: %+v, %v", got, err)
	}
	_, err = f.m.Demote(ctx, r.Claim.ID, "lease/lse_root", "again", "", time.Time{})
	wantErr(t, err, ErrConflict)
	_, err = f.m.Promote(ctx, r.Claim.ID, "lease/lse_root", "back")
	wantErr(t, err, ErrConflict)
	canon, _ := f.m.Canon(ctx)
	if canon.Version != 2 || canon.Count != 0 || !slices.Equal(canon.Removed, []string{r.Claim.ID}) {
		t.Errorf("canon after demotion = %+v", canon)
	}
	h, err := f.m.History(ctx, r.Claim.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range h {
		got = append(got, e.Kind+" by "+e.Actor)
	}
	want := []string{"created by " + actor, "corroborated by lease/lse_b", "promoted by " + ActorCorroboration, "demoted by lease/lse_root"}
	if !slices.Equal(got, want) {
		t.Errorf("history = %v, want %v", got, want)
	}
	if d := h[3]; d.Reason != "deploys moved to Tuesday" || d.CanonVersion != 2 || !d.At.Equal(when) {
		t.Errorf("demotion event = %+v", d)
	}
	if h[1].Spans[0].EvidenceID != e2.ID || h[0].LedgerIndex >= h[1].LedgerIndex {
		t.Errorf("events = %+v", h)
	}
	// The same statement can be believed again, as a new claim.
	again := f.claim(t, NewClaim{Statement: "Deploys happen on Friday", Spans: whole(e1)})
	if !again.Created || again.Claim.ID == r.Claim.ID {
		t.Errorf("re-adding a demoted statement: %+v", again)
	}
	_, err = f.m.History(ctx, "clm_missing")
	wantErr(t, err, ErrNotFound)
}

func TestDemoteWithAContradictingClaim(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	e := f.evidence(t, "the build uses Go 1.25, no wait, 1.26", time.Time{})
	old := f.claim(t, NewClaim{Statement: "The build uses Go 1.25", Spans: []Span{{e.ID, 0, 22}}, ValidAt: t0.Add(-48 * time.Hour)})
	nu := f.claim(t, NewClaim{Statement: "The build uses Go 1.26", Spans: whole(e)})
	// An invalid_at before valid_at means it was never true.
	c, err := f.m.Demote(ctx, old.Claim.ID, actor, "misheard", nu.Claim.ID, t0.Add(-72*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !c.InvalidAt.Equal(c.ValidAt) || c.ContradictedBy != nu.Claim.ID {
		t.Errorf("demoted = %+v", c)
	}
	h, _ := f.m.History(ctx, nu.Claim.ID)
	if last := h[len(h)-1]; last.Kind != "contradicts" || last.Related != old.Claim.ID {
		t.Errorf("history of the contradicting claim = %+v", h)
	}
	_, err = f.m.Demote(ctx, nu.Claim.ID, actor, "", "clm_missing", time.Time{})
	wantErr(t, err, ErrInvalid)
	_, err = f.m.Demote(ctx, nu.Claim.ID, actor, "", nu.Claim.ID, time.Time{})
	wantErr(t, err, ErrInvalid)
}

func TestClaimValidation(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	e := f.evidence(t, "0123456789", time.Time{})
	ok := NewClaim{Statement: "Digits are listed", Spans: []Span{{e.ID, 0, 10}}, Actor: actor}
	for _, tt := range []struct {
		name string
		edit func(*NewClaim)
		want error
	}{
		{"no statement", func(in *NewClaim) { in.Statement = "  " }, ErrInvalid},
		{"only punctuation", func(in *NewClaim) { in.Statement = "?!" }, ErrInvalid},
		{"a NUL byte", func(in *NewClaim) { in.Statement = "a\x00b" }, ErrInvalid},
		{"an unknown kind", func(in *NewClaim) { in.Kind = "rumour" }, ErrInvalid},
		{"confidence over 1", func(in *NewClaim) { in.Confidence = 1.5 }, ErrInvalid},
		{"negative confidence", func(in *NewClaim) { in.Confidence = -0.1 }, ErrInvalid},
		{"no spans", func(in *NewClaim) { in.Spans = nil }, ErrInvalid},
		{"an empty span", func(in *NewClaim) { in.Spans = []Span{{e.ID, 3, 3}} }, ErrInvalid},
		{"a negative span", func(in *NewClaim) { in.Spans = []Span{{e.ID, -1, 3}} }, ErrInvalid},
		{"a span past the end", func(in *NewClaim) { in.Spans = []Span{{e.ID, 5, 11}} }, ErrInvalid},
		{"unknown evidence", func(in *NewClaim) { in.Spans = []Span{{EvidenceID([]byte("nope")), 0, 1}} }, ErrInvalid},
		{"an unknown contradicted claim", func(in *NewClaim) { in.Contradicts = []string{"clm_nope"} }, ErrInvalid},
		{"invalid before valid", func(in *NewClaim) { in.ValidAt, in.InvalidAt = t0, t0.Add(-time.Hour) }, ErrInvalid},
		{"no actor", func(in *NewClaim) { in.Actor = "" }, ErrInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := ok
			tt.edit(&in)
			_, err := f.m.AddClaim(ctx, in)
			wantErr(t, err, tt.want)
		})
	}
	if all, _ := f.m.Claims(ctx, Filter{}); len(all) != 0 {
		t.Errorf("a rejected claim was stored: %+v", all)
	}
	r := f.claim(t, ok)
	if r.Claim.Kind != KindFact || r.Claim.Confidence != 1 {
		t.Errorf("defaults = %s, %v", r.Claim.Kind, r.Claim.Confidence)
	}
	if r.Claim.Hash != ClaimHash("Digits are listed", "", KindFact) {
		t.Errorf("hash = %s", r.Claim.Hash)
	}
}

func TestLedgerRecordsEveryClaimChangeWithoutText(t *testing.T) {
	f := newFixture(t, Options{})
	e1 := f.evidence(t, "secret-ish words one", time.Time{})
	e2 := f.evidence(t, "secret-ish words two", time.Time{})
	a := f.claim(t, NewClaim{Statement: "Alpha statement", Subject: "Private Subject", Spans: whole(e1)})
	f.claim(t, NewClaim{Statement: "Beta statement", Spans: whole(e2), Contradicts: []string{a.Claim.ID}})
	f.claim(t, NewClaim{Statement: "beta statement!", Spans: whole(e1)})
	got := kinds(f.entries(t))
	want := []string{EntryEvidence, EntryEvidence, EntryClaim, EntryClaim, EntryDemote, EntryClaim, EntryPromote, EntryCanon}
	if !slices.Equal(got, want) {
		t.Fatalf("entries = %v, want %v", got, want)
	}
	for _, e := range f.entries(t) {
		for _, s := range []string{"secret-ish", "Alpha", "Beta", "Private"} {
			if bytes.Contains(e.Body, []byte(s)) {
				t.Errorf("%s entry carries %q: %s", e.Kind, s, e.Body)
			}
		}
	}
	cb := body[claimBody](t, f.entries(t)[2])
	if cb.Op != opCreate || cb.Hash != ClaimHash("Alpha statement", "Private Subject", KindFact) || len(cb.Spans) != 1 {
		t.Errorf("create body = %+v", cb)
	}
}
