package council

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"
)

// Caller makes one model call on behalf of the council. The kernel implements
// it over its router, so the council never speaks HTTP itself. Call must honour
// ctx: the council relies on it to stop promptly when ctx is cancelled. Call
// is invoked from several goroutines at once.
type Caller interface {
	Call(ctx context.Context, req Request) (Response, error)
}

// Request is one model call the council asks its Caller to make.
type Request struct {
	Model     string // MirrorOS model name or alias, such as "ollama/llama3.2"
	System    string // system prompt
	Prompt    string // user prompt
	MaxTokens int    // completion budget; 0 leaves it to the model's default
	JSON      bool   // ask the model for a single JSON object as its answer
	Stage     string // the council stage making the call, one of the Stage constants, for accounting
}

// Response is the outcome of one successful model call.
type Response struct {
	Model            string // the model that actually answered, after routing
	Text             string // the model's reply
	CostMicros       int64  // cost of the call in millionths of a dollar
	PromptTokens     int    // tokens read
	CompletionTokens int    // tokens written
}

// Stages of a council run, as set in Request.Stage and CallRecord.Stage.
const (
	StageAnswer     = "answer"     // a member answers the question
	StageRank       = "rank"       // a member ranks the other members' anonymised answers
	StageClaims     = "claims"     // the chairman splits one answer into atomic claims
	StageJudge      = "judge"      // a member judges the claims of another member's answer
	StageSynthesize = "synthesize" // the chairman writes the final answer
	StageVote       = "vote"       // a member reduces its answer to one of the fixed choices
)

// Modes of a council run, as set in Question.Mode.
const (
	ModeSynthesize = "synthesize" // rank the answers, check claims, and have the chairman write the final answer
	ModeVote       = "vote"       // reduce each answer to a choice and count the votes
)

// Kinds of flagged claim, as set in Flag.Kind.
const (
	KindContradicted = "contradicted" // at least one judge said the claim is false
	KindUnsupported  = "unsupported"  // no judge contradicted the claim, but none supported it either
)

// Sources of an answer's claims, as set in Answer.ClaimSource.
const (
	ClaimsByChairman  = "chairman"  // the chairman split the answer into claims
	ClaimsBySentences = "sentences" // the chairman's split failed; the answer was split into sentences
)

// Limits on a council.
const (
	MinMembers = 2  // fewest members a council may have, and fewest answers it needs
	MaxMembers = 9  // most members a council may have
	MaxClaims  = 12 // most claims checked per answer
)

// Completion budgets for the structured stages, whose replies are short JSON
// objects. They leave room for models that think before they answer.
const (
	rankMaxTokens   = 1024
	claimsMaxTokens = 1536
	judgeMaxTokens  = 2048
	voteMaxTokens   = 256
)

// ErrQuorum is returned, wrapped with the failing members, when fewer than
// MinMembers members answered the question.
var ErrQuorum = errors.New("council: too few members answered")

// ErrInvalidQuestion is returned, wrapped with the reason, when a Question
// cannot be run.
var ErrInvalidQuestion = errors.New("council: invalid question")

// Question is what a council is asked and how it is run.
type Question struct {
	Text           string   // the question put to every member
	Models         []string // members, MinMembers to MaxMembers distinct model names
	Chairman       string   // the model that splits claims and writes the final answer; default Models[0]
	Mode           string   // ModeSynthesize (the default when empty) or ModeVote
	Choices        []string // vote mode: the fixed choices a member must pick from; empty compares normalised answers
	SkipClaimCheck bool     // skip splitting answers into claims and cross-judging them
	MaxTokens      int      // completion budget for answers and the synthesis; 0 leaves it to each model
	Parallel       int      // most model calls in flight at once; default len(Models)
	Seed           int64    // seeds the anonymising permutations, so a run is reproducible
}

// Result is what a council found. Run fills in as much of it as it reached,
// even when it also returns an error.
type Result struct {
	Question string // the question asked
	Mode     string // the mode the council ran in
	Chairman string // the chairman

	Answers []Answer      // the members that answered, in Question.Models order
	Failed  []MemberError // the members that did not answer, in Question.Models order

	Rankings []Ranking      // synthesize mode: each member's ranking of the others, in Answers order
	Ranking  []RankedAnswer // synthesize mode: the Borda aggregate, best first

	Claims    []Flag  // every claim checked, in Answers order; Kind is empty for claims that were not flagged
	Flags     []Flag  // the flagged claims, in Answers order
	Agreement float64 // fraction of checked claims that were not flagged; 0 when no claim was checked

	Votes      map[string][]string // vote mode: choice → the members that voted for it
	Abstained  []string            // vote mode: members that answered but cast no valid vote
	Winner     string              // vote mode: the choice with a strict majority of valid votes, or ""
	Tie        bool                // vote mode: two or more choices share the most votes
	NoMajority bool                // vote mode: no choice has a strict majority of valid votes
	Dissent    []Ballot            // vote mode: valid votes that differ from the winner (all of them when there is no winner and votes differ)

	Final string // synthesize mode: the chairman's answer; vote mode: the winner

	Calls      []CallRecord // every model call made, grouped by stage in run order
	CostMicros int64        // the cost of all calls, in millionths of a dollar
}

// Answer is one member's answer to the question.
type Answer struct {
	Model       string   // the member, as named in Question.Models
	AnsweredBy  string   // the model that actually answered, after routing
	Label       string   // the anonymous letter the answer carried in the chairman's synthesis prompt
	Text        string   // the answer
	Claims      []string // the atomic claims checked; empty when the claim check was skipped
	ClaimSource string   // ClaimsByChairman or ClaimsBySentences; empty when the claim check was skipped
	Choice      string   // vote mode: the member's vote, or "" when it abstained
}

// MemberError records a member that failed to answer.
type MemberError struct {
	Model string // the member
	Err   string // what went wrong
}

// Ranking is one member's ranking of the other members' answers.
type Ranking struct {
	Judge   string   // the member that ranked
	Order   []string // the ranked members, best first; nil when the ranking is invalid
	Reasons string   // the judge's stated reasons
	Valid   bool     // whether the ranking counted towards the aggregate
	Err     string   // why the ranking is invalid, when it is
}

// RankedAnswer is one answer's place in the aggregate ranking.
type RankedAnswer struct {
	Model        string  // the member whose answer this is
	Score        int     // Borda score: in a ranking of k answers, first place earns k-1 points and last earns 0
	MeanPosition float64 // mean 1-based position across the valid rankings that included it; 0 when none did
	Rankings     int     // how many valid rankings included it
}

// Flag is the verdict of the other members on one claim. In Result.Flags it
// is a flagged claim; in Result.Claims it may also be a claim that passed.
type Flag struct {
	Model          string   // the member whose answer made the claim
	Claim          string   // the claim
	SupportedBy    []string // judges that said the claim is true
	ContradictedBy []string // judges that said the claim is false
	UnsupportedBy  []string // judges that could neither confirm nor refute it
	NoVerdict      []string // judges that gave no usable verdict on it (call failed, reply unusable, claim skipped)
	Notes          []string // the judges' notes, each as "judge: note"
	Kind           string   // KindContradicted, KindUnsupported, or "" when the claim is not flagged
}

// Ballot is one member's vote.
type Ballot struct {
	Model  string // the member
	Choice string // the choice it voted for
}

// CallRecord is the account of one model call.
type CallRecord struct {
	Stage      string        // the stage that made the call
	Model      string        // the model asked
	AnsweredBy string        // the model that actually answered, after routing
	Err        string        // the call's error, if it failed
	Invalid    string        // why a successful call's reply could not be used, if it could not
	CostMicros int64         // cost in millionths of a dollar
	Tokens     int           // prompt plus completion tokens
	Duration   time.Duration // time spent in the call
}

// Run puts q to a council whose model calls c makes. It returns the result
// and, if the run could not complete, an error: ErrInvalidQuestion for a bad
// question, ErrQuorum when fewer than MinMembers members answered, the
// context's error when ctx ended, or the chairman's error when the synthesis
// failed. Apart from an invalid question, the partial result is returned
// alongside the error.
func Run(ctx context.Context, c Caller, q Question) (res *Result, err error) {
	if c == nil {
		return nil, fmt.Errorf("%w: nil Caller", ErrInvalidQuestion)
	}
	q, err = q.normalize()
	if err != nil {
		return nil, err
	}
	r := &runner{caller: c, q: q, sem: make(chan struct{}, q.Parallel)}
	res = &Result{Question: q.Text, Mode: q.Mode, Chairman: q.Chairman}
	defer func() {
		for _, rec := range res.Calls {
			res.CostMicros += rec.CostMicros
		}
	}()

	// Stage 1: every member answers.
	answers, failed, recs := r.answer(ctx)
	res.Calls = append(res.Calls, recs...)
	res.Answers, res.Failed = answers, failed
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("council: %w", err)
	}
	if len(answers) < MinMembers {
		parts := make([]string, len(failed))
		for i, f := range failed {
			parts[i] = f.Model + ": " + f.Err
		}
		return res, fmt.Errorf("%w: %d of %d answered; failed: %s", ErrQuorum, len(answers), len(q.Models), strings.Join(parts, "; "))
	}
	r.label(answers)

	// Stage 2: ranking or voting, and the claim check, side by side.
	var (
		wg                             sync.WaitGroup
		rankRecs, claimRecs, judgeRecs []CallRecord
		voteRecs                       []CallRecord
		choices                        []string
		claims                         []claimSet
		verdicts                       [][][]verdict
	)
	if q.Mode == ModeSynthesize {
		wg.Go(func() { res.Rankings, rankRecs = r.rank(ctx, answers) })
	} else if len(q.Choices) > 0 {
		wg.Go(func() { choices, voteRecs = r.vote(ctx, answers) })
	}
	if !q.SkipClaimCheck {
		wg.Go(func() { claims, verdicts, claimRecs, judgeRecs = r.checkClaims(ctx, answers) })
	}
	wg.Wait()
	res.Calls = append(res.Calls, rankRecs...)
	res.Calls = append(res.Calls, claimRecs...)
	res.Calls = append(res.Calls, judgeRecs...)
	res.Calls = append(res.Calls, voteRecs...)
	if q.Mode == ModeSynthesize {
		res.Ranking = borda(answers, res.Rankings)
	}
	if !q.SkipClaimCheck {
		for i := range answers {
			answers[i].Claims = claims[i].claims
			answers[i].ClaimSource = claims[i].source
		}
		res.Claims, res.Flags, res.Agreement = aggregateClaims(answers, verdicts)
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("council: %w", err)
	}

	// Stage 3: the verdict.
	if q.Mode == ModeVote {
		if len(q.Choices) == 0 {
			choices = make([]string, len(answers))
			for i, a := range answers {
				choices[i] = normalizeAnswer(firstLine(a.Text))
			}
		}
		for i := range answers {
			answers[i].Choice = choices[i]
		}
		tally(res, answers)
		return res, nil
	}
	final, rec, err := r.synthesize(ctx, res)
	res.Calls = append(res.Calls, rec)
	if err != nil {
		if ctx.Err() != nil {
			return res, fmt.Errorf("council: %w", ctx.Err())
		}
		return res, fmt.Errorf("council: synthesis by %s: %w", q.Chairman, err)
	}
	res.Final = final
	return res, nil
}

// normalize checks q and fills in its defaults, returning a copy that shares
// nothing with the caller's slices.
func (q Question) normalize() (Question, error) {
	bad := func(format string, args ...any) (Question, error) {
		return Question{}, fmt.Errorf("%w: %s", ErrInvalidQuestion, fmt.Sprintf(format, args...))
	}
	q.Text = strings.TrimSpace(q.Text)
	if q.Text == "" {
		return bad("empty question text")
	}
	if len(q.Models) < MinMembers || len(q.Models) > MaxMembers {
		return bad("%d members; a council has %d to %d", len(q.Models), MinMembers, MaxMembers)
	}
	models := make([]string, len(q.Models))
	seen := make(map[string]bool, len(q.Models))
	for i, m := range q.Models {
		m = strings.TrimSpace(m)
		if m == "" {
			return bad("member %d has no model name", i+1)
		}
		if seen[m] {
			return bad("member %q appears twice", m)
		}
		seen[m] = true
		models[i] = m
	}
	q.Models = models
	q.Chairman = strings.TrimSpace(q.Chairman)
	if q.Chairman == "" {
		q.Chairman = q.Models[0]
	}
	switch q.Mode {
	case "":
		q.Mode = ModeSynthesize
	case ModeSynthesize, ModeVote:
	default:
		return bad("unknown mode %q (want %q or %q)", q.Mode, ModeSynthesize, ModeVote)
	}
	if len(q.Choices) > 0 {
		if q.Mode != ModeVote {
			return bad("choices are only used in %q mode", ModeVote)
		}
		if len(q.Choices) < 2 {
			return bad("%d choice; give at least 2 or none", len(q.Choices))
		}
		choices := make([]string, len(q.Choices))
		norm := make(map[string]bool, len(q.Choices))
		for i, c := range q.Choices {
			c = strings.TrimSpace(c)
			n := normalizeAnswer(c)
			if n == "" {
				return bad("choice %d is empty", i+1)
			}
			if norm[n] {
				return bad("choice %q duplicates another", c)
			}
			norm[n] = true
			choices[i] = c
		}
		q.Choices = choices
	}
	if q.MaxTokens < 0 {
		return bad("negative MaxTokens %d", q.MaxTokens)
	}
	if q.Parallel <= 0 {
		q.Parallel = len(q.Models)
	}
	return q, nil
}

// runner carries one council run's shared state.
type runner struct {
	caller Caller
	q      Question
	sem    chan struct{} // bounds calls in flight to q.Parallel
}

// call makes one model call within the concurrency limit and accounts for it.
func (r *runner) call(ctx context.Context, req Request) (Response, CallRecord, error) {
	rec := CallRecord{Stage: req.Stage, Model: req.Model}
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		rec.Err = ctx.Err().Error()
		return Response{}, rec, ctx.Err()
	}
	defer func() { <-r.sem }()
	if err := ctx.Err(); err != nil {
		rec.Err = err.Error()
		return Response{}, rec, err
	}
	start := time.Now()
	resp, err := r.caller.Call(ctx, req)
	rec.Duration = time.Since(start)
	if err != nil {
		rec.Err = err.Error()
		return Response{}, rec, err
	}
	rec.AnsweredBy = resp.Model
	rec.CostMicros = resp.CostMicros
	rec.Tokens = resp.PromptTokens + resp.CompletionTokens
	return resp, rec, nil
}

// answer asks every member the question at once.
func (r *runner) answer(ctx context.Context) ([]Answer, []MemberError, []CallRecord) {
	n := len(r.q.Models)
	system := answerSystem
	prompt := r.q.Text
	if r.q.Mode == ModeVote {
		system = voteAnswerSystem
		if len(r.q.Choices) > 0 {
			prompt = fmt.Sprintf(voteChoicesPrompt, r.q.Text, bulletList(r.q.Choices))
		}
	}
	resps := make([]Response, n)
	errs := make([]error, n)
	recs := make([]CallRecord, n)
	var wg sync.WaitGroup
	for i, m := range r.q.Models {
		wg.Go(func() {
			resps[i], recs[i], errs[i] = r.call(ctx, Request{
				Model: m, System: system, Prompt: prompt,
				MaxTokens: r.q.MaxTokens, Stage: StageAnswer,
			})
			if errs[i] == nil && strings.TrimSpace(resps[i].Text) == "" {
				errs[i] = errors.New("empty answer")
				recs[i].Invalid = "empty answer"
			}
		})
	}
	wg.Wait()
	var answers []Answer
	var failed []MemberError
	for i, m := range r.q.Models {
		if errs[i] != nil {
			failed = append(failed, MemberError{Model: m, Err: errs[i].Error()})
			continue
		}
		answers = append(answers, Answer{Model: m, AnsweredBy: resps[i].Model, Text: strings.TrimSpace(resps[i].Text)})
	}
	return answers, failed, recs
}

// label gives the answers the anonymous letters they carry in the chairman's
// synthesis prompt.
func (r *runner) label(answers []Answer) {
	perm := r.perm(0, len(answers))
	for pos, i := range perm {
		answers[i].Label = letter(pos)
	}
}

// perm returns a permutation of n items determined by the question's seed and
// stream, so each member sees its own order and a run is reproducible.
func (r *runner) perm(stream uint64, n int) []int {
	return rand.New(rand.NewPCG(uint64(r.q.Seed), stream)).Perm(n)
}

// memberIndex returns the position of model in Question.Models.
func (r *runner) memberIndex(model string) int {
	for i, m := range r.q.Models {
		if m == model {
			return i
		}
	}
	return -1
}

// letter returns the anonymous label of position i: "A", "B", ….
func letter(i int) string { return string(rune('A' + i)) }

// bulletList renders items as a Markdown list.
func bulletList(items []string) string {
	var b strings.Builder
	for _, it := range items {
		b.WriteString("- ")
		b.WriteString(it)
		b.WriteByte('\n')
	}
	return strings.TrimRight(b.String(), "\n")
}

// synthesize asks the chairman for the final answer.
func (r *runner) synthesize(ctx context.Context, res *Result) (string, CallRecord, error) {
	byModel := make(map[string]string, len(res.Answers))
	ordered := append([]Answer(nil), res.Answers...)
	sort.Slice(ordered, func(i, j int) bool { return ordered[i].Label < ordered[j].Label })
	var answers strings.Builder
	for _, a := range ordered {
		byModel[a.Model] = a.Label
		fmt.Fprintf(&answers, "Response %s:\n<<<\n%s\n>>>\n\n", a.Label, a.Text)
	}

	var ranking strings.Builder
	ranked := 0
	for _, ra := range res.Ranking {
		if ra.Rankings == 0 {
			continue
		}
		ranked++
		fmt.Fprintf(&ranking, "%d. Response %s: Borda score %d, mean position %.1f across %d ranking(s)\n",
			ranked, byModel[ra.Model], ra.Score, ra.MeanPosition, ra.Rankings)
	}
	if ranked == 0 {
		ranking.WriteString("No usable rankings; judge the responses on their merits.\n")
	}

	var flags strings.Builder
	switch {
	case r.q.SkipClaimCheck:
		flags.WriteString("The claim check was skipped; verify facts yourself and state uncertainty where it exists.\n")
	case len(res.Flags) == 0:
		flags.WriteString("None: every checked claim was supported by at least one other member and contradicted by none.\n")
	default:
		for _, f := range res.Flags {
			judged := len(f.SupportedBy) + len(f.ContradictedBy) + len(f.UnsupportedBy)
			fmt.Fprintf(&flags, "- Response %s claims: %q\n  %s: contradicted by %d, unsupported by %d, supported by %d of %d judge(s)\n",
				byModel[f.Model], f.Claim, f.Kind, len(f.ContradictedBy), len(f.UnsupportedBy), len(f.SupportedBy), judged)
			for _, n := range f.Notes {
				if _, note, ok := strings.Cut(n, ": "); ok {
					n = note
				}
				fmt.Fprintf(&flags, "  judge's note: %s\n", n)
			}
		}
	}

	prompt := fmt.Sprintf(synthesizePrompt, r.q.Text, strings.TrimRight(answers.String(), "\n"),
		strings.TrimRight(ranking.String(), "\n"), strings.TrimRight(flags.String(), "\n"))
	resp, rec, err := r.call(ctx, Request{
		Model: r.q.Chairman, System: synthesizeSystem, Prompt: prompt,
		MaxTokens: r.q.MaxTokens, Stage: StageSynthesize,
	})
	if err != nil {
		return "", rec, err
	}
	final := strings.TrimSpace(resp.Text)
	if final == "" {
		rec.Invalid = "empty synthesis"
		return "", rec, errors.New("empty synthesis")
	}
	return final, rec, nil
}
