package council

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// vote has every member that answered reduce its answer to one of the fixed
// choices. choices[i] is answers[i]'s vote, or "" when it abstained because
// the call failed or the choice was not one of those allowed.
func (r *runner) vote(ctx context.Context, answers []Answer) (choices []string, recs []CallRecord) {
	choices = make([]string, len(answers))
	recs = make([]CallRecord, len(answers))
	list := bulletList(r.q.Choices)
	var wg sync.WaitGroup
	for i, a := range answers {
		wg.Go(func() {
			resp, rec, err := r.call(ctx, Request{
				Model: a.Model, System: voteSystem,
				Prompt:    fmt.Sprintf(votePrompt, r.q.Text, list, a.Text),
				MaxTokens: voteMaxTokens, JSON: true, Stage: StageVote,
			})
			if err == nil {
				choice, perr := parseChoice(resp.Text, r.q.Choices)
				if perr != nil {
					rec.Invalid = "abstained: " + perr.Error()
				}
				choices[i] = choice
			}
			recs[i] = rec
		})
	}
	wg.Wait()
	return choices, recs
}

// tally counts the members' votes (Answer.Choice) into res. A choice wins
// with a strict majority of the valid votes.
func tally(res *Result, answers []Answer) {
	res.Votes = make(map[string][]string)
	valid := 0
	for _, a := range answers {
		if a.Choice == "" {
			res.Abstained = append(res.Abstained, a.Model)
			continue
		}
		res.Votes[a.Choice] = append(res.Votes[a.Choice], a.Model)
		valid++
	}
	type count struct {
		choice string
		n      int
	}
	counts := make([]count, 0, len(res.Votes))
	for c, ms := range res.Votes {
		counts = append(counts, count{c, len(ms)})
	}
	sort.Slice(counts, func(i, j int) bool {
		if counts[i].n != counts[j].n {
			return counts[i].n > counts[j].n
		}
		return counts[i].choice < counts[j].choice
	})
	if len(counts) > 1 && counts[0].n == counts[1].n {
		res.Tie = true
	}
	if len(counts) > 0 && 2*counts[0].n > valid {
		res.Winner = counts[0].choice
	} else {
		res.NoMajority = true
	}
	res.Final = res.Winner
	if len(counts) < 2 {
		return
	}
	for _, a := range answers {
		if a.Choice != "" && a.Choice != res.Winner {
			res.Dissent = append(res.Dissent, Ballot{Model: a.Model, Choice: a.Choice})
		}
	}
}
