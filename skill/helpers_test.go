package skill

import (
	"os"
	"path/filepath"
	"testing"
)

// testManifest is a small valid manifest; tests derive variants from it.
const testManifest = `name = "greet"
version = "1.0.0"
description = "Greet someone by name."
scopes = ["model:chat"]
keywords = ["greet", "hello"]

[input_schema]
type = "object"
required = ["who"]
additionalProperties = false
properties.who = { type = "string", minLength = 1 }
properties.tone = { type = "string", enum = ["warm", "formal"] }

[output_schema]
type = "object"
required = ["greeting"]
additionalProperties = false
properties.greeting = { type = "string", minLength = 1 }
`

const testTemplate = `Greet {{.who}}{{with index . "tone"}} in a {{.}} tone{{end}}.
Answer with exactly one JSON object: {"greeting": "..."}
`

// writeBundle writes a bundle with the given files into a new directory
// and returns it.
func writeBundle(t *testing.T, manifest, tmpl string) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, ManifestFile), manifest)
	writeFile(t, filepath.Join(dir, TemplateFile), tmpl)
	return dir
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// newKey generates a signer key pair.
func newKey(t *testing.T, name string) (skey, vkey string) {
	t.Helper()
	skey, vkey, err := GenerateKey(name)
	if err != nil {
		t.Fatal(err)
	}
	return skey, vkey
}

// mustLoad loads the bundle in dir.
func mustLoad(t *testing.T, dir string) *Bundle {
	t.Helper()
	b, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustSkill parses testManifest and testTemplate.
func mustSkill(t *testing.T, manifest, tmpl string) *Skill {
	t.Helper()
	b, err := parseBundle("mem", []byte(manifest), []byte(tmpl), nil)
	if err != nil {
		t.Fatal(err)
	}
	return b.Skill
}
