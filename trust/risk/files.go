package risk

import (
	"path"
	"strings"
)

func (a *analyzer) rm(c *call) {
	o := scanOptions(c.args, "", nil, false)
	recursive := o.has("r", "R", "--recursive")
	a.remove(o.operandVals(c.args), recursive)
}

func (a *analyzer) shred(c *call) {
	o := scanOptions(c.args, "ns", []string{"iterations", "size", "random-source"}, false)
	var files []wordVal
	for _, v := range o.operandVals(c.args) {
		if p, ok := a.resolve(v.s); ok && strings.HasPrefix(p, "/dev/") {
			if deviceKind(p) == devDisk {
				a.res.cat(Write)
				a.res.add(SignalDeviceWrite, riskDestructive)
			}
			continue
		}
		files = append(files, v)
	}
	// Overwriting a file's content destroys it as surely as deleting it.
	a.remove(files, false)
}

// find judges find's -delete and -exec. Its start points stand for what it
// visits: root/<-name pattern>, or every entry under the root.
func (a *analyzer) find(c *call) {
	a.res.cat(Read)
	if c.name == "fd" {
		o := scanOptions(c.args, "eEtdxXcjSo", []string{"extension", "exclude", "type", "max-depth", "exec", "exec-batch", "color", "threads", "size", "owner", "changed-within", "changed-before"}, false)
		root := literal(".")
		if ops := o.operandVals(c.args); len(ops) > 1 {
			root = ops[1]
		}
		a.res.listing = a.representative(root, "")
		return
	}
	args := c.args
	i := 0
	for i < len(args) && (args[i].s == "-H" || args[i].s == "-L" || args[i].s == "-P") {
		i++
	}
	var roots []wordVal
	for ; i < len(args); i++ {
		s := args[i].s
		if args[i].known() && (strings.HasPrefix(s, "-") || s == "(" || s == "!" || s == ",") {
			break
		}
		roots = append(roots, args[i])
	}
	if len(roots) == 0 {
		roots = []wordVal{literal(".")}
	}
	name := ""
	for j := i; j+1 < len(args); j++ {
		if s := args[j].s; (s == "-name" || s == "-iname") && name == "" {
			name = args[j+1].s
		}
	}
	reps := make([]wordVal, len(roots))
	for k, r := range roots {
		reps[k] = literal(a.representative(r, name))
		if !r.known() {
			reps[k] = wordVal{s: unknownMark}
		}
		reps[k].glob = strings.HasSuffix(reps[k].s, "/*")
	}
	if len(reps) > 0 && reps[0].known() {
		a.res.listing = reps[0].s
	}
	for ; i < len(args); i++ {
		switch args[i].s {
		case "-delete":
			a.remove(reps, true)
		case "-exec", "-execdir", "-ok", "-okdir":
			j := i + 1
			for j < len(args) && args[j].s != ";" && args[j].s != "+" {
				j++
			}
			a.findExec(args[i+1:j], reps)
			i = j
		case "-fprint", "-fprint0", "-fprintf", "-fls":
			if i+1 < len(args) {
				a.writeTo(args[i+1])
			}
		}
	}
}

// representative names one entry find or fd would visit under root. A name
// filter with glob characters stands for some matching file; without one,
// every entry is visited ("root/*").
func (a *analyzer) representative(root wordVal, name string) string {
	r := strings.TrimRight(root.s, "/")
	switch {
	case name == "":
		return r + "/*"
	case strings.ContainsAny(name, "*?["):
		return r + "/" + strings.NewReplacer("*", "x", "?", "x", "[", "x", "]", "x").Replace(name)
	}
	return r + "/" + name
}

func (a *analyzer) findExec(cmd []wordVal, reps []wordVal) {
	if len(cmd) == 0 {
		return
	}
	if cmd[0].known() && path.Base(cmd[0].s) == "rm" {
		// find … -exec rm {} walks a tree: a recursive delete.
		a.record("rm")
		a.res.calls++
		a.res.cat(Exec)
		a.remove(reps, true)
		return
	}
	rep := wordVal{s: unknownMark}
	if len(reps) > 0 {
		rep = reps[0]
	}
	out := make([]wordVal, len(cmd))
	for i, v := range cmd {
		out[i] = v
		if strings.Contains(v.s, "{}") {
			out[i].s = strings.ReplaceAll(v.s, "{}", rep.s)
			out[i].glob = out[i].glob || rep.glob
		}
	}
	a.run(out, &call{})
}

func (a *analyzer) copyFiles(c *call) {
	a.res.cat(Write)
	shortVal, longVal := "tS", []string{"target-directory", "suffix"}
	if c.name == "install" {
		shortVal, longVal = "tSmogC", []string{"target-directory", "suffix", "mode", "owner", "group"}
	}
	o := scanOptions(c.args, shortVal, longVal, false)
	ops := o.operands
	var dest int = -1
	var destVal wordVal
	switch {
	case o.has("t", "--target-directory"):
		destVal, _ = o.value("t", "--target-directory")
	case c.name == "install" && o.has("d", "--directory"):
		for _, i := range ops {
			a.writeTo(c.args[i])
			c.skipCred(i)
		}
		return
	case len(ops) >= 2:
		dest = ops[len(ops)-1]
		destVal = c.args[dest]
		ops = ops[:len(ops)-1]
	case len(ops) == 1 && c.name == "ln":
		destVal = literal(path.Base(c.args[ops[0]].s))
	default:
		return
	}
	if dest >= 0 {
		c.skipCred(dest)
	}
	if c.name == "ln" {
		// A link's target is not read; only the link is written.
		for _, i := range ops {
			c.skipCred(i)
		}
	}
	a.writeTo(destVal)
	if c.name == "mv" {
		// Moving a file away removes it where it was.
		for _, i := range ops {
			v := c.args[i]
			p, ok := a.resolveGlob(v.s)
			if !ok || a.where(p) == outside {
				a.res.add(SignalWriteOutsideProject, riskSensitive)
			}
		}
	}
}

func (a *analyzer) createFiles(c *call) {
	a.res.cat(Write)
	var o options
	switch c.name {
	case "touch":
		o = scanOptions(c.args, "dtr", []string{"date", "reference", "time"}, false)
	case "mkdir":
		o = scanOptions(c.args, "m", []string{"mode", "context"}, false)
	case "truncate":
		o = scanOptions(c.args, "sr", []string{"size", "reference"}, false)
	default: // tee
		o = scanOptions(c.args, "", []string{"output-error"}, false)
	}
	for _, i := range o.operands {
		a.writeTo(c.args[i])
		c.skipCred(i)
	}
}

func (a *analyzer) sed(c *call) {
	a.res.cat(Read)
	args := c.args
	inPlace := false
	// macOS sed -i takes a separate (often empty) suffix argument.
	for i, v := range args {
		if v.s == "-i" && i+1 < len(args) && args[i+1].s == "" {
			args = append(append([]wordVal{}, args[:i+1]...), args[i+2:]...)
			break
		}
	}
	o := scanOptions(args, "efl", []string{"expression", "file", "line-length"}, false)
	for _, v := range args {
		s := v.s
		if s == "--in-place" || strings.HasPrefix(s, "--in-place=") ||
			(strings.HasPrefix(s, "-") && !strings.HasPrefix(s, "--") && strings.Contains(strings.SplitN(s, "e", 2)[0], "i")) {
			inPlace = true
		}
	}
	ops := o.operands
	if !o.has("e", "f", "--expression", "--file") && len(ops) > 0 {
		ops = ops[1:] // the script
	}
	if !inPlace {
		return
	}
	for _, i := range ops {
		a.writeTo(args[i])
	}
}

func (a *analyzer) tar(c *call) {
	args := c.args
	// Old-style bundled letters: tar czf out.tgz dir.
	if len(args) > 0 && args[0].known() && args[0].s != "" && !strings.HasPrefix(args[0].s, "-") && isLetters(args[0].s) {
		old := args[0].s
		rest := args[1:]
		args = []wordVal{}
		for _, ch := range old {
			args = append(args, literal("-"+string(ch)))
			if strings.ContainsRune("fCTXbI", ch) && len(rest) > 0 {
				args = append(args, rest[0])
				rest = rest[1:]
			}
		}
		args = append(args, rest...)
	}
	o := scanOptions(args, "fCTXbIgKLNV", []string{"file", "directory", "files-from", "exclude-from", "blocking-factor", "use-compress-program", "listed-incremental", "to-command", "checkpoint-action", "transform", "owner", "group", "mode", "newer", "after-date"}, false)
	for _, v := range args {
		if strings.HasPrefix(v.s, "--to-command") || strings.HasPrefix(v.s, "--checkpoint-action=exec") || strings.HasPrefix(v.s, "--use-compress-program") {
			// tar runs these as shell commands.
			a.hidden()
		}
	}
	archive, hasArchive := o.value("f", "--file")
	switch {
	case o.has("x", "--extract", "--get"):
		a.res.cat(Write)
		if hasArchive {
			a.readFrom(archive)
		}
		dir, ok := o.value("C", "--directory")
		if !ok {
			dir = literal(".")
		}
		a.writeTo(dir)
	case o.has("c", "--create", "r", "--append", "u", "--update"):
		a.res.cat(Read)
		if hasArchive && archive.s != "-" {
			a.writeTo(archive)
		}
	default:
		a.res.cat(Read)
	}
}

func isLetters(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

func (a *analyzer) zip(c *call) {
	if c.name == "unzip" {
		o := scanOptions(c.args, "dxP", nil, false)
		a.res.cat(Write)
		dir, ok := o.value("d")
		if !ok {
			dir = literal(".")
		}
		a.writeTo(dir)
		return
	}
	o := scanOptions(c.args, "bnPtxiZ", []string{"temp-path", "password"}, false)
	if len(o.operands) > 0 {
		a.writeTo(c.args[o.operands[0]])
		c.skipCred(o.operands[0])
	}
}

func (a *analyzer) dd(c *call) {
	for i, v := range c.args {
		if k, val, ok := strings.Cut(v.s, "="); ok {
			sub := v
			sub.s = val
			switch k {
			case "of":
				a.writeTo(sub)
				c.skipCred(i)
			case "if":
				a.readFrom(sub)
				c.skipCred(i)
			}
		}
	}
}
