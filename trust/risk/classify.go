package risk

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// Tool families by lower-cased name, across Claude Code, Codex CLI, Gemini
// CLI and Cursor.
var (
	execTools = set("bash", "exec_command", "shell", "run_shell_command", "local_shell",
		"container.exec", "run_terminal_cmd", "execute_command", "terminal")
	readTools = set("read", "read_file", "view", "read_many_files", "glob", "grep", "ls",
		"list_directory", "search_file_content", "notebookread", "list_dir", "file_search",
		"grep_search", "codebase_search", "find_files")
	writeTools = set("write", "edit", "multiedit", "write_file", "replace", "notebookedit",
		"create_file", "str_replace_editor", "str_replace_based_edit_tool", "edit_file",
		"search_replace", "apply_patch", "delete_file")
	webTools   = set("webfetch", "websearch", "web_search", "fetch", "web_fetch", "google_web_search")
	agentTools = set("task", "agent")
	// Bookkeeping tools change nothing outside the agent's own plan.
	planTools = set("todowrite", "todoread", "update_plan", "exitplanmode", "exit_plan_mode")
	// MCP tools known to be read-only.
	knownMCP = set("mcp__ide__getdiagnostics")
)

// pathKeys are the input fields file tools name their file or directory in.
var pathKeys = []string{"file_path", "path", "absolute_path", "notebook_path", "paths",
	"file", "filename", "target_file", "dir_path", "directory", "target_directory"}

// Classify judges one tool action: what it does (categories, signals), how
// much harm it could cause (risk) and how sensitive its content is.
func Classify(act Action) Assessment {
	a := newAnalyzer(act.Cwd, "", act.Home)
	r := a.res
	tool := strings.ToLower(act.Tool)
	cmd, isCmd, workdir := commandOf(act.Input)
	switch {
	case isCmd || execTools[tool]:
		r.cat(Exec)
		r.bump(riskRoutine)
		if isCmd {
			sa := analyzeShell(cmd, act.Cwd, workdir, act.Home)
			for _, s := range sa.Signals {
				r.signals[s] = true
			}
			r.cat(sa.Categories...)
			r.bump(sa.Risk)
		}
		if strings.HasPrefix(tool, "mcp__") && !knownMCP[tool] {
			r.cat(Network)
			r.bump(riskElevated)
		}
	case readTools[tool]:
		r.cat(Read)
		for _, p := range toolPaths(act.Input) {
			a.readPath(p)
		}
	case writeTools[tool]:
		a.writeTool(tool, act.Input)
	case webTools[tool]:
		r.cat(Network)
		r.bump(riskElevated)
	case planTools[tool]:
	case agentTools[tool]:
		r.cat(Exec)
		r.bump(riskRoutine)
	case knownMCP[tool]:
		r.cat(Read)
	case strings.HasPrefix(tool, "mcp__"):
		r.cat(Exec, Network)
		r.bump(riskElevated)
	default:
		// An unknown tool could do anything its name does not say.
		r.cat(Exec)
		r.bump(riskElevated)
	}
	findings := []Finding{}
	scanValue(&findings, "tool_input", act.Input, 0)
	as := Assessment{
		Risk:        min(max(r.risk, riskNone), riskDestructive),
		Categories:  sortedKeys(r.cats),
		Signals:     sortedKeys(r.signals),
		Findings:    findings,
		Sensitivity: Public,
	}
	for _, f := range findings {
		switch {
		case strings.HasPrefix(f.Kind, "secret."):
			as.Sensitivity = Secret
		case strings.HasPrefix(f.Kind, "pii.") && as.Sensitivity == Public:
			as.Sensitivity = Personal
		}
	}
	return as
}

// commandOf finds a shell command in a tool's input: a string, or an argv
// array as Codex sends it. ["bash", "-lc", X] is X.
func commandOf(in map[string]any) (cmd string, ok bool, workdir string) {
	for _, k := range []string{"workdir", "cwd", "directory"} {
		if s, isStr := in[k].(string); isStr && s != "" {
			workdir = s
			break
		}
	}
	var argv []string
	switch c := in["command"].(type) {
	case string:
		return c, true, workdir
	case []string:
		argv = c
	case []any:
		for _, e := range c {
			if s, isStr := e.(string); isStr {
				argv = append(argv, s)
			} else {
				argv = append(argv, fmt.Sprint(e))
			}
		}
	default:
		return "", false, workdir
	}
	if len(argv) == 0 {
		return "", false, workdir
	}
	if len(argv) >= 3 {
		switch path.Base(argv[0]) {
		case "sh", "bash", "zsh", "dash", "ksh":
			if f := argv[1]; strings.HasPrefix(f, "-") && !strings.HasPrefix(f, "--") && strings.Contains(f, "c") {
				return argv[2], true, workdir
			}
		}
	}
	quoted := make([]string, len(argv))
	for i, s := range argv {
		q, err := syntax.Quote(s, syntax.LangBash)
		if err != nil {
			// Text bash cannot quote (a NUL byte) cannot be a real argument.
			q = "'" + strings.ReplaceAll(strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), ""), "'", `'\''`) + "'"
		}
		quoted[i] = q
	}
	return strings.Join(quoted, " "), true, workdir
}

func toolPaths(in map[string]any) []string {
	var out []string
	for _, k := range pathKeys {
		switch v := in[k].(type) {
		case string:
			if v != "" {
				out = append(out, v)
			}
		case []any:
			for _, e := range v {
				if s, ok := e.(string); ok && s != "" {
					out = append(out, s)
				}
			}
		case []string:
			out = append(out, v...)
		}
	}
	return out
}

// toolWord turns a path a file tool names into a word: no shell expansion,
// but a leading ~ still means home to the tools that accept it.
func (a *analyzer) toolWord(p string) wordVal {
	p = strings.ReplaceAll(p, unknownMark, "")
	if p == "~" || strings.HasPrefix(p, "~/") {
		p = a.home + p[1:]
	}
	return literal(p)
}

func (a *analyzer) readPath(p string) {
	v := a.toolWord(p)
	if a.credentialWord(v.s) {
		a.credentialRead()
		return
	}
	if abs, ok := a.resolve(v.s); ok && a.where(abs) == outside {
		// Reading outside the project is harmless but worth telling apart.
		a.res.bump(riskRoutine)
	}
}

func (a *analyzer) writeTool(tool string, in map[string]any) {
	a.res.cat(Write)
	a.res.bump(riskRoutine)
	if tool == "delete_file" {
		for _, p := range toolPaths(in) {
			a.remove([]wordVal{a.toolWord(p)}, false)
		}
		return
	}
	if tool == "apply_patch" {
		for _, k := range []string{"input", "patch", "content"} {
			if s, ok := in[k].(string); ok {
				a.patch(s)
			}
		}
	}
	for _, p := range toolPaths(in) {
		a.writeTo(a.toolWord(p))
	}
}

// patch judges a Codex apply_patch envelope by the files it names.
func (a *analyzer) patch(s string) {
	for line := range strings.Lines(s) {
		line = strings.TrimRight(line, "\r\n")
		for _, pre := range []string{"*** Add File: ", "*** Update File: ", "*** Move to: "} {
			if p, ok := strings.CutPrefix(line, pre); ok {
				a.writeTo(a.toolWord(strings.TrimSpace(p)))
			}
		}
		if p, ok := strings.CutPrefix(line, "*** Delete File: "); ok {
			a.remove([]wordVal{a.toolWord(strings.TrimSpace(p))}, false)
		}
	}
}

// scanValue scans every string in a tool's input, naming each by its JSON
// path (tool_input.edits[0].new_string).
func scanValue(out *[]Finding, where string, v any, depth int) {
	if depth > 32 || len(*out) >= maxFindings {
		return
	}
	switch v := v.(type) {
	case string:
		*out = append(*out, ScanContent(where, v)...)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			scanValue(out, where+"."+k, v[k], depth+1)
		}
	case []any:
		for i, e := range v {
			scanValue(out, where+"["+strconv.Itoa(i)+"]", e, depth+1)
		}
	case []string:
		for i, e := range v {
			scanValue(out, where+"["+strconv.Itoa(i)+"]", e, depth+1)
		}
	}
	if len(*out) > maxFindings {
		*out = (*out)[:maxFindings]
	}
}
