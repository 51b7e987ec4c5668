package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// fakeKernel implements the five kernel endpoints the HTTP backend calls.
type fakeKernel struct {
	token string

	mu       sync.Mutex
	queries  []url.Values
	evidence []map[string]any
	runs     []map[string]any
}

func (k *fakeKernel) handler() http.Handler {
	mux := http.NewServeMux()
	fail := func(w http.ResponseWriter, status int, code, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
	}
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+k.token {
				fail(w, 401, "unauthorized", "a valid lease token is required")
				return
			}
			h(w, r)
		}
	}
	reply := func(w http.ResponseWriter, status int, body string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
	decode := func(r *http.Request) map[string]any {
		var m map[string]any
		json.NewDecoder(r.Body).Decode(&m)
		return m
	}
	mux.HandleFunc("GET /v1/memory/search", auth(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		k.mu.Lock()
		k.queries = append(k.queries, q)
		k.mu.Unlock()
		if q.Get("q") == "forbidden" {
			fail(w, 403, "forbidden", "policy denies memory.search for this lease")
			return
		}
		if q.Get("q") == "broken" {
			reply(w, 502, "upstream exploded")
			return
		}
		reply(w, 200, `{"results":[{"type":"claim","id":"clm_9","text":"Prefers tea.","score":0.8,"status":"candidate",
			"evidence":["sha256:e1"],"valid_at":"2025-01-01T00:00:00Z","invalid_at":"","created_at":"2025-01-02T00:00:00Z"}]}`)
	}))
	mux.HandleFunc("POST /v1/memory/evidence", auth(func(w http.ResponseWriter, r *http.Request) {
		m := decode(r)
		k.mu.Lock()
		k.evidence = append(k.evidence, m)
		k.mu.Unlock()
		reply(w, 201, `{"id":"sha256:e2","created":true}`)
	}))
	mux.HandleFunc("GET /v1/memory/canon", auth(func(w http.ResponseWriter, r *http.Request) {
		v := r.URL.Query().Get("version")
		if v == "" {
			v = "4"
		}
		if v == "99" {
			fail(w, 404, "not_found", "no canon version 99")
			return
		}
		reply(w, 200, `{"version":`+v+`,"hash":"sha256:c","created_at":"2025-02-02T00:00:00Z","claims":[
			{"id":"clm_1","statement":"Lives in Lyon.","subject":"user","kind":"fact","confidence":0.95,"evidence":["sha256:e1"],"valid_at":"2024-01-01T00:00:00Z"}]}`)
	}))
	mux.HandleFunc("POST /v1/runs", auth(func(w http.ResponseWriter, r *http.Request) {
		m := decode(r)
		k.mu.Lock()
		k.runs = append(k.runs, m)
		k.mu.Unlock()
		reply(w, 200, `{"id":"run_7","lease":"lse_1","state":"succeeded","output":{"answer":42},"provenance":"note","depth":0}`)
	}))
	mux.HandleFunc("GET /v1/skills", auth(func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, `{"skills":[{"name":"summarize","version":"1.0.0","description":"Summarize.","status":"stable","risk":"low"}],"refused":[]}`)
	}))
	return mux
}

func newKernel(t *testing.T) (*fakeKernel, *httptest.Server) {
	t.Helper()
	k := &fakeKernel{token: "mos_owner"}
	srv := httptest.NewServer(k.handler())
	t.Cleanup(srv.Close)
	return k, srv
}

func TestHTTPBackend(t *testing.T) {
	k, srv := newKernel(t)
	b := NewHTTPBackend(srv.URL+"/", "mos_owner", nil)
	ctx := context.Background()

	asOf := time.Date(2025, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	res, err := b.SearchMemory(ctx, SearchQuery{Query: "tea & coffee", AsOf: asOf, Limit: 3, Kind: "preference"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Results) != 1 || res.Results[0].ID != "clm_9" || res.Results[0].Evidence[0] != "sha256:e1" || res.Results[0].InvalidAt != "" {
		t.Errorf("search %+v", res)
	}
	q := k.queries[0]
	if q.Get("q") != "tea & coffee" || q.Get("as_of") != "2025-03-01T11:00:00Z" || q.Get("limit") != "3" || q.Get("kind") != "preference" || q.Has("valid_at") {
		t.Errorf("query %v", q)
	}

	ev, err := b.AddEvidence(ctx, EvidenceInput{Content: "note", Kind: EvidenceText, Source: "test", ObservedAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil || ev != (EvidenceResult{ID: "sha256:e2", Created: true}) {
		t.Errorf("evidence %+v %v", ev, err)
	}
	if m := k.evidence[0]; m["content"] != "note" || m["kind"] != "text" || m["source"] != "test" || m["observed_at"] != "2025-01-01T00:00:00Z" {
		t.Errorf("evidence body %v", m)
	}
	if _, ok := k.evidence[0]["media_type"]; ok {
		t.Errorf("empty media_type sent: %v", k.evidence[0])
	}

	c, err := b.Canon(ctx, 0)
	if err != nil || c.Version != 4 || len(c.Claims) != 1 || c.Claims[0].Confidence != 0.95 {
		t.Errorf("canon %+v %v", c, err)
	}
	if c, err := b.Canon(ctx, 2); err != nil || c.Version != 2 {
		t.Errorf("canon 2 %+v %v", c, err)
	}

	run, err := b.RunSkill(ctx, SkillRun{Skill: "summarize", Inputs: map[string]any{"text": "x"}, Goal: "g"})
	if err != nil || run.ID != "run_7" || run.State != RunSucceeded || string(run.Output) != `{"answer":42}` || run.Provenance != "note" {
		t.Errorf("run %+v %v", run, err)
	}
	if m := k.runs[0]; m["skill"] != "summarize" || m["goal"] != "g" || m["wait"] != true || m["inputs"].(map[string]any)["text"] != "x" {
		t.Errorf("run body %v", m)
	}

	skills, err := b.ListSkills(ctx)
	if err != nil || len(skills) != 1 || skills[0] != (SkillInfo{Name: "summarize", Version: "1.0.0", Description: "Summarize.", Status: "stable"}) {
		t.Errorf("skills %+v %v", skills, err)
	}
}

func TestHTTPBackendErrors(t *testing.T) {
	_, srv := newKernel(t)
	ctx := context.Background()
	b := NewHTTPBackend(srv.URL, "mos_owner", srv.Client())

	_, err := b.SearchMemory(ctx, SearchQuery{Query: "forbidden"})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 403 || ae.Code != "forbidden" || ae.Message != "policy denies memory.search for this lease" {
		t.Fatalf("err %#v", err)
	}
	if !strings.Contains(err.Error(), "policy denies memory.search for this lease") {
		t.Errorf("message %q", err)
	}

	_, err = b.SearchMemory(ctx, SearchQuery{Query: "broken"})
	if !errors.As(err, &ae) || ae.Status != 502 || ae.Message != "upstream exploded" {
		t.Errorf("err %#v", err)
	}
	if _, err = b.Canon(ctx, 99); !errors.As(err, &ae) || ae.Code != "not_found" {
		t.Errorf("err %#v", err)
	}

	_, err = NewHTTPBackend(srv.URL, "wrong", nil).ListSkills(ctx)
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Code != "unauthorized" {
		t.Errorf("err %#v", err)
	}

	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	_, err = NewHTTPBackend(dead.URL, "t", nil).ListSkills(ctx)
	if err == nil || !strings.Contains(err.Error(), "cannot reach the kernel") {
		t.Errorf("err %v", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.ListSkills(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// The tools over the HTTP backend: an API error becomes a tool error with
// the kernel's message.
func TestToolsOverHTTPBackend(t *testing.T) {
	_, srv := newKernel(t)
	cs := connect(t, NewHTTPBackend(srv.URL, "mos_owner", nil))
	res := callTool(t, cs, ToolMemorySearch, map[string]any{"query": "forbidden"})
	if !res.IsError {
		t.Fatal("not an error")
	}
	wantContains(t, text(t, res), "policy denies memory.search for this lease")

	res = callTool(t, cs, ToolSkillRun, map[string]any{"skill": "summarize"})
	wantContains(t, text(t, res), "Run run_7 of summarize succeeded.", "\"answer\": 42")
}

// stdioKernelEnv names the kernel a re-executed test binary serves over
// stdio, as `mirror mcp` does.
const stdioKernelEnv = "MCPSERVER_TEST_STDIO_KERNEL"

func TestMain(m *testing.M) {
	if base := os.Getenv(stdioKernelEnv); base != "" {
		err := New(NewHTTPBackend(base, "mos_owner", nil), "test").Run(context.Background(), &mcp.StdioTransport{})
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestStdio(t *testing.T) {
	_, srv := newKernel(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), stdioKernelEnv+"="+srv.URL)
	cmd.Stderr = os.Stderr
	ctx := context.Background()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "v0"}, nil).Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if cs.InitializeResult() != nil && cs.InitializeResult().ServerInfo.Name != ServerName {
		t.Errorf("server %+v", cs.InitializeResult().ServerInfo)
	}
	res := callTool(t, cs, ToolMemoryCanon, map[string]any{})
	if res.IsError {
		t.Fatal(text(t, res))
	}
	wantContains(t, text(t, res), "Canon version 4 (sha256:c), 1 claims", "[fact] Lives in Lyon.")
	res = callTool(t, cs, ToolSkillList, nil)
	wantContains(t, text(t, res), "- summarize@1.0.0 (stable): Summarize.")
}
