package memory

import (
	"context"
	"fmt"
	"strings"
)

// Cited is a canon claim retrieved for a model call, with the evidence it
// rests on.
type Cited struct {
	Claim    Claim    `json:"claim"`
	Evidence []string `json:"evidence"` // distinct evidence ids, in the order first cited
	Score    float64  `json:"score"`
}

// Retrieve returns up to n canon claims relevant to query (default 5), best
// first, each with its citations. An empty query returns the newest canon
// claims.
func (m *Memory) Retrieve(ctx context.Context, query string, n int) ([]Cited, error) {
	if n <= 0 {
		n = 5
	}
	res, err := m.Search(ctx, Query{Text: query, Statuses: []Status{StatusCanon}, Limit: n})
	if err != nil {
		return nil, err
	}
	out := make([]Cited, len(res.Claims))
	for i, h := range res.Claims {
		out[i] = Cited{Claim: h.Claim, Evidence: h.Claim.EvidenceIDs(), Score: h.Score}
	}
	return out, nil
}

// preambleSources is how many evidence ids the preamble shows per claim.
const preambleSources = 3

// FormatPreamble renders retrieved claims as a compact block for a system
// prompt: a header line, then one numbered line per claim with its
// evidence ids shortened to 12 hex digits. Statements are put on one line
// each, so a statement cannot forge another numbered entry. No claims: "".
func FormatPreamble(cs []Cited) string {
	if len(cs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("Memory (verified facts from the canon; cite as [n]):\n")
	for i, c := range cs {
		fmt.Fprintf(&b, "[%d] %s", i+1, strings.Join(strings.Fields(c.Claim.Statement), " "))
		if !c.Claim.InvalidAt.IsZero() {
			fmt.Fprintf(&b, " (until %s)", c.Claim.InvalidAt.Format("2006-01-02"))
		}
		if len(c.Evidence) > 0 {
			b.WriteString(" [evidence: ")
			for j, id := range c.Evidence[:min(len(c.Evidence), preambleSources)] {
				if j > 0 {
					b.WriteString(", ")
				}
				b.WriteString(shortID(id))
			}
			if extra := len(c.Evidence) - preambleSources; extra > 0 {
				fmt.Fprintf(&b, " +%d more", extra)
			}
			b.WriteByte(']')
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// shortID shortens "sha256:<64 hex>" to "sha256:<12 hex>".
func shortID(id string) string {
	if strings.HasPrefix(id, "sha256:") && len(id) > len("sha256:")+12 {
		return id[:len("sha256:")+12]
	}
	return id
}

// IdentityClaims returns the live canon claims of kind identity, in the
// order they were added: what the identity document says about the person.
func (m *Memory) IdentityClaims(ctx context.Context) ([]Claim, error) {
	return m.Claims(ctx, Filter{Statuses: []Status{StatusCanon}, Kinds: []Kind{KindIdentity}})
}
