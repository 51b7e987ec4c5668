package api_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mirroros/mirror/kernel"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type evidenceView struct {
	ID      string `json:"id"`
	Created bool   `json:"created"`
}

type claimResult struct {
	Claim struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	} `json:"claim"`
	Created, Corroborated, Promoted bool
	CanonVersion                    int64 `json:"canon_version"`
}

// TestMemoryOverHTTP walks the memory plane through its API: evidence is
// content-addressed, a statement corroborated by two pieces of evidence
// enters the canon, a contradiction demotes it without deleting it, the
// canon's versions and diff say what changed, as-of queries see the past,
// and verify names a row changed behind the kernel's back.
func TestMemoryOverHTTP(t *testing.T) {
	e := newRunEnv(t)
	add := func(content string, want int) evidenceView {
		var v evidenceView
		e.mustJSON("POST", "/v1/memory/evidence", fmt.Sprintf(`{"content":%q,"source":"notes/today.md"}`, content), want, &v)
		return v
	}
	a := add("Ada prefers tea in the morning.", 201)
	if again := add("Ada prefers tea in the morning.", 200); again.ID != a.ID || again.Created {
		t.Fatalf("the same content twice: %+v then %+v", a, again)
	}
	b := add("Asked again on Friday: Ada still prefers tea in the morning.", 201)
	claim := func(evidence string, start, end int, extra string) claimResult {
		var r claimResult
		body := fmt.Sprintf(`{"statement":"Ada prefers tea in the morning.","kind":"preference","subject":"Ada","evidence":[{"evidence_id":%q,"start":%d,"end":%d}]%s}`, evidence, start, end, extra)
		e.mustJSON("POST", "/v1/memory/claims", body, http.StatusCreated, &r)
		return r
	}
	first := claim(a.ID, 0, 31, "")
	if first.Claim.Status != "candidate" || first.Promoted {
		t.Fatalf("one piece of evidence: %+v", first)
	}
	before := time.Now().UTC()
	time.Sleep(5 * time.Millisecond)
	var second claimResult
	e.mustJSON("POST", "/v1/memory/claims", fmt.Sprintf(`{"statement":"Ada prefers tea in the morning","kind":"preference","subject":"Ada","evidence":[{"evidence_id":%q,"start":23,"end":60}]}`, b.ID), http.StatusOK, &second)
	if !second.Corroborated || !second.Promoted || second.Claim.ID != first.Claim.ID || second.CanonVersion != 1 {
		t.Fatalf("the second piece of evidence: %+v", second)
	}
	var search struct {
		Results []struct{ Type, ID, Status string } `json:"results"`
	}
	e.mustJSON("GET", "/v1/memory/search?q="+url.QueryEscape("what does Ada drink"), "", 200, &search)
	if len(search.Results) == 0 || search.Results[0].ID != first.Claim.ID || search.Results[0].Status != "canon" {
		t.Fatalf("search: %+v", search)
	}

	// A contradiction: Ada switched to coffee.
	c := add("Ada has switched to coffee.", 201)
	var coffee claimResult
	body := fmt.Sprintf(`{"statement":"Ada prefers coffee in the morning.","kind":"preference","subject":"Ada","evidence":[{"evidence_id":%q,"start":0,"end":27}],"contradicts":[%q]}`, c.ID, first.Claim.ID)
	e.mustJSON("POST", "/v1/memory/claims", body, http.StatusCreated, &coffee)
	var old struct {
		Claim struct {
			Status         string `json:"status"`
			ContradictedBy string `json:"contradicted_by"`
		}
		History []struct{ Kind string }
	}
	e.mustJSON("GET", "/v1/memory/claims/"+first.Claim.ID, "", 200, &old)
	if old.Claim.ContradictedBy != coffee.Claim.ID || old.Claim.Status != "demoted" || len(old.History) != 4 {
		t.Fatalf("the contradicted claim: %+v", old)
	}
	var diff struct {
		Removed []struct{ ID string }
	}
	e.mustJSON("GET", "/v1/memory/canon/diff?from=1&to=2", "", 200, &diff)
	if len(diff.Removed) != 1 || diff.Removed[0].ID != first.Claim.ID {
		t.Fatalf("canon diff: %+v", diff)
	}
	// As of before the contradiction, the system believed tea, and tea was
	// true in the world; now it believes coffee only.
	ids := func(q string) string {
		var l struct{ Claims []struct{ ID string } }
		e.mustJSON("GET", "/v1/memory/claims?"+q, "", 200, &l)
		var out []string
		for _, c := range l.Claims {
			out = append(out, c.ID)
		}
		return strings.Join(out, " ")
	}
	at := func(t time.Time) string { return url.QueryEscape(t.Format(time.RFC3339Nano)) }
	if got := ids("as_of=" + at(before)); got != first.Claim.ID {
		t.Fatalf("believed before the contradiction: %q", got)
	}
	if got := ids("valid_at=" + at(before)); got != first.Claim.ID {
		t.Fatalf("true before the contradiction: %q", got)
	}
	if got := ids("as_of=" + at(time.Now())); got != coffee.Claim.ID {
		t.Fatalf("believed now: %q", got)
	}

	var rep struct {
		OK     bool
		Report struct {
			Problems []struct{ Table, ID, Problem string }
		}
	}
	e.mustJSON("POST", "/v1/memory/verify", "", 200, &rep)
	if !rep.OK {
		t.Fatalf("verify on untouched memory: %+v", rep)
	}
	// Change a claim's statement behind the kernel's back.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.dir, kernel.DBFile)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE memory_claims SET statement = 'Ada prefers whisky in the morning.' WHERE id = ?`, coffee.Claim.ID); err != nil {
		t.Fatal(err)
	}
	e.mustJSON("POST", "/v1/memory/verify", "", 200, &rep)
	if rep.OK || len(rep.Report.Problems) == 0 || !strings.Contains(fmt.Sprint(rep.Report.Problems), coffee.Claim.ID) {
		t.Fatalf("a tampered claim was not named: %+v", rep)
	}

	// Scopes: a read-only lease cannot write.
	var reader struct{ Token string }
	e.mustJSON("POST", "/v1/leases", `{"name":"reader","scopes":["memory:read"]}`, 201, &reader)
	if code, b := e.call("POST", "/v1/memory/evidence", `{"content":"x"}`, reader.Token); code != 403 {
		t.Fatalf("a memory:read lease wrote: %d %s", code, b)
	}
}

// TestMCPClientUsesMemoryThroughTheKernel: the official MCP SDK's client
// lists the kernel's tools at /mcp and calls them; each call is decided by
// the gate for the caller's lease and recorded.
func TestMCPClientUsesMemoryThroughTheKernel(t *testing.T) {
	e := newRunEnv(t)
	ctx := context.Background()
	connect := func(token string) *mcp.ClientSession {
		c := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
		s, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: e.url + "/mcp", HTTPClient: &http.Client{Transport: bearerTransport{token}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	s := connect(e.token)
	tools, err := s.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
	}
	if got := strings.Join(names, " "); !strings.Contains(got, "memory_search") || !strings.Contains(got, "memory_add_evidence") || !strings.Contains(got, "skill_run") {
		t.Fatalf("tools: %s", got)
	}
	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "memory_add_evidence", Arguments: map[string]any{"content": "The build server is in Lyon."}})
	if err != nil || res.IsError {
		t.Fatalf("add evidence: %v %+v", err, res)
	}
	res, err = s.CallTool(ctx, &mcp.CallToolParams{Name: "skill_run", Arguments: map[string]any{"skill": "summarize", "inputs": map[string]any{"text": "The build server is in Lyon."}}})
	if err != nil || res.IsError {
		t.Fatalf("skill run: %v %+v", err, res)
	}
	out, _ := json.Marshal(res.StructuredContent)
	if !strings.Contains(string(out), "succeeded") {
		t.Fatalf("skill run result: %s", out)
	}
	// A lease without memory:write is refused by the gate, as a tool error.
	var reader struct{ Token string }
	e.mustJSON("POST", "/v1/leases", `{"name":"reader","scopes":["memory:read"]}`, 201, &reader)
	res, err = connect(reader.Token).CallTool(ctx, &mcp.CallToolParams{Name: "memory_add_evidence", Arguments: map[string]any{"content": "nope"}})
	if err != nil || !res.IsError {
		t.Fatalf("a memory:read lease added evidence over MCP: %v %+v", err, res)
	}
	// No token: 401 before any MCP.
	c := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	if _, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: e.url + "/mcp"}, nil); err == nil {
		t.Fatal("connected to /mcp without a token")
	}
	// Every tool call was decided and recorded.
	entries := 0
	e.sys.Ledger.Entries(ctx, 0, 10000, func(_ uint64, d []byte) error {
		if strings.Contains(string(d), `"resource":"mcp:memory_add_evidence"`) {
			entries++
		}
		return nil
	})
	if entries != 2 {
		t.Fatalf("%d gate decisions for memory_add_evidence, want 2", entries)
	}
}
