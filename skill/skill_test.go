package skill

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goldenDigest is the digest of testdata/golden. It must never change: it
// pins the digest format, which signatures depend on.
const goldenDigest = "sha256:fb279d6f0fd14ac3dd61c234c199d489c032be8ba65dac92d2f548520bf7be76"

func TestDigestGolden(t *testing.T) {
	b := mustLoad(t, filepath.Join("testdata", "golden"))
	if b.Digest != goldenDigest {
		t.Errorf("digest = %s, want %s", b.Digest, goldenDigest)
	}
	if b.Skill.Digest != goldenDigest {
		t.Errorf("Skill.Digest = %s", b.Skill.Digest)
	}
	if got := Digest(b.ManifestData, b.TemplateData); got != goldenDigest {
		t.Errorf("Digest() = %s", got)
	}
	if b.SigData != nil {
		t.Error("golden bundle has a signature")
	}
}

func TestDigestFraming(t *testing.T) {
	// Moving bytes from one file to the other must change the digest.
	seen := map[string]string{}
	for _, p := range [][2]string{{"ab", "c"}, {"a", "bc"}, {"abc", ""}, {"", "abc"}, {"1\nab", "c"}} {
		d := Digest([]byte(p[0]), []byte(p[1]))
		if !validDigest(d) {
			t.Fatalf("malformed digest %q", d)
		}
		if o, dup := seen[d]; dup {
			t.Errorf("%q and %q share a digest", p, o)
		}
		seen[d] = p[0] + "|" + p[1]
	}
}

func TestLoadErrors(t *testing.T) {
	t.Run("missing manifest", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, TemplateFile), "x")
		if _, err := Load(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("missing template", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, ManifestFile), testManifest)
		if _, err := Load(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("broken template", func(t *testing.T) {
		dir := writeBundle(t, testManifest, "Hello {{.who")
		_, err := Load(dir)
		if err == nil || !strings.Contains(err.Error(), "prompt.tmpl") || !strings.Contains(err.Error(), "parse template") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("unknown function", func(t *testing.T) {
		dir := writeBundle(t, testManifest, "{{shout .who}}")
		if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), `"shout" not defined`) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("bad manifest names file", func(t *testing.T) {
		dir := writeBundle(t, "name = 1", "x")
		if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, ManifestFile)) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("template too large", func(t *testing.T) {
		dir := writeBundle(t, testManifest, strings.Repeat("x", MaxTemplateSize+1))
		if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "larger than the limit") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("template at limit", func(t *testing.T) {
		dir := writeBundle(t, testManifest, strings.Repeat("x", MaxTemplateSize))
		if _, err := Load(dir); err != nil {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("manifest too large", func(t *testing.T) {
		dir := writeBundle(t, testManifest+"# "+strings.Repeat("x", MaxManifestSize), "x")
		if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "larger than the limit") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("manifest is a directory", func(t *testing.T) {
		dir := t.TempDir()
		os.Mkdir(filepath.Join(dir, ManifestFile), 0o755)
		writeFile(t, filepath.Join(dir, TemplateFile), "x")
		if _, err := Load(dir); err == nil {
			t.Error("loaded a directory as skill.toml")
		}
	})
}

func TestRender(t *testing.T) {
	s := mustSkill(t, testManifest, testTemplate)
	got, err := s.Render(map[string]any{"who": "Ada", "tone": "warm"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "Greet Ada in a warm tone.\n"; !strings.HasPrefix(got, want) {
		t.Errorf("Render = %q, want prefix %q", got, want)
	}
	got, err = s.Render(map[string]any{"who": "Ada"})
	if err != nil || !strings.HasPrefix(got, "Greet Ada.\n") {
		t.Errorf("Render without optional input = %q, %v", got, err)
	}
}

func TestRenderMissingKey(t *testing.T) {
	// The schema allows "who" to be absent, so only the template can catch it.
	m := strings.Replace(testManifest, `required = ["who"]`, `required = []`, 1)
	s := mustSkill(t, m, testTemplate)
	_, err := s.Render(map[string]any{"tone": "warm"})
	if err == nil || !strings.Contains(err.Error(), `map has no entry for key "who"`) || !strings.Contains(err.Error(), "render greet@1.0.0") {
		t.Errorf("err = %v", err)
	}
	_, err = s.Render(nil)
	if err == nil || !strings.Contains(err.Error(), `"who"`) {
		t.Errorf("nil inputs: err = %v", err)
	}
}

func TestRenderValidatesInput(t *testing.T) {
	s := mustSkill(t, testManifest, testTemplate)
	_, err := s.Render(map[string]any{"who": ""})
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Which != "input" || ve.Violations[0].Path != "$.who" {
		t.Errorf("err = %v", err)
	}
}

func TestTemplateFuncs(t *testing.T) {
	m := strings.Replace(testManifest, `additionalProperties = false`, ``, 1)
	s := mustSkill(t, m, `{{json .}}|{{json .list}}|{{.body | indent 2}}|{{numbered .body}}`)
	got, err := s.Render(map[string]any{"who": "<Ada & co>", "list": []any{1, "two"}, "body": "a\n\nb\n"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"body":"a\n\nb\n","list":[1,"two"],"who":"<Ada & co>"}|[1,"two"]|  a` + "\n\n  b\n|1 | a\n2 | \n3 | b\n"
	if got != want {
		t.Errorf("Render =\n%q\nwant\n%q", got, want)
	}
	if got := templateNumbered(strings.Repeat("x\n", 10)); !strings.HasPrefix(got, " 1 | x\n") || !strings.HasSuffix(got, "10 | x\n") {
		t.Errorf("numbered width: %q", got)
	}
	if got := templateIndent(1000, "x"); len(got) != maxIndent+1 {
		t.Errorf("indent not capped: %d", len(got))
	}
	if got := templateIndent(-3, "x"); got != "x" {
		t.Errorf("negative indent: %q", got)
	}
	if _, err := templateJSON(make(chan int)); err == nil {
		t.Error("json of a channel succeeded")
	}
}

func TestSkillIsReadOnlyForConcurrentUse(t *testing.T) {
	s := mustSkill(t, testManifest, testTemplate)
	done := make(chan error)
	for i := range 8 {
		go func() {
			_, err := s.Render(map[string]any{"who": strings.Repeat("x", i+1)})
			if err == nil {
				err = s.ValidateOutput(map[string]any{"greeting": "hi"})
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func TestValidateUnevaluatedProperties(t *testing.T) {
	m := head + `[input_schema]
type = "object"
[output_schema]
type = "object"
allOf = [{ properties = { a = { type = "integer" } } }]
unevaluatedProperties = false
`
	s := mustSkill(t, m, "x")
	if err := s.ValidateOutput(map[string]any{"a": 1}); err != nil {
		t.Fatalf("valid output refused: %v", err)
	}
	err := s.ValidateOutput(map[string]any{"a": 1, "b": 2})
	if err == nil || !strings.Contains(err.Error(), `$: unexpected property "b"`) {
		t.Errorf("err = %v", err)
	}
}

func TestValidateFallsBackToSchemaMessage(t *testing.T) {
	// The checker does not evaluate unevaluatedItems; the compiled schema
	// still refuses, and its own message is used.
	m := head + `[input_schema]
type = "object"
[output_schema]
type = "array"
prefixItems = [{ type = "integer" }]
unevaluatedItems = false
`
	s := mustSkill(t, m, "x")
	if err := s.ValidateOutput([]any{1}); err != nil {
		t.Fatalf("valid output refused: %v", err)
	}
	err := s.ValidateOutput([]any{1, 2})
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Violations) != 1 || ve.Violations[0].Path != "$" || !strings.Contains(err.Error(), "unevaluatedItems") {
		t.Errorf("err = %v", err)
	}
}
