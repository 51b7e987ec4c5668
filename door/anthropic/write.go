package anthropic

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/mirroros/mirror/bus"
)

// marshal encodes v without HTML escaping and without a trailing newline.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only our own types are encoded, and raw JSON in them is checked
		// first; keep the output well-formed regardless.
		return []byte(`{"type":"error","error":{"type":"api_error","message":"encoding failed"}}`)
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b := marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// newID returns prefix followed by 24 random hex digits.
func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// --- errors ---------------------------------------------------------------

// errorTypes are the Messages API's error types.
var errorTypes = map[string]bool{
	"invalid_request_error": true,
	"authentication_error":  true,
	"permission_error":      true,
	"not_found_error":       true,
	"request_too_large":     true,
	"rate_limit_error":      true,
	"billing_error":         true,
	"api_error":             true,
	"timeout_error":         true,
	"overloaded_error":      true,
}

// errorType picks the Messages API error type for an HTTP status.
func errorType(status int) string {
	switch status {
	case 400:
		return "invalid_request_error"
	case 401:
		return "authentication_error"
	case 402:
		return "billing_error"
	case 403:
		return "permission_error"
	case 404:
		return "not_found_error"
	case 413:
		return "request_too_large"
	case 429:
		return "rate_limit_error"
	case 503, 529:
		return "overloaded_error"
	case 504:
		return "timeout_error"
	}
	if status >= 400 && status < 500 {
		return "invalid_request_error"
	}
	return "api_error"
}

type wireErrorBody struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

type wireError struct {
	Type  string        `json:"type"` // "error"
	Error wireErrorBody `json:"error"`
}

// WriteError writes an error in the Messages API's shape:
// {"type":"error","error":{"type":…,"message":…}}. The error type follows
// status (400 invalid_request_error, 401 authentication_error, 402
// billing_error, 403 permission_error, 404 not_found_error, 413
// request_too_large, 429 rate_limit_error, 503/529 overloaded_error, 504
// timeout_error, other 5xx api_error); code is used instead when it is
// itself one of the API's error types.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	t := code
	if !errorTypes[t] {
		t = errorType(status)
	}
	writeJSON(w, status, wireError{Type: "error", Error: wireErrorBody{Type: t, Message: message}})
}

// --- count tokens ---------------------------------------------------------

// WriteCountTokens writes a count_tokens answer: {"input_tokens":N}.
func WriteCountTokens(w http.ResponseWriter, inputTokens int) {
	writeJSON(w, http.StatusOK, struct {
		InputTokens int `json:"input_tokens"`
	}{max(inputTokens, 0)})
}

// --- whole answers --------------------------------------------------------

type wireUsage struct {
	InputTokens              int `json:"input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
}

// usageOf converts bus usage: the bus counts cached tokens in PromptTokens,
// Anthropic's input_tokens excludes cache reads.
func usageOf(u bus.Usage) wireUsage {
	cached := max(u.CachedTokens, 0)
	return wireUsage{
		InputTokens:          max(u.PromptTokens-cached, 0),
		OutputTokens:         max(u.CompletionTokens, 0),
		CacheReadInputTokens: cached,
	}
}

type wireBlock struct {
	Type  string          `json:"type"`
	Text  *string         `json:"text,omitempty"`
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
	raw   json.RawMessage // a vendor block, written verbatim instead
}

func (b wireBlock) MarshalJSON() ([]byte, error) {
	if b.raw != nil {
		return b.raw, nil
	}
	type plain wireBlock
	return json.Marshal(plain(b))
}

// anthropicBlock returns p's block if p is an Anthropic vendor block that
// is a JSON object.
func anthropicBlock(p bus.Part) (json.RawMessage, bool) {
	if p.Type != bus.VendorPart || p.Vendor != bus.VendorAnthropic {
		return nil, false
	}
	var buf bytes.Buffer
	if json.Compact(&buf, p.Raw) != nil || buf.Len() == 0 || buf.Bytes()[0] != '{' {
		return nil, false
	}
	return buf.Bytes(), true
}

type wireMessage struct {
	ID           string      `json:"id"`
	Type         string      `json:"type"`
	Role         string      `json:"role"`
	Model        string      `json:"model"`
	Content      []wireBlock `json:"content"`
	StopReason   *string     `json:"stop_reason"`
	StopSequence *string     `json:"stop_sequence"`
	Usage        wireUsage   `json:"usage"`
}

// stopReason maps the bus's stop reason; an answer with tool calls that
// ended "naturally" is a tool_use stop, as Anthropic clients expect.
func stopReason(s bus.StopReason, hasTools bool) string {
	switch s {
	case bus.StopMaxTokens:
		return "max_tokens"
	case bus.StopToolUse:
		return "tool_use"
	case bus.StopSequence:
		return "stop_sequence"
	case bus.StopFiltered:
		return "refusal"
	case bus.StopPaused:
		return "pause_turn"
	}
	if hasTools {
		return "tool_use"
	}
	return "end_turn"
}

// toolInput returns a tool call's arguments as a JSON object: empty or
// null arguments become {}, and arguments that are not a JSON object are
// wrapped so the client still receives well-formed input.
func toolInput(args json.RawMessage) json.RawMessage {
	t := bytes.TrimSpace(args)
	if len(t) == 0 || string(t) == "null" {
		return json.RawMessage("{}")
	}
	if t[0] == '{' && json.Valid(t) {
		var buf bytes.Buffer
		if json.Compact(&buf, t) == nil {
			return buf.Bytes()
		}
	}
	return marshal(map[string]string{"_raw_arguments": string(args)})
}

// WriteResponse writes a whole answer as a Messages API message object.
// model is the name the client asked for.
func WriteResponse(w http.ResponseWriter, model string, resp bus.Response) {
	content := []wireBlock{}
	for _, p := range resp.Message.Content {
		if p.Type == bus.TextPart && p.Text != "" {
			text := p.Text
			content = append(content, wireBlock{Type: "text", Text: &text})
		}
		if raw, ok := anthropicBlock(p); ok {
			content = append(content, wireBlock{raw: raw})
		}
	}
	for _, tc := range resp.Message.ToolCalls {
		id := tc.ID
		if id == "" {
			id = newID("toolu_")
		}
		content = append(content, wireBlock{Type: "tool_use", ID: id, Name: tc.Name, Input: toolInput(tc.Arguments)})
	}
	stop := stopReason(resp.Stop, len(resp.Message.ToolCalls) > 0)
	writeJSON(w, http.StatusOK, wireMessage{
		ID:         newID("msg_"),
		Type:       "message",
		Role:       "assistant",
		Model:      model,
		Content:    content,
		StopReason: &stop,
		Usage:      usageOf(resp.Usage),
	})
}

// --- streamed answers -----------------------------------------------------

// sseWriter writes named server-sent events, flushing each.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (s *sseWriter) send(name string, v any) error {
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", name, marshal(v)); err != nil {
		return err
	}
	if err := s.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

type sseBlockStart struct {
	Type         string    `json:"type"`
	Index        int       `json:"index"`
	ContentBlock wireBlock `json:"content_block"`
}

type sseDelta struct {
	Type        string  `json:"type"`
	Text        *string `json:"text,omitempty"`
	PartialJSON *string `json:"partial_json,omitempty"`
	Thinking    *string `json:"thinking,omitempty"`
	Signature   *string `json:"signature,omitempty"`
}

type sseBlockDelta struct {
	Type  string   `json:"type"`
	Index int      `json:"index"`
	Delta sseDelta `json:"delta"`
}

type sseIndex struct {
	Type  string `json:"type"`
	Index int    `json:"index"`
}

type sseMessageDelta struct {
	Type  string `json:"type"`
	Delta struct {
		StopReason   string  `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
	} `json:"delta"`
	Usage wireUsage `json:"usage"`
}

type sseType struct {
	Type string `json:"type"`
}

// WriteStream writes a streamed answer as the Messages API's SSE sequence:
// message_start, ping, then per text run or tool call a content block
// (content_block_start, content_block_delta…, content_block_stop), then
// message_delta (stop reason and usage) and message_stop. model is the
// name the client asked for. If the stream fails before Done (including
// an end without Done), an `error` event is written and the error is
// returned; a failed write to the client is returned as is. WriteStream
// does not close s.
//
// Blocks are written one at a time, as Anthropic does; a provider that
// interleaves the arguments of parallel tool calls (a fragment for a call
// whose block has already been closed) ends the stream with an error
// event.
func WriteStream(w http.ResponseWriter, model string, s bus.Stream) error {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	out := &sseWriter{w: w, rc: http.NewResponseController(w)}

	start := struct {
		Type    string      `json:"type"`
		Message wireMessage `json:"message"`
	}{Type: "message_start", Message: wireMessage{
		ID: newID("msg_"), Type: "message", Role: "assistant", Model: model, Content: []wireBlock{},
	}}
	if err := out.send("message_start", start); err != nil {
		return err
	}
	if err := out.send("ping", sseType{Type: "ping"}); err != nil {
		return err
	}

	const (
		none = iota
		text
		tool
	)
	open, index := none, -1 // the open block's kind and index
	openTool := -1          // the bus index of the open tool call
	started := map[int]bool{}
	closeOpen := func() error {
		if open == none {
			return nil
		}
		open = none
		return out.send("content_block_stop", sseIndex{Type: "content_block_stop", Index: index})
	}
	fail := func(err error) error {
		msg := err.Error()
		if msg == "" {
			msg = "stream failed"
		}
		_ = out.send("error", wireError{Type: "error", Error: wireErrorBody{Type: "api_error", Message: msg}})
		return err
	}

	for {
		ev, err := s.Next()
		if errors.Is(err, io.EOF) {
			return fail(errors.New("stream ended before the answer was complete"))
		}
		if err != nil {
			return fail(err)
		}
		switch ev.Type {
		case bus.TextDelta:
			if ev.Text == "" {
				continue
			}
			if open != text {
				if err := closeOpen(); err != nil {
					return err
				}
				index++
				open = text
				empty := ""
				if err := out.send("content_block_start", sseBlockStart{Type: "content_block_start", Index: index, ContentBlock: wireBlock{Type: "text", Text: &empty}}); err != nil {
					return err
				}
			}
			t := ev.Text
			if err := out.send("content_block_delta", sseBlockDelta{Type: "content_block_delta", Index: index, Delta: sseDelta{Type: "text_delta", Text: &t}}); err != nil {
				return err
			}
		case bus.ToolCallDelta:
			if !(open == tool && openTool == ev.Index) {
				if started[ev.Index] {
					return fail(fmt.Errorf("provider interleaved the arguments of tool call %d after its block ended", ev.Index))
				}
				if err := closeOpen(); err != nil {
					return err
				}
				started[ev.Index] = true
				index++
				open, openTool = tool, ev.Index
				id := ev.ID
				if id == "" {
					id = newID("toolu_")
				}
				if err := out.send("content_block_start", sseBlockStart{Type: "content_block_start", Index: index, ContentBlock: wireBlock{Type: "tool_use", ID: id, Name: ev.Name, Input: json.RawMessage("{}")}}); err != nil {
					return err
				}
			}
			if ev.ArgumentsDelta == "" {
				continue
			}
			pj := ev.ArgumentsDelta
			if err := out.send("content_block_delta", sseBlockDelta{Type: "content_block_delta", Index: index, Delta: sseDelta{Type: "input_json_delta", PartialJSON: &pj}}); err != nil {
				return err
			}
		case bus.VendorBlock:
			raw, ok := anthropicBlock(ev.Block)
			if !ok {
				continue // another vendor's block
			}
			if err := closeOpen(); err != nil {
				return err
			}
			index++
			if err := writeVendorBlock(out, index, raw); err != nil {
				return err
			}
		case bus.Done:
			if err := closeOpen(); err != nil {
				return err
			}
			md := sseMessageDelta{Type: "message_delta", Usage: usageOf(ev.Usage)}
			md.Delta.StopReason = stopReason(ev.Stop, len(started) > 0)
			if err := out.send("message_delta", md); err != nil {
				return err
			}
			return out.send("message_stop", sseType{Type: "message_stop"})
		default:
			// Event types this door does not know are skipped.
		}
	}
}

// writeVendorBlock writes a whole Anthropic block the way the Messages API
// streams one: a thinking block opens empty and gets its text and
// signature as thinking_delta and signature_delta; a server tool call
// opens with empty input and gets it as one input_json_delta; anything
// else (redacted thinking, tool results) comes whole in its
// content_block_start.
func writeVendorBlock(out *sseWriter, index int, raw json.RawMessage) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return err
	}
	var kind string
	_ = json.Unmarshal(fields["type"], &kind)
	var deltas []sseDelta
	str := func(key string) *string {
		var v string
		if json.Unmarshal(fields[key], &v) != nil {
			return nil
		}
		return &v
	}
	switch {
	case kind == "thinking":
		thinking, sig := str("thinking"), str("signature")
		if thinking != nil && *thinking != "" {
			deltas = append(deltas, sseDelta{Type: "thinking_delta", Thinking: thinking})
		}
		if sig != nil && *sig != "" {
			deltas = append(deltas, sseDelta{Type: "signature_delta", Signature: sig})
		}
		fields["thinking"], fields["signature"] = json.RawMessage(`""`), json.RawMessage(`""`)
	case len(fields["input"]) > 0 && fields["input"][0] == '{' && string(fields["input"]) != "{}":
		in := string(fields["input"])
		deltas = append(deltas, sseDelta{Type: "input_json_delta", PartialJSON: &in})
		fields["input"] = json.RawMessage(`{}`)
	}
	startBlock := raw // sent whole, verbatim
	if len(deltas) > 0 || kind == "thinking" {
		var err error
		if startBlock, err = json.Marshal(fields); err != nil {
			return err
		}
	}
	if err := out.send("content_block_start", sseBlockStart{Type: "content_block_start", Index: index, ContentBlock: wireBlock{raw: startBlock}}); err != nil {
		return err
	}
	for _, d := range deltas {
		if err := out.send("content_block_delta", sseBlockDelta{Type: "content_block_delta", Index: index, Delta: d}); err != nil {
			return err
		}
	}
	return out.send("content_block_stop", sseIndex{Type: "content_block_stop", Index: index})
}
