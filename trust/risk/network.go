package risk

import (
	"path"
	"strings"
)

var curlValueLong = []string{
	"data", "data-ascii", "data-binary", "data-raw", "data-urlencode", "json", "form", "form-string",
	"header", "request", "user", "user-agent", "referer", "cookie", "cookie-jar", "output", "output-dir",
	"upload-file", "url", "config", "max-time", "connect-timeout", "proxy", "write-out", "retry",
	"cacert", "cert", "key", "range", "dump-header", "resolve", "interface", "limit-rate",
	"retry-delay", "retry-max-time", "continue-at", "oauth2-bearer", "proxy-user", "time-cond",
	"trace", "trace-ascii", "stderr", "max-filesize", "connect-to", "aws-sigv4", "variable",
}

// sendsStdin reports whether data reaching standard input is sent out: a
// pipe from anything but constant text, or a < file redirect.
func (a *analyzer) sendsStdin(c *call) (sends, cred bool) {
	if c.stdinFile != nil {
		if p, ok := a.resolve(c.stdinFile.s); ok && strings.HasPrefix(p, "/dev/") {
			return false, false
		}
		return true, a.credentialWord(c.stdinFile.s)
	}
	if a.stdin != nil && a.stdin.data {
		return true, a.stdin.cred
	}
	return false, false
}

func (a *analyzer) exfiltration(cred bool) {
	if cred {
		// Credentials leaving the machine cannot be called back.
		a.res.add(SignalExfiltration, riskDestructive)
		return
	}
	a.res.add(SignalExfiltration, riskSensitive)
}

// sentFile judges a local file named as the body of a request.
func (a *analyzer) sentFile(v wordVal) {
	if v.s == "-" {
		if sends, cred := a.sendsStdin(&call{}); sends {
			a.exfiltration(cred)
		}
		return
	}
	cred := a.credentialWord(v.s)
	if cred {
		a.credentialRead()
	}
	a.exfiltration(cred)
}

// credentialArgs flags a network command whose arguments embed credential
// material: curl -d "$(cat ~/.aws/credentials)".
func (a *analyzer) credentialArgs(c *call) {
	for _, v := range c.args {
		if v.cred {
			a.exfiltration(true)
			return
		}
	}
}

func (a *analyzer) curl(c *call) {
	a.res.fetch = true
	o := scanOptions(c.args, "AbcCdDeEFHKmoPQrtTuUwxXyYz", curlValueLong, false)
	var urls []string
	for _, v := range o.allValues("--url") {
		urls = append(urls, v.s)
	}
	for _, i := range o.operands {
		urls = append(urls, c.args[i].s)
	}
	local := loopbackOnly(urls)
	if !local {
		a.network()
		a.credentialArgs(c)
	}
	var sent []wordVal
	for _, v := range o.allValues("d", "--data", "--data-ascii", "--data-binary", "--json") {
		if f, ok := strings.CutPrefix(v.s, "@"); ok {
			v.s = f
			sent = append(sent, v)
		}
	}
	// --data-urlencode takes @file or name@file.
	for _, v := range o.allValues("--data-urlencode") {
		if name, f, ok := strings.Cut(v.s, "@"); ok && !strings.Contains(name, "=") {
			v.s = f
			sent = append(sent, v)
		}
	}
	for _, v := range o.allValues("F", "--form") {
		if _, val, ok := strings.Cut(v.s, "="); ok && (strings.HasPrefix(val, "@") || strings.HasPrefix(val, "<")) {
			f := val[1:]
			if i := strings.IndexByte(f, ';'); i >= 0 {
				f = f[:i]
			}
			v.s = f
			sent = append(sent, v)
		}
	}
	for _, v := range o.allValues("T", "--upload-file") {
		if v.s == "." {
			v.s = "-"
		}
		sent = append(sent, v)
	}
	for _, v := range sent {
		if local {
			// Posting to a local dev server sends nothing away; reading a
			// credential to do it is still a read.
			if v.s != "-" && a.credentialWord(v.s) {
				a.credentialRead()
			}
			continue
		}
		a.sentFile(v)
	}
	dir := literal(".")
	if d, ok := o.value("--output-dir"); ok {
		dir = d
	}
	for _, v := range o.allValues("o", "--output") {
		if !strings.HasPrefix(v.s, "/") && dir.s != "." {
			v.s = dir.s + "/" + v.s
		}
		a.download(v)
	}
	if o.has("O", "--remote-name", "--remote-name-all") && len(urls) > 0 {
		a.download(literal(dir.s + "/" + urlBase(urls[0])))
	}
}

// loopbackOnly reports whether every URL names this machine: a dev server,
// not the network.
func loopbackOnly(urls []string) bool {
	if len(urls) == 0 {
		return false
	}
	for _, u := range urls {
		if !loopback(u) {
			return false
		}
	}
	return true
}

func loopback(u string) bool {
	if strings.Contains(u, unknownMark) {
		return false
	}
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	if i := strings.IndexAny(u, "/?#"); i >= 0 {
		u = u[:i]
	}
	if i := strings.LastIndexByte(u, '@'); i >= 0 {
		u = u[i+1:]
	}
	host := u
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i >= 0 {
			host = host[1:i]
		}
	} else if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	host = strings.ToLower(host)
	return host == "localhost" || strings.HasSuffix(host, ".localhost") || host == "::1" ||
		host == "0.0.0.0" || strings.HasPrefix(host, "127.")
}

// download notes a file fetched from the network, so that running it later
// in the same line is download-and-execute.
func (a *analyzer) download(v wordVal) {
	if v.s == "-" {
		return
	}
	a.writeTo(v)
	if p, ok := a.resolve(v.s); ok {
		a.downloads[p] = true
	}
}

func urlBase(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	b := path.Base(u)
	if b == "." || b == "/" || !strings.Contains(u, "/") {
		return "index.html"
	}
	return b
}

func (a *analyzer) wget(c *call) {
	a.res.fetch = true
	o := scanOptions(c.args, "OoaPiUeTtwQlADRIXB", []string{
		"output-document", "output-file", "append-output", "directory-prefix", "input-file", "user-agent",
		"execute", "timeout", "tries", "wait", "quota", "level", "accept", "reject", "domains",
		"include-directories", "exclude-directories", "base", "post-data", "post-file", "body-data",
		"body-file", "header", "method", "user", "password", "http-user", "http-password", "referer",
	}, false)
	var urls []string
	for _, i := range o.operands {
		urls = append(urls, c.args[i].s)
	}
	if !loopbackOnly(urls) {
		a.network()
		a.credentialArgs(c)
		for _, v := range o.allValues("--post-file", "--body-file") {
			a.sentFile(v)
		}
	}
	if out, ok := o.value("O", "--output-document"); ok {
		a.download(out)
		return
	}
	dir := literal(".")
	if d, ok := o.value("P", "--directory-prefix"); ok {
		dir = d
	}
	for _, i := range o.operands {
		a.download(literal(dir.s + "/" + urlBase(c.args[i].s)))
	}
}

func (a *analyzer) socket(c *call) {
	a.network()
	a.credentialArgs(c)
	for _, v := range c.args {
		s := v.s
		// nc -e /bin/sh and socat EXEC: hand a shell to the other end.
		if s == "-e" || s == "-c" || strings.HasPrefix(s, "--exec") || strings.HasPrefix(s, "--sh-exec") ||
			strings.HasPrefix(strings.ToUpper(s), "EXEC:") || strings.HasPrefix(strings.ToUpper(s), "SYSTEM:") {
			a.hidden()
			a.exfiltration(false)
		}
		for _, pre := range []string{"FILE:", "OPEN:", "GOPEN:"} {
			if f, ok := strings.CutPrefix(strings.ToUpper(s), pre); ok && c.name == "socat" {
				v.s = s[len(s)-len(f):]
				if i := strings.IndexByte(v.s, ','); i >= 0 {
					v.s = v.s[:i]
				}
				a.sentFile(v)
			}
		}
	}
	if sends, cred := a.sendsStdin(c); sends {
		a.exfiltration(cred)
	}
}

func (a *analyzer) ssh(c *call) {
	a.network()
	a.credentialArgs(c)
	o := scanOptions(c.args, "BbcDEeFIiJLlmOopQRSWw", nil, true)
	for i := range c.args {
		if o.valueIdx[i] {
			c.skipCred(i) // -i key: using a key is not reading it
		}
	}
	if sends, cred := a.sendsStdin(c); sends {
		a.exfiltration(cred)
	}
}

// remote reports whether an scp/rsync operand names another host.
func remote(v wordVal) bool {
	s := v.s
	if strings.HasPrefix(s, "rsync://") || strings.HasPrefix(s, "scp://") || strings.HasPrefix(s, "sftp://") {
		return true
	}
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return false
	}
	return !strings.Contains(s[:i], "/")
}

func (a *analyzer) copyRemote(c *call, o options) {
	ops := o.operands
	for i := range c.args {
		if o.valueIdx[i] {
			c.skipCred(i)
		}
	}
	if len(ops) < 2 {
		return
	}
	dest := c.args[ops[len(ops)-1]]
	c.skipCred(ops[len(ops)-1])
	anyRemote := remote(dest)
	localSources := []wordVal{}
	for _, i := range ops[:len(ops)-1] {
		if remote(c.args[i]) {
			anyRemote = true
		} else {
			localSources = append(localSources, c.args[i])
		}
	}
	if anyRemote {
		a.network()
	}
	if remote(dest) {
		cred := false
		for _, s := range localSources {
			if a.credentialWord(s.s) {
				cred = true
			}
		}
		if len(localSources) > 0 {
			a.exfiltration(cred)
		}
		return
	}
	a.writeTo(dest)
	if c.name == "rsync" && (o.has("--delete", "--delete-before", "--delete-after", "--delete-during", "--delete-excluded", "--del")) {
		// --delete removes whatever in dest is not in the source.
		a.remove([]wordVal{dest}, true)
	}
}

func (a *analyzer) scp(c *call) {
	a.res.cat(Read)
	a.credentialArgs(c)
	a.copyRemote(c, scanOptions(c.args, "cFiJloPSX", nil, false))
}

func (a *analyzer) rsync(c *call) {
	a.res.cat(Read)
	a.credentialArgs(c)
	a.copyRemote(c, scanOptions(c.args, "eTfBM", []string{"rsh", "exclude", "include", "filter", "files-from", "temp-dir", "partial-dir", "log-file", "password-file", "rsync-path", "exclude-from", "include-from", "compare-dest", "link-dest", "backup-dir", "chmod", "chown"}, false))
}

// --- git ---

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

// --- package managers ---

func subcommand(args []wordVal, valueFlags ...string) (string, []wordVal) {
	for i := 0; i < len(args); i++ {
		s := args[i].s
		if strings.HasPrefix(s, "-") {
			for _, f := range valueFlags {
				if s == f {
					i++
				}
			}
			continue
		}
		return s, args[i+1:]
	}
	return "", nil
}

func (a *analyzer) nodePackages(c *call) {
	sub, rest := subcommand(c.args, "--prefix", "-C", "--dir", "--filter", "-F", "--workspace", "-w", "--cwd")
	switch sub {
	case "install", "i", "in", "ins", "inst", "insta", "instal", "isnt", "isnta", "isntal", "add", "ci",
		"update", "up", "upgrade", "install-test", "it", "install-ci-test", "dedupe":
		a.packageInstall()
	case "":
		if c.name == "yarn" {
			a.packageInstall()
		}
	case "publish", "unpublish", "deprecate", "dist-tag":
		a.publish()
	case "dlx", "exec", "x", "create", "init":
		if sub == "init" && c.name != "npm" && c.name != "yarn" {
			return
		}
		if sub == "init" && len(rest) == 0 {
			return // npm init writes package.json
		}
		a.network()
	case "audit", "outdated", "view", "info", "search", "login", "logout", "whoami", "ping":
		a.network()
		if len(rest) > 0 && rest[0].s == "fix" {
			a.packageInstall()
		}
	case "token":
		a.network()
		a.credentialRead()
	default:
		if c.name == "bun" && sub != "run" && sub != "test" && sub != "build" {
			// bun file.ts runs a script.
			a.scriptFile(literal(sub), false)
		}
	}
}

func (a *analyzer) pythonPackages(c *call) {
	name := c.name
	sub, rest := subcommand(c.args, "-r", "--requirement", "-c", "--constraint", "-e", "--editable", "--python", "-p", "--index-url", "-i", "--directory")
	if name == "uv" && sub == "pip" {
		name = "pip"
		sub, rest = subcommand(rest)
	}
	if name == "uv" && sub == "tool" {
		sub, _ = subcommand(rest)
		if sub == "run" {
			a.network()
			return
		}
	}
	_ = rest
	switch sub {
	case "install", "add", "sync", "inject", "upgrade", "update", "create", "lock", "download", "wheel", "reinstall":
		a.packageInstall()
	case "publish", "upload":
		a.publish()
	case "run":
		if name == "pipx" {
			a.network()
		}
	case "uninstall", "remove":
		a.res.cat(Write, Delete)
	case "search", "index":
		a.network()
	default:
		if name == "uvx" {
			a.network()
		}
	}
}

func (a *analyzer) goTool(c *call) {
	sub, rest := subcommand(c.args, "-C")
	switch sub {
	case "get":
		a.packageInstall()
	case "install":
		for _, v := range rest {
			if strings.Contains(v.s, "@") {
				a.packageInstall()
				return
			}
		}
	case "run":
		for _, v := range rest {
			if !strings.HasPrefix(v.s, "-") {
				if strings.Contains(v.s, "@") {
					a.network()
				}
				return
			}
		}
	case "mod":
		if s, _ := subcommand(rest); s == "download" || s == "tidy" {
			a.network()
		}
	}
}

func (a *analyzer) langPackages(c *call) {
	sub, _ := subcommand(c.args)
	switch c.name {
	case "cargo":
		switch sub {
		case "install", "add", "binstall":
			a.packageInstall()
		case "publish", "yank", "owner":
			a.publish()
		case "fetch", "update", "search", "login":
			a.network()
		}
	case "gem":
		switch sub {
		case "install", "update":
			a.packageInstall()
		case "push", "yank", "owner":
			a.publish()
		}
	case "bundle":
		switch sub {
		case "install", "update", "add", "":
			a.packageInstall()
		}
	case "composer":
		switch sub {
		case "install", "require", "update", "create-project":
			a.packageInstall()
		}
	case "dotnet", "nuget":
		switch sub {
		case "add", "restore", "install":
			a.packageInstall()
		case "push":
			a.publish()
		case "nuget":
			a.network()
		}
	case "mvn", "gradle":
		for _, v := range c.args {
			switch v.s {
			case "deploy", "publish", "release:perform":
				a.publish()
			}
		}
	}
}

func (a *analyzer) systemPackages(c *call) {
	for _, v := range c.args {
		s := v.s
		if c.name == "pacman" && strings.HasPrefix(s, "-S") && !strings.ContainsAny(s[2:], "sicgl") {
			a.packageInstall()
			return
		}
		if c.name == "pacman" && strings.HasPrefix(s, "-R") {
			a.res.cat(Write, Delete)
			a.res.bump(riskElevated)
			return
		}
	}
	sub, _ := subcommand(c.args, "-o", "-c", "-t", "--target-release")
	switch sub {
	case "install", "add", "reinstall", "upgrade", "full-upgrade", "dist-upgrade", "tap", "-i", "localinstall", "groupinstall":
		a.packageInstall()
	case "update", "refresh", "makecache", "fetch", "search", "download":
		a.network()
	case "remove", "uninstall", "purge", "autoremove", "erase", "del", "rm", "untap":
		a.res.cat(Write, Delete)
		a.res.bump(riskElevated)
	}
	if c.name == "nix-env" {
		for _, v := range c.args {
			if v.s == "-i" || v.s == "--install" || v.s == "-iA" {
				a.packageInstall()
			}
		}
	}
}

func (a *analyzer) docker(c *call) {
	sub, rest := subcommand(c.args, "-H", "--host", "--context", "-c", "--config", "-l", "--log-level")
	switch sub {
	case "pull", "search", "login":
		a.network()
	case "push":
		a.publish()
	case "build", "buildx":
		a.network()
	case "run", "create", "exec":
		for i, v := range rest {
			s := v.s
			mount := ""
			switch {
			case s == "--privileged" || strings.HasPrefix(s, "--pid=host") || strings.HasPrefix(s, "--cap-add=ALL") || strings.HasPrefix(s, "--cap-add=SYS_ADMIN"):
				// Root on the host, whatever the container.
				a.res.add(SignalSudo, riskSensitive)
			case (s == "-v" || s == "--volume" || s == "--mount") && i+1 < len(rest):
				mount = rest[i+1].s
			case strings.HasPrefix(s, "--volume=") || strings.HasPrefix(s, "--mount="):
				_, mount, _ = strings.Cut(s, "=")
			}
			if mount != "" {
				src, _, _ := strings.Cut(mount, ":")
				src = strings.TrimPrefix(src, "source=")
				src = strings.TrimPrefix(src, "src=")
				if src == "/" || src == "/var/run/docker.sock" || src == "/run/docker.sock" || src == "/etc" {
					a.res.add(SignalSudo, riskSensitive)
				}
			}
		}
	case "compose":
		s, crest := subcommand(rest, "-f", "--file", "-p", "--project-name")
		switch s {
		case "down":
			for _, v := range crest {
				if v.s == "-v" || v.s == "--volumes" {
					a.res.cat(Delete)
					a.res.add(SignalDeleteOutsideProject, riskSensitive)
				}
			}
		case "push":
			a.publish()
		case "pull", "build":
			a.network()
		}
	case "volume", "system":
		s, crest := subcommand(rest)
		vols := sub == "volume" && (s == "rm" || s == "prune")
		if sub == "system" && s == "prune" {
			for _, v := range crest {
				if v.s == "--volumes" {
					vols = true
				}
			}
		}
		if vols {
			a.res.cat(Delete)
			a.res.add(SignalDeleteOutsideProject, riskSensitive)
		}
	}
}

func (a *analyzer) kube(c *call) {
	a.network()
	sub, rest := subcommand(c.args, "-n", "--namespace", "--context", "--kubeconfig", "-f")
	switch sub {
	case "delete", "uninstall":
		a.res.cat(Delete)
		a.res.add(SignalDeleteOutsideProject, riskSensitive)
	case "get":
		secret, dump := false, false
		for i, v := range rest {
			if v.s == "secret" || v.s == "secrets" || strings.HasPrefix(v.s, "secret/") {
				secret = true
			}
			if (v.s == "-o" && i+1 < len(rest) && rest[i+1].s != "name" && rest[i+1].s != "wide") || v.s == "-oyaml" || v.s == "-ojson" || strings.HasPrefix(v.s, "--output=") || strings.HasPrefix(v.s, "-ojsonpath") {
				dump = true
			}
		}
		if secret && dump {
			a.credentialRead()
		}
	case "config":
		for _, v := range rest {
			if v.s == "--raw" {
				a.credentialRead()
			}
		}
	}
}

func (a *analyzer) deploy(c *call) {
	a.network()
	sub, _ := subcommand(c.args, "-chdir", "--cwd", "-s", "--stack", "-a", "--app")
	deploys := false
	switch sub {
	case "apply", "up", "update", "deploy", "publish", "import", "release":
		deploys = true
	case "destroy", "remove":
		deploys = true
		a.res.cat(Delete)
		a.res.add(SignalDeleteOutsideProject, riskSensitive)
	case "":
		deploys = c.name == "vercel" || c.name == "netlify"
	case "auth:token":
		a.credentialRead()
	}
	for _, v := range c.args {
		if v.s == "--prod" {
			deploys = true
		}
	}
	if deploys {
		// Deploying costs money and goes live.
		a.res.cat(Spend)
		a.publish()
	}
}

func (a *analyzer) cloud(c *call) {
	a.network()
	var words []string
	for _, v := range c.args {
		if !strings.HasPrefix(v.s, "-") {
			words = append(words, v.s)
		}
	}
	has := func(s string) bool {
		for _, v := range c.args {
			if v.s == s {
				return true
			}
		}
		return false
	}
	at := func(i int) string {
		if i < len(words) {
			return words[i]
		}
		return ""
	}
	switch c.name {
	case "aws":
		switch at(0) + " " + at(1) {
		case "s3 rm":
			a.res.cat(Delete)
			if has("--recursive") {
				a.res.add(SignalRecursiveDelete, riskNone)
				a.res.add(SignalDeleteOutsideProject, riskDestructive)
			} else {
				a.res.add(SignalDeleteOutsideProject, riskSensitive)
			}
		case "s3 rb":
			a.res.cat(Delete)
			a.res.add(SignalDeleteOutsideProject, riskSensitive)
			if has("--force") {
				a.res.add(SignalRecursiveDelete, riskDestructive)
			}
		case "configure get", "configure export-credentials", "secretsmanager get-secret-value", "sts get-session-token", "ecr get-login-password":
			a.credentialRead()
		case "ssm get-parameter", "ssm get-parameters":
			if has("--with-decryption") {
				a.credentialRead()
			}
		}
	case "gcloud":
		for _, w := range words {
			switch w {
			case "print-access-token", "print-identity-token":
				a.credentialRead()
			case "deploy":
				a.res.cat(Spend)
				a.publish()
			}
		}
		if at(0) == "secrets" && at(2) == "access" {
			a.credentialRead()
		}
	case "gsutil":
		if at(0) == "rm" || at(0) == "rb" {
			a.res.cat(Delete)
			r := has("-r") || has("-R")
			if r {
				a.res.add(SignalRecursiveDelete, riskNone)
			}
			a.res.add(SignalDeleteOutsideProject, map[bool]int{true: riskDestructive, false: riskSensitive}[r])
		}
	case "az":
		if at(0) == "account" && at(1) == "get-access-token" || at(0) == "keyvault" && at(1) == "secret" && at(2) == "show" {
			a.credentialRead()
		}
	}
}

func (a *analyzer) gh(c *call) {
	a.network()
	sub, rest := subcommand(c.args, "-R", "--repo")
	action, _ := subcommand(rest)
	switch sub + " " + action {
	case "release create", "release upload", "repo create", "pr merge", "gist create":
		a.publish()
	case "repo delete", "release delete":
		a.res.cat(Delete)
		a.res.add(SignalDeleteOutsideProject, riskSensitive)
	case "auth token":
		a.credentialRead()
	case "auth status":
		for _, v := range rest {
			if v.s == "-t" || v.s == "--show-token" {
				a.credentialRead()
			}
		}
	}
}

// --- credentials, processes, the system ---

func (a *analyzer) keychain(c *call) {
	switch first(c.args) {
	case "find-generic-password", "find-internet-password", "dump-keychain", "export", "find-key":
		a.credentialRead()
	}
}

func (a *analyzer) printenv(c *call) {
	o := scanOptions(c.args, "", nil, false)
	if len(o.operands) == 0 {
		a.credentialRead()
		return
	}
	for _, v := range o.operandVals(c.args) {
		if secretName(v.s) {
			a.credentialRead()
			return
		}
	}
}

func (a *analyzer) secretTool(c *call) {
	sub, rest := subcommand(c.args)
	read := false
	switch c.name {
	case "vault":
		read = sub == "read" || (sub == "kv" && first(rest) == "get") || sub == "login"
	case "op":
		read = sub == "read" || sub == "inject" || (sub == "item" && first(rest) == "get") || sub == "run"
	case "pass":
		read = sub != "ls" && sub != "list" && sub != "init" && sub != "insert" && sub != "generate" && sub != "rm"
	case "secret-tool":
		read = sub == "lookup"
	case "keyring":
		read = sub == "get"
	case "docker-credential":
		read = sub == "get" || sub == "list"
	case "aws-vault":
		read = sub == "exec" || sub == "export"
	case "gpg", "gpg2":
		for _, v := range c.args {
			if strings.HasPrefix(v.s, "--export-secret") || v.s == "--export-ssh-key" {
				read = true
			}
		}
	}
	if read {
		a.credentialRead()
	}
}

func (a *analyzer) kill(c *call) {
	switch c.name {
	case "pkill", "killall":
		a.res.add(SignalKill, riskSensitive)
		return
	case "killall5":
		a.systemChange()
		return
	}
	args := c.args
	sig := ""
	if len(args) > 0 && strings.HasPrefix(args[0].s, "-") && args[0].s != "--" {
		switch args[0].s {
		case "-l", "-L", "--list", "--table":
			return
		case "-s", "-n", "--signal":
			if len(args) > 1 {
				sig = args[1].s
				args = args[2:]
			}
		default:
			sig = strings.TrimPrefix(args[0].s, "-")
			args = args[1:]
		}
	}
	if len(args) > 0 && args[0].s == "--" {
		args = args[1:]
	}
	s := strings.TrimPrefix(strings.ToUpper(sig), "SIG")
	if s == "9" || s == "KILL" {
		a.res.add(SignalKill, riskSensitive)
	}
	for _, t := range args {
		// -1 is every process the user may signal; 1 is init.
		if t.s == "-1" || t.s == "1" {
			a.systemChange()
		}
	}
}

func (a *analyzer) system(c *call) {
	args := c.args
	o := scanOptions(args, "HMtpnos", []string{"host", "machine", "type", "property", "lines", "output", "signal", "root"}, false)
	ops := o.operandVals(args)
	at := func(i int) string {
		if i < len(ops) {
			return ops[i].s
		}
		return ""
	}
	change := false
	switch c.name {
	case "shutdown", "reboot", "halt", "poweroff", "killall5", "userdel", "useradd", "usermod",
		"groupadd", "groupdel", "groupmod", "visudo", "chpasswd", "passwd", "rmmod", "insmod", "swapoff", "iptables-restore":
		change = c.name != "shutdown" || !o.has("c") // shutdown -c cancels
	case "init", "telinit":
		switch at(0) {
		case "0", "1", "6", "s", "S":
			change = true
		}
	case "systemctl":
		switch at(0) {
		case "stop", "disable", "mask", "poweroff", "reboot", "halt", "kill", "isolate", "rescue",
			"emergency", "suspend", "hibernate", "hybrid-sleep", "kexec", "soft-reboot":
			change = true
		}
	case "service":
		change = at(1) == "stop"
	case "launchctl":
		switch at(0) {
		case "unload", "remove", "bootout", "disable", "stop", "kill", "reboot":
			change = true
		}
	case "crontab":
		// -r wipes the crontab; a file or - replaces it.
		change = o.has("r") || (len(ops) > 0 && !o.has("l", "e"))
	case "iptables", "ip6tables":
		for _, v := range args {
			s := v.s
			if len(s) == 2 && s[0] == '-' && strings.ContainsRune("AIDRFXPNZE", rune(s[1])) {
				change = true
			}
			switch s {
			case "--append", "--insert", "--delete", "--replace", "--flush", "--delete-chain", "--policy", "--new-chain", "--zero", "--rename-chain":
				change = true
			}
		}
	case "nft":
		switch at(0) {
		case "add", "delete", "flush", "insert", "replace", "create", "destroy", "reset", "rename":
			change = true
		}
		change = change || o.has("f", "--file")
	case "ufw":
		switch at(0) {
		case "enable", "disable", "allow", "deny", "reject", "limit", "delete", "reset", "default", "insert", "route", "prepend", "reload":
			change = true
		}
	case "pfctl":
		for _, v := range args {
			if strings.HasPrefix(v.s, "-") && strings.ContainsAny(v.s[1:], "deEfFkKX") {
				change = true
			}
		}
	case "firewall-cmd":
		for _, v := range args {
			for _, p := range []string{"--add", "--remove", "--set", "--reload", "--complete-reload", "--panic-on", "--change", "--new", "--delete", "--runtime-to-permanent"} {
				if strings.HasPrefix(v.s, p) {
					change = true
				}
			}
		}
	case "sysctl":
		change = o.has("w", "--write", "p", "--load", "--system")
		for _, v := range ops {
			if strings.Contains(v.s, "=") {
				change = true
			}
		}
	case "csrutil":
		change = at(0) == "disable" || at(0) == "clear"
	case "spctl":
		change = o.has("--master-disable", "--global-disable", "--disable")
	case "nvram":
		change = o.has("d", "c")
		for _, v := range ops {
			if strings.Contains(v.s, "=") {
				change = true
			}
		}
	case "modprobe":
		change = !o.has("n", "--dry-run", "c", "--showconfig", "--show-depends")
	}
	if change {
		a.systemChange()
	}
}
