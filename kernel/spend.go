package kernel

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/mirroros/mirror/trace/ledger"
)

// SpendRow is spending grouped one way.
type SpendRow struct {
	Key              string  `json:"key"`
	Calls            int     `json:"calls"`
	CostUSD          float64 `json:"cost_usd"`
	PromptTokens     int     `json:"prompt_tokens"`
	CompletionTokens int     `json:"completion_tokens"`
}

// Spend adds up the model.call outcomes in the ledger since a time, grouped
// by "lease", "model" or "day". The ledger is the source of truth, so the
// numbers are the audited ones.
func (s *System) Spend(ctx context.Context, by string, since time.Time) ([]SpendRow, error) {
	switch by {
	case "lease", "model", "day":
	default:
		return nil, fmt.Errorf("by must be lease, model or day, not %q", by)
	}
	rows := map[string]*SpendRow{}
	const page = 4096
	for from := uint64(0); from < s.Ledger.Size(); from += page {
		err := s.Ledger.Entries(ctx, from, page, func(_ uint64, data []byte) error {
			e, err := ledger.ParseEntry(data)
			if err != nil || e.Kind != "model.call" || e.Time.Before(since) {
				return nil
			}
			var b struct {
				Lease   string  `json:"lease"`
				Model   string  `json:"model"`
				CostUSD float64 `json:"cost_usd"`
				Usage   struct {
					PromptTokens     int `json:"prompt_tokens"`
					CompletionTokens int `json:"completion_tokens"`
				} `json:"usage"`
			}
			if json.Unmarshal(e.Body, &b) != nil {
				return nil
			}
			key := map[string]string{"lease": b.Lease, "model": b.Model, "day": e.Time.Format("2006-01-02")}[by]
			r, ok := rows[key]
			if !ok {
				r = &SpendRow{Key: key}
				rows[key] = r
			}
			r.Calls++
			r.CostUSD += b.CostUSD
			r.PromptTokens += b.Usage.PromptTokens
			r.CompletionTokens += b.Usage.CompletionTokens
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	out := make([]SpendRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if by == "day" {
			return out[i].Key < out[j].Key
		}
		return out[i].CostUSD > out[j].CostUSD
	})
	return out, nil
}
