package skill

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// ErrNotFound is returned, wrapped, by [Registry.Get] for a skill that is not
// installed or not served.
var ErrNotFound = errors.New("skill not found")

// LoadOptions control how a [Registry] treats skills that fail verification.
type LoadOptions struct {
	// AllowUnsigned is development mode: a skill that verification refuses
	// for any reason but revocation is served anyway, with Unsigned set and
	// the refusal in TrustWarning.
	AllowUnsigned bool
	// Now returns the time signer expiry is judged at; nil means time.Now.
	Now func() time.Time
}

// A Refusal is an installed skill the registry does not serve.
type Refusal struct {
	Name    string // from the directory layout
	Version string // from the directory layout
	Dir     string
	Digest  string // empty if the bundle could not be read
	// Err is a *TrustError when verification refused the skill, and
	// otherwise the error that kept the bundle from loading.
	Err error
}

// Registry serves the skills installed under a directory laid out as
// <skills>/<name>/<version>/{skill.toml,prompt.tmpl,skill.sig}, trusting
// them according to a signers directory and a revocation list. It is safe
// for concurrent use.
type Registry struct {
	skillsDir, signersDir, revokedPath string
	opts                               LoadOptions

	installMu sync.Mutex // serializes Install and Reload

	mu      sync.RWMutex
	skills  map[string][]*Skill // by name, ascending version
	refused []Refusal
}

// OpenRegistry opens the registry of skills installed in skillsDir, trusting
// the signers in signersDir and honoring the revocation list at
// revokedPath, and loads it. Missing directories and files are empty.
func OpenRegistry(skillsDir, signersDir, revokedPath string, opts LoadOptions) (*Registry, error) {
	r := &Registry{skillsDir: skillsDir, signersDir: signersDir, revokedPath: revokedPath, opts: opts}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Registry) now() time.Time {
	if r.opts.Now != nil {
		return r.opts.Now()
	}
	return time.Now()
}

// trustState reads the signers and revocations afresh.
func (r *Registry) trustState() ([]Signer, []Revocation, error) {
	signers, err := Signers(r.signersDir)
	if err != nil {
		return nil, nil, err
	}
	revs, err := Revocations(r.revokedPath)
	if err != nil {
		return nil, nil, err
	}
	return signers, revs, nil
}

// accept verifies b and returns its skill with the trust fields set, or the
// refusal. In development mode any refusal but revocation is downgraded to
// a warning.
func (r *Registry) accept(b *Bundle, signers []Signer, revs []Revocation) (*Skill, *TrustError) {
	v, err := Verify(b, signers, revs, r.now())
	s := b.Skill
	if err == nil {
		s.Signer, s.KeyHash = v.Signer, v.KeyHash
		return s, nil
	}
	te := err.(*TrustError)
	if !r.opts.AllowUnsigned || te.Kind == TrustRevoked {
		return nil, te
	}
	s.Unsigned = true
	s.TrustWarning = te.Kind + ": " + te.Reason
	return s, nil
}

// Reload re-reads the signers, the revocation list and every installed
// skill, and re-verifies them. A malformed signer file or revocation list is
// an error and leaves the registry as it was; a skill that fails to load or
// verify is listed by [Registry.Refused] instead of served.
func (r *Registry) Reload() error {
	// Holding installMu keeps a Reload that scanned before an Install from
	// replacing the index after it.
	r.installMu.Lock()
	defer r.installMu.Unlock()
	signers, revs, err := r.trustState()
	if err != nil {
		return err
	}
	skills := map[string][]*Skill{}
	var refused []Refusal
	names, err := os.ReadDir(r.skillsDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, ne := range names {
		if !ne.IsDir() || strings.HasPrefix(ne.Name(), ".") {
			continue
		}
		name := ne.Name()
		ndir := filepath.Join(r.skillsDir, name)
		if !ValidName(name) {
			refused = append(refused, Refusal{Name: name, Dir: ndir, Err: fmt.Errorf("%s: %q is not a valid skill name", ndir, name)})
			continue
		}
		versions, err := os.ReadDir(ndir)
		if err != nil {
			refused = append(refused, Refusal{Name: name, Dir: ndir, Err: err})
			continue
		}
		for _, ve := range versions {
			if !ve.IsDir() || strings.HasPrefix(ve.Name(), ".") {
				continue
			}
			s, ref := r.loadInstalled(name, ve.Name(), signers, revs)
			if ref != nil {
				refused = append(refused, *ref)
				continue
			}
			skills[name] = append(skills[name], s)
		}
	}
	for _, list := range skills {
		slices.SortFunc(list, func(a, b *Skill) int { return CompareVersions(a.Version, b.Version) })
	}
	sortRefusals(refused)
	r.mu.Lock()
	r.skills, r.refused = skills, refused
	r.mu.Unlock()
	return nil
}

// loadInstalled loads and verifies the installed bundle name/version.
func (r *Registry) loadInstalled(name, version string, signers []Signer, revs []Revocation) (*Skill, *Refusal) {
	dir := filepath.Join(r.skillsDir, name, version)
	ref := &Refusal{Name: name, Version: version, Dir: dir}
	if !ValidVersion(version) {
		ref.Err = fmt.Errorf("%s: %q is not a valid version", dir, version)
		return nil, ref
	}
	b, err := Load(dir)
	if err != nil {
		ref.Err = err
		return nil, ref
	}
	ref.Digest = b.Digest
	if b.Skill.Name != name || b.Skill.Version != version {
		ref.Err = fmt.Errorf("%s: holds %s, which belongs in %s", dir, b.Skill.ID(), filepath.Join(r.skillsDir, b.Skill.Name, b.Skill.Version))
		return nil, ref
	}
	s, te := r.accept(b, signers, revs)
	if te != nil {
		ref.Err = te
		return nil, ref
	}
	return s, nil
}

func sortRefusals(rs []Refusal) {
	slices.SortFunc(rs, func(a, b Refusal) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return CompareVersions(a.Version, b.Version)
	})
}

// Get returns the skill name at version, or, for version "", the highest
// version that is served. A skill that is installed but refused yields an
// error wrapping both [ErrNotFound] and the refusal (a [*TrustError] when
// verification refused it).
func (r *Registry) Get(name, version string) (*Skill, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	list := r.skills[name]
	if version == "" && len(list) > 0 {
		return list[len(list)-1], nil
	}
	for _, s := range list {
		if s.Version == version {
			return s, nil
		}
	}
	id := name
	if version != "" {
		id += "@" + version
	}
	for i := len(r.refused) - 1; i >= 0; i-- {
		ref := r.refused[i]
		if ref.Name == name && (version == "" || ref.Version == version) {
			return nil, fmt.Errorf("%w: %s is installed but refused: %w", ErrNotFound, id, ref.Err)
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
}

// List returns the served skills sorted by name, then by version.
func (r *Registry) List() []*Skill {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*Skill
	for _, name := range slices.Sorted(mapKeys(r.skills)) {
		out = append(out, r.skills[name]...)
	}
	return out
}

// Refused returns the installed skills that are not served, and why, sorted
// by name, then by version.
func (r *Registry) Refused() []Refusal {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.refused)
}

// Install verifies the bundle in srcDir and installs it as
// <skills>/<name>/<version>. Verification uses the signers and revocations
// as they are on disk now; a refusal is returned as the [*TrustError] unless
// the registry is in development mode and the skill is not revoked. The
// three bundle files are written to a temporary directory that is renamed
// into place.
//
// Installing a bundle whose digest is already installed under its name and
// version changes nothing, except that a verifying signature replaces a
// different installed skill.sig, so re-signing takes effect. A different
// digest under an installed name and version is an error.
func (r *Registry) Install(srcDir string) (*Skill, error) {
	b, err := Load(srcDir)
	if err != nil {
		return nil, err
	}
	r.installMu.Lock()
	defer r.installMu.Unlock()
	signers, revs, err := r.trustState()
	if err != nil {
		return nil, err
	}
	s, te := r.accept(b, signers, revs)
	if te != nil {
		return nil, te
	}
	id := s.ID()
	dest := filepath.Join(r.skillsDir, s.Name, s.Version)
	if _, err := os.Lstat(dest); err == nil {
		old, err := Load(dest)
		if err != nil {
			return nil, fmt.Errorf("install %s: the installed copy in %s is unreadable (%v); remove it first", id, dest, err)
		}
		if old.Digest != b.Digest {
			return nil, fmt.Errorf("install %s: already installed with a different digest (%s, not %s); bump the version", id, old.Digest, b.Digest)
		}
		if !s.Unsigned && !bytes.Equal(old.SigData, b.SigData) {
			if err := writeFileAtomic(filepath.Join(dest, SignatureFile), b.SigData, 0o644); err != nil {
				return nil, fmt.Errorf("install %s: %w", id, err)
			}
		} else {
			// Nothing changes on disk; serve what verification of the
			// installed copy says.
			s, te = r.accept(old, signers, revs)
			if te != nil {
				return nil, te
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("install %s: %w", id, err)
	} else if err := writeBundleDir(dest, b); err != nil {
		return nil, fmt.Errorf("install %s: %w", id, err)
	}
	s.Dir = dest
	r.put(s)
	return s, nil
}

// writeBundleDir writes b's files to a temporary directory beside dest and
// renames it to dest.
func writeBundleDir(dest string, b *Bundle) (err error) {
	parent := filepath.Dir(dest)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, ".install-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	files := []struct {
		name string
		data []byte
	}{{ManifestFile, b.ManifestData}, {TemplateFile, b.TemplateData}, {SignatureFile, b.SigData}}
	for _, f := range files {
		if f.data == nil {
			continue
		}
		if err := writeFileSync(filepath.Join(tmp, f.name), f.data, 0o644); err != nil {
			return err
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, dest)
}

func writeFileSync(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// put serves s, replacing any skill with the same name and version and
// clearing a refusal of it.
func (r *Registry) put(s *Skill) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.skills == nil {
		r.skills = map[string][]*Skill{}
	}
	list := slices.DeleteFunc(slices.Clone(r.skills[s.Name]), func(o *Skill) bool { return o.Version == s.Version })
	list = append(list, s)
	slices.SortFunc(list, func(a, b *Skill) int { return CompareVersions(a.Version, b.Version) })
	r.skills[s.Name] = list
	r.refused = slices.DeleteFunc(slices.Clone(r.refused), func(f Refusal) bool { return f.Name == s.Name && f.Version == s.Version })
}
