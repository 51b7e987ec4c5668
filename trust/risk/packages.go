package risk

import "strings"

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
