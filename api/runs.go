package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mirroros/mirror/council"
	"github.com/mirroros/mirror/kernel"
	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/trace/ledger"
	"github.com/mirroros/mirror/trace/provenance"
)

// Limits of the run endpoints.
const (
	// MaxRunWait bounds how long POST /v1/runs with "wait" blocks.
	MaxRunWait = 10 * time.Minute
	// runPoll is how often a waiting or following request looks at a run
	// even without a change notice.
	runPoll = 2 * time.Second
	// DefaultRunLimit and MaxRunLimit bound GET /v1/runs.
	DefaultRunLimit = 50
	MaxRunLimit     = 500
)

// closing maps each *http.Server serving long-lived answers to a channel
// closed when it starts shutting down.
var closing sync.Map

// serverClosing returns a channel closed when the server serving r begins a
// graceful shutdown, so that a followed run or a waiting request ends and
// lets the shutdown proceed; nil when r has no server.
func serverClosing(r *http.Request) <-chan struct{} {
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if srv == nil {
		return nil
	}
	if ch, ok := closing.Load(srv); ok {
		return ch.(chan struct{})
	}
	ch := make(chan struct{})
	actual, loaded := closing.LoadOrStore(srv, ch)
	if !loaded {
		srv.RegisterOnShutdown(func() { close(ch) })
	}
	return actual.(chan struct{})
}

// errShuttingDown ends a wait when the server stops.
var errShuttingDown = errors.New("the kernel is shutting down")

// RunView is a run as the API shows it.
type RunView struct {
	ID             string            `json:"id"`
	ParentRun      string            `json:"parent_run,omitempty"`
	Lease          string            `json:"lease"`
	RunLease       string            `json:"run_lease,omitempty"`
	Agent          string            `json:"agent,omitempty"`
	Goal           string            `json:"goal,omitempty"`
	Skill          string            `json:"skill,omitempty"`
	SkillVersion   string            `json:"skill_version,omitempty"`
	SkillDigest    string            `json:"skill_digest,omitempty"`
	State          string            `json:"state"`
	ApprovalID     string            `json:"approval_id,omitempty"`
	Inputs         json.RawMessage   `json:"inputs,omitempty"`
	Output         json.RawMessage   `json:"output,omitempty"`
	Error          string            `json:"error,omitempty"`
	Contract       json.RawMessage   `json:"contract,omitempty"`
	ContractSHA256 string            `json:"contract_sha256,omitempty"`
	Depth          int               `json:"depth"`
	Resumes        int               `json:"resumes"`
	Created        string            `json:"created"`
	Updated        string            `json:"updated"`
	Ended          string            `json:"ended,omitempty"`
	CostUSD        float64           `json:"cost_usd"`
	Steps          []StepView        `json:"steps,omitempty"`
	Provenance     string            `json:"provenance,omitempty"` // the signed note
	Links          map[string]string `json:"links"`
}

// StepView is one journaled step of a run.
type StepView struct {
	Seq     int             `json:"seq"`
	Kind    string          `json:"kind"`
	Model   string          `json:"model,omitempty"`
	OK      bool            `json:"ok"`
	CostUSD float64         `json:"cost_usd"`
	Started string          `json:"started"`
	Ended   string          `json:"ended"`
	Detail  json.RawMessage `json:"detail,omitempty"`
	Output  json.RawMessage `json:"output,omitempty"` // JSON when the step produced JSON, else a string
}

// rawOrString returns b as raw JSON when it is valid JSON, otherwise as a
// JSON string; nil for nothing.
func rawOrString(b []byte) json.RawMessage {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if json.Valid(b) {
		return json.RawMessage(b)
	}
	s, _ := json.Marshal(string(b))
	return s
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// viewRun renders a run; with steps, its journal too. Its cost is the sum
// of the journaled steps' costs.
func viewRun(r store.Run, steps []store.RunStep, withSteps bool) RunView {
	v := RunView{
		ID: r.ID, ParentRun: r.ParentRun, Lease: r.LeaseID, RunLease: r.RunLease, Agent: r.Agent, Goal: r.Goal,
		Skill: r.Skill, SkillVersion: r.SkillVersion, SkillDigest: r.SkillDigest, State: r.State, ApprovalID: r.ApprovalID,
		Inputs: rawOrString(r.Inputs), Output: rawOrString(r.Output), Error: r.Error, Contract: rawOrString(r.Contract),
		Depth: r.Depth, Resumes: r.Resumes, Created: fmtTime(r.Created), Updated: fmtTime(r.Updated), Ended: fmtTime(r.Ended),
		Provenance: string(r.Provenance),
		Links:      map[string]string{"self": "/v1/runs/" + r.ID},
	}
	if len(r.ContractHash) > 0 {
		v.ContractSHA256 = hex.EncodeToString(r.ContractHash)
	}
	if len(r.Provenance) > 0 {
		v.Links["provenance"] = "/v1/runs/" + r.ID + "/provenance"
	}
	var cost int64
	for _, st := range steps {
		cost += st.CostMicros
		if withSteps {
			v.Steps = append(v.Steps, StepView{
				Seq: st.Seq, Kind: st.Kind, Model: st.Model, OK: st.OK, CostUSD: float64(st.CostMicros) / 1e6,
				Started: fmtTime(st.Started), Ended: fmtTime(st.Ended), Detail: rawOrString(st.Detail), Output: rawOrString(st.Output),
			})
		}
	}
	v.CostUSD = float64(cost) / 1e6
	return v
}

// runtimeErr maps the runtime's refusals to API errors.
func runtimeErr(err error) error {
	var re *kernel.RunError
	if errors.As(err, &re) {
		return errorf(re.Status, re.Code, re.Msg)
	}
	return err
}

// visibleRun loads a run the caller may see; others are not found, so
// that their existence is not revealed.
func (s *Server) visibleRun(r *http.Request, id string) (store.Run, error) {
	run, err := s.sys.Run(r.Context(), id)
	if err != nil {
		return run, runtimeErr(err)
	}
	if !s.sys.CanSee(r.Context(), principal(r).Lease, run) {
		return store.Run{}, errorf(http.StatusNotFound, "not_found", "no run "+id)
	}
	return run, nil
}

func (s *Server) fullView(ctx context.Context, run store.Run) (RunView, error) {
	steps, err := s.sys.RunSteps(ctx, run.ID)
	if err != nil {
		return RunView{}, err
	}
	return viewRun(run, steps, true), nil
}

type runRequest struct {
	Skill     string             `json:"skill"`
	Inputs    map[string]any     `json:"inputs"`
	Goal      string             `json:"goal"`
	Agent     string             `json:"agent"`
	Chain     []kernel.ChainStep `json:"chain"`
	ParentRun string             `json:"parent_run"`
	Wait      bool               `json:"wait"`
}

// startRun is POST /v1/runs: 202 with the run's id, or with "wait", 200
// and the whole run once it has ended.
func (s *Server) startRun(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "runs:write"); err != nil {
		return err
	}
	var req runRequest
	if err := decodeStrict(r, &req); err != nil {
		return err
	}
	run, err := s.sys.StartRun(r.Context(), principal(r).Lease, kernel.RunRequest{
		Goal: req.Goal, Skill: req.Skill, Inputs: req.Inputs, Agent: req.Agent, Chain: req.Chain, ParentRun: req.ParentRun,
	})
	if err != nil {
		return runtimeErr(err)
	}
	self := "/v1/runs/" + run.ID
	w.Header().Set("Location", self)
	if !req.Wait {
		writeJSON(w, http.StatusAccepted, map[string]any{"id": run.ID, "state": run.State, "links": map[string]string{"self": self}})
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), MaxRunWait)
	defer cancel()
	run, err = s.waitRun(ctx, run.ID, serverClosing(r))
	if r.Context().Err() != nil {
		return nil // the client went away; the run goes on
	}
	status := http.StatusOK
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, errShuttingDown) {
			return runtimeErr(err)
		}
		// Waited as long as allowed, or the kernel is stopping: answer
		// what there is, still running (it resumes on the next start).
		status = http.StatusAccepted
		if run, err = s.sys.Run(r.Context(), run.ID); err != nil {
			return runtimeErr(err)
		}
	}
	v, err := s.fullView(r.Context(), run)
	if err != nil {
		return err
	}
	writeJSON(w, status, v)
	return nil
}

// waitRun waits until a run ends, ctx is done or stop is closed.
func (s *Server) waitRun(ctx context.Context, id string, stop <-chan struct{}) (store.Run, error) {
	tick := time.NewTicker(runPoll)
	defer tick.Stop()
	changed := s.sys.RunChanged(id)
	for {
		run, err := s.sys.Run(ctx, id)
		if err != nil {
			return run, err
		}
		if kernel.Terminal(run.State) {
			return run, nil
		}
		select {
		case <-changed:
			changed = s.sys.RunChanged(id)
		case <-tick.C:
		case <-ctx.Done():
			return run, ctx.Err()
		case <-stop:
			return run, errShuttingDown
		}
	}
}

// listRuns is GET /v1/runs?state=S&limit=N: the runs asked for by the
// caller's lease and its descendants, newest first.
func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "runs:read"); err != nil {
		return err
	}
	q := r.URL.Query()
	var states []string
	for _, v := range q["state"] {
		for st := range strings.SplitSeq(v, ",") {
			st = strings.TrimSpace(st)
			switch st {
			case "":
			case kernel.RunPending, kernel.RunWaiting, kernel.RunRunning, kernel.RunSucceeded, kernel.RunFailed, kernel.RunCancelled:
				states = append(states, st)
			default:
				return errorf(http.StatusBadRequest, "invalid_parameter", fmt.Sprintf("state %q must be pending, waiting_approval, running, succeeded, failed or cancelled", st))
			}
		}
	}
	limit := DefaultRunLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxRunLimit {
			return errorf(http.StatusBadRequest, "invalid_parameter", fmt.Sprintf("limit must be between 1 and %d", MaxRunLimit))
		}
		limit = n
	}
	runs, err := s.sys.Runs(r.Context(), principal(r).Lease, states, limit)
	if err != nil {
		return err
	}
	out := make([]RunView, 0, len(runs))
	for _, run := range runs {
		steps, err := s.sys.RunSteps(r.Context(), run.ID)
		if err != nil {
			return err
		}
		out = append(out, viewRun(run, steps, false))
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": out})
	return nil
}

// getRun is GET /v1/runs/{id}; with ?follow=1 it is a stream of
// Server-Sent Events instead.
func (s *Server) getRun(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "runs:read"); err != nil {
		return err
	}
	run, err := s.visibleRun(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	switch r.URL.Query().Get("follow") {
	case "", "0", "false":
	default:
		return s.followRun(w, r, run.ID)
	}
	v, err := s.fullView(r.Context(), run)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// followRun streams a run: an "event: run" with its view now and after
// every change, and an "event: end" once it has ended.
func (s *Server) followRun(w http.ResponseWriter, r *http.Request, id string) error {
	ctx := r.Context()
	flusher, _ := w.(http.Flusher)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(event string, data []byte) bool {
		var b bytes.Buffer
		b.WriteString("event: " + event + "\n")
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			b.WriteString("data: ")
			b.Write(line)
			b.WriteByte('\n')
		}
		b.WriteByte('\n')
		if _, err := w.Write(b.Bytes()); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	stop := serverClosing(r)
	tick := time.NewTicker(runPoll)
	defer tick.Stop()
	changed := s.sys.RunChanged(id)
	var last []byte
	for {
		run, err := s.sys.Run(ctx, id)
		var v RunView
		if err == nil {
			v, err = s.fullView(ctx, run)
		}
		if err != nil {
			if ctx.Err() == nil {
				e := toError(runtimeErr(err))
				b, _ := json.Marshal(map[string]*Error{"error": e})
				send("error", b)
			}
			return nil
		}
		b, _ := json.Marshal(v)
		if !bytes.Equal(b, last) {
			if !send("run", b) {
				return nil
			}
			last = b
		}
		if kernel.Terminal(run.State) {
			end, _ := json.Marshal(map[string]string{"id": run.ID, "state": run.State, "error": run.Error})
			send("end", end)
			return nil
		}
		select {
		case <-changed:
			changed = s.sys.RunChanged(id)
		case <-tick.C:
		case <-ctx.Done():
			return nil
		case <-stop:
			e := errorf(http.StatusServiceUnavailable, "shutting_down",
				fmt.Sprintf("the kernel is shutting down; run %s resumes when it starts again (mirror runs %s)", id, id))
			b, _ := json.Marshal(map[string]*Error{"error": e})
			send("error", b)
			return nil
		}
	}
}

// ProvenanceView is the answer of GET /v1/runs/{id}/provenance: everything
// needed to check a run's provenance without trusting the kernel.
type ProvenanceView struct {
	Run            string            `json:"run"`
	Note           string            `json:"note"`   // the signed provenance note
	Record         provenance.Record `json:"record"` // what the note carries
	LedgerIndex    uint64            `json:"ledger_index"`
	Entry          string            `json:"entry"`      // base64 of the exact ledger entry bytes
	Checkpoint     string            `json:"checkpoint"` // the signed checkpoint note
	InclusionProof []string          `json:"inclusion_proof"`
	TreeSize       uint64            `json:"tree_size"`
}

// getProvenance is GET /v1/runs/{id}/provenance.
func (s *Server) getProvenance(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "runs:read"); err != nil {
		return err
	}
	run, err := s.visibleRun(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	if len(run.Provenance) == 0 {
		return errorf(http.StatusNotFound, "no_provenance", fmt.Sprintf("run %s has no provenance record (it is %s; a record is signed when a run's output is stored)", run.ID, run.State))
	}
	rec, err := provenance.Open(run.Provenance, s.sys.Ledger.Verifier())
	if err != nil {
		return fmt.Errorf("run %s: stored provenance: %w", run.ID, err)
	}
	index, entry, err := s.provenanceEntry(r.Context(), run)
	if err != nil {
		return err
	}
	cp, err := s.sys.Ledger.Checkpoint()
	if err != nil || cp.Size <= index {
		w.Header().Set("Retry-After", "1")
		return errorf(http.StatusConflict, "not_yet_checkpointed",
			fmt.Sprintf("ledger entry %d is not covered by a signed checkpoint yet; retry in a second", index))
	}
	p, err := s.sys.Ledger.InclusionProof(r.Context(), index, cp.Size)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ProvenanceView{
		Run: run.ID, Note: string(run.Provenance), Record: rec, LedgerIndex: index,
		Entry: base64.StdEncoding.EncodeToString(entry), Checkpoint: string(cp.Note),
		InclusionProof: encodeHashes(p), TreeSize: cp.Size,
	})
	return nil
}

// provenanceEntry reads the run.provenance ledger entry of a run at the
// index recorded with it, and checks that it is that run's entry.
func (s *Server) provenanceEntry(ctx context.Context, run store.Run) (uint64, []byte, error) {
	if run.ProvenanceIndex == 0 {
		return 0, nil, errorf(http.StatusNotFound, "not_found", "run "+run.ID+" has no recorded run.provenance entry")
	}
	d, err := s.sys.Ledger.Entry(ctx, run.ProvenanceIndex)
	if err != nil {
		return 0, nil, err
	}
	e, err := ledger.ParseEntry(d)
	var body provenance.Entry
	if err != nil || e.Kind != "run.provenance" || json.Unmarshal(e.Body, &body) != nil || body.Run != run.ID {
		return 0, nil, fmt.Errorf("ledger entry %d is not the provenance entry of run %s", run.ProvenanceIndex, run.ID)
	}
	return run.ProvenanceIndex, d, nil
}

// councilRequest is the body of POST /v1/council.
type councilRequest struct {
	Question       string   `json:"question"`
	Models         []string `json:"models"`
	Chairman       string   `json:"chairman"`
	Mode           string   `json:"mode"`
	Choices        []string `json:"choices"`
	SkipClaimCheck bool     `json:"skip_claim_check"`
	MaxTokens      int      `json:"max_tokens"`
	Agent          string   `json:"agent"`
}

// postCouncil is POST /v1/council: several models answer one question,
// rank or vote, and check each other's claims.
func (s *Server) postCouncil(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "runs:write"); err != nil {
		return err
	}
	var req councilRequest
	if err := decodeStrict(r, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Question) == "" {
		return errorf(http.StatusBadRequest, "invalid_question", "question is required")
	}
	if req.MaxTokens < 0 {
		return errorf(http.StatusBadRequest, "invalid_question", "max_tokens must not be negative")
	}
	q := council.Question{Text: req.Question, Models: req.Models, Chairman: req.Chairman, Mode: req.Mode,
		Choices: req.Choices, SkipClaimCheck: req.SkipClaimCheck, MaxTokens: req.MaxTokens}
	res, err := s.sys.Council(r.Context(), principal(r).Lease, q, req.Agent)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, viewCouncil(res))
		return nil
	case errors.Is(err, council.ErrInvalidQuestion):
		return errorf(http.StatusBadRequest, "invalid_question", err.Error())
	case errors.Is(err, council.ErrQuorum) && res != nil:
		e := errorf(http.StatusBadGateway, "council_quorum", err.Error())
		writeJSON(w, e.Status, map[string]any{"error": e, "result": viewCouncil(res)})
		return nil
	}
	return err
}

// CouncilView is a council's result as the API shows it.
type CouncilView struct {
	Question   string              `json:"question"`
	Mode       string              `json:"mode"`
	Chairman   string              `json:"chairman"`
	Answers    []CouncilAnswer     `json:"answers"`
	Failed     []CouncilFailure    `json:"failed,omitempty"`
	Rankings   []CouncilRanking    `json:"rankings,omitempty"`
	Ranking    []CouncilRanked     `json:"ranking,omitempty"`
	Claims     []CouncilFlag       `json:"claims,omitempty"`
	Flags      []CouncilFlag       `json:"flags"`
	Agreement  float64             `json:"agreement"`
	Votes      map[string][]string `json:"votes,omitempty"`
	Abstained  []string            `json:"abstained,omitempty"`
	Winner     string              `json:"winner,omitempty"`
	Tie        bool                `json:"tie,omitempty"`
	NoMajority bool                `json:"no_majority,omitempty"`
	Dissent    []CouncilBallot     `json:"dissent,omitempty"`
	Final      string              `json:"final"`
	Calls      []CouncilCall       `json:"calls"`
	CostUSD    float64             `json:"cost_usd"`
}

// CouncilAnswer is one member's answer.
type CouncilAnswer struct {
	Model       string   `json:"model"`
	AnsweredBy  string   `json:"answered_by"`
	Label       string   `json:"label,omitempty"`
	Text        string   `json:"text"`
	Claims      []string `json:"claims,omitempty"`
	ClaimSource string   `json:"claim_source,omitempty"`
	Choice      string   `json:"choice,omitempty"`
}

// CouncilFailure is a member that did not answer.
type CouncilFailure struct {
	Model string `json:"model"`
	Error string `json:"error"`
}

// CouncilRanking is one member's ranking of the others' answers.
type CouncilRanking struct {
	Judge   string   `json:"judge"`
	Order   []string `json:"order"`
	Reasons string   `json:"reasons,omitempty"`
	Valid   bool     `json:"valid"`
	Error   string   `json:"error,omitempty"`
}

// CouncilRanked is an answer's place in the aggregate ranking.
type CouncilRanked struct {
	Model        string  `json:"model"`
	Score        int     `json:"score"`
	MeanPosition float64 `json:"mean_position"`
	Rankings     int     `json:"rankings"`
}

// CouncilFlag is the other members' verdict on one claim.
type CouncilFlag struct {
	Model          string   `json:"model"`
	Claim          string   `json:"claim"`
	SupportedBy    []string `json:"supported_by,omitempty"`
	ContradictedBy []string `json:"contradicted_by,omitempty"`
	UnsupportedBy  []string `json:"unsupported_by,omitempty"`
	NoVerdict      []string `json:"no_verdict,omitempty"`
	Notes          []string `json:"notes,omitempty"`
	Kind           string   `json:"kind,omitempty"`
}

// CouncilBallot is one member's vote.
type CouncilBallot struct {
	Model  string `json:"model"`
	Choice string `json:"choice"`
}

// CouncilCall is the account of one model call of a council.
type CouncilCall struct {
	Stage      string  `json:"stage"`
	Model      string  `json:"model"`
	AnsweredBy string  `json:"answered_by,omitempty"`
	Error      string  `json:"error,omitempty"`
	Invalid    string  `json:"invalid,omitempty"`
	CostUSD    float64 `json:"cost_usd"`
	Tokens     int     `json:"tokens"`
	Millis     int64   `json:"ms"`
}

func viewFlags(fs []council.Flag) []CouncilFlag {
	out := make([]CouncilFlag, 0, len(fs))
	for _, f := range fs {
		out = append(out, CouncilFlag{Model: f.Model, Claim: f.Claim, SupportedBy: f.SupportedBy, ContradictedBy: f.ContradictedBy,
			UnsupportedBy: f.UnsupportedBy, NoVerdict: f.NoVerdict, Notes: f.Notes, Kind: f.Kind})
	}
	return out
}

func viewCouncil(res *council.Result) CouncilView {
	v := CouncilView{
		Question: res.Question, Mode: res.Mode, Chairman: res.Chairman, Answers: []CouncilAnswer{},
		Claims: viewFlags(res.Claims), Flags: viewFlags(res.Flags), Agreement: res.Agreement,
		Votes: res.Votes, Abstained: res.Abstained, Winner: res.Winner, Tie: res.Tie, NoMajority: res.NoMajority,
		Final: res.Final, Calls: []CouncilCall{}, CostUSD: float64(res.CostMicros) / 1e6,
	}
	for _, a := range res.Answers {
		v.Answers = append(v.Answers, CouncilAnswer{Model: a.Model, AnsweredBy: a.AnsweredBy, Label: a.Label, Text: a.Text,
			Claims: a.Claims, ClaimSource: a.ClaimSource, Choice: a.Choice})
	}
	for _, f := range res.Failed {
		v.Failed = append(v.Failed, CouncilFailure{Model: f.Model, Error: f.Err})
	}
	for _, rk := range res.Rankings {
		v.Rankings = append(v.Rankings, CouncilRanking{Judge: rk.Judge, Order: rk.Order, Reasons: rk.Reasons, Valid: rk.Valid, Error: rk.Err})
	}
	for _, ra := range res.Ranking {
		v.Ranking = append(v.Ranking, CouncilRanked{Model: ra.Model, Score: ra.Score, MeanPosition: ra.MeanPosition, Rankings: ra.Rankings})
	}
	for _, b := range res.Dissent {
		v.Dissent = append(v.Dissent, CouncilBallot{Model: b.Model, Choice: b.Choice})
	}
	for _, c := range res.Calls {
		v.Calls = append(v.Calls, CouncilCall{Stage: c.Stage, Model: c.Model, AnsweredBy: c.AnsweredBy, Error: c.Err, Invalid: c.Invalid,
			CostUSD: float64(c.CostMicros) / 1e6, Tokens: c.Tokens, Millis: c.Duration.Milliseconds()})
	}
	return v
}
