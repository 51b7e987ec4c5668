package risk

import (
	"strconv"
	"strings"
)

func (a *analyzer) permissions(c *call) {
	a.res.cat(Write)
	a.res.add(SignalPermissionChange, riskRoutine)
	args := c.args
	var flags, operands []wordVal
	var spec wordVal
	haveSpec := false
	for i := 0; i < len(args); i++ {
		v := args[i]
		s := v.s
		isFlag := v.known() && strings.HasPrefix(s, "-") && len(s) > 1
		if isFlag && c.name == "chmod" && !haveSpec && isSymbolicMode(s) {
			isFlag = false // chmod -x file: a mode, not an option
		}
		if isFlag && c.name == "chattr" && !haveSpec && !strings.ContainsAny(s[1:], "RVf") {
			isFlag = false // chattr -i file
		}
		if isFlag {
			flags = append(flags, v)
			if c.name == "setfacl" && (s == "-m" || s == "-x" || s == "-M" || s == "-X") && i+1 < len(args) {
				i++
			}
			if c.name == "chattr" && (s == "-v" || s == "-p") && i+1 < len(args) {
				i++
			}
			if strings.HasPrefix(s, "--reference") {
				haveSpec = true
			}
			continue
		}
		if !haveSpec && c.name != "setfacl" {
			spec, haveSpec = v, true
			continue
		}
		operands = append(operands, v)
	}
	recursive := false
	for _, f := range flags {
		if f.s == "--recursive" || (!strings.HasPrefix(f.s, "--") && strings.Contains(f.s, "R")) {
			recursive = true
		}
	}
	worldWritable, special := false, false
	if c.name == "chmod" && haveSpec {
		worldWritable, special = modeRisk(spec.s)
	}
	outsideProject, system := false, false
	for _, t := range operands {
		p, ok := a.resolveGlob(t.s)
		if !ok {
			outsideProject = true
			continue
		}
		if isSystemRoot(p) || (underSystemDir(p) && !(a.project != "/" && within(p, a.project))) {
			system = true
		}
		if w := a.where(p); w == outside {
			outsideProject = true
		}
		if a.isCredentialPath(p) {
			a.res.cat(Credential)
		}
	}
	switch {
	case recursive && system, recursive && worldWritable && outsideProject:
		a.res.add(SignalPermissionChangeSystem, riskDestructive)
	case outsideProject || system || worldWritable || special || c.name != "chmod":
		a.res.bump(riskSensitive)
	}
}

// isSymbolicMode reports whether s is a chmod mode that starts with '-'
// (chmod -x file), not an option.
func isSymbolicMode(s string) bool {
	if len(s) < 2 || s[0] != '-' {
		return false
	}
	for _, r := range s[1:] {
		if !strings.ContainsRune("rwxXstugoa,+-=", r) {
			return false
		}
	}
	return !strings.ContainsAny(s[1:], "R")
}

// modeRisk reports whether a chmod mode makes files writable by everyone,
// or sets setuid/setgid.
func modeRisk(mode string) (worldWritable, special bool) {
	if n, err := strconv.ParseUint(mode, 8, 32); err == nil {
		return n&0o002 != 0, n&0o6000 != 0
	}
	for _, clause := range strings.Split(mode, ",") {
		i := strings.IndexAny(clause, "+-=")
		if i < 0 {
			continue
		}
		who, op, perms := clause[:i], clause[i], clause[i+1:]
		if op == '-' {
			continue
		}
		if strings.Contains(perms, "w") && strings.ContainsAny(who, "oa") {
			worldWritable = true
		}
		if strings.Contains(perms, "s") {
			special = true
		}
	}
	return worldWritable, special
}

func (a *analyzer) disk(c *call) {
	listing := false
	for _, v := range c.args {
		switch v.s {
		case "-l", "--list", "-d", "--dump", "print", "list", "info", "-p", "--print":
			listing = true
		}
	}
	switch c.name {
	case "diskutil":
		switch first(c.args) {
		case "eraseDisk", "eraseVolume", "zeroDisk", "randomDisk", "secureErase", "partitionDisk",
			"reformat", "eraseDisk:", "apfs":
			a.res.cat(Write)
			a.res.add(SignalDeviceWrite, riskDestructive)
		}
		return
	case "wipefs":
		for _, v := range c.args {
			if v.s == "-a" || v.s == "--all" || strings.HasPrefix(v.s, "-o") || strings.HasPrefix(v.s, "--offset") {
				a.res.cat(Write)
				a.res.add(SignalDeviceWrite, riskDestructive)
			}
		}
		return
	}
	if listing {
		a.res.cat(Read)
		return
	}
	a.res.cat(Write)
	a.res.add(SignalDeviceWrite, riskDestructive)
}
