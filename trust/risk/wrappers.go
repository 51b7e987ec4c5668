package risk

import "strings"

func (a *analyzer) sudo(c *call) {
	a.res.add(SignalSudo, riskSensitive)
	o := scanOptions(c.args, "ugpChDrtTUR", []string{"user", "group", "host", "prompt", "close-from", "chdir", "role", "type", "command-timeout", "other-user", "chroot"}, true)
	c.delegated = true
	a.run(o.operandVals(c.args), c)
}

func (a *analyzer) su(c *call) {
	a.res.add(SignalSudo, riskSensitive)
	o := scanOptions(c.args, "cgGsCuw", []string{"command", "group", "supp-group", "shell", "session-command", "user", "whitelist-environment"}, false)
	c.delegated = true
	if cmd, ok := o.value("c", "--command", "--session-command", "C"); ok {
		a.inlineScript(cmd, true)
		return
	}
	if c.name == "runuser" && o.has("u", "--user") {
		a.run(o.operandVals(c.args), c)
	}
}

func (a *analyzer) env(c *call) {
	o := scanOptions(c.args, "uCSP", []string{"unset", "chdir", "split-string"}, true)
	c.delegated = true
	ops := o.operandVals(c.args)
	for len(ops) > 0 && ops[0].known() && strings.Contains(ops[0].s, "=") && !strings.HasPrefix(ops[0].s, "=") {
		ops = ops[1:]
	}
	if s, ok := o.value("S", "--split-string"); ok {
		a.inlineScript(s, false)
		return
	}
	if len(ops) == 0 {
		// env with no command prints the environment, secrets included.
		a.credentialRead()
		return
	}
	dir, ok := o.value("C", "--chdir")
	a.scoped(func() {
		if ok {
			a.chdir(dir)
		}
		a.run(ops, c)
	})
}

func (a *analyzer) wrapper(c *call) {
	c.delegated = true
	var o options
	skip := 0 // operands before the command
	switch c.name {
	case "command":
		o = scanOptions(c.args, "", nil, true)
		if o.has("v", "V") {
			return // lookup only
		}
	case "exec":
		o = scanOptions(c.args, "a", nil, true)
	case "time":
		o = scanOptions(c.args, "of", []string{"output", "format"}, true)
	case "nice":
		o = scanOptions(c.args, "n", []string{"adjustment"}, true)
	case "ionice":
		o = scanOptions(c.args, "cnp", []string{"class", "classdata", "pid"}, true)
		if o.has("p", "--pid") {
			return
		}
	case "stdbuf":
		o = scanOptions(c.args, "ioe", []string{"input", "output", "error"}, true)
	case "timeout":
		o = scanOptions(c.args, "sk", []string{"signal", "kill-after"}, true)
		skip = 1
	case "chrt":
		o = scanOptions(c.args, "T", nil, true)
		if o.has("p", "--pid") {
			return
		}
		skip = 1
	case "taskset":
		o = scanOptions(c.args, "", nil, true)
		if o.has("p", "--pid") {
			return
		}
		skip = 1
	case "caffeinate":
		o = scanOptions(c.args, "tw", nil, true)
	case "flock":
		o = scanOptions(c.args, "wEc", []string{"timeout", "conflict-exit-code", "command"}, true)
		if cmd, ok := o.value("c", "--command"); ok {
			a.inlineScript(cmd, true)
			return
		}
		skip = 1
	case "watch":
		o = scanOptions(c.args, "nq", []string{"interval", "equexit"}, true)
		if !o.has("x", "--exec") {
			// watch hands its arguments, joined, to sh -c.
			a.inlineScript(joinWords(o.operandVals(c.args)), true)
			return
		}
	default: // nohup, setsid, unbuffer, chronic, builtin, busybox
		o = scanOptions(c.args, "", nil, true)
	}
	ops := o.operandVals(c.args)
	if len(ops) > skip {
		a.run(ops[skip:], c)
	}
}

// joinWords joins words with spaces, as a shell joins "$*".
func joinWords(vs []wordVal) wordVal {
	var out wordVal
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.s
		out.expand = out.expand || v.expand
		out.subst = out.subst || v.subst
		out.fetch = out.fetch || v.fetch
		out.cred = out.cred || v.cred
		out.proc = out.proc || v.proc
	}
	out.s = strings.Join(parts, " ")
	return out
}

func (a *analyzer) xargs(c *call) {
	c.delegated = true
	o := scanOptions(c.args, "ILnPsdEaJRS", []string{"replace", "max-lines", "max-args", "max-procs", "max-chars", "delimiter", "eof", "arg-file", "process-slot-var"}, true)
	ops := o.operandVals(c.args)
	if len(ops) == 0 {
		ops = []wordVal{literal("echo")}
	}
	item := wordVal{s: unknownMark}
	if a.stdin != nil && a.stdin.listing != "" {
		item = literal(a.stdin.listing)
		item.glob = strings.ContainsAny(item.s, "*?[")
	}
	repl, hasRepl := o.value("I", "J", "--replace")
	if !hasRepl && o.has("i") {
		repl, hasRepl = literal("{}"), true
	}
	if hasRepl && repl.s != "" {
		out := make([]wordVal, len(ops))
		for i, v := range ops {
			out[i] = v
			if strings.Contains(v.s, repl.s) {
				out[i].s = strings.ReplaceAll(v.s, repl.s, item.s)
				out[i].glob = out[i].glob || item.glob
			}
		}
		a.run(out, &call{})
		return
	}
	a.run(append(append([]wordVal{}, ops...), item), &call{})
}

func (a *analyzer) cd(c *call) {
	if c.name == "popd" {
		a.dir = ""
		return
	}
	o := scanOptions(c.args, "", nil, false)
	ops := o.operandVals(c.args)
	if len(ops) == 0 {
		if c.name == "cd" {
			home, _ := a.lookup("HOME")
			a.dir = home
		}
		return
	}
	a.chdir(ops[0])
}

func (a *analyzer) chdir(v wordVal) {
	if v.s == "-" {
		a.dir = ""
		return
	}
	p, ok := a.resolve(v.s)
	if !ok {
		a.dir = ""
		return
	}
	a.dir = p
}
