// Package door holds what the kernel's model front doors share. Each
// sibling package (door/openai, door/responses, door/anthropic,
// door/ollama) speaks one client-facing wire protocol: it parses a request
// into a Call and writes the bus's answer — whole, streamed, or an error —
// in that protocol's own shapes, so that unmodified clients (SDKs, coding
// agents) work against the kernel.
package door

import (
	"encoding/json"

	"github.com/mirroros/mirror/bus"
)

// Call is a parsed front-door request.
type Call struct {
	// Model is the name the client asked for: an alias, "provider/model",
	// or a bare vendor model name (e.g. "claude-sonnet-4-5" on the
	// Anthropic door), which the kernel resolves.
	Model   string
	Request bus.Request // Model left empty: the router fills it in
	Stream  bool
	// Raw is the request body as received, for the audit hash.
	Raw json.RawMessage
}

// Error is a request a door refuses before anything runs; the door writes
// it in its protocol's error shape.
type Error struct {
	Status  int    // HTTP status
	Code    string // snake_case, e.g. "invalid_request"
	Message string
}

func (e *Error) Error() string { return e.Message }

// Invalid is a 400 for a malformed request.
func Invalid(msg string) *Error {
	return &Error{Status: 400, Code: "invalid_request", Message: msg}
}

// MaxBody is the largest request body a door reads (agents send ~50 KB;
// long conversations with images can be large).
const MaxBody = 32 << 20
