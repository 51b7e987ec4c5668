package skill

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

// builtinFS holds the built-in skill bundles, one directory per skill, each
// with a skill.toml and a prompt.tmpl. They are signed at install time.
//
//go:embed builtin
var builtinFS embed.FS

// BuiltinNames returns the names of the built-in skills, sorted.
func BuiltinNames() []string {
	ents, err := fs.ReadDir(builtinFS, "builtin")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

// InstallBuiltins signs each built-in skill with the signer key skey and
// installs it into reg, returning the installed skills in name order. The
// key's verifier must be a trusted signer of reg (see [AddSigner]) unless
// reg is in development mode. Installing again is a no-op.
func InstallBuiltins(reg *Registry, skey string) ([]*Skill, error) {
	var out []*Skill
	for _, name := range BuiltinNames() {
		s, err := installBuiltin(reg, skey, name)
		if err != nil {
			return out, fmt.Errorf("install built-in skill %s: %w", name, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func installBuiltin(reg *Registry, skey, name string) (*Skill, error) {
	tmp, err := os.MkdirTemp("", "mirroros-skill-"+name+"-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	for _, f := range []string{ManifestFile, TemplateFile} {
		data, err := builtinFS.ReadFile(path.Join("builtin", name, f))
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(tmp, f), data, 0o644); err != nil {
			return nil, err
		}
	}
	if err := Sign(tmp, skey); err != nil {
		return nil, err
	}
	return reg.Install(tmp)
}
