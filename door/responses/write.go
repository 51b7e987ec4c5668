package responses

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/mirroros/mirror/bus"
)

// WriteError writes an OpenAI error: {"error":{"message","type","param":null,"code"}}.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	typ := "invalid_request_error"
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		typ = "authentication_error"
	case status == http.StatusTooManyRequests:
		typ = "rate_limit_error"
	case status >= 500:
		typ = "server_error"
	}
	if code == "" {
		code = typ
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"message": message, "type": typ, "param": nil, "code": code,
	}})
}

// WriteResponse writes a whole answer as a response object. model is the
// name to report (the client's); resp.Model stands in when it is empty.
func WriteResponse(w http.ResponseWriter, model string, resp bus.Response) {
	if model == "" {
		model = resp.Model
	}
	r := newResponse(model)
	if text := resp.Message.Text(); text != "" {
		r.Output = append(r.Output, messageItem(newID("msg_"), text, "completed"))
	}
	for _, tc := range resp.Message.ToolCalls {
		r.Output = append(r.Output, callItem(tc.ID, tc.Name, argText(tc.Arguments), "completed"))
	}
	r.finish(resp.Stop, resp.Usage)
	writeJSON(w, http.StatusOK, r)
}

// response is the Responses API response object.
type response struct {
	ID                string          `json:"id"`
	Object            string          `json:"object"`
	CreatedAt         int64           `json:"created_at"`
	Status            string          `json:"status"`
	Error             *respError      `json:"error"`
	IncompleteDetails *incomplete     `json:"incomplete_details"`
	Model             string          `json:"model"`
	Output            []outputItem    `json:"output"`
	ParallelToolCalls bool            `json:"parallel_tool_calls"`
	ToolChoice        string          `json:"tool_choice"`
	Tools             []any           `json:"tools"`
	Usage             *usage          `json:"usage"`
	Metadata          map[string]any  `json:"metadata"`
	Text              json.RawMessage `json:"text"`
}

type respError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type incomplete struct {
	Reason string `json:"reason"`
}

type usage struct {
	InputTokens        int `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int `json:"total_tokens"`
}

// outputItem is a message or a function_call output item; fields of the
// other kind are left out.
type outputItem struct {
	Type      string         `json:"type"`
	ID        string         `json:"id"`
	Status    string         `json:"status"`
	Role      string         `json:"role,omitempty"`
	Content   *[]contentPart `json:"content,omitempty"`
	CallID    string         `json:"call_id,omitempty"`
	Name      string         `json:"name,omitempty"`
	Arguments *string        `json:"arguments,omitempty"`
}

type contentPart struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	Annotations []any  `json:"annotations"`
}

func newResponse(model string) *response {
	return &response{
		ID: newID("resp_"), Object: "response", CreatedAt: time.Now().Unix(),
		Status: "in_progress", Model: model, Output: []outputItem{},
		ParallelToolCalls: true, ToolChoice: "auto", Tools: []any{},
		Metadata: map[string]any{}, Text: json.RawMessage(`{"format":{"type":"text"}}`),
	}
}

// finish sets the final status and usage.
func (r *response) finish(stop bus.StopReason, u bus.Usage) {
	r.Status = "completed"
	switch stop {
	case bus.StopMaxTokens:
		r.Status, r.IncompleteDetails = "incomplete", &incomplete{Reason: "max_output_tokens"}
	case bus.StopFiltered:
		r.Status, r.IncompleteDetails = "incomplete", &incomplete{Reason: "content_filter"}
	}
	r.Usage = toUsage(u)
}

func toUsage(u bus.Usage) *usage {
	out := &usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens,
		TotalTokens: u.PromptTokens + u.CompletionTokens}
	out.InputTokensDetails.CachedTokens = u.CachedTokens
	return out
}

func messageItem(id, text, status string) outputItem {
	parts := []contentPart{}
	if text != "" || status == "completed" {
		parts = append(parts, contentPart{Type: "output_text", Text: text, Annotations: []any{}})
	}
	return outputItem{Type: "message", ID: id, Status: status, Role: "assistant", Content: &parts}
}

func callItem(callID, name, args, status string) outputItem {
	if callID == "" {
		callID = newID("call_")
	}
	return outputItem{Type: "function_call", ID: newID("fc_"), Status: status,
		CallID: callID, Name: name, Arguments: &args}
}

// argText renders bus arguments as the Responses API's string of JSON. A
// JSON string holds text that was not JSON (see arguments in parse.go).
func argText(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || string(t) == "null" {
		return "{}"
	}
	var s string
	if t[0] == '"' && json.Unmarshal(t, &s) == nil {
		return s
	}
	return string(t)
}

// newID returns prefix followed by 24 random hex digits.
func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"message":"could not encode the response","type":"server_error","param":null,"code":"server_error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// ---------------------------------------------------------------------------
// Streaming

// sse writes Responses API events, numbering them.
type sse struct {
	w   http.ResponseWriter
	f   http.Flusher
	seq int
	err error // the first write error
}

func (s *sse) event(typ string, fields map[string]any) {
	if s.err != nil {
		return
	}
	fields["type"] = typ
	fields["sequence_number"] = s.seq
	s.seq++
	b, err := json.Marshal(fields)
	if err != nil {
		s.err = err
		return
	}
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", typ, b); err != nil {
		s.err = err
		return
	}
	if s.f != nil {
		s.f.Flush()
	}
}

// pendingCall is a function call gathered from the stream.
type pendingCall struct {
	id, name string
	deltas   []string
}

// WriteStream writes a streamed answer as Responses API server-sent events:
// response.created and response.in_progress; the text as a message item
// (output_item.added, content_part.added, output_text.delta…,
// output_text.done, content_part.done, output_item.done) while it streams;
// then each function call as a function_call item (output_item.added,
// function_call_arguments.delta…, function_call_arguments.done,
// output_item.done); and response.completed carrying the whole response
// object with usage — response.incomplete instead when the answer ran out
// of tokens or was filtered. If the stream fails, it writes response.failed
// (status "failed", error {code "server_error", message}) and returns the
// error. It closes s.
func WriteStream(w http.ResponseWriter, model string, s bus.Stream) error {
	defer s.Close()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	out := &sse{w: w, f: f}

	r := newResponse(model)
	out.event("response.created", map[string]any{"response": r})
	out.event("response.in_progress", map[string]any{"response": r})

	// The text streams live as output item 0; function calls are gathered
	// (a provider may interleave them) and written once the text is done.
	msgID, text, msgOpen := "", "", false
	var calls []*pendingCall
	byIndex := map[int]*pendingCall{}

	closeText := func(status string) {
		if !msgOpen {
			return
		}
		msgOpen = false
		ids := map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0}
		out.event("response.output_text.done", with(ids, "text", text, "logprobs", []any{}))
		out.event("response.content_part.done", with(ids, "part", contentPart{Type: "output_text", Text: text, Annotations: []any{}}))
		item := messageItem(msgID, text, status)
		out.event("response.output_item.done", map[string]any{"output_index": 0, "item": item})
		r.Output = append(r.Output, item)
	}

	fail := func(err error) error {
		closeText("incomplete")
		r.Status = "failed"
		r.Error = &respError{Code: "server_error", Message: failMessage(err)}
		out.event("response.failed", map[string]any{"response": r})
		return err
	}

	var done bus.Event
	for {
		ev, err := s.Next()
		if errors.Is(err, io.EOF) {
			if done.Type != bus.Done {
				return fail(errors.New("the model's stream ended before it finished"))
			}
			break
		}
		if err != nil {
			return fail(err)
		}
		if out.err != nil { // the client went away
			return out.err
		}
		switch ev.Type {
		case bus.TextDelta:
			if done.Type == bus.Done || ev.Text == "" {
				continue
			}
			if msgID == "" {
				msgID, msgOpen = newID("msg_"), true
				out.event("response.output_item.added", map[string]any{"output_index": 0, "item": messageItem(msgID, "", "in_progress")})
				out.event("response.content_part.added", map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0,
					"part": contentPart{Type: "output_text", Text: "", Annotations: []any{}}})
			}
			if !msgOpen {
				continue // cannot happen: the message closes only at the end
			}
			text += ev.Text
			out.event("response.output_text.delta", map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0,
				"delta": ev.Text, "logprobs": []any{}})
		case bus.ToolCallDelta:
			c := byIndex[ev.Index]
			if c == nil {
				c = &pendingCall{}
				byIndex[ev.Index] = c
				calls = append(calls, c)
			}
			if ev.ID != "" {
				c.id = ev.ID
			}
			if ev.Name != "" {
				c.name = ev.Name
			}
			if ev.ArgumentsDelta != "" {
				c.deltas = append(c.deltas, ev.ArgumentsDelta)
			}
		case bus.Done:
			done = ev
		}
	}

	closeText("completed")
	for _, c := range calls {
		if c.name == "" {
			return fail(errors.New("the model called a tool without naming it"))
		}
		idx := len(r.Output)
		item := callItem(c.id, c.name, "", "in_progress")
		out.event("response.output_item.added", map[string]any{"output_index": idx, "item": item})
		args := ""
		for _, d := range c.deltas {
			args += d
			out.event("response.function_call_arguments.delta", map[string]any{"item_id": item.ID, "output_index": idx, "delta": d})
		}
		if args == "" {
			args = "{}"
			out.event("response.function_call_arguments.delta", map[string]any{"item_id": item.ID, "output_index": idx, "delta": args})
		}
		out.event("response.function_call_arguments.done", map[string]any{"item_id": item.ID, "output_index": idx, "name": c.name, "arguments": args})
		item.Arguments, item.Status = &args, "completed"
		out.event("response.output_item.done", map[string]any{"output_index": idx, "item": item})
		r.Output = append(r.Output, item)
	}
	if model == "" {
		r.Model = done.Model
	}
	r.finish(done.Stop, done.Usage)
	typ := "response.completed"
	if r.Status == "incomplete" {
		typ = "response.incomplete"
	}
	out.event(typ, map[string]any{"response": r})
	return out.err
}

// with copies m and adds key/value pairs.
func with(m map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(m)+len(kv)/2)
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// failMessage is what a client is told about a failed stream.
func failMessage(err error) string {
	if e, ok := bus.AsError(err); ok {
		return e.Error()
	}
	return err.Error()
}
