package kernel

import (
	"context"
	"strings"
	"testing"

	"github.com/mirroros/mirror/memory"
	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/trust/lease"
)

// canonClaim adds evidence and a claim on it, and promotes the claim.
func canonClaim(t *testing.T, sys *System, text string, kind memory.Kind) memory.Claim {
	t.Helper()
	ctx := context.Background()
	ev, _, err := sys.Memory.AddEvidence(ctx, memory.NewEvidence{Kind: "text", Content: []byte(text), Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := sys.Memory.AddClaim(ctx, memory.NewClaim{Statement: text, Kind: kind, Actor: "test",
		Spans: []memory.Span{{EvidenceID: ev.ID, Start: 0, End: len(text)}}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := sys.Memory.Promote(ctx, res.Claim.ID, "test", "checked by a person")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTheCanonsIdentityClaimsReachEveryModel(t *testing.T) {
	f := newBusFixture(t)
	ctx := context.Background()
	canonClaim(t, f.sys, "The owner's name is Ada and she writes in British English.", memory.KindIdentity)
	canonClaim(t, f.sys, "The build server is in Lyon.", memory.KindFact)
	owner := rootLease(t, f.sys)
	if _, err := f.sys.Chat(ctx, owner, userCall("openai/gpt-4o-mini", "hello"), CallOptions{}); err != nil {
		t.Fatal(err)
	}
	seen, _ := f.seen.Load().(string)
	if !strings.Contains(seen, "The owner's name is Ada") || strings.Contains(seen, "Lyon") {
		t.Fatalf("the identity preamble should carry identity claims only: %s", seen)
	}
}

func TestRetrievalIsOptInAndCitesEvidence(t *testing.T) {
	f := newBusFixture(t)
	ctx := context.Background()
	c := canonClaim(t, f.sys, "The build server is in Lyon.", memory.KindFact)
	owner := rootLease(t, f.sys)
	ask := userCall("openai/gpt-4o-mini", "Where is the build server?")
	if _, err := f.sys.Chat(ctx, owner, ask, CallOptions{}); err != nil {
		t.Fatal(err)
	}
	if seen, _ := f.seen.Load().(string); strings.Contains(seen, "Lyon") {
		t.Fatalf("memory was retrieved without opting in: %s", seen)
	}
	// Per request.
	if _, err := f.sys.Chat(ctx, owner, ask, CallOptions{Memory: true}); err != nil {
		t.Fatal(err)
	}
	ev := c.EvidenceIDs()[0]
	if seen, _ := f.seen.Load().(string); !strings.Contains(seen, "[1] The build server is in Lyon.") || !strings.Contains(seen, ev[:len("sha256:")+12]) {
		t.Fatalf("retrieval did not cite the canon claim and its evidence: %s", seen)
	}
	// Per lease.
	l, _, err := f.sys.Leases.Grant(ctx, owner, lease.GrantRequest{Name: "rag", Scopes: []string{"model:*"}, BudgetMicros: -1, BudgetTokens: -1,
		Options: store.LeaseOptions{Memory: true}})
	if err != nil {
		t.Fatal(err)
	}
	f.seen.Store("")
	if _, err := f.sys.Chat(ctx, l, ask, CallOptions{}); err != nil {
		t.Fatal(err)
	}
	if seen, _ := f.seen.Load().(string); !strings.Contains(seen, "Lyon") {
		t.Fatalf("a memory lease's call had no retrieval: %s", seen)
	}
}

func TestClaimsAreExtractedWithTheSkillAndCiteCharacterSpans(t *testing.T) {
	text := "Zoë lives in Zürich. She works at CERN."
	sys, _ := newRunFixture(t, func(model, system, prompt string) string {
		// Character offsets, as the skill's prompt asks: "She works at
		// CERN." starts at character 21 (byte 23: ë and ü take two).
		return `{"claims":[{"statement":"Zoë lives in Zürich.","span":{"start":0,"end":20},"confidence":0.9},
			{"statement":"Zoë works at CERN.","span":{"start":21,"end":39},"confidence":0.8}]}`
	})
	ctx := context.Background()
	ev, _, err := sys.Memory.AddEvidence(ctx, memory.NewEvidence{Kind: "text", Content: []byte(text), Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	res, run, err := sys.ExtractClaims(ctx, rootLease(t, sys), ev.ID)
	if err != nil || run == "" {
		t.Fatalf("extract: %v (run %q)", err, run)
	}
	if len(res.Claims) != 2 || len(res.Dropped) != 0 {
		t.Fatalf("extracted %+v", res)
	}
	sp := res.Claims[1].Claim.Provenance[0]
	if got := text[sp.Start:sp.End]; got != "She works at CERN." {
		t.Fatalf("the span cites %q", got)
	}
	r, _ := sys.Run(ctx, run)
	if r.State != RunSucceeded || r.Skill != "extract-claims" || r.Provenance == nil {
		t.Fatalf("the extraction run: %s %s", r.State, r.Skill)
	}
}
