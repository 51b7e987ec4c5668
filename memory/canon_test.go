package memory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestCanonHashFormat(t *testing.T) {
	if got := CanonHash(nil); got != "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("empty canon = %s", got)
	}
	ha := ClaimHash("The user likes tea", "user", KindPreference)
	hb := ClaimHash("The office is in Lisbon", "", KindFact)
	want := sha256.Sum256([]byte("clm_a " + ha + "\nclm_b " + hb + "\n"))
	got := CanonHash([]CanonMember{{"clm_b", hb}, {"clm_a", ha}})
	if got != "sha256:"+hex.EncodeToString(want[:]) {
		t.Errorf("canon hash = %s, want sha256:%x", got, want)
	}
	wantClaim := sha256.Sum256([]byte("The user likes tea\x00user\x00preference"))
	if ha != "sha256:"+hex.EncodeToString(wantClaim[:]) {
		t.Errorf("claim hash = %s", ha)
	}
	if ClaimHash("ab", "c", KindFact) == ClaimHash("a", "bc", KindFact) {
		t.Error("the claim hash does not separate its fields")
	}
}

func TestCanonVersionsAndDiff(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	e1 := f.evidence(t, "note one", time.Time{})
	e2 := f.evidence(t, "note two", time.Time{})
	two := []Span{{e1.ID, 0, 4}, {e2.ID, 0, 4}}
	a := f.claim(t, NewClaim{Statement: "Alpha", Spans: two})
	b := f.claim(t, NewClaim{Statement: "Beta", Spans: two})
	c := f.claim(t, NewClaim{Statement: "Gamma", Spans: two[:1]})
	if _, err := f.m.Promote(ctx, c.Claim.ID, "lease/lse_root", "checked"); err != nil {
		t.Fatal(err)
	}
	d := f.claim(t, NewClaim{Statement: "Delta", Spans: two, Contradicts: []string{a.Claim.ID}})
	if d.CanonVersion != 4 || !d.Promoted || !slices.Equal(d.Demoted, []string{a.Claim.ID}) {
		t.Fatalf("delta = %+v", d)
	}
	vs, err := f.m.CanonVersions(ctx)
	if err != nil || len(vs) != 4 {
		t.Fatalf("versions = %+v, %v", vs, err)
	}
	hashOf := func(cs ...AddResult) string {
		var ms []CanonMember
		for _, c := range cs {
			ms = append(ms, CanonMember{c.Claim.ID, c.Claim.Hash})
		}
		return CanonHash(ms)
	}
	for i, want := range []struct {
		added, removed []string
		hash           string
		count          int
	}{
		{[]string{a.Claim.ID}, nil, hashOf(a), 1},
		{[]string{b.Claim.ID}, nil, hashOf(a, b), 2},
		{[]string{c.Claim.ID}, nil, hashOf(a, b, c), 3},
		{[]string{d.Claim.ID}, []string{a.Claim.ID}, hashOf(b, c, d), 3},
	} {
		v := vs[i]
		if v.Version != int64(i+1) || !slices.Equal(v.Added, want.added) || !slices.Equal(v.Removed, orEmpty(want.removed)) ||
			v.Hash != want.hash || v.Count != want.count {
			t.Errorf("version %d = %+v, want %+v", i+1, v, want)
		}
	}
	// Each version is recorded in the ledger with the same numbers.
	var canonEntries []canonBody
	for _, e := range f.entries(t) {
		if e.Kind == EntryCanon {
			canonEntries = append(canonEntries, body[canonBody](t, e))
		}
	}
	if len(canonEntries) != 4 {
		t.Fatalf("%d memory.canon entries", len(canonEntries))
	}
	for i, b := range canonEntries {
		if b.Version != vs[i].Version || b.Hash != vs[i].Hash || b.Count != vs[i].Count || !slices.Equal(b.Added, vs[i].Added) {
			t.Errorf("entry %d = %+v, version = %+v", i, b, vs[i])
		}
	}
	v4, err := f.m.CanonVersion(ctx, 4)
	if err != nil || !slices.Equal(v4.Members, sorted(b.Claim.ID, c.Claim.ID, d.Claim.ID)) {
		t.Errorf("version 4 = %+v, %v", v4, err)
	}
	latest, _ := f.m.Canon(ctx)
	if latest.Version != 4 || latest.Hash != v4.Hash {
		t.Errorf("latest = %+v", latest)
	}
	_, err = f.m.CanonVersion(ctx, 5)
	wantErr(t, err, ErrNotFound)
	_, err = f.m.CanonVersion(ctx, 0)
	wantErr(t, err, ErrInvalid)

	diff, err := f.m.CanonDiff(ctx, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(diff.Added); !slices.Equal(got, sorted(b.Claim.ID, c.Claim.ID, d.Claim.ID)) {
		t.Errorf("added 1→4 = %v", got)
	}
	if got := ids(diff.Removed); !slices.Equal(got, []string{a.Claim.ID}) || diff.Removed[0].Status != StatusDemoted {
		t.Errorf("removed 1→4 = %+v", diff.Removed)
	}
	back, _ := f.m.CanonDiff(ctx, 4, 1)
	if !slices.Equal(ids(back.Added), ids(diff.Removed)) || !slices.Equal(ids(back.Removed), ids(diff.Added)) {
		t.Errorf("4→1 is not the reverse of 1→4: %+v", back)
	}
	all, _ := f.m.CanonDiff(ctx, 0, 2)
	if got := ids(all.Added); !slices.Equal(got, sorted(a.Claim.ID, b.Claim.ID)) || len(all.Removed) != 0 {
		t.Errorf("0→2 = %+v", all)
	}
	_, err = f.m.CanonDiff(ctx, 1, 9)
	wantErr(t, err, ErrNotFound)
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Several additions in one batch compile one canon version.
func TestOneTransactionCompilesOneVersion(t *testing.T) {
	f := newFixture(t, Options{})
	e1 := f.evidence(t, "one", time.Time{})
	e2 := f.evidence(t, "two", time.Time{})
	two := []Span{{e1.ID, 0, 3}, {e2.ID, 0, 3}}
	rs, err := f.m.addClaims(context.Background(), []NewClaim{
		{Statement: "x is 1", Spans: two, Actor: actor},
		{Statement: "y is 2", Spans: two, Actor: actor},
		{Statement: "z is 3", Spans: two[:1], Actor: actor},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].CanonVersion != 1 || rs[1].CanonVersion != 1 || rs[2].CanonVersion != 0 {
		t.Errorf("versions = %d %d %d", rs[0].CanonVersion, rs[1].CanonVersion, rs[2].CanonVersion)
	}
	latest, _ := f.m.Canon(context.Background())
	if latest.Version != 1 || latest.Count != 2 {
		t.Errorf("canon = %+v", latest)
	}
}

// Many writers at once share group commits; the canon stays consistent.
func TestConcurrentPromotionsKeepTheCanonConsistent(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	e1 := f.evidence(t, "one", time.Time{})
	e2 := f.evidence(t, "two", time.Time{})
	two := []Span{{e1.ID, 0, 3}, {e2.ID, 0, 3}}
	errs := make(chan error, 40)
	for i := range 40 {
		go func() {
			_, err := f.m.AddClaim(ctx, NewClaim{Statement: fmt.Sprintf("parallel fact %d", i), Spans: two, Actor: actor})
			errs <- err
		}()
	}
	for range 40 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	latest, _ := f.m.Canon(ctx)
	if latest.Count != 40 || len(latest.Members) != 40 {
		t.Errorf("canon = %d members", latest.Count)
	}
	rep, err := f.m.Verify(ctx)
	if err != nil || !rep.OK() || rep.CanonVersions != int(latest.Version) {
		t.Errorf("verify = %+v, %v", rep, err)
	}
	// A fresh Memory (a restart) compiles on top of the stored canon.
	m2 := New(f.st, f.led, Options{Now: f.clk.now})
	r, err := m2.AddClaim(ctx, NewClaim{Statement: "after restart", Spans: two, Actor: actor})
	if err != nil || r.CanonVersion != latest.Version+1 {
		t.Fatalf("after restart: %+v, %v", r, err)
	}
	if rep, _ := m2.Verify(ctx); !rep.OK() {
		t.Errorf("verify after restart: %v", rep.Problems)
	}
}
