package skill

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// noteHeader is the first line of a skill signature's note text.
const noteHeader = "mirroros skill v1"

// maxSignerName bounds a signer name.
const maxSignerName = 128

// noteText returns the text a skill signature signs.
func noteText(name, version, digest string) string {
	return noteHeader + "\n" + name + " " + version + "\n" + digest + "\n"
}

// parseNoteText splits a skill signature's note text into its fields.
func parseNoteText(text string) (name, version, digest string, ok bool) {
	lines := strings.Split(text, "\n")
	if len(lines) != 4 || lines[0] != noteHeader || lines[3] != "" {
		return "", "", "", false
	}
	name, version, ok = strings.Cut(lines[1], " ")
	if !ok {
		return "", "", "", false
	}
	return name, version, lines[2], true
}

// ValidSignerName reports whether name can name a signer: a note key name
// (no spaces or plus signs) of at most 128 bytes, without control
// characters, and not starting with a dot.
func ValidSignerName(name string) bool {
	if name == "" || len(name) > maxSignerName || !utf8.ValidString(name) || strings.HasPrefix(name, ".") {
		return false
	}
	return strings.IndexFunc(name, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == '+'
	}) < 0
}

// signerFileName is the file a signer is stored in: the name, path-escaped
// so a name such as "mirroros/local" stays one file, and ".toml".
func signerFileName(name string) string { return url.PathEscape(name) + ".toml" }

// GenerateKey makes a new Ed25519 note key pair for the named signer. skey is
// the private signer key "PRIVATE+KEY+<name>+<hash>+<base64>"; vkey is the
// verifier key "<name>+<hash>+<base64>" that others add as a trusted signer.
func GenerateKey(signerName string) (skey, vkey string, err error) {
	if !ValidSignerName(signerName) {
		return "", "", fmt.Errorf("signer name %q must be 1 to %d bytes without spaces, plus signs or a leading dot", signerName, maxSignerName)
	}
	return note.GenerateKey(rand.Reader, signerName)
}

// Sign loads and validates the bundle in dir and writes its signature by the
// signer key skey to dir/skill.sig, mode 0644. If skill.sig already holds
// signatures by other keys over the same bundle, the new signature is added
// beside them; a signature over anything else is replaced.
func Sign(dir, skey string) error {
	s, err := note.NewSigner(skey)
	if err != nil {
		return fmt.Errorf("signer key: %w", err)
	}
	b, err := Load(dir)
	if err != nil {
		return err
	}
	n := &note.Note{Text: noteText(b.Skill.Name, b.Skill.Version, b.Digest)}
	if b.SigData != nil {
		// Keep co-signatures over the same text. They are not verified here:
		// verification happens when the bundle is installed or loaded.
		_, err := note.Open(b.SigData, nil)
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) && unverified.Note.Text == n.Text {
			n.UnverifiedSigs = unverified.Note.UnverifiedSigs
		}
	}
	msg, err := note.Sign(n, s)
	if err != nil {
		return fmt.Errorf("sign %s: %w", b.Skill.ID(), err)
	}
	return writeFileAtomic(filepath.Join(dir, SignatureFile), msg, 0o644)
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory and a rename, so readers see the old file or the new one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
