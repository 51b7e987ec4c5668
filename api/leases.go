package api

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/trust/lease"
	"github.com/mirroros/mirror/trust/policy"
)

// need refuses a request whose lease lacks a scope.
func need(r *http.Request, scope string) error {
	p := principal(r)
	if !policy.ScopesCover(p.Lease.Scopes, scope) {
		return errorf(http.StatusForbidden, "forbidden", fmt.Sprintf("lease %s has no scope covering %s", p.Lease.Name, scope))
	}
	return nil
}

// LeaseView is a lease as the API shows it; the token appears only once,
// in the answer to the grant.
type LeaseView struct {
	ID           string   `json:"id"`
	Parent       string   `json:"parent,omitempty"`
	Name         string   `json:"name"`
	Scopes       []string `json:"scopes"`
	State        string   `json:"state"`
	NotBefore    string   `json:"not_before"`
	ExpiresAt    string   `json:"expires_at,omitempty"`
	MaxTTL       string   `json:"max_ttl,omitempty"`
	BudgetUSD    *float64 `json:"budget_usd,omitempty"`
	SpentUSD     float64  `json:"spent_usd"`
	ReservedUSD  float64  `json:"reserved_usd"`
	BudgetTokens *int64   `json:"budget_tokens,omitempty"`
	SpentTokens  int64    `json:"spent_tokens"`
	Created      string   `json:"created"`
	Depth        *int     `json:"depth,omitempty"`
	LocalOnly    bool     `json:"local_only,omitempty"`
	NoIdentity   bool     `json:"no_identity,omitempty"`
	Memory       bool     `json:"memory,omitempty"`
	Token        string   `json:"token,omitempty"`
}

func viewLease(l store.Lease) LeaseView {
	v := LeaseView{
		ID: l.ID, Parent: l.Parent, Name: l.Name, Scopes: l.Scopes, State: l.State,
		NotBefore: l.NotBefore.Format(time.RFC3339), SpentUSD: float64(l.SpentMicros) / 1e6,
		ReservedUSD: float64(l.ReservedMicros) / 1e6, SpentTokens: l.SpentTokens, Created: l.Created.Format(time.RFC3339),
		LocalOnly: l.Options.LocalOnly, NoIdentity: l.Options.NoIdentity, Memory: l.Options.Memory,
	}
	if !l.ExpiresAt.IsZero() {
		v.ExpiresAt = l.ExpiresAt.Format(time.RFC3339)
	}
	if l.MaxTTL > 0 {
		v.MaxTTL = l.MaxTTL.String()
	}
	if l.BudgetMicros >= 0 {
		b := float64(l.BudgetMicros) / 1e6
		v.BudgetUSD = &b
	}
	if l.BudgetTokens >= 0 {
		b := l.BudgetTokens
		v.BudgetTokens = &b
	}
	return v
}

type grantRequest struct {
	Name         string   `json:"name"`
	Scopes       []string `json:"scopes"`
	TTL          string   `json:"ttl"`
	MaxTTL       string   `json:"max_ttl"`
	NotBefore    string   `json:"not_before"`
	BudgetUSD    *float64 `json:"budget_usd"`
	BudgetTokens *int64   `json:"budget_tokens"`
	LocalOnly    bool     `json:"local_only"`
	NoIdentity   bool     `json:"no_identity"`
	Memory       bool     `json:"memory"`
}

func decodeStrict(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, "malformed_json", "the body must be one JSON object of the documented fields: "+err.Error())
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "malformed_json", "the body must hold exactly one JSON object")
	}
	return nil
}

func parseDuration(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, errorf(http.StatusBadRequest, "invalid_parameter", fmt.Sprintf("%s %q must be a positive duration such as \"30m\" or \"24h\"", field, s))
	}
	return d, nil
}

func (s *Server) grantLease(w http.ResponseWriter, r *http.Request) error {
	var req grantRequest
	if err := decodeStrict(r, &req); err != nil {
		return err
	}
	g := lease.GrantRequest{Name: req.Name, Scopes: req.Scopes, BudgetMicros: -1, BudgetTokens: -1,
		Options: store.LeaseOptions{LocalOnly: req.LocalOnly, NoIdentity: req.NoIdentity, Memory: req.Memory}}
	var err error
	if g.TTL, err = parseDuration("ttl", req.TTL); err != nil {
		return err
	}
	if g.MaxTTL, err = parseDuration("max_ttl", req.MaxTTL); err != nil {
		return err
	}
	if req.NotBefore != "" {
		if g.NotBefore, err = time.Parse(time.RFC3339, req.NotBefore); err != nil {
			return errorf(http.StatusBadRequest, "invalid_parameter", "not_before must be an RFC 3339 time")
		}
	}
	if req.BudgetUSD != nil {
		b := *req.BudgetUSD
		if math.IsNaN(b) || b < 0 || b > 1e9 {
			return errorf(http.StatusBadRequest, "invalid_parameter", "budget_usd must be between 0 and 1e9")
		}
		g.BudgetMicros = int64(math.Round(b * 1e6))
	}
	if req.BudgetTokens != nil {
		if *req.BudgetTokens < 0 {
			return errorf(http.StatusBadRequest, "invalid_parameter", "budget_tokens must not be negative")
		}
		g.BudgetTokens = *req.BudgetTokens
	}
	l, tok, err := s.sys.Leases.Grant(r.Context(), principal(r).Lease, g)
	if err != nil {
		return err
	}
	v := viewLease(l)
	v.Token = tok
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func (s *Server) listLeases(w http.ResponseWriter, r *http.Request) error {
	nodes, err := s.sys.Leases.Subtree(r.Context(), principal(r).Lease)
	if err != nil {
		return err
	}
	out := make([]LeaseView, len(nodes))
	for i, n := range nodes {
		out[i] = viewLease(n.Lease)
		d := n.Depth
		out[i].Depth = &d
	}
	writeJSON(w, http.StatusOK, map[string]any{"leases": out})
	return nil
}

func (s *Server) getLease(w http.ResponseWriter, r *http.Request) error {
	l, err := s.sys.Leases.Get(r.Context(), principal(r).Lease, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewLease(l))
	return nil
}

func (s *Server) renewLease(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		TTL string `json:"ttl"`
	}
	if err := decodeStrict(r, &req); err != nil {
		return err
	}
	if req.TTL == "" {
		return errorf(http.StatusBadRequest, "invalid_parameter", "ttl is required")
	}
	ttl, err := parseDuration("ttl", req.TTL)
	if err != nil {
		return err
	}
	l, err := s.sys.Leases.Renew(r.Context(), principal(r).Lease, r.PathValue("id"), ttl)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewLease(l))
	return nil
}

func (s *Server) revokeLease(w http.ResponseWriter, r *http.Request) error {
	ids, err := s.sys.Leases.Revoke(r.Context(), principal(r).Lease, r.PathValue("id"))
	if err != nil {
		return err
	}
	if ids == nil {
		ids = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"revoked": ids})
	return nil
}
