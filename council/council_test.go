package council

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func waterQ(models ...string) Question {
	if len(models) == 0 {
		models = []string{"a", "b", "c"}
	}
	return Question{Text: waterQuestion, Models: models, Seed: 42}
}

func TestSynthesizeFlagsContradictedClaim(t *testing.T) {
	w := waterWorld()
	fc := w.caller()
	res, err := Run(context.Background(), fc, waterQ())
	if err != nil {
		t.Fatal(err)
	}

	// C's invented fact is contradicted by both other members.
	c := flagFor(t, res.Flags, "c", "90 degrees")
	if c.Kind != KindContradicted {
		t.Errorf("c's claim kind = %q, want %q", c.Kind, KindContradicted)
	}
	wantStrings(t, "ContradictedBy", c.ContradictedBy, []string{"a", "b"})
	wantStrings(t, "SupportedBy", c.SupportedBy, nil)
	wantStrings(t, "UnsupportedBy", c.UnsupportedBy, nil)
	wantStrings(t, "Notes", c.Notes, []string{
		"a: water boils at 100 degrees Celsius at sea level",
		"b: water boils at 100 degrees Celsius at sea level",
	})
	if len(res.Flags) != 1 {
		t.Errorf("flags = %+v, want only c's claim", res.Flags)
	}

	// Everything else passes; the altitude claim passes because b supports
	// it although c cannot confirm it.
	if len(res.Claims) != 4 {
		t.Fatalf("claims = %+v, want 4", res.Claims)
	}
	alt := flagFor(t, res.Claims, "a", "altitude")
	if alt.Kind != "" {
		t.Errorf("altitude claim flagged %q", alt.Kind)
	}
	wantStrings(t, "altitude SupportedBy", alt.SupportedBy, []string{"b"})
	wantStrings(t, "altitude UnsupportedBy", alt.UnsupportedBy, []string{"c"})
	bClaim := flagFor(t, res.Claims, "b", "100 degrees")
	wantStrings(t, "b's claim SupportedBy", bClaim.SupportedBy, []string{"a", "c"})
	if res.Agreement != 0.75 {
		t.Errorf("agreement = %v, want 0.75", res.Agreement)
	}
	for _, a := range res.Answers {
		if a.ClaimSource != ClaimsByChairman {
			t.Errorf("%s claim source = %q", a.Model, a.ClaimSource)
		}
		if a.AnsweredBy != a.Model+"@routed" {
			t.Errorf("%s answered by %q", a.Model, a.AnsweredBy)
		}
	}

	// Borda: a ranks B>C, b ranks A>C, c ranks B>A.
	want := []RankedAnswer{
		{Model: "b", Score: 2, MeanPosition: 1, Rankings: 2},
		{Model: "a", Score: 1, MeanPosition: 1.5, Rankings: 2},
		{Model: "c", Score: 0, MeanPosition: 2, Rankings: 2},
	}
	if len(res.Ranking) != len(want) {
		t.Fatalf("ranking = %+v", res.Ranking)
	}
	for i := range want {
		if res.Ranking[i] != want[i] {
			t.Errorf("ranking[%d] = %+v, want %+v", i, res.Ranking[i], want[i])
		}
	}
	for _, rk := range res.Rankings {
		if !rk.Valid || len(rk.Order) != 2 || rk.Reasons == "" {
			t.Errorf("ranking %+v", rk)
		}
	}

	// The chairman is told about the flagged claim, and only it.
	synth := fc.requests(StageSynthesize)
	if len(synth) != 1 || synth[0].Model != "a" {
		t.Fatalf("synthesis requests = %+v", synth)
	}
	_, flagged, ok := strings.Cut(synth[0].Prompt, "Flagged claims:\n")
	if !ok {
		t.Fatalf("synthesis prompt has no flagged claims section:\n%s", synth[0].Prompt)
	}
	if !strings.Contains(flagged, "Water boils at 90 degrees Celsius at sea level.") ||
		!strings.Contains(flagged, "contradicted by 2") ||
		!strings.Contains(flagged, "water boils at 100 degrees Celsius at sea level") {
		t.Errorf("flagged section lacks c's claim or the correction:\n%s", flagged)
	}
	if strings.Contains(flagged, "altitude") || strings.Contains(flagged, `"c"`) {
		t.Errorf("flagged section has an unflagged claim or names a member:\n%s", flagged)
	}
	for _, a := range res.Answers {
		if !strings.Contains(synth[0].Prompt, "Response "+a.Label+":\n<<<\n"+a.Text) {
			t.Errorf("synthesis prompt lacks %s's answer as Response %s", a.Model, a.Label)
		}
	}
	if res.Final != w.final {
		t.Errorf("final = %q", res.Final)
	}
}

func TestCallsPerStage(t *testing.T) {
	fc := waterWorld().caller()
	res, err := Run(context.Background(), fc, waterQ())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{StageAnswer: 3, StageRank: 3, StageClaims: 3, StageJudge: 6, StageSynthesize: 1}
	got := stageCounts(res)
	if len(got) != len(want) {
		t.Errorf("stages = %v, want %v", got, want)
	}
	for s, n := range want {
		if got[s] != n {
			t.Errorf("%s calls = %d, want %d", s, got[s], n)
		}
		if r := len(fc.requests(s)); r != n {
			t.Errorf("%s requests = %d, want %d", s, r, n)
		}
	}
	if len(fc.reqs) != 16 || len(res.Calls) != 16 {
		t.Errorf("%d requests, %d records, want 16", len(fc.reqs), len(res.Calls))
	}
	// Records are grouped by stage in run order.
	order := []string{StageAnswer, StageRank, StageClaims, StageJudge, StageSynthesize}
	i := 0
	for _, c := range res.Calls {
		for i < len(order) && c.Stage != order[i] {
			i++
		}
		if i == len(order) {
			t.Fatalf("calls out of stage order: %+v", res.Calls)
		}
		if c.Err != "" || c.Invalid != "" || c.AnsweredBy != c.Model+"@routed" || c.Tokens != 10 || c.CostMicros != 10 {
			t.Errorf("record %+v", c)
		}
	}
	if res.CostMicros != 160 {
		t.Errorf("cost = %d, want 160", res.CostMicros)
	}
	for _, r := range fc.reqs {
		wantJSON := r.Stage != StageAnswer && r.Stage != StageSynthesize
		if r.JSON != wantJSON || r.System == "" || r.Prompt == "" {
			t.Errorf("request %s/%s: JSON=%v system=%d prompt=%d", r.Model, r.Stage, r.JSON, len(r.System), len(r.Prompt))
		}
	}
	// Claims are split by the chairman; nobody ranks or judges itself.
	for _, r := range fc.requests(StageClaims) {
		if r.Model != "a" {
			t.Errorf("claims split by %s, want the chairman a", r.Model)
		}
	}
	w := waterWorld()
	for _, r := range fc.requests(StageRank) {
		if strings.Contains(r.Prompt, w.answers[r.Model]) {
			t.Errorf("%s was shown its own answer to rank", r.Model)
		}
		if strings.Count(r.Prompt, "<<<") != 2 {
			t.Errorf("%s was shown %d answers", r.Model, strings.Count(r.Prompt, "<<<"))
		}
	}
	for _, r := range fc.requests(StageJudge) {
		if !strings.Contains(r.Prompt, "Your own earlier answer:\n<<<\n"+w.answers[r.Model]) {
			t.Errorf("judge %s not shown its own answer", r.Model)
		}
	}
}

func TestChairmanDefaultsAndOverride(t *testing.T) {
	fc := waterWorld().caller()
	q := waterQ()
	q.Chairman = "b"
	res, err := Run(context.Background(), fc, q)
	if err != nil {
		t.Fatal(err)
	}
	if res.Chairman != "b" {
		t.Errorf("chairman = %q", res.Chairman)
	}
	for _, s := range []string{StageClaims, StageSynthesize} {
		for _, r := range fc.requests(s) {
			if r.Model != "b" {
				t.Errorf("%s by %s, want b", s, r.Model)
			}
		}
	}
}

func TestMemberErrorIsExcludedAndRecorded(t *testing.T) {
	w := waterWorld()
	w.answers["d"] = "unused"
	w.fail = map[string]error{"d/" + StageAnswer: errBoom}
	fc := w.caller()
	res, err := Run(context.Background(), fc, waterQ("a", "b", "c", "d"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) != 1 || res.Failed[0].Model != "d" || res.Failed[0].Err != errBoom.Error() {
		t.Errorf("failed = %+v", res.Failed)
	}
	if len(res.Answers) != 3 {
		t.Errorf("answers = %+v", res.Answers)
	}
	for _, r := range fc.reqs {
		if r.Model == "d" && r.Stage != StageAnswer {
			t.Errorf("failed member d was asked to %s", r.Stage)
		}
		if r.Stage != StageAnswer && strings.Contains(r.Prompt, "unused") {
			t.Errorf("d's answer leaked into a %s prompt", r.Stage)
		}
	}
	found := false
	for _, c := range res.Calls {
		if c.Model == "d" {
			found = c.Stage == StageAnswer && c.Err == errBoom.Error() && c.CostMicros == 0
		}
	}
	if !found {
		t.Errorf("d's failed call not recorded: %+v", res.Calls)
	}
	for _, ra := range res.Ranking {
		if ra.Model == "d" {
			t.Errorf("d ranked: %+v", res.Ranking)
		}
	}
	if got := stageCounts(res); got[StageJudge] != 6 || got[StageRank] != 3 {
		t.Errorf("calls = %v", got)
	}
}

func TestQuorumFailure(t *testing.T) {
	w := waterWorld()
	w.fail = map[string]error{"b/" + StageAnswer: errBoom, "c/" + StageAnswer: errors.New("rate limited")}
	fc := w.caller()
	res, err := Run(context.Background(), fc, waterQ())
	if !errors.Is(err, ErrQuorum) {
		t.Fatalf("err = %v, want ErrQuorum", err)
	}
	if !strings.Contains(err.Error(), "b: "+errBoom.Error()) || !strings.Contains(err.Error(), "c: rate limited") {
		t.Errorf("err %q does not name the failed members", err)
	}
	if res == nil || len(res.Answers) != 1 || res.Answers[0].Model != "a" || len(res.Failed) != 2 {
		t.Fatalf("partial result = %+v", res)
	}
	if len(fc.reqs) != 3 || len(res.Calls) != 3 || res.CostMicros != 10 {
		t.Errorf("%d requests, %d records, cost %d; want 3, 3, 10", len(fc.reqs), len(res.Calls), res.CostMicros)
	}
	if res.Final != "" {
		t.Errorf("final = %q", res.Final)
	}
}

func TestEmptyAnswerCountsAsFailure(t *testing.T) {
	w := waterWorld()
	w.answers["c"] = "  \n"
	res, err := Run(context.Background(), w.caller(), waterQ())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) != 1 || res.Failed[0].Model != "c" || res.Failed[0].Err != "empty answer" {
		t.Errorf("failed = %+v", res.Failed)
	}
	// With two answers each member would rank a single answer: no rank calls.
	if n := stageCounts(res)[StageRank]; n != 0 {
		t.Errorf("%d rank calls with two answers", n)
	}
	for _, ra := range res.Ranking {
		if ra.Rankings != 0 || ra.Score != 0 {
			t.Errorf("ranking %+v", ra)
		}
	}
}

func TestGarbageRankingIsIgnored(t *testing.T) {
	w := waterWorld()
	w.wrap = map[string]func(string) string{
		"a/" + StageRank: func(string) string { return "I think the second one is best." },
		"b/" + StageRank: func(string) string { return `{"ranking": ["A", "A"], "reasons": "both"}` },
	}
	res, err := Run(context.Background(), w.caller(), waterQ())
	if err != nil {
		t.Fatal(err)
	}
	for _, rk := range res.Rankings {
		switch rk.Judge {
		case "a", "b":
			if rk.Valid || rk.Order != nil || !strings.HasPrefix(rk.Err, "invalid ranking") {
				t.Errorf("ranking by %s = %+v, want invalid", rk.Judge, rk)
			}
		case "c":
			if !rk.Valid {
				t.Errorf("c's ranking invalid: %+v", rk)
			}
		}
	}
	if !strings.Contains(res.Rankings[1].Err, "twice") {
		t.Errorf("b's ranking error = %q", res.Rankings[1].Err)
	}
	invalid := 0
	for _, c := range res.Calls {
		if c.Stage == StageRank && c.Invalid != "" {
			invalid++
		}
	}
	if invalid != 2 {
		t.Errorf("%d rank records marked invalid, want 2", invalid)
	}
	// Only c's ranking (B over A) counts; c's own answer was never ranked.
	want := []RankedAnswer{
		{Model: "b", Score: 1, MeanPosition: 1, Rankings: 1},
		{Model: "a", Score: 0, MeanPosition: 2, Rankings: 1},
		{Model: "c"},
	}
	for i := range want {
		if res.Ranking[i] != want[i] {
			t.Errorf("ranking[%d] = %+v, want %+v", i, res.Ranking[i], want[i])
		}
	}
	if res.Final == "" {
		t.Error("no final answer")
	}
}

func TestCodeFencedJSONIsParsed(t *testing.T) {
	w := waterWorld()
	fence := func(def string) string {
		return "Here is my ranking:\n```json\n" + strings.ReplaceAll(def, `"`+"A"+`"`, `"Response a"`) + "\n```\nLet me know if {you} need more."
	}
	w.wrap = map[string]func(string) string{
		"a/" + StageRank:   fence,
		"b/" + StageRank:   fence,
		"c/" + StageRank:   fence,
		"a/" + StageClaims: func(def string) string { return "```\n" + def + "\n```" },
		"b/" + StageJudge:  func(def string) string { return "Verdicts follow.\n```json\n" + def + "\n```" },
	}
	res, err := Run(context.Background(), w.caller(), waterQ())
	if err != nil {
		t.Fatal(err)
	}
	for _, rk := range res.Rankings {
		if !rk.Valid {
			t.Errorf("fenced ranking by %s invalid: %s", rk.Judge, rk.Err)
		}
	}
	if res.Ranking[0].Model != "b" || res.Ranking[0].Score != 2 {
		t.Errorf("ranking = %+v", res.Ranking)
	}
	for _, a := range res.Answers {
		if a.ClaimSource != ClaimsByChairman {
			t.Errorf("%s claims from %s", a.Model, a.ClaimSource)
		}
	}
	c := flagFor(t, res.Flags, "c", "90 degrees")
	wantStrings(t, "ContradictedBy", c.ContradictedBy, []string{"a", "b"})
}

func TestClaimSplitFallsBackToSentences(t *testing.T) {
	w := waterWorld()
	w.answers["a"] = "Water boils at 100 degrees Celsius at sea level. Quite so! The boiling point drops as altitude increases.\n\n- Pressure matters for the boiling point"
	w.wrap = map[string]func(string) string{
		"a/" + StageClaims: func(string) string { return "I cannot split this text, sorry." },
	}
	w.fail = map[string]error{}
	res, err := Run(context.Background(), w.caller(), waterQ())
	if err != nil {
		t.Fatal(err)
	}
	wantClaims := map[string][]string{
		"a": {
			"Water boils at 100 degrees Celsius at sea level.",
			"The boiling point drops as altitude increases.",
			"Pressure matters for the boiling point",
		},
		"b": {"At sea level, water boils at 100 degrees Celsius."},
		"c": {"Water boils at 90 degrees Celsius at sea level."},
	}
	for _, a := range res.Answers {
		if a.ClaimSource != ClaimsBySentences {
			t.Errorf("%s claim source = %q", a.Model, a.ClaimSource)
		}
		wantStrings(t, a.Model+"'s claims", a.Claims, wantClaims[a.Model])
	}
	for _, c := range res.Calls {
		if c.Stage == StageClaims && !strings.HasPrefix(c.Invalid, "unusable claim list") {
			t.Errorf("claims record %+v not marked invalid", c)
		}
	}
	c := flagFor(t, res.Flags, "c", "90 degrees")
	wantStrings(t, "ContradictedBy", c.ContradictedBy, []string{"a", "b"})

	// A failed call falls back the same way.
	w.wrap = nil
	w.fail = map[string]error{"a/" + StageClaims: errBoom}
	res, err = Run(context.Background(), w.caller(), waterQ())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range res.Answers {
		if a.ClaimSource != ClaimsBySentences || len(a.Claims) == 0 {
			t.Errorf("%s: %q from %q", a.Model, a.Claims, a.ClaimSource)
		}
	}
}

func TestFailedJudgeGivesNoVerdict(t *testing.T) {
	w := waterWorld()
	w.fail = map[string]error{"b/" + StageJudge: errBoom}
	res, err := Run(context.Background(), w.caller(), waterQ())
	if err != nil {
		t.Fatal(err)
	}
	// c's claim: a contradicts it, b said nothing.
	c := flagFor(t, res.Flags, "c", "90 degrees")
	wantStrings(t, "ContradictedBy", c.ContradictedBy, []string{"a"})
	wantStrings(t, "NoVerdict", c.NoVerdict, []string{"b"})
	// a's altitude claim: only c judged it, and c could not confirm it.
	alt := flagFor(t, res.Flags, "a", "altitude")
	if alt.Kind != KindUnsupported {
		t.Errorf("altitude kind = %q, want %q", alt.Kind, KindUnsupported)
	}
	wantStrings(t, "UnsupportedBy", alt.UnsupportedBy, []string{"c"})
	wantStrings(t, "NoVerdict", alt.NoVerdict, []string{"b"})
	if res.Agreement != 0.5 {
		t.Errorf("agreement = %v, want 0.5", res.Agreement)
	}
}

func TestSkipClaimCheck(t *testing.T) {
	fc := waterWorld().caller()
	q := waterQ()
	q.SkipClaimCheck = true
	res, err := Run(context.Background(), fc, q)
	if err != nil {
		t.Fatal(err)
	}
	got := stageCounts(res)
	if got[StageClaims] != 0 || got[StageJudge] != 0 || got[StageSynthesize] != 1 {
		t.Errorf("calls = %v", got)
	}
	if res.Claims != nil || res.Flags != nil || res.Agreement != 0 {
		t.Errorf("claims checked though skipped: %+v", res.Flags)
	}
	if p := fc.requests(StageSynthesize)[0].Prompt; !strings.Contains(p, "claim check was skipped") {
		t.Errorf("synthesis prompt does not say the check was skipped:\n%s", p)
	}
}

func TestSynthesisFailure(t *testing.T) {
	w := waterWorld()
	w.fail = map[string]error{"a/" + StageSynthesize: errBoom}
	res, err := Run(context.Background(), w.caller(), waterQ())
	if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), "synthesis by a") {
		t.Fatalf("err = %v", err)
	}
	if res == nil || res.Final != "" || len(res.Flags) != 1 || len(res.Ranking) != 3 {
		t.Fatalf("partial result = %+v", res)
	}
	if last := res.Calls[len(res.Calls)-1]; last.Stage != StageSynthesize || last.Err == "" {
		t.Errorf("last record = %+v", last)
	}
}

func TestSeedMakesRunsReproducible(t *testing.T) {
	prompts := func(seed int64) []string {
		fc := waterWorld().caller()
		q := waterQ()
		q.Seed = seed
		if _, err := Run(context.Background(), fc, q); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range append(fc.requests(StageRank), fc.requests(StageSynthesize)...) {
			out = append(out, r.Prompt)
		}
		return out
	}
	first, again := prompts(7), prompts(7)
	wantStrings(t, "prompts with the same seed", again, first)
	differs := false
	for seed := int64(0); seed < 20 && !differs; seed++ {
		p := prompts(seed)
		for i := range p {
			if p[i] != first[i] {
				differs = true
			}
		}
	}
	if !differs {
		t.Error("twenty seeds produced the same presentation order")
	}
}

func TestVoteMajorityByNormalisedAnswers(t *testing.T) {
	w := &world{answers: map[string]string{
		"a": "Paris\n\nParis has been the capital of France for centuries.",
		"b": "**Paris.**\n\nThe French government sits in Paris.",
		"c": "Lyon\n\nLyon is a large city in France.",
	}}
	fc := w.caller()
	q := Question{Text: "What is the capital of France?", Models: []string{"a", "b", "c"}, Mode: ModeVote, SkipClaimCheck: true}
	res, err := Run(context.Background(), fc, q)
	if err != nil {
		t.Fatal(err)
	}
	wantStrings(t, "paris votes", res.Votes["paris"], []string{"a", "b"})
	wantStrings(t, "lyon votes", res.Votes["lyon"], []string{"c"})
	if res.Winner != "paris" || res.Final != "paris" || res.Tie || res.NoMajority {
		t.Errorf("winner %q final %q tie %v nomajority %v", res.Winner, res.Final, res.Tie, res.NoMajority)
	}
	if len(res.Dissent) != 1 || res.Dissent[0] != (Ballot{Model: "c", Choice: "lyon"}) {
		t.Errorf("dissent = %+v", res.Dissent)
	}
	if got := stageCounts(res); len(got) != 1 || got[StageAnswer] != 3 {
		t.Errorf("calls = %v, want only 3 answers", got)
	}
	if res.Ranking != nil || res.Rankings != nil {
		t.Errorf("vote mode ranked: %+v", res.Ranking)
	}
	if r := fc.requests(StageAnswer)[0]; r.System != voteAnswerSystem || r.Prompt != q.Text {
		t.Errorf("vote answer request = %+v", r)
	}
}

func TestVoteTie(t *testing.T) {
	w := &world{answers: map[string]string{"a": "Yes", "b": "no", "c": "yes.", "d": "No!"}}
	q := Question{Text: "Is it raining?", Models: []string{"a", "b", "c", "d"}, Mode: ModeVote, SkipClaimCheck: true}
	res, err := Run(context.Background(), w.caller(), q)
	if err != nil {
		t.Fatal(err)
	}
	if res.Winner != "" || res.Final != "" || !res.Tie || !res.NoMajority {
		t.Errorf("winner %q tie %v nomajority %v", res.Winner, res.Tie, res.NoMajority)
	}
	if len(res.Dissent) != 4 {
		t.Errorf("dissent = %+v, want every vote", res.Dissent)
	}
}

func TestVotePluralityIsNoMajority(t *testing.T) {
	w := &world{answers: map[string]string{"a": "red", "b": "red", "c": "blue", "d": "green"}}
	q := Question{Text: "Favourite colour?", Models: []string{"a", "b", "c", "d"}, Mode: ModeVote, SkipClaimCheck: true}
	res, err := Run(context.Background(), w.caller(), q)
	if err != nil {
		t.Fatal(err)
	}
	if res.Winner != "" || res.Tie || !res.NoMajority {
		t.Errorf("winner %q tie %v nomajority %v", res.Winner, res.Tie, res.NoMajority)
	}
}

func TestVoteWithChoicesInvalidChoiceAbstains(t *testing.T) {
	w := &world{
		answers: map[string]string{
			"a": "Yes\n\nThe forecast shows rain.",
			"b": "yes\n\nRadar shows rain.",
			"c": "Maybe\n\nHard to say.",
		},
		votes: map[string]string{
			"a": `{"choice": "Yes"}`,
			"b": "```json\n{\"choice\": \"yes.\"}\n```",
			"c": `{"choice": "maybe"}`,
		},
	}
	fc := w.caller()
	q := Question{Text: "Will it rain tomorrow in Paris?", Models: []string{"a", "b", "c"}, Mode: ModeVote,
		Choices: []string{"Yes", "No"}, SkipClaimCheck: true}
	res, err := Run(context.Background(), fc, q)
	if err != nil {
		t.Fatal(err)
	}
	wantStrings(t, "Yes votes", res.Votes["Yes"], []string{"a", "b"})
	wantStrings(t, "abstained", res.Abstained, []string{"c"})
	if res.Winner != "Yes" || res.Final != "Yes" || res.NoMajority || len(res.Dissent) != 0 {
		t.Errorf("winner %q nomajority %v dissent %+v", res.Winner, res.NoMajority, res.Dissent)
	}
	if got := stageCounts(res); got[StageVote] != 3 || got[StageAnswer] != 3 || len(got) != 2 {
		t.Errorf("calls = %v", got)
	}
	for _, c := range res.Calls {
		if c.Stage == StageVote && (c.Model == "c") != (c.Invalid != "") {
			t.Errorf("vote record %+v", c)
		}
	}
	for _, r := range fc.requests(StageVote) {
		if !r.JSON || !strings.Contains(r.Prompt, "- Yes\n- No") || !strings.Contains(r.Prompt, w.answers[r.Model]) {
			t.Errorf("vote request %+v", r)
		}
	}
	if p := fc.requests(StageAnswer)[0].Prompt; !strings.Contains(p, "- Yes\n- No") {
		t.Errorf("answer prompt lacks the choices:\n%s", p)
	}
}

func TestVoteModeChecksClaims(t *testing.T) {
	w := &world{answers: map[string]string{
		"a": "100\n\nWater boils at 100 degrees Celsius at sea level.",
		"b": "100\n\nAt sea level, water boils at 100 degrees Celsius.",
		"c": "90\n\nWater boils at 90 degrees Celsius at sea level.",
	}}
	q := Question{Text: waterQuestion, Models: []string{"a", "b", "c"}, Mode: ModeVote}
	res, err := Run(context.Background(), w.caller(), q)
	if err != nil {
		t.Fatal(err)
	}
	if res.Winner != "100" {
		t.Errorf("winner = %q", res.Winner)
	}
	c := flagFor(t, res.Flags, "c", "90 degrees")
	wantStrings(t, "ContradictedBy", c.ContradictedBy, []string{"a", "b"})
	if got := stageCounts(res); got[StageClaims] != 3 || got[StageJudge] != 6 || got[StageSynthesize] != 0 {
		t.Errorf("calls = %v", got)
	}
}

func TestCancelReturnsPromptly(t *testing.T) {
	fc := waterWorld().caller()
	fc.delay = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	res, err := Run(ctx, fc, waterQ())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run took %v after cancel", d)
	}
	if res == nil || len(res.Failed) != 3 || res.Final != "" {
		t.Errorf("result = %+v", res)
	}

	// A context that is already done makes no calls.
	fc = waterWorld().caller()
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, fc, waterQ()); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if len(fc.reqs) != 0 {
		t.Errorf("%d calls made with a done context", len(fc.reqs))
	}
}

func TestCancelMidRun(t *testing.T) {
	w := waterWorld()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	block := &fakeCaller{script: func(r Request) (string, error) {
		if r.Stage == StageJudge {
			cancel()
		}
		return w.respond(r)
	}}
	start := time.Now()
	res, err := Run(ctx, block, waterQ())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 5*time.Second || res == nil || len(res.Answers) != 3 || res.Final != "" {
		t.Errorf("result = %+v", res)
	}
	if n := len(block.requests(StageSynthesize)); n != 0 {
		t.Errorf("%d synthesis calls after cancel", n)
	}
}

func TestParallelLimit(t *testing.T) {
	w := waterWorld()
	w.answers["d"] = "Water boils at 100 degrees Celsius at sea level."
	w.answers["e"] = "It is 100 degrees Celsius at standard sea level pressure."
	fc := w.caller()
	fc.delay = 15 * time.Millisecond
	q := waterQ("a", "b", "c", "d", "e")
	q.Parallel = 2
	if _, err := Run(context.Background(), fc, q); err != nil {
		t.Fatal(err)
	}
	if fc.maxFlight != 2 {
		t.Errorf("max in flight = %d, want 2", fc.maxFlight)
	}

	// The default is one call per member.
	fc = w.caller()
	fc.delay = 15 * time.Millisecond
	q.Parallel = 0
	if _, err := Run(context.Background(), fc, q); err != nil {
		t.Fatal(err)
	}
	if fc.maxFlight != 5 {
		t.Errorf("max in flight = %d, want 5", fc.maxFlight)
	}
}

func TestInvalidQuestions(t *testing.T) {
	fc := waterWorld().caller()
	nine := []string{"1", "2", "3", "4", "5", "6", "7", "8", "9"}
	for name, q := range map[string]Question{
		"no text":          {Models: []string{"a", "b"}},
		"one member":       {Text: "q", Models: []string{"a"}},
		"ten members":      {Text: "q", Models: append(nine, "10")},
		"duplicate":        {Text: "q", Models: []string{"a", "b", "a"}},
		"duplicate spaced": {Text: "q", Models: []string{"a", " a "}},
		"empty member":     {Text: "q", Models: []string{"a", ""}},
		"bad mode":         {Text: "q", Models: []string{"a", "b"}, Mode: "debate"},
		"choices in synth": {Text: "q", Models: []string{"a", "b"}, Choices: []string{"x", "y"}},
		"one choice":       {Text: "q", Models: []string{"a", "b"}, Mode: ModeVote, Choices: []string{"x"}},
		"same choices":     {Text: "q", Models: []string{"a", "b"}, Mode: ModeVote, Choices: []string{"Yes", "yes."}},
		"empty choice":     {Text: "q", Models: []string{"a", "b"}, Mode: ModeVote, Choices: []string{"x", "?"}},
		"negative tokens":  {Text: "q", Models: []string{"a", "b"}, MaxTokens: -1},
	} {
		res, err := Run(context.Background(), fc, q)
		if !errors.Is(err, ErrInvalidQuestion) || res != nil {
			t.Errorf("%s: res %v err %v, want ErrInvalidQuestion", name, res, err)
		}
	}
	if _, err := Run(context.Background(), nil, waterQ()); !errors.Is(err, ErrInvalidQuestion) {
		t.Errorf("nil caller: %v", err)
	}
	if len(fc.reqs) != 0 {
		t.Errorf("%d calls for invalid questions", len(fc.reqs))
	}
	// Nine members is allowed (here none of them has a scripted answer).
	if _, err := Run(context.Background(), waterWorld().caller(), Question{Text: "q", Models: nine}); !errors.Is(err, ErrQuorum) {
		t.Errorf("nine members: %v, want ErrQuorum", err)
	}
}
