package risk

import (
	"path"
	"strings"
)

// writeTo judges output to a path: a redirect, tee, a cp destination.
func (a *analyzer) writeTo(v wordVal) {
	p, ok := a.resolveGlob(v.s)
	if !ok {
		a.res.cat(Write)
		a.res.add(SignalWriteOutsideProject, riskSensitive)
		return
	}
	if strings.HasPrefix(p, "/dev/") {
		switch deviceKind(p) {
		case devNetwork:
			a.network()
			a.res.add(SignalExfiltration, riskSensitive)
		case devDisk:
			a.res.cat(Write)
			a.res.add(SignalDeviceWrite, riskDestructive)
		}
		return
	}
	a.res.cat(Write)
	if a.isCredentialPath(p) {
		a.res.cat(Credential)
	}
	switch a.where(p) {
	case inProject, inBuildDir:
		a.res.bump(riskRoutine)
	case inTemp:
		a.res.bump(riskElevated)
	default:
		a.res.add(SignalWriteOutsideProject, riskSensitive)
	}
}

// readFrom judges input from a path: a < redirect.
func (a *analyzer) readFrom(v wordVal) {
	if p, ok := a.resolve(v.s); ok && strings.HasPrefix(p, "/dev/") {
		if deviceKind(p) == devNetwork {
			a.network()
		}
		return
	}
	a.res.cat(Read)
	a.res.data = true
	if a.credentialWord(v.s) {
		a.credentialRead()
	}
}

func (a *analyzer) credentialRead() {
	a.res.cat(Read, Credential)
	a.res.add(SignalCredentialRead, riskSensitive)
	a.res.cred = true
	a.res.data = true
}

func (a *analyzer) network() {
	a.res.cat(Network)
	a.res.add(SignalNetwork, riskElevated)
}

// deleteKind classifies one delete target.
type deleteKind int

func (a *analyzer) classifyDelete(v wordVal) deleteKind {
	s := v.s
	if v.glob {
		// In shells that still match . and .., ".*" reaches the parent.
		if base := path.Base(s); base == ".*" || strings.HasPrefix(base, ".*") {
			s = path.Dir(s) + "/.."
		}
	}
	p, ok := a.resolveGlob(s)
	if !ok {
		return delOutside
	}
	if a.isCredentialPath(p) || p == a.home || within(a.project, p) || isSystemRoot(p) {
		return delOutside
	}
	if i := strings.Index(p, globMark); i >= 0 && path.Clean(p[:i]) == a.project {
		if a.where(p) == inBuildDir {
			return delBuild
		}
		return delProjectContents
	}
	switch a.where(p) {
	case inBuildDir, inTemp:
		return delBuild
	case inProject:
		return delInside
	}
	return delOutside
}

// remove judges a delete of targets. Recursive deletes outside the project
// are the worst thing an agent can do by accident, so they rank highest.
func (a *analyzer) remove(targets []wordVal, recursive bool) {
	if len(targets) == 0 {
		return
	}
	a.res.cat(Delete)
	if recursive {
		a.res.add(SignalRecursiveDelete, riskNone)
	}
	out, contents, allBuild := false, false, true
	for _, t := range targets {
		a.deletes++
		switch a.classifyDelete(t) {
		case delBuild:
			a.buildDeletes++
		case delOutside:
			out, allBuild = true, false
		case delProjectContents:
			contents, allBuild = true, false
		default:
			allBuild = false
		}
	}
	switch {
	case out && recursive:
		a.res.add(SignalDeleteOutsideProject, riskDestructive)
	case out:
		a.res.add(SignalDeleteOutsideProject, riskSensitive)
	case !recursive || allBuild:
		a.res.bump(riskRoutine)
	case contents:
		// rm -rf * at the project root wipes the project.
		a.res.bump(riskSensitive)
	default:
		a.res.bump(riskElevated)
	}
}
