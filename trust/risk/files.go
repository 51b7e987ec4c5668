package risk

import (
	"path"
	"strconv"
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

func (a *analyzer) reader(c *call) {
	a.res.cat(Read)
	o := scanOptions(c.args, "", nil, false)
	switch c.name {
	case "cat":
		// Only printing files: piping this into sh runs those files.
		a.res.fileOnly = len(o.operands) > 0
		for _, i := range o.operands {
			if c.args[i].s == "-" {
				a.res.fileOnly = false
			}
		}
		switch {
		case len(o.operands) == 0 && c.body != nil && c.body.known():
			a.res.out, a.res.outKnown = c.body.s, true
		case len(o.operands) == 0 && a.stdin != nil && a.stdin.textKnown:
			a.res.out, a.res.outKnown = a.stdin.text, true
		}
	case "ls":
		dir := literal(".")
		if len(o.operands) > 0 {
			dir = c.args[o.operands[0]]
		}
		if dir.known() {
			a.res.listing = a.representative(dir, "")
		}
	case "grep", "egrep", "fgrep", "rg":
		if o.has("l", "r", "R", "--files-with-matches", "--recursive") || c.name == "rg" {
			a.res.listing = a.representative(literal("."), "")
		}
	}
}

func (a *analyzer) echo(c *call) {
	a.res.out, a.res.outKnown = "", allKnown(c.args)
	if a.res.outKnown {
		var b strings.Builder
		args := c.args
		for len(args) > 0 && c.name == "echo" && (args[0].s == "-n" || args[0].s == "-e" || args[0].s == "-E" || args[0].s == "-ne" || args[0].s == "-en") {
			args = args[1:]
		}
		if c.name == "printf" && len(args) > 0 && (args[0].s == "%s" || args[0].s == `%s\n`) {
			args = args[1:]
		}
		for i, v := range args {
			if i > 0 && c.name == "echo" {
				b.WriteByte(' ')
			}
			b.WriteString(v.s)
		}
		b.WriteByte('\n')
		a.res.out = b.String()
	}
	// echo $AWS_SECRET_ACCESS_KEY puts the secret into the transcript.
	for _, v := range c.args {
		for _, p := range v.params {
			if secretName(p) {
				a.credentialRead()
				return
			}
		}
	}
}

// secretName reports whether an environment variable name looks like it
// holds a secret.
func secretName(name string) bool {
	n := strings.ToUpper(name)
	for _, k := range []string{"SECRET", "TOKEN", "PASSWORD", "PASSWD", "API_KEY", "APIKEY", "PRIVATE_KEY", "ACCESS_KEY", "CREDENTIAL"} {
		if strings.Contains(n, k) {
			return true
		}
	}
	return strings.HasSuffix(n, "_KEY")
}

func (a *analyzer) decoder(c *call) {
	a.res.cat(Read)
	decode := false
	switch c.name {
	case "base64":
		for _, v := range c.args {
			if v.s == "-d" || v.s == "--decode" || v.s == "-D" || (strings.HasPrefix(v.s, "-") && !strings.HasPrefix(v.s, "--") && strings.Contains(v.s, "d")) {
				decode = true
			}
		}
	case "xxd":
		for _, v := range c.args {
			if strings.HasPrefix(v.s, "-r") {
				decode = true
			}
		}
	case "rev":
		decode = true
	case "openssl":
		sub := first(c.args)
		switch sub {
		case "s_client":
			a.socket(c)
			return
		case "base64", "enc":
			for _, v := range c.args {
				if v.s == "-d" {
					decode = true
				}
			}
		}
	case "gunzip", "zcat":
		// Compressed payloads are as opaque as encoded ones.
		decode = a.stdin != nil
	}
	if !decode {
		return
	}
	a.res.transform = true
	if in := a.stdin; in != nil && in.textKnown {
		args := []string{c.name}
		for _, v := range c.args {
			args = append(args, v.s)
		}
		if c.name == "base64" {
			args = []string{"base64", "-d"}
		}
		if out, ok := transformText(args, in.text); ok {
			a.res.out, a.res.outKnown = out, true
		}
	}
}

func (a *analyzer) awk(c *call) {
	a.res.cat(Read)
	o := scanOptions(c.args, "fvF", nil, false)
	if o.has("f") || len(o.operands) == 0 {
		return
	}
	prog := c.args[o.operands[0]].s
	// awk can run shell commands: system("…"), "cmd" | getline, print | "sh".
	if strings.Contains(prog, "system(") || strings.Contains(prog, "| getline") || strings.Contains(prog, "|getline") ||
		strings.Contains(prog, `| "sh"`) || strings.Contains(prog, `|"sh"`) || strings.Contains(prog, `| "bash"`) {
		a.hidden()
	}
	c.skipCred(o.operands[0])
}
