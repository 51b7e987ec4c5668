package risk

import "strings"

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
