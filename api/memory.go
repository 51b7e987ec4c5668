package api

import (
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mirroros/mirror/memory"
)

// The memory plane's HTTP API. Reads need the scope memory:read, writes
// memory:write; every write is a ledger entry in the same transaction.

func (s *Server) memoryRoutes() {
	s.route("/v1/memory/evidence", true, map[string]handlerFunc{"POST": s.addEvidence, "GET": s.listEvidence})
	s.route("/v1/memory/evidence/{id}", true, map[string]handlerFunc{"GET": s.getEvidence})
	s.route("/v1/memory/evidence/{id}/redact", true, map[string]handlerFunc{"POST": s.redactEvidence})
	s.route("/v1/memory/evidence/{id}/extract", true, map[string]handlerFunc{"POST": s.extractClaims})
	s.route("/v1/memory/claims", true, map[string]handlerFunc{"POST": s.addClaim, "GET": s.listClaims})
	s.route("/v1/memory/claims/{id}", true, map[string]handlerFunc{"GET": s.getClaim})
	s.route("/v1/memory/claims/{id}/promote", true, map[string]handlerFunc{"POST": s.promoteClaim})
	s.route("/v1/memory/claims/{id}/demote", true, map[string]handlerFunc{"POST": s.demoteClaim})
	s.route("/v1/memory/search", true, map[string]handlerFunc{"GET": s.searchMemory})
	s.route("/v1/memory/canon", true, map[string]handlerFunc{"GET": s.getCanon})
	s.route("/v1/memory/canon/versions", true, map[string]handlerFunc{"GET": s.canonVersions})
	s.route("/v1/memory/canon/diff", true, map[string]handlerFunc{"GET": s.canonDiff})
	s.route("/v1/memory/verify", true, map[string]handlerFunc{"POST": s.verifyMemory})
	s.route("/v1/memory/export", true, map[string]handlerFunc{"GET": s.exportMemory})
}

func actorOf(r *http.Request) string { return "lease/" + principal(r).Lease.ID }

// optTime parses an optional RFC 3339 query or body time.
func optTime(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, errorf(http.StatusBadRequest, "invalid_parameter", field+" must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
	}
	return t, nil
}

type evidenceRequest struct {
	Content       string `json:"content"`
	ContentBase64 string `json:"content_base64"`
	Kind          string `json:"kind"`
	Source        string `json:"source"`
	MediaType     string `json:"media_type"`
	ObservedAt    string `json:"observed_at"`
	Extract       bool   `json:"extract"` // also extract claims with the extract-claims skill
}

func (s *Server) addEvidence(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "memory:write"); err != nil {
		return err
	}
	var req evidenceRequest
	if err := decodeStrict(r, &req); err != nil {
		return err
	}
	content := []byte(req.Content)
	if req.ContentBase64 != "" {
		if req.Content != "" {
			return errorf(http.StatusBadRequest, "invalid_parameter", "give content or content_base64, not both")
		}
		b, err := base64.StdEncoding.DecodeString(req.ContentBase64)
		if err != nil {
			return errorf(http.StatusBadRequest, "invalid_parameter", "content_base64 is not base64: "+err.Error())
		}
		content = b
	}
	observed, err := optTime("observed_at", req.ObservedAt)
	if err != nil {
		return err
	}
	kind := memory.EvidenceKind(req.Kind)
	if kind == "" {
		kind = "text"
	}
	ev, added, err := s.sys.Memory.AddEvidence(r.Context(), memory.NewEvidence{Kind: kind, Content: content, MediaType: req.MediaType,
		Source: req.Source, Actor: actorOf(r), ObservedAt: observed})
	if err != nil {
		return err
	}
	out := map[string]any{"id": ev.ID, "created": added, "evidence": ev}
	if req.Extract {
		res, run, err := s.sys.ExtractClaims(r.Context(), principal(r).Lease, ev.ID)
		out["extraction_run"] = run
		if err != nil {
			out["extraction_error"] = err.Error()
		} else {
			out["extraction"] = res
		}
	}
	status := http.StatusCreated
	if !added {
		status = http.StatusOK
	}
	writeJSON(w, status, out)
	return nil
}

func (s *Server) listEvidence(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "memory:read"); err != nil {
		return err
	}
	limit, err := optUint(r.URL.Query().Get("limit"), "limit", 100)
	if err != nil {
		return err
	}
	after, err := optUint(r.URL.Query().Get("after"), "after", 0)
	if err != nil {
		return err
	}
	evs, err := s.sys.Memory.EvidenceList(r.Context(), memory.EvidenceFilter{AfterSeq: int64(after), Limit: int(min(limit, 1000))})
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []memory.Evidence{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"evidence": evs})
	return nil
}

func (s *Server) getEvidence(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "memory:read"); err != nil {
		return err
	}
	ev, err := s.sys.Memory.Evidence(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := map[string]any{"evidence": ev}
	if ev.Content != nil {
		if ev.Text {
			out["content"] = string(ev.Content)
		} else {
			out["content_base64"] = base64.StdEncoding.EncodeToString(ev.Content)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type reasonRequest struct {
	Reason         string `json:"reason"`
	ContradictedBy string `json:"contradicted_by"`
	InvalidAt      string `json:"invalid_at"`
}

func (s *Server) redactEvidence(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "memory:write"); err != nil {
		return err
	}
	var req reasonRequest
	if err := decodeStrict(r, &req); err != nil {
		return err
	}
	ev, err := s.sys.Memory.Redact(r.Context(), r.PathValue("id"), actorOf(r), req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"evidence": ev})
	return nil
}

func (s *Server) extractClaims(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "memory:write"); err != nil {
		return err
	}
	res, run, err := s.sys.ExtractClaims(r.Context(), principal(r).Lease, r.PathValue("id"))
	if err != nil && run == "" {
		return err
	}
	out := map[string]any{"run": run, "extraction": res}
	if err != nil {
		out["error"] = err.Error()
		writeJSON(w, http.StatusBadGateway, out)
		return nil
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type claimRequest struct {
	Statement   string        `json:"statement"`
	Subject     string        `json:"subject"`
	Kind        string        `json:"kind"`
	Confidence  float64       `json:"confidence"`
	Evidence    []memory.Span `json:"evidence"`
	ValidAt     string        `json:"valid_at"`
	InvalidAt   string        `json:"invalid_at"`
	Contradicts []string      `json:"contradicts"`
}

func (s *Server) addClaim(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "memory:write"); err != nil {
		return err
	}
	var req claimRequest
	if err := decodeStrict(r, &req); err != nil {
		return err
	}
	valid, err := optTime("valid_at", req.ValidAt)
	if err != nil {
		return err
	}
	invalid, err := optTime("invalid_at", req.InvalidAt)
	if err != nil {
		return err
	}
	res, err := s.sys.Memory.AddClaim(r.Context(), memory.NewClaim{Statement: req.Statement, Subject: req.Subject, Kind: memory.Kind(req.Kind),
		Confidence: req.Confidence, Spans: req.Evidence, ValidAt: valid, InvalidAt: invalid, Contradicts: req.Contradicts, Actor: actorOf(r)})
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if !res.Created {
		status = http.StatusOK
	}
	writeJSON(w, status, res)
	return nil
}

// claimFilter reads the claim filters shared by listing and search.
func claimFilter(r *http.Request) (memory.Filter, error) {
	q := r.URL.Query()
	var f memory.Filter
	for _, st := range splitList(q.Get("status")) {
		f.Statuses = append(f.Statuses, memory.Status(st))
	}
	for _, k := range splitList(q.Get("kind")) {
		f.Kinds = append(f.Kinds, memory.Kind(k))
	}
	f.Subject = q.Get("subject")
	f.EvidenceID = q.Get("evidence")
	var err error
	if f.BelievedAt, err = optTime("as_of", q.Get("as_of")); err != nil {
		return f, err
	}
	if f.TrueAt, err = optTime("valid_at", q.Get("valid_at")); err != nil {
		return f, err
	}
	limit, err := optUint(q.Get("limit"), "limit", 100)
	if err != nil {
		return f, err
	}
	f.Limit = int(min(limit, 1000))
	after, err := optUint(q.Get("after"), "after", 0)
	f.AfterSeq = int64(after)
	return f, err
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (s *Server) listClaims(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "memory:read"); err != nil {
		return err
	}
	f, err := claimFilter(r)
	if err != nil {
		return err
	}
	cs, err := s.sys.Memory.Claims(r.Context(), f)
	if err != nil {
		return err
	}
	if cs == nil {
		cs = []memory.Claim{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"claims": cs})
	return nil
}

func (s *Server) getClaim(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "memory:read"); err != nil {
		return err
	}
	c, err := s.sys.Memory.Claim(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	h, err := s.sys.Memory.History(r.Context(), c.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"claim": c, "history": h})
	return nil
}

func (s *Server) promoteClaim(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "memory:write"); err != nil {
		return err
	}
	var req reasonRequest
	if err := decodeStrict(r, &req); err != nil {
		return err
	}
	c, err := s.sys.Memory.Promote(r.Context(), r.PathValue("id"), actorOf(r), req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"claim": c})
	return nil
}

func (s *Server) demoteClaim(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "memory:write"); err != nil {
		return err
	}
	var req reasonRequest
	if err := decodeStrict(r, &req); err != nil {
		return err
	}
	at, err := optTime("invalid_at", req.InvalidAt)
	if err != nil {
		return err
	}
	c, err := s.sys.Memory.Demote(r.Context(), r.PathValue("id"), actorOf(r), req.Reason, req.ContradictedBy, at)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"claim": c})
	return nil
}

// SearchHit is one search result, a claim or a piece of evidence.
type SearchHit struct {
	Type      string   `json:"type"` // claim, evidence
	ID        string   `json:"id"`
	Text      string   `json:"text"`
	Score     float64  `json:"score"`
	Status    string   `json:"status,omitempty"`
	Kind      string   `json:"kind,omitempty"`
	Evidence  []string `json:"evidence,omitempty"`
	ValidAt   string   `json:"valid_at,omitempty"`
	InvalidAt string   `json:"invalid_at,omitempty"`
	CreatedAt string   `json:"created_at,omitempty"`
}

func rfc(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func (s *Server) searchMemory(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "memory:read"); err != nil {
		return err
	}
	f, err := claimFilter(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	withEvidence, _ := strconv.ParseBool(q.Get("evidence_text"))
	hits, hybrid, err := s.search(r.Context(), memory.Query{Text: q.Get("q"), Statuses: f.Statuses, Kinds: f.Kinds, Subject: f.Subject,
		AsOf: f.BelievedAt, ValidAt: f.TrueAt, Limit: min(f.Limit, memory.MaxSearchLimit), Evidence: withEvidence})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": hits, "hybrid": hybrid})
	return nil
}

// search runs a memory search and renders its results, for the search
// endpoint and the MCP tool alike.
func (s *Server) search(ctx context.Context, q memory.Query) ([]SearchHit, bool, error) {
	res, err := s.sys.Memory.Search(ctx, q)
	if err != nil {
		return nil, false, err
	}
	hits := make([]SearchHit, 0, len(res.Claims)+len(res.Evidence))
	for _, h := range res.Claims {
		c := h.Claim
		hits = append(hits, SearchHit{Type: "claim", ID: c.ID, Text: c.Statement, Score: h.Score, Status: string(c.Status), Kind: string(c.Kind),
			Evidence: c.EvidenceIDs(), ValidAt: rfc(c.ValidAt), InvalidAt: rfc(c.InvalidAt), CreatedAt: rfc(c.CreatedAt)})
	}
	for _, h := range res.Evidence {
		e := h.Evidence
		hits = append(hits, SearchHit{Type: "evidence", ID: e.ID, Text: h.Snippet, Score: h.Score, Kind: string(e.Kind), CreatedAt: rfc(e.CreatedAt)})
	}
	return hits, res.Hybrid, nil
}

// CanonClaimView is a canon member as the canon endpoint shows it.
type CanonClaimView struct {
	ID         string   `json:"id"`
	Statement  string   `json:"statement"`
	Subject    string   `json:"subject,omitempty"`
	Kind       string   `json:"kind"`
	Confidence float64  `json:"confidence"`
	Evidence   []string `json:"evidence"`
	ValidAt    string   `json:"valid_at"`
}

func (s *Server) getCanon(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "memory:read"); err != nil {
		return err
	}
	v, err := optUint(r.URL.Query().Get("version"), "version", 0)
	if err != nil {
		return err
	}
	cv, claims, err := s.canon(r.Context(), int64(v))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": cv.Version, "hash": cv.Hash, "created_at": rfc(cv.CreatedAt),
		"ledger_index": cv.LedgerIndex, "claims": claims})
	return nil
}

// canon returns a canon version (0: the latest) with its members, for the
// canon endpoint and the MCP tool alike.
func (s *Server) canon(ctx context.Context, version int64) (memory.CanonVersion, []CanonClaimView, error) {
	var cv memory.CanonVersion
	var err error
	if version <= 0 {
		cv, err = s.sys.Memory.Canon(ctx)
	} else {
		cv, err = s.sys.Memory.CanonVersion(ctx, version)
	}
	if err != nil {
		return cv, nil, err
	}
	claims := make([]CanonClaimView, 0, len(cv.Members))
	for _, id := range cv.Members {
		c, err := s.sys.Memory.Claim(ctx, id)
		if err != nil {
			return cv, nil, err
		}
		claims = append(claims, CanonClaimView{ID: c.ID, Statement: c.Statement, Subject: c.Subject, Kind: string(c.Kind),
			Confidence: c.Confidence, Evidence: c.EvidenceIDs(), ValidAt: rfc(c.ValidAt)})
	}
	return cv, claims, nil
}

func (s *Server) canonVersions(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "memory:read"); err != nil {
		return err
	}
	vs, err := s.sys.Memory.CanonVersions(r.Context())
	if err != nil {
		return err
	}
	if vs == nil {
		vs = []memory.CanonVersion{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": vs})
	return nil
}

func (s *Server) canonDiff(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "memory:read"); err != nil {
		return err
	}
	q := r.URL.Query()
	to, err := optUint(q.Get("to"), "to", 0)
	if err != nil {
		return err
	}
	if to == 0 {
		cv, err := s.sys.Memory.Canon(r.Context())
		if err != nil {
			return err
		}
		to = uint64(cv.Version)
	}
	from, err := optUint(q.Get("from"), "from", max(to, 1)-1)
	if err != nil {
		return err
	}
	d, err := s.sys.Memory.CanonDiff(r.Context(), int64(from), int64(to))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) verifyMemory(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "memory:read"); err != nil {
		return err
	}
	rep, err := s.sys.Memory.Verify(r.Context())
	if err != nil {
		return err
	}
	if rep.Problems == nil {
		rep.Problems = []memory.Problem{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": len(rep.Problems) == 0, "report": rep})
	return nil
}

func (s *Server) exportMemory(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "memory:read"); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/jsonl")
	return s.sys.Memory.Export(r.Context(), w)
}
