// Package anthropic is the bus adapter for the Anthropic Messages API
// (POST {base}/v1/messages, GET {base}/v1/models), spoken with net/http.
package anthropic

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mirroros/mirror/bus"
)

// Defaults and limits.
const (
	DefaultBaseURL   = "https://api.anthropic.com"
	DefaultVersion   = "2023-06-01"
	DefaultMaxTokens = 4096

	maxResponseBytes = 32 << 20 // a whole (non-streamed) answer or model list
	maxErrorBytes    = 1 << 20  // an error body
	maxMessageChars  = 2048     // of a provider's error message kept in bus.Error
	maxLineBytes     = 8 << 20  // one SSE line
	maxModelPages    = 20
)

// passThrough lists the Anthropic request fields the bus does not model
// that Request.Extra may carry; everything else in Extra is dropped. Fields
// the bus models (model, messages, system, tools, tool_choice, max_tokens,
// temperature, top_p, stop_sequences, stream) are never taken from Extra.
var passThrough = map[string]bool{
	"thinking":           true,
	"metadata":           true,
	"context_management": true,
	"output_config":      true,
	"top_k":              true,
	"service_tier":       true,
	"container":          true,
	"mcp_servers":        true,
	"inference_geo":      true,
}

// Config configures a Client.
type Config struct {
	Name       string       // provider name; default "anthropic"
	BaseURL    string       // e.g. "https://api.anthropic.com" (a trailing "/v1" is tolerated)
	APIKey     string       // sent as x-api-key; never logged or put in errors
	HTTPClient *http.Client // default http.DefaultClient
	Version    string       // anthropic-version header; default "2023-06-01"
}

// Client is a bus.Provider for the Anthropic Messages API.
type Client struct {
	name    string
	base    string
	key     string
	hc      *http.Client
	version string
}

var _ bus.Provider = (*Client)(nil)

// New returns a Client for cfg.
func New(cfg Config) *Client {
	c := &Client{name: cfg.Name, key: cfg.APIKey, hc: cfg.HTTPClient, version: cfg.Version}
	if c.name == "" {
		c.name = "anthropic"
	}
	if c.hc == nil {
		c.hc = http.DefaultClient
	}
	if c.version == "" {
		c.version = DefaultVersion
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	base = strings.TrimSuffix(base, "/v1")
	c.base = base
	return c
}

// Name returns the configured provider name.
func (c *Client) Name() string { return c.name }

// Chat sends one non-streamed Messages call.
func (c *Client) Chat(ctx context.Context, req bus.Request) (bus.Response, error) {
	body, err := buildBody(req, false)
	if err != nil {
		return bus.Response{}, c.fail(0, bus.BadRequest, err.Error())
	}
	resp, err := c.do(ctx, http.MethodPost, "/v1/messages", body, "application/json")
	if err != nil {
		return bus.Response{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return bus.Response{}, c.transport(ctx, err)
	}
	if len(raw) > maxResponseBytes {
		return bus.Response{}, c.fail(resp.StatusCode, bus.Malformed, "response exceeds size limit")
	}
	var m wireMessage
	if err := json.Unmarshal(raw, &m); err != nil || m.Type != "message" {
		return bus.Response{}, c.fail(resp.StatusCode, bus.Malformed, "response is not a Messages API message")
	}
	out := bus.Response{Model: m.Model, Stop: mapStop(m.StopReason), Usage: m.Usage.normalise()}
	out.Message.Role = bus.Assistant
	for _, rb := range m.Content {
		b := rb.wireBlock
		switch b.Type {
		case "text":
			out.Message.Content = append(out.Message.Content, bus.Part{Type: bus.TextPart, Text: b.Text})
		case "tool_use":
			args := b.Input
			if len(bytes.TrimSpace(args)) == 0 || string(args) == "null" {
				args = json.RawMessage("{}")
			}
			out.Message.ToolCalls = append(out.Message.ToolCalls, bus.ToolCall{ID: b.ID, Name: b.Name, Arguments: args})
		default:
			// thinking, redacted_thinking, server tool use and results, …:
			// kept whole, so that the client can send them back.
			out.Message.Content = append(out.Message.Content, vendorPart(rb.raw))
		}
	}
	return out, nil
}

func vendorPart(raw []byte) bus.Part {
	return bus.Part{Type: bus.VendorPart, Vendor: bus.VendorAnthropic, Raw: append(json.RawMessage(nil), raw...)}
}

// ChatStream sends one streamed Messages call and returns its events.
func (c *Client) ChatStream(ctx context.Context, req bus.Request) (bus.Stream, error) {
	body, err := buildBody(req, true)
	if err != nil {
		return nil, c.fail(0, bus.BadRequest, err.Error())
	}
	resp, err := c.do(ctx, http.MethodPost, "/v1/messages", body, "text/event-stream")
	if err != nil {
		return nil, err
	}
	return newStream(resp.Body, c), nil
}

// Models lists the models the key may use.
func (c *Client) Models(ctx context.Context) ([]bus.Model, error) {
	var out []bus.Model
	after := ""
	for page := 0; page < maxModelPages; page++ {
		q := url.Values{"limit": {"1000"}}
		if after != "" {
			q.Set("after_id", after)
		}
		resp, err := c.do(ctx, http.MethodGet, "/v1/models?"+q.Encode(), nil, "application/json")
		if err != nil {
			return nil, err
		}
		raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
		resp.Body.Close()
		if err != nil {
			return nil, c.transport(ctx, err)
		}
		var list struct {
			Data []struct {
				ID             string `json:"id"`
				MaxInputTokens int    `json:"max_input_tokens"`
			} `json:"data"`
			HasMore bool   `json:"has_more"`
			LastID  string `json:"last_id"`
		}
		if len(raw) > maxResponseBytes || json.Unmarshal(raw, &list) != nil || list.Data == nil {
			return nil, c.fail(resp.StatusCode, bus.Malformed, "model list is not a Models API list")
		}
		for _, d := range list.Data {
			if d.ID != "" {
				out = append(out, bus.Model{ID: d.ID, Context: d.MaxInputTokens})
			}
		}
		if !list.HasMore || list.LastID == "" || list.LastID == after {
			break
		}
		after = list.LastID
	}
	return out, nil
}

// do sends a request and returns the response if it is a 2xx; otherwise a
// classified *bus.Error.
func (c *Client) do(ctx context.Context, method, path string, body []byte, accept string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, c.fail(0, bus.BadRequest, "cannot build request: "+err.Error())
	}
	if c.key != "" {
		hreq.Header.Set("x-api-key", c.key)
	}
	hreq.Header.Set("anthropic-version", c.version)
	hreq.Header.Set("accept", accept)
	if body != nil {
		hreq.Header.Set("content-type", "application/json")
	}
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return nil, c.transport(ctx, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
	e := c.fail(resp.StatusCode, kindForStatus(resp.StatusCode), errorMessage(raw))
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == 529 || resp.StatusCode == http.StatusServiceUnavailable {
		e.RetryAfter = parseRetryAfter(resp.Header.Get("retry-after"), time.Now())
	}
	return nil, e
}

// transport classifies a transport failure. A caller's cancellation or
// deadline is returned as the context's own error: there is nothing to
// route around.
func (c *Client) transport(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL holds no secret, but keep messages short
	}
	return c.fail(0, bus.Unavailable, err.Error())
}

// fail builds a *bus.Error, scrubbing the key from the message.
func (c *Client) fail(status int, kind bus.ErrorKind, msg string) *bus.Error {
	return &bus.Error{Provider: c.name, Status: status, Kind: kind, Message: c.scrub(msg)}
}

func (c *Client) scrub(s string) string {
	if c.key != "" {
		s = strings.ReplaceAll(s, c.key, "[redacted]")
	}
	if len(s) > maxMessageChars {
		s = s[:maxMessageChars] + "…"
	}
	return s
}

func kindForStatus(status int) bus.ErrorKind {
	switch {
	case status == http.StatusTooManyRequests:
		return bus.RateLimited
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return bus.AuthFailed
	case status == http.StatusRequestTimeout:
		return bus.Unavailable
	case status >= 500: // including 529 overloaded
		return bus.Unavailable
	case status >= 400:
		return bus.BadRequest
	default:
		return bus.Unavailable
	}
}

// kindForErrorType classifies the error.type of an error body or SSE error event.
func kindForErrorType(t string) bus.ErrorKind {
	switch t {
	case "rate_limit_error":
		return bus.RateLimited
	case "authentication_error", "permission_error":
		return bus.AuthFailed
	case "invalid_request_error", "not_found_error", "request_too_large":
		return bus.BadRequest
	default: // api_error, overloaded_error, timeout_error, unknown
		return bus.Unavailable
	}
}

type wireError struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// errorMessage extracts the provider's message from an error body.
func errorMessage(raw []byte) string {
	var we wireError
	if json.Unmarshal(raw, &we) == nil && we.Error.Message != "" {
		return we.Error.Message
	}
	s := strings.TrimSpace(string(raw))
	if len(s) > 256 {
		s = s[:256] + "…"
	}
	return s
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 || s > 86400 {
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

func mapStop(s string) bus.StopReason {
	switch s {
	case "end_turn":
		return bus.StopEnd
	case "max_tokens", "model_context_window_exceeded":
		return bus.StopMaxTokens
	case "tool_use":
		return bus.StopToolUse
	case "stop_sequence":
		return bus.StopSequence
	case "refusal":
		return bus.StopFiltered
	case "pause_turn":
		return bus.StopPaused
	default:
		return bus.StopOther
	}
}

// --- wire types -----------------------------------------------------------

type wireUsage struct {
	InputTokens              int `json:"input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
}

// normalise: Anthropic's input_tokens excludes cache reads and writes; the
// bus counts them in PromptTokens.
func (u wireUsage) normalise() bus.Usage {
	return bus.Usage{
		PromptTokens:     u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens,
		CompletionTokens: u.OutputTokens,
		CachedTokens:     u.CacheReadInputTokens,
	}
}

type wireBlock struct {
	Type  string          `json:"type"`
	Text  string          `json:"text,omitempty"`
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
}

// rawBlock is a response content block, decoded and verbatim.
type rawBlock struct {
	wireBlock
	raw json.RawMessage
}

func (b *rawBlock) UnmarshalJSON(data []byte) error {
	b.raw = append(b.raw[:0], data...)
	return json.Unmarshal(data, &b.wireBlock)
}

type wireMessage struct {
	ID         string     `json:"id"`
	Type       string     `json:"type"`
	Role       string     `json:"role"`
	Model      string     `json:"model"`
	Content    []rawBlock `json:"content"`
	StopReason string     `json:"stop_reason"`
	Usage      wireUsage  `json:"usage"`
}

// --- request building -----------------------------------------------------

type imageSource struct {
	Type      string `json:"type"` // "base64" or "url"
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

// outBlock is a request content block; raw, when set, is sent instead
// (a vendor block, verbatim).
type outBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	Source    *imageSource    `json:"source,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   any             `json:"content,omitempty"`
	raw       json.RawMessage
}

func (b outBlock) MarshalJSON() ([]byte, error) {
	if b.raw != nil {
		return b.raw, nil
	}
	type plain outBlock
	return json.Marshal(plain(b))
}

type outMessage struct {
	Role    string     `json:"role"`
	Content []outBlock `json:"content"`
}

type outTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type outToolChoice struct {
	Type string `json:"type"`
	Name string `json:"name,omitempty"`
}

// buildBody encodes a normalised request as a Messages API body. Keys come
// out sorted, so the encoding is deterministic.
func buildBody(req bus.Request, stream bool) ([]byte, error) {
	if req.Model == "" {
		return nil, errors.New("model is required")
	}
	body := map[string]any{}
	for k, v := range req.Extra {
		if !passThrough[k] {
			continue
		}
		if !json.Valid(v) {
			return nil, fmt.Errorf("extra field %q is not valid JSON", k)
		}
		body[k] = v
	}
	body["model"] = req.Model
	maxTokens := req.MaxTokens
	if maxTokens <= 0 {
		maxTokens = DefaultMaxTokens
	}
	body["max_tokens"] = maxTokens

	system := req.System
	var msgs []outMessage
	add := func(role string, blocks []outBlock) {
		if len(blocks) == 0 {
			return
		}
		if n := len(msgs); n > 0 && msgs[n-1].Role == role {
			msgs[n-1].Content = append(msgs[n-1].Content, blocks...)
			return
		}
		msgs = append(msgs, outMessage{Role: role, Content: blocks})
	}
	for i, m := range req.Messages {
		switch m.Role {
		case bus.System:
			if t := m.Text(); t != "" {
				if system != "" {
					system += "\n\n"
				}
				system += t
			}
		case bus.User:
			blocks, err := partBlocks(m.Content)
			if err != nil {
				return nil, fmt.Errorf("message %d: %w", i, err)
			}
			add("user", blocks)
		case bus.Assistant:
			blocks, err := partBlocks(m.Content)
			if err != nil {
				return nil, fmt.Errorf("message %d: %w", i, err)
			}
			for _, tc := range m.ToolCalls {
				args := bytes.TrimSpace(tc.Arguments)
				if len(args) == 0 {
					args = []byte("{}")
				}
				if !json.Valid(args) || args[0] != '{' {
					return nil, fmt.Errorf("message %d: tool call %q arguments are not a JSON object", i, tc.Name)
				}
				blocks = append(blocks, outBlock{Type: "tool_use", ID: tc.ID, Name: tc.Name, Input: json.RawMessage(args)})
			}
			add("assistant", blocks)
		case bus.Tool:
			if m.ToolCallID == "" {
				return nil, fmt.Errorf("message %d: tool result without tool_call_id", i)
			}
			inner, err := partBlocks(m.Content)
			if err != nil {
				return nil, fmt.Errorf("message %d: %w", i, err)
			}
			b := outBlock{Type: "tool_result", ToolUseID: m.ToolCallID}
			switch {
			case len(inner) == 1 && inner[0].Type == "text":
				b.Content = inner[0].Text
			case len(inner) > 0:
				b.Content = inner
			}
			add("user", []outBlock{b})
		default:
			return nil, fmt.Errorf("message %d: unknown role %q", i, m.Role)
		}
	}
	if msgs == nil {
		msgs = []outMessage{}
	}
	body["messages"] = msgs
	if system != "" {
		body["system"] = system
	}
	// Server tools (web_search_…, code_execution_…) come from an Anthropic
	// door in Extra["tools"], verbatim.
	var serverTools []json.RawMessage
	if raw, ok := req.Extra["tools"]; ok {
		if err := json.Unmarshal(raw, &serverTools); err != nil {
			return nil, errors.New(`extra field "tools" is not a list of tools`)
		}
	}
	if len(req.Tools) > 0 || len(serverTools) > 0 {
		tools := make([]any, 0, len(req.Tools)+len(serverTools))
		for _, t := range serverTools {
			tools = append(tools, t)
		}
		for _, t := range req.Tools {
			schema := bytes.TrimSpace(t.Parameters)
			if len(schema) == 0 || string(schema) == "null" {
				schema = []byte(`{"type":"object","properties":{}}`)
			}
			if !json.Valid(schema) {
				return nil, fmt.Errorf("tool %q: parameters are not valid JSON", t.Name)
			}
			tools = append(tools, outTool{Name: t.Name, Description: t.Description, InputSchema: json.RawMessage(schema)})
		}
		body["tools"] = tools
		switch tc := req.ToolChoice; tc {
		case "":
		case "auto", "none", "any":
			body["tool_choice"] = outToolChoice{Type: tc}
		case "required":
			body["tool_choice"] = outToolChoice{Type: "any"}
		default:
			body["tool_choice"] = outToolChoice{Type: "tool", Name: tc}
		}
	}
	if req.Temperature != nil {
		body["temperature"] = *req.Temperature
	}
	if req.TopP != nil {
		body["top_p"] = *req.TopP
	}
	if len(req.Stop) > 0 {
		body["stop_sequences"] = req.Stop
	}
	if stream {
		body["stream"] = true
	}
	return json.Marshal(body)
}

// partBlocks converts text and image parts. Empty text parts are dropped:
// the API rejects empty text blocks.
func partBlocks(parts []bus.Part) ([]outBlock, error) {
	var out []outBlock
	for _, p := range parts {
		switch p.Type {
		case bus.TextPart:
			if p.Text != "" {
				out = append(out, outBlock{Type: "text", Text: p.Text})
			}
		case bus.VendorPart:
			if p.Vendor != bus.VendorAnthropic {
				continue // another vendor's block
			}
			if !json.Valid(p.Raw) || bytes.TrimSpace(p.Raw)[0] != '{' {
				return nil, errors.New("an Anthropic content block is not a JSON object")
			}
			out = append(out, outBlock{raw: p.Raw})
		case bus.ImagePart:
			switch {
			case len(p.Data) > 0:
				if p.MediaType == "" {
					return nil, errors.New("image without media type")
				}
				out = append(out, outBlock{Type: "image", Source: &imageSource{Type: "base64", MediaType: p.MediaType, Data: base64.StdEncoding.EncodeToString(p.Data)}})
			case p.URL != "":
				out = append(out, outBlock{Type: "image", Source: &imageSource{Type: "url", URL: p.URL}})
			default:
				return nil, errors.New("image without data or URL")
			}
		default:
			return nil, fmt.Errorf("unknown part type %q", p.Type)
		}
	}
	return out, nil
}
