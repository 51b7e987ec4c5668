package council

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// claimSet is the claims of one answer and where they came from.
type claimSet struct {
	claims []string
	source string
}

// checkClaims splits every answer into claims and has every other member
// judge them. verdicts[a][j][c] is answers[j]'s verdict on claim c of
// answers[a]; it is nil when j == a or the judge's call or reply failed.
func (r *runner) checkClaims(ctx context.Context, answers []Answer) (claims []claimSet, verdicts [][][]verdict, claimRecs, judgeRecs []CallRecord) {
	n := len(answers)
	claims = make([]claimSet, n)
	verdicts = make([][][]verdict, n)
	splitRecs := make([]CallRecord, n)
	judged := make([][]CallRecord, n)
	var wg sync.WaitGroup
	for a := range answers {
		wg.Go(func() {
			claims[a], splitRecs[a] = r.splitClaims(ctx, answers[a])
			verdicts[a] = make([][]verdict, n)
			judged[a] = make([]CallRecord, n)
			if len(claims[a].claims) == 0 || ctx.Err() != nil {
				return
			}
			var inner sync.WaitGroup
			for j := range answers {
				if j == a {
					continue
				}
				inner.Go(func() {
					verdicts[a][j], judged[a][j] = r.judge(ctx, answers[j], claims[a].claims)
				})
			}
			inner.Wait()
		})
	}
	wg.Wait()
	claimRecs = splitRecs
	for a := range answers {
		for _, rec := range judged[a] {
			if rec.Stage != "" {
				judgeRecs = append(judgeRecs, rec)
			}
		}
	}
	return claims, verdicts, claimRecs, judgeRecs
}

// splitClaims asks the chairman to split an answer into atomic claims,
// falling back to the sentence splitter when the call fails or its reply is
// unusable.
func (r *runner) splitClaims(ctx context.Context, a Answer) (claimSet, CallRecord) {
	resp, rec, err := r.call(ctx, Request{
		Model: r.q.Chairman, System: claimsSystem,
		Prompt:    fmt.Sprintf(claimsPrompt, r.q.Text, a.Text),
		MaxTokens: claimsMaxTokens, JSON: true, Stage: StageClaims,
	})
	if err == nil {
		claims, perr := parseClaims(resp.Text)
		if perr == nil {
			return claimSet{claims: claims, source: ClaimsByChairman}, rec
		}
		rec.Invalid = "unusable claim list: " + perr.Error()
	}
	return claimSet{claims: splitSentences(a.Text), source: ClaimsBySentences}, rec
}

// judge asks the member who wrote own to judge claims. It returns nil
// verdicts if the call failed or the reply was unusable.
func (r *runner) judge(ctx context.Context, own Answer, claims []string) ([]verdict, CallRecord) {
	var list strings.Builder
	for i, c := range claims {
		fmt.Fprintf(&list, "%d. %s\n", i+1, c)
	}
	resp, rec, err := r.call(ctx, Request{
		Model: own.Model, System: judgeSystem,
		Prompt:    fmt.Sprintf(judgePrompt, r.q.Text, own.Text, strings.TrimRight(list.String(), "\n"), len(claims)),
		MaxTokens: judgeMaxTokens, JSON: true, Stage: StageJudge,
	})
	if err != nil {
		return nil, rec
	}
	v, err := parseVerdicts(resp.Text, len(claims))
	if err != nil {
		rec.Invalid = "unusable verdicts: " + err.Error()
		return nil, rec
	}
	return v, rec
}

// aggregateClaims turns the judges' verdicts into one Flag per claim. A claim
// is flagged as contradicted when any judge contradicted it, and as
// unsupported when no judge contradicted it and none supported it.
func aggregateClaims(answers []Answer, verdicts [][][]verdict) (all, flagged []Flag, agreement float64) {
	for a, ans := range answers {
		for c, claim := range ans.Claims {
			f := Flag{Model: ans.Model, Claim: claim}
			for j, judge := range answers {
				if j == a {
					continue
				}
				var v verdict
				if vs := verdicts[a][j]; vs != nil {
					v = vs[c]
				}
				switch v.kind {
				case verdictSupported:
					f.SupportedBy = append(f.SupportedBy, judge.Model)
				case verdictContradicted:
					f.ContradictedBy = append(f.ContradictedBy, judge.Model)
				case verdictUnsupported:
					f.UnsupportedBy = append(f.UnsupportedBy, judge.Model)
				default:
					f.NoVerdict = append(f.NoVerdict, judge.Model)
				}
				if v.kind != "" && v.note != "" {
					f.Notes = append(f.Notes, judge.Model+": "+v.note)
				}
			}
			switch {
			case len(f.ContradictedBy) > 0:
				f.Kind = KindContradicted
			case len(f.SupportedBy) == 0:
				f.Kind = KindUnsupported
			}
			all = append(all, f)
			if f.Kind != "" {
				flagged = append(flagged, f)
			}
		}
	}
	if len(all) > 0 {
		agreement = float64(len(all)-len(flagged)) / float64(len(all))
	}
	return all, flagged, agreement
}
