package kernel

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/mirroros/mirror/trace/ledger"
)

// closeDanglingCalls finds model calls that were allowed but have no
// outcome entry — the kernel stopped between the decision and the answer —
// and records each as outcome_unknown, so that the log says what it cannot
// know rather than nothing. It reads entries before index end only.
func (s *System) closeDanglingCalls(ctx context.Context, end uint64) (int, error) {
	type decision struct{ lease, model string }
	open := map[uint64]decision{}
	const page = 4096
	for from := uint64(0); from < end; from += page {
		err := s.Ledger.Entries(ctx, from, int(min(page, end-from)), func(i uint64, data []byte) error {
			// Cheap filter before parsing: most entries are neither kind.
			if !strings.Contains(string(data[:min(len(data), 4096)]), `"model`) {
				return nil
			}
			e, err := ledger.ParseEntry(data)
			if err != nil {
				return nil
			}
			switch e.Kind {
			case "policy.decision":
				var b struct {
					Action, Decision, Lease, Resource string
				}
				if json.Unmarshal(e.Body, &b) == nil && strings.HasPrefix(b.Action, "model:chat:") && b.Decision == "ALLOW" {
					open[i] = decision{lease: b.Lease, model: b.Resource}
				}
			case "model.call":
				var b struct {
					DecisionIndex *uint64 `json:"decision_index"`
				}
				if json.Unmarshal(e.Body, &b) == nil && b.DecisionIndex != nil {
					delete(open, *b.DecisionIndex)
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	n := 0
	for idx, d := range open {
		body, _ := json.Marshal(map[string]any{"decision_index": idx, "lease": d.lease, "model": d.model, "outcome": "outcome_unknown",
			"why": "the kernel stopped after allowing this call and before recording its outcome"})
		if _, err := s.Ledger.Append(ctx, ledger.Event{Kind: "model.call", Actor: "kernel", Body: body}); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
