package kernel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mirroros/mirror/skill"
	"github.com/mirroros/mirror/trace/ledger"
)

// Where skills and their trust live in the data directory.
const (
	SkillsDir      = "skills"             // installed bundles: skills/<name>/<version>/
	SignersDir     = "trust/signers"      // trusted signers, one TOML file each
	RevokedFile    = "trust/revoked.toml" // revoked keys and digests
	BuiltinKeyFile = "trust/builtin.key"  // signs the built-in skills; 0600
	builtinSigner  = "mirroros-builtin"
)

// startSkills opens the skill registry and installs the built-in skills,
// signed by a key of this data directory that is made on first start.
func (s *System) startSkills(ctx context.Context, allowUnsigned bool) error {
	for _, d := range []string{SkillsDir, SignersDir} {
		if err := os.MkdirAll(filepath.Join(s.DataDir, d), 0o700); err != nil {
			return fmt.Errorf("skills: %w", err)
		}
	}
	skey, err := s.builtinKey()
	if err != nil {
		return err
	}
	reg, err := skill.OpenRegistry(filepath.Join(s.DataDir, SkillsDir), filepath.Join(s.DataDir, SignersDir),
		filepath.Join(s.DataDir, RevokedFile), skill.LoadOptions{AllowUnsigned: allowUnsigned})
	if err != nil {
		return fmt.Errorf("skills: %w", err)
	}
	s.Skills = reg
	s.AllowUnsigned = allowUnsigned
	had := map[string]bool{}
	for _, sk := range reg.List() {
		had[sk.Digest] = true
	}
	installed, err := skill.InstallBuiltins(reg, skey)
	if err != nil {
		// A revoked or damaged built-in must not keep the kernel down.
		s.Log.Warn("built-in skills not installed", "err", err.Error())
	}
	if len(installed) > 0 {
		if err := reg.Reload(); err != nil {
			return fmt.Errorf("skills: %w", err)
		}
	}
	for _, sk := range installed {
		if had[sk.Digest] {
			continue
		}
		body, _ := json.Marshal(map[string]any{"skill": sk.Name, "version": sk.Version, "digest": sk.Digest, "signer": sk.Signer, "builtin": true})
		if _, err := s.Ledger.Append(ctx, ledger.Event{Kind: "skill.install", Actor: "kernel", Body: body}); err != nil {
			s.Log.Warn("skill.install not recorded", "skill", sk.Name, "err", err.Error())
		}
	}
	if allowUnsigned {
		s.Log.Warn("DEVELOPMENT MODE: unsigned, untrusted and tampered skills are accepted; every run of one is marked in the ledger")
	}
	for _, r := range reg.Refused() {
		s.Log.Warn("skill refused", "skill", r.Name+"@"+r.Version, "reason", r.Err.Error())
	}
	return nil
}

// builtinKey returns the signing key of the built-in skills, creating it
// and trusting it as a signer on first use.
func (s *System) builtinKey() (string, error) {
	path := filepath.Join(s.DataDir, BuiltinKeyFile)
	raw, err := os.ReadFile(path)
	if err == nil {
		if err := checkPrivate(path); err != nil {
			return "", err
		}
		return strings.TrimSpace(string(raw)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	skey, vkey, err := skill.GenerateKey(builtinSigner)
	if err != nil {
		return "", err
	}
	err = skill.AddSigner(filepath.Join(s.DataDir, SignersDir), skill.Signer{
		Name: builtinSigner, Key: vkey, AddedAt: time.Now().UTC(),
		Comment: "signs the skills built into MirrorOS; made by this data directory on first start",
	})
	if err != nil {
		return "", fmt.Errorf("skills: trusting the built-in signer: %w", err)
	}
	if err := writeFileAtomic(path, []byte(skey+"\n"), 0o600); err != nil {
		return "", err
	}
	return skey, nil
}

// InstallSkill verifies and installs a skill bundle from a directory and
// records it in the ledger.
func (s *System) InstallSkill(ctx context.Context, actor, dir string) (*skill.Skill, error) {
	sk, err := s.Skills.Install(dir)
	if err != nil {
		return nil, err
	}
	if err := s.Skills.Reload(); err != nil {
		return nil, err
	}
	body, _ := json.Marshal(map[string]any{"skill": sk.Name, "version": sk.Version, "digest": sk.Digest,
		"signer": sk.Signer, "unsigned": sk.Unsigned, "trust_warning": sk.TrustWarning})
	if _, err := s.Ledger.Append(ctx, ledger.Event{Kind: "skill.install", Actor: actor, Body: body}); err != nil {
		return nil, err
	}
	return sk, nil
}

// RevokeSkill adds a key or digest to the revocation list, records it, and
// reloads the registry so that nothing signed by it runs again.
func (s *System) RevokeSkill(ctx context.Context, actor string, r skill.Revocation) error {
	if r.At.IsZero() {
		r.At = time.Now().UTC()
	}
	// Recorded first: no audit, no action.
	body, _ := json.Marshal(map[string]any{"kind": r.Kind, "value": r.Value, "reason": r.Reason})
	if _, err := s.Ledger.Append(ctx, ledger.Event{Kind: "skill.revoke", Actor: actor, Body: body}); err != nil {
		return err
	}
	if err := skill.Revoke(filepath.Join(s.DataDir, RevokedFile), r); err != nil {
		return err
	}
	return s.Skills.Reload()
}
