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
