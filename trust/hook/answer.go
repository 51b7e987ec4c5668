package hook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// askViaQueue is appended when an ASK reaches an agent without a native ask.
const askViaQueue = " (approval required; ask via the kernel queue)"

// Answer renders a decision in the agent's protocol for a Pre-phase request.
// reason is a human sentence; it is shown prefixed with "MirrorOS: ".
//
// For agents without a native ask (see SupportsAsk) the caller must resolve an
// ASK through the kernel queue first; an ASK passed anyway is rendered as a
// deny whose reason ends in "(approval required; ask via the kernel queue)".
// A decision other than ALLOW, ASK or BLOCK is rendered as a deny. A
// Post-phase request gets Acknowledge: the tool has already run.
func Answer(req Request, d Decision, reason string) Response {
	if req.Phase == Post {
		return Acknowledge(req)
	}
	msg := message(reason, d)
	switch d {
	case Allow, Block:
	case Ask:
		if !SupportsAsk(req.Agent) {
			d, msg = Block, msg+askViaQueue
		}
	default:
		msg = fmt.Sprintf("MirrorOS: the kernel answered %q, which is not a decision, so the action is blocked.", string(d))
		d = Block
	}
	switch req.Agent {
	case ClaudeCode:
		return Response{Stdout: claudePre(d, msg)}
	case Codex:
		if d == Allow {
			// Codex refuses permissionDecision "allow" (the hook is marked
			// failed); an empty object lets its own approval flow go on.
			return Response{Stdout: []byte("{}\n")}
		}
		return Response{Stdout: codexDeny(msg)}
	case Gemini:
		if d == Allow {
			return Response{Stdout: render(geminiOutput{Decision: "allow"})}
		}
		return Response{Stdout: render(geminiOutput{Decision: "deny", Reason: msg})}
	case Cursor:
		if d == Allow {
			return Response{Stdout: render(cursorOutput{Permission: "allow"})}
		}
		return Response{Stdout: cursorDeny(msg)}
	}
	return FailClosed(req.Agent, Pre, fmt.Errorf("%w: %q", ErrUnknownAgent, req.Agent))
}

// FailClosed is the answer when the kernel cannot be asked or anything goes
// wrong. In the Pre phase it denies: the deny JSON on stdout (which the agent
// reads when it is not exiting 2, and which is the body of an HTTP hook's
// answer), the reason on stderr, and exit code 2, which every supported agent
// treats as "block, stderr is the reason". In the Post phase the tool has run;
// the same channels tell the model the action was not recorded, and Gemini
// also withholds the tool's result from the model.
func FailClosed(agent Agent, phase Phase, err error) Response {
	why := "unknown error"
	if err != nil {
		why = oneLine(err.Error())
	}
	msg := "MirrorOS could not decide on this action, so it is blocked: " + why
	if phase == Post {
		msg = "MirrorOS could not record this action: " + why
	}
	r := Response{Stderr: msg + "\n", ExitCode: 2}
	if phase == Post {
		switch agent {
		case ClaudeCode, Codex:
			r.Stdout = render(blockOutput{Decision: "block", Reason: msg})
		case Gemini:
			r.Stdout = render(geminiOutput{Decision: "deny", Reason: msg})
		case Cursor:
			r.Stdout = []byte("{}\n")
		}
		return r
	}
	switch agent {
	case ClaudeCode:
		r.Stdout = claudePre(Block, msg)
	case Codex:
		r.Stdout = codexDeny(msg)
	case Gemini:
		r.Stdout = render(geminiOutput{Decision: "deny", Reason: msg})
	case Cursor:
		r.Stdout = cursorDeny(msg)
	}
	return r
}

// Acknowledge is the Post-phase answer (recording only): an empty JSON
// object, exit 0, which every supported agent reads as "nothing to add". On a
// Pre-phase request it means "no opinion" and must not be used to enforce.
func Acknowledge(req Request) Response {
	return Response{Stdout: []byte("{}\n")}
}

// message is the sentence shown to the model or user.
func message(reason string, d Decision) string {
	reason = oneLine(reason)
	if reason == "" {
		switch d {
		case Allow:
			reason = "allowed by policy."
		case Ask:
			reason = "this action needs approval."
		default:
			reason = "blocked by policy."
		}
	}
	if strings.HasPrefix(reason, "MirrorOS") {
		return reason
	}
	return "MirrorOS: " + reason
}

// oneLine collapses whitespace runs, newlines included, so a reason stays one
// readable line on stderr and in the agent's UI.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Wire shapes. Field order is the rendering order.
type claudePreOutput struct {
	HookSpecificOutput claudePreSpecific `json:"hookSpecificOutput"`
}

type claudePreSpecific struct {
	HookEventName            string `json:"hookEventName"`
	PermissionDecision       string `json:"permissionDecision"`
	PermissionDecisionReason string `json:"permissionDecisionReason"`
}

type blockOutput struct {
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
}

type geminiOutput struct {
	Decision string `json:"decision"`
	Reason   string `json:"reason,omitempty"`
}

// cursorOutput carries both spellings of the messages: current Cursor
// documents user_message/agent_message, its first hook release documented
// userMessage/agentMessage, and both ignore keys they do not know.
type cursorOutput struct {
	Permission        string `json:"permission"`
	UserMessage       string `json:"user_message,omitempty"`
	AgentMessage      string `json:"agent_message,omitempty"`
	UserMessageCamel  string `json:"userMessage,omitempty"`
	AgentMessageCamel string `json:"agentMessage,omitempty"`
}

func claudePre(d Decision, msg string) []byte {
	word := map[Decision]string{Allow: "allow", Ask: "ask", Block: "deny"}[d]
	return render(claudePreOutput{claudePreSpecific{
		HookEventName:            "PreToolUse",
		PermissionDecision:       word,
		PermissionDecisionReason: msg,
	}})
}

// codexDeny is Claude Code's deny shape, which Codex parses strictly: no other
// keys, and a non-empty reason.
func codexDeny(msg string) []byte { return claudePre(Block, msg) }

func cursorDeny(msg string) []byte {
	return render(cursorOutput{
		Permission:        "deny",
		UserMessage:       msg,
		AgentMessage:      msg,
		UserMessageCamel:  msg,
		AgentMessageCamel: msg,
	})
}

// render encodes one JSON line without HTML escaping, so reasons stay
// readable (">" rather than "\u003e").
func render(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only fixed structs of strings are rendered, so this cannot happen;
		// if it did, a panic exits 2, which every agent treats as a block.
		panic(err)
	}
	return b.Bytes()
}
