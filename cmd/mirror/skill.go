package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mirroros/mirror/api"
	"github.com/mirroros/mirror/kernel"
	"github.com/mirroros/mirror/skill"
	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"
)

func newSkillCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "skill",
		Short: "Make, sign, verify, trust, install and revoke skills",
		Long: `A skill is a directory with three files:

  skill.toml    the manifest: name, version, description, the lease scopes it
                needs, its risk, routing (models, local only), how its output
                is verified, and the JSON Schemas of its inputs and output
  prompt.tmpl   the prompt, a Go text/template over the inputs
  skill.sig     a signature over both, by a signer key

The kernel runs a skill only if a trusted signer signed exactly these bytes
(its digest) and neither the digest nor the key is revoked. Trusted signers
live in DATA_DIR/trust/signers, revocations in DATA_DIR/trust/revoked.toml.
The built-in skills are signed by a key the data directory makes on first
start (mirroros-builtin).

The usual flow for your own skill:

  mirror skill keygen alice                 # once: alice.key (secret), alice.pub
  mirror skill trust alice.pub              # once: trust your own key
  mirror skill sign ./greet --key alice.key # after every change
  mirror skill verify ./greet               # offline check, as the kernel will
  mirror skill install ./greet              # hand it to the running kernel
  mirror run greet --input name=Ada

keygen, sign, verify and trust work offline, on files; install, ls, show
and revoke talk to the running kernel.`,
	}
	cmd.AddCommand(newSkillKeygenCmd(), newSkillSignCmd(), newSkillVerifyCmd(g), newSkillTrustCmd(g),
		newSkillInstallCmd(g), newSkillLsCmd(g), newSkillShowCmd(g), newSkillRevokeCmd(g))
	return cmd
}

func newSkillKeygenCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen NAME [--out DIR]",
		Short: "Make a skill signing key pair: NAME.key (secret) and NAME.pub",
		Long: `Make an Ed25519 signing key pair for the signer NAME (a name without spaces
or plus signs, such as "alice" or "acme-skills"). NAME.key is the private
signer key, written with mode 0600: keep it secret, it signs skills.
NAME.pub is the public verifier key that others add as a trusted signer.
Existing files are never overwritten.`,
		Example: `  mirror skill keygen alice
  mirror skill keygen acme-skills --out ~/.keys`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			skey, vkey, err := skill.GenerateKey(name)
			if err != nil {
				return err
			}
			if out == "" {
				out = "."
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			keyPath := filepath.Join(out, name+".key")
			pubPath := filepath.Join(out, name+".pub")
			if err := writeNew(keyPath, []byte(skey+"\n"), 0o600); err != nil {
				return err
			}
			if err := writeNew(pubPath, []byte(vkey+"\n"), 0o644); err != nil {
				os.Remove(keyPath)
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "wrote %s (secret, mode 0600) and %s\n", keyPath, pubPath)
			fmt.Fprintf(w, "public key: %s\n\n", vkey)
			fmt.Fprintf(w, "Trust it on this machine:   mirror skill trust %s\n", pubPath)
			fmt.Fprintf(w, "Sign a skill with it:       mirror skill sign DIR --key %s\n", keyPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", ".", "directory to write the key files to")
	return cmd
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists; not overwriting it", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func newSkillSignCmd() *cobra.Command {
	var keyFile string
	cmd := &cobra.Command{
		Use:   "sign DIR --key FILE",
		Short: "Sign the skill in DIR (writes DIR/skill.sig)",
		Long: `Sign the skill bundle in DIR with a signer key made by 'mirror skill keygen'.
The signature covers the digest of skill.toml and prompt.tmpl exactly as they
are on disk, so sign again after every change (and bump the version: an
installed version never changes). Signatures by other keys over the same
bundle are kept beside the new one.`,
		Example: `  mirror skill sign ./greet --key alice.key`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyFile == "" {
				return errors.New("--key FILE is required (make one with: mirror skill keygen NAME)")
			}
			raw, err := os.ReadFile(keyFile)
			if err != nil {
				return err
			}
			skey := strings.TrimSpace(string(raw))
			if !strings.HasPrefix(skey, "PRIVATE+KEY+") {
				return fmt.Errorf("%s is not a signer key (PRIVATE+KEY+…); did you pass the .pub file?", keyFile)
			}
			if err := skill.Sign(args[0], skey); err != nil {
				return err
			}
			b, err := skill.Load(args[0])
			if err != nil {
				return err
			}
			s, _ := note.NewSigner(skey)
			fmt.Fprintf(cmd.OutOrStdout(), "signed %s by %s\ndigest %s\nwrote %s\n", b.Skill.ID(), s.Name(), b.Digest, filepath.Join(args[0], skill.SignatureFile))
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "the signer key file (NAME.key)")
	return cmd
}

func newSkillVerifyCmd(g *globals) *cobra.Command {
	var signersDir, revokedFile string
	cmd := &cobra.Command{
		Use:   "verify DIR [--signers DIR] [--revoked FILE]",
		Short: "Check a skill's signature offline, as the kernel would; exit 1 if refused",
		Long: `Decide, offline, whether the kernel would run the skill in DIR: its manifest
and template must be valid, skill.sig must sign exactly their digest, a
trusted signer must have signed it, and neither the digest nor the key may be
revoked. The trusted signers and revocations are the data directory's
(DATA_DIR/trust/signers, DATA_DIR/trust/revoked.toml) unless given.

Prints "OK" with the signer and the digest, or "REFUSED (kind)" and why,
where kind is unsigned, tampered, untrusted, expired_signer or revoked, and
exits 1.`,
		Example: `  mirror skill verify ./greet
  mirror skill verify ./greet --signers ./team-signers --revoked ./revoked.toml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if signersDir == "" {
				signersDir = filepath.Join(g.dataDir, kernel.SignersDir)
			}
			if revokedFile == "" {
				revokedFile = filepath.Join(g.dataDir, kernel.RevokedFile)
			}
			b, err := skill.Load(args[0])
			if err != nil {
				return &exitError{1, err}
			}
			signers, err := skill.Signers(signersDir)
			if err != nil {
				return err
			}
			revs, err := skill.Revocations(revokedFile)
			if err != nil {
				return err
			}
			v, err := skill.Verify(b, signers, revs, time.Now())
			w := cmd.OutOrStdout()
			var te *skill.TrustError
			if errors.As(err, &te) {
				fmt.Fprintf(w, "REFUSED (%s): %s\n%s digest %s\n", te.Kind, te.Reason, b.Skill.ID(), b.Digest)
				return &exitError{1, errQuiet}
			}
			if err != nil {
				return &exitError{1, err}
			}
			fmt.Fprintf(w, "OK %s signed by %s (key %s)\ndigest %s\n", b.Skill.ID(), v.Signer, v.KeyHash, v.Digest)
			return nil
		},
	}
	cmd.Flags().StringVar(&signersDir, "signers", "", "directory of trusted signers (default DATA_DIR/trust/signers)")
	cmd.Flags().StringVar(&revokedFile, "revoked", "", "revocation list (default DATA_DIR/trust/revoked.toml)")
	return cmd
}

func newSkillTrustCmd(g *globals) *cobra.Command {
	var name, validUntil, comment string
	cmd := &cobra.Command{
		Use:   "trust NAME.pub [--name N] [--valid-until RFC3339]",
		Short: "Trust a signer's public key (adds it to DATA_DIR/trust/signers)",
		Long: `Add the public key in a .pub file (or given as the argument itself) to the
trusted signers of the data directory. Skills signed by it are accepted from
then on. A signer is named by its key; --name, if given, must match. With
--valid-until, trust ends at that time and skills signed only by this key
are refused afterwards (expired_signer).

This edits files. The kernel reads the signers afresh on every install and
revocation ('mirror skill install' picks the new signer up at once); restart
'mirror up' to have already-installed skills re-checked now.`,
		Example: `  mirror skill trust alice.pub
  mirror skill trust acme.pub --valid-until 2027-01-01T00:00:00Z --comment "Acme's skill pack"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vkey := args[0]
			if raw, err := os.ReadFile(args[0]); err == nil {
				vkey = strings.TrimSpace(string(raw))
			} else if !strings.Contains(args[0], "+") {
				return err
			}
			if strings.HasPrefix(vkey, "PRIVATE+KEY+") {
				return errors.New("that is a private signer key; trust the .pub file, and keep the .key secret")
			}
			v, err := note.NewVerifier(vkey)
			if err != nil {
				return fmt.Errorf("not a public verifier key: %v", err)
			}
			if name != "" && name != v.Name() {
				return fmt.Errorf("the key is named %q, not %q; a signer has its key's name", v.Name(), name)
			}
			s := skill.Signer{Name: v.Name(), Key: vkey, Comment: comment}
			if validUntil != "" {
				t, err := time.Parse(time.RFC3339, validUntil)
				if err != nil {
					return fmt.Errorf("--valid-until %q must be an RFC 3339 time such as 2027-01-01T00:00:00Z", validUntil)
				}
				s.ValidUntil = t
			}
			dir := filepath.Join(g.dataDir, kernel.SignersDir)
			if err := skill.AddSigner(dir, s); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "trusted signer %s (key %08x) in %s\n", v.Name(), v.KeyHash(), dir)
			if !s.ValidUntil.IsZero() {
				fmt.Fprintf(w, "trust ends %s\n", s.ValidUntil.UTC().Format(time.RFC3339))
			}
			fmt.Fprintln(w, "The running kernel uses it from the next 'mirror skill install'; restart 'mirror up' to re-check installed skills now.")
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the signer's name (must be the key's name)")
	cmd.Flags().StringVar(&validUntil, "valid-until", "", "trust the key until this RFC 3339 time")
	cmd.Flags().StringVar(&comment, "comment", "", "a note for people")
	return cmd
}

func newSkillInstallCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "install DIR",
		Short: "Install the skill in DIR into the running kernel",
		Long: `Send the bundle in DIR (skill.toml, prompt.tmpl and skill.sig) to the kernel,
which verifies it exactly as 'mirror skill verify' does and installs it as
DATA_DIR/skills/NAME/VERSION. Installing is recorded in the ledger. An
unsigned, tampered, untrusted or revoked bundle is refused (unless the kernel
runs in development mode, which accepts all but revoked ones and marks every
run of them). Needs the skills:admin scope.`,
		Example: `  mirror skill install ./greet`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := map[string]string{}
			for key, file := range map[string]string{"manifest": skill.ManifestFile, "template": skill.TemplateFile, "signature": skill.SignatureFile} {
				raw, err := os.ReadFile(filepath.Join(args[0], file))
				if err != nil && !(key == "signature" && errors.Is(err, fs.ErrNotExist)) {
					return err
				}
				req[key] = string(raw)
			}
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			var v api.SkillView
			if err := c.send(cmd.Context(), "POST", "/v1/skills", req, &v); err != nil {
				var ae *apiError
				if errors.As(err, &ae) && strings.HasPrefix(ae.Code, "skill_") && ae.Status == 403 {
					return &exitError{1, fmt.Errorf("refused (%s): %s", strings.TrimPrefix(ae.Code, "skill_"), ae.Message)}
				}
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "installed %s@%s, %s\ndigest %s\n", v.Name, v.Version, signerOf(v), v.Digest)
			if v.Unsigned {
				fmt.Fprintf(w, "WARNING: accepted only because the kernel is in development mode: %s\n", v.TrustWarning)
			}
			fmt.Fprintf(w, "run it: mirror run %s --input …\n", v.Name)
			return nil
		},
	}
}

func signerOf(v api.SkillView) string {
	if v.Unsigned {
		return "UNSIGNED"
	}
	return "signed by " + v.Signer
}

func shortDigest(d string) string {
	h := strings.TrimPrefix(d, "sha256:")
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

func newSkillLsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List the installed skills, and the refused ones with why",
		Long: `List the skills the kernel runs: name, version, promotion status (canary
until 5 verified runs, then stable; demoted after 3 failures in a row),
signer (or UNSIGNED in development mode), digest prefix and description.
Then the installed skills it refuses to run, with the reason.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			var resp struct {
				Skills  []api.SkillView    `json:"skills"`
				Refused []api.RefusedSkill `json:"refused"`
			}
			if err := c.getJSON(cmd.Context(), "/v1/skills", &resp); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tSTATUS\tSIGNER\tDIGEST\tDESCRIPTION")
			for _, s := range resp.Skills {
				signer := s.Signer
				if s.Unsigned {
					signer = "UNSIGNED"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Version, s.Status, signer, shortDigest(s.Digest), oneLine(s.Description, 70))
			}
			tw.Flush()
			if len(resp.Refused) > 0 {
				fmt.Fprintf(w, "\nrefused (%d):\n", len(resp.Refused))
				for _, r := range resp.Refused {
					fmt.Fprintf(w, "  %s@%s %s: %s\n", r.Name, r.Version, strings.ToUpper(r.Kind), r.Reason)
				}
			}
			return nil
		},
	}
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

func newSkillShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "show NAME",
		Short:   "Show a skill: every version, its schemas, trust and per-model record",
		Example: `  mirror skill show summarize`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			var resp struct {
				Versions []api.SkillView    `json:"versions"`
				Refused  []api.RefusedSkill `json:"refused"`
			}
			if err := c.getJSON(cmd.Context(), "/v1/skills/"+url.PathEscape(args[0]), &resp); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for i, s := range resp.Versions {
				if i > 0 {
					fmt.Fprintln(w)
				}
				printSkill(w, s)
			}
			for _, r := range resp.Refused {
				fmt.Fprintf(w, "\n%s@%s is REFUSED (%s): %s\n  digest %s\n", r.Name, r.Version, r.Kind, r.Reason, r.Digest)
			}
			return nil
		},
	}
}

func printSkill(w io.Writer, s api.SkillView) {
	fmt.Fprintf(w, "%s@%s — %s\n", s.Name, s.Version, s.Description)
	fmt.Fprintf(w, "  status:   %s (%d verified runs", s.Status, s.Verified)
	if s.Streak > 0 {
		fmt.Fprintf(w, ", %d failures in a row", s.Streak)
	}
	fmt.Fprintln(w, ")")
	fmt.Fprintf(w, "  trust:    %s", signerOf(s))
	if s.KeyHash != "" {
		fmt.Fprintf(w, " (key %s)", s.KeyHash)
	}
	fmt.Fprintln(w)
	if s.TrustWarning != "" {
		fmt.Fprintf(w, "  WARNING:  %s\n", s.TrustWarning)
	}
	fmt.Fprintf(w, "  digest:   %s\n", s.Digest)
	fmt.Fprintf(w, "  risk:     %s; scopes %s\n", s.Risk, strings.Join(s.Scopes, " "))
	models := "default"
	if len(s.Routing.Models) > 0 {
		models = strings.Join(s.Routing.Models, ", ")
	}
	local := ""
	if s.Routing.LocalOnly {
		local = ", local models only"
	}
	fmt.Fprintf(w, "  models:   %s%s; up to %d attempts", models, local, s.MaxAttempts)
	if s.BudgetUSD > 0 {
		fmt.Fprintf(w, "; budget $%.4f a run", s.BudgetUSD)
	}
	fmt.Fprintln(w)
	verify := s.Verify.Strategy
	if s.Verify.Model != "" {
		verify += " by " + s.Verify.Model
	}
	if len(s.Verify.Council) > 0 {
		verify += " by " + strings.Join(s.Verify.Council, ", ")
	}
	fmt.Fprintf(w, "  verify:   %s\n", verify)
	if len(s.Keywords) > 0 {
		fmt.Fprintf(w, "  keywords: %s\n", strings.Join(s.Keywords, ", "))
	}
	printSchema(w, "inputs:", s.InputSchema)
	printSchema(w, "output:", s.OutputSchema)
	for _, m := range s.Models {
		fmt.Fprintf(w, "  record:   %s %.1f verified, %.1f failed (decayed)\n", m.Model, m.Successes, m.Failures)
	}
}

func newSkillRevokeCmd(g *globals) *cobra.Command {
	var digest, key, reason string
	cmd := &cobra.Command{
		Use:   "revoke --digest sha256:… | --key KEY --reason R",
		Short: "Revoke a skill digest or a signing key; what it signed stops running at once",
		Long: `Withdraw trust from one bundle (--digest, as 'mirror skill ls' or 'show'
prints it) or from everything a signing key signed (--key: a .pub file, a
verifier key, or NAME+HASH). The revocation is recorded in the ledger first,
then written to DATA_DIR/trust/revoked.toml; the kernel reloads its skills
at once and refuses new runs of anything revoked. Revocation is permanent:
to run a revoked skill again, publish a new version signed by a good key.
Needs the skills:admin scope.`,
		Example: `  mirror skill revoke --digest sha256:3f1c… --reason "prompt injection found in v1.2.0"
  mirror skill revoke --key alice.pub --reason "laptop stolen"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := map[string]string{"reason": reason}
			switch {
			case digest != "" && key != "", digest == "" && key == "":
				return errors.New("give exactly one of --digest or --key")
			case digest != "":
				req["kind"], req["value"] = skill.RevokeDigest, digest
			default:
				if raw, err := os.ReadFile(key); err == nil {
					key = strings.TrimSpace(string(raw))
				}
				req["kind"], req["value"] = skill.RevokeKey, key
			}
			if strings.TrimSpace(reason) == "" {
				return errors.New("--reason is required: it is recorded in the ledger for whoever asks why")
			}
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			var resp struct {
				Refused []api.RefusedSkill `json:"refused"`
			}
			if err := c.send(cmd.Context(), "POST", "/v1/skills/revocations", req, &resp); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "revoked %s %s\n", req["kind"], req["value"])
			for _, r := range resp.Refused {
				if r.Kind == skill.TrustRevoked {
					fmt.Fprintf(w, "  now refused: %s@%s (%s)\n", r.Name, r.Version, r.Reason)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&digest, "digest", "", "a bundle digest sha256:…")
	cmd.Flags().StringVar(&key, "key", "", "a signing key: a .pub file, a verifier key or NAME+HASH")
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded)")
	return cmd
}

// printSchema lists an object schema's fields, one a line, or prints the
// schema as it is when it is not a plain object schema.
func printSchema(w io.Writer, label string, raw []byte) {
	if len(raw) == 0 {
		return
	}
	var sch struct {
		Type       string   `json:"type"`
		Required   []string `json:"required"`
		Properties map[string]struct {
			Type        any    `json:"type"`
			Description string `json:"description"`
		} `json:"properties"`
	}
	if json.Unmarshal(raw, &sch) != nil || sch.Type != "object" || len(sch.Properties) == 0 {
		fmt.Fprintf(w, "  %-9s %s\n", label, raw)
		return
	}
	fmt.Fprintf(w, "  %s\n", label)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, name := range slices.Sorted(maps.Keys(sch.Properties)) {
		p := sch.Properties[name]
		typ := fmt.Sprint(p.Type)
		if p.Type == nil {
			typ = "any"
		}
		if slices.Contains(sch.Required, name) {
			typ += ", required"
		}
		fmt.Fprintf(tw, "    %s\t%s\t%s\n", name, typ, oneLine(p.Description, 80))
	}
	tw.Flush()
}
