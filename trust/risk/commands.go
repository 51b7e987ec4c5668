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
