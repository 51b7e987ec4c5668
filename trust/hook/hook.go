// Package hook speaks the hook protocols of AI coding agents.
//
// Before an agent runs a tool it calls a hook (`mirror hook <agent>` as a
// command, or for Claude Code optionally an HTTP hook). This package turns the
// agent's payload into a normalised Request, and renders the kernel's
// ALLOW / ASK / BLOCK back into the agent's own protocol: stdout JSON, stderr
// text and an exit code. It knows nothing about policy; it only translates.
//
// The wire facts each agent was checked against, with sources, are in
// docs/HOOKS.md.
package hook

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Agent names a coding agent whose hook protocol this package speaks.
type Agent string

// The agents MirrorOS governs through hooks. The string is the argument of
// `mirror hook <agent>`.
const (
	ClaudeCode Agent = "claude-code"
	Codex      Agent = "codex"
	Gemini     Agent = "gemini"
	Cursor     Agent = "cursor"
)

// Agents lists every supported agent, in a stable order.
func Agents() []Agent { return []Agent{ClaudeCode, Codex, Gemini, Cursor} }

// ParseAgent maps the name used on the command line to an Agent.
func ParseAgent(s string) (Agent, error) {
	for _, a := range Agents() {
		if s == string(a) {
			return a, nil
		}
	}
	return "", fmt.Errorf("%w: %q (want claude-code, codex, gemini or cursor)", ErrUnknownAgent, s)
}

// Phase says whether the tool is about to run (Pre, a decision is needed) or
// has run (Post, recording only).
type Phase string

// The two phases of a tool call.
const (
	Pre  Phase = "pre"
	Post Phase = "post"
)

// Request is an agent's hook call, normalised.
type Request struct {
	Agent     Agent
	Phase     Phase
	Event     string // the agent's own event name, e.g. "PreToolUse", "BeforeTool", "beforeShellExecution"
	SessionID string
	Cwd       string
	// Tool is the tool name as the agent names it: "Bash" (Claude Code, and
	// Codex for its shell tools), "apply_patch", "run_shell_command" (Gemini),
	// "Shell" (Cursor), MCP names such as "mcp__github__create_issue".
	Tool string
	// Input is the tool input. Numbers are json.Number, so they keep the exact
	// text the agent sent. For Cursor's shell events it is {"command": …}.
	Input map[string]any
	// Result is the tool's response in the Post phase, if the payload has one.
	Result json.RawMessage
	// Raw is the payload exactly as received.
	Raw json.RawMessage
}

// MaxPayload is the largest payload Parse accepts, in bytes.
const MaxPayload = 1 << 20

// HookTimeout is the timeout written into every settings snippet. An agent
// that times a hook out lets the tool run, so `mirror hook` must answer —
// with FailClosed at the latest — well before it.
const HookTimeout = 600 * time.Second

// Errors returned by Parse, for mapping to exit codes or HTTP statuses.
var (
	ErrUnknownAgent   = errors.New("unknown agent")
	ErrInvalidPayload = errors.New("invalid hook payload")
	ErrTooLarge       = errors.New("hook payload too large")
)

// Decision is the kernel's verdict on a tool call.
type Decision string

// The three verdicts, strongest last: BLOCK wins over ASK over ALLOW.
const (
	Allow Decision = "ALLOW"
	Ask   Decision = "ASK"
	Block Decision = "BLOCK"
)

// Response is what the hook prints and how it exits. Over HTTP (Claude Code's
// http hooks) Stdout is the response body, always with status 200: Claude Code
// lets the tool run on any non-2xx answer.
type Response struct {
	Stdout   []byte // JSON for the agent (may be empty where the protocol uses only exit codes)
	Stderr   string // shown to the user/model where the protocol does so
	ExitCode int
}

// SupportsAsk reports whether the agent's protocol has a native "ask the
// user" that MirrorOS can rely on. Only Claude Code's is documented and
// honoured everywhere; see docs/HOOKS.md for why Gemini's and Cursor's are not
// trusted. For the others an ASK must be resolved through the kernel's
// approval queue before answering.
func SupportsAsk(a Agent) bool { return a == ClaudeCode }
