package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mirroros/mirror/skill"
	"github.com/mirroros/mirror/store"
	"golang.org/x/mod/sumdb/note"
)

// SkillView is an installed skill version as the API shows it.
type SkillView struct {
	Name         string           `json:"name"`
	Version      string           `json:"version"`
	Description  string           `json:"description"`
	Digest       string           `json:"digest"`
	Signer       string           `json:"signer,omitempty"`
	KeyHash      string           `json:"key_hash,omitempty"`
	Unsigned     bool             `json:"unsigned"`
	TrustWarning string           `json:"trust_warning,omitempty"`
	Risk         string           `json:"risk"`
	Scopes       []string         `json:"scopes"`
	MaxAttempts  int              `json:"max_attempts"`
	BudgetUSD    float64          `json:"budget_usd,omitempty"`
	History      bool             `json:"history,omitempty"`
	Verify       SkillVerify      `json:"verify"`
	Routing      SkillRouting     `json:"routing"`
	Keywords     []string         `json:"keywords"`
	Status       string           `json:"status"` // canary, stable or demoted
	Verified     int64            `json:"verified"`
	Streak       int              `json:"streak"` // consecutive failures; negative: consecutive successes
	InputSchema  json.RawMessage  `json:"input_schema,omitempty"`
	OutputSchema json.RawMessage  `json:"output_schema,omitempty"`
	Models       []SkillModelStat `json:"models,omitempty"`
}

// SkillVerify is a skill's verification strategy.
type SkillVerify struct {
	Strategy string   `json:"strategy"`
	Model    string   `json:"model,omitempty"`
	Council  []string `json:"council,omitempty"`
}

// SkillRouting is a skill's routing constraints.
type SkillRouting struct {
	LocalOnly bool     `json:"local_only"`
	Tiers     []int    `json:"tiers"`
	Models    []string `json:"models"`
}

// SkillModelStat is the decayed record of one model on one skill version.
type SkillModelStat struct {
	Model     string  `json:"model"`
	Successes float64 `json:"successes"`
	Failures  float64 `json:"failures"`
	Updated   string  `json:"updated"`
}

// RefusedSkill is an installed skill version the kernel does not run.
type RefusedSkill struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Digest  string `json:"digest,omitempty"`
	Kind    string `json:"kind"` // unsigned, tampered, untrusted, expired_signer, revoked, or invalid
	Reason  string `json:"reason"`
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// viewSkill renders a skill version with its promotion state; with detail,
// its schemas and per-model record too.
func (s *Server) viewSkill(ctx context.Context, sk *skill.Skill, detail bool) (SkillView, error) {
	v := SkillView{
		Name: sk.Name, Version: sk.Version, Description: sk.Description, Digest: sk.Digest, Signer: sk.Signer, KeyHash: sk.KeyHash,
		Unsigned: sk.Unsigned, TrustWarning: sk.TrustWarning, Risk: sk.Risk, Scopes: orEmpty(sk.Scopes), MaxAttempts: sk.MaxAttempts,
		BudgetUSD: float64(sk.BudgetMicros) / 1e6, History: sk.History,
		Verify:   SkillVerify{Strategy: sk.Verify.Strategy, Model: sk.Verify.Model, Council: sk.Verify.Council},
		Routing:  SkillRouting{LocalOnly: sk.Routing.LocalOnly, Tiers: orEmpty(sk.Routing.Tiers), Models: orEmpty(sk.Routing.Models)},
		Keywords: orEmpty(sk.Keywords), Status: "canary",
	}
	stats, err := s.sys.SkillStatus(ctx, sk.Name, sk.Version)
	if err != nil {
		return v, err
	}
	for _, st := range stats {
		if st.Model == "" {
			if st.Status != "" {
				v.Status = st.Status
			}
			v.Verified, v.Streak = st.Verified, st.Streak
		} else if detail {
			v.Models = append(v.Models, viewSkillStat(st))
		}
	}
	if detail {
		v.InputSchema, v.OutputSchema = sk.InputSchema, sk.OutputSchema
	}
	return v, nil
}

func viewSkillStat(st store.SkillStat) SkillModelStat {
	return SkillModelStat{Model: st.Model, Successes: st.Successes, Failures: st.Failures, Updated: fmtTime(st.Updated)}
}

func viewRefusal(r skill.Refusal) RefusedSkill {
	out := RefusedSkill{Name: r.Name, Version: r.Version, Digest: r.Digest, Kind: "invalid"}
	var te *skill.TrustError
	if errors.As(r.Err, &te) {
		out.Kind, out.Reason = te.Kind, te.Reason
	} else if r.Err != nil {
		out.Reason = r.Err.Error()
	}
	return out
}

func (s *Server) refusedSkills(name string) []RefusedSkill {
	out := []RefusedSkill{}
	for _, r := range s.sys.Skills.Refused() {
		if name == "" || r.Name == name {
			out = append(out, viewRefusal(r))
		}
	}
	return out
}

// listSkills is GET /v1/skills: the skills the kernel runs and the ones it
// refuses, with why.
func (s *Server) listSkills(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "skills:read"); err != nil {
		return err
	}
	out := []SkillView{}
	for _, sk := range s.sys.Skills.List() {
		v, err := s.viewSkill(r.Context(), sk, false)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"skills": out, "refused": s.refusedSkills("")})
	return nil
}

// getSkill is GET /v1/skills/{name}: every served version, with its
// schemas and per-model record, and the refused ones.
func (s *Server) getSkill(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "skills:read"); err != nil {
		return err
	}
	name := r.PathValue("name")
	versions := []SkillView{}
	for _, sk := range s.sys.Skills.List() {
		if sk.Name != name {
			continue
		}
		v, err := s.viewSkill(r.Context(), sk, true)
		if err != nil {
			return err
		}
		versions = append(versions, v)
	}
	refused := s.refusedSkills(name)
	if len(versions) == 0 && len(refused) == 0 {
		return errorf(http.StatusNotFound, "skill_not_found", fmt.Sprintf("no installed skill %q", name))
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": name, "versions": versions, "refused": refused})
	return nil
}

// installRequest is the body of POST /v1/skills: a bundle's three files.
type installRequest struct {
	Manifest  string `json:"manifest"`
	Template  string `json:"template"`
	Signature string `json:"signature"`
}

// installSkill is POST /v1/skills: verify and install a bundle.
func (s *Server) installSkill(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "skills:admin"); err != nil {
		return err
	}
	var req installRequest
	if err := decodeStrict(r, &req); err != nil {
		return err
	}
	if req.Manifest == "" || req.Template == "" {
		return errorf(http.StatusBadRequest, "invalid_skill", "manifest (skill.toml) and template (prompt.tmpl) are required")
	}
	dir, err := os.MkdirTemp("", "mirror-skill-install-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	files := map[string]string{skill.ManifestFile: req.Manifest, skill.TemplateFile: req.Template}
	if strings.TrimSpace(req.Signature) != "" {
		files[skill.SignatureFile] = req.Signature
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			return err
		}
	}
	b, err := skill.Load(dir)
	if err != nil {
		return errorf(http.StatusBadRequest, "invalid_skill", strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), ""))
	}
	if old, err := s.sys.Skills.Get(b.Skill.Name, b.Skill.Version); err == nil && old.Digest != b.Digest {
		return errorf(http.StatusConflict, "skill_exists", fmt.Sprintf("%s is already installed with digest %s; a changed skill needs a new version", b.Skill.ID(), old.Digest))
	}
	sk, err := s.sys.InstallSkill(r.Context(), "lease/"+principal(r).Lease.ID, dir)
	if err != nil {
		var te *skill.TrustError
		if errors.As(err, &te) {
			return errorf(http.StatusForbidden, "skill_"+te.Kind, te.Reason)
		}
		if strings.Contains(err.Error(), "already installed with a different digest") {
			return errorf(http.StatusConflict, "skill_exists", err.Error())
		}
		return err
	}
	v, err := s.viewSkill(r.Context(), sk, true)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// revocationRequest is the body of POST /v1/skills/revocations.
type revocationRequest struct {
	Kind   string `json:"kind"`
	Value  string `json:"value"`
	Reason string `json:"reason"`
}

// revokeSkill is POST /v1/skills/revocations: withdraw trust from a
// signing key or a bundle digest; what it signed stops running at once.
func (s *Server) revokeSkill(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "skills:admin"); err != nil {
		return err
	}
	var req revocationRequest
	if err := decodeStrict(r, &req); err != nil {
		return err
	}
	req.Value = strings.TrimSpace(req.Value)
	if err := checkRevocation(req.Kind, req.Value); err != nil {
		return err
	}
	rev := skill.Revocation{Kind: req.Kind, Value: req.Value, Reason: req.Reason}
	if err := s.sys.RevokeSkill(r.Context(), "lease/"+principal(r).Lease.ID, rev); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"revoked": map[string]string{"kind": req.Kind, "value": req.Value, "reason": req.Reason},
		"refused": s.refusedSkills(""),
	})
	return nil
}

// checkRevocation validates a revocation before it is recorded, with the
// rules of the revocation list.
func checkRevocation(kind, value string) error {
	switch kind {
	case skill.RevokeDigest:
		h, ok := strings.CutPrefix(value, "sha256:")
		if ok && len(h) == 64 && strings.Trim(h, "0123456789abcdef") == "" {
			return nil
		}
		return errorf(http.StatusBadRequest, "invalid_revocation", fmt.Sprintf("digest %q must be sha256: and 64 lower-case hex digits (see mirror skill ls)", value))
	case skill.RevokeKey:
		if _, err := note.NewVerifier(value); err == nil {
			return nil
		}
		name, hash, ok := strings.Cut(value, "+")
		if _, err := strconv.ParseUint(hash, 16, 32); ok && err == nil && len(hash) == 8 && skill.ValidSignerName(name) {
			return nil
		}
		return errorf(http.StatusBadRequest, "invalid_revocation", fmt.Sprintf("key %q must be a verifier key name+hash+key or name+<8 hex digit hash>", value))
	}
	return errorf(http.StatusBadRequest, "invalid_revocation", fmt.Sprintf("kind %q must be %q or %q", kind, skill.RevokeKey, skill.RevokeDigest))
}
