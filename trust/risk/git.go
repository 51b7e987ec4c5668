package risk

import "strings"

// wide reports whether a pathspec covers the whole tree.
func wide(s string) bool {
	switch s {
	case ".", "./", ":/", "*", ":(top)", ":/*", "-A", "--all":
		return true
	}
	return false
}

func (a *analyzer) git(c *call) {
	args := c.args
	i := 0
	var dir *wordVal
	for i < len(args) && strings.HasPrefix(args[i].s, "-") {
		switch s := args[i].s; s {
		case "-C":
			if i+1 < len(args) {
				d := args[i+1]
				dir = &d
			}
			i++
		case "-c", "--git-dir", "--work-tree", "--namespace", "--config-env", "--exec-path":
			i++
		}
		i++
	}
	if i >= len(args) {
		return
	}
	sub := args[i].s
	rest := args[i+1:]
	run := func() { a.gitSub(sub, rest) }
	if dir != nil {
		a.scoped(func() { a.chdir(*dir); run() })
		return
	}
	run()
}

func (a *analyzer) gitSub(sub string, args []wordVal) {
	o := scanOptions(args, "", nil, false)
	ops := o.operandVals(args)
	rewrite := func() { a.res.add(SignalHistoryRewrite, riskSensitive) }
	shortHas := func(ch string) bool {
		for _, v := range args {
			if s := v.s; strings.HasPrefix(s, "-") && !strings.HasPrefix(s, "--") && strings.Contains(s, ch) {
				return true
			}
		}
		return false
	}
	switch sub {
	case "push":
		a.publish()
		force := o.has("--force", "--force-with-lease", "--mirror") || shortHas("f")
		for _, v := range args {
			if strings.HasPrefix(v.s, "--force-with-lease") {
				force = true
			}
		}
		for k, v := range ops {
			if k == 0 {
				continue // the remote
			}
			if strings.HasPrefix(v.s, "+") {
				force = true
			}
			if strings.HasPrefix(v.s, ":") && len(v.s) > 1 {
				rewrite()
			}
		}
		if force {
			a.res.add(SignalForcePush, riskDestructive)
		}
		if o.has("--delete", "--prune") || shortHas("d") {
			rewrite()
		}
	case "fetch", "ls-remote", "send-email", "request-pull":
		a.network()
	case "pull":
		a.network()
		a.res.cat(Write)
	case "clone":
		a.network()
		a.res.cat(Write)
		co := scanOptions(args, "boucj", []string{"branch", "depth", "origin", "config", "reference", "template", "upload-pack", "separate-git-dir", "jobs", "filter", "shallow-since", "shallow-exclude", "server-option", "bundle-uri"}, false)
		cops := co.operandVals(args)
		switch {
		case len(cops) >= 2:
			a.writeTo(cops[1])
		case len(cops) == 1:
			a.writeTo(literal(strings.TrimSuffix(urlBase(cops[0].s), ".git")))
		}
	case "remote":
		if len(ops) > 0 && (ops[0].s == "update" || ops[0].s == "prune" || ops[0].s == "show") {
			a.network()
		}
	case "submodule":
		if len(ops) > 0 {
			switch ops[0].s {
			case "update", "add", "sync", "init":
				a.network()
				a.res.cat(Write)
			case "foreach":
				a.inlineScript(joinWords(ops[1:]), true)
			}
		}
	case "reset":
		a.res.cat(Write)
		if o.has("--hard") {
			rewrite()
		}
	case "rebase":
		a.res.cat(Write)
		if !o.has("--abort", "--quit", "--show-current-patch", "--edit-todo") {
			rewrite()
		}
	case "filter-branch", "filter-repo":
		a.res.cat(Write)
		rewrite()
	case "commit":
		a.res.cat(Write)
		if o.has("--amend") {
			rewrite()
		}
	case "branch":
		del := o.has("--delete") || shortHas("d")
		force := o.has("--force") || shortHas("f")
		if shortHas("D") || (del && force) {
			a.res.cat(Delete)
			rewrite()
		}
	case "tag":
		if o.has("--delete") || shortHas("d") {
			a.res.cat(Delete)
			rewrite()
		}
	case "clean":
		force := o.has("--force") || shortHas("f")
		dry := o.has("--dry-run") || shortHas("n")
		if force && !dry {
			a.res.cat(Delete)
			rewrite()
		}
	case "checkout", "restore":
		a.res.cat(Write)
		discard := sub == "checkout" && o.has("f", "--force")
		staged := o.has("--staged", "S")
		worktree := o.has("--worktree", "W")
		for _, v := range ops {
			if wide(v.s) {
				discard = true
			}
		}
		if sub == "restore" && staged && !worktree {
			discard = false
		}
		if discard {
			rewrite()
		}
	case "stash":
		a.res.cat(Write)
		if len(ops) > 0 && (ops[0].s == "drop" || ops[0].s == "clear") {
			rewrite()
		}
	case "reflog":
		if len(ops) > 0 && (ops[0].s == "expire" || ops[0].s == "delete") {
			rewrite()
		}
	case "gc", "prune":
		for _, v := range args {
			if v.s == "--prune=now" || v.s == "--prune=all" || (sub == "prune" && v.s == "--expire=now") {
				rewrite()
			}
		}
	case "update-ref":
		if o.has("d") {
			rewrite()
		}
	case "credential":
		if len(ops) > 0 && ops[0].s == "fill" {
			a.credentialRead()
		}
	case "ls-files":
		a.res.cat(Read)
		a.res.listing = a.representative(literal("."), "")
	case "add", "mv", "rm", "init", "merge", "cherry-pick", "revert", "switch", "am", "apply", "notes", "worktree", "sparse-checkout":
		a.res.cat(Write)
	default:
		a.res.cat(Read)
	}
}
