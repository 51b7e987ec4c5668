package risk

import (
	"path"
	"strings"
)

// unknownParam stands, in a string re-parsed as shell, for the parts of it
// that were unknown: they stay unknown in the nested analysis.
const unknownParam = "__mirror_unknown__"

// call is one simple command being judged.
type call struct {
	name      string    // normalised command name
	args      []wordVal // arguments after the name
	stdinFile *wordVal  // < file
	body      *wordVal  // here-document or here-string
	noCred    map[int]bool
	outputs   []wordVal // > file targets of standard output
	delegated bool      // a wrapper that handed its arguments to another command
}

func (c *call) skipCred(i int) {
	if c.noCred == nil {
		c.noCred = map[int]bool{}
	}
	c.noCred[i] = true
}

// constantOutput commands print nothing from the machine: piping them into
// a network tool sends no local data.
var constantOutput = map[string]bool{
	"echo": true, "printf": true, "yes": true, "true": true, "false": true, "seq": true,
	"sleep": true, ":": true,
}

// credExempt commands take credential paths as arguments without revealing
// their content: listing, testing, deleting, loading into the environment,
// using a key for ssh.
var credExempt = map[string]bool{
	"echo": true, "printf": true, "ls": true, "cd": true, "pushd": true, "mkdir": true,
	"stat": true, "test": true, "[": true, "[[": true, "source": true, ".": true,
	"dotenv": true, "env-cmd": true, "direnv": true, "ssh-keygen": true, "ssh-add": true,
	"chmod": true, "chown": true, "chgrp": true, "touch": true, "rm": true, "rmdir": true,
	"unlink": true, "shred": true, "srm": true, "file": true, "du": true, "which": true,
	"type": true, "realpath": true, "readlink": true, "basename": true, "dirname": true,
	"trash": true, "wc": true,
}

// run judges a simple command given as evaluated words.
func (a *analyzer) run(words []wordVal, outer *call) {
	if len(words) == 0 {
		return
	}
	w := words[0]
	a.res.out, a.res.outKnown = "", false
	a.res.calls++
	a.res.cat(Exec)
	a.res.bump(riskRoutine)
	if w.expand {
		// The command itself is computed: RM=rm; $RM -rf /.
		a.res.add(SignalHiddenCommand, riskSensitive)
		if w.fetch {
			a.res.add(SignalDownloadExec, riskDestructive)
		}
	}
	if !w.known() || w.s == "" {
		a.record(displayName(w))
		a.res.data = true
		a.checkCredentialArgs(&call{name: "?", args: words[1:]})
		return
	}
	name := w.s
	if strings.Contains(name, "/") {
		a.scriptFile(w, true)
		name = path.Base(name)
	}
	a.record(name)
	c := &call{name: normaliseCommand(name), args: words[1:], stdinFile: outer.stdinFile, body: outer.body}
	a.dispatch(c)
	if !constantOutput[c.name] || !allKnown(c.args) {
		a.res.data = true
	}
	a.checkCredentialArgs(c)
}

func displayName(w wordVal) string {
	switch {
	case len(w.params) > 0 && w.params[0] == unknownParam:
		return "…"
	case len(w.params) > 0:
		return "$" + w.params[0]
	case w.subst:
		return "$(…)"
	}
	return strings.ReplaceAll(w.s, unknownMark, "…")
}

func allKnown(vs []wordVal) bool {
	for _, v := range vs {
		if !v.known() {
			return false
		}
	}
	return true
}

// normaliseCommand maps versioned and variant names onto one handler:
// python3.12 → python, mkfs.ext4 → mkfs.
func normaliseCommand(n string) string {
	n = strings.TrimSuffix(n, ".exe")
	for _, fam := range []string{"python", "pip", "perl", "ruby", "node", "php", "lua", "pypy"} {
		if rest, ok := strings.CutPrefix(n, fam); ok && strings.Trim(rest, "0123456789.") == "" {
			return fam
		}
	}
	switch {
	case strings.HasPrefix(n, "mkfs"), strings.HasPrefix(n, "newfs"), strings.HasPrefix(n, "mke2fs"):
		return "mkfs"
	case strings.HasPrefix(n, "docker-credential-"):
		return "docker-credential"
	}
	return n
}

// checkCredentialArgs flags an argument that names a credential file or
// directory: whatever the command, it gets to read it.
func (a *analyzer) checkCredentialArgs(c *call) {
	if credExempt[c.name] || c.delegated {
		return
	}
	skipNext := false
	for i, v := range c.args {
		if skipNext || c.noCred[i] {
			skipNext = false
			continue
		}
		s := v.s
		if strings.HasPrefix(s, "-") {
			name, val, ok := strings.Cut(s, "=")
			if name == "--env-file" {
				skipNext = !ok
				continue
			}
			if !ok {
				continue
			}
			s = val
		}
		s = strings.TrimPrefix(s, "@")
		if a.credentialWord(s) {
			a.credentialRead()
			return
		}
	}
}

// dispatch applies what is known about a command by name. Commands not
// listed are ordinary programs: exec, risk 1.
func (a *analyzer) dispatch(c *call) {
	switch c.name {
	// Wrappers that run another command.
	case "sudo", "doas", "pkexec", "run0":
		a.sudo(c)
	case "su", "runuser":
		a.su(c)
	case "env":
		a.env(c)
	case "command", "builtin", "exec", "nohup", "setsid", "unbuffer", "chronic", "time", "nice",
		"ionice", "stdbuf", "timeout", "chrt", "taskset", "caffeinate", "flock", "watch", "busybox", "toybox":
		a.wrapper(c)
	case "xargs":
		a.xargs(c)

	// Code runners.
	case "sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "csh", "tcsh":
		a.shell(c)
	case "python", "pypy", "perl", "ruby", "node", "php", "lua", "deno", "Rscript", "osascript",
		"pwsh", "powershell", "tclsh":
		a.interpreter(c)
	case "eval":
		a.eval(c)
	case "source", ".":
		a.source(c)
	case "trap":
		a.trap(c)
	case "alias":
		a.alias(c)
	case "cd", "pushd", "popd":
		a.cd(c)

	// Files.
	case "rm", "srm":
		a.rm(c)
	case "rmdir", "unlink":
		a.remove(scanOptions(c.args, "", nil, false).operandVals(c.args), false)
	case "shred":
		a.shred(c)
	case "find", "fd":
		a.find(c)
	case "cp", "mv", "install", "ln":
		a.copyFiles(c)
	case "tee", "touch", "mkdir", "truncate":
		a.createFiles(c)
	case "sed":
		a.sed(c)
	case "tar":
		a.tar(c)
	case "unzip", "zip":
		a.zip(c)
	case "dd":
		a.dd(c)
	case "chmod", "chown", "chgrp", "setfacl", "chattr":
		a.permissions(c)
	case "mkfs", "fdisk", "sfdisk", "gdisk", "cfdisk", "sgdisk", "parted", "wipefs", "blkdiscard", "mkswap", "diskutil":
		a.disk(c)
	case "cat", "tac", "less", "more", "head", "tail", "nl", "bat", "grep", "egrep", "fgrep", "rg",
		"ag", "ack", "ls", "tree", "wc", "stat", "file", "du", "df", "diff", "cmp", "sort", "uniq",
		"cut", "jq", "yq", "strings", "od", "hexdump", "column", "readlink", "realpath", "pwd",
		"which", "whereis", "type", "sha256sum", "sha1sum", "md5sum", "shasum", "cksum", "ps":
		a.reader(c)
	case "echo", "printf":
		a.echo(c)
	case "base64", "xxd", "rev", "openssl", "gunzip", "zcat":
		a.decoder(c)
	case "awk", "gawk", "mawk", "nawk":
		a.awk(c)

	// Processes and the system.
	case "kill", "pkill", "killall", "killall5":
		a.kill(c)
	case "shutdown", "reboot", "halt", "poweroff", "init", "telinit", "systemctl", "service",
		"launchctl", "crontab", "iptables", "ip6tables", "iptables-restore", "nft", "ufw", "pfctl",
		"firewall-cmd", "sysctl", "csrutil", "spctl", "nvram", "rmmod", "insmod", "modprobe",
		"swapoff", "useradd", "userdel", "usermod", "groupadd", "groupdel", "groupmod", "visudo",
		"chpasswd", "passwd":
		a.system(c)

	// Network.
	case "curl":
		a.curl(c)
	case "wget":
		a.wget(c)
	case "fetch", "http", "https", "xh", "aria2c", "lynx", "links", "w3m":
		a.network()
		a.res.fetch = true
	case "nc", "ncat", "netcat", "socat", "telnet":
		a.socket(c)
	case "ssh":
		a.ssh(c)
	case "scp":
		a.scp(c)
	case "rsync":
		a.rsync(c)
	case "sftp", "ftp", "lftp", "tftp", "ping", "ping6", "dig", "nslookup", "host", "traceroute",
		"mosh", "ssh-copy-id", "whois", "ngrok", "cloudflared":
		a.network()
	case "git":
		a.git(c)
	case "npm", "pnpm", "yarn", "bun":
		a.nodePackages(c)
	case "npx", "bunx", "pnpx":
		a.network()
	case "pip", "pipx", "uv", "uvx", "poetry", "pipenv", "conda", "mamba", "micromamba":
		a.pythonPackages(c)
	case "go":
		a.goTool(c)
	case "cargo", "gem", "bundle", "composer", "dotnet", "mvn", "gradle", "nuget":
		a.langPackages(c)
	case "apt", "apt-get", "aptitude", "yum", "dnf", "zypper", "apk", "pacman", "brew", "port",
		"snap", "flatpak", "choco", "winget", "scoop", "nix-env", "pkg", "emerge":
		a.systemPackages(c)
	case "docker", "podman", "nerdctl":
		a.docker(c)
	case "kubectl", "helm":
		a.kube(c)
	case "terraform", "tofu", "pulumi", "cdk", "serverless", "sls", "fly", "flyctl", "vercel",
		"netlify", "wrangler", "firebase", "heroku":
		a.deploy(c)
	case "aws", "gcloud", "gsutil", "az", "doctl":
		a.cloud(c)
	case "gh":
		a.gh(c)
	case "twine":
		a.network()
		if first(c.args) == "upload" {
			a.publish()
		}

	// Credentials.
	case "security":
		a.keychain(c)
	case "printenv":
		a.printenv(c)
	case "set":
		if len(c.args) == 0 {
			a.credentialRead()
		}
	case "vault", "op", "pass", "secret-tool", "keyring", "docker-credential", "aws-vault", "gpg", "gpg2":
		a.secretTool(c)
	}
}

// first returns the first argument's value, or "".
func first(args []wordVal) string {
	if len(args) == 0 {
		return ""
	}
	return args[0].s
}

func (a *analyzer) publish() {
	a.network()
	a.res.cat(Publish)
	a.res.add(SignalPublish, riskSensitive)
}

func (a *analyzer) packageInstall() {
	a.network()
	a.res.cat(Write)
	a.res.add(SignalPackageInstall, riskElevated)
}

func (a *analyzer) systemChange() {
	a.res.add(SignalSystemChange, riskDestructive)
}

func (a *analyzer) hidden() {
	a.res.add(SignalHiddenCommand, riskSensitive)
}

// --- wrappers ---

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

// --- code runners ---

// inlineScript judges code given as a string to a shell (sh -c, su -c,
// eval) — or, when shell is false, split into a command line (env -S).
func (a *analyzer) inlineScript(v wordVal, shell bool) {
	if v.fetch {
		a.res.add(SignalDownloadExec, riskDestructive)
	}
	if v.subst {
		a.hidden()
	}
	src := strings.ReplaceAll(v.s, unknownMark, "${"+unknownParam+"}")
	r := a.nested(src)
	if shell && (r.risk >= riskSensitive || !v.known()) {
		// The string hides what runs: something risky, or text chosen at
		// run time (sh -c "$X").
		a.hidden()
	}
}

// scriptFile judges a shell (shell set) or interpreter running a file: one
// just downloaded, generated by <(…), or written earlier in the line.
func (a *analyzer) scriptFile(v wordVal, shell bool) {
	switch {
	case v.fetch:
		a.res.add(SignalDownloadExec, riskDestructive)
	case v.proc:
		a.hidden()
	default:
		p, ok := a.resolve(v.s)
		if !ok {
			return
		}
		if a.downloads[p] {
			a.res.add(SignalDownloadExec, riskDestructive)
		}
		if text, written := a.scripts[p]; written && shell {
			delete(a.scripts, p) // a script that runs itself is judged once
			if r := a.nested(text); r.risk >= riskSensitive {
				a.hidden()
			}
		}
	}
}

// stdinScript judges a shell or interpreter reading its program from
// standard input: a here-document, or a pipe.
func (a *analyzer) stdinScript(c *call, shell bool) {
	if c.body != nil {
		b := *c.body
		if b.fetch {
			a.res.add(SignalDownloadExec, riskDestructive)
		}
		if shell {
			a.inlineScript(b, true)
		}
		return
	}
	in := a.stdin
	if in == nil {
		return
	}
	switch {
	case in.fetch:
		a.res.add(SignalDownloadExec, riskDestructive)
	case in.textKnown && shell:
		r := a.nested(in.text)
		if in.transform || r.risk >= riskSensitive {
			a.hidden()
		}
	case in.fileOnly:
		// cat script.sh | sh runs a file, like sh script.sh.
	default:
		a.hidden()
	}
}

func (a *analyzer) shell(c *call) {
	cmode, stdinMode := false, false
	i := 0
	for ; i < len(c.args); i++ {
		v := c.args[i]
		s := v.s
		if !v.known() || s == "-" || len(s) < 2 || (s[0] != '-' && s[0] != '+') {
			break
		}
		if s == "--" {
			i++
			break
		}
		if strings.HasPrefix(s, "--") {
			if s == "--rcfile" || s == "--init-file" {
				i++
			}
			continue
		}
		for _, ch := range s[1:] {
			switch ch {
			case 'c':
				cmode = true
			case 's':
				stdinMode = true
			case 'o', 'O':
				i++
			}
		}
	}
	var ops []wordVal
	if i < len(c.args) {
		ops = c.args[i:]
	}
	switch {
	case cmode:
		if len(ops) > 0 {
			a.inlineScript(ops[0], true)
		}
	case len(ops) > 0 && !stdinMode && ops[0].s != "-":
		a.scriptFile(ops[0], true)
	default:
		a.stdinScript(c, true)
	}
}

// interpreter judges python, node, perl and the like. Their inline code is
// not parsed (it is not shell), but where it comes from is judged.
func (a *analyzer) interpreter(c *call) {
	codeShort, valShort := "", ""
	var codeLong, valLong []string
	switch c.name {
	case "python", "pypy":
		codeShort, valShort = "c", "mWXQ"
	case "perl":
		codeShort, valShort = "eE", ""
	case "ruby":
		codeShort, valShort = "e", "rIC"
	case "node", "deno":
		codeShort, valShort = "ep", "r"
		codeLong, valLong = []string{"eval", "print"}, []string{"require", "import", "loader", "input-type", "env-file"}
	case "php":
		codeShort, valShort = "r", "cdfz"
	case "lua", "Rscript", "osascript", "tclsh":
		codeShort = "e"
	case "pwsh", "powershell":
		a.powershell(c)
		return
	}
	o := scanOptions(c.args, codeShort+valShort, append(append([]string{}, codeLong...), valLong...), true)
	for _, f := range codeShort {
		if code, ok := o.value(string(f)); ok {
			a.inlineCode(code)
			a.perlInPlace(c, o)
			return
		}
	}
	for _, f := range codeLong {
		if code, ok := o.value("--" + f); ok {
			a.inlineCode(code)
			return
		}
	}
	if mod, ok := o.value("m"); ok && (c.name == "python" || c.name == "pypy") {
		switch mod.s {
		case "pip":
			a.dispatch(&call{name: "pip", args: o.operandVals(c.args)})
		case "http.server", "SimpleHTTPServer":
			a.network()
		case "venv", "virtualenv":
			a.res.cat(Write)
		}
		return
	}
	ops := o.operandVals(c.args)
	if c.name == "deno" && len(ops) > 1 && (ops[0].s == "run" || ops[0].s == "install") && strings.Contains(ops[1].s, "://") {
		a.network()
		return
	}
	if len(ops) > 0 && ops[0].s != "-" {
		a.scriptFile(ops[0], false)
		return
	}
	a.stdinScript(c, false)
}

// inlineCode judges code in another language passed on the command line.
func (a *analyzer) inlineCode(v wordVal) {
	if v.fetch {
		a.res.add(SignalDownloadExec, riskDestructive)
	}
	if v.subst || !v.known() {
		a.hidden()
	}
	s := strings.ToLower(v.s)
	// Decoding a blob and executing it is how payloads hide.
	if (strings.Contains(s, "exec(") || strings.Contains(s, "eval(")) &&
		(strings.Contains(s, "b64decode") || strings.Contains(s, "base64") || strings.Contains(s, "atob(") || strings.Contains(s, "fromcharcode")) {
		a.hidden()
	}
}

// perlInPlace judges perl -i, which edits its file operands.
func (a *analyzer) perlInPlace(c *call, o options) {
	if c.name != "perl" {
		return
	}
	inPlace := false
	for _, v := range c.args {
		if strings.HasPrefix(v.s, "-") && !strings.HasPrefix(v.s, "--") && strings.Contains(v.s, "i") {
			inPlace = true
		}
	}
	if !inPlace {
		return
	}
	for _, i := range o.operands {
		a.writeTo(c.args[i])
		c.skipCred(i)
	}
}

func (a *analyzer) powershell(c *call) {
	for i, v := range c.args {
		switch strings.ToLower(v.s) {
		case "-encodedcommand", "-enc", "-e", "-ec":
			a.hidden()
			return
		case "-command", "-c":
			if i+1 < len(c.args) {
				a.inlineCode(c.args[i+1])
			}
			return
		}
	}
}

func (a *analyzer) eval(c *call) {
	// eval always hides what runs behind one more round of expansion.
	a.hidden()
	if len(c.args) > 0 {
		a.inlineScript(joinWords(c.args), true)
	}
}

func (a *analyzer) source(c *call) {
	if len(c.args) == 0 {
		return
	}
	v := c.args[0]
	if v.proc {
		// source <(…) runs generated code.
		a.hidden()
	}
	a.scriptFile(v, true)
}

func (a *analyzer) trap(c *call) {
	o := scanOptions(c.args, "", nil, true)
	ops := o.operandVals(c.args)
	if len(ops) < 2 || ops[0].s == "-" || ops[0].s == "" {
		return
	}
	r := a.nested(strings.ReplaceAll(ops[0].s, unknownMark, "${"+unknownParam+"}"))
	if !ops[0].known() && r.risk < riskSensitive {
		a.hidden()
	}
}

func (a *analyzer) alias(c *call) {
	for _, v := range c.args {
		if _, val, ok := strings.Cut(v.s, "="); ok {
			a.inlineScript(wordVal{s: val, subst: v.subst, fetch: v.fetch, cred: v.cred}, false)
		}
	}
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
