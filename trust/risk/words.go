package risk

import (
	"encoding/base64"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"mvdan.cc/sh/v3/syntax"
)

// wordVal is a shell word evaluated statically.
type wordVal struct {
	s      string // the value; unknownMark where it cannot be known
	glob   bool   // holds unquoted glob characters
	expand bool   // holds $var, $(…), `…` or <(…): not literal text
	subst  bool   // holds $(…), `…` or <(…)
	proc   bool   // holds a process substitution <(…) / >(…)
	split  bool   // an unquoted expansion the shell would split into fields
	fetch  bool   // a substitution inside downloads from the network
	cred   bool   // a substitution inside reads credentials
	params []string
}

func (v wordVal) known() bool { return !strings.Contains(v.s, unknownMark) }

// literal makes a wordVal for text that is known exactly.
func literal(s string) wordVal { return wordVal{s: s} }

// evalWord evaluates w, analysing every substitution inside it.
func (a *analyzer) evalWord(w *syntax.Word) wordVal {
	var v wordVal
	if w == nil {
		return v
	}
	var b strings.Builder
	a.parts(&v, &b, w.Parts, false, true)
	v.s = capValue(b.String())
	return v
}

// staticWord evaluates w without analysing substitutions, for computing a
// substitution's output from a command already analysed.
func (a *analyzer) staticWord(w *syntax.Word) wordVal {
	var v wordVal
	var b strings.Builder
	a.parts(&v, &b, w.Parts, false, false)
	v.s = capValue(b.String())
	return v
}

// heredoc evaluates a here-document body. A quoted delimiter keeps the body
// literal; otherwise it expands like a double-quoted string.
func (a *analyzer) heredoc(w *syntax.Word, quotedDelim bool) wordVal {
	var v wordVal
	var b strings.Builder
	if quotedDelim {
		for _, p := range w.Parts {
			if l, ok := p.(*syntax.Lit); ok {
				b.WriteString(l.Value)
			}
		}
	} else {
		a.parts(&v, &b, w.Parts, true, true)
	}
	v.s = capValue(b.String())
	v.split = false
	return v
}

func capValue(s string) string {
	if len(s) > maxValueBytes {
		return s[:maxValueBytes] + unknownMark
	}
	return s
}

func (a *analyzer) parts(v *wordVal, b *strings.Builder, parts []syntax.WordPart, quoted, analyse bool) {
	for i, part := range parts {
		if b.Len() > maxValueBytes {
			return
		}
		switch p := part.(type) {
		case *syntax.Lit:
			s := p.Value
			if quoted {
				s = unescapeDouble(s)
			} else {
				if strings.ContainsAny(s, "*?[") {
					v.glob = true
				}
				s = unescapeUnquoted(s)
				if i == 0 && strings.HasPrefix(s, "~") {
					s = a.tilde(s)
				}
			}
			b.WriteString(s)
		case *syntax.SglQuoted:
			if p.Dollar {
				b.WriteString(ansiC(p.Value))
			} else {
				b.WriteString(p.Value)
			}
		case *syntax.DblQuoted:
			a.parts(v, b, p.Parts, true, analyse)
		case *syntax.ParamExp:
			v.expand = true
			v.split = v.split || !quoted
			if p.Param != nil {
				v.params = append(v.params, p.Param.Value)
			}
			if analyse {
				r := a.substsIn(p)
				v.fetch = v.fetch || r.fetch
				v.cred = v.cred || r.cred
			}
			if val, ok := a.param(p); ok {
				b.WriteString(val)
			} else {
				b.WriteString(unknownMark)
			}
		case *syntax.CmdSubst:
			v.expand, v.subst = true, true
			v.split = v.split || !quoted
			if !analyse {
				b.WriteString(unknownMark)
				continue
			}
			r := a.substitution(p.Stmts)
			v.fetch = v.fetch || r.fetch
			v.cred = v.cred || r.cred
			if out, ok := a.staticOutput(p.Stmts); ok {
				b.WriteString(strings.TrimRight(out, "\n"))
			} else {
				b.WriteString(unknownMark)
			}
		case *syntax.ProcSubst:
			v.expand, v.subst, v.proc = true, true, true
			if analyse {
				r := a.substitution(p.Stmts)
				v.fetch = v.fetch || r.fetch
				v.cred = v.cred || r.cred
			}
			b.WriteString(unknownMark)
		case *syntax.ArithmExp:
			v.expand = true
			if analyse {
				a.substsIn(p)
			}
			b.WriteString(unknownMark)
		case *syntax.ExtGlob:
			v.glob = true
			b.WriteString("*")
		default:
			b.WriteString(unknownMark)
		}
	}
}

// param expands a parameter when its value is known.
func (a *analyzer) param(p *syntax.ParamExp) (string, bool) {
	if p.Param == nil || p.Excl || p.Length || p.Width || p.IsSet || p.Index != nil ||
		p.Slice != nil || p.Repl != nil || p.Names != 0 || p.NestedParam != nil ||
		len(p.Modifiers) > 0 || p.Flags != nil {
		return "", false
	}
	if p.Exp != nil {
		// ${X:-default} and friends are known only when X is.
		switch p.Exp.Op {
		case syntax.DefaultUnset, syntax.DefaultUnsetOrNull, syntax.AlternateUnset,
			syntax.AlternateUnsetOrNull, syntax.AssignUnset, syntax.AssignUnsetOrNull,
			syntax.ErrorUnset, syntax.ErrorUnsetOrNull:
		default:
			return "", false
		}
		val, ok := a.lookup(p.Param.Value)
		if !ok || strings.Contains(val, unknownMark) {
			return "", false
		}
		switch p.Exp.Op {
		case syntax.AlternateUnset, syntax.AlternateUnsetOrNull:
			return "", false
		}
		return val, true
	}
	val, ok := a.lookup(p.Param.Value)
	if !ok || strings.Contains(val, unknownMark) {
		return "", false
	}
	return val, true
}

// lookup returns a variable's value: assigned earlier in the line, or one
// of the few whose value the analyzer knows anyway.
func (a *analyzer) lookup(name string) (string, bool) {
	if v, ok := a.vars[name]; ok {
		return v, true
	}
	if a.varsFull {
		return "", false
	}
	switch name {
	case "HOME":
		return a.home, true
	case "PWD":
		return a.dir, a.dir != ""
	case "TMPDIR":
		return "/tmp", true
	}
	return "", false
}

func (a *analyzer) tilde(s string) string {
	end := strings.IndexByte(s, '/')
	if end < 0 {
		end = len(s)
	}
	switch s[:end] {
	case "~":
		home, _ := a.lookup("HOME")
		return home + s[end:]
	case "~+":
		if a.dir == "" {
			return unknownMark + s[end:]
		}
		return a.dir + s[end:]
	}
	// ~user and ~- name somebody else's home or the previous directory.
	return unknownMark + s[end:]
}

func unescapeUnquoted(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			if s[i] == '\n' {
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unescapeDouble(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case '$', '`', '"', '\\':
				i++
			case '\n':
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ansiC decodes a $'…' string, so that $'\x72\x6d' is seen as rm.
func ansiC(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch e := s[i]; e {
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'e', 'E':
			b.WriteByte(0x1b)
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case 'x', 'u', 'U':
			width := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			j := i + 1
			for j < len(s) && j < i+1+width && isHexDigit(s[j]) {
				j++
			}
			if j == i+1 {
				b.WriteByte('\\')
				b.WriteByte(e)
				continue
			}
			n, _ := strconv.ParseUint(s[i+1:j], 16, 32)
			if e == 'x' {
				b.WriteByte(byte(n))
			} else if utf8.ValidRune(rune(n)) {
				b.WriteRune(rune(n))
			}
			i = j - 1
		case '0', '1', '2', '3', '4', '5', '6', '7':
			j := i
			for j < len(s) && j < i+3 && s[j] >= '0' && s[j] <= '7' {
				j++
			}
			n, _ := strconv.ParseUint(s[i:j], 8, 16)
			b.WriteByte(byte(n))
			i = j - 1
		case 'c':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i] & 0x1f)
			}
		default:
			b.WriteByte(e)
		}
	}
	return b.String()
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// staticOutput computes what a substitution prints when that is knowable
// without running anything: echo and printf of literals (and base64 -d or
// rev of those, the usual obfuscations), pwd, mktemp, dirname.
func (a *analyzer) staticOutput(stmts []*syntax.Stmt) (string, bool) {
	if len(stmts) != 1 || stmts[0] == nil {
		return "", false
	}
	switch c := stmts[0].Cmd.(type) {
	case *syntax.CallExpr:
		return a.staticCall(c)
	case *syntax.BinaryCmd:
		if c.Op != syntax.Pipe {
			return "", false
		}
		stages := flattenPipe(c, nil)
		first, ok := stages[0].Cmd.(*syntax.CallExpr)
		if !ok {
			return "", false
		}
		out, ok := a.staticCall(first)
		if !ok {
			return "", false
		}
		for _, st := range stages[1:] {
			ce, isCall := st.Cmd.(*syntax.CallExpr)
			if !isCall || len(ce.Args) == 0 {
				return "", false
			}
			args := make([]string, len(ce.Args))
			for i, w := range ce.Args {
				v := a.staticWord(w)
				if !v.known() {
					return "", false
				}
				args[i] = v.s
			}
			if out, ok = transformText(args, out); !ok {
				return "", false
			}
		}
		return out, true
	}
	return "", false
}

func (a *analyzer) staticCall(c *syntax.CallExpr) (string, bool) {
	if len(c.Args) == 0 {
		return "", false
	}
	args := make([]string, 0, len(c.Args))
	for _, w := range c.Args {
		v := a.staticWord(w)
		if !v.known() {
			return "", false
		}
		args = append(args, v.s)
	}
	switch path.Base(args[0]) {
	case "echo":
		rest := args[1:]
		for len(rest) > 0 && (rest[0] == "-n" || rest[0] == "-e" || rest[0] == "-E" || rest[0] == "-ne" || rest[0] == "-en") {
			rest = rest[1:]
		}
		return strings.Join(rest, " ") + "\n", true
	case "printf":
		if len(args) == 2 && !strings.Contains(args[1], "%") {
			return strings.ReplaceAll(args[1], `\n`, "\n"), true
		}
		if len(args) >= 3 && (args[1] == "%s" || args[1] == `%s\n`) {
			return strings.Join(args[2:], ""), true
		}
	case "pwd":
		return a.dir, a.dir != ""
	case "mktemp":
		dir := "/tmp"
		for i := 1; i < len(args); i++ {
			if args[i] == "-p" && i+1 < len(args) {
				dir = args[i+1]
			} else if d, ok := strings.CutPrefix(args[i], "--tmpdir="); ok {
				dir = d
			}
		}
		return dir + "/tmp.mktemp", true
	case "dirname":
		if len(args) == 2 {
			return path.Dir(args[1]), true
		}
	case "git":
		if len(args) == 3 && args[1] == "rev-parse" && args[2] == "--show-toplevel" && a.project != unknownProject {
			return a.project, true
		}
	}
	return "", false
}

// transformText applies a pipeline filter to known text, for the filters
// used to hide commands.
func transformText(args []string, in string) (string, bool) {
	switch path.Base(args[0]) {
	case "base64":
		for _, f := range args[1:] {
			if f == "-d" || f == "--decode" || f == "-D" {
				return decodeBase64(in)
			}
		}
	case "rev":
		lines := strings.Split(strings.TrimRight(in, "\n"), "\n")
		for i, l := range lines {
			r := []rune(l)
			slices.Reverse(r)
			lines[i] = string(r)
		}
		return strings.Join(lines, "\n") + "\n", true
	case "cat":
		if len(args) == 1 {
			return in, true
		}
	}
	return "", false
}

func decodeBase64(s string) (string, bool) {
	s = strings.Join(strings.Fields(s), "")
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return string(b), true
		}
	}
	return "", false
}
