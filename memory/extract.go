package memory

import (
	"context"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// ExtractedClaim is a claim a model found in a text. Start and End are
// byte offsets into the text given to Extract: the span the statement
// rests on.
type ExtractedClaim struct {
	Statement  string  `json:"statement"`
	Start      int     `json:"start"`
	End        int     `json:"end"`
	Confidence float64 `json:"confidence"`
	Subject    string  `json:"subject,omitempty"`
	Kind       Kind    `json:"kind,omitempty"`
}

// Extractor finds atomic claims in a text, typically through a model call.
// If it also has a Name() string method, its claims are attributed to
// "extractor/" and that name; otherwise to ActorExtractor.
type Extractor interface {
	Extract(ctx context.Context, text string) ([]ExtractedClaim, error)
}

// ExtractResult is what an extraction added, and what it had to fix or
// leave out.
type ExtractResult struct {
	EvidenceID string        `json:"evidence_id"`
	Claims     []AddResult   `json:"claims"`
	Adjusted   []ExtractNote `json:"adjusted,omitempty"` // kept after a fix (span clamped, confidence bounded…)
	Dropped    []ExtractNote `json:"dropped,omitempty"`  // left out
}

// ExtractNote says what happened to one extracted claim.
type ExtractNote struct {
	Index     int    `json:"index"` // position in the extractor's answer
	Statement string `json:"statement"`
	Reason    string `json:"reason"`
}

// defaultExtractedConfidence replaces a missing or unusable confidence.
const defaultExtractedConfidence = 0.5

// ExtractClaims runs ex over the text of a piece of evidence and adds what
// it finds as claims citing that evidence, in one transaction. Spans out
// of range are clamped to the text (and to whole UTF-8 characters); claims
// whose span is empty after that, or that are otherwise unusable, are
// dropped. Both are listed in the result.
func (m *Memory) ExtractClaims(ctx context.Context, evidenceID string, ex Extractor) (ExtractResult, error) {
	res := ExtractResult{EvidenceID: evidenceID, Claims: []AddResult{}}
	e, err := m.Evidence(ctx, evidenceID)
	if err != nil {
		return res, err
	}
	if e.Redacted() {
		return res, fmt.Errorf("%w: evidence %s is redacted", ErrConflict, evidenceID)
	}
	if !e.Text {
		return res, invalidf("evidence %s is not text", evidenceID)
	}
	text := string(e.Content)
	found, err := ex.Extract(ctx, text)
	if err != nil {
		return res, fmt.Errorf("memory: extract from %s: %w", evidenceID, err)
	}
	actor := ActorExtractor
	if n, ok := ex.(interface{ Name() string }); ok && n.Name() != "" {
		actor = "extractor/" + n.Name()
		if checkActor(actor) != nil {
			actor = ActorExtractor
		}
	}
	var ins []NewClaim
	for i, x := range found {
		note := func(reason string) ExtractNote { return ExtractNote{Index: i, Statement: x.Statement, Reason: reason} }
		if i >= MaxExtracted {
			res.Dropped = append(res.Dropped, note(fmt.Sprintf("over the limit of %d claims per extraction", MaxExtracted)))
			continue
		}
		start, end, fixes, ok := clampSpan(text, x.Start, x.End)
		if !ok {
			res.Dropped = append(res.Dropped, note(fixes))
			continue
		}
		conf := x.Confidence
		switch {
		case math.IsNaN(conf) || conf <= 0:
			conf = defaultExtractedConfidence
			fixes = appendFix(fixes, fmt.Sprintf("confidence %v replaced by %v", x.Confidence, conf))
		case conf > 1:
			conf = 1
			fixes = appendFix(fixes, fmt.Sprintf("confidence %v lowered to 1", x.Confidence))
		}
		kind := x.Kind
		if kind != "" && !oneOf(kind, claimKinds) {
			fixes = appendFix(fixes, fmt.Sprintf("kind %q is not a claim kind; other used", kind))
			kind = KindOther
		}
		in := NewClaim{Statement: x.Statement, Subject: x.Subject, Kind: kind, Confidence: conf,
			Spans: []Span{{EvidenceID: evidenceID, Start: start, End: end}}, Actor: actor}
		if err := in.check(); err != nil {
			res.Dropped = append(res.Dropped, note(strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": ")))
			continue
		}
		if fixes != "" {
			res.Adjusted = append(res.Adjusted, note(fixes))
		}
		ins = append(ins, in)
	}
	if len(ins) == 0 {
		return res, nil
	}
	added, err := m.addClaims(ctx, ins)
	if err != nil {
		return res, err
	}
	res.Claims = added
	return res, nil
}

func appendFix(fixes, s string) string {
	if fixes == "" {
		return s
	}
	return fixes + "; " + s
}

// clampSpan fits [start, end) into text on whole UTF-8 characters. It
// returns the span, what it changed, and false with the reason when no
// span is left.
func clampSpan(text string, start, end int) (int, int, string, bool) {
	var fixes string
	n := len(text)
	if start < 0 {
		fixes = appendFix(fixes, fmt.Sprintf("start %d clamped to 0", start))
		start = 0
	}
	if end > n {
		fixes = appendFix(fixes, fmt.Sprintf("end %d clamped to %d", end, n))
		end = n
	}
	if start >= n || end <= start {
		return 0, 0, appendFix(fixes, fmt.Sprintf("span [%d, %d) is empty or outside the %d-byte text", start, end, n)), false
	}
	s, e := start, end
	for s > 0 && !utf8.RuneStart(text[s]) {
		s--
	}
	for e < n && !utf8.RuneStart(text[e]) {
		e++
	}
	if s != start || e != end {
		fixes = appendFix(fixes, fmt.Sprintf("span [%d, %d) widened to whole characters [%d, %d)", start, end, s, e))
	}
	return s, e, fixes, true
}
