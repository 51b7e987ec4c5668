// Package bus is the model bus: interchangeable providers behind one
// normalised conversation shape. Nothing outside a provider adapter knows
// which vendor answered.
//
// Adapters live in sibling packages (bus/openai, bus/anthropic, bus/ollama,
// bus/gemini); each speaks its vendor's wire protocol with net/http and
// passes the shared contract suite in bus/bustest against a fake upstream
// that speaks the same protocol.
package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Role of a message's author.
type Role string

// Roles.
const (
	System    Role = "system"
	User      Role = "user"
	Assistant Role = "assistant"
	Tool      Role = "tool" // a tool's result, answering a ToolCall
)

// PartType says what a content part holds.
type PartType string

// Part types.
const (
	TextPart  PartType = "text"
	ImagePart PartType = "image"
	// VendorPart is a content block of one vendor's protocol that the bus
	// does not model — Anthropic's thinking, redacted_thinking and server
	// tool blocks — kept verbatim in Raw so that a conversation going back
	// to that vendor carries it unchanged (Anthropic refuses a tool-use
	// turn whose thinking block, with its signature, was dropped). Every
	// other vendor's adapter leaves it out.
	VendorPart PartType = "vendor"
)

// Vendors of VendorParts and VendorBlock events.
const VendorAnthropic = "anthropic"

// Part is one piece of a message's content.
type Part struct {
	Type      PartType        `json:"type"`
	Text      string          `json:"text,omitempty"`
	MediaType string          `json:"media_type,omitempty"` // for images, e.g. "image/png"
	Data      []byte          `json:"data,omitempty"`       // image bytes (inline)
	URL       string          `json:"url,omitempty"`        // or an image URL, where the provider accepts one
	Vendor    string          `json:"vendor,omitempty"`     // VendorPart: whose protocol Raw is in
	Raw       json.RawMessage `json:"raw,omitempty"`        // VendorPart: the block, verbatim
}

// ToolCall is a model's request to call a tool.
type ToolCall struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"` // a JSON object
}

// Message is one turn of a conversation.
type Message struct {
	Role       Role       `json:"role"`
	Content    []Part     `json:"content,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`   // Assistant: calls it made
	ToolCallID string     `json:"tool_call_id,omitempty"` // Tool: the call this answers
	Name       string     `json:"name,omitempty"`         // Tool: the tool's name (some providers need it)
}

// Text returns the concatenated text parts of a message.
func (m Message) Text() string {
	s := ""
	for _, p := range m.Content {
		if p.Type == TextPart {
			s += p.Text
		}
	}
	return s
}

// ToolSpec describes a tool the model may call.
type ToolSpec struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"` // JSON Schema of the arguments
}

// Request is one chat call, normalised.
type Request struct {
	Model       string    // the provider's own model id (no "provider/" prefix)
	System      string    // system prompt; adapters place it where their protocol wants it
	Messages    []Message // user/assistant/tool turns
	Tools       []ToolSpec
	ToolChoice  string // "", "auto", "none", "required", or a tool name
	MaxTokens   int    // 0: the adapter's default
	Temperature *float64
	TopP        *float64
	Stop        []string
	// Extra carries vendor fields the bus does not model (e.g. Anthropic's
	// "thinking"); an adapter passes through only the fields of its own
	// protocol and drops the rest.
	Extra map[string]json.RawMessage
}

// StopReason says why generation ended.
type StopReason string

// Stop reasons.
const (
	StopEnd       StopReason = "end"        // natural end of turn
	StopMaxTokens StopReason = "max_tokens" // ran out of tokens
	StopToolUse   StopReason = "tool_use"   // wants tool results
	StopSequence  StopReason = "stop_sequence"
	StopFiltered  StopReason = "content_filter"
	StopPaused    StopReason = "paused" // a provider paused a long server-side turn; send it back to continue
	StopOther     StopReason = "other"
)

// Usage is what a call consumed. PromptTokens includes cached ones;
// CachedTokens says how many of them were served from a cache (providers
// disagree on this: adapters normalise to "included").
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	CachedTokens     int `json:"cached_tokens"`
}

// Response is a whole answer.
type Response struct {
	Model   string     // the model that answered, as the provider names it
	Message Message    // Role Assistant: text parts and/or tool calls
	Stop    StopReason //
	Usage   Usage
}

// EventType says what a stream event carries.
type EventType string

// Stream events. A stream is: zero or more TextDelta, ToolCallDelta and
// VendorBlock events, then exactly one Done (with the stop reason and
// usage), or an error from Next.
const (
	TextDelta     EventType = "text_delta"
	ToolCallDelta EventType = "tool_call_delta"
	VendorBlock   EventType = "vendor_block" // one whole VendorPart, in answer order
	Done          EventType = "done"
)

// Event is one step of a streamed answer.
type Event struct {
	Type EventType
	Text string // TextDelta
	// VendorBlock: the block, complete, as Part (Type VendorPart).
	Block Part
	// ToolCallDelta: Index identifies the call within the answer; ID and
	// Name arrive with its first delta; ArgumentsDelta is a fragment of the
	// JSON arguments, to be concatenated in order.
	Index          int
	ID             string
	Name           string
	ArgumentsDelta string
	Stop           StopReason // Done
	Usage          Usage      // Done
	Model          string     // Done: the model that answered
}

// Stream is a streamed answer. Next returns io.EOF after Done has been
// returned; any other error ends the stream early.
type Stream interface {
	Next() (Event, error)
	Close() error
}

// Model is a model a provider offers.
type Model struct {
	ID      string `json:"id"`
	Local   bool   `json:"local"`             // runs on this machine (tier 0)
	Context int    `json:"context,omitempty"` // context window, if known
}

// Provider is one vendor endpoint.
type Provider interface {
	// Name is the provider's configured name, e.g. "ollama", "openai", "groq".
	Name() string
	Chat(ctx context.Context, req Request) (Response, error)
	ChatStream(ctx context.Context, req Request) (Stream, error)
	Models(ctx context.Context) ([]Model, error)
}

// Embedder is implemented by providers that offer embeddings.
type Embedder interface {
	Embed(ctx context.Context, model string, input []string) ([][]float32, Usage, error)
}

// Error is a provider failure, classified for routing. Message never holds
// a credential.
type Error struct {
	Provider   string
	Status     int           // HTTP status, 0 for transport errors
	Kind       ErrorKind     //
	RetryAfter time.Duration // from Retry-After, when given
	Message    string        // the provider's own error message, if any
}

// ErrorKind classifies failures the router acts on.
type ErrorKind string

// Error kinds.
const (
	RateLimited ErrorKind = "rate_limited" // 429: fall back, honour RetryAfter
	Unavailable ErrorKind = "unavailable"  // 5xx, connect error, timeout: fall back
	BadRequest  ErrorKind = "bad_request"  // 4xx the caller caused: do not fall back
	AuthFailed  ErrorKind = "auth_failed"  // 401/403: this provider is misconfigured
	Malformed   ErrorKind = "malformed"    // the provider answered something unparseable
)

func (e *Error) Error() string {
	s := fmt.Sprintf("%s: %s", e.Provider, e.Kind)
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Retryable reports whether another provider may be tried instead.
func (e *Error) Retryable() bool { return e.Kind == RateLimited || e.Kind == Unavailable }

// AsError returns err as a *Error if it is one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
