// Package openai is the bus adapter for the OpenAI chat-completions protocol
// and the many servers that speak it: OpenAI, Groq, Mistral, DeepSeek,
// OpenRouter, vLLM, llama.cpp server, LM Studio.
//
// It speaks POST {base}/chat/completions (whole JSON and SSE streams),
// GET {base}/models and POST {base}/embeddings with net/http only.
package openai

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mirroros/mirror/bus"
)

// Size limits on what an upstream may send.
const (
	maxResponseBytes = 32 << 20  // a whole JSON answer, model list or embeddings
	maxStreamBytes   = 256 << 20 // a whole SSE stream
	maxLineBytes     = 4 << 20   // one SSE line
	maxErrorBytes    = 64 << 10  // an error body
	maxMessageRunes  = 2000      // a provider message kept in a bus.Error
)

// Config configures a Client.
type Config struct {
	Name       string       // the provider's configured name; default "openai"
	BaseURL    string       // e.g. "https://api.openai.com/v1"
	APIKey     string       // sent as "Authorization: Bearer <key>"; optional for local servers
	HTTPClient *http.Client // default: a client without a timeout (contexts bound calls)
	Local      bool         // the server runs on this machine (its models are tier 0)
	Headers    map[string]string

	// MaxCompletionTokens sends Request.MaxTokens as "max_completion_tokens"
	// (required by OpenAI's reasoning models) instead of "max_tokens".
	MaxCompletionTokens bool
}

// Client is an OpenAI-compatible provider.
type Client struct {
	cfg  Config
	base string
	hc   *http.Client
}

var (
	_ bus.Provider = (*Client)(nil)
	_ bus.Embedder = (*Client)(nil)
)

// New returns a client for cfg.
func New(cfg Config) *Client {
	if cfg.Name == "" {
		cfg.Name = "openai"
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{cfg: cfg, base: strings.TrimRight(cfg.BaseURL, "/"), hc: hc}
}

// Name is the provider's configured name.
func (c *Client) Name() string { return c.cfg.Name }

// Chat sends one request and returns the whole answer.
func (c *Client) Chat(ctx context.Context, req bus.Request) (bus.Response, error) {
	body, err := c.encodeRequest(req, false)
	if err != nil {
		return bus.Response{}, err
	}
	resp, err := c.send(ctx, http.MethodPost, "/chat/completions", body, false)
	if err != nil {
		return bus.Response{}, err
	}
	defer resp.Body.Close()
	raw, err := c.readAll(ctx, resp.Body)
	if err != nil {
		return bus.Response{}, err
	}
	return c.decodeResponse(raw, req.Model)
}

// ChatStream sends one request and streams the answer.
func (c *Client) ChatStream(ctx context.Context, req bus.Request) (bus.Stream, error) {
	body, err := c.encodeRequest(req, true)
	if err != nil {
		return nil, err
	}
	resp, err := c.send(ctx, http.MethodPost, "/chat/completions", body, true)
	if err != nil {
		return nil, err
	}
	return newStream(ctx, c, resp.Body, req.Model), nil
}

// Models lists the models the server offers.
func (c *Client) Models(ctx context.Context) ([]bus.Model, error) {
	resp, err := c.send(ctx, http.MethodGet, "/models", nil, false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := c.readAll(ctx, resp.Body)
	if err != nil {
		return nil, err
	}
	var list wireModels
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, c.malformed("model list: " + err.Error())
	}
	out := make([]bus.Model, 0, len(list.Data))
	for _, m := range list.Data {
		if m.ID == "" {
			continue
		}
		ctxLen := m.ContextLength
		if ctxLen == 0 {
			ctxLen = m.MaxModelLen
		}
		out = append(out, bus.Model{ID: m.ID, Local: c.cfg.Local, Context: ctxLen})
	}
	return out, nil
}

// Embed returns one embedding per input, in input order.
func (c *Client) Embed(ctx context.Context, model string, input []string) ([][]float32, bus.Usage, error) {
	if len(input) == 0 {
		return nil, bus.Usage{}, nil
	}
	body, err := json.Marshal(wireEmbeddingRequest{Model: model, Input: input})
	if err != nil {
		return nil, bus.Usage{}, &bus.Error{Provider: c.cfg.Name, Kind: bus.BadRequest, Message: err.Error()}
	}
	resp, err := c.send(ctx, http.MethodPost, "/embeddings", body, false)
	if err != nil {
		return nil, bus.Usage{}, err
	}
	defer resp.Body.Close()
	raw, err := c.readAll(ctx, resp.Body)
	if err != nil {
		return nil, bus.Usage{}, err
	}
	var er wireEmbeddingResponse
	if err := json.Unmarshal(raw, &er); err != nil {
		return nil, bus.Usage{}, c.malformed("embeddings: " + err.Error())
	}
	if len(er.Data) != len(input) {
		return nil, bus.Usage{}, c.malformed(fmt.Sprintf("embeddings: %d vectors for %d inputs", len(er.Data), len(input)))
	}
	out := make([][]float32, len(input))
	for pos, d := range er.Data {
		i := d.Index
		if i == 0 && pos != 0 && out[0] != nil {
			i = pos // a server that leaves index out
		}
		if i < 0 || i >= len(out) || out[i] != nil {
			return nil, bus.Usage{}, c.malformed(fmt.Sprintf("embeddings: bad index %d", d.Index))
		}
		v, err := decodeVector(d.Embedding)
		if err != nil {
			return nil, bus.Usage{}, c.malformed("embeddings: " + err.Error())
		}
		out[i] = v
	}
	return out, convertUsage(er.Usage), nil
}

func decodeVector(raw json.RawMessage) ([]float32, error) {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b)%4 != 0 {
			return nil, errors.New("bad base64 embedding")
		}
		v := make([]float32, len(b)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return v, nil
	}
	var v []float32
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	if len(v) == 0 {
		return nil, errors.New("empty embedding")
	}
	return v, nil
}

// ---- request encoding ----

// extraFields are the chat-completions fields Request.Extra may carry; the
// rest are other vendors' and are dropped. Fields the adapter sets itself
// (model, messages, tools, stream, ...) are never taken from Extra.
var extraFields = map[string]bool{
	"frequency_penalty":     true,
	"presence_penalty":      true,
	"logit_bias":            true,
	"logprobs":              true,
	"top_logprobs":          true,
	"metadata":              true,
	"parallel_tool_calls":   true,
	"prediction":            true,
	"prompt_cache_key":      true,
	"reasoning_effort":      true,
	"response_format":       true,
	"safety_identifier":     true,
	"seed":                  true,
	"service_tier":          true,
	"store":                 true,
	"user":                  true,
	"verbosity":             true,
	"web_search_options":    true,
	"max_completion_tokens": false, // set through Config / MaxTokens
}

func (c *Client) encodeRequest(req bus.Request, stream bool) ([]byte, error) {
	w := wireRequest{
		Model:       req.Model,
		Temperature: req.Temperature,
		TopP:        req.TopP,
		Stop:        req.Stop,
	}
	if req.MaxTokens > 0 {
		if c.cfg.MaxCompletionTokens {
			w.MaxCompletionTokens = req.MaxTokens
		} else {
			w.MaxTokens = req.MaxTokens
		}
	}
	if stream {
		w.Stream = true
		w.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	if req.System != "" {
		w.Messages = append(w.Messages, wireMessage{Role: "system", Content: jsonString(req.System)})
	}
	for i, m := range req.Messages {
		wm, err := encodeMessage(m)
		if err != nil {
			return nil, &bus.Error{Provider: c.cfg.Name, Kind: bus.BadRequest, Message: fmt.Sprintf("message %d: %v", i, err)}
		}
		w.Messages = append(w.Messages, wm)
	}
	for _, t := range req.Tools {
		params := t.Parameters
		if len(bytes.TrimSpace(params)) == 0 || string(params) == "null" {
			// Several servers (vLLM, llama.cpp) insist on a schema.
			params = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		w.Tools = append(w.Tools, wireTool{Type: "function", Function: wireFunction{
			Name: t.Name, Description: t.Description, Parameters: params}})
	}
	switch req.ToolChoice {
	case "":
	case "auto", "none", "required":
		w.ToolChoice = jsonString(req.ToolChoice)
	default:
		w.ToolChoice, _ = marshalNoEscape(struct {
			Type     string `json:"type"`
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		}{Type: "function", Function: struct {
			Name string `json:"name"`
		}{req.ToolChoice}})
	}

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		return nil, &bus.Error{Provider: c.cfg.Name, Kind: bus.BadRequest, Message: err.Error()}
	}
	out := bytes.TrimRight(buf.Bytes(), "\n")

	// Splice the allowed Extra fields in, in a stable order.
	keys := make([]string, 0, len(req.Extra))
	for k := range req.Extra {
		if extraFields[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return out, nil
	}
	out = out[:len(out)-1] // drop the closing brace
	for _, k := range keys {
		var v bytes.Buffer
		if err := json.Compact(&v, req.Extra[k]); err != nil {
			return nil, &bus.Error{Provider: c.cfg.Name, Kind: bus.BadRequest, Message: fmt.Sprintf("extra field %q is not JSON", k)}
		}
		out = append(out, ',')
		out = append(out, jsonString(k)...)
		out = append(out, ':')
		out = append(out, v.Bytes()...)
	}
	return append(out, '}'), nil
}

func encodeMessage(m bus.Message) (wireMessage, error) {
	switch m.Role {
	case bus.System, bus.User:
		content, err := encodeContent(m.Content)
		return wireMessage{Role: string(m.Role), Content: content}, err
	case bus.Assistant:
		wm := wireMessage{Role: "assistant", Content: json.RawMessage("null")}
		if text := m.Text(); text != "" || len(m.ToolCalls) == 0 {
			wm.Content = jsonString(text)
		}
		for _, tc := range m.ToolCalls {
			args := strings.TrimSpace(string(tc.Arguments))
			if args == "" || args == "null" {
				args = "{}"
			}
			wm.ToolCalls = append(wm.ToolCalls, wireToolCall{ID: tc.ID, Type: "function",
				Function: wireFunctionCall{Name: tc.Name, Arguments: argString(args)}})
		}
		return wm, nil
	case bus.Tool:
		return wireMessage{Role: "tool", ToolCallID: m.ToolCallID, Content: jsonString(m.Text())}, nil
	default:
		return wireMessage{}, fmt.Errorf("unknown role %q", m.Role)
	}
}

// encodeContent sends a lone text part as a plain string and anything else
// as an array of content parts.
func encodeContent(parts []bus.Part) (json.RawMessage, error) {
	parts = withoutVendorParts(parts)
	if len(parts) == 1 && parts[0].Type == bus.TextPart {
		return jsonString(parts[0].Text), nil
	}
	if len(parts) == 0 {
		return jsonString(""), nil
	}
	wp := make([]wireContentPart, 0, len(parts))
	for _, p := range parts {
		switch p.Type {
		case bus.TextPart:
			wp = append(wp, wireContentPart{Type: "text", Text: p.Text})
		case bus.ImagePart:
			url := p.URL
			if len(p.Data) > 0 {
				mt := p.MediaType
				if mt == "" {
					mt = http.DetectContentType(p.Data)
				}
				url = "data:" + mt + ";base64," + base64.StdEncoding.EncodeToString(p.Data)
			}
			if url == "" {
				return nil, errors.New("image part without data or URL")
			}
			wp = append(wp, wireContentPart{Type: "image_url", ImageURL: &wireImageURL{URL: url}})
		default:
			return nil, fmt.Errorf("unknown part type %q", p.Type)
		}
	}
	return marshalNoEscape(wp)
}

// withoutVendorParts leaves out other vendors' blocks (e.g. Anthropic
// thinking), which an OpenAI-compatible server has no use for.
func withoutVendorParts(parts []bus.Part) []bus.Part {
	for i, p := range parts {
		if p.Type == bus.VendorPart {
			out := append([]bus.Part(nil), parts[:i]...)
			for _, q := range parts[i+1:] {
				if q.Type != bus.VendorPart {
					out = append(out, q)
				}
			}
			return out
		}
	}
	return parts
}

func jsonString(s string) json.RawMessage {
	b, _ := marshalNoEscape(s)
	return b
}

func marshalNoEscape(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// ---- response decoding ----

func (c *Client) decodeResponse(raw []byte, requested string) (bus.Response, error) {
	var w wireResponse
	if err := json.Unmarshal(raw, &w); err != nil {
		return bus.Response{}, c.malformed("chat completion: " + err.Error())
	}
	if len(w.Error) > 0 && string(w.Error) != "null" {
		return bus.Response{}, c.inBandError(raw)
	}
	var choice *wireChoice
	for i := range w.Choices {
		if w.Choices[i].Index == 0 && w.Choices[i].Message != nil {
			choice = &w.Choices[i]
			break
		}
	}
	if choice == nil {
		return bus.Response{}, c.malformed("chat completion without a choice")
	}
	text, err := contentText(choice.Message.Content)
	if err != nil {
		return bus.Response{}, c.malformed("chat completion content: " + err.Error())
	}
	if text == "" && choice.Message.Refusal != nil {
		text = *choice.Message.Refusal
	}
	msg := bus.Message{Role: bus.Assistant}
	if text != "" {
		msg.Content = []bus.Part{{Type: bus.TextPart, Text: text}}
	}
	for i, tc := range choice.Message.ToolCalls {
		id := tc.ID
		if id == "" {
			id = "call_" + strconv.Itoa(i)
		}
		msg.ToolCalls = append(msg.ToolCalls, bus.ToolCall{ID: id, Name: tc.Function.Name, Arguments: argumentsJSON(string(tc.Function.Arguments))})
	}
	model := w.Model
	if model == "" {
		model = requested
	}
	finish := ""
	if choice.FinishReason != nil {
		finish = *choice.FinishReason
	}
	return bus.Response{Model: model, Message: msg, Stop: stopReason(finish, len(msg.ToolCalls) > 0), Usage: convertUsage(w.Usage)}, nil
}

// argumentsJSON turns a call's argument text into a JSON value: "{}" when
// empty, and a JSON string holding the text when the model wrote invalid JSON
// (so the message still marshals and the tool can report the error).
func argumentsJSON(s string) json.RawMessage {
	s = strings.TrimSpace(s)
	if s == "" {
		return json.RawMessage("{}")
	}
	if json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	return jsonString(s)
}

func stopReason(finish string, toolCalls bool) bus.StopReason {
	switch finish {
	case "tool_calls", "function_call":
		return bus.StopToolUse
	case "length":
		return bus.StopMaxTokens
	case "content_filter":
		return bus.StopFiltered
	case "stop", "eos", "end_turn":
		if toolCalls { // servers that say "stop" after calling tools
			return bus.StopToolUse
		}
		return bus.StopEnd
	case "":
		if toolCalls {
			return bus.StopToolUse
		}
		return bus.StopOther
	default:
		return bus.StopOther
	}
}

func convertUsage(u *wireUsage) bus.Usage {
	if u == nil {
		return bus.Usage{}
	}
	out := bus.Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens}
	if u.PromptTokensDetails != nil {
		out.CachedTokens = u.PromptTokensDetails.CachedTokens
	}
	if out.CachedTokens == 0 {
		out.CachedTokens = u.PromptCacheHitTokens
	}
	return out
}

// ---- transport and errors ----

func (c *Client) send(ctx context.Context, method, path string, body []byte, stream bool) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, &bus.Error{Provider: c.cfg.Name, Kind: bus.BadRequest, Message: c.scrub(err.Error())}
	}
	if body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if stream {
		hreq.Header.Set("Accept", "text/event-stream")
	} else {
		hreq.Header.Set("Accept", "application/json")
	}
	if c.cfg.APIKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	}
	for k, v := range c.cfg.Headers {
		hreq.Header.Set(k, v)
	}
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
	return nil, c.statusError(resp.StatusCode, resp.Header, raw)
}

func (c *Client) statusError(status int, h http.Header, raw []byte) *bus.Error {
	msg, _ := parseErrorBody(raw)
	if msg == "" {
		msg = http.StatusText(status)
	}
	e := &bus.Error{Provider: c.cfg.Name, Status: status, Message: c.clip(msg)}
	switch {
	case status == http.StatusTooManyRequests:
		e.Kind = bus.RateLimited
		e.RetryAfter = retryAfter(h, time.Now())
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Kind = bus.AuthFailed
	case status == http.StatusRequestTimeout || status >= 500:
		e.Kind = bus.Unavailable
		if status == 503 || status == 529 {
			e.RetryAfter = retryAfter(h, time.Now())
		}
	case status >= 400:
		e.Kind = bus.BadRequest
	default: // 1xx/3xx left unfollowed
		e.Kind = bus.Unavailable
	}
	return e
}

// inBandError classifies an error object sent with status 200 (in a body or
// as an SSE chunk).
func (c *Client) inBandError(raw []byte) *bus.Error {
	msg, typ := parseErrorBody(raw)
	e := &bus.Error{Provider: c.cfg.Name, Kind: bus.Unavailable, Message: c.clip(msg)}
	switch t := strings.ToLower(typ); {
	case strings.Contains(t, "rate_limit") || strings.Contains(t, "rate limit"):
		e.Kind = bus.RateLimited
	case strings.Contains(t, "invalid_request") || strings.Contains(t, "bad_request"):
		e.Kind = bus.BadRequest
	case strings.Contains(t, "auth") || strings.Contains(t, "permission"):
		e.Kind = bus.AuthFailed
	}
	return e
}

// retryAfter reads retry-after-ms (OpenAI) or Retry-After in seconds or as
// an HTTP-date.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 && ms < 1e12 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s < 0 || s > 1e9 || math.IsNaN(s) {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}

func (c *Client) transportError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr // the caller gave up; not the provider's failure
	}
	return &bus.Error{Provider: c.cfg.Name, Kind: bus.Unavailable, Message: c.scrub(err.Error())}
}

func (c *Client) malformed(msg string) *bus.Error {
	return &bus.Error{Provider: c.cfg.Name, Status: http.StatusOK, Kind: bus.Malformed, Message: c.clip(msg)}
}

func (c *Client) readAll(ctx context.Context, r io.Reader) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(r, maxResponseBytes+1))
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if len(raw) > maxResponseBytes {
		return nil, c.malformed(fmt.Sprintf("response larger than %d bytes", maxResponseBytes))
	}
	return raw, nil
}

// scrub removes credentials from text that may reach an error or a log.
func (c *Client) scrub(s string) string {
	if k := c.cfg.APIKey; k != "" {
		s = strings.ReplaceAll(s, k, "[redacted]")
	}
	for name, v := range c.cfg.Headers {
		n := strings.ToLower(name)
		if len(v) >= 8 && (strings.Contains(n, "key") || strings.Contains(n, "auth") || strings.Contains(n, "token")) {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}

func (c *Client) clip(s string) string {
	s = c.scrub(strings.TrimSpace(s))
	if r := []rune(s); len(r) > maxMessageRunes {
		s = string(r[:maxMessageRunes]) + "…"
	}
	return s
}
