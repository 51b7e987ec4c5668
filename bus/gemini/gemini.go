// Package gemini is the model bus adapter for the Google Gemini API
// (generativelanguage.googleapis.com), spoken with net/http only.
package gemini

import (
	"bytes"
	"context"
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

// DefaultBaseURL is the public Gemini API.
const DefaultBaseURL = "https://generativelanguage.googleapis.com/v1beta"

// Size limits on what the upstream may send.
const (
	maxBody      = 32 << 20 // a whole generateContent answer or model page
	maxErrorBody = 1 << 20  // an error body
	maxLine      = 16 << 20 // one SSE line (inline images can be large)
	maxEvent     = 16 << 20 // one SSE event's data
	maxPages     = 50       // model list pages
)

// Config configures a Client.
type Config struct {
	Name       string       // provider name; default "gemini"
	BaseURL    string       // default DefaultBaseURL
	APIKey     string       // sent as x-goog-api-key, never in the URL
	HTTPClient *http.Client // default: a client without a global timeout (streams are long)
}

// Client is a bus.Provider for Gemini.
type Client struct {
	name string
	base string
	key  string
	hc   *http.Client
}

var _ bus.Provider = (*Client)(nil)

// New returns a Client.
func New(cfg Config) *Client {
	c := &Client{name: cfg.Name, base: strings.TrimRight(cfg.BaseURL, "/"), key: cfg.APIKey, hc: cfg.HTTPClient}
	if c.name == "" {
		c.name = "gemini"
	}
	if c.base == "" {
		c.base = DefaultBaseURL
	}
	if c.hc == nil {
		c.hc = &http.Client{}
	}
	return c
}

// Name returns the configured provider name.
func (c *Client) Name() string { return c.name }

// Chat sends one generateContent call.
func (c *Client) Chat(ctx context.Context, req bus.Request) (bus.Response, error) {
	resp, err := c.post(ctx, req, false)
	if err != nil {
		return bus.Response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return bus.Response{}, c.transportError(ctx, err)
	}
	if len(body) > maxBody {
		return bus.Response{}, c.errorf(resp.StatusCode, bus.Malformed, "response larger than %d bytes", maxBody)
	}
	r, err := parseChunk(body)
	if err != nil {
		return bus.Response{}, c.errorf(resp.StatusCode, bus.Malformed, "unparseable response: %v", err)
	}
	if r.Error != nil {
		return bus.Response{}, c.apiErr(r.Error)
	}
	if len(r.Candidates) == 0 && (r.PromptFeedback == nil || r.PromptFeedback.BlockReason == "") {
		return bus.Response{}, c.errorf(resp.StatusCode, bus.Malformed, "response has no candidates")
	}

	out := bus.Response{Model: r.ModelVersion, Message: bus.Message{Role: bus.Assistant}, Usage: mapUsage(r.UsageMetadata)}
	if out.Model == "" {
		out.Model = req.Model
	}
	if len(r.Candidates) == 0 { // the prompt itself was blocked
		out.Stop = bus.StopFiltered
		return out, nil
	}
	cand := r.Candidates[0]
	var text strings.Builder
	if cand.Content != nil {
		for _, p := range cand.Content.Parts {
			switch {
			case p.FunctionCall != nil:
				out.Message.ToolCalls = append(out.Message.ToolCalls, toolCall(p.FunctionCall, len(out.Message.ToolCalls)))
			case p.Thought:
				// Thought summaries are not part of the answer.
			case p.Text != "":
				text.WriteString(p.Text)
			}
		}
	}
	if text.Len() > 0 {
		out.Message.Content = []bus.Part{{Type: bus.TextPart, Text: text.String()}}
	}
	out.Stop = mapFinish(cand.FinishReason, len(out.Message.ToolCalls) > 0)
	return out, nil
}

// toolCall converts a functionCall; older API versions send no id, so one is
// synthesised from the call's position in the answer.
func toolCall(fc *functionCall, n int) bus.ToolCall {
	id := fc.ID
	if id == "" {
		id = "call_" + strconv.Itoa(n)
	}
	args := fc.Args
	if len(bytes.TrimSpace(args)) == 0 || string(bytes.TrimSpace(args)) == "null" {
		args = json.RawMessage(`{}`)
	}
	return bus.ToolCall{ID: id, Name: fc.Name, Arguments: args}
}

// ChatStream sends one streamGenerateContent call and reads its SSE answer.
func (c *Client) ChatStream(ctx context.Context, req bus.Request) (bus.Stream, error) {
	resp, err := c.post(ctx, req, true)
	if err != nil {
		return nil, err
	}
	return newStream(c, ctx, resp.Body, req.Model), nil
}

// Models lists the models that support generateContent.
func (c *Client) Models(ctx context.Context) ([]bus.Model, error) {
	var out []bus.Model
	token := ""
	for page := 0; page < maxPages; page++ {
		u := c.base + "/models?pageSize=1000"
		if token != "" {
			u += "&pageToken=" + url.QueryEscape(token)
		}
		hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, c.errorf(0, bus.BadRequest, "building request: %v", c.redact(err.Error()))
		}
		c.setHeaders(hreq)
		resp, err := c.do(ctx, hreq)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
		resp.Body.Close()
		if err != nil {
			return nil, c.transportError(ctx, err)
		}
		var lr listModelsResponse
		if len(body) > maxBody {
			return nil, c.errorf(resp.StatusCode, bus.Malformed, "model list larger than %d bytes", maxBody)
		}
		if err := json.Unmarshal(body, &lr); err != nil {
			return nil, c.errorf(resp.StatusCode, bus.Malformed, "unparseable model list: %v", err)
		}
		for _, m := range lr.Models {
			if !contains(m.SupportedGenerationMethods, "generateContent") {
				continue
			}
			out = append(out, bus.Model{ID: strings.TrimPrefix(m.Name, "models/"), Context: m.InputTokenLimit})
		}
		if lr.NextPageToken == "" || lr.NextPageToken == token {
			break
		}
		token = lr.NextPageToken
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// post builds and sends a generate call, returning a 200 response or a
// classified error.
func (c *Client) post(ctx context.Context, req bus.Request, stream bool) (*http.Response, error) {
	model := strings.TrimPrefix(req.Model, "models/")
	if model == "" {
		return nil, c.errorf(0, bus.BadRequest, "no model given")
	}
	wire, err := buildRequest(req)
	if err != nil {
		return nil, c.errorf(0, bus.BadRequest, "%v", err)
	}
	body, err := json.Marshal(wire)
	if err != nil {
		return nil, c.errorf(0, bus.BadRequest, "encoding request: %v", err)
	}
	u := c.base + "/models/" + url.PathEscape(model)
	if stream {
		u += ":streamGenerateContent?alt=sse"
	} else {
		u += ":generateContent"
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, c.errorf(0, bus.BadRequest, "building request: %v", c.redact(err.Error()))
	}
	c.setHeaders(hreq)
	hreq.Header.Set("Content-Type", "application/json")
	if stream {
		hreq.Header.Set("Accept", "text/event-stream")
	}
	return c.do(ctx, hreq)
}

func (c *Client) setHeaders(r *http.Request) {
	if c.key != "" {
		r.Header.Set("x-goog-api-key", c.key)
	}
}

// do sends a request; any non-200 answer becomes a classified error.
func (c *Client) do(ctx context.Context, hreq *http.Request) (*http.Response, error) {
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := c.statusError(resp.StatusCode, body)
	if ra := parseRetryAfter(resp.Header.Get("Retry-After")); ra > 0 {
		e.RetryAfter = ra
	}
	return nil, e
}

// statusError classifies an HTTP error answer, taking the message from the
// Gemini error body {"error":{"code","message","status"}} when there is one.
func (c *Client) statusError(status int, body []byte) *bus.Error {
	var env struct {
		Error *apiError `json:"error"`
	}
	ae := (*apiError)(nil)
	if json.Unmarshal(body, &env) == nil && env.Error != nil {
		ae = env.Error
	} else {
		// Some endpoints wrap the error in a one-element array.
		var arr []struct {
			Error *apiError `json:"error"`
		}
		if json.Unmarshal(body, &arr) == nil && len(arr) > 0 && arr[0].Error != nil {
			ae = arr[0].Error
		}
	}
	e := &bus.Error{Provider: c.name, Status: status, Kind: kindFor(status)}
	if ae != nil {
		e.Message = ae.Message
		if e.Message == "" {
			e.Message = ae.Status
		}
		e.RetryAfter = retryDelay(ae.Details)
	} else {
		e.Message = strings.TrimSpace(string(body))
		if len(e.Message) > 512 {
			e.Message = e.Message[:512]
		}
		if e.Message == "" {
			e.Message = http.StatusText(status)
		}
	}
	e.Message = c.redact(e.Message)
	return e
}

// apiErr classifies an in-band error (an SSE chunk carrying "error").
func (c *Client) apiErr(ae *apiError) *bus.Error {
	status := ae.Code
	if status < 400 || status > 599 {
		status = statusForCode(ae.Status)
	}
	msg := ae.Message
	if msg == "" {
		msg = ae.Status
	}
	return &bus.Error{Provider: c.name, Status: status, Kind: kindFor(status), Message: c.redact(msg), RetryAfter: retryDelay(ae.Details)}
}

func statusForCode(s string) int {
	switch s {
	case "RESOURCE_EXHAUSTED":
		return 429
	case "UNAUTHENTICATED":
		return 401
	case "PERMISSION_DENIED":
		return 403
	case "INVALID_ARGUMENT", "FAILED_PRECONDITION", "NOT_FOUND", "OUT_OF_RANGE":
		return 400
	case "DEADLINE_EXCEEDED":
		return 504
	case "UNAVAILABLE":
		return 503
	default:
		return 500
	}
}

func kindFor(status int) bus.ErrorKind {
	switch {
	case status == http.StatusTooManyRequests:
		return bus.RateLimited
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return bus.AuthFailed
	case status >= 500:
		return bus.Unavailable
	case status >= 400:
		return bus.BadRequest
	default:
		return bus.Malformed
	}
}

// retryDelay reads google.rpc.RetryInfo {"retryDelay":"7s"} from error details.
func retryDelay(details []json.RawMessage) time.Duration {
	for _, d := range details {
		var ri struct {
			Type       string `json:"@type"`
			RetryDelay string `json:"retryDelay"`
		}
		if json.Unmarshal(d, &ri) != nil || !strings.HasSuffix(ri.Type, "RetryInfo") || ri.RetryDelay == "" {
			continue
		}
		if dur, err := time.ParseDuration(ri.RetryDelay); err == nil && dur > 0 {
			return dur
		}
	}
	return 0
}

func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n > 0 {
			return time.Duration(n) * time.Second
		}
		return 0
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}

// transportError classifies a failure to talk to the upstream. A cancelled or
// expired context is returned as is: it is the caller's doing.
func (c *Client) transportError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &bus.Error{Provider: c.name, Kind: bus.Unavailable, Message: c.redact(err.Error())}
}

func (c *Client) errorf(status int, kind bus.ErrorKind, format string, args ...any) *bus.Error {
	return &bus.Error{Provider: c.name, Status: status, Kind: kind, Message: c.redact(fmt.Sprintf(format, args...))}
}

// redact removes the API key from a message, should any upstream echo it.
func (c *Client) redact(s string) string {
	if c.key == "" {
		return s
	}
	return strings.ReplaceAll(s, c.key, "[redacted]")
}
