package council

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// rank has every member rank the other members' answers, anonymised as
// "Response A", "Response B", … in an order of its own. A member that would
// see fewer than two answers has nothing to rank and is not asked.
func (r *runner) rank(ctx context.Context, answers []Answer) ([]Ranking, []CallRecord) {
	rankings := make([]Ranking, len(answers))
	recs := make([]CallRecord, len(answers))
	asked := make([]bool, len(answers))
	var wg sync.WaitGroup
	for i, judge := range answers {
		rankings[i].Judge = judge.Model
		var others []Answer
		for j, a := range answers {
			if j != i {
				others = append(others, a)
			}
		}
		if len(others) < 2 {
			rankings[i].Err = "fewer than two other answers to rank"
			continue
		}
		asked[i] = true
		perm := r.perm(uint64(r.memberIndex(judge.Model))+1, len(others))
		shown := make([]Answer, len(others))
		labels := make([]string, len(others))
		var block strings.Builder
		for pos, k := range perm {
			shown[pos] = others[k]
			labels[pos] = letter(pos)
			fmt.Fprintf(&block, "Response %s:\n<<<\n%s\n>>>\n\n", labels[pos], others[k].Text)
		}
		prompt := fmt.Sprintf(rankPrompt, r.q.Text, strings.TrimRight(block.String(), "\n"),
			len(labels), strings.Join(labels, ", "))
		wg.Go(func() {
			resp, rec, err := r.call(ctx, Request{
				Model: judge.Model, System: rankSystem, Prompt: prompt,
				MaxTokens: rankMaxTokens, JSON: true, Stage: StageRank,
			})
			defer func() { recs[i] = rec }()
			if err != nil {
				rankings[i].Err = "call failed: " + err.Error()
				return
			}
			order, reasons, err := parseRanking(resp.Text, labels)
			rankings[i].Reasons = reasons
			if err != nil {
				rankings[i].Err = "invalid ranking: " + err.Error()
				rec.Invalid = rankings[i].Err
				return
			}
			for _, pos := range order {
				rankings[i].Order = append(rankings[i].Order, shown[pos].Model)
			}
			rankings[i].Valid = true
		})
	}
	wg.Wait()
	var out []CallRecord
	for i, rec := range recs {
		if asked[i] {
			out = append(out, rec)
		}
	}
	return rankings, out
}

// borda combines the valid rankings into one. In a ranking of k answers the
// first earns k-1 points and the last 0. Ties go to the lower mean position,
// then to the member name; answers no valid ranking included come last.
func borda(answers []Answer, rankings []Ranking) []RankedAnswer {
	type acc struct{ score, positions, count int }
	totals := make(map[string]*acc, len(answers))
	for _, a := range answers {
		totals[a.Model] = &acc{}
	}
	for _, rk := range rankings {
		if !rk.Valid {
			continue
		}
		k := len(rk.Order)
		for p, m := range rk.Order {
			t := totals[m]
			if t == nil {
				continue
			}
			t.score += k - 1 - p
			t.positions += p + 1
			t.count++
		}
	}
	out := make([]RankedAnswer, 0, len(answers))
	for _, a := range answers {
		t := totals[a.Model]
		ra := RankedAnswer{Model: a.Model, Score: t.score, Rankings: t.count}
		if t.count > 0 {
			ra.MeanPosition = float64(t.positions) / float64(t.count)
		}
		out = append(out, ra)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.Rankings > 0) != (b.Rankings > 0) {
			return a.Rankings > 0
		}
		if a.Score != b.Score {
			return a.Score > b.Score
		}
		if a.MeanPosition != b.MeanPosition {
			return a.MeanPosition < b.MeanPosition
		}
		return a.Model < b.Model
	})
	return out
}
