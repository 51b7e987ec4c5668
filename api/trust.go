package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/trace/ledger"
	"github.com/mirroros/mirror/trust/gate"
	"github.com/mirroros/mirror/trust/hook"
	"github.com/mirroros/mirror/trust/policy"
)

// evaluate decides one action for the caller's lease: POST /v1/evaluate.
func (s *Server) evaluate(w http.ResponseWriter, r *http.Request) error {
	var in gate.Input
	if err := decodeStrict(r, &in); err != nil {
		return err
	}
	res, err := s.sys.Gate.Evaluate(r.Context(), principal(r).Lease, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) listApprovals(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "approve"); err != nil {
		return err
	}
	state := r.URL.Query().Get("state")
	switch state {
	case "", "pending", "approved", "denied", "expired", "used", "all":
	default:
		return errorf(http.StatusBadRequest, "invalid_parameter", "state must be pending, approved, denied, expired, used or all")
	}
	if state == "" {
		state = "pending"
	}
	if state == "all" {
		state = ""
	}
	as, err := s.sys.Gate.Approvals(r.Context(), state, 200)
	if err != nil {
		return err
	}
	if as == nil {
		as = []gate.Approval{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"approvals": as})
	return nil
}

// getApproval answers the requester or an approver; ?wait=30s long-polls
// until a pending approval is decided.
func (s *Server) getApproval(w http.ResponseWriter, r *http.Request) error {
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > 5*time.Minute {
			return errorf(http.StatusBadRequest, "invalid_parameter", "wait must be a duration up to 5m, such as 30s")
		}
		wait = d
	}
	a, err := s.sys.Gate.Approval(r.Context(), r.PathValue("id"), 0)
	if err != nil {
		return err
	}
	p := principal(r).Lease
	if a.RequestedBy != p.ID && !policy.ScopesCover(p.Scopes, "approve") {
		return errorf(http.StatusNotFound, "not_found", "approval not found")
	}
	if wait > 0 {
		if a, err = s.sys.Gate.Approval(r.Context(), a.ID, wait); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) decideApproval(approve bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req struct {
			Note string `json:"note"`
		}
		if r.ContentLength != 0 {
			if err := decodeStrict(r, &req); err != nil && !errors.Is(err, io.EOF) {
				return err
			}
		}
		a, err := s.sys.Gate.Decide(r.Context(), principal(r).Lease, r.PathValue("id"), approve, req.Note)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, a)
		return nil
	}
}

func (s *Server) denied(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "audit:read"); err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.DenialFilter{Agent: q.Get("agent"), Limit: 100}
	if v := q.Get("since"); v != "" {
		t, err := parseSince(v, time.Now())
		if err != nil {
			return err
		}
		f.Since = t
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return errorf(http.StatusBadRequest, "invalid_parameter", "limit must be between 1 and 1000")
		}
		f.Limit = n
	}
	ds, err := s.sys.Gate.Denials(r.Context(), f)
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []gate.Denial{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"denied": ds})
	return nil
}

// parseSince accepts an RFC 3339 time or a duration back from now ("24h").
func parseSince(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Time{}, errorf(http.StatusBadRequest, "invalid_parameter", fmt.Sprintf("since %q must be an RFC 3339 time or a duration such as 24h", v))
}

// agentHook serves an agent's http hook: POST /v1/hooks/{agent} with the
// agent's own payload; the answer body is what the agent expects. Before a
// tool runs the action is decided (an ASK stays the agent's own "ask" where
// it has one); after, the result is recorded. Any failure answers "deny".
func (s *Server) agentHook(w http.ResponseWriter, r *http.Request) error {
	agent, err := hook.ParseAgent(r.PathValue("agent"))
	if err != nil {
		return errorf(http.StatusNotFound, "not_found", err.Error())
	}
	resp := s.runHook(r, agent)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Mirror-Exit-Code", strconv.Itoa(resp.ExitCode))
	body := resp.Stdout
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	return nil
}

func (s *Server) runHook(r *http.Request, agent hook.Agent) hook.Response {
	p, err := s.sys.Authenticate(r.Context(), bearer(r))
	if err != nil {
		return hook.FailClosed(agent, hook.Pre, err)
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, hook.MaxPayload+1))
	if err != nil {
		return hook.FailClosed(agent, hook.Pre, err)
	}
	req, err := hook.Parse(agent, raw)
	if err != nil {
		return hook.FailClosed(agent, hook.Pre, err)
	}
	if req.Phase == hook.Post {
		if err := s.recordHookResult(r, p.Lease.ID, req); err != nil {
			s.log.Warn("hook result not recorded", "agent", agent, "err", err.Error())
			return hook.FailClosed(agent, req.Phase, err)
		}
		return hook.Acknowledge(req)
	}
	res, err := s.sys.Gate.Evaluate(r.Context(), p.Lease, gate.FromHook(req))
	if err != nil {
		return hook.FailClosed(agent, req.Phase, err)
	}
	d := hook.Decision(res.Decision)
	if d == hook.Ask && !hook.SupportsAsk(agent) {
		d = hook.Block
	}
	return hook.Answer(req, d, res.Sentence())
}

// recordHookResult records that a tool ran, with a hash of its result.
func (s *Server) recordHookResult(r *http.Request, leaseID string, req hook.Request) error {
	sum := sha256.Sum256(req.Result)
	body, _ := json.Marshal(map[string]any{
		"agent": req.Agent, "event": req.Event, "tool": req.Tool, "session_id": req.SessionID,
		"result_sha256": fmt.Sprintf("%x", sum), "result_bytes": len(req.Result),
	})
	_, err := s.sys.Ledger.Append(r.Context(), ledger.Event{Kind: "tool.result", Actor: "lease/" + leaseID, Body: body})
	return err
}
