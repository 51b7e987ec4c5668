// Package skill loads, signs, verifies and installs MirrorOS skills.
//
// A skill is a signed, versioned capability. It is a bundle: a directory
// holding a manifest, skill.toml, a prompt template, prompt.tmpl, and a
// detached signature, skill.sig. The manifest names the skill, declares the
// lease scopes and risk it needs, how it is routed and how its output is
// verified, and carries JSON Schemas, written as TOML tables, for the inputs
// it accepts and the output it must produce. The template is a text/template
// executed with the inputs as dot; see [Skill.Render].
//
// # Digest
//
// A bundle's digest is a SHA-256 over its manifest and template, each length
// prefixed so no byte can move from one file to the other unnoticed:
//
//	"mirroros-skill-v1\n"
//	decimal(len(manifest)) "\n" manifest
//	decimal(len(template)) "\n" template
//
// The files are hashed as raw bytes, exactly as they are on disk. The digest
// is written "sha256:" followed by 64 lower-case hex digits. See [Digest].
//
// # Signature
//
// skill.sig is a signed note, the format of golang.org/x/mod/sumdb/note that
// MirrorOS also uses for its ledger checkpoints. Its text is exactly three
// lines:
//
//	mirroros skill v1
//	<name> <version>
//	sha256:<hex>
//
// followed by a blank line and one signature line per signer, each by an
// Ed25519 note key. Keys are note key strings: a signer key
// "PRIVATE+KEY+<name>+<hash>+<base64>" and a verifier key
// "<name>+<hash>+<base64>"; see [GenerateKey] and [Sign]. Several keys may
// sign the same bundle.
//
// # Trust
//
// [Load] parses a bundle without trusting it. [Verify] decides whether to
// trust it, given the trusted signers ([Signers], one TOML file per signer)
// and the revocation list ([Revocations]). A refusal is a [*TrustError] whose
// Kind says why: the bundle is unsigned, tampered with, signed by an
// untrusted or expired key, or revoked. Tampering is checked before trust: a
// trusted key's signature over some other digest is tampering, not merely an
// unknown signature.
//
// # Registry
//
// A [Registry] keeps installed skills under <skills>/<name>/<version>/ and
// serves the ones that verify. In development mode ([LoadOptions]) skills
// that would be refused are served too, marked Unsigned with the refusal in
// TrustWarning, except revoked skills, which are never served.
//
// The file skill/FORMAT.md in the MirrorOS source describes the bundle,
// signer and revocation formats in full.
package skill
