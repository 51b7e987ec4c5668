// Package ollama is the bus adapter for Ollama's native API: POST /api/chat
// (whole or NDJSON-streamed), GET /api/tags and POST /api/embed.
//
// Ollama tool calls carry no ids: the adapter synthesises "call_0",
// "call_1", … (by position in the answer) and, when sending tool results
// back, maps a result to its call's tool name (Ollama's "tool_name").
package ollama

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mirroros/mirror/bus"
)

// Size limits on what the adapter reads from the upstream.
const (
	maxBodyBytes   = 64 << 20  // a whole (non-streamed) response or error body
	maxLineBytes   = 8 << 20   // one NDJSON line of a stream
	maxStreamBytes = 256 << 20 // a whole stream
	maxErrorBytes  = 64 << 10  // an error body
)

// Config configures a Client.
type Config struct {
	Name       string       // provider name; default "ollama"
	BaseURL    string       // e.g. "http://127.0.0.1:11434"; default that
	HTTPClient *http.Client // default: a client without a timeout (use contexts)
}

// Client is an Ollama provider.
type Client struct {
	name string
	base string
	hc   *http.Client
}

var (
	_ bus.Provider = (*Client)(nil)
	_ bus.Embedder = (*Client)(nil)
)

// New returns a Client for cfg.
func New(cfg Config) *Client {
	c := &Client{name: cfg.Name, base: strings.TrimRight(cfg.BaseURL, "/"), hc: cfg.HTTPClient}
	if c.name == "" {
		c.name = "ollama"
	}
	if c.base == "" {
		c.base = "http://127.0.0.1:11434"
	}
	if c.hc == nil {
		c.hc = &http.Client{}
	}
	return c
}

// Name returns the configured provider name.
func (c *Client) Name() string { return c.name }

// ---- wire types ----

type wireRequest struct {
	Model     string                     `json:"model"`
	Messages  []wireMessage              `json:"messages"`
	Tools     []wireTool                 `json:"tools,omitempty"`
	Stream    bool                       `json:"stream"`
	Format    json.RawMessage            `json:"format,omitempty"`
	Think     json.RawMessage            `json:"think,omitempty"`
	KeepAlive json.RawMessage            `json:"keep_alive,omitempty"`
	Options   map[string]json.RawMessage `json:"options,omitempty"`
}

type wireMessage struct {
	Role      string         `json:"role"`
	Content   string         `json:"content"`
	Thinking  string         `json:"thinking,omitempty"`
	Images    []string       `json:"images,omitempty"`
	ToolCalls []wireToolCall `json:"tool_calls,omitempty"`
	ToolName  string         `json:"tool_name,omitempty"`
}

type wireToolCall struct {
	ID       string       `json:"id,omitempty"` // sent by some Ollama versions; never sent by us
	Function wireFunction `json:"function"`
}

type wireFunction struct {
	Index     *int            `json:"index,omitempty"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

type wireTool struct {
	Type     string       `json:"type"`
	Function wireToolSpec `json:"function"`
}

type wireToolSpec struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

// chatChunk is a whole /api/chat answer or one line of a streamed one.
type chatChunk struct {
	Model           string          `json:"model"`
	Message         wireMessage     `json:"message"`
	Done            bool            `json:"done"`
	DoneReason      string          `json:"done_reason"`
	PromptEvalCount int             `json:"prompt_eval_count"`
	EvalCount       int             `json:"eval_count"`
	Error           json.RawMessage `json:"error"`
}

// ---- request building ----

// extraTop are the top-level /api/chat fields passed through from Request.Extra.
var extraTop = []string{"format", "think", "keep_alive"}

func (c *Client) buildRequest(req bus.Request, stream bool) (*wireRequest, error) {
	w := &wireRequest{Model: req.Model, Stream: stream, Messages: []wireMessage{}}
	if req.System != "" {
		w.Messages = append(w.Messages, wireMessage{Role: "system", Content: req.System})
	}
	names := map[string]string{} // tool call id -> tool name
	for _, m := range req.Messages {
		for _, tc := range m.ToolCalls {
			if tc.ID != "" {
				names[tc.ID] = tc.Name
			}
		}
	}
	for i, m := range req.Messages {
		wm := wireMessage{Role: string(m.Role)}
		switch m.Role {
		case bus.System, bus.User, bus.Assistant, bus.Tool:
		default:
			return nil, c.badRequest("message %d: unknown role %q", i, m.Role)
		}
		for _, p := range m.Content {
			switch p.Type {
			case bus.TextPart:
				wm.Content += p.Text
			case bus.ImagePart:
				img, err := imageData(p)
				if err != nil {
					return nil, c.badRequest("message %d: %v", i, err)
				}
				wm.Images = append(wm.Images, img)
			case bus.VendorPart:
				// Another vendor's block (e.g. Anthropic thinking): not for Ollama.
			default:
				return nil, c.badRequest("message %d: unsupported part type %q", i, p.Type)
			}
		}
		for _, tc := range m.ToolCalls {
			args, err := argsObject(tc.Arguments)
			if err != nil {
				return nil, c.badRequest("message %d: tool call %q: %v", i, tc.Name, err)
			}
			wm.ToolCalls = append(wm.ToolCalls, wireToolCall{Function: wireFunction{Name: tc.Name, Arguments: args}})
		}
		if m.Role == bus.Tool {
			wm.ToolName = m.Name
			if wm.ToolName == "" {
				wm.ToolName = names[m.ToolCallID]
			}
		}
		w.Messages = append(w.Messages, wm)
	}
	if req.ToolChoice != "none" {
		for _, t := range req.Tools {
			w.Tools = append(w.Tools, wireTool{Type: "function",
				Function: wireToolSpec{Name: t.Name, Description: t.Description, Parameters: t.Parameters}})
		}
	}
	for _, k := range extraTop {
		if v, ok := req.Extra[k]; ok && len(v) > 0 {
			switch k {
			case "format":
				w.Format = v
			case "think":
				w.Think = v
			case "keep_alive":
				w.KeepAlive = v
			}
		}
	}
	opts := map[string]json.RawMessage{}
	if v, ok := req.Extra["options"]; ok && len(v) > 0 {
		if err := json.Unmarshal(v, &opts); err != nil {
			return nil, c.badRequest("extra options: %v", err)
		}
	}
	set := func(k string, v any) {
		b, _ := marshal(v)
		opts[k] = b
	}
	if req.Temperature != nil {
		set("temperature", *req.Temperature)
	}
	if req.TopP != nil {
		set("top_p", *req.TopP)
	}
	if len(req.Stop) > 0 {
		set("stop", req.Stop)
	}
	if req.MaxTokens > 0 {
		set("num_predict", req.MaxTokens)
	}
	if len(opts) > 0 {
		w.Options = opts
	}
	return w, nil
}

// imageData returns a part's image as the base64 string Ollama wants.
func imageData(p bus.Part) (string, error) {
	if len(p.Data) > 0 {
		return base64.StdEncoding.EncodeToString(p.Data), nil
	}
	if rest, ok := strings.CutPrefix(p.URL, "data:"); ok {
		if _, payload, ok := strings.Cut(rest, ";base64,"); ok {
			if _, err := base64.StdEncoding.DecodeString(payload); err != nil {
				return "", fmt.Errorf("image data URL: %v", err)
			}
			return payload, nil
		}
	}
	if p.URL != "" {
		return "", errors.New("ollama takes inline images only, not image URLs")
	}
	return "", errors.New("image part without data")
}

// argsObject normalises tool call arguments to a JSON object: empty means
// {}, and a JSON string holding an object is unwrapped.
func argsObject(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage(`{}`), nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		raw = bytes.TrimSpace([]byte(s))
		if len(raw) == 0 {
			return json.RawMessage(`{}`), nil
		}
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, errors.New("arguments are not a JSON object")
	}
	return raw, nil
}

// ---- HTTP plumbing ----

// marshal is json.Marshal without HTML escaping (prompts keep their "<").
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func (c *Client) badRequest(format string, a ...any) *bus.Error {
	return &bus.Error{Provider: c.name, Kind: bus.BadRequest, Message: fmt.Sprintf(format, a...)}
}

func (c *Client) malformed(format string, a ...any) *bus.Error {
	return &bus.Error{Provider: c.name, Status: http.StatusOK, Kind: bus.Malformed, Message: fmt.Sprintf(format, a...)}
}

// do sends a request and returns the response if its status is 200.
func (c *Client) do(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := marshal(body)
		if err != nil {
			return nil, c.badRequest("encoding request: %v", err)
		}
		rd = bytes.NewReader(b)
	}
	hr, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, c.badRequest("%v", err)
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	hr.Header.Set("Accept", "application/json, application/x-ndjson")
	resp, err := c.hc.Do(hr)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, c.statusError(resp)
	}
	return resp, nil
}

// transportError classifies a failure to talk to the upstream. A caller's
// own cancellation is returned as the context's error (nothing to fall
// back from); anything else is Unavailable.
func (c *Client) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if e, ok := bus.AsError(err); ok {
		return e
	}
	return &bus.Error{Provider: c.name, Kind: bus.Unavailable, Message: err.Error()}
}

func (c *Client) statusError(resp *http.Response) *bus.Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
	e := &bus.Error{Provider: c.name, Status: resp.StatusCode, Message: errorMessage(body)}
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests:
		e.Kind = bus.RateLimited
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		e.Kind = bus.AuthFailed
	case s == http.StatusRequestTimeout || s >= 500:
		e.Kind = bus.Unavailable
	case s >= 400:
		e.Kind = bus.BadRequest
	default: // 1xx/2xx other than 200, 3xx not followed
		e.Kind = bus.Malformed
		if e.Message == "" {
			e.Message = "unexpected HTTP status " + resp.Status
		}
	}
	return e
}

// errorMessage extracts Ollama's {"error":"..."} message, or else the body text.
func errorMessage(body []byte) string {
	var eb struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &eb) == nil && len(eb.Error) > 0 {
		var s string
		if json.Unmarshal(eb.Error, &s) == nil {
			return s
		}
		var o struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(eb.Error, &o) == nil && o.Message != "" {
			return o.Message
		}
		return string(eb.Error)
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 512 {
		s = s[:512]
	}
	return s
}

func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// readBody reads a whole 200 body, up to maxBodyBytes.
func (c *Client) readBody(ctx context.Context, resp *http.Response) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if len(b) > maxBodyBytes {
		return nil, c.malformed("response larger than %d bytes", maxBodyBytes)
	}
	return b, nil
}

// ---- answers ----

func stopReason(doneReason string, toolCalls bool) bus.StopReason {
	if toolCalls {
		return bus.StopToolUse
	}
	switch doneReason {
	case "stop", "":
		return bus.StopEnd
	case "length":
		return bus.StopMaxTokens
	default: // "load", "unload", …
		return bus.StopOther
	}
}

// toolCalls converts an answer's tool calls, numbering synthesised ids
// from first.
func toolCalls(in []wireToolCall, first int) ([]bus.ToolCall, error) {
	var out []bus.ToolCall
	for i, tc := range in {
		args, err := argsObject(tc.Function.Arguments)
		if err != nil {
			return nil, fmt.Errorf("tool call %q: %v", tc.Function.Name, err)
		}
		if tc.Function.Name == "" {
			return nil, errors.New("tool call without a name")
		}
		id := tc.ID
		if id == "" {
			id = "call_" + strconv.Itoa(first+i)
		}
		out = append(out, bus.ToolCall{ID: id, Name: tc.Function.Name, Arguments: args})
	}
	return out, nil
}

// Chat sends a whole (non-streamed) chat call.
func (c *Client) Chat(ctx context.Context, req bus.Request) (bus.Response, error) {
	w, err := c.buildRequest(req, false)
	if err != nil {
		return bus.Response{}, err
	}
	resp, err := c.do(ctx, http.MethodPost, "/api/chat", w)
	if err != nil {
		return bus.Response{}, err
	}
	defer resp.Body.Close()
	body, err := c.readBody(ctx, resp)
	if err != nil {
		return bus.Response{}, err
	}
	ch, err := parseLine(body)
	if err != nil {
		return bus.Response{}, c.lineError(err)
	}
	if !ch.Done {
		return bus.Response{}, c.malformed("answer not marked done")
	}
	calls, err := toolCalls(ch.Message.ToolCalls, 0)
	if err != nil {
		return bus.Response{}, c.malformed("%v", err)
	}
	out := bus.Response{
		Model:   ch.Model,
		Message: bus.Message{Role: bus.Assistant, ToolCalls: calls},
		Stop:    stopReason(ch.DoneReason, len(calls) > 0),
		Usage:   bus.Usage{PromptTokens: ch.PromptEvalCount, CompletionTokens: ch.EvalCount},
	}
	if out.Model == "" {
		out.Model = req.Model
	}
	if ch.Message.Content != "" {
		out.Message.Content = []bus.Part{{Type: bus.TextPart, Text: ch.Message.Content}}
	}
	return out, nil
}

// errUpstream is an "error" reported inside a 200 answer or stream line.
type errUpstream struct{ msg string }

func (e errUpstream) Error() string { return e.msg }

// parseLine decodes one NDJSON line (or a whole answer). It fails on
// invalid JSON, on a non-object, and on an object with an "error" field
// (as errUpstream).
func parseLine(line []byte) (chatChunk, error) {
	var ch chatChunk
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return ch, errors.New("not a JSON object")
	}
	if err := json.Unmarshal(line, &ch); err != nil {
		return chatChunk{}, err
	}
	if len(ch.Error) > 0 && string(ch.Error) != "null" {
		msg := errorMessage(line)
		if msg == "" {
			msg = "upstream error"
		}
		return chatChunk{}, errUpstream{msg}
	}
	return ch, nil
}

func (c *Client) lineError(err error) *bus.Error {
	var up errUpstream
	if errors.As(err, &up) {
		return &bus.Error{Provider: c.name, Status: http.StatusOK, Kind: bus.Unavailable, Message: up.msg}
	}
	return c.malformed("unparseable answer: %v", err)
}

// Models lists the locally installed models (GET /api/tags).
func (c *Client) Models(ctx context.Context) ([]bus.Model, error) {
	resp, err := c.do(ctx, http.MethodGet, "/api/tags", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := c.readBody(ctx, resp)
	if err != nil {
		return nil, err
	}
	var tags struct {
		Models *[]struct {
			Name  string `json:"name"`
			Model string `json:"model"`
		} `json:"models"`
	}
	if err := json.Unmarshal(body, &tags); err != nil || tags.Models == nil {
		return nil, c.malformed("unparseable model list")
	}
	out := []bus.Model{}
	for _, m := range *tags.Models {
		id := m.Name
		if id == "" {
			id = m.Model
		}
		if id == "" {
			continue
		}
		out = append(out, bus.Model{ID: id, Local: true})
	}
	return out, nil
}

// Embed embeds input with model (POST /api/embed).
func (c *Client) Embed(ctx context.Context, model string, input []string) ([][]float32, bus.Usage, error) {
	if len(input) == 0 {
		return [][]float32{}, bus.Usage{}, nil
	}
	req := struct {
		Model string   `json:"model"`
		Input []string `json:"input"`
	}{model, input}
	resp, err := c.do(ctx, http.MethodPost, "/api/embed", req)
	if err != nil {
		return nil, bus.Usage{}, err
	}
	defer resp.Body.Close()
	body, err := c.readBody(ctx, resp)
	if err != nil {
		return nil, bus.Usage{}, err
	}
	var er struct {
		Embeddings      [][]float32 `json:"embeddings"`
		PromptEvalCount int         `json:"prompt_eval_count"`
		Error           string      `json:"error"`
	}
	if err := json.Unmarshal(body, &er); err != nil {
		return nil, bus.Usage{}, c.malformed("unparseable embeddings: %v", err)
	}
	if er.Error != "" {
		return nil, bus.Usage{}, &bus.Error{Provider: c.name, Status: http.StatusOK, Kind: bus.Unavailable, Message: er.Error}
	}
	if len(er.Embeddings) != len(input) {
		return nil, bus.Usage{}, c.malformed("%d embeddings for %d inputs", len(er.Embeddings), len(input))
	}
	return er.Embeddings, bus.Usage{PromptTokens: er.PromptEvalCount}, nil
}
