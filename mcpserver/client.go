package mcpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxResponse bounds the size of a kernel answer the HTTP backend reads.
const maxResponse = 64 << 20

// APIError is an error answer from the kernel's HTTP API:
// {"error":{"code","message"}} with a 4xx or 5xx status.
type APIError struct {
	Status  int    // the HTTP status
	Code    string // snake_case, e.g. "forbidden"
	Message string // a human sentence
}

// Error returns the kernel's message, with the status and code.
func (e *APIError) Error() string {
	if e.Code == "" {
		return e.Message
	}
	return fmt.Sprintf("%s (%d %s)", e.Message, e.Status, e.Code)
}

// httpBackend is a Backend that calls a running kernel's HTTP API.
type httpBackend struct {
	base  string
	token string
	hc    *http.Client
}

// NewHTTPBackend returns a Backend that calls the kernel's HTTP API at
// baseURL (e.g. "http://127.0.0.1:8400") with token as its bearer lease
// token. hc nil means a client without a timeout: skill runs can last
// minutes, and each call ends with its context.
func NewHTTPBackend(baseURL, token string, hc *http.Client) Backend {
	if hc == nil {
		hc = &http.Client{}
	}
	return &httpBackend{base: strings.TrimRight(baseURL, "/"), token: token, hc: hc}
}

func (c *httpBackend) SearchMemory(ctx context.Context, q SearchQuery) (SearchResult, error) {
	v := url.Values{"q": {q.Query}}
	if !q.AsOf.IsZero() {
		v.Set("as_of", q.AsOf.UTC().Format(time.RFC3339Nano))
	}
	if !q.ValidAt.IsZero() {
		v.Set("valid_at", q.ValidAt.UTC().Format(time.RFC3339Nano))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Kind != "" {
		v.Set("kind", q.Kind)
	}
	var res SearchResult
	err := c.do(ctx, http.MethodGet, "/v1/memory/search?"+v.Encode(), nil, &res)
	return res, err
}

func (c *httpBackend) AddEvidence(ctx context.Context, e EvidenceInput) (EvidenceResult, error) {
	var res EvidenceResult
	err := c.do(ctx, http.MethodPost, "/v1/memory/evidence", e, &res)
	return res, err
}

func (c *httpBackend) Canon(ctx context.Context, version int) (CanonResult, error) {
	path := "/v1/memory/canon"
	if version > 0 {
		path += "?version=" + strconv.Itoa(version)
	}
	var res CanonResult
	err := c.do(ctx, http.MethodGet, path, nil, &res)
	return res, err
}

func (c *httpBackend) RunSkill(ctx context.Context, r SkillRun) (SkillRunResult, error) {
	body := struct {
		SkillRun
		Wait bool `json:"wait"`
	}{r, true}
	var res SkillRunResult
	err := c.do(ctx, http.MethodPost, "/v1/runs", body, &res)
	return res, err
}

func (c *httpBackend) ListSkills(ctx context.Context) ([]SkillInfo, error) {
	var res struct {
		Skills []SkillInfo `json:"skills"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/skills", nil, &res); err != nil {
		return nil, err
	}
	if res.Skills == nil {
		res.Skills = []SkillInfo{}
	}
	return res.Skills, nil
}

// do makes one request with in as its JSON body (nil for none) and decodes
// a 2xx answer into out; another answer becomes an *APIError.
func (c *httpBackend) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the kernel at %s (is 'mirror up' running?): %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("read the kernel's answer to %s %s: %w", method, req.URL.Path, err)
	}
	if resp.StatusCode/100 != 2 {
		return decodeAPIError(resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("the kernel's answer to %s %s is not the expected JSON: %w", method, req.URL.Path, err)
	}
	return nil
}

// decodeAPIError turns an error answer into an *APIError.
func decodeAPIError(status int, body []byte) *APIError {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && (e.Error.Code != "" || e.Error.Message != "") {
		msg := e.Error.Message
		if msg == "" {
			msg = http.StatusText(status)
		}
		return &APIError{Status: status, Code: e.Error.Code, Message: msg}
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 512 {
		msg = msg[:512] + "…"
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &APIError{Status: status, Code: "http_error", Message: msg}
}
