package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mirroros/mirror/config"
	"github.com/mirroros/mirror/kernel"
	"github.com/spf13/cobra"
)

// client talks to a running kernel.
type client struct {
	base  string
	token string
	http  *http.Client
}

func newClient(cmd *cobra.Command, g *globals) (*client, error) {
	var cfgp *config.Config
	if cfg, err := config.Load(g.dataDir); err == nil {
		cfgp = &cfg
	}
	addr := g.resolveAddr(cmd, cfgp)
	tok := os.Getenv("MIRROR_TOKEN")
	if tok == "" {
		raw, err := os.ReadFile(filepath.Join(g.dataDir, kernel.OwnerTokenFile))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("read owner token: %w", err)
		}
		tok = strings.TrimSpace(string(raw))
	}
	return &client{base: "http://" + addr, token: tok, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// apiError is an error response from the kernel.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s (%d %s)", e.Message, e.Status, e.Code)
}

// get fetches path; a non-2xx answer becomes an *apiError.
func (c *client) get(ctx context.Context, path string) ([]byte, http.Header, error) {
	return c.do(ctx, http.MethodGet, path, nil)
}

// send makes a request with a JSON body and decodes a JSON answer into out.
func (c *client) send(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	resp, _, err := c.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	if out != nil {
		return json.Unmarshal(resp, out)
	}
	return nil
}

// do makes one request; a non-2xx answer becomes an *apiError.
func (c *client) do(ctx context.Context, method, path string, body io.Reader) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot reach the kernel at %s (is 'mirror up' running?): %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, nil, err
	}
	return answer(resp, data)
}

// answer turns a non-2xx response into an *apiError.
func answer(resp *http.Response, body []byte) ([]byte, http.Header, error) {
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error.Code != "" {
			return body, resp.Header, &apiError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
		}
		return body, resp.Header, &apiError{Status: resp.StatusCode, Code: "http_error", Message: strings.TrimSpace(string(body))}
	}
	return body, resp.Header, nil
}

func (c *client) getJSON(ctx context.Context, path string, v any) error {
	body, _, err := c.get(ctx, path)
	if err != nil {
		return err
	}
	return json.Unmarshal(body, v)
}
