package risk

import (
	"path"
	"strings"
)

// unknownMark stands in a word's value for a part the analyzer cannot know
// statically ($X, $(cmd) with an unknowable output). A value holding it is
// never resolved to a path: what it names could be anything.
const unknownMark = "\x00"

// globMark replaces a path component that holds glob characters, so that a
// glob resolves to a representative child of the directory it expands in.
const globMark = "\x02"

// unknownProject stands for the project when Action.Cwd is empty: relative
// paths resolve inside it, absolute ones never do.
const unknownProject = "/\x01project"

// place says where a resolved path lies relative to the project.
type place int

const (
	inProject  place = iota
	inBuildDir       // inside the project, in a build, cache or temp dir
	inTemp           // under a system temp dir
	outside
)

// systemDirs are the top-level directories whose loss or re-permissioning
// breaks the machine. A path equal to one of them (or "/") is never "inside"
// a project, even a project rooted there.
var systemDirs = map[string]bool{
	"/etc": true, "/usr": true, "/bin": true, "/sbin": true, "/var": true, "/boot": true,
	"/lib": true, "/lib32": true, "/lib64": true, "/libx32": true, "/opt": true, "/dev": true,
	"/proc": true, "/sys": true, "/root": true, "/home": true, "/srv": true, "/snap": true,
	"/mnt": true, "/media": true, "/run": true, "/nix": true, "/System": true, "/Library": true,
	"/Applications": true, "/private": true, "/Users": true, "/Volumes": true, "/cores": true,
	"/usr/local": true, "/usr/bin": true, "/usr/lib": true, "/usr/sbin": true, "/var/lib": true,
	"/var/log": true, "/private/etc": true, "/private/var": true,
}

// tempRoots are directories whose strict descendants are scratch space.
var tempRoots = []string{"/tmp", "/private/tmp", "/var/tmp", "/var/folders", "/private/var/folders", "/dev/shm"}

// buildDirs are directories a build re-creates, so deleting them loses
// nothing. vendor is deliberately absent: it is often checked in.
var buildDirs = map[string]bool{
	"node_modules": true, "dist": true, "build": true, "target": true, "out": true,
	".cache": true, "__pycache__": true, ".pytest_cache": true, "coverage": true, "tmp": true,
	".next": true, ".nuxt": true, ".turbo": true, ".parcel-cache": true, ".svelte-kit": true,
	".mypy_cache": true, ".ruff_cache": true, ".tox": true, ".nyc_output": true, "htmlcov": true,
	".gradle": true, ".angular": true, ".dart_tool": true, ".eggs": true, "temp": true, ".tmp": true,
}

// within reports whether p is root or below it.
func within(p, root string) bool {
	return root == "/" || p == root || strings.HasPrefix(p, root+"/")
}

// isSystemRoot reports whether p is "/" or one of the system directories
// themselves.
func isSystemRoot(p string) bool { return p == "/" || systemDirs[p] }

// underSystemDir reports whether p is a system directory or below one.
func underSystemDir(p string) bool {
	if p == "/" {
		return true
	}
	for d := p; d != "/" && d != "."; d = path.Dir(d) {
		if systemDirs[d] {
			return true
		}
	}
	return false
}

func underTemp(p string) bool {
	for _, t := range tempRoots {
		if strings.HasPrefix(p, t+"/") {
			return true
		}
	}
	return false
}

// where places an absolute, cleaned path.
func (a *analyzer) where(p string) place {
	if isSystemRoot(p) || p == a.home {
		return outside
	}
	if a.project != "/" && within(p, a.project) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p, a.project), "/")
		for _, c := range strings.Split(rel, "/") {
			if buildDirs[c] || strings.HasSuffix(c, ".egg-info") {
				return inBuildDir
			}
		}
		return inProject
	}
	// A home directory that lives under /tmp (sandboxes, CI) is still a
	// home: what is in it is not scratch space.
	if underTemp(p) && (a.home == "" || !within(p, a.home)) {
		return inTemp
	}
	return outside
}

// resolve turns a word's value into an absolute, cleaned path, relative to
// the directory the command runs in. It fails for values with unknown parts
// and for relative paths after a cd the analyzer could not follow.
func (a *analyzer) resolve(s string) (string, bool) {
	if s == "" || strings.Contains(s, unknownMark) {
		return "", false
	}
	if !strings.HasPrefix(s, "/") {
		if a.dir == "" {
			return "", false
		}
		s = a.dir + "/" + s
	}
	return path.Clean(s), true
}

// resolveGlob resolves a word that may hold glob characters: every component
// with one becomes globMark, a stand-in for "some entry here".
func (a *analyzer) resolveGlob(s string) (string, bool) {
	if !strings.ContainsAny(s, "*?[") {
		return a.resolve(s)
	}
	parts := strings.Split(s, "/")
	for i, c := range parts {
		if strings.ContainsAny(c, "*?[") {
			parts[i] = globMark
		}
	}
	return a.resolve(strings.Join(parts, "/"))
}

// Device kinds under /dev.
type device int

const (
	devHarmless device = iota // /dev/null, terminals, descriptors
	devNetwork                // bash's /dev/tcp and /dev/udp
	devDisk                   // anything else: disks, partitions, memory
)

func deviceKind(p string) device {
	switch p {
	case "/dev/null", "/dev/zero", "/dev/stdout", "/dev/stderr", "/dev/stdin", "/dev/tty",
		"/dev/random", "/dev/urandom", "/dev/full", "/dev/ptmx", "/dev/console":
		return devHarmless
	}
	for _, pre := range []string{"/dev/fd/", "/dev/pts/", "/dev/tty", "/dev/shm/"} {
		if strings.HasPrefix(p, pre) {
			return devHarmless
		}
	}
	if strings.HasPrefix(p, "/dev/tcp/") || strings.HasPrefix(p, "/dev/udp/") {
		return devNetwork
	}
	return devDisk
}

// credentialDirs are directories, relative to home, whose whole content is
// credentials. Copying or archiving the directory reads them all.
var credentialDirs = []string{
	".ssh", ".gnupg", ".aws", ".azure", ".kube", ".docker", ".config/gcloud",
	".mirror", ".password-store", "Library/Keychains", ".config/gh",
}

// credentialFiles are single files, relative to home, that hold credentials.
var credentialFiles = map[string]bool{
	".aws/credentials": true, ".aws/config": true, ".kube/config": true, ".docker/config.json": true,
	".netrc": true, "_netrc": true, ".npmrc": true, ".pypirc": true, ".git-credentials": true,
	".config/gh/hosts.yml": true, ".pgpass": true, ".my.cnf": true, ".vault-token": true,
	".terraform.d/credentials.tfrc.json": true, ".cargo/credentials": true,
	".cargo/credentials.toml": true, ".gem/credentials": true, ".boto": true, ".s3cfg": true,
}

// isCredentialPath reports whether an absolute, cleaned path holds or
// contains credentials.
func (a *analyzer) isCredentialPath(p string) bool {
	if rel, ok := strings.CutPrefix(p, a.home+"/"); ok {
		if credentialFiles[rel] {
			return true
		}
		for _, d := range credentialDirs {
			if rel == d {
				return true
			}
			if strings.HasPrefix(rel, d+"/") {
				// Public halves and host lists are not secrets.
				base := path.Base(rel)
				return !strings.HasSuffix(base, ".pub") && !strings.HasPrefix(base, "known_hosts")
			}
		}
	}
	switch p {
	case "/etc/shadow", "/etc/gshadow", "/etc/master.passwd", "/etc/sudoers":
		return true
	}
	if strings.HasPrefix(p, "/proc/") && strings.HasSuffix(p, "/environ") {
		return true
	}
	return isCredentialName(path.Base(p))
}

// isCredentialName reports whether a file name alone marks a credential
// wherever it lives.
func isCredentialName(base string) bool {
	if base == ".env" {
		return true
	}
	if rest, ok := strings.CutPrefix(base, ".env."); ok {
		// Templates are committed on purpose and hold no values.
		switch rest {
		case "example", "sample", "template", "dist", "defaults", "schema", "tmpl", "example.local":
			return false
		}
		return true
	}
	switch base {
	case ".netrc", ".pypirc", ".git-credentials", ".pgpass", "credentials.json":
		return true
	}
	for _, k := range []string{"id_rsa", "id_ed25519", "id_ecdsa", "id_dsa"} {
		if strings.HasPrefix(base, k) {
			return !strings.HasSuffix(base, ".pub")
		}
	}
	switch path.Ext(base) {
	case ".pem", ".key", ".p12", ".pfx", ".jks", ".keystore":
		return true
	}
	return false
}

// credentialWord reports whether a word names a credential, even when part
// of it is unknown: "~/.ssh/$KEY" is somewhere in ~/.ssh whatever KEY is,
// and "$DIR/id_rsa" is a private key wherever DIR points.
func (a *analyzer) credentialWord(s string) bool {
	if s == "" || strings.ContainsAny(s, " \t\n") {
		return false
	}
	if p, ok := a.resolve(s); ok {
		return a.isCredentialPath(p)
	}
	i := strings.Index(s, unknownMark)
	if i < 0 {
		// A relative path after a cd that could not be followed: the name
		// still tells.
		return isCredentialName(path.Base(s))
	}
	if j := strings.LastIndex(s, "/"); j > i && !strings.Contains(s[j:], unknownMark) && isCredentialName(s[j+1:]) {
		return true
	}
	prefix := s[:i]
	j := strings.LastIndex(prefix, "/")
	if j < 0 {
		return false
	}
	dir, ok := a.resolve(prefix[:j+1])
	if !ok {
		return false
	}
	if rel, ok := strings.CutPrefix(dir, a.home+"/"); ok {
		for _, d := range credentialDirs {
			if within(rel, d) {
				return true
			}
		}
	}
	return false
}
