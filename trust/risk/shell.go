package risk

import (
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"sync"

	"mvdan.cc/sh/v3/syntax"
)

// ShellAnalysis is what AnalyzeShell found in a command line.
type ShellAnalysis struct {
	Commands   []string   // simple command names in order, including nested ones (sh -c, eval, $(…), …)
	Signals    []string   // sorted, unique
	Categories []Category // sorted, unique
	Risk       int
	ParseError string // non-empty if the command did not parse; Signals then holds "parse_error"
}

// Bounds that keep analysis cheap on hostile input: the parser is linear
// except in bracket depth, and what else could blow up is re-parsing
// strings (sh -c, eval) and values built from variables, so all are capped.
// Analysis stays linear in the input, well under a second per MiB.
const (
	maxShellDepth   = 8       // nested sh -c / eval / $(…) levels analysed
	maxCommandBytes = 1 << 20 // longer command lines are not parsed
	maxValueBytes   = 1 << 16 // longer variable values become unknown
	maxReparseBytes = 1 << 20 // total bytes re-parsed from strings per analysis
	maxCommands     = 10000   // names recorded in ShellAnalysis.Commands
	maxFields       = 4096    // fields a word may split into
	maxVars         = 256     // variables tracked; subshells copy them
	maxNesting      = 256     // bracket depth parsed; the parser slows down quadratically beyond
)

// AnalyzeShell parses a shell command line and classifies it. cwd is the
// project directory (deletes and writes outside it are flagged); home expands
// ~ and $HOME (empty: os.UserHomeDir).
func AnalyzeShell(command, cwd, home string) ShellAnalysis {
	return analyzeShell(command, cwd, "", home)
}

// analyzeShell runs command in dir (relative to project, or absolute; empty
// means the project itself).
func analyzeShell(command, project, dir, home string) ShellAnalysis {
	a := newAnalyzer(project, dir, home)
	a.script(command)
	return a.finish()
}

// result accumulates what one stretch of shell does. Nested pieces (a
// substitution, a pipeline stage, an sh -c string) get their own result,
// which is then merged into the enclosing one, so that the piece can be
// judged on its own first.
type result struct {
	signals map[string]bool
	cats    map[Category]bool
	risk    int
	calls   int

	// What the stretch does with data, for judging pipes and substitutions.
	fetch     bool // downloads from the network
	data      bool // emits local data (anything but constant text)
	cred      bool // reads credential material
	transform bool // decodes or de-obfuscates (base64 -d, xxd -r, rev)
	fileOnly  bool // only prints files (cat script.sh), so piping it to sh runs a file

	// Output known exactly (echo literal, base64 -d of it), valid only when
	// the stretch is a single command.
	out      string
	outKnown bool
	// listing is a representative path of what the stretch lists (find,
	// ls): xargs applies its command to such paths.
	listing string
}

func newResult() *result {
	return &result{signals: map[string]bool{}, cats: map[Category]bool{}}
}

func (r *result) add(signal string, risk int) {
	r.signals[signal] = true
	r.bump(risk)
}

func (r *result) bump(risk int) {
	if risk > r.risk {
		r.risk = risk
	}
}

func (r *result) cat(cs ...Category) {
	for _, c := range cs {
		r.cats[c] = true
	}
}

func (r *result) merge(o *result) {
	for s := range o.signals {
		r.signals[s] = true
	}
	for c := range o.cats {
		r.cats[c] = true
	}
	r.bump(o.risk)
	r.calls += o.calls
	r.fetch = r.fetch || o.fetch
	r.data = r.data || o.data
	r.cred = r.cred || o.cred
	r.transform = r.transform || o.transform
}

// flow is what reaches a command's standard input through a pipe.
type flow struct {
	fetch, data, cred, transform bool
	fileOnly                     bool   // every upstream stage only prints files
	text                         string // exact text, when known
	textKnown                    bool
	listing                      string // representative path of listed entries
}

type analyzer struct {
	project string // cleaned project root, or unknownProject
	home    string
	dir     string            // where the next command runs; "" after an unfollowable cd
	vars    map[string]string // known shell variables; values may hold unknownMark
	// varsFull is set once more variables were assigned than are tracked:
	// from then on an untracked name may have been assigned, so it is
	// unknown rather than its default.
	varsFull   bool
	varsShared bool // vars belongs to an enclosing scope: copy before writing
	depth      int
	res        *result
	stdin      *flow // set while analysing a pipeline stage after the first

	commands     []string
	downloads    map[string]bool   // files fetched by curl -o / wget earlier in the line
	scripts      map[string]string // files written with known text earlier in the line
	deletes      int               // delete targets seen
	buildDeletes int               // of which in build/temp dirs
	reparsed     int
	parseError   string
}

func newAnalyzer(project, dir, home string) *analyzer {
	if home == "" {
		if h, err := os.UserHomeDir(); err == nil && h != "" {
			home = h
		} else {
			home = "/\x01home"
		}
	}
	home = path.Clean(home)
	if project == "" {
		project = unknownProject
	} else {
		project = path.Clean(project)
	}
	switch {
	case dir == "":
		dir = project
	case !strings.HasPrefix(dir, "/"):
		dir = path.Join(project, dir)
	default:
		dir = path.Clean(dir)
	}
	return &analyzer{
		project:   project,
		home:      home,
		dir:       dir,
		vars:      map[string]string{},
		res:       newResult(),
		downloads: map[string]bool{},
		scripts:   map[string]string{},
	}
}

func (a *analyzer) finish() ShellAnalysis {
	if a.deletes > 0 && a.deletes == a.buildDeletes {
		a.res.add(SignalDeleteBuildDir, riskNone)
	}
	if a.parseError != "" {
		a.res.add(SignalParseError, riskSensitive)
	}
	sa := ShellAnalysis{
		Commands:   a.commands,
		Signals:    sortedKeys(a.res.signals),
		Categories: sortedKeys(a.res.cats),
		Risk:       min(max(a.res.risk, riskNone), riskDestructive),
		ParseError: a.parseError,
	}
	if sa.Commands == nil {
		sa.Commands = []string{}
	}
	return sa
}

func sortedKeys[K ~string](m map[K]bool) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// sub runs fn with a fresh result, merges that result into the current one
// and returns it, so the caller can judge the piece on its own.
func (a *analyzer) sub(fn func()) *result {
	outer := a.res
	a.res = newResult()
	fn()
	inner := a.res
	a.res = outer
	outer.merge(inner)
	return inner
}

// scoped runs fn as in a subshell: cd and assignments inside do not leak.
// The variables are copied only when the subshell assigns one, since most
// never do and a long pipeline enters thousands of them.
func (a *analyzer) scoped(fn func()) {
	dir, vars, shared, full := a.dir, a.vars, a.varsShared, a.varsFull
	a.varsShared = true
	fn()
	a.dir, a.vars, a.varsShared, a.varsFull = dir, vars, shared, full
}

func (a *analyzer) record(name string) {
	if len(a.commands) < maxCommands {
		a.commands = append(a.commands, name)
	}
}

var parsers = [...]sync.Pool{
	{New: func() any { return syntax.NewParser(syntax.Variant(syntax.LangBash)) }},
	{New: func() any { return syntax.NewParser(syntax.Variant(syntax.LangZsh)) }},
}

// parse tries bash, then zsh (the default shell on macOS, where agents often
// run), and reports bash's error if neither accepts the text.
func parse(src string) (*syntax.File, error) {
	var first error
	for i := range parsers {
		p := parsers[i].Get().(*syntax.Parser)
		f, err := p.Parse(strings.NewReader(src), "")
		parsers[i].Put(p)
		if err == nil {
			return f, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

// nesting estimates how deeply brackets nest in src, ignoring quoting: a
// cheap guard run before the parser.
func nesting(src string) int {
	depth, deepest := 0, 0
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '(', '{', '[':
			depth++
			deepest = max(deepest, depth)
		case ')', '}', ']':
			depth = max(depth-1, 0)
		}
	}
	return deepest
}

// script parses and analyses src at the current depth.
func (a *analyzer) script(src string) {
	if len(src) > maxCommandBytes {
		a.parseFailed("command longer than 1 MiB")
		a.lexical(src[:maxCommandBytes])
		return
	}
	if nesting(src) > maxNesting {
		a.parseFailed("nesting deeper than 256 levels")
		a.lexical(src)
		return
	}
	f, err := parse(src)
	if err != nil {
		a.parseFailed(err.Error())
		a.lexical(src)
		return
	}
	a.stmts(f.Stmts)
}

func (a *analyzer) parseFailed(msg string) {
	if a.depth > 0 {
		msg = "nested script: " + msg
	}
	if a.parseError == "" {
		a.parseError = msg
	}
	a.res.add(SignalParseError, riskSensitive)
}

// nested analyses a string the shell will itself parse and run (sh -c,
// eval, su -c, a script piped into sh) and returns what it does.
func (a *analyzer) nested(src string) *result {
	return a.sub(func() {
		if a.depth >= maxShellDepth || a.reparsed+len(src) > maxReparseBytes {
			// Too deep or too much to look through: what runs is hidden.
			a.res.add(SignalHiddenCommand, riskSensitive)
			return
		}
		a.reparsed += len(src)
		a.depth++
		a.scoped(func() {
			stdin := a.stdin
			a.stdin = nil
			a.script(src)
			a.stdin = stdin
		})
		a.depth--
	})
}

// substitution analyses the statements of $(…), `…` or <(…). Their output
// becomes part of another command, so a risky one is a hidden command.
func (a *analyzer) substitution(stmts []*syntax.Stmt) *result {
	r := a.sub(func() {
		if a.depth >= maxShellDepth {
			a.res.add(SignalHiddenCommand, riskSensitive)
			return
		}
		a.depth++
		a.scoped(func() {
			stdin := a.stdin
			a.stdin = nil
			a.stmts(stmts)
			a.stdin = stdin
		})
		a.depth--
	})
	if r.risk >= riskSensitive {
		a.res.add(SignalHiddenCommand, riskSensitive)
	}
	return r
}

func (a *analyzer) stmts(list []*syntax.Stmt) {
	for _, s := range list {
		a.stmt(s)
	}
}

func (a *analyzer) stmt(s *syntax.Stmt) {
	if s == nil {
		return
	}
	if ce, ok := s.Cmd.(*syntax.CallExpr); ok {
		a.callExpr(ce, s.Redirs)
		return
	}
	a.redirects(s.Redirs, nil)
	a.command(s.Cmd)
}

func (a *analyzer) command(cmd syntax.Command) {
	switch c := cmd.(type) {
	case nil:
	case *syntax.CallExpr:
		a.callExpr(c, nil)
	case *syntax.BinaryCmd:
		if c.Op == syntax.Pipe || c.Op == syntax.PipeAll {
			a.pipeline(flattenPipe(c, nil))
			return
		}
		a.stmt(c.X)
		a.stmt(c.Y)
	case *syntax.Subshell:
		a.scoped(func() { a.stmts(c.Stmts) })
	case *syntax.Block:
		a.stmts(c.Stmts)
	case *syntax.IfClause:
		a.stmts(c.Cond)
		a.stmts(c.Then)
		if c.Else != nil {
			a.command(c.Else)
		}
	case *syntax.WhileClause:
		a.stmts(c.Cond)
		a.stmts(c.Do)
	case *syntax.ForClause:
		if wi, ok := c.Loop.(*syntax.WordIter); ok {
			for _, w := range wi.Items {
				a.evalWord(w)
			}
			if wi.Name != nil {
				a.setVar(wi.Name.Value, unknownMark)
			}
		} else {
			a.substsIn(c.Loop)
		}
		a.stmts(c.Do)
	case *syntax.CaseClause:
		a.evalWord(c.Word)
		for _, item := range c.Items {
			for _, p := range item.Patterns {
				a.evalWord(p)
			}
			a.stmts(item.Stmts)
		}
	case *syntax.FuncDecl:
		// The body runs whenever the function is called; judge it as if it
		// ran once.
		a.scoped(func() { a.stmt(c.Body) })
		if forkBomb(c) {
			a.systemChange()
		}
	case *syntax.DeclClause:
		a.declClause(c)
	case *syntax.TimeClause:
		a.stmt(c.Stmt)
	case *syntax.CoprocClause:
		a.stmt(c.Stmt)
	default:
		// Arithmetic, [[ … ]], let: only substitutions inside can act.
		a.substsIn(c)
	}
}

func flattenPipe(c *syntax.BinaryCmd, out []*syntax.Stmt) []*syntax.Stmt {
	if x, ok := c.X.Cmd.(*syntax.BinaryCmd); ok && (x.Op == syntax.Pipe || x.Op == syntax.PipeAll) && len(c.X.Redirs) == 0 {
		out = flattenPipe(x, out)
	} else {
		out = append(out, c.X)
	}
	return append(out, c.Y)
}

// pipeline analyses each stage with what flows into it from the stages
// before, which is where curl | sh and cat secret | nc show.
func (a *analyzer) pipeline(stages []*syntax.Stmt) {
	var in *flow
	for _, s := range stages {
		var r *result
		a.scoped(func() {
			saved := a.stdin
			a.stdin = in
			r = a.sub(func() { a.stmt(s) })
			a.stdin = saved
		})
		next := &flow{fileOnly: r.fileOnly && r.calls == 1}
		if in != nil {
			next.fetch, next.data, next.cred, next.transform = in.fetch, in.data, in.cred, in.transform
			next.fileOnly = next.fileOnly && in.fileOnly
		}
		next.fetch = next.fetch || r.fetch
		next.data = next.data || r.data
		next.cred = next.cred || r.cred
		next.transform = next.transform || r.transform
		if r.calls == 1 {
			next.text, next.textKnown = r.out, r.outKnown
			next.listing = r.listing
		}
		in = next
	}
}

func (a *analyzer) declClause(c *syntax.DeclClause) {
	name := c.Variant.Value
	a.record(name)
	a.res.calls++
	a.res.cat(Exec)
	a.res.bump(riskRoutine)
	listed := false
	for _, as := range c.Args {
		if as.Naked && as.Name == nil && as.Value != nil {
			v := a.evalWord(as.Value)
			if !strings.HasPrefix(v.s, "-") {
				listed = true
			}
			continue
		}
		listed = true
		a.assign(as, true)
	}
	// export / declare -x with no names print every exported variable,
	// secrets included.
	if !listed && (name == "export" || name == "declare" || name == "typeset") {
		a.credentialRead()
	}
}

func (a *analyzer) assign(as *syntax.Assign, persist bool) {
	val := ""
	switch {
	case as.Value != nil:
		v := a.evalWord(as.Value)
		val = v.s
	case as.Array != nil:
		for _, e := range as.Array.Elems {
			if e.Value != nil {
				a.evalWord(e.Value)
			}
		}
		val = unknownMark
	}
	if !persist || as.Name == nil {
		return
	}
	if as.Append || as.Index != nil {
		if old, ok := a.vars[as.Name.Value]; ok && as.Index == nil {
			val = old + val
		} else {
			val = unknownMark
		}
	}
	if len(val) > maxValueBytes {
		val = unknownMark
	}
	a.setVar(as.Name.Value, val)
}

func (a *analyzer) setVar(name, val string) {
	if a.varsShared {
		a.vars = maps.Clone(a.vars)
		a.varsShared = false
	}
	if _, ok := a.vars[name]; !ok && len(a.vars) >= maxVars {
		a.varsFull = true
		return
	}
	a.vars[name] = val
}

func (a *analyzer) callExpr(ce *syntax.CallExpr, redirs []*syntax.Redirect) {
	for _, as := range ce.Assigns {
		a.assign(as, len(ce.Args) == 0)
	}
	c := &call{}
	a.redirects(redirs, c)
	if len(ce.Args) == 0 {
		return
	}
	a.run(a.fields(ce.Args), c)
	// Remember text written to files (echo 'rm -rf /' > x.sh), so that
	// running the file later in the line is judged by its content.
	if a.res.outKnown {
		for _, o := range c.outputs {
			if p, ok := a.resolve(o.s); ok && len(a.scripts) < 64 {
				a.scripts[p] = capValue(a.scripts[p] + a.res.out)
			}
		}
	}
}

// fields evaluates words and splits unquoted expansions the way the shell
// would, so that CMD="rm -rf /"; $CMD is seen as rm with two arguments.
func (a *analyzer) fields(words []*syntax.Word) []wordVal {
	out := make([]wordVal, 0, len(words))
	for _, w := range words {
		v := a.evalWord(w)
		if v.split && strings.ContainsAny(v.s, " \t\n") && len(out) < maxFields {
			for f := range strings.FieldsSeq(v.s) {
				if len(out) >= maxFields {
					break
				}
				fv := v
				fv.s = f
				out = append(out, fv)
			}
			continue
		}
		out = append(out, v)
	}
	return out
}

// redirects judges a statement's redirections and, for a simple command,
// notes its standard input (a file or a here-document).
func (a *analyzer) redirects(redirs []*syntax.Redirect, c *call) {
	for _, r := range redirs {
		switch r.Op {
		case syntax.RdrOut, syntax.AppOut, syntax.RdrClob, syntax.AppClob,
			syntax.RdrAll, syntax.AppAll, syntax.RdrAllClob, syntax.AppAllClob:
			v := a.evalWord(r.Word)
			a.writeTo(v)
			if c != nil && (r.N == nil || r.N.Value == "1") {
				c.outputs = append(c.outputs, v)
			}
		case syntax.RdrInOut:
			v := a.evalWord(r.Word)
			a.readFrom(v)
			a.writeTo(v)
		case syntax.DplOut, syntax.DplIn:
			v := a.evalWord(r.Word)
			if v.s == "-" || isDigits(v.s) {
				continue
			}
			if r.Op == syntax.DplOut {
				a.writeTo(v)
			} else {
				a.readFrom(v)
			}
		case syntax.RdrIn:
			v := a.evalWord(r.Word)
			a.readFrom(v)
			if c != nil {
				c.stdinFile = &v
			}
		case syntax.Hdoc, syntax.DashHdoc:
			if r.Hdoc == nil {
				continue
			}
			v := a.heredoc(r.Hdoc, wordQuoted(r.Word))
			if c != nil {
				c.body = &v
			}
		case syntax.WordHdoc:
			v := a.evalWord(r.Word)
			v.s += "\n"
			if c != nil {
				c.body = &v
			}
		}
	}
}

func wordQuoted(w *syntax.Word) bool {
	if w == nil {
		return false
	}
	for _, p := range w.Parts {
		switch p.(type) {
		case *syntax.SglQuoted, *syntax.DblQuoted:
			return true
		case *syntax.Lit:
			if strings.Contains(p.(*syntax.Lit).Value, `\`) {
				return true
			}
		}
	}
	return false
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

const (
	delInside deleteKind = iota
	delBuild
	delProjectContents // a glob over the project root's entries
	delOutside
)

// substsIn analyses every substitution inside node (arithmetic, [[ … ]],
// parameter expansions' words).
func (a *analyzer) substsIn(node syntax.Node) *result {
	r := newResult()
	syntax.Walk(node, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.CmdSubst:
			r.merge(a.substitution(n.Stmts))
			return false
		case *syntax.ProcSubst:
			r.merge(a.substitution(n.Stmts))
			return false
		}
		return true
	})
	return r
}

// forkBomb recognises a function that starts copies of itself in the
// background or through a pipe, :(){ :|:& };: and its renamings.
func forkBomb(f *syntax.FuncDecl) bool {
	name := ""
	if f.Name != nil {
		name = f.Name.Value
	}
	selfCalls, spreads := 0, false
	syntax.Walk(f.Body, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.CallExpr:
			if len(n.Args) > 0 && n.Args[0].Lit() == name {
				selfCalls++
			}
		case *syntax.Stmt:
			spreads = spreads || n.Background
		case *syntax.BinaryCmd:
			spreads = spreads || n.Op == syntax.Pipe
		}
		return true
	})
	return name != "" && selfCalls >= 2 && spreads
}
