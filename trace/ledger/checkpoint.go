package ledger

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// OriginPrefix starts the origin line of every MirrorOS checkpoint.
const OriginPrefix = "mirroros/"

// Checkpoint is the body of a C2SP tlog-checkpoint: origin, tree size and
// root hash. Note is the signed note it was read from or signed into.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   []byte
	Note   []byte
}

// GenerateKey makes a new Ed25519 signing key for the log named origin, as
// sumdb/note key strings.
func GenerateKey(origin string) (signerKey, verifierKey string, err error) {
	if !ValidOrigin(origin) {
		return "", "", fmt.Errorf("origin %q must be %q followed by a name of letters, digits and . _ -", origin, OriginPrefix)
	}
	return note.GenerateKey(rand.Reader, origin)
}

// ValidOrigin reports whether origin is "mirroros/<name>" with a name fit for
// a note key name.
func ValidOrigin(origin string) bool {
	name, ok := strings.CutPrefix(origin, OriginPrefix)
	if !ok || name == "" || len(origin) > 128 {
		return false
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// text is the checkpoint body as the C2SP tlog-checkpoint format lays it out.
func (c Checkpoint) text() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root))
}

// signCheckpoint signs a checkpoint note.
func signCheckpoint(s note.Signer, size uint64, root []byte) (Checkpoint, error) {
	c := Checkpoint{Origin: s.Name(), Size: size, Root: root}
	msg, err := note.Sign(&note.Note{Text: c.text()}, s)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("sign checkpoint: %w", err)
	}
	c.Note = msg
	return c, nil
}

// OpenCheckpoint verifies a signed checkpoint note with v and parses it. The
// origin line must be the verifier's key name.
func OpenCheckpoint(msg []byte, v note.Verifier) (Checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		switch {
		case errors.As(err, &unverified):
			return Checkpoint{}, fmt.Errorf("checkpoint is not signed by %s: forged, or signed with another key", v.Name())
		case err.Error() == "malformed note":
			return Checkpoint{}, errors.New("checkpoint is not a well-formed signed note")
		}
		var inv *note.InvalidSignatureError
		if errors.As(err, &inv) {
			return Checkpoint{}, fmt.Errorf("checkpoint signature by %s does not verify: forged or altered", inv.Name)
		}
		return Checkpoint{}, fmt.Errorf("checkpoint: %v", err)
	}
	c, err := ParseCheckpointText(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("checkpoint origin %q does not match the key name %q", c.Origin, v.Name())
	}
	c.Note = bytes.Clone(msg)
	return c, nil
}

// ParseCheckpointText parses an unsigned checkpoint body. Extension lines
// after the root hash are allowed and ignored.
func ParseCheckpointText(text string) (Checkpoint, error) {
	lines := strings.Split(text, "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		return Checkpoint{}, errors.New("checkpoint body must be origin, size and root hash lines")
	}
	c := Checkpoint{Origin: lines[0]}
	if c.Origin == "" {
		return Checkpoint{}, errors.New("checkpoint origin is empty")
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || (len(lines[1]) > 1 && lines[1][0] == '0') {
		return Checkpoint{}, fmt.Errorf("checkpoint size %q is not a decimal number", lines[1])
	}
	c.Size = size
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		return Checkpoint{}, fmt.Errorf("checkpoint root %q is not a base64 SHA-256 hash", lines[2])
	}
	c.Root = root
	return c, nil
}
