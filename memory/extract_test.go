package memory

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// fakeExtractor answers with fixed claims, or with Err.
type fakeExtractor struct {
	Claims []ExtractedClaim
	Err    error
	name   string
	got    string
}

func (x *fakeExtractor) Extract(_ context.Context, text string) ([]ExtractedClaim, error) {
	x.got = text
	return x.Claims, x.Err
}

type namedExtractor struct{ fakeExtractor }

func (x *namedExtractor) Name() string { return x.name }

func TestExtractClaimsClampsAndDropsBadSpans(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	text := "Ada lives in Zürich. She works at CERN. Her cat is called Tau."
	e := f.evidence(t, text, time.Time{})
	zurich := strings.Index(text, "Zürich")
	x := &namedExtractor{fakeExtractor{name: "qwen3-8b", Claims: []ExtractedClaim{
		{Statement: "Ada lives in Zürich", Start: 0, End: 19, Confidence: 0.9, Subject: "Ada", Kind: KindIdentity},
		{Statement: "Ada works at CERN", Start: 21, End: 500, Confidence: 0.8},          // end past the text: clamped
		{Statement: "Ada has a cat named Tau", Start: -4, End: 10, Confidence: 1.7},     // start clamped, confidence lowered
		{Statement: "Zürich is in Switzerland", Start: zurich + 2, End: zurich + 2 + 1}, // inside "ü": widened, confidence defaulted
		{Statement: "Nothing here", Start: 500, End: 600, Confidence: 0.5},              // outside: dropped
		{Statement: "Backwards", Start: 10, End: 5, Confidence: 0.5},                    // empty: dropped
		{Statement: "  ", Start: 0, End: 5, Confidence: 0.5},                            // no statement: dropped
		{Statement: "A rumour", Start: 0, End: 5, Confidence: 0.5, Kind: "gossip"},      // unknown kind: other
		{Statement: "NaN confident", Start: 0, End: 5, Confidence: math.NaN()},          // confidence defaulted
	}}}
	res, err := f.m.ExtractClaims(ctx, e.ID, x)
	if err != nil {
		t.Fatal(err)
	}
	if x.got != text {
		t.Errorf("the extractor saw %q", x.got)
	}
	if len(res.Claims) != 6 || len(res.Dropped) != 3 || len(res.Adjusted) != 5 {
		t.Fatalf("claims %d, dropped %+v, adjusted %+v", len(res.Claims), res.Dropped, res.Adjusted)
	}
	for _, c := range res.Claims {
		if c.Claim.Actor != "extractor/qwen3-8b" || c.Claim.Provenance[0].EvidenceID != e.ID {
			t.Errorf("claim %+v", c.Claim)
		}
		s := c.Claim.Provenance[0].Span
		if s.Start < 0 || s.End > len(text) || s.Start >= s.End {
			t.Errorf("span %+v out of range", s)
		}
	}
	byStatement := map[string]Claim{}
	for _, c := range res.Claims {
		byStatement[c.Claim.Statement] = c.Claim
	}
	if c := byStatement["Ada works at CERN"]; c.Provenance[0].End != len(text) || c.Confidence != 0.8 {
		t.Errorf("clamped end: %+v", c)
	}
	if c := byStatement["Ada has a cat named Tau"]; c.Provenance[0].Start != 0 || c.Confidence != 1 {
		t.Errorf("clamped start: %+v", c)
	}
	if c := byStatement["Zürich is in Switzerland"]; c.Provenance[0].Start != zurich+1 || c.Provenance[0].End != zurich+3 || c.Confidence != 0.5 {
		t.Errorf("widened span: %+v (ü at %d)", c.Provenance[0], zurich+1)
	}
	if c := byStatement["A rumour"]; c.Kind != KindOther {
		t.Errorf("unknown kind became %q", c.Kind)
	}
	if c := byStatement["Ada lives in Zürich"]; c.Kind != KindIdentity || c.Subject != "Ada" {
		t.Errorf("kept fields: %+v", c)
	}
	for _, d := range res.Dropped {
		if d.Reason == "" {
			t.Errorf("dropped without a reason: %+v", d)
		}
	}
	if res.Dropped[0].Index != 4 || !strings.Contains(res.Dropped[0].Reason, "outside") {
		t.Errorf("first dropped = %+v", res.Dropped[0])
	}
	if rep, _ := f.m.Verify(ctx); !rep.OK() {
		t.Errorf("verify: %v", rep.Problems)
	}
}

func TestExtractClaimsRefusesWhatItCannotRead(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	bin, _, err := f.m.AddEvidence(ctx, NewEvidence{Kind: EvidenceFile, Content: []byte{0, 1, 2}, Actor: actor})
	if err != nil {
		t.Fatal(err)
	}
	x := &fakeExtractor{}
	_, err = f.m.ExtractClaims(ctx, bin.ID, x)
	wantErr(t, err, ErrInvalid)
	_, err = f.m.ExtractClaims(ctx, EvidenceID([]byte("none")), x)
	wantErr(t, err, ErrNotFound)
	e := f.evidence(t, "some text", time.Time{})
	x.Err = errors.New("model timeout")
	if _, err = f.m.ExtractClaims(ctx, e.ID, x); err == nil || !strings.Contains(err.Error(), "model timeout") {
		t.Errorf("extractor failure: %v", err)
	}
	x.Err = nil
	res, err := f.m.ExtractClaims(ctx, e.ID, x)
	if err != nil || len(res.Claims) != 0 {
		t.Errorf("nothing extracted: %+v, %v", res, err)
	}
	x.Claims = []ExtractedClaim{{Statement: "Some text exists", Start: 0, End: 4, Confidence: 0.5}}
	res, err = f.m.ExtractClaims(ctx, e.ID, x)
	if err != nil || len(res.Claims) != 1 || res.Claims[0].Claim.Actor != ActorExtractor {
		t.Errorf("unnamed extractor: %+v, %v", res, err)
	}
	if _, err := f.m.Redact(ctx, e.ID, actor, "test"); err != nil {
		t.Fatal(err)
	}
	_, err = f.m.ExtractClaims(ctx, e.ID, x)
	wantErr(t, err, ErrConflict)
}
