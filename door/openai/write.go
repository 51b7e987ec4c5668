package openai

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/mirroros/mirror/bus"
	"github.com/mirroros/mirror/door"
)

// Response wire shapes.

type outResponse struct {
	ID      string      `json:"id"`
	Object  string      `json:"object"`
	Created int64       `json:"created"`
	Model   string      `json:"model"`
	Choices []outChoice `json:"choices"`
	Usage   *outUsage   `json:"usage,omitempty"`
}

type outChoice struct {
	Index        int             `json:"index"`
	Message      outMessage      `json:"message"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

type outMessage struct {
	Role      string        `json:"role"`
	Content   *string       `json:"content"`
	Refusal   *string       `json:"refusal"`
	ToolCalls []outToolCall `json:"tool_calls,omitempty"`
}

type outToolCall struct {
	Index    *int        `json:"index,omitempty"` // stream deltas only
	ID       string      `json:"id,omitempty"`
	Type     string      `json:"type,omitempty"`
	Function outFunction `json:"function"`
}

type outFunction struct {
	Name      *string `json:"name,omitempty"`
	Arguments string  `json:"arguments"`
}

type outUsage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

type outChunk struct {
	ID      string           `json:"id"`
	Object  string           `json:"object"`
	Created int64            `json:"created"`
	Model   string           `json:"model"`
	Choices []outChunkChoice `json:"choices"`
	Usage   *outUsage        `json:"usage,omitempty"`
}

type outChunkChoice struct {
	Index        int             `json:"index"`
	Delta        outDelta        `json:"delta"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

type outDelta struct {
	Role      string        `json:"role,omitempty"`
	Content   *string       `json:"content,omitempty"`
	ToolCalls []outToolCall `json:"tool_calls,omitempty"`
}

type outError struct {
	Error outErrorBody `json:"error"`
}

type outErrorBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

var jsonNull = json.RawMessage("null")

// newID returns prefix followed by a random, URL-safe suffix.
func newID(prefix string) string { return prefix + rand.Text() }

// marshal encodes v without HTML escaping (models write "<", ">" and "&").
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only unencodable values (NaN, channels) fail; none are built here.
		return []byte(`{"error":{"message":"internal encoding error","type":"server_error","param":null,"code":null}}`)
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

func usageOf(u bus.Usage) *outUsage {
	o := &outUsage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens,
		TotalTokens: u.PromptTokens + u.CompletionTokens}
	o.PromptTokensDetails.CachedTokens = u.CachedTokens
	return o
}

// finishReason maps a bus stop reason onto OpenAI's; an answer that called
// tools ends with "tool_calls" unless it was cut short or filtered.
func finishReason(s bus.StopReason, toolCalls bool) string {
	switch s {
	case bus.StopMaxTokens:
		return "length"
	case bus.StopFiltered:
		return "content_filter"
	}
	if toolCalls {
		return "tool_calls"
	}
	return "stop"
}

// argumentsText is function.arguments on the wire: a string holding JSON.
// A bus adapter keeps unparseable argument text as a JSON string; that
// text is given back as it was.
func argumentsText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "{}"
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
}

// WriteResponse writes a whole answer as a chat.completion object. model
// is the name the client asked for.
func WriteResponse(w http.ResponseWriter, model string, resp bus.Response) {
	msg := outMessage{Role: "assistant"}
	for i, tc := range resp.Message.ToolCalls {
		id := tc.ID
		if id == "" {
			id = "call_" + strconv.Itoa(i) + "_" + rand.Text()[:8]
		}
		name := tc.Name
		msg.ToolCalls = append(msg.ToolCalls, outToolCall{ID: id, Type: "function",
			Function: outFunction{Name: &name, Arguments: argumentsText(tc.Arguments)}})
	}
	text := resp.Message.Text()
	if text != "" || len(msg.ToolCalls) == 0 {
		msg.Content = &text
	}
	out := outResponse{
		ID:      newID("chatcmpl-"),
		Object:  "chat.completion",
		Created: time.Now().Unix(),
		Model:   model,
		Choices: []outChoice{{Index: 0, Message: msg, Logprobs: jsonNull,
			FinishReason: finishReason(resp.Stop, len(msg.ToolCalls) > 0)}},
		Usage: usageOf(resp.Usage),
	}
	body := marshal(out)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// errorType maps an HTTP status onto OpenAI's error types.
func errorType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusForbidden:
		return "permission_error"
	case status == http.StatusNotFound:
		return "not_found_error"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status == http.StatusPaymentRequired:
		return "insufficient_quota"
	case status >= 500:
		return "server_error"
	default:
		return "invalid_request_error"
	}
}

func errorBody(status int, code, message string) []byte {
	e := outErrorBody{Message: message, Type: errorType(status)}
	if code != "" {
		e.Code = &code
	}
	return marshal(outError{Error: e})
}

// WriteError writes {"error":{"message","type","param":null,"code"}} with
// the given status; type follows the status as OpenAI's does, and an empty
// code is written as null.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	body := errorBody(status, code, message)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// streamFailure classifies an error that ended a stream: the status it
// would have had, and a snake_case code.
func streamFailure(err error) (status int, code, msg string) {
	msg = err.Error()
	var de *door.Error
	switch {
	case errors.As(err, &de):
		return de.Status, de.Code, de.Message
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return http.StatusBadGateway, "stream_interrupted", "the model's stream ended before completion"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "timeout", msg
	case errors.Is(err, context.Canceled):
		return http.StatusInternalServerError, "canceled", msg
	}
	if be, ok := bus.AsError(err); ok {
		status = http.StatusBadGateway
		switch be.Kind {
		case bus.RateLimited:
			status = http.StatusTooManyRequests
		case bus.BadRequest:
			status = http.StatusBadRequest
		}
		return status, "upstream_" + string(be.Kind), msg
	}
	return http.StatusInternalServerError, "server_error", msg
}

// sse writes SSE data events, flushing after each.
type sse struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	err error
}

func (s *sse) data(b []byte) error {
	if s.err != nil {
		return s.err
	}
	buf := make([]byte, 0, len(b)+8)
	buf = append(buf, "data: "...)
	buf = append(buf, b...)
	buf = append(buf, "\n\n"...)
	if _, err := s.w.Write(buf); err != nil {
		s.err = err
		return err
	}
	if err := s.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.err = err
	}
	return s.err
}

// WriteStream writes a streamed answer as Server-Sent Events of
// chat.completion.chunk objects: a first chunk with the assistant role,
// text and tool-call deltas, a chunk with finish_reason, then (with
// includeUsage) a chunk with no choices and the usage, then "data: [DONE]".
// model is the name the client asked for. WriteStream closes s.
//
// If the bus stream fails, the failure is written as an OpenAI error event
// ({"error":{...}}) and the stream ends without [DONE], so the client sees
// an error rather than a truncated answer; that error is returned. A
// failure to write to the client is returned too.
func WriteStream(w http.ResponseWriter, model string, s bus.Stream, includeUsage bool) error {
	defer s.Close()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
	w.WriteHeader(http.StatusOK)
	out := &sse{w: w, rc: http.NewResponseController(w)}

	id, created := newID("chatcmpl-"), time.Now().Unix()
	chunk := func(d outDelta, finish *string) []byte {
		c := outChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: model,
			Choices: []outChunkChoice{{Index: 0, Delta: d, Logprobs: jsonNull, FinishReason: finish}}}
		b := marshal(c)
		if includeUsage {
			// OpenAI sends "usage": null on every chunk but the last.
			b = append(b[:len(b)-1], `,"usage":null}`...)
		}
		return b
	}

	if err := out.data(chunk(outDelta{Role: "assistant"}, nil)); err != nil {
		return err
	}
	started := map[int]bool{} // tool-call indexes already announced
	for {
		ev, err := s.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // EOF before Done: the answer is incomplete
			}
			status, code, msg := streamFailure(err)
			if werr := out.data(errorBody(status, code, msg)); werr != nil {
				return errors.Join(err, werr)
			}
			return err
		}
		switch ev.Type {
		case bus.TextDelta:
			if ev.Text == "" {
				continue
			}
			text := ev.Text
			if err := out.data(chunk(outDelta{Content: &text}, nil)); err != nil {
				return err
			}
		case bus.ToolCallDelta:
			if ev.Index < 0 {
				continue
			}
			idx := ev.Index
			tc := outToolCall{Index: &idx, Function: outFunction{Arguments: ev.ArgumentsDelta}}
			if !started[idx] {
				started[idx] = true
				tc.ID = ev.ID
				if tc.ID == "" {
					tc.ID = "call_" + strconv.Itoa(idx) + "_" + rand.Text()[:8]
				}
				tc.Type = "function"
				name := ev.Name
				tc.Function.Name = &name
			} else if ev.ArgumentsDelta == "" {
				continue
			}
			if err := out.data(chunk(outDelta{ToolCalls: []outToolCall{tc}}, nil)); err != nil {
				return err
			}
		case bus.Done:
			finish := finishReason(ev.Stop, len(started) > 0)
			if err := out.data(chunk(outDelta{}, &finish)); err != nil {
				return err
			}
			if includeUsage {
				c := outChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: model,
					Choices: []outChunkChoice{}, Usage: usageOf(ev.Usage)}
				if err := out.data(marshal(c)); err != nil {
					return err
				}
			}
			return out.data([]byte("[DONE]"))
		}
	}
}
