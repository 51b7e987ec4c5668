package risk

import "strings"

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
