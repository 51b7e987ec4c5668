package skill

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
)

// File names within a bundle.
const (
	ManifestFile  = "skill.toml"
	TemplateFile  = "prompt.tmpl"
	SignatureFile = "skill.sig"
)

// digestDomain starts every digested message, separating skill digests from
// any other SHA-256 MirrorOS computes.
const digestDomain = "mirroros-skill-v1\n"

// Skill is a loaded skill: its manifest with defaults filled in, its parsed
// template and compiled schemas, and what is known about its trust. A Skill
// is immutable once returned and safe for concurrent use.
type Skill struct {
	Manifest

	Digest       string // "sha256:<hex>" over skill.toml and prompt.tmpl
	Signer       string // name of the trusted signer, if verified
	KeyHash      string // the signer key's hash, 8 hex digits, if verified
	Unsigned     bool   // accepted without verification, in development mode
	TrustWarning string // why verification refused the skill, when Unsigned
	Dir          string // the bundle's directory

	tmpl *template.Template
}

// Bundle is a skill bundle as read from a directory, not yet trusted.
type Bundle struct {
	Dir          string
	ManifestData []byte // skill.toml as on disk
	TemplateData []byte // prompt.tmpl as on disk
	SigData      []byte // skill.sig as on disk; nil when the bundle is unsigned
	Digest       string // Digest(ManifestData, TemplateData)
	Skill        *Skill // the parsed skill; its trust fields are unset
}

// Digest returns the digest of a bundle with the given manifest and template
// bytes: "sha256:" and the hex SHA-256 of
//
//	"mirroros-skill-v1\n" + decimal(len(manifest)) + "\n" + manifest +
//	decimal(len(template)) + "\n" + template
func Digest(manifest, template []byte) string {
	h := sha256.New()
	io.WriteString(h, digestDomain)
	io.WriteString(h, strconv.Itoa(len(manifest))+"\n")
	h.Write(manifest)
	io.WriteString(h, strconv.Itoa(len(template))+"\n")
	h.Write(template)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// validDigest reports whether d is "sha256:" and 64 lower-case hex digits.
func validDigest(d string) bool {
	h, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	for _, c := range h {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Load reads and parses the bundle in dir: skill.toml, prompt.tmpl and, if
// present, skill.sig. It checks that the manifest and template are valid but
// does not check the signature; see [Verify].
func Load(dir string) (*Bundle, error) {
	m, err := readCapped(dir, ManifestFile, MaxManifestSize)
	if err != nil {
		return nil, err
	}
	t, err := readCapped(dir, TemplateFile, MaxTemplateSize)
	if err != nil {
		return nil, err
	}
	sig, err := readCapped(dir, SignatureFile, MaxSignatureSize)
	if errors.Is(err, fs.ErrNotExist) {
		sig, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseBundle(dir, m, t, sig)
}

// parseBundle builds a Bundle from file contents.
func parseBundle(dir string, manifest, tmpl, sig []byte) (*Bundle, error) {
	m, err := ParseManifest(manifest)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestFile), err)
	}
	t, err := parseTemplate(tmpl)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, TemplateFile), err)
	}
	d := Digest(manifest, tmpl)
	return &Bundle{
		Dir:          dir,
		ManifestData: manifest,
		TemplateData: tmpl,
		SigData:      sig,
		Digest:       d,
		Skill:        &Skill{Manifest: *m, Digest: d, Dir: dir, tmpl: t},
	}, nil
}

// readCapped reads dir/name, refusing anything but a regular file of at most
// max bytes.
func readCapped(dir, name string, max int64) ([]byte, error) {
	path := filepath.Join(dir, name)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than the limit of %d bytes", path, max)
	}
	return data, nil
}

// templateFuncs are the functions a prompt template may call besides the
// text/template builtins.
var templateFuncs = template.FuncMap{
	"json":     templateJSON,
	"indent":   templateIndent,
	"numbered": templateNumbered,
}

func parseTemplate(data []byte) (*template.Template, error) {
	if len(data) > MaxTemplateSize {
		return nil, fmt.Errorf("template is larger than the limit of %d bytes", MaxTemplateSize)
	}
	t, err := template.New(TemplateFile).Option("missingkey=error").Funcs(templateFuncs).Parse(string(data))
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	return t, nil
}

// marshalCompact encodes v as compact JSON without HTML escaping.
func marshalCompact(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// templateJSON is the template function json: v as compact JSON.
func templateJSON(v any) (string, error) {
	b, err := marshalCompact(v)
	return string(b), err
}

// maxIndent bounds the indent template function.
const maxIndent = 64

// templateIndent is the template function indent: s with every non-empty
// line prefixed by n spaces. It takes s last so it can end a pipeline:
// {{.text | indent 4}}.
func templateIndent(n int, s string) string {
	n = max(0, min(n, maxIndent))
	pad := strings.Repeat(" ", n)
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if strings.TrimRight(l, "\r\n") != "" {
			lines[i] = pad + l
		}
	}
	return strings.Join(lines, "")
}

// templateNumbered is the template function numbered: s with each line
// prefixed by its 1-based number, right-aligned, and "| ", so a model can
// cite lines exactly.
func templateNumbered(s string) string {
	s = strings.TrimSuffix(s, "\n")
	lines := strings.Split(s, "\n")
	w := len(strconv.Itoa(len(lines)))
	var b strings.Builder
	for i, l := range lines {
		fmt.Fprintf(&b, "%*d | %s\n", w, i+1, l)
	}
	return b.String()
}

// ValidateInput checks v against the skill's input schema. A failure is a
// [*ValidationError] listing every violation with its JSON path.
func (s *Skill) ValidateInput(v any) error { return validate("input", s.in, v) }

// ValidateOutput checks v against the skill's output schema. A failure is a
// [*ValidationError] listing every violation with its JSON path; its message
// is meant to be handed back to the model as a repair hint.
func (s *Skill) ValidateOutput(v any) error { return validate("output", s.out, v) }

// ValidateOutputJSON decodes data as exactly one JSON value and checks it
// against the output schema, returning the decoded value. Surrounding white
// space and a Markdown code fence around the value are ignored. Malformed
// JSON is reported as a [*ValidationError] too, so the caller can send any
// failure back to the model as a repair hint.
func (s *Skill) ValidateOutputJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(stripFence(data)))
	var v any
	err := dec.Decode(&v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value; answer with exactly one JSON object")
	} else if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("unexpected text after the JSON value")
		}
	}
	if err != nil {
		return nil, &ValidationError{Which: "output", Violations: []Violation{{Path: "$", Message: "not valid JSON: " + err.Error()}}}
	}
	if err := s.ValidateOutput(v); err != nil {
		return nil, err
	}
	return v, nil
}

// stripFence removes white space and a Markdown code fence (```json ... ```)
// around data.
func stripFence(data []byte) []byte {
	d := bytes.TrimSpace(data)
	if !bytes.HasPrefix(d, []byte("```")) || !bytes.HasSuffix(d, []byte("```")) || len(d) < 6 {
		return d
	}
	i := bytes.IndexByte(d, '\n')
	if i < 0 {
		return d
	}
	return bytes.TrimSpace(d[i+1 : len(d)-3])
}

// Render checks inputs against the input schema and executes the prompt
// template with inputs as dot. A nil map is treated as empty. Besides the
// text/template builtins the template may call
//
//	json v          v as compact JSON
//	indent n s      s with every non-empty line indented by n spaces (n ≤ 64)
//	numbered s      s with 1-based line numbers: "  7 | line"
//
// A reference to a key missing from inputs is an error; templates read
// optional inputs with index, as in {{with index . "max_words"}}.
func (s *Skill) Render(inputs map[string]any) (string, error) {
	if inputs == nil {
		inputs = map[string]any{}
	}
	if err := s.ValidateInput(inputs); err != nil {
		return "", err
	}
	var b strings.Builder
	if err := s.tmpl.Execute(&b, inputs); err != nil {
		return "", fmt.Errorf("render %s: %w", s.ID(), err)
	}
	return b.String(), nil
}
