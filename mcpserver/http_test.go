package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// bearer adds an Authorization header to every request; the token may be
// changed between requests.
type bearer struct {
	mu    sync.Mutex
	token string
}

func (b *bearer) set(tok string) {
	b.mu.Lock()
	b.token = tok
	b.mu.Unlock()
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	b.mu.Lock()
	tok := b.token
	b.mu.Unlock()
	r = r.Clone(r.Context())
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// leaseServer serves HTTPHandler with one fake backend per token.
func leaseServer(t *testing.T, backends map[string]*fakeBackend) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(HTTPHandler(func(r *http.Request) (Backend, error) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			return nil, errors.New("a lease token is required as Authorization: Bearer <token>")
		}
		if tok == "suspended" {
			return nil, &APIError{Status: http.StatusForbidden, Code: "forbidden", Message: "the lease is suspended"}
		}
		b, ok := backends[tok]
		if !ok {
			return nil, errors.New("unknown or revoked lease token")
		}
		return b, nil
	}))
	t.Cleanup(srv.Close)
	return srv
}

func httpConnect(ctx context.Context, url string, auth *bearer) (*mcp.ClientSession, error) {
	tr := &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: auth}, MaxRetries: -1}
	return mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "v0"}, nil).Connect(ctx, tr, nil)
}

func searchText(t *testing.T, cs *mcp.ClientSession) string {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: ToolMemorySearch, Arguments: map[string]any{"query": "mode"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError {
		t.Fatalf("tool error: %s", text(t, res))
	}
	return text(t, res)
}

func TestHTTPBackendPerToken(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	srv := leaseServer(t, map[string]*fakeBackend{"tok-a": a, "tok-b": b})
	ctx := context.Background()

	csA, err := httpConnect(ctx, srv.URL, &bearer{token: "tok-a"})
	if err != nil {
		t.Fatal(err)
	}
	defer csA.Close()
	csB, err := httpConnect(ctx, srv.URL, &bearer{token: "tok-b"})
	if err != nil {
		t.Fatal(err)
	}
	defer csB.Close()

	tools, err := csA.ListTools(ctx, nil)
	if err != nil || len(tools.Tools) != 5 {
		t.Fatalf("tools %v, %v", tools, err)
	}
	if s := searchText(t, csA); !strings.Contains(s, "dark mode (a)") {
		t.Errorf("lease a answered by another backend: %s", s)
	}
	if s := searchText(t, csB); !strings.Contains(s, "dark mode (b)") {
		t.Errorf("lease b answered by another backend: %s", s)
	}
	if s := searchText(t, csA); !strings.Contains(s, "dark mode (a)") {
		t.Errorf("lease a answered by another backend: %s", s)
	}
	if n, m := len(a.Calls()), len(b.Calls()); n != 2 || m != 1 {
		t.Errorf("calls: a %d, b %d", n, m)
	}

	res, err := csB.CallTool(ctx, &mcp.CallToolParams{Name: ToolSkillRun, Arguments: map[string]any{"skill": "summarize"}})
	if err != nil || res.IsError {
		t.Fatalf("skill_run: %v %v", res, err)
	}
	if out := structured[SkillRunResult](t, res); out.ID != "run_1" {
		t.Errorf("run %+v", out)
	}
}

// Every request is bound to the lease of its own token: nothing of an
// earlier request's lease carries over.
func TestHTTPEveryRequestAuthenticated(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	srv := leaseServer(t, map[string]*fakeBackend{"tok-a": a, "tok-b": b})
	auth := &bearer{token: "tok-a"}
	cs, err := httpConnect(context.Background(), srv.URL, auth)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	searchText(t, cs)

	auth.set("tok-b")
	if s := searchText(t, cs); !strings.Contains(s, "(b)") {
		t.Errorf("request with token b served by %s", s)
	}

	auth.set("tok-revoked")
	_, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: ToolMemorySearch, Arguments: map[string]any{"query": "x"}})
	if err == nil {
		t.Error("a request with a bad token was served")
	}
	if n, m := len(a.Calls()), len(b.Calls()); n != 1 || m != 1 {
		t.Errorf("calls: a %d, b %d; want 1 each", n, m)
	}
}

func TestHTTPRejectsMissingOrWrongToken(t *testing.T) {
	a := newFake("a")
	srv := leaseServer(t, map[string]*fakeBackend{"tok-a": a})
	for _, tok := range []string{"", "tok-wrong"} {
		if cs, err := httpConnect(context.Background(), srv.URL, &bearer{token: tok}); err == nil {
			cs.Close()
			t.Errorf("token %q: connected", tok)
		}
	}
	if n := len(a.Calls()); n != 0 {
		t.Errorf("%d calls", n)
	}

	body := `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	for tok, want := range map[string]int{"": 401, "tok-wrong": 401, "suspended": 403} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		err = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != want || err != nil || e.Error.Message == "" {
			t.Errorf("token %q: %d %+v %v, want %d and a JSON error", tok, resp.StatusCode, e, err, want)
		}
		if want == 401 && (e.Error.Code != "unauthorized" || resp.Header.Get("WWW-Authenticate") == "") {
			t.Errorf("token %q: code %q, WWW-Authenticate %q", tok, e.Error.Code, resp.Header.Get("WWW-Authenticate"))
		}
		if tok == "suspended" && (e.Error.Code != "forbidden" || e.Error.Message != "the lease is suspended") {
			t.Errorf("suspended: %+v", e)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("content type %q", ct)
		}
	}

	// With a good token the same raw request is served, without a session.
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer tok-a")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Mcp-Session-Id") != "" {
		t.Errorf("status %d, session %q", resp.StatusCode, resp.Header.Get("Mcp-Session-Id"))
	}
}

// Concurrent clients on different leases never see each other's backend.
func TestHTTPConcurrentLeases(t *testing.T) {
	backends := map[string]*fakeBackend{}
	for _, n := range []string{"a", "b", "c", "d"} {
		backends["tok-"+n] = newFake(n)
	}
	srv := leaseServer(t, backends)
	var wg sync.WaitGroup
	for tok, f := range backends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs, err := httpConnect(context.Background(), srv.URL, &bearer{token: tok})
			if err != nil {
				t.Error(err)
				return
			}
			defer cs.Close()
			for range 10 {
				res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: ToolMemorySearch, Arguments: map[string]any{"query": "q"}})
				if err != nil {
					t.Error(err)
					return
				}
				if s := res.Content[0].(*mcp.TextContent).Text; !strings.Contains(s, "dark mode ("+f.name+")") {
					t.Errorf("%s answered by another backend: %s", tok, s)
				}
			}
		}()
	}
	wg.Wait()
	for tok, f := range backends {
		if n := len(f.Calls()); n != 10 {
			t.Errorf("%s: %d calls", tok, n)
		}
	}
}
