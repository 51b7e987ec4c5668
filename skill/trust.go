package skill

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
	"golang.org/x/mod/sumdb/note"
)

// Kinds of [TrustError].
const (
	TrustUnsigned      = "unsigned"       // the bundle has no skill.sig
	TrustTampered      = "tampered"       // the signature does not match the bundle
	TrustUntrusted     = "untrusted"      // no trusted signer signed the bundle
	TrustExpiredSigner = "expired_signer" // the trusted signers that signed have expired
	TrustRevoked       = "revoked"        // the digest or a signing key is revoked
)

// A TrustError says why a bundle is not trusted.
type TrustError struct {
	Kind   string // TrustUnsigned, TrustTampered, TrustUntrusted, TrustExpiredSigner or TrustRevoked
	Skill  string // "name@version"
	Digest string // the bundle's digest
	Reason string // a sentence for people
}

// Error returns "skill <name@version> refused (<kind>): <reason>".
func (e *TrustError) Error() string {
	return fmt.Sprintf("skill %s refused (%s): %s", e.Skill, e.Kind, e.Reason)
}

// Verified describes a bundle that verified.
type Verified struct {
	Signer  string // the trusted signer's name
	KeyHash string // the signing key's hash, 8 hex digits
	Key     string // the signer's verifier key
	Digest  string // the bundle's digest
}

// A Signer is a trusted skill signer.
type Signer struct {
	Name       string    // the signer's name, which is also its key's name
	Key        string    // note verifier key "<name>+<hash>+<base64>"
	ValidUntil time.Time // when trust ends; the zero time means never
	AddedAt    time.Time // when the signer was added
	Comment    string    // free text, for people
}

// Expired reports whether the signer's trust has ended at now.
func (s Signer) Expired(now time.Time) bool {
	return !s.ValidUntil.IsZero() && now.After(s.ValidUntil)
}

// signerFile is a signer's TOML file.
type signerFile struct {
	Name       string     `toml:"name"`
	Key        string     `toml:"key"`
	ValidUntil *time.Time `toml:"valid_until,omitempty"`
	AddedAt    *time.Time `toml:"added_at,omitempty"`
	Comment    string     `toml:"comment,omitempty"`
}

// checkSigner validates a signer and returns its verifier.
func checkSigner(s Signer) (note.Verifier, error) {
	if !ValidSignerName(s.Name) {
		return nil, fmt.Errorf("signer name %q must be 1 to %d bytes without spaces, plus signs or a leading dot", s.Name, maxSignerName)
	}
	v, err := note.NewVerifier(s.Key)
	if err != nil {
		return nil, fmt.Errorf("signer %s: key is not a note verifier key: %v", s.Name, err)
	}
	if v.Name() != s.Name {
		return nil, fmt.Errorf("signer %s: key is for %q; the signer must have its key's name", s.Name, v.Name())
	}
	return v, nil
}

// AddSigner stores s as a trusted signer in dir, in the file <name>.toml
// (mode 0644; the name path-escaped). The key must be a note verifier key
// named s.Name. Adding a signer again with the same key updates its file;
// adding a different key under an existing name is refused. A zero AddedAt
// is set to now.
func AddSigner(dir string, s Signer) error {
	if _, err := checkSigner(s); err != nil {
		return err
	}
	path := filepath.Join(dir, signerFileName(s.Name))
	old, err := readSigner(path)
	switch {
	case err == nil && old.Key != s.Key:
		return fmt.Errorf("signer %s already exists with a different key; revoke and remove it first", s.Name)
	case err == nil && s.AddedAt.IsZero():
		s.AddedAt = old.AddedAt
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if s.AddedAt.IsZero() {
		s.AddedAt = time.Now().UTC().Truncate(time.Second)
	}
	f := signerFile{Name: s.Name, Key: s.Key, Comment: s.Comment}
	if !s.ValidUntil.IsZero() {
		f.ValidUntil = &s.ValidUntil
	}
	f.AddedAt = &s.AddedAt
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(f); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return writeFileAtomic(path, buf.Bytes(), 0o644)
}

// readSigner reads and validates one signer file.
func readSigner(path string) (Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Signer{}, err
	}
	var f signerFile
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return Signer{}, fmt.Errorf("signer file %s: %w", path, err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		return Signer{}, fmt.Errorf("signer file %s: unknown key %q", path, u[0].String())
	}
	s := Signer{Name: f.Name, Key: f.Key, Comment: f.Comment}
	if f.ValidUntil != nil {
		s.ValidUntil = *f.ValidUntil
	}
	if f.AddedAt != nil {
		s.AddedAt = *f.AddedAt
	}
	if s.Name == "" || s.Key == "" {
		return Signer{}, fmt.Errorf("signer file %s: name and key are required", path)
	}
	if _, err := checkSigner(s); err != nil {
		return Signer{}, fmt.Errorf("signer file %s: %v", path, err)
	}
	if filepath.Base(path) != signerFileName(s.Name) {
		return Signer{}, fmt.Errorf("signer file %s: holds signer %q, so it must be named %s", path, s.Name, signerFileName(s.Name))
	}
	return s, nil
}

// Signers reads the trusted signers in dir, sorted by name. A missing
// directory holds no signers. Files not ending in .toml, and hidden files,
// are ignored; any malformed signer file is an error naming the file.
func Signers(dir string) ([]Signer, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Signer
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".toml") || strings.HasPrefix(n, ".") {
			continue
		}
		s, err := readSigner(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Signer) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Kinds of [Revocation].
const (
	RevokeKey    = "key"
	RevokeDigest = "digest"
)

// A Revocation withdraws trust from a signing key or a bundle digest.
type Revocation struct {
	// Kind is RevokeKey or RevokeDigest.
	Kind string
	// Value is, for a key, its verifier key "<name>+<hash>+<base64>" or just
	// "<name>+<hash>"; for a digest, "sha256:<hex>".
	Value  string
	Reason string    // why, for people
	At     time.Time // when it was revoked
}

type revocationFile struct {
	Revoked []revocationEntry `toml:"revoked"`
}

type revocationEntry struct {
	Kind   string     `toml:"kind"`
	Value  string     `toml:"value"`
	Reason string     `toml:"reason,omitempty"`
	At     *time.Time `toml:"at,omitempty"`
}

// revokedKeyID returns the "<name>+<hash>" a key revocation value names.
func revokedKeyID(value string) (string, error) {
	if v, err := note.NewVerifier(value); err == nil {
		return keyID(v.Name(), v.KeyHash()), nil
	}
	// The key's base64 may itself hold plus signs, so only a value with
	// exactly one is a <name>+<hash>.
	name, hash, ok := strings.Cut(value, "+")
	h, err := strconv.ParseUint(hash, 16, 32)
	if !ok || err != nil || len(hash) != 8 || !ValidSignerName(name) {
		return "", fmt.Errorf("key %q must be a note verifier key or <name>+<8 hex digit hash>", value)
	}
	return keyID(name, uint32(h)), nil
}

func keyID(name string, hash uint32) string { return fmt.Sprintf("%s+%08x", name, hash) }

func checkRevocation(r Revocation) error {
	switch r.Kind {
	case RevokeKey:
		_, err := revokedKeyID(r.Value)
		return err
	case RevokeDigest:
		if !validDigest(r.Value) {
			return fmt.Errorf("digest %q must be sha256: and 64 lower-case hex digits", r.Value)
		}
		return nil
	}
	return fmt.Errorf("revocation kind %q must be %q or %q", r.Kind, RevokeKey, RevokeDigest)
}

// revokeMu serializes read-modify-write of revocation files in this process.
var revokeMu sync.Mutex

// Revoke appends r to the revocation list at path, creating the file and
// its directory if needed. The existing text, comments included, is kept;
// the new file is written beside the old and renamed over it. A zero At is
// set to now; revoking what is already revoked does nothing.
func Revoke(path string, r Revocation) error {
	r.Value = strings.TrimSpace(r.Value)
	if r.Kind == RevokeDigest {
		r.Value = strings.ToLower(r.Value)
	}
	if err := checkRevocation(r); err != nil {
		return err
	}
	if r.At.IsZero() {
		r.At = time.Now().UTC().Truncate(time.Second)
	}
	revokeMu.Lock()
	defer revokeMu.Unlock()
	revs, err := Revocations(path)
	if err != nil {
		return err
	}
	for _, o := range revs {
		if o.Kind == r.Kind && o.Value == r.Value {
			return nil
		}
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var buf bytes.Buffer
	if len(old) == 0 {
		buf.WriteString("# Revoked MirrorOS skill signing keys and skill digests.\n")
	} else {
		buf.Write(old)
		if !bytes.HasSuffix(old, []byte("\n")) {
			buf.WriteByte('\n')
		}
	}
	buf.WriteByte('\n')
	e := revocationEntry{Kind: r.Kind, Value: r.Value, Reason: r.Reason, At: &r.At}
	if err := toml.NewEncoder(&buf).Encode(revocationFile{Revoked: []revocationEntry{e}}); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return writeFileAtomic(path, buf.Bytes(), 0o644)
}

// Revocations reads the revocation list at path. A missing file is an empty
// list; a malformed one is an error naming the file and entry.
func Revocations(path string) ([]Revocation, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f revocationFile
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return nil, fmt.Errorf("revocation list %s: %w", path, err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		return nil, fmt.Errorf("revocation list %s: unknown key %q", path, u[0].String())
	}
	out := make([]Revocation, 0, len(f.Revoked))
	for i, e := range f.Revoked {
		r := Revocation{Kind: e.Kind, Value: e.Value, Reason: e.Reason}
		if e.At != nil {
			r.At = *e.At
		}
		if err := checkRevocation(r); err != nil {
			return nil, fmt.Errorf("revocation list %s: entry %d: %v", path, i+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Verify decides whether to trust bundle b, loaded by [Load], given the
// trusted signers and the revocations, at time now. It checks, in order:
//
//   - revoked: the bundle's digest is revoked;
//   - unsigned: there is no skill.sig;
//   - tampered: skill.sig is not a signed note, its text is not exactly the
//     text for this bundle's name, version and digest, or a trusted key's
//     signature on it does not verify;
//   - revoked: any signature line names a revoked key (whether or not it can
//     be checked: a revoked key's signature is never welcome);
//   - untrusted: no trusted signer's key signed it;
//   - expired_signer: every trusted signer that signed it is past ValidUntil.
//
// The first trusted, unexpired signer that signed it is reported in
// Verified. Any refusal is a [*TrustError].
func Verify(b *Bundle, signers []Signer, revs []Revocation, now time.Time) (Verified, error) {
	if b == nil || b.Skill == nil {
		return Verified{}, &TrustError{Kind: TrustTampered, Reason: "the bundle was not loaded"}
	}
	id := b.Skill.ID()
	refuse := func(kind, format string, args ...any) (Verified, error) {
		return Verified{}, &TrustError{Kind: kind, Skill: id, Digest: b.Digest, Reason: fmt.Sprintf(format, args...)}
	}
	if now.IsZero() {
		now = time.Now()
	}

	revokedKeys := map[string]Revocation{}
	for _, r := range revs {
		switch r.Kind {
		case RevokeDigest:
			if strings.EqualFold(r.Value, b.Digest) {
				return refuse(TrustRevoked, "digest %s is revoked%s", b.Digest, because(r.Reason))
			}
		case RevokeKey:
			if k, err := revokedKeyID(r.Value); err == nil {
				revokedKeys[k] = r
			}
		}
	}

	if b.SigData == nil {
		return refuse(TrustUnsigned, "the bundle has no %s; sign it with a trusted key", SignatureFile)
	}

	// Tamper checks come before trust: a trusted key's signature over some
	// other content is tampering, not merely an unknown signature.
	want := noteText(b.Skill.Name, b.Skill.Version, b.Digest)
	_, err := note.Open(b.SigData, nil)
	var unverified *note.UnverifiedNoteError
	if !errors.As(err, &unverified) {
		return refuse(TrustTampered, "%s is not a well-formed signed note", SignatureFile)
	}
	if text := unverified.Note.Text; text != want {
		name, version, digest, ok := parseNoteText(text)
		switch {
		case !ok:
			return refuse(TrustTampered, "%s does not sign a MirrorOS skill (its text is not in the skill signature format)", SignatureFile)
		case name != b.Skill.Name || version != b.Skill.Version:
			return refuse(TrustTampered, "%s signs %s@%s, not %s", SignatureFile, name, version, id)
		case digest != b.Digest:
			return refuse(TrustTampered, "%s signs digest %s but the bundle's digest is %s: skill.toml or prompt.tmpl changed after signing", SignatureFile, digest, b.Digest)
		default:
			return refuse(TrustTampered, "%s text is not exactly the skill signature text", SignatureFile)
		}
	}

	var vs []note.Verifier
	byID := map[string]Signer{}
	for _, s := range signers {
		v, err := note.NewVerifier(s.Key)
		if err != nil {
			continue
		}
		k := keyID(v.Name(), v.KeyHash())
		if _, dup := byID[k]; dup {
			continue
		}
		byID[k] = s
		vs = append(vs, v)
	}
	n, err := note.Open(b.SigData, note.VerifierList(vs...))
	var invalid *note.InvalidSignatureError
	switch {
	case errors.As(err, &invalid):
		return refuse(TrustTampered, "the signature by trusted key %s does not verify: %s was altered or forged", keyID(invalid.Name, invalid.Hash), SignatureFile)
	case errors.As(err, &unverified):
		n = unverified.Note
	case err != nil:
		return refuse(TrustTampered, "%s cannot be checked: %v", SignatureFile, err)
	}

	for _, sig := range slices.Concat(n.Sigs, n.UnverifiedSigs) {
		k := keyID(sig.Name, sig.Hash)
		if r, ok := revokedKeys[k]; ok {
			return refuse(TrustRevoked, "signed by revoked key %s%s", k, because(r.Reason))
		}
	}
	if len(n.Sigs) == 0 {
		var names []string
		for _, sig := range n.UnverifiedSigs {
			names = append(names, keyID(sig.Name, sig.Hash))
		}
		return refuse(TrustUntrusted, "signed only by %s; no trusted signer signed it", strings.Join(names, ", "))
	}
	var expired []string
	for _, sig := range n.Sigs {
		k := keyID(sig.Name, sig.Hash)
		s := byID[k]
		if s.Expired(now) {
			expired = append(expired, fmt.Sprintf("%s (trusted until %s)", s.Name, s.ValidUntil.UTC().Format(time.RFC3339)))
			continue
		}
		return Verified{Signer: s.Name, KeyHash: fmt.Sprintf("%08x", sig.Hash), Key: s.Key, Digest: b.Digest}, nil
	}
	return refuse(TrustExpiredSigner, "signed by %s, whose trust has expired", strings.Join(expired, ", "))
}

// because renders an optional reason as a clause.
func because(reason string) string {
	if reason = strings.TrimSpace(reason); reason == "" {
		return ""
	}
	return ": " + reason
}
